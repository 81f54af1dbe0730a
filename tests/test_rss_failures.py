"""How an RSS source fails, as a person watching the sources would see it: the run's status and
error, when the source is tried again, what got stored, and that the other sources carry on.

Each failure mode has its own route: timeouts come from an ``httpx.MockTransport`` handler (no
real waiting), everything else from the real server on 127.0.0.1."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from sqlalchemy import select

from crawlers.rss import parse_feed
from monitor.bootstrap import App
from monitor.pipeline import RunReport, crawl_source
from monitor.storage import queries
from monitor.storage.models import CrawlRun, Item, Source, utcnow
from tests.conftest import VNEXPRESS_FEED, AppFactory, FeedServer

VNE_BYTES = VNEXPRESS_FEED.read_bytes()
VNE_TITLES = [
    i.title for i in parse_feed(VNE_BYTES, "https://vnexpress.net/rss/tin-moi-nhat.rss").items
]
RETRY_BACKOFF = 300  # the scheduler defaults: first transient failure waits 5 min ...
MAX_BACKOFF = 21600  # ... and a permanent one 6 h
SLACK = timedelta(seconds=2)


def _rss(*items: tuple[str, str, str], declaration: str = '<?xml version="1.0"?>') -> str:
    """A small RSS 2.0 document of (title, link, description) items."""
    body = "".join(
        f"<item><title>{t}</title><link>{u}</link><description>{d}</description></item>\n"
        for t, u, d in items
    )
    return f"{declaration}\n<rss version='2.0'><channel><title>Tin</title>\n{body}</channel></rss>"


def _windows_1258(text: str) -> bytes:
    """Encode Vietnamese as windows-1258 does: base letters with tone marks as combining bytes."""
    out = bytearray()
    for char in unicodedata.normalize("NFC", text):
        try:
            out += char.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        base, *marks = unicodedata.normalize("NFD", char)
        # The code page has â ê ô ă ơ ư precomposed but the five tones only as combining marks.
        shape = "".join(m for m in marks if m in "\u0302\u0306\u031b")
        tones = "".join(m for m in marks if m not in shape)
        out += unicodedata.normalize("NFC", base + shape).encode("cp1258") + tones.encode("cp1258")
    return bytes(out)


def _run(app: App, source_id: str) -> CrawlRun:
    with app.sessions() as session:
        return session.scalars(
            select(CrawlRun).where(CrawlRun.source_id == source_id).order_by(CrawlRun.id.desc())
        ).first()


def _source(app: App, source_id: str) -> Source:
    with app.sessions() as session:
        return session.get(Source, source_id)


def _titles(app: App, source_id: str) -> list[str]:
    with app.sessions() as session:
        stmt = select(Item.title).where(Item.source_id == source_id).order_by(Item.id)
        return list(session.scalars(stmt))


def _crawl_timed(app: App, source_id: str, **kwargs: bool) -> tuple[RunReport, datetime, datetime]:
    before = utcnow()
    report = crawl_source(app, source_id, **kwargs)
    return report, before, utcnow()


def _assert_backoff(
    app: App, source_id: str, before: datetime, after: datetime, seconds: int
) -> None:
    backoff = _source(app, source_id).backoff_until
    assert backoff is not None
    wait = timedelta(seconds=seconds)
    assert before + wait - SLACK <= backoff <= after + wait + SLACK


# --- timeouts (MockTransport: the handler raises at once, nothing waits) --------------------------


def test_timeout_is_transient_and_the_other_source_still_stores(make_app: AppFactory) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "slow.example.vn":
            raise httpx.ReadTimeout("timed out reading the body", request=request)
        return httpx.Response(
            200, content=VNE_BYTES, headers={"Content-Type": "application/rss+xml"}
        )

    app = make_app(
        [
            {"id": "slow", "kind": "rss", "url": "https://slow.example.vn/rss"},
            {"id": "vne", "kind": "rss", "url": "https://vnexpress.net/rss/tin-moi-nhat.rss"},
        ],
        transport=httpx.MockTransport(handler),
    )

    slow, before, after = _crawl_timed(app, "slow")
    ok = crawl_source(app, "vne")

    assert slow.status == "error"
    assert "timed out" in (_run(app, "slow").error or "")
    assert _run(app, "slow").status == "error"
    assert _source(app, "slow").consecutive_failures == 1
    _assert_backoff(app, "slow", before, after, RETRY_BACKOFF)
    assert (ok.status, ok.new) == ("ok", 25)
    assert _source(app, "vne").consecutive_failures == 0
    assert _titles(app, "slow") == []


def test_repeated_timeouts_double_the_wait(make_app: AppFactory) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("connect timed out", request=request)

    app = make_app(
        [{"id": "slow", "kind": "rss", "url": "https://slow.example.vn/rss"}],
        transport=httpx.MockTransport(handler),
    )

    crawl_source(app, "slow")
    deferred = crawl_source(app, "slow")
    _, before, after = _crawl_timed(app, "slow", force=True)

    assert deferred.status == "deferred"
    assert _source(app, "slow").consecutive_failures == 2
    _assert_backoff(app, "slow", before, after, 2 * RETRY_BACKOFF)


# --- HTTP status codes ----------------------------------------------------------------------------


def test_http_500_is_transient_with_backoff(make_app: AppFactory, feed_server: FeedServer) -> None:
    route = feed_server.add("/down.rss", b"<h1>Internal Server Error</h1>", status=500)
    app = make_app([{"id": "down", "kind": "rss", "url": feed_server.url("/down.rss")}])

    report, before, after = _crawl_timed(app, "down")
    again = crawl_source(app, "down")

    assert report.status == "error"
    assert "HTTP 500" in (_run(app, "down").error or "")
    _assert_backoff(app, "down", before, after, RETRY_BACKOFF)
    assert again.status == "deferred" and route.hits == 1


def test_http_429_honours_retry_after(make_app: AppFactory, feed_server: FeedServer) -> None:
    route = feed_server.add("/busy.rss", b"slow down", status=429, Retry_After="120")
    app = make_app([{"id": "busy", "kind": "rss", "url": feed_server.url("/busy.rss")}])

    report, before, after = _crawl_timed(app, "busy")
    error = _run(app, "busy").error or ""
    last_error = _source(app, "busy").last_error
    deferred = crawl_source(app, "busy")
    hits_while_deferred = route.hits
    forced = crawl_source(app, "busy", force=True)

    assert report.status == "error"
    assert "HTTP 429" in error and "Retry-After 120s" in error
    assert last_error == error
    _assert_backoff(app, "busy", before, after, 120)
    assert deferred.status == "deferred" and hits_while_deferred == 1
    assert deferred.deferred_until == report.deferred_until
    # Even a forced run keeps to the pause the server asked for: the fetcher holds the host.
    assert forced.status == "error" and "asked for a pause" in (forced.error or "")
    assert route.hits == 1
    assert _source(app, "busy").consecutive_failures == 2


def test_http_429_retry_after_as_a_date(make_app: AppFactory, feed_server: FeedServer) -> None:
    when = utcnow().replace(microsecond=0) + timedelta(minutes=10)
    feed_server.add("/busy.rss", b"", status=429, Retry_After=format_datetime(when, usegmt=True))
    app = make_app([{"id": "busy", "kind": "rss", "url": feed_server.url("/busy.rss")}])

    crawl_source(app, "busy")

    backoff = _source(app, "busy").backoff_until
    assert backoff is not None and abs(backoff - when) <= SLACK


def test_http_404_is_permanent(make_app: AppFactory, feed_server: FeedServer) -> None:
    route = feed_server.add("/gone.rss", b"<h1>Not Found</h1>", status=404)
    app = make_app([{"id": "gone", "kind": "rss", "url": feed_server.url("/gone.rss")}])

    report, before, after = _crawl_timed(app, "gone")
    again = crawl_source(app, "gone")

    error = report.error or ""
    assert report.status == "error"
    assert "HTTP 404" in error and feed_server.url("/gone.rss") in error
    assert _run(app, "gone").status == "error"
    _assert_backoff(app, "gone", before, after, MAX_BACKOFF)
    assert again.status == "deferred" and route.hits == 1


# --- bodies and redirects -------------------------------------------------------------------------


def test_body_over_the_size_cap_stores_nothing(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    feed_server.add("/big.rss", VNE_BYTES)
    app = make_app(
        [{"id": "big", "kind": "rss", "url": feed_server.url("/big.rss")}], http={"max_bytes": 1000}
    )

    report, before, after = _crawl_timed(app, "big")

    assert report.status == "error"
    assert "1000-byte cap" in (_run(app, "big").error or "")
    assert _titles(app, "big") == []
    _assert_backoff(app, "big", before, after, MAX_BACKOFF)


def test_body_over_the_cap_without_a_content_length(make_app: AppFactory) -> None:
    def chunks() -> Iterator[bytes]:
        for start in range(0, len(VNE_BYTES), 512):
            yield VNE_BYTES[start : start + 512]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=chunks())  # streamed: the size is not known up front

    app = make_app(
        [{"id": "big", "kind": "rss", "url": "https://big.example.vn/rss"}],
        transport=httpx.MockTransport(handler),
        http={"max_bytes": 1000},
    )

    report = crawl_source(app, "big")

    assert report.status == "error" and "1000-byte cap" in (report.error or "")
    assert _titles(app, "big") == []


def test_redirect_loop_is_stopped_at_once_and_named(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    route_a = feed_server.add("/a.rss", b"", status=302, Location=feed_server.url("/b.rss"))
    route_b = feed_server.add("/b.rss", b"", status=301, Location="/a.rss")
    app = make_app([{"id": "loop", "kind": "rss", "url": feed_server.url("/a.rss")}])

    report = crawl_source(app, "loop")

    assert report.status == "error"
    error = _run(app, "loop").error or ""
    assert "redirect loop" in error and "/a.rss → " in error and "/b.rss → " in error
    assert (route_a.hits, route_b.hits) == (1, 1)  # not followed round until the limit
    assert _source(app, "loop").consecutive_failures == 1


def test_a_redirect_chain_past_the_limit_is_given_up(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    hops = [feed_server.add(f"/r{n}", b"", status=302, Location=f"/r{n + 1}") for n in range(10)]
    app = make_app([{"id": "chain", "kind": "rss", "url": feed_server.url("/r0")}])

    assert crawl_source(app, "chain").status == "error"
    assert "too many redirects (over 5)" in (_run(app, "chain").error or "")
    assert sum(hop.hits for hop in hops) == 1 + app.settings.http.max_redirects


def test_corrupt_gzip_body_is_a_transient_error(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    feed_server.add("/gz.rss", VNE_BYTES, Content_Encoding="gzip")  # says gzip, is not
    app = make_app([{"id": "gz", "kind": "rss", "url": feed_server.url("/gz.rss")}])

    report, before, after = _crawl_timed(app, "gz")

    assert report.status == "error" and "decompress" in (report.error or "")
    assert _run(app, "gz").status == "error"
    _assert_backoff(app, "gz", before, after, RETRY_BACKOFF)


# --- malformed XML --------------------------------------------------------------------------------


def _cut_inside_a_character(body: bytes) -> bytes:
    """The first half of a UTF-8 document, cut in the middle of a multi-byte character."""
    cut = len(body) // 2
    while not 0x80 <= body[cut] < 0xC0:  # a continuation byte: cutting here splits a character
        cut += 1
    return body[:cut]


@pytest.mark.parametrize("content_type", [None, "application/rss+xml", "text/xml; charset=utf-8"])
def test_truncated_feed_keeps_the_complete_entries(
    make_app: AppFactory, feed_server: FeedServer, content_type: str | None
) -> None:
    headers = {"Content_Type": content_type} if content_type else {}
    route = feed_server.add("/vne.rss", _cut_inside_a_character(VNE_BYTES), **headers)
    app = make_app([{"id": "vne", "kind": "rss", "url": feed_server.url("/vne.rss")}])

    report = crawl_source(app, "vne")
    run = _run(app, "vne")
    stored = _titles(app, "vne")
    route.body = VNE_BYTES
    whole = crawl_source(app, "vne")

    assert report.status == "warning" and report.new >= 10
    assert run.status == "warning" and any("cut off" in w for w in run.warnings)
    assert stored == VNE_TITLES[: len(stored)]  # in order, readable, nothing half-read
    # The whole feed later adds the rest; nothing read from the cut-off copy comes back twice.
    assert whole.status == "ok" and (whole.new, whole.updated) == (25 - len(stored), 0)
    assert len(_titles(app, "vne")) == 25


def test_broken_tags_keep_the_entries_that_parse(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    body = _rss(
        ("Một", "https://x.vn/1", "Bình thường"),
        ("Hai & ba", "https://x.vn/2?a=1&b=2", "dấu & trần"),
        ("Bốn&nbsp;năm", "https://x.vn/4", "thực thể&mdash;HTML"),
        ("Sáu", "https://x.vn/6", "thẻ <b>không đóng"),
        ("Bảy\x0b", "https://x.vn/7", "ký tự điều khiển"),
    ).encode()
    feed_server.add("/bad.rss", body, Content_Type="application/rss+xml; charset=utf-8")
    app = make_app([{"id": "bad", "kind": "rss", "url": feed_server.url("/bad.rss")}])

    report = crawl_source(app, "bad")

    assert report.status == "warning" and report.new == 5
    run = _run(app, "bad")
    assert run.status == "warning" and any("malformed" in w for w in run.warnings)
    assert _titles(app, "bad") == ["Một", "Hai & ba", "Bốn năm", "Sáu", "Bảy"]
    with app.sessions() as session:
        texts = {url: text for url, text in session.execute(select(Item.url, Item.text))}
    assert texts["https://x.vn/2?a=1&b=2"] == "dấu & trần"
    assert texts["https://x.vn/4"] == "thực thể—HTML"


def test_a_mistyped_end_tag_stores_no_empty_item(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    body = """<?xml version="1.0"?><rss version="2.0"><channel><title>Tin</title>
    <item><title>Một</title><link>https://x.vn/1</link></item>
    <item><title>Hai</titel><link>https://x.vn/2</link></item>
    <item><title>Ba</title><link>https://x.vn/3</link></item>
    </channel></rss>""".encode()
    feed_server.add("/typo.rss", body)
    app = make_app([{"id": "typo", "kind": "rss", "url": feed_server.url("/typo.rss")}])

    report = crawl_source(app, "typo")

    assert report.status == "warning"
    with app.sessions() as session:
        items = session.execute(select(Item.title, Item.text, Item.url).order_by(Item.id)).all()
    assert items[0].title == "Một"
    assert all(title or text for title, text, _ in items), items


def test_html_instead_of_a_feed_is_a_warning_not_a_crash(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    feed_server.add(
        "/login", b"<html><body><form>Dang nhap</form></body></html>", Content_Type="text/html"
    )
    app = make_app([{"id": "login", "kind": "rss", "url": feed_server.url("/login")}])

    report = crawl_source(app, "login")

    assert report.status == "warning" and report.new == 0
    assert "no feed found" in " ".join(_run(app, "login").warnings)


def test_emoji_written_as_utf16_halves(make_app: AppFactory, feed_server: FeedServer) -> None:
    # Some CMSs write each UTF-16 half of an emoji as its own reference; feedparser's fallback
    # parser raised on them, losing the whole feed.
    body = _rss(
        ("Vui quá &#xD83D;&#xDE00;", "https://x.vn/1", "&#55357;&#56832; tuyệt"),
        ("Nửa ký tự &#xD800; và số quá lớn &#x110000;", "https://x.vn/2", "x"),
    ).encode()
    feed_server.add("/emoji.rss", body, Content_Type="application/rss+xml")
    app = make_app([{"id": "emoji", "kind": "rss", "url": feed_server.url("/emoji.rss")}])

    report = crawl_source(app, "emoji")

    assert report.status == "warning" and report.new == 2
    assert _titles(app, "emoji") == ["Vui quá 😀", "Nửa ký tự \ufffd và số quá lớn \ufffd"]


# --- character encodings --------------------------------------------------------------------------

VIET_TITLES = [
    "Chủ tịch Đà Nẵng tri ân người dân",
    "Lũ lụt ở Hải Hậu, Nam Định",
    "Mưa lớn gây ngập úng",
]


def test_windows_1258_declared_in_the_feed(make_app: AppFactory, feed_server: FeedServer) -> None:
    items = [(t, f"https://x.vn/{n}", f"Tin số {n}: {t}") for n, t in enumerate(VIET_TITLES)]
    body = _windows_1258(_rss(*items, declaration='<?xml version="1.0" encoding="windows-1258"?>'))
    assert b"\xd0" in body and "Đ".encode() not in body  # really windows-1258 bytes
    feed_server.add("/cp1258.rss", body, Content_Type="application/rss+xml")
    app = make_app([{"id": "cp1258", "kind": "rss", "url": feed_server.url("/cp1258.rss")}])

    report = crawl_source(app, "cp1258")

    assert report.status == "ok" and report.new == 3
    assert _titles(app, "cp1258") == VIET_TITLES
    with app.sessions() as session:
        text = session.scalars(select(Item.text).where(Item.url == "https://x.vn/1")).one()
    assert text == "Tin số 1: Lũ lụt ở Hải Hậu, Nam Định"


FRENCH = ["Crème brûlée à Noël – “déjà vu”", "Œuvres complètes… €20"]


@pytest.mark.parametrize(
    "charset", ["windows-1252", "iso-8859-1"], ids=["windows-1252", "latin-1-means-1252"]
)
def test_charset_in_the_content_type_header(
    make_app: AppFactory, feed_server: FeedServer, charset: str
) -> None:
    body = _rss(*[(t, f"https://x.fr/{n}", t) for n, t in enumerate(FRENCH)]).encode("cp1252")
    feed_server.add("/fr.rss", body, Content_Type=f"application/rss+xml; charset={charset}")
    app = make_app([{"id": "fr", "kind": "rss", "url": feed_server.url("/fr.rss")}])

    report = crawl_source(app, "fr")

    assert report.status == "ok"
    assert _titles(app, "fr") == FRENCH


def test_feed_labelled_utf8_but_encoded_windows_1252(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    body = _rss(*[(t, f"https://x.fr/{n}", t) for n, t in enumerate(FRENCH)]).encode("cp1252")
    feed_server.add("/fr.rss", body, Content_Type="application/rss+xml; charset=utf-8")
    app = make_app([{"id": "fr", "kind": "rss", "url": feed_server.url("/fr.rss")}])

    report = crawl_source(app, "fr")

    assert report.status == "warning"
    assert "windows-1252" in " ".join(_run(app, "fr").warnings)
    assert _titles(app, "fr") == FRENCH


def test_stray_byte_in_a_utf8_feed_spoils_only_itself(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    items = [(t, f"https://x.vn/{n}", t) for n, t in enumerate([*VIET_TITLES, "Giá vàng – tăng"])]
    body = _rss(*items).encode().replace("–".encode(), b"\x96")  # one windows-1252 dash
    feed_server.add("/vn.rss", body, Content_Type="application/rss+xml; charset=utf-8")
    app = make_app([{"id": "vn", "kind": "rss", "url": feed_server.url("/vn.rss")}])

    report = crawl_source(app, "vn")

    assert report.status == "warning" and any("UTF-8" in w for w in report.warnings)
    assert _titles(app, "vn") == [*VIET_TITLES, "Giá vàng \ufffd tăng"]


# --- all at once ----------------------------------------------------------------------------------


def test_every_failure_is_shown_per_source_and_the_good_one_stores(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    feed_server.add("/ok.rss", VNE_BYTES)
    feed_server.add("/500", b"", status=500)
    feed_server.add("/429", b"", status=429, Retry_After="120")
    feed_server.add("/404", b"", status=404)
    feed_server.add("/loop", b"", status=302, Location="/loop")
    feed_server.add("/big", b"x" * (2 * len(VNE_BYTES)))
    failing = {
        "500": "HTTP 500",
        "404": "HTTP 404",
        "loop": "redirect loop",
        "big": "byte cap",
        # Last: its Retry-After holds every later request to this (one) host for 120 s.
        "429": "Retry-After 120s",
    }
    sources = [{"id": "ok", "kind": "rss", "url": feed_server.url("/ok.rss")}]
    sources += [{"id": s, "kind": "rss", "url": feed_server.url(f"/{s}")} for s in failing]
    app = make_app(sources, http={"max_bytes": len(VNE_BYTES) + 1000})

    for source in sources:
        crawl_source(app, source["id"])

    health = {row.id: row for row in queries.sources_health(app.sessions)}
    for source_id, expected in failing.items():
        row = health[source_id]
        assert (row.last_status, row.consecutive_failures, row.items) == ("error", 1, 0), source_id
        assert expected in (row.last_error or ""), (source_id, row.last_error)
        assert row.backoff_until is not None and row.backoff_until > utcnow()
    ok = health["ok"]
    assert (ok.last_status, ok.items, ok.last_error, ok.backoff_until) == ("ok", 25, None, None)


# --- hostile or unexpected failures are recorded, never raised ---------------------------------


def test_absurd_retry_after_is_capped(make_app: AppFactory, feed_server: FeedServer) -> None:
    feed_server.add("/busy.rss", b"", status=429, Retry_After="99999999999")  # ~3,000 years
    app = make_app([{"id": "busy", "kind": "rss", "url": feed_server.url("/busy.rss")}])

    _, before, after = _crawl_timed(app, "busy")

    _assert_backoff(app, "busy", before, after, MAX_BACKOFF)


def test_huge_retry_after_is_recorded_not_raised(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    feed_server.add("/busy.rss", b"", status=429, Retry_After="9" * 20)
    app = make_app([{"id": "busy", "kind": "rss", "url": feed_server.url("/busy.rss")}])

    report = crawl_source(app, "busy")

    assert report.status == "error" and _run(app, "busy").status == "error"


def test_unexpected_adapter_error_is_recorded_not_raised(make_app: AppFactory) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("a bug somewhere below the adapter")

    app = make_app(
        [{"id": "odd", "kind": "rss", "url": "https://odd.example.vn/rss"}],
        transport=httpx.MockTransport(handler),
    )

    report = crawl_source(app, "odd")

    assert report.status == "error" and "a bug somewhere" in (report.error or "")
    assert _run(app, "odd").status == "error"
