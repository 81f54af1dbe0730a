"""The feed-based adapters: Google News search RSS (outlet kept, title suffix stripped, links left
as Google's) and XenForo forums (a thread page fetched once, its opening post read)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from crawlers.base import RunState, SourceSpec
from crawlers.fetcher import Fetcher, Politeness
from crawlers.forum import ForumAdapter, parse_thread
from crawlers.gnews import GoogleNewsAdapter, search_url
from monitor.pipeline import crawl_source
from monitor.storage.models import Item
from tests.conftest import AppFactory, FeedServer

FIXTURES = Path(__file__).parent / "fixtures"
GNEWS = FIXTURES / "gnews" / "nam-dinh-search.xml"
FORUM_FEED = (FIXTURES / "forum" / "voz-diem-bao.rss").read_bytes()
THREAD = (FIXTURES / "forum" / "voz-thread-1012345.html").read_bytes()
THREAD_1 = "/t/nam-dinh-sat-lo-de-bien-hai-hau-sau-bao-so-3-hang-tram-ho-dan-phai-so-tan.1012345/"
THREAD_2 = "/t/ninh-binh-khai-truong-tuyen-buyt-dien-noi-trang-an-tam-coc.1012290/"
QUERY = '"Nam Định" OR "Ninh Bình"'


def _fetcher(handler) -> Fetcher:  # type: ignore[no-untyped-def]
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return Fetcher(client, Politeness(min_delay=0, robots=False, max_retries=0))


# -- gnews ------------------------------------------------------------------------------------


def test_recorded_search_feed_keeps_outlets() -> None:
    facts = json.loads(GNEWS.with_suffix(".expected.json").read_text(encoding="utf-8"))
    fetcher = _fetcher(lambda request: httpx.Response(200, content=GNEWS.read_bytes()))
    spec = SourceSpec("g", "https://news.google.com/rss/search", {"query": "Nam Định"})

    collected = GoogleNewsAdapter().collect(fetcher, spec, RunState())

    assert len(collected.items) == facts["count"] and collected.warnings == []
    for item, expected in zip(collected.items, facts["items"], strict=True):
        assert (item.title, item.text) == (expected["title"], expected["text"])
        assert item.meta["outlet"] == expected["outlet"]
        assert item.meta["outlet_url"] == expected["outlet_url"]
        if "url" in expected:
            assert item.url == expected["url"]  # Google's redirect, not resolved
            assert item.published_at.isoformat() == expected["published"]


def test_search_url_asks_in_vietnamese_for_viet_nam() -> None:
    url = httpx.URL(search_url("https://news.google.com/rss/search", QUERY))

    assert url.path == "/rss/search"
    assert dict(url.params) == {"q": QUERY, "hl": "vi", "gl": "VN", "ceid": "VN:vi"}
    full = search_url("https://news.google.com/rss/search?hl=en-US&q=old", "Nam Định")
    assert dict(httpx.URL(full).params)["hl"] == "en-US"
    assert dict(httpx.URL(full).params)["q"] == "Nam Định"


def test_gnews_query_end_to_end(make_app: AppFactory, feed_server: FeedServer) -> None:
    url = httpx.URL(search_url(feed_server.url("/rss/search"), QUERY))
    route = feed_server.add(url.raw_path.decode(), GNEWS.read_bytes())
    source = {
        "id": "gnews-tinh",
        "kind": "gnews",
        "url": feed_server.url("/rss/search"),
        "options": {"query": QUERY, "max_items": 2},
    }
    app = make_app([source])

    first = crawl_source(app, "gnews-tinh")
    second = crawl_source(app, "gnews-tinh")

    assert (first.status, first.new, second.new, route.hits) == ("ok", 2, 0, 2)
    with app.sessions() as session:
        rows = session.execute(select(Item.title, Item.meta).order_by(Item.id)).all()
    assert [(t, m["outlet"]) for t, m in rows] == [
        ("Hải Hậu khẩn trương khắc phục sạt lở đê biển sau bão số 3", "Báo Nam Định"),
        ("Nam Định di dời hơn 300 hộ dân ven đê biển Hải Hậu", "VnExpress"),
    ]


def test_gnews_options() -> None:
    adapter = GoogleNewsAdapter()
    assert adapter.validate_options({}) == {"query": None, "max_items": 100, "item_kind": "news"}
    with pytest.raises(ValueError, match=r"\['q'\].*query, max_items, item_kind"):
        adapter.validate_options({"q": "Nam Định"})
    for bad in ({"query": 5}, {"query": " "}, {"max_items": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            adapter.validate_options(bad)


# -- forum ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expected", sorted((FIXTURES / "forum").glob("*.expected.json")), ids=lambda p: p.stem
)
def test_recorded_thread_pages(expected: Path) -> None:
    facts = json.loads(expected.read_text(encoding="utf-8"))
    page = expected.with_name(expected.name.replace(".expected.json", ".html")).read_bytes()

    thread = parse_thread(page, facts["url"], "text/html", timezone="Asia/Ho_Chi_Minh")

    opening = thread.posts[0]
    assert (thread.title, len(thread.posts), opening.author) == (
        facts["title"],
        facts["posts"],
        facts["author"],
    )
    assert opening.published and opening.published.isoformat() == facts["published"]
    for sentence in facts["text_contains"]:
        assert sentence in opening.text
    for junk in facts["text_absent"]:
        assert junk not in opening.text


def _serve_forum(server: FeedServer) -> tuple[object, object, object]:
    feed = FORUM_FEED.replace(b"https://voz.vn", server.url("").encode())
    return (
        server.add("/f/diem-bao.33/index.rss", feed, Content_Type="application/rss+xml"),
        server.add(THREAD_1, THREAD, Content_Type="text/html; charset=utf-8"),
        server.add(THREAD_2, b"<html><body>Oops! We ran into some problems.</body></html>", 403),
    )


def test_forum_threads_fetched_once(make_app: AppFactory, feed_server: FeedServer) -> None:
    feed, thread_1, thread_2 = _serve_forum(feed_server)
    source = {"id": "voz", "kind": "forum", "url": feed_server.url("/f/diem-bao.33/index.rss")}
    app = make_app([source])

    first = crawl_source(app, "voz")
    second = crawl_source(app, "voz")

    assert (first.status, first.new, second.new) == ("warning", 2, 0)
    assert any("HTTP 403" in w and THREAD_2 in w for w in first.warnings)
    assert (thread_1.hits, thread_2.hits, feed.hits) == (1, 1, 2)  # type: ignore[attr-defined]
    with app.sessions() as session:
        one, two = session.scalars(select(Item).order_by(Item.published_at.desc())).all()
    assert (one.kind, one.author) == ("forum", "thanhnam_1990")
    assert one.meta["thread_id"] == "1012345" and one.meta["forum"] == "Điểm báo"
    assert "sơ tán hơn 300 hộ dân" in one.text and "Mong bà con" not in one.text
    assert one.published_at.isoformat() == "2024-10-21T02:58:10+00:00"
    # The page was refused: the feed's excerpt stands in, without "Read more".
    assert two.text == "Sáng 20/10, tỉnh Ninh Bình đưa vào khai thác tuyến xe buýt điện đầu tiên..."
    assert (two.kind, two.author, two.meta["thread_id"]) == ("forum", "Ếch xanh", "1012290")


def _forum_handler(asked: list[str], thread_status: int = 200):  # type: ignore[no-untyped-def]
    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        if request.url.path.endswith("index.rss"):
            return httpx.Response(200, content=FORUM_FEED)
        if request.url.path == THREAD_1:
            return httpx.Response(thread_status, content=THREAD)
        return httpx.Response(404)

    return handler


SPEC_URL = "https://voz.vn/f/diem-bao.33/index.rss"


def test_max_posts_adds_replies_without_their_posters() -> None:
    spec = SourceSpec("voz", SPEC_URL, {"max_posts": 3, "max_threads": 1})
    fetcher = _fetcher(_forum_handler([]))

    collected = ForumAdapter().collect(fetcher, spec, RunState())

    (item,) = collected.items
    assert item.meta["posts"] == 2
    assert item.text.endswith("Mong bà con an toàn, tuần trước về quê thấy nước đã sát chân đê.")
    assert "Bác sĩ Hải" not in item.text and "said:" not in item.text
    assert collected.cursor and collected.cursor["backlog"] is True  # the second thread waits


def test_fetch_threads_false_keeps_the_feed_only() -> None:
    asked: list[str] = []
    spec = SourceSpec("voz", SPEC_URL, {"fetch_threads": False})

    collected = ForumAdapter().collect(_fetcher(_forum_handler(asked)), spec, RunState())

    assert asked == ["/f/diem-bao.33/index.rss"]
    assert [i.author for i in collected.items] == ["thanhnam_1990", "Ếch xanh"]
    assert all(i.kind == "forum" and "Read more" not in i.text for i in collected.items)


def test_thread_page_503_is_retried_not_stored_from_the_feed() -> None:
    asked: list[str] = []
    spec = SourceSpec("voz", SPEC_URL, {"max_threads": 1})

    collected = ForumAdapter().collect(_fetcher(_forum_handler(asked, 503)), spec, RunState())

    assert collected.items == [] and collected.cursor
    # Keyed by the canonical URL: the trailing slash of the thread link is not part of it.
    assert collected.cursor["retries"] == {f"https://voz.vn{THREAD_1}".rstrip("/"): 1}
    assert any("HTTP 503" in w and "tried again next run" in w for w in collected.warnings)


def test_forum_options() -> None:
    adapter = ForumAdapter()
    assert adapter.validate_options({}) == {
        "fetch_threads": True,
        "max_threads": 20,
        "max_posts": 1,
        "item_kind": "forum",
    }
    with pytest.raises(ValueError, match=r"\['posts'\].*fetch_threads, max_threads, max_posts"):
        adapter.validate_options({"posts": 2})
    for bad in ({"fetch_threads": "no"}, {"max_posts": 1.5}, {"max_threads": -1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            adapter.validate_options(bad)
