"""The html adapter: a listing page's article links, each new one fetched once and extracted.

End to end through the composition root against the real local server (route hits counted), and
``collect()`` directly over ``httpx.MockTransport`` for the cursor and the options."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from crawlers.base import RunState, SourceSpec, Validators
from crawlers.fetcher import Fetcher, Politeness
from crawlers.html import HtmlAdapter, listing_links, looks_like_article
from crawlers.http import FetchResult
from monitor.pipeline import crawl_source
from monitor.storage.models import Item
from tests.conftest import AppFactory, FeedServer

LISTING = Path(__file__).parent / "fixtures" / "listing"
HOME = (LISTING / "baonamdinh-home.html").read_bytes()
ARTICLES = {
    "/xa-hoi/202410/hai-hau-khan-truong-khac-phuc-sat-lo-de-bien-sau-bao-so-3-1058214.htm": (
        LISTING / "baonamdinh-article-hai-hau.html"
    ).read_bytes(),
    "/kinh-te/202410/nam-dinh-thu-hut-them-3-du-an-fdi-vao-khu-cong-nghiep-my-thuan-1058190.htm": (
        LISTING / "baonamdinh-article-fdi.html"
    ).read_bytes(),
    "/kinh-te/202410/gia-lua-vu-mua-tang-nong-dan-phan-khoi-1058177.htm": (
        LISTING / "baonamdinh-article-gia-lua.html"
    ).read_bytes(),
}
LE_HOI = "/van-hoa/202410/le-hoi-den-tran-thu-hut-dong-dao-du-khach-1058102.htm"
EMPTY_PAGE = (
    b"<html><head><title>Trang</title></head><body><nav><a href='/'>Home</a></nav></body></html>"
)
HTML = "text/html; charset=utf-8"


@pytest.mark.parametrize(
    "expected", sorted(LISTING.glob("*.expected.json")), ids=lambda p: p.name.split(".")[0]
)
def test_recorded_listing_offers_its_article_links(expected: Path) -> None:
    facts = json.loads(expected.read_text(encoding="utf-8"))
    body = expected.with_name(expected.name.replace(".expected.json", ".html")).read_bytes()
    page = FetchResult(facts["url"], 200, body, HTML, Validators())

    links, warnings = listing_links(page, HtmlAdapter().validate_options({}))

    assert [link.canonical for link in links] == facts["links"]
    titles = {link.canonical: link.title for link in links}
    for url, title in facts["titles"].items():
        assert titles[url] == title
    assert warnings == []


@pytest.mark.parametrize(
    ("url", "article"),
    [
        ("https://baonamdinh.vn/xa-hoi/202410/nam-dinh-don-bao-1058214.htm", True),
        ("https://baoninhbinh.org.vn/ninh-binh-trien-khai-ke-hoach-phong-chong-bao.html", True),
        ("https://baonamdinh.vn/the-thao.htm", False),
        ("https://baonamdinh.vn/kinh-te/", False),
        ("https://baonamdinh.vn/tag/bao-so-3-nam-dinh-hai-hau-giao-thuy/", False),
    ],
)
def test_article_looking_paths(url: str, article: bool) -> None:
    assert looks_like_article(url) is article


def _serve_site(server: FeedServer, **overrides: int) -> dict[str, object]:
    """The listing and its articles on the local server; ``status_<n>`` overrides an article."""
    server.add("/", HOME, Content_Type=HTML)
    routes = {path: server.add(path, body, Content_Type=HTML) for path, body in ARTICLES.items()}
    routes[LE_HOI] = server.add(LE_HOI, EMPTY_PAGE, Content_Type=HTML)
    for index, status in overrides.items():
        path = list(routes)[int(index.removeprefix("status_"))]
        routes[path].status = status
    return routes  # type: ignore[return-value]


def _source(server: FeedServer, **options: object) -> list[dict[str, object]]:
    return [{"id": "bnd", "kind": "html", "url": server.url("/"), "options": options}]


def test_listing_articles_are_stored_once(make_app: AppFactory, feed_server: FeedServer) -> None:
    routes = _serve_site(feed_server)
    app = make_app(_source(feed_server), timezone="Asia/Ho_Chi_Minh")

    first = crawl_source(app, "bnd")
    second = crawl_source(app, "bnd")

    assert (first.status, first.new) == ("warning", 3)
    assert any("no article text" in w and LE_HOI in w for w in first.warnings)
    assert (second.status, second.new, second.warnings) == ("ok", 0, [])
    assert {path: route.hits for path, route in routes.items()} == dict.fromkeys(routes, 1)
    with app.sessions() as session:
        item = session.scalars(select(Item).where(Item.title.like("Hải Hậu%"))).one()
    assert item.kind == "news" and item.author == "Trần Văn Hùng"
    assert "gia cố đoạn đê biển bị sạt lở" in item.text and "Tin liên quan" not in item.text
    assert item.published_at.isoformat() == "2024-10-21T02:30:00+00:00"
    assert item.url == feed_server.url(next(iter(ARTICLES)))


def test_listing_404_is_an_error_on_the_source(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    app = make_app(_source(feed_server))

    report = crawl_source(app, "bnd")

    assert report.status == "error" and "404" in (report.error or "")


def test_one_article_500_is_a_warning_and_retried_next_run(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    routes = _serve_site(feed_server, status_1=500)
    app = make_app(_source(feed_server))

    first = crawl_source(app, "bnd")
    routes_list = list(routes.values())
    routes_list[1].status = 200  # type: ignore[attr-defined]
    second = crawl_source(app, "bnd")

    assert (first.status, first.new) == ("warning", 2)
    assert any("HTTP 500" in w and "tried again next run" in w for w in first.warnings)
    assert second.new == 1
    assert [r.hits for r in routes_list] == [1, 2, 1, 1]  # type: ignore[attr-defined]


def test_robots_disallowed_articles_are_skipped_and_not_asked_again(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    routes = _serve_site(feed_server)
    feed_server.add(
        "/robots.txt", b"User-agent: *\nDisallow: /kinh-te/\n", Content_Type="text/plain"
    )
    app = make_app(_source(feed_server))

    first = crawl_source(app, "bnd")
    second = crawl_source(app, "bnd")

    assert first.new == 1
    robots = [w for w in first.warnings if "robots.txt" in w]
    assert len(robots) == 2 and all("/kinh-te/" in w for w in robots)
    assert second.warnings == [] and second.new == 0
    assert [r.hits for r in routes.values()] == [1, 0, 0, 1]  # type: ignore[attr-defined]


def _fetcher(handler) -> Fetcher:  # type: ignore[no-untyped-def]
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return Fetcher(client, Politeness(min_delay=0, robots=False, max_retries=0))


def test_max_articles_leaves_a_backlog_fetched_past_a_304() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/":
            if request.headers.get("if-none-match") == '"home-1"':
                return httpx.Response(304, headers={"ETag": '"home-1"'})
            return httpx.Response(200, content=HOME, headers={"ETag": '"home-1"'})
        body = ARTICLES.get(request.url.path, EMPTY_PAGE)
        return httpx.Response(200, content=body, headers={"Content-Type": HTML})

    adapter, fetcher = HtmlAdapter(), _fetcher(handler)
    spec = SourceSpec("bnd", "https://baonamdinh.vn/", {"max_articles": 2})

    first = adapter.collect(fetcher, spec, RunState())
    stored = {i.canonical_url for i in first.items}
    assert len(first.items) == 2 and first.cursor and first.cursor["backlog"] is True
    state = RunState(first.validators, first.cursor, known=lambda urls: stored & set(urls))
    second = adapter.collect(fetcher, spec, state)

    assert seen[3].url.path == "/" and "if-none-match" not in seen[3].headers
    assert len(second.items) == 1 and second.cursor and second.cursor["backlog"] is False
    assert second.cursor["seen"] == [f"https://baonamdinh.vn{LE_HOI}"]
    stored |= {i.canonical_url for i in second.items}
    third = adapter.collect(
        fetcher, spec, RunState(second.validators, second.cursor, known=lambda u: stored & set(u))
    )
    assert third.not_modified and seen[-1].headers["if-none-match"] == '"home-1"'


def test_explicit_selector_include_exclude_and_title_fallback() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/":
            return httpx.Response(200, content=HOME)
        return httpx.Response(200, content=b"<p>" + "Nội dung bài viết. ".encode() * 40 + b"</p>")

    options = {"link_selector": "h3.story__title a", "exclude": "gia-lua", "item_kind": "news"}
    spec = SourceSpec("bnd", "https://baonamdinh.vn/", options)

    collected = HtmlAdapter().collect(_fetcher(handler), spec, RunState())

    assert [i.title for i in collected.items] == [
        "Nam Định thu hút thêm 3 dự án FDI vào Khu công nghiệp Mỹ Thuận"
    ]


def test_same_site_false_follows_other_sites() -> None:
    page = FetchResult("https://baonamdinh.vn/", 200, HOME, HTML, Validators())
    options = HtmlAdapter().validate_options({"same_site": False, "include": "baoninhbinh"})

    links, _ = listing_links(page, options)

    assert [link.url for link in links] == [
        "https://baoninhbinh.org.vn/ninh-binh-don-tiep-hon-1-trieu-luot-khach-trong-thang-10-d12345.html"
    ]


def test_options_are_checked_and_filled() -> None:
    adapter = HtmlAdapter()
    assert adapter.validate_options({})["max_articles"] == 30
    assert adapter.validate_options(adapter.validate_options({"same_site": False})) == (
        adapter.validate_options({"same_site": False})
    )
    with pytest.raises(ValueError, match=r"\['selector'\].*link_selector, same_site"):
        adapter.validate_options({"selector": "a"})
    for bad in (
        {"max_articles": "30"},
        {"max_articles": True},
        {"same_site": "yes"},
        {"include": "(unclosed"},
        {"link_selector": "a["},
        {"item_kind": "blog"},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            adapter.validate_options(bad)
