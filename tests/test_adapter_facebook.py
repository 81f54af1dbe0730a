"""The facebook adapter end to end: a fake Graph API (MockTransport) serving recorded-shape JSON."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from crawlers.apis import redact, strip_secret_params
from crawlers.base import Collected, RunState, SourceSpec
from crawlers.errors import PermanentSourceError, TransientSourceError
from crawlers.facebook import DEFAULT_BASE, FacebookAdapter, usage
from monitor.pipeline import crawl_source
from monitor.storage.models import CrawlRun, Item, Source, utcnow
from tests.conftest import AppFactory

FIXTURES = Path(__file__).parent / "fixtures" / "facebook"
TOKEN = "EAAGtestTOKENxyz789SECRET"
FIXTURE_TOKEN = "EAAGfixtureTOKENinPagingLink0123"
PAGE_IDS = {"baonamdinh": "104523792960113", "ptthninhbinh": "100064720123456"}


def _fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
    return data


class FakeGraph:
    """Answers /v21.0/{page}/posts like the Graph API; a page's answer can be replaced."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.answers: dict[str, tuple[int, dict[str, Any], dict[str, str]]] = {}

    def answer(self, page: str, fixture: str, status: int = 200, **headers: str) -> None:
        """Make ``page`` answer with a fixture (header names with _ for -)."""
        self.answers[page] = (
            status,
            _fixture(fixture),
            {k.replace("_", "-"): v for k, v in headers.items()},
        )

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        page = request.url.path.split("/")[2]
        page = next((name for name, pid in PAGE_IDS.items() if pid == page), page)
        if page in self.answers:
            status, body, headers = self.answers[page]
        elif page == "baonamdinh":
            after = "after" in request.url.params
            status, body, headers = 200, _fixture(f"posts-baonamdinh-{2 if after else 1}"), {}
        elif page == "ptthninhbinh":
            status, body, headers = 200, _fixture("posts-ninhbinhtv"), {}
        else:
            status, body, headers = 404, _fixture("error-unknown-page"), {}
        return httpx.Response(status, json=body, headers=headers)


def _source(pages: list[str], **options: Any) -> dict[str, Any]:
    return {
        "id": "fb",
        "kind": "facebook",
        "url": DEFAULT_BASE,
        "options": {"pages": pages, **options},
    }


def _cursor(app: Any) -> dict[str, Any]:
    with app.sessions() as session:
        return dict(session.get(Source, "fb").cursor)


def _assert_no_token(app: Any, report: Any, caplog: pytest.LogCaptureFixture) -> None:
    with app.sessions() as session:
        stored = [r.error or "" for r in session.scalars(select(CrawlRun))]
        stored.append(session.get(Source, "fb").last_error or "")
        stored += [json.dumps(r.warnings) for r in session.scalars(select(CrawlRun))]
    assert "HTTP Request: GET https://graph.facebook.com" in caplog.text  # the check sees URLs
    for text in [report.error or "", *report.warnings, *stored, caplog.text]:
        assert TOKEN not in text and FIXTURE_TOKEN not in text


def _collect_directly(app: Any, base: str = DEFAULT_BASE) -> Collected:
    """Run the adapter on Page baonamdinh outside the pipeline, to see what it raises."""
    spec = SourceSpec("fb", base, {"pages": ["baonamdinh"]})
    state = RunState(secret={"FACEBOOK_ACCESS_TOKEN": TOKEN}.get)
    return FacebookAdapter().collect(app.fetcher, spec, state)


@pytest.fixture
def graph(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> FakeGraph:
    monkeypatch.setenv("FACEBOOK_ACCESS_TOKEN", TOKEN)
    caplog.set_level(logging.DEBUG)  # httpx logs every request URL at INFO
    return FakeGraph()


def test_posts_of_two_pages_are_stored_following_paging(
    make_app: AppFactory, graph: FakeGraph, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app([_source(["baonamdinh", "ptthninhbinh"])], transport=httpx.MockTransport(graph))

    report = crawl_source(app, "fb")

    assert (report.status, report.new) == ("ok", 5)  # one photo-only post has nothing to keep
    paths = [(r.url.path, r.url.params.get("after")) for r in graph.requests]
    assert paths == [
        ("/v21.0/baonamdinh/posts", None),
        ("/v21.0/104523792960113/posts", "QVFIUnN3cE1Xa3V4dkRfNGlPZAThPdXhRZAWt4SjVxc2VSYjFq"),
        ("/v21.0/ptthninhbinh/posts", None),
    ]
    first = graph.requests[0]
    assert first.url.params["fields"] == "id,message,created_time,permalink_url,story,from"
    assert first.url.params["limit"] == "50" and "since" not in first.url.params
    for request in graph.requests:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert "access_token" not in str(request.url)
    with app.sessions() as session:
        item = session.scalars(select(Item).where(Item.title.like("Nam Định: Khởi công%"))).one()
    assert item.title == "Nam Định: Khởi công dự án đường bộ ven biển đoạn qua huyện Giao Thủy"
    assert "tổng mức đầu tư hơn 2.000 tỷ đồng" in item.text
    assert item.author == "Báo Nam Định" and item.kind == "social"
    assert item.published_at is not None
    assert item.published_at.isoformat() == "2025-03-12T03:15:42+00:00"
    assert item.url.startswith("https://www.facebook.com/baonamdinh/posts/pfbid02Xk7")
    assert item.meta["page_id"] == "104523792960113"
    assert item.meta["post_id"] == "104523792960113_1187350273412345"
    _assert_no_token(app, report, caplog)


def test_next_run_asks_each_page_for_posts_since_its_newest(
    make_app: AppFactory, graph: FakeGraph
) -> None:
    app = make_app([_source(["baonamdinh", "ptthninhbinh"])], transport=httpx.MockTransport(graph))
    crawl_source(app, "fb")
    graph.requests.clear()

    again = crawl_source(app, "fb")

    assert again.new == 0
    since = {r.url.path.split("/")[2]: r.url.params.get("since") for r in graph.requests}
    assert since["baonamdinh"] == "1741749342"  # 2025-03-12T03:15:42Z
    assert since["ptthninhbinh"] == "1741741200"  # 2025-03-12T01:00:00Z
    assert _cursor(app)["since"] == {"baonamdinh": 1741749342, "ptthninhbinh": 1741741200}


def test_usage_over_the_threshold_stops_paging_with_a_warning(
    make_app: AppFactory, graph: FakeGraph
) -> None:
    app_usage = json.dumps({"call_count": 95, "total_time": 20, "total_cputime": 18})
    graph.answer("baonamdinh", "posts-baonamdinh-1", X_App_Usage=app_usage)
    app = make_app([_source(["baonamdinh", "ptthninhbinh"])], transport=httpx.MockTransport(graph))

    report = crawl_source(app, "fb")
    paused = crawl_source(app, "fb")

    assert (report.status, report.new, len(graph.requests)) == ("warning", 2, 1)
    assert "usage is at 95% (over max_usage_percent 80)" in report.warnings[0]
    assert "resume_after" in _cursor(app)
    assert paused.status == "warning" and "no calls made" in paused.warnings[0]
    assert len(graph.requests) == 1


def test_usage_headers_are_read_as_meta_sends_them() -> None:
    buc = {
        "104523792960113": [
            {
                "type": "pages",
                "call_count": 40,
                "total_cputime": 91,
                "total_time": 12,
                "estimated_time_to_regain_access": 17,
            }
        ]
    }
    headers = {
        "x-app-usage": '{"call_count":28,"total_time":25,"total_cputime":25}',
        "x-business-use-case-usage": json.dumps(buc),
    }
    assert usage(headers) == (91.0, 17.0)
    assert usage({"x-page-usage": "not json"}) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("fixture", "status", "error", "said"),
    [
        (
            "error-token-expired",
            400,
            PermanentSourceError,
            "the Facebook access token has expired or is invalid; set a new one in FACEBOOK_ACCESS_TOKEN",
        ),
        ("error-permission", 400, PermanentSourceError, "'Page Public Content Access' feature"),
        ("error-rate-limit", 403, TransientSourceError, "(#4) Application request limit reached"),
    ],
)
def test_graph_errors_fail_the_source_clearly(
    make_app: AppFactory,
    graph: FakeGraph,
    caplog: pytest.LogCaptureFixture,
    fixture: str,
    status: int,
    error: type[Exception],
    said: str,
) -> None:
    graph.answer("baonamdinh", fixture, status)
    app = make_app([_source(["baonamdinh", "ptthninhbinh"])], transport=httpx.MockTransport(graph))

    report = crawl_source(app, "fb")
    with pytest.raises(error) as raised:
        _collect_directly(app)

    assert report.status == "error" and said in (report.error or "")
    assert said in str(raised.value) and "fbtrace_id" in str(raised.value)
    assert [r.url.path.split("/")[2] for r in graph.requests] == ["baonamdinh"] * 2
    _assert_no_token(app, report, caplog)


def test_rate_limit_waits_as_long_as_meta_says(make_app: AppFactory, graph: FakeGraph) -> None:
    buc = {
        "104523792960113": [
            {
                "type": "pages",
                "call_count": 100,
                "total_cputime": 30,
                "total_time": 30,
                "estimated_time_to_regain_access": 15,
            }
        ]
    }
    graph.answer("baonamdinh", "error-rate-limit", 403, X_Business_Use_Case_Usage=json.dumps(buc))
    app = make_app([_source(["baonamdinh"])], transport=httpx.MockTransport(graph))

    report = crawl_source(app, "fb")

    assert report.deferred_until is not None
    wait = report.deferred_until - utcnow()
    assert timedelta(minutes=14) < wait <= timedelta(minutes=15)
    assert "trying again in 15 min" in (report.error or "")


def test_rate_limit_after_a_page_was_read_keeps_its_posts(
    make_app: AppFactory, graph: FakeGraph
) -> None:
    graph.answer("ptthninhbinh", "error-rate-limit", 403)
    app = make_app([_source(["baonamdinh", "ptthninhbinh"])], transport=httpx.MockTransport(graph))

    report = crawl_source(app, "fb")

    assert (report.status, report.new) == ("warning", 3)
    assert "rate limit" in report.warnings[0]
    assert set(_cursor(app)["since"]) == {"baonamdinh"} and "resume_after" in _cursor(app)


def test_unknown_page_is_a_warning_and_the_other_page_is_stored(
    make_app: AppFactory, graph: FakeGraph, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(
        [_source(["khongcotrangnay", "ptthninhbinh"])], transport=httpx.MockTransport(graph)
    )

    report = crawl_source(app, "fb")

    assert (report.status, report.new) == ("warning", 2)
    assert "Facebook Page 'khongcotrangnay' was not found or is not public" in report.warnings[0]
    assert "(#803) Some of the aliases you requested do not exist" in report.warnings[0]
    _assert_no_token(app, report, caplog)


def test_missing_token_names_the_variable(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FB_TOKEN_NAM_DINH", raising=False)
    graph = FakeGraph()
    app = make_app(
        [_source(["baonamdinh"], access_token_env="FB_TOKEN_NAM_DINH")],
        transport=httpx.MockTransport(graph),
    )

    report = crawl_source(app, "fb")

    assert report.status == "error" and graph.requests == []
    assert (
        report.error
        == "the Facebook access token is missing: set the environment variable FB_TOKEN_NAM_DINH"
    )


def test_secrets_are_redacted_from_text_and_paging_links() -> None:
    link = "https://graph.facebook.com/v21.0/1/posts?access_token=abc&limit=2&after=X"
    assert strip_secret_params(link) == "https://graph.facebook.com/v21.0/1/posts?limit=2&after=X"
    assert redact(f"GET {link} failed", "abc") == (
        "GET https://graph.facebook.com/v21.0/1/posts?access_token=***&limit=2&after=X failed"
    )
    assert redact("https://x/?key=AIzaSy123&q=a") == "https://x/?key=***&q=a"


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"pages": ["baonamdinh"], "page_limit": 3}, "page_limit"),
        ({}, "pages"),
        ({"pages": []}, "pages"),
        ({"pages": ["baonamdinh"], "max_posts": 0}, "max_posts"),
        ({"pages": ["baonamdinh"], "max_usage_percent": 120}, "max_usage_percent"),
        ({"pages": ["baonamdinh"], "item_kind": "video"}, "item_kind"),
        (
            {"pages": ["baonamdinh"], "access_token_env": "EAAGpastedTheTokenHere"},
            "access_token_env",
        ),
    ],
)
def test_bad_options_are_named(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named) as raised:
        FacebookAdapter().validate_options(options)
    assert "EAAGpastedTheTokenHere" not in str(raised.value)


def test_options_get_their_defaults() -> None:
    assert FacebookAdapter().validate_options({"pages": ["baonamdinh", 104523792960113]}) == {
        "pages": ["baonamdinh", "104523792960113"],
        "access_token_env": "FACEBOOK_ACCESS_TOKEN",
        "max_posts": 50,
        "max_usage_percent": 80,
        "item_kind": "social",
    }


# -- answers that are not the documented shape --------------------------------------------------


def test_odd_post_and_paging_are_warnings_and_the_good_posts_stored(
    make_app: AppFactory, graph: FakeGraph
) -> None:
    body = _fixture("posts-baonamdinh-1")
    body["data"].insert(0, "not a post")
    body["paging"] = "QVFIUnN3"
    graph.answers["baonamdinh"] = (200, body, {})
    app = make_app([_source(["baonamdinh", "ptthninhbinh"])], transport=httpx.MockTransport(graph))

    report = crawl_source(app, "fb")

    assert (report.status, report.new) == ("warning", 4)
    assert report.warnings == [
        "Facebook Page 'baonamdinh': a post that is no JSON object skipped",
        "Facebook Page 'baonamdinh': 'paging' is not a JSON object; no more pages read",
    ]
    assert set(_cursor(app)["since"]) == {"baonamdinh", "ptthninhbinh"}


@pytest.mark.parametrize("data", [{"id": "1"}, 7, "posts"])
def test_data_of_the_wrong_shape_is_a_transient_error(
    make_app: AppFactory, graph: FakeGraph, data: object
) -> None:
    graph.answers["baonamdinh"] = (200, {"data": data}, {})
    app = make_app([_source(["baonamdinh", "ptthninhbinh"])], transport=httpx.MockTransport(graph))

    report = crawl_source(app, "fb")
    with pytest.raises(TransientSourceError) as raised:
        _collect_directly(app)

    said = (
        "the Graph API, for Facebook Page 'baonamdinh' answered HTTP 200 with 'data' that is "
        "not a list"
    )
    assert report.status == "error" and said in (report.error or "")
    assert said in str(raised.value)


def test_graph_api_url_must_be_https_unless_loopback(
    make_app: AppFactory, graph: FakeGraph
) -> None:
    source = {**_source(["baonamdinh"]), "url": "http://graph.facebook.com/v21.0"}
    app = make_app([source], transport=httpx.MockTransport(graph))

    report = crawl_source(app, "fb")

    assert report.status == "error" and graph.requests == []
    assert "the Graph API URL must be https://" in (report.error or "")
    with pytest.raises(PermanentSourceError, match="must be https"):
        _collect_directly(app, "ftp://graph.facebook.com/v21.0")
    assert len(_collect_directly(app, "http://127.0.0.1:8080/v21.0").items) == 2
