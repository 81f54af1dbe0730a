"""The overview, sources and digest-archive pages as a signed-in person sees them: today's
numbers from items stored through the pipeline, 30-day SVG charts, top topics and places with
their search links, open cases by severity, sources switched off and on by an administrator
only, archived digests shown as text, and crawled text escaped everywhere."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from crawlers.base import Collected, ItemRecord
from monitor import accounts, pipeline, stories, surges
from monitor.bootstrap import App
from monitor.storage import db, digestdata, queries, repo
from monitor.storage.models import Item, utcnow
from monitor.web import charts, pages_overview
from nlp.base import Analysis, Place
from tests.conftest import AppFactory
from tests.webkit import Clock, WebClient, web_client

HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
SOURCES = [
    {"id": "baotinh", "kind": "rss", "url": "https://baotinh.example.vn/rss", "name": "Báo tỉnh"},
    {"id": "dien-dan", "kind": "rss", "url": "https://diendan.example.vn/rss", "name": HOSTILE},
]
COMMUNE = "Xã Hải Đông"


def relevant(
    sentiment: str, severity: str = "none", topic: str = "health", place: str | None = COMMUNE
) -> Analysis:
    """What the analyser says of a relevant item."""
    return Analysis(
        "test",
        relevant=True,
        relevance_score=0.9,
        severity=severity,
        places=[Place(place, "commune", 0, 0)] if place else [],
        topic=topic,
        sentiment=sentiment,
        sentiment_score=0.8,
        reasons=["test"],
    )


IRRELEVANT = Analysis("test", relevant=False, relevance_score=0.05)


class ScriptedAnalyser:
    """An analyser that says of each title what the test wrote down for it."""

    version = "test"

    def __init__(self) -> None:
        self.verdicts: dict[str, Analysis] = {}

    def analyse(self, title: str, text: str, kind: str = "news") -> Analysis:
        return self.verdicts[title]


def _record(source_id: str, title: str, published: datetime) -> ItemRecord:
    slug = re.sub(r"\W+", "-", title.lower()).strip("-") or "x"
    url = f"https://{source_id}.example.vn/{slug}-{abs(hash(title))}.html"
    text = f"{title}. Bài viết riêng về {title} với nội dung {hash(title)} không trùng bài khác."
    return ItemRecord(url, url, title, text, published_at=published)


def collect(app: App, source_id: str, verdicts: dict[str, Analysis]) -> pipeline.RunReport:
    """Store a run of ``source_id`` bringing these titles, through the pipeline (analysis,
    stories and cases, surge counts, source health)."""
    analyser = ScriptedAnalyser()
    analyser.verdicts = verdicts
    app.analyser = analyser
    with db.transaction(app.sessions) as session:
        run_id = repo.start_run(session, source_id)
    published = utcnow() - timedelta(minutes=10)
    records = [_record(source_id, title, published) for title in verdicts]
    report = pipeline.RunReport(source_id, "running", fetched=len(records))
    pipeline.store_collected(app, run_id, source_id, Collected(records), report)
    return report


def store_on(app: App, source_id: str, title: str, analysis: Analysis, at: datetime) -> None:
    """Store one item first seen at ``at`` (an earlier day), counted as the pipeline counts."""
    with db.transaction(app.sessions) as session:
        (item_id, _), *_ = repo.ingest(
            session, source_id, [_record(source_id, title, at - timedelta(minutes=30))]
        ).new
        session.execute(update(Item).where(Item.id == item_id).values(fetched_at=at))
        analysed = [(item_id, analysis)]
        repo.save_analyses(session, analysed)
        stories.on_analysed(session, app.settings, analysed, {item_id})
        surges.count_analysed(session, app.settings, analysed, {item_id})


def number(html: str, name: str) -> int:
    """A figure of the overview, by its data-count name."""
    found = re.search(rf'data-count="{name}">(\d+)<', html)
    assert found, f"no {name} on the page"
    return int(found.group(1))


def svgs(html: str) -> dict[str, str]:
    """The page's inline SVG charts by id."""
    return dict(re.findall(r'<svg [^>]*id="([a-z-]+)"[^>]*>(.*?)</svg>', html, re.S))


@pytest.fixture
def app(make_app: AppFactory) -> App:
    """An application with two RSS sources (one named with markup)."""
    return make_app(SOURCES)


@pytest.fixture
def clock() -> Clock:
    """The web app's clock: now, as the items are stored now."""
    return Clock()


def _local_label(app: App, when: datetime) -> str:
    return when.astimezone(app.settings.tz).strftime("%d/%m")


# -- the overview ----------------------------------------------------------------------------------


def test_overview_shows_todays_numbers_from_stored_items(app: App, clock: Clock) -> None:
    collect(
        app,
        "baotinh",
        {
            "Sạt lở đê biển Hải Hậu": relevant("negative", "critical"),
            "Khai giảng năm học mới": relevant("positive", "watch", "education"),
            "Tiêm chủng mở rộng": relevant("neutral"),
            "Giá vàng thế giới": IRRELEVANT,
        },
    )
    three_days_ago = clock.now - timedelta(days=3)
    store_on(app, "baotinh", "Ô nhiễm sông Đào", relevant("negative"), three_days_ago)
    viewer = web_client(app, "xem", "viewer", clock)

    page = viewer.get("/")

    assert page.status_code == 200
    html = page.text
    assert number(html, "collected") == 4
    assert number(html, "relevant") == 3
    assert number(html, "negative") == 1
    assert number(html, "new-cases") == 1  # the critical item opened a case
    assert number(html, "open-cases") == 1
    assert re.search(r'href="/cases\?severity=critical".*?data-severity="critical">1<', html, re.S)
    assert 'data-severity="alert">0<' in html
    # The 30-day figures: today's three relevant items, and the one of three days ago.
    today_row = re.search(rf"<td>{clock.now.astimezone(app.settings.tz):%d/%m/%Y}</td><td>(\d+)</td><td>(\d+)</td>", html)  # fmt: skip
    earlier = re.search(rf"<td>{three_days_ago.astimezone(app.settings.tz):%d/%m/%Y}</td><td>(\d+)</td><td>(\d+)</td>", html)  # fmt: skip
    assert today_row and today_row.groups() == ("3", "1")
    assert earlier and earlier.groups() == ("1", "1")


def test_top_topics_and_places_link_to_the_search(app: App, clock: Clock) -> None:
    collect(
        app,
        "baotinh",
        {
            "Dịch sốt xuất huyết": relevant("negative"),
            "Bệnh viện mới": relevant("positive"),
            "Trường học mới": relevant("positive", topic="education", place="Phường Lộc Hạ"),
        },
    )
    # Older than a week: in the 30-day chart, not in this week's top lists.
    store_on(app, "baotinh", "Đê điều mùa lũ", relevant("neutral", topic="environment_disaster"), clock.now - timedelta(days=9))  # fmt: skip
    viewer = web_client(app, "xem", "viewer", clock)

    html = viewer.get("/").text

    topics = re.findall(r'<a href="(/search\?topic=[^"&]+)&amp;relevant=yes&amp;since=\d{4}-\d\d-\d\d">([^<]+)</a></td><td>(\d+)</td><td>(\d+)</td>', html)  # fmt: skip
    assert topics == [
        ("/search?topic=health", app.settings.topics["health"], "2", "1"),
        ("/search?topic=education", app.settings.topics["education"], "1", "0"),
    ]
    places = re.findall(
        r'<a href="(/search\?place=[^"&]+)&amp;relevant=yes&amp;since=\d{4}-\d\d-\d\d">([^<]+)</a></td><td>(\d+)</td>',
        html,
    )
    assert places == [
        ("/search?place=X%C3%A3+H%E1%BA%A3i+%C4%90%C3%B4ng", COMMUNE, "2"),
        ("/search?place=Ph%C6%B0%E1%BB%9Dng+L%E1%BB%99c+H%E1%BA%A1", "Phường Lộc Hạ", "1"),
    ]


def test_the_charts_are_svg_with_a_bar_and_a_title_per_day_for_30_days(
    app: App, clock: Clock
) -> None:
    collect(app, "baotinh", {"Mưa lớn": relevant("negative"), "Lễ hội": relevant("positive")})
    viewer = web_client(app, "xem", "viewer", clock)

    html = viewer.get("/").text

    found = svgs(html)
    assert set(found) == {"volume", "sentiment"}
    for body in found.values():
        bars = re.findall(r'<g class="bar"><title>([^<]*)</title>', body)
        assert len(bars) == 30
        assert bars[-1].startswith(_local_label(app, clock.now) + ": ")
        assert bars[0].startswith(_local_label(app, clock.now - timedelta(days=29)) + ": ")
    assert re.findall(r'<g class="bar"><title>([^<]*)</title>', found["volume"])[-1].endswith(": 2 tin liên quan")  # fmt: skip
    assert "1 tiêu cực (50%)" in found["sentiment"]
    assert re.search(r'<svg [^>]*viewBox="0 0 \d+ \d+"[^>]*width="100%"', html)
    assert "style=" not in html and "<script>" not in html  # the CSP would refuse both


def test_a_chart_escapes_its_labels_and_scales_to_its_tallest_bar() -> None:
    chart = charts.BarChart(
        "t",
        HOSTILE,
        ["a", HOSTILE],
        ["a: 1", f'{HOSTILE} "x"'],
        [charts.Series(HOSTILE, "#000", [1, 7]), charts.Series("b", "#fff", [0, 2])],
    )

    svg = str(charts.bar_chart(chart, every=1))

    assert HOSTILE not in svg and ESCAPED in svg
    assert "&#34;x&#34;" in svg
    assert svg.count('<g class="bar">') == 2
    assert re.findall(r">(\d+)</text>", svg)[:3] == ["0", "5", "10"]  # 7 + 2 stacked: up to 10
    assert [charts.nice_ceiling(n) for n in (0, 3, 11, 25, 50, 501)] == [1, 3, 20, 30, 50, 600]
    with pytest.raises(ValueError):
        charts.bar_chart(charts.BarChart('x" onload="y', "t", [], [], []))


def test_crawled_text_and_names_are_escaped_on_overview_and_sources(app: App, clock: Clock) -> None:
    collect(app, "dien-dan", {HOSTILE: relevant("negative", topic=HOSTILE, place=HOSTILE)})
    with db.transaction(app.sessions) as session:
        repo.record_failure(session, "baotinh", f"HTTP 500: {HOSTILE}", None)
    viewer = web_client(app, "xem", "viewer", clock)

    for path in ("/", "/sources"):
        html = viewer.get(path).text
        assert HOSTILE not in html, path
        assert ESCAPED in html, path
    sources = viewer.get("/sources").text
    assert f"HTTP 500: {ESCAPED}" in sources  # the error text
    assert f"<td>{ESCAPED}<br>" in sources  # the source's name
    overview = viewer.get("/").text
    assert "/search?topic=%3Cscript%3Ealert%281%29%3C%2Fscript%3E" in overview


# -- sources ---------------------------------------------------------------------------------------


def _health(app: App, source_id: str) -> str:
    return next(r.health for r in queries.sources_health(app.sessions) if r.id == source_id)


def test_sources_list_their_health_runs_and_items(app: App, clock: Clock) -> None:
    collect(app, "baotinh", {"Tin một": relevant("neutral"), "Tin hai": IRRELEVANT})
    viewer = web_client(app, "xem", "viewer", clock)

    html = viewer.get("/sources").text

    row = re.search(r'<tr id="source-baotinh" data-source="baotinh" data-health="active">(.*?)</tr>', html, re.S)  # fmt: skip
    assert row, html
    assert "Báo tỉnh" in row.group(1) and "Hoạt động" in row.group(1)
    assert "<td data-items>2</td>" in row.group(1)  # items stored
    assert 'data-run="ok">thành công<' in row.group(1)  # the last run's status
    assert 'href="https://baotinh.example.vn/rss" target="_blank" rel="noopener noreferrer"' in row.group(1)  # fmt: skip
    assert 'data-source="manual"' in html  # staff submissions' source is listed too
    assert "Tin do cán bộ gửi" in html


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_only_an_administrator_can_switch_a_source(app: App, clock: Clock, role: str) -> None:
    person = web_client(app, "nguoi-dung", role, clock)

    assert 'action="/sources/baotinh/enable"' not in person.get("/sources").text
    refused = person.post("/sources/baotinh/enable", {"enabled": "false"})

    assert refused.status_code == 403
    assert _health(app, "baotinh") == "active"


def test_an_administrator_switches_a_source_off_and_on(app: App, clock: Clock) -> None:
    admin = web_client(app, "quantri", "admin", clock)
    assert 'action="/sources/baotinh/enable"' in admin.get("/sources").text

    off = admin.post("/sources/baotinh/enable", {"enabled": "false"})

    assert off.status_code == 303
    assert off.headers["location"] == "/sources?done=disabled&source=baotinh"
    assert _health(app, "baotinh") == "disabled"
    assert pipeline.crawl_source(app, "baotinh").status == "disabled"  # the crawler skips it
    page = admin.get(off.headers["location"]).text
    assert "Đã tạm dừng nguồn baotinh." in page
    assert 'data-source="baotinh" data-health="disabled"' in page

    on = admin.post("/sources/baotinh/enable", {"enabled": "true"})

    assert on.headers["location"] == "/sources?done=enabled&source=baotinh"
    assert _health(app, "baotinh") == "active"
    again = admin.post("/sources/baotinh/enable", {"enabled": "true"})
    assert again.headers["location"] == "/sources?done=unchanged&source=baotinh"
    assert admin.post("/sources/khong-co/enable", {"enabled": "true"}).status_code == 404
    assert admin.post("/sources/baotinh/enable", {"enabled": "maybe"}).status_code == 422


def _scoped_client(app: App, clock: Clock, sources: tuple[str, ...]) -> WebClient:
    from fastapi.testclient import TestClient

    from monitor.web.app import create_web
    from tests.webkit import PASSWORD, csrf_of, sign_in

    accounts.add_user(app.sessions, "phong-ban", "viewer", PASSWORD, sources, now=clock.now)
    client = TestClient(create_web(app, clock=clock), follow_redirects=False)
    home = sign_in(client, "phong-ban")
    return WebClient(client, "phong-ban", "viewer", csrf_of(home.text))


def test_a_department_sees_its_own_sources_and_their_items(app: App, clock: Clock) -> None:
    collect(app, "baotinh", {"Tin tỉnh": relevant("negative", "critical")})
    collect(app, "dien-dan", {"Bài diễn đàn": relevant("neutral", "alert"), "Bài khác": IRRELEVANT})  # fmt: skip
    department = _scoped_client(app, clock, ("dien-dan",))

    sources = department.get("/sources").text
    overview = department.get("/").text

    assert re.findall(r'data-source="([^"]+)"', sources) == ["dien-dan"]
    assert number(overview, "collected") == 2
    assert number(overview, "relevant") == 1
    assert number(overview, "negative") == 0
    assert number(overview, "open-cases") == 1  # not the critical case, about another source
    assert 'data-severity="critical">0<' in overview and 'data-severity="alert">1<' in overview
    assert "chỉ tính các nguồn của bạn" in overview
    everyone = web_client(app, "xem", "viewer", clock).get("/").text
    assert number(everyone, "open-cases") == 2 and number(everyone, "collected") == 3


# -- the digest archive ----------------------------------------------------------------------------


def archive(app: App, day: str, subject: str, html: str, text: str) -> None:
    """Keep a digest in the archive as monitor.digest does."""
    with db.transaction(app.sessions) as session:
        digestdata.archive(session, day, "vi", subject, html, text, utcnow())


@pytest.fixture
def archived(app: App) -> dict[str, Any]:
    """Two archived digests, the newer one carrying a crawled title with markup."""
    archive(app, "2025-07-01", "Bản tin 01/07", "<html><body>cũ</body></html>", "Bản tin ngày 01/07")  # fmt: skip
    page = f"<html><body><p>{ESCAPED}</p><img src='data:image/png;base64,AA'></body></html>"
    archive(app, "2025-07-02", f"Bản tin 02/07 {HOSTILE}", page, f"1. {HOSTILE}\n2. Tin hai")
    return {"newest": "2025-07-02", "older": "2025-07-01"}


def test_digests_are_listed_newest_first_and_shown_as_text(
    app: App, clock: Clock, archived: dict[str, Any]
) -> None:
    viewer = web_client(app, "xem", "viewer", clock)

    listing = viewer.get("/digests").text
    shown = viewer.get("/digests/2025-07-02")

    assert re.findall(r'data-day="([^"]+)"', listing) == ["2025-07-02", "2025-07-01"]
    assert 'href="/digests/2025-07-01"' in listing
    assert shown.status_code == 200
    assert f'<pre class="text" id="digest-text">1. {ESCAPED}\n2. Tin hai</pre>' in shown.text
    assert HOSTILE not in listing and HOSTILE not in shown.text
    assert "<img src='data:" not in shown.text  # the stored HTML is not in the page


def test_the_mailed_html_is_served_sandboxed(
    app: App, clock: Clock, archived: dict[str, Any]
) -> None:
    viewer = web_client(app, "xem", "viewer", clock)

    mailed = viewer.get("/digests/2025-07-02/html")

    assert mailed.status_code == 200
    assert mailed.headers["content-type"].startswith("text/html")
    policy = mailed.headers["content-security-policy"]
    assert policy.startswith("sandbox;") and "default-src 'none'" in policy
    assert "script-src" not in policy
    assert ESCAPED in mailed.text


@pytest.mark.parametrize(
    "path", ["/digests/2024-01-01", "/digests/2024-01-01/html", "/digests/khong-phai-ngay"]
)
def test_an_unknown_digest_day_is_not_found(
    app: App, clock: Clock, archived: dict[str, Any], path: str
) -> None:
    viewer = web_client(app, "xem", "viewer", clock)

    assert viewer.get(path).status_code == 404


def test_the_archive_pages_back_to_older_digests(
    app: App, clock: Clock, archived: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages_overview, "DIGESTS_PER_PAGE", 1)
    viewer = web_client(app, "xem", "viewer", clock)

    first = viewer.get("/digests").text
    second = viewer.get("/digests?offset=1").text

    assert re.findall(r'data-day="([^"]+)"', first) == ["2025-07-02"]
    assert 'href="/digests?offset=1" rel="next"' in first
    assert re.findall(r'data-day="([^"]+)"', second) == ["2025-07-01"]
    assert 'href="/digests" rel="prev"' in second and 'rel="next"' not in second
    assert viewer.get("/digests?offset=-1").status_code == 422


def test_midnights_are_local_days_in_utc() -> None:
    from zoneinfo import ZoneInfo

    now = datetime(2025, 7, 2, 18, 30, tzinfo=UTC)  # 01:30 on 3 July in Hà Nội

    bounds = pages_overview.midnights(now, ZoneInfo("Asia/Ho_Chi_Minh"), 2)

    assert bounds == [
        datetime(2025, 7, 1, 17, tzinfo=UTC),
        datetime(2025, 7, 2, 17, tzinfo=UTC),
        datetime(2025, 7, 3, 17, tzinfo=UTC),
    ]
