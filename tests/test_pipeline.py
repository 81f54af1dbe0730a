"""The crawl -> store -> analyse -> case spine, end to end over a real local HTTP server."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from monitor.pipeline import crawl_source
from monitor.storage import queries, repo
from monitor.storage.models import Analysis, Case, CaseEvent, CrawlRun, Item
from tests.conftest import VNEXPRESS_FEED, AppFactory, FeedServer


def _count(app, model, *where) -> int:
    with app.sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_vnexpress_feed_stores_25_items_then_none_new(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    feed_server.add("/vne.rss", VNEXPRESS_FEED.read_bytes(), Content_Type="application/rss+xml")
    app = make_app([{"id": "vne", "kind": "rss", "url": feed_server.url("/vne.rss")}])

    first = crawl_source(app, "vne")
    second = crawl_source(app, "vne")

    assert (first.status, first.fetched, first.new) == ("ok", 25, 0 + 25)
    assert (second.fetched, second.new, second.updated) == (25, 0, 0)
    assert _count(app, Item) == 25
    assert _count(app, Analysis) == 25
    titles = {row.title for row in queries.recent_items(app.sessions, limit=50)}
    assert "Chủ tịch Đà Nẵng tri ân người dân đồng lòng vì APEC" in titles
    with app.sessions() as session:
        item = session.scalars(select(Item).where(Item.title.like("Chủ tịch Đà Nẵng%"))).one()
    assert item.published_at is not None and item.published_at.utcoffset().total_seconds() == 0
    assert item.published_at.isoformat() == "2017-11-14T10:28:16+00:00"


def test_not_modified_is_recorded_and_sends_validators(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    route = feed_server.add(
        "/vne.rss",
        VNEXPRESS_FEED.read_bytes(),
        ETag='"v1"',
        Last_Modified="Tue, 14 Nov 2017 10:42:44 GMT",
    )
    app = make_app([{"id": "vne", "kind": "rss", "url": feed_server.url("/vne.rss")}])

    crawl_source(app, "vne")
    again = crawl_source(app, "vne")

    assert again.status == "not_modified"
    assert route.requests[1].get("If-None-Match") == '"v1"'
    assert route.requests[1].get("If-Modified-Since") == "Tue, 14 Nov 2017 10:42:44 GMT"
    with app.sessions() as session:
        statuses = session.scalars(select(CrawlRun.status).order_by(CrawlRun.id)).all()
    assert statuses == ["ok", "not_modified"]


def test_changed_item_is_updated_not_duplicated(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    body = VNEXPRESS_FEED.read_bytes()
    route = feed_server.add("/vne.rss", body)
    app = make_app([{"id": "vne", "kind": "rss", "url": feed_server.url("/vne.rss")}])
    crawl_source(app, "vne")

    route.body = body.replace(
        "Sơn Tùng M-TP khoe vẻ lịch lãm".encode(),
        "Sơn Tùng M-TP khoe vẻ lịch lãm (cập nhật)".encode(),
    )
    report = crawl_source(app, "vne")

    assert (report.new, report.updated) == (0, 1)
    assert _count(app, Item) == 25
    assert _count(app, Item, Item.title == "Sơn Tùng M-TP khoe vẻ lịch lãm (cập nhật)") == 1


def test_tracking_parameters_do_not_make_a_new_item(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    def feed(link: str) -> bytes:
        return f"""<rss version="2.0"><channel><title>t</title>
        <item><title>Tin Nam Định</title><link>{link}</link><description>x</description></item>
        </channel></rss>""".encode()

    route = feed_server.add(
        "/f.rss", feed("https://baonamdinh.vn/tin/a-1.html?utm_source=rss&amp;fbclid=abc")
    )
    app = make_app([{"id": "f", "kind": "rss", "url": feed_server.url("/f.rss")}])
    crawl_source(app, "f")
    route.body = feed("https://BAONAMDINH.vn/tin/a-1.html#top")
    report = crawl_source(app, "f")

    assert report.new == 0
    with app.sessions() as session:
        assert session.scalars(select(Item.canonical_url)).all() == [
            "https://baonamdinh.vn/tin/a-1.html"
        ]


def test_flagged_item_opens_one_case_with_audit_trail(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    body = """<rss version="2.0"><channel><title>t</title>
    <item><title>Cháy lớn tại chợ ở huyện Hải Hậu, tỉnh Nam Định</title><link>https://example.vn/chay.html</link>
    <description>Vụ cháy khiến 2 người tử vong.</description></item>
    <item><title>Lễ hội Đền Trần khai mạc</title><link>https://example.vn/le-hoi.html</link>
    <description>Du khách đông vui.</description></item>
    <item><title>Giá vàng hôm nay</title><link>https://example.vn/vang.html</link><description>Tăng nhẹ.</description></item>
    </channel></rss>""".encode()
    route = feed_server.add("/f.rss", body)
    app = make_app(
        [{"id": "f", "kind": "rss", "url": feed_server.url("/f.rss")}],
        province={"landmarks": ["Đền Trần"]},
    )

    report = crawl_source(app, "f")
    route.body = body.replace(b"2 ng", b"3 ng")
    crawl_source(app, "f")

    assert report.cases_opened == 1
    with app.sessions() as session:
        case = session.scalars(select(Case)).one()
        events = session.scalars(select(CaseEvent.action).order_by(CaseEvent.id)).all()
        relevant = session.scalars(select(Analysis.relevant).join(Item).order_by(Item.url)).all()
    assert case.severity == "critical" and case.status == "new"
    assert case.kind == "story" and case.story_id is not None
    assert case.title.startswith("Cháy lớn")
    # The change neither raised the severity nor calls for another notification.
    assert events == ["opened", "notify", "item_updated"]
    assert relevant == [True, True, False]  # chay, le-hoi, vang


def test_failing_source_does_not_stop_the_others(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    feed_server.add("/ok.rss", VNEXPRESS_FEED.read_bytes())
    feed_server.add("/boom.rss", b"oops", status=500)
    app = make_app(
        [
            {"id": "boom", "kind": "rss", "url": feed_server.url("/boom.rss")},
            {"id": "ok", "kind": "rss", "url": feed_server.url("/ok.rss")},
        ]
    )

    reports = {s: crawl_source(app, s) for s in ("boom", "ok")}

    assert reports["boom"].status == "error" and "HTTP 500" in (reports["boom"].error or "")
    assert reports["ok"].new == 25
    health = {row.id: row for row in queries.sources_health(app.sessions)}
    assert health["boom"].consecutive_failures == 1 and health["boom"].last_status == "error"
    assert health["ok"].items == 25 and health["ok"].last_error is None


class _FlakyAnalyser:
    """The application's analyser, failing on its first ``failures`` calls."""

    def __init__(self, inner: Any, failures: int) -> None:
        self.inner, self.failures, self.version = inner, failures, inner.version

    def analyse(self, title: str, text: str, kind: str = "news") -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("model crashed")
        return self.inner.analyse(title, text, kind)


def test_item_whose_analysis_failed_is_analysed_on_the_next_run(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    feed_server.add("/vne.rss", VNEXPRESS_FEED.read_bytes())
    app = make_app([{"id": "vne", "kind": "rss", "url": feed_server.url("/vne.rss")}])
    app.analyser = _FlakyAnalyser(app.analyser, failures=2)

    first = crawl_source(app, "vne")
    assert (first.new, first.errors, _count(app, Analysis)) == (25, 2, 23)
    crawl_source(app, "vne")

    assert _count(app, Analysis) == 25 and _count(app, Item) == 25


def test_database_failure_is_reported_not_raised(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app([{"id": "vne", "kind": "rss", "url": "http://127.0.0.1:9/x"}])

    def locked(*args: object, **kwargs: object) -> None:
        raise OperationalError("BEGIN", {}, Exception("database is locked"))

    monkeypatch.setattr(repo, "source_state", locked)
    report = crawl_source(app, "vne")

    assert report.status == "error" and "database is locked" in (report.error or "")


def test_run_queued_before_ctrl_c_starts_nothing(make_app: AppFactory) -> None:
    app = make_app([{"id": "vne", "kind": "rss", "url": "http://127.0.0.1:9/x"}])
    app.stopping.set()
    assert crawl_source(app, "vne").status == "abandoned"
    assert _count(app, CrawlRun) == 0


def test_sources_crawled_concurrently_all_store(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    # The scheduler's worker threads write at the same time; on SQLite they must wait, not fail.
    body = VNEXPRESS_FEED.read_bytes()
    sources = []
    for n in range(6):
        feed_server.add(
            f"/f{n}.rss", body.replace(b"vnexpress.net/", f"vnexpress.net/s{n}/".encode())
        )
        sources.append({"id": f"s{n}", "kind": "rss", "url": feed_server.url(f"/f{n}.rss")})
    app = make_app(sources)

    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(lambda s: crawl_source(app, s["id"]), sources))

    assert [(r.status, r.new) for r in reports] == [("ok", 25)] * 6
    assert _count(app, Item) == 150


def test_zoneless_feed_dates_are_read_in_the_configured_timezone(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    feed_server.add(
        "/f.rss",
        b"""<rss version="2.0"><channel><title>t</title><item><title>Tin</title>
        <link>https://baonamdinh.vn/a.html</link><pubDate>2025-07-01T08:00:00</pubDate>
        </item></channel></rss>""",
    )
    app = make_app([{"id": "f", "kind": "rss", "url": feed_server.url("/f.rss")}])
    crawl_source(app, "f")
    with app.sessions() as session:
        published = session.scalars(select(Item.published_at)).one()
    assert published is not None and published.isoformat() == "2025-07-01T01:00:00+00:00"


def test_only_items_about_the_province_get_topic_and_tone(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    feed_server.add(
        "/f.rss",
        """<rss version="2.0"><channel><title>t</title>
        <item><title>Xe tải đâm xe máy ở huyện Hải Hậu, tỉnh Nam Định</title><link>https://a.vn/1</link>
        <description>Một người tử vong tại chỗ.</description></item>
        <item><title>Giá vàng hôm nay tăng nhẹ</title><link>https://a.vn/2</link></item>
        </channel></rss>""".encode(),
    )
    app = make_app([{"id": "f", "kind": "rss", "url": feed_server.url("/f.rss")}])
    crawl_source(app, "f")
    with app.sessions() as session:
        rows = session.execute(
            select(Item.url, Analysis.relevant, Analysis.topic, Analysis.sentiment)
            .join(Analysis)
            .order_by(Item.url)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("https://a.vn/1", True, "public_order", "negative"),
        ("https://a.vn/2", False, None, None),
    ]
