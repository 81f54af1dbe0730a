"""Hostile input from the sites themselves: impossible dates, codecs that are no text encoding,
malformed links and a page that trips a bug in extraction. Each costs at most the one article,
entry or link it is in, with a warning; the run stores the rest."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from crawlers import links
from crawlers.apis import parse_time
from crawlers.base import RunState, SourceSpec
from crawlers.encoding import decode_html
from crawlers.extract_meta import parse_date
from crawlers.fetcher import Fetcher, Politeness
from crawlers.forum import parse_thread
from crawlers.gnews import GoogleNewsAdapter
from crawlers.sitemap import parse_sitemap
from monitor.pipeline import crawl_source
from monitor.storage.models import Item
from tests.conftest import AppFactory, FeedServer

HTML = "text/html; charset=utf-8"
ZONE = "Asia/Ho_Chi_Minh"  # east of UTC: 0001-01-01 local is before year 1 in UTC
STORY = "Đê biển Hải Hậu được gia cố sau bão số 3, người dân yên tâm sản xuất. " * 8
THREAD = (Path(__file__).parent / "fixtures" / "forum" / "voz-thread-1012345.html").read_bytes()
EMPTY_DATES = ["0001-01-01T00:00:00", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59+14:00"]


def _article(title: str, head: str = "") -> bytes:
    return (
        f"<html><head>{head}<title>{title}</title></head><body><article><h1>{title}</h1>"
        f"<p>{STORY}</p></article></body></html>"
    ).encode()


GOOD = {
    "/tin/de-bien-hai-hau-duoc-gia-co-sau-bao-100001.html": _article("Đê biển Hải Hậu"),
    "/tin/nong-dan-giao-thuy-phan-khoi-vu-mua-100002.html": _article("Nông dân Giao Thủy"),
}


def _serve(server: FeedServer, extra_links: str = "") -> None:
    anchors = "".join(f'<h3><a href="{path}">{path}</a></h3>' for path in GOOD)
    listing = f"<html><body>{extra_links}{anchors}</body></html>".encode()
    server.add("/", listing, Content_Type=HTML)
    for path, body in GOOD.items():
        server.add(path, body, Content_Type=HTML)


def _stored(app: object) -> dict[str, datetime | None]:
    with app.sessions() as session:  # type: ignore[attr-defined]
        return {url: when for url, when in session.execute(select(Item.url, Item.published_at))}


def _html_source(server: FeedServer) -> list[dict[str, object]]:
    return [{"id": "bao", "kind": "html", "url": server.url("/"), "options": {}}]


# -- dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [*EMPTY_DATES, "31/12/9999 23:59", "01/01/0001"])
def test_impossible_dates_are_unknown(raw: str) -> None:
    assert parse_date(raw, ZoneInfo(ZONE)) is None
    assert parse_time(raw) is None


def test_api_times_still_read() -> None:
    assert parse_time("2025-03-12T03:15:42+0000") == datetime(2025, 3, 12, 3, 15, 42, tzinfo=UTC)


@pytest.mark.parametrize("raw", EMPTY_DATES)
def test_article_with_an_empty_date_is_stored_undated(
    make_app: AppFactory, feed_server: FeedServer, raw: str
) -> None:
    path = "/tin/ngay-trong-kieu-asp-net-van-la-mot-bai-bao-100003.html"
    _serve(feed_server, f'<h3><a href="{path}">Bài</a></h3>')
    head = f'<meta property="article:published_time" content="{raw}">'
    feed_server.add(path, _article("Bài không ngày", head), Content_Type=HTML)
    app = make_app(_html_source(feed_server), timezone=ZONE)

    report = crawl_source(app, "bao")

    assert (report.status, report.new, report.error) == ("ok", 3, None)
    assert _stored(app)[feed_server.url(path)] is None


def test_sitemap_entry_with_an_empty_date_is_kept() -> None:
    xml = (
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>https://baonamdinh.vn/a-100001.html</loc><lastmod>0001-01-01</lastmod></url>"
        b"</urlset>"
    )
    sitemap = parse_sitemap(xml, max_bytes=10**6, timezone=ZONE)

    assert [(e.loc, e.when) for e in sitemap.entries] == [
        ("https://baonamdinh.vn/a-100001.html", None)
    ]


def test_forum_post_with_an_empty_date_is_kept() -> None:
    page = THREAD.replace(b'datetime="2024-10-21T09:58:10+0700"', b'datetime="0001-01-01T00:00:00"')

    thread = parse_thread(page, "https://voz.vn/t/x.1012345/", HTML, timezone=ZONE)

    assert thread.posts and thread.posts[0].published is None
    assert "Hải Hậu" in thread.posts[0].text


# -- charsets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "label",
    ["base64", "hex", "zlib", "rot13", "uu", "bz2", "undefined", "utf-7", "unicode_escape", "idna"],
)
def test_codec_that_is_no_page_encoding_is_ignored(label: str) -> None:
    page = f'<meta charset="{label}"><p>Nam Định</p>'.encode()

    text, codec, warnings = decode_html(page, f"text/html; charset={label}")

    assert (text, codec) == (page.decode(), "utf-8")
    assert f"unknown charset {label!r} declared by the header; ignored" in warnings
    assert f"unknown charset {label!r} declared by the meta; ignored" in warnings


def test_page_encodings_still_decode() -> None:
    page = '<meta charset="windows-1258"><p>Nam Đinh</p>'.encode("cp1258")
    assert decode_html(page, None)[:2] == ('<meta charset="windows-1258"><p>Nam Đinh</p>', "cp1258")
    assert decode_html("<p>đ</p>".encode("cp874", "replace"), "text/html; charset=tis-620")[1] == (
        "cp874"
    )


def test_article_declaring_base64_is_stored(make_app: AppFactory, feed_server: FeedServer) -> None:
    path = "/tin/trang-khai-bao-bang-ma-base64-cung-doc-duoc-100004.html"
    _serve(feed_server, f'<h3><a href="{path}">Bài</a></h3>')
    body = _article("Bài base64", '<meta charset="base64">')
    feed_server.add(path, body, Content_Type="text/html; charset=undefined")
    app = make_app(_html_source(feed_server))

    report = crawl_source(app, "bao")

    assert (report.status, report.new, report.error) == ("ok", 3, None)
    assert feed_server.url(path) in _stored(app)


# -- malformed links --------------------------------------------------------------------------


def test_malformed_link_on_a_listing_is_skipped(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    _serve(
        feed_server, '<h2><a href="http://[oops/x">Hỏng</a></h2><a href="//[::1/a-b-c-d-e">x</a>'
    )
    app = make_app(_html_source(feed_server))

    report = crawl_source(app, "bao")

    assert (report.status, report.new) == ("warning", 2)
    assert set(_stored(app)) == {feed_server.url(p) for p in GOOD}
    assert "malformed link 'http://[oops/x' skipped" in report.warnings
    assert "malformed link '//[::1/a-b-c-d-e' skipped" in report.warnings


def test_malformed_base_href_is_ignored(make_app: AppFactory, feed_server: FeedServer) -> None:
    _serve(feed_server, '<base href="http://[oops/">')
    app = make_app(_html_source(feed_server))

    report = crawl_source(app, "bao")

    assert report.new == 2
    assert "<base href='http://[oops/'> is not a valid URL; ignored" in report.warnings


def test_malformed_sitemap_loc_is_skipped(make_app: AppFactory, feed_server: FeedServer) -> None:
    _serve(feed_server)
    locs = ["http://[oops/", *(feed_server.url(p) for p in GOOD)]
    urls = "".join(f"<url><loc>{loc}</loc></url>" for loc in locs)
    xml = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    feed_server.add("/sitemap.xml", xml.encode(), Content_Type="application/xml")
    app = make_app([{"id": "sm", "kind": "sitemap", "url": feed_server.url("/sitemap.xml")}])

    report = crawl_source(app, "sm")

    assert (report.status, report.new) == ("warning", 2)
    assert "1 entry with a malformed <loc> skipped, e.g. 'http://[oops/'" in report.warnings


def test_gnews_item_with_a_malformed_link_loses_only_its_outlet() -> None:
    feed = b"""<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>
<item><title>Tin A - Bao A</title><link>https://news.google.com/rss/articles/AAA?oc=5</link>
<source url="https://a.vn">Bao A</source><description>x</description></item>
<item><title>Tin B</title><link>http://[oops/</link><description>y</description></item>
</channel></rss>"""
    client = httpx.Client(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, content=feed))
    )
    fetcher = Fetcher(client, Politeness(min_delay=0, robots=False, max_retries=0))
    spec = SourceSpec("g", "https://news.google.com/rss/search?q=x", {})

    collected = GoogleNewsAdapter().collect(fetcher, spec, RunState())

    assert [(i.title, i.meta.get("outlet")) for i in collected.items] == [
        ("Tin A", "Bao A"),
        ("Tin B", None),
    ]
    assert collected.warnings == ["item with a malformed link 'http://[oops/': outlet not read"]


def test_unsplittable_page_url_is_skipped_not_fatal() -> None:
    fetcher = Fetcher(
        httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))),
        Politeness(min_delay=0, robots=False, max_retries=0),
    )
    warnings: list[str] = []
    pages = links.PageFetcher(fetcher, links.Memory(), warnings)

    assert pages.get(links.Link("http://[oops/", "http://[oops/")) is None
    assert warnings == ["http://[oops/: skipped, not a valid URL (Invalid IPv6 URL)"]
    assert pages.memory.seen == ["http://[oops/"]


# -- a bug while reading one page -------------------------------------------------------------


def test_extraction_bug_on_one_page_costs_that_page_only(
    make_app: AppFactory,
    feed_server: FeedServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _serve(feed_server)
    broken = feed_server.url(next(iter(GOOD)))
    real = links.extract_article

    def extract(content: bytes, url: str, *args: object, **kwargs: object) -> object:
        if url == broken:
            raise IndexError("list index out of range")
        return real(content, url, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(links, "extract_article", extract)
    app = make_app(_html_source(feed_server))

    first = crawl_source(app, "bao")
    second = crawl_source(app, "bao")

    assert (first.status, first.new) == ("warning", 1)
    assert first.warnings == [
        f"{broken}: skipped, the page could not be read: an error in the crawler, logged "
        "(IndexError: list index out of range)"
    ]
    assert broken not in _stored(app)
    assert (second.new, second.warnings) == (0, [])  # remembered, not fetched every run
    logged = [r for r in caplog.records if r.levelno == logging.ERROR and r.exc_info]
    assert any(broken in r.getMessage() for r in logged)


# -- secrets on redirects ---------------------------------------------------------------------


def test_api_key_header_is_not_sent_on_to_another_origin() -> None:
    sent: list[tuple[str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append((request.url.host, request.headers.get("x-goog-api-key")))
        if request.url.host == "www.googleapis.com":
            return httpx.Response(302, headers={"Location": "https://elsewhere.example/x"})
        return httpx.Response(200, json={})

    fetcher = Fetcher(
        httpx.Client(transport=httpx.MockTransport(handler)),
        Politeness(min_delay=0, robots=False, max_retries=0),
        resolve=lambda host, port: ["93.184.215.14"],
    )
    fetcher.get(
        "https://www.googleapis.com/youtube/v3/search",
        headers={"X-Goog-Api-Key": "AIzaSECRET"},
        robots=False,
    )

    assert sent == [("www.googleapis.com", "AIzaSECRET"), ("elsewhere.example", None)]
