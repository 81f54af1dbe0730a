"""The sitemap adapter: news sitemaps, plain ones, indexes and .xml.gz, read safely; only entries
newer than the last run (and not stored) fetched. Recorded-looking sitemaps are data-driven
fixtures; the end-to-end runs build sitemaps dated relative to now (``max_age`` counts days)."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from crawlers.base import RunState, SourceSpec
from crawlers.errors import PermanentSourceError
from crawlers.fetcher import Fetcher, Politeness
from crawlers.sitemap import SitemapAdapter, parse_sitemap
from monitor.pipeline import crawl_source
from tests.conftest import AppFactory, FeedServer

FIXTURES = Path(__file__).parent / "fixtures" / "sitemap"
LISTING = Path(__file__).parent / "fixtures" / "listing"
ARTICLE = (LISTING / "baonamdinh-article-hai-hau.html").read_bytes()
ARTICLE_2 = (LISTING / "baonamdinh-article-fdi.html").read_bytes()
NEWS_NS = 'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"'
HTML = "text/html; charset=utf-8"


def _ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat(timespec="seconds")


def news_sitemap(*entries: tuple[str, float, str]) -> bytes:
    """A news sitemap of (loc, hours ago, title) entries."""
    urls = "".join(
        f"<url><loc>{loc}</loc><news:news><news:publication><news:name>Báo Nam Định</news:name>"
        f"</news:publication><news:publication_date>{_ago(hours)}</news:publication_date>"
        f"<news:title>{title}</news:title></news:news></url>\n"
        for loc, hours, title in entries
    )
    head = '<?xml version="1.0" encoding="UTF-8"?>\n'
    root = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" {NEWS_NS}>\n'
    return f"{head}{root}{urls}</urlset>".encode()


def _data_file(expected: Path) -> Path:
    stem = expected.name.removesuffix(".expected.json")
    return next(p for p in expected.parent.glob(stem + ".*") if not p.name.endswith(".json"))


@pytest.mark.parametrize(
    "expected", sorted(FIXTURES.glob("*.expected.json")), ids=lambda p: p.name.split(".")[0]
)
def test_recorded_sitemaps(expected: Path) -> None:
    facts = json.loads(expected.read_text(encoding="utf-8"))

    sitemap = parse_sitemap(
        _data_file(expected).read_bytes(), max_bytes=1_000_000, timezone="Asia/Ho_Chi_Minh"
    )

    assert (sitemap.kind, len(sitemap.entries)) == (facts["kind"], facts["count"])
    if facts["first"]:
        first = sitemap.entries[0]
        assert first.loc == facts["first"]["loc"]
        when = first.when.isoformat() if first.when else None
        assert when == facts["first"]["published"]
        for key in ("title", "publication"):
            if key in facts["first"]:
                assert getattr(first, key) == facts["first"][key]
    assert set(facts["titles"]) <= {e.title for e in sitemap.entries}
    if facts["error"] is None:
        assert sitemap.error is None
    else:
        assert facts["error"] in (sitemap.error or "")


def _serve(server: FeedServer) -> dict[str, object]:
    paths = [
        "/xa-hoi/202410/hai-hau-de-bien-1058214.htm",
        "/kinh-te/202410/fdi-my-thuan-1058190.htm",
    ]
    routes = {
        paths[0]: server.add(paths[0], ARTICLE, Content_Type=HTML),
        paths[1]: server.add(paths[1], ARTICLE_2, Content_Type=HTML),
        "/old": server.add("/old/202410/tin-cu-tu-tuan-truoc-1050000.htm", ARTICLE),
    }
    body = news_sitemap(
        (server.url(paths[0]), 1, "Hải Hậu khắc phục sạt lở đê biển"),
        (server.url(paths[1]), 5, "Thu hút 3 dự án FDI"),
        (server.url("/old/202410/tin-cu-tu-tuan-truoc-1050000.htm"), 24 * 5, "Tin cũ"),
        ("https://baonamdinh.vn/other-site-1058000.htm", 1, "Trên trang khác"),
    )
    routes["/sitemap"] = server.add("/sitemap-news.xml", body, Content_Type="application/xml")
    return routes


def test_news_sitemap_entries_stored_once(make_app: AppFactory, feed_server: FeedServer) -> None:
    routes = _serve(feed_server)
    url = feed_server.url("/sitemap-news.xml")
    app = make_app([{"id": "bnd-news", "kind": "sitemap", "url": url}])

    first = crawl_source(app, "bnd-news")
    second = crawl_source(app, "bnd-news")

    assert (first.status, first.new, first.warnings) == ("ok", 2, [])
    assert (second.status, second.new) == ("ok", 0)
    assert [r.hits for r in routes.values()] == [1, 1, 0, 2]  # type: ignore[attr-defined]


def test_sitemap_404_malformed_robots_and_one_article_500(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    routes = _serve(feed_server)
    list(routes.values())[1].status = 500  # type: ignore[attr-defined]
    feed_server.add("/robots.txt", b"User-agent: *\nDisallow: /xa-hoi/\n")
    feed_server.add("/broken.xml", b"<html><body>Trang kh\xc3\xb4ng t\xe1\xbb\x93n t\xe1\xba\xa1i")
    app = make_app(
        [
            {"id": "gone", "kind": "sitemap", "url": feed_server.url("/nowhere.xml")},
            {"id": "broken", "kind": "sitemap", "url": feed_server.url("/broken.xml")},
            {"id": "news", "kind": "sitemap", "url": feed_server.url("/sitemap-news.xml")},
        ]
    )

    gone, broken, news = (crawl_source(app, s) for s in ("gone", "broken", "news"))

    assert gone.status == "error" and "404" in (gone.error or "")
    assert broken.status == "error" and "not a readable sitemap" in (broken.error or "")
    assert (news.status, news.new) == ("warning", 0)
    assert any("robots.txt" in w and "/xa-hoi/" in w for w in news.warnings)
    assert any("HTTP 500" in w for w in news.warnings)


def _fetcher(handler, max_bytes: int = 10_000_000) -> Fetcher:  # type: ignore[no-untyped-def]
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return Fetcher(
        client, Politeness(min_delay=0, robots=False, max_bytes=max_bytes, max_retries=0)
    )


def test_index_follows_newest_gzipped_children_only() -> None:
    asked: list[str] = []
    now = datetime.now(UTC)
    index = (
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>https://baoninhbinh.org.vn/s/old.xml</loc><lastmod>{(now - timedelta(days=40)).isoformat()}</lastmod></sitemap>"
        f"<sitemap><loc>https://baoninhbinh.org.vn/s/new.xml.gz</loc><lastmod>{now.isoformat()}</lastmod></sitemap>"
        "</sitemapindex>"
    ).encode()
    child = news_sitemap(
        (
            "https://baoninhbinh.org.vn/ninh-binh-khoi-cong-cau-vuot-d12398.html",
            2,
            "Khởi công cầu vượt",
        )
    )

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        if request.url.path == "/sitemap.xml":
            return httpx.Response(200, content=index)
        if request.url.path == "/s/new.xml.gz":
            return httpx.Response(
                200, content=gzip.compress(child), headers={"Content-Type": "application/gzip"}
            )
        return httpx.Response(200, content=ARTICLE, headers={"Content-Type": HTML})

    spec = SourceSpec("bnb", "https://baoninhbinh.org.vn/sitemap.xml", {}, "Asia/Ho_Chi_Minh")
    collected = SitemapAdapter().collect(_fetcher(handler), spec, RunState())

    assert asked == ["/sitemap.xml", "/s/new.xml.gz", "/ninh-binh-khoi-cong-cau-vuot-d12398.html"]
    assert [i.title for i in collected.items] == [
        "Hải Hậu khẩn trương khắc phục sạt lở đê biển sau bão số 3"
    ]
    assert collected.cursor and collected.cursor["high_water"] is not None


def test_high_water_mark_and_backlog() -> None:
    body = news_sitemap(
        ("https://baonamdinh.vn/a-1058301.htm", 1, "A"),
        ("https://baonamdinh.vn/b-1058302.htm", 30, "B"),
        ("https://baonamdinh.vn/c-1058303.htm", 2, "C"),
    )
    fetcher = _fetcher(
        lambda r: httpx.Response(200, content=body if r.url.path == "/s.xml" else ARTICLE)
    )
    spec = SourceSpec("bnd", "https://baonamdinh.vn/s.xml", {"max_articles": 2})
    adapter, stored, asked = SitemapAdapter(), set(), []

    def known(urls):  # type: ignore[no-untyped-def]
        asked.append(sorted(urls))
        return stored & set(urls)

    first = adapter.collect(fetcher, spec, RunState(known=known))
    stored |= {i.canonical_url for i in first.items}
    second = adapter.collect(fetcher, spec, RunState(cursor=first.cursor or {}, known=known))
    stored |= {i.canonical_url for i in second.items}
    third = adapter.collect(fetcher, spec, RunState(cursor=second.cursor or {}, known=known))

    assert [i.url for i in first.items] == [
        "https://baonamdinh.vn/a-1058301.htm",
        "https://baonamdinh.vn/c-1058303.htm",
    ]
    assert first.cursor and first.cursor["backlog"] and first.cursor["high_water"] is None
    assert [i.url for i in second.items] == ["https://baonamdinh.vn/b-1058302.htm"]
    assert second.cursor and not second.cursor["backlog"] and second.cursor["high_water"]
    # B, 30 hours old, is below the mark now: not even looked up.
    assert third.items == [] and asked[-1] == [
        "https://baonamdinh.vn/a-1058301.htm",
        "https://baonamdinh.vn/c-1058303.htm",
    ]


def test_gzip_bomb_is_refused_without_inflating_it() -> None:
    bomb = gzip.compress(
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">' + b" " * 50_000_000, 9
    )
    fetcher = _fetcher(lambda r: httpx.Response(200, content=bomb), max_bytes=2_000_000)
    spec = SourceSpec("bomb", "https://example.vn/sitemap.xml.gz")

    tracemalloc.start()
    try:
        with pytest.raises(PermanentSourceError, match="inflates past the 2000000-byte cap"):
            SitemapAdapter().collect(fetcher, spec, RunState())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(bomb) < 100_000 and peak < 5_000_000


def test_doctype_entities_are_refused() -> None:
    body = (FIXTURES / "billion-laughs.xml").read_bytes()
    fetcher = _fetcher(lambda r: httpx.Response(200, content=body))

    with pytest.raises(PermanentSourceError, match="DOCTYPE 'urlset' refused"):
        SitemapAdapter().collect(fetcher, SourceSpec("x", "https://example.vn/s.xml"), RunState())


def test_options_are_checked_and_filled() -> None:
    adapter = SitemapAdapter()
    filled = adapter.validate_options({"max_age": 1})
    assert filled == adapter.validate_options(filled)
    assert (filled["max_articles"], filled["max_sitemaps"], filled["max_age"]) == (30, 5, 1)
    with pytest.raises(ValueError, match=r"\['since'\].*max_articles, max_sitemaps, max_age"):
        adapter.validate_options({"since": 3})
    for bad in ({"max_age": 0}, {"max_sitemaps": "5"}, {"exclude": "["}, {"item_kind": 1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            adapter.validate_options(bad)
