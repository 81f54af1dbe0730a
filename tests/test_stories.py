"""Stories: syndicated copies join one story, other articles stay apart, one case per story.

The articles are in tests/fixtures/stories/articles.json; copies are derived from them as outlets
make them: a new headline, boilerplate, a paragraph dropped, sentences reordered.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from crawlers.base import ItemRecord
from monitor import stories
from monitor.pipeline import crawl_source
from monitor.storage import db, repo
from monitor.storage import stories as storage
from monitor.storage.models import Case, CaseEvent, Item, ItemBand, Story, utcnow
from monitor.stories_cli import stories_cli
from nlp import dedup
from nlp.base import Analysis
from tests.conftest import AppFactory, Database, FeedServer

ARTICLES: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "fixtures" / "stories" / "articles.json").read_text(encoding="utf-8")
)
FIRE, TRADERS, BRIDGE = (
    ARTICLES["cho_con_fire"],
    ARTICLES["cho_con_traders"],
    ARTICLES["tan_phong_bridge"],
)
KEYWORD = {"analysis": {"analyser": "keyword"}}


def body(article: dict[str, Any]) -> str:
    """An article's text as its own outlet publishes it."""
    return "\n\n".join(article["paragraphs"])


def syndicated(article: dict[str, Any], dropped: int = 3) -> tuple[str, str]:
    """Another outlet's copy: new headline, boilerplate, one paragraph fewer, sentences reordered."""
    paragraphs = [p for n, p in enumerate(article["paragraphs"]) if n != dropped]
    reordered = [" ".join(reversed(p.replace(". ", ".\n").splitlines())) for p in paragraphs]
    text = "\n\n".join(
        ["Theo Báo Nam Định, sự việc được ghi nhận như sau.", *reordered[::-1]]
        + ["Xem thêm: các tin tức khác về tỉnh Nam Định tại chuyên mục Thời sự."]
    )
    return f"Nóng: {article['title'].lower()}", text


def feed(*entries: tuple[str, str, str, str]) -> bytes:
    """An RSS feed of (link, title, text, pubDate) entries, the text as HTML paragraphs."""
    items = "".join(
        f"<item><title>{title}</title><link>{link}</link><pubDate>{date}</pubDate>"
        f"<description><![CDATA[{''.join(f'<p>{p}</p>' for p in text.split(chr(10)))}]]>"
        "</description></item>"
        for link, title, text, date in entries
    )
    return f'<rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()


def flag(severity: str = "alert", relevant: bool = True) -> Analysis:
    """An analysis as the analyser would give a flagged (or not) negative item."""
    topic, sentiment = ("public_order", "negative") if relevant else (None, None)
    return Analysis("test", relevant, 1.0, severity=severity, topic=topic, sentiment=sentiment)


def store(app: Any, *entries: tuple[str, str, str, Analysis]) -> int:
    """Store (url, title, text, analysis) items as the pipeline does; returns cases opened."""
    records = {url: ItemRecord(url, url, title, text) for url, title, text, _ in entries}
    given = {url: analysis for url, _, _, analysis in entries}
    with db.transaction(app.sessions) as session:
        ingested = repo.ingest(session, "manual", records.values())
        done = [(i, given[r.canonical_url]) for i, r in [*ingested.new, *ingested.updated]]
        repo.save_analyses(session, done)
        return stories.on_analysed(session, app.settings, done, {i for i, _ in ingested.new})


def story_of(app: Any, url: str) -> Story:
    with app.sessions() as session:
        story_id = session.scalar(select(Item.story_id).where(Item.url == url))
        story = session.get(Story, story_id)
        assert story is not None
        return story


def events(app: Any) -> list[str]:
    with app.sessions() as session:
        return list(session.scalars(select(CaseEvent.action).order_by(CaseEvent.id)))


def test_normalise_hash_and_signature_are_stable() -> None:
    assert dedup.normalise("Hoà  BÌNH, thuỷ-lợi!\n1.500 đồng") == "hòa bình thủy lợi 1 500 đồng"
    assert dedup.text_hash("Tiêu đề", "Hoà bình.") == dedup.text_hash("TIÊU ĐỀ!", "hòa  bình")
    signature = dedup.sign(body(FIRE))
    again = dedup.from_bytes(dedup.to_bytes(signature))
    assert len(dedup.to_bytes(signature)) == 128 * 4 and dedup.similarity(signature, again) == 1.0
    keys = dedup.band_keys(signature, 32)
    assert len(set(keys)) == 32 and all(-(2**63) <= k < 2**63 for k in keys)
    # Stored signatures must compare with tomorrow's: a fixed seed, scheme and shingle hash.
    assert keys[0] == dedup.band_keys(dedup.sign(body(FIRE)), 32)[0] == 2671448087434245278


def test_copy_is_similar_and_another_article_on_the_same_event_is_not() -> None:
    original = dedup.sign(body(FIRE))
    assert dedup.similarity(original, dedup.sign(syndicated(FIRE)[1])) >= 0.7
    assert dedup.similarity(original, dedup.sign(body(TRADERS))) < 0.1


def test_syndicated_copy_joins_the_original_story(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    original = "https://baonamdinh.vn/xa-hoi/chay-cho-con.html"
    copy = "https://tinmoi.example.vn/nong-chay-cho-con-hai-hau.html"
    feed_server.add("/copy.rss", feed((copy, *syndicated(FIRE), "Fri, 14 Mar 2025 09:00:00 +0700")))
    feed_server.add(
        "/bnd.rss",
        feed(
            (original, FIRE["title"], body(FIRE), "Fri, 14 Mar 2025 06:00:00 +0700"),
            ("https://baonamdinh.vn/cho-con-2.html", TRADERS["title"], body(TRADERS), "Fri, 14 Mar 2025 07:00:00 +0700"),
        ),
    )  # fmt: skip
    app = make_app(
        [
            {"id": "copy", "kind": "rss", "url": feed_server.url("/copy.rss")},
            {"id": "bnd", "kind": "rss", "url": feed_server.url("/bnd.rss")},
        ],
        stories={"authoritative_hosts": ["baonamdinh.vn"]},
        **KEYWORD,
    )

    crawl_source(app, "copy")
    crawl_source(app, "bnd")

    story = story_of(app, copy)
    assert story.id == story_of(app, original).id
    assert (story.item_count, story.outlet_count) == (2, 2)
    assert sorted(story.outlets) == ["baonamdinh.vn", "tinmoi.example.vn"]
    with app.sessions() as session:
        first = session.scalar(select(Item.id).where(Item.url == original))
    assert story.representative_item_id == first and story.title == FIRE["title"]
    # The same event told in other words the same day is another story.
    assert story_of(app, "https://baonamdinh.vn/cho-con-2.html").item_count == 1


def test_exact_copy_on_another_url_joins_by_text_hash(make_app: AppFactory) -> None:
    app = make_app([], **KEYWORD)
    store(app, ("https://a.vn/1", BRIDGE["title"], body(BRIDGE), flag("none")))
    copy = ItemRecord("https://b.vn/2", "https://b.vn/2", BRIDGE["title"], body(BRIDGE))
    with db.transaction(app.sessions) as session:
        new = [item_id for item_id, _ in repo.ingest(session, "manual", [copy]).new]
        done = storage.assign(session, new, stories.policy_of(app.settings.stories))
    assert [(a.how, a.joined) for a in done] == [("exact", True)]
    assert story_of(app, "https://a.vn/1").item_count == 2


def test_short_texts_join_only_when_identical(make_app: AppFactory) -> None:
    app = make_app([], **KEYWORD)
    short = "Cháy chợ Cồn ở Hải Hậu trong đêm"
    store(
        app,
        ("https://a.vn/1", short, "", flag("none")),
        ("https://b.vn/1", short, "", flag("none")),
        ("https://c.vn/1", short + " qua", "", flag("none")),
    )
    assert story_of(app, "https://a.vn/1").item_count == 2
    assert story_of(app, "https://c.vn/1").item_count == 1
    with app.sessions() as session:  # too short to index: no bands, no signature
        assert session.scalar(select(func.count()).select_from(ItemBand)) == 0


def test_one_case_per_story_renotified_only_when_severity_rises(make_app: AppFactory) -> None:
    app = make_app([], **KEYWORD)
    title, text = syndicated(FIRE)
    opened = store(app, ("https://a.vn/1", FIRE["title"], body(FIRE), flag("alert")))
    opened += store(app, ("https://b.vn/1", title, text, flag("alert")))
    opened += store(app, ("https://c.vn/1", title, syndicated(FIRE, dropped=1)[1], flag("alert")))
    assert opened == 1
    assert events(app) == ["opened", "notify", "story_grew", "story_grew"]

    store(app, ("https://d.vn/1", title, syndicated(FIRE, dropped=2)[1], flag("critical")))
    store(app, ("https://e.vn/1", title, syndicated(FIRE, dropped=4)[1], flag("critical")))
    store(app, ("https://f.vn/1", title, syndicated(FIRE, dropped=5)[1], flag("none", False)))

    assert events(app)[4:] == [
        "story_grew",
        "severity_raised",
        "notify",
        "story_grew",
        "story_grew",
    ]
    with app.sessions() as session:
        case = session.scalars(select(Case)).one()
        grew = session.scalars(select(CaseEvent).where(CaseEvent.action == "story_grew")).all()
    story = story_of(app, "https://a.vn/1")
    assert (case.kind, case.story_id, case.severity, case.notified_severity) == (
        "story", story.id, "critical", "critical"
    )  # fmt: skip
    assert (story.item_count, story.outlet_count, story.max_severity) == (6, 6, "critical")
    assert story.sentiment_counts == {"negative": 5} and story.topic == "public_order"
    assert story.title == FIRE["title"] == case.title  # the earliest copy represents it
    assert grew[-1].detail["item_count"] == 6


def test_items_below_the_case_severity_group_but_open_no_case(make_app: AppFactory) -> None:
    app = make_app([], **KEYWORD)
    store(app, ("https://a.vn/1", FIRE["title"], body(FIRE), flag("watch")))
    store(app, ("https://b.vn/1", *syndicated(FIRE), flag("none", relevant=False)))
    assert events(app) == [] and story_of(app, "https://b.vn/1").item_count == 2
    assert store(app, ("https://c.vn/1", *syndicated(FIRE, 1), flag("alert"))) == 1


def test_changed_item_stays_in_its_story(make_app: AppFactory) -> None:
    app = make_app([], **KEYWORD)
    store(app, ("https://a.vn/1", FIRE["title"], body(FIRE), flag("alert")))
    store(app, ("https://b.vn/1", *syndicated(FIRE), flag("alert")))
    store(app, ("https://b.vn/1", "Cập nhật", body(BRIDGE) + " Thêm một câu.", flag("alert")))
    story = story_of(app, "https://b.vn/1")
    assert story.id == story_of(app, "https://a.vn/1").id and story.item_count == 2
    assert events(app)[-1] == "item_updated"


def test_restart_keeps_stories(make_app: AppFactory, feed_server: FeedServer) -> None:
    feed_server.add("/a.rss", feed(("https://a.vn/1", FIRE["title"], body(FIRE), "")))
    feed_server.add("/b.rss", feed(("https://b.vn/1", *syndicated(FIRE), "")))
    first = make_app([{"id": "a", "kind": "rss", "url": feed_server.url("/a.rss")}], **KEYWORD)
    crawl_source(first, "a")
    first.close()

    second = make_app([{"id": "b", "kind": "rss", "url": feed_server.url("/b.rss")}], **KEYWORD)
    crawl_source(second, "b")

    story = story_of(second, "https://b.vn/1")
    assert story.id == story_of(second, "https://a.vn/1").id and story.item_count == 2


def test_bands_older_than_the_window_are_pruned_and_no_longer_match(make_app: AppFactory) -> None:
    app = make_app([], **KEYWORD)
    store(app, ("https://a.vn/1", FIRE["title"], body(FIRE), flag("none")))
    long_ago = utcnow() - timedelta(days=15)
    with db.transaction(app.sessions) as session:
        session.execute(update(Item).values(fetched_at=long_ago))
        session.execute(update(ItemBand).values(seen_at=long_ago))

    store(app, ("https://b.vn/1", *syndicated(FIRE), flag("none")))
    store(app, ("https://c.vn/1", FIRE["title"], body(FIRE), flag("none")))  # exact, too late

    with app.sessions() as session:
        old = session.scalar(select(Item.id).where(Item.url == "https://a.vn/1"))
        assert session.scalar(select(func.count()).where(ItemBand.item_id == old)) == 0
    assert story_of(app, "https://a.vn/1").item_count == 1
    assert story_of(app, "https://b.vn/1").item_count == 2  # the two recent copies


def test_rebuild_groups_items_stored_before_stories(
    database: Database, make_app: AppFactory, tmp_path: Path
) -> None:
    app = make_app([], **KEYWORD)
    store(app, ("https://a.vn/1", FIRE["title"], body(FIRE), flag("alert")))
    store(app, ("https://b.vn/1", *syndicated(FIRE), flag("alert")))
    store(app, ("https://c.vn/1", BRIDGE["title"], body(BRIDGE), flag("none")))
    with db.transaction(app.sessions) as session:  # as a database from before stories
        session.execute(update(Case).values(story_id=None, kind="item"))
        session.execute(update(Item).values(story_id=None))
        session.execute(ItemBand.__table__.delete())
        session.execute(Story.__table__.delete())

    if database.backend == "sqlite":  # the CLI reaches the database by its URL alone
        config = tmp_path / "config.yaml"
        config.write_text(f"database:\n  url: {database.url}\nanalysis:\n  analyser: keyword\n")
        result = CliRunner().invoke(
            stories_cli, ["rebuild", "--since", "2d"], obj={"config": config}
        )
        assert result.exit_code == 0 and "3 items grouped" in result.output
    else:
        assert stories.rebuild(app.sessions, app.settings, timedelta(days=2)) == 3

    assert story_of(app, "https://b.vn/1").item_count == 2
    with app.sessions() as session:
        case = session.scalars(select(Case)).one()
    assert case.kind == "story" and case.story_id == story_of(app, "https://a.vn/1").id
    assert stories.rebuild(app.sessions, app.settings, timedelta(days=2)) == 0


@pytest.mark.parametrize("bad", ["soon", "0s"])
def test_rebuild_rejects_a_bad_duration(bad: str) -> None:
    result = CliRunner().invoke(stories_cli, ["rebuild", "--since", bad], obj={"config": None})
    assert result.exit_code == 2
