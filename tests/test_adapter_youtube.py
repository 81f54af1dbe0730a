"""The youtube adapter end to end: a fake YouTube Data API v3 (MockTransport), real payload shapes."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from crawlers import youtube
from crawlers.base import RunState, SourceSpec
from crawlers.errors import PermanentSourceError, TransientSourceError
from crawlers.youtube import DEFAULT_BASE, YouTubeAdapter, next_quota_reset
from monitor.pipeline import crawl_source
from monitor.storage import db
from monitor.storage.models import Case, CrawlRun, Item, Source
from tests.conftest import AppFactory

FIXTURES = Path(__file__).parent / "fixtures" / "youtube"
KEY = "AIzaSyTEST-key-0123456789abcdefSECRET"
QUERY = '"Nam Định" | "Ninh Bình"'
DYKE, FESTIVAL, BULLETIN = "Xk3vQ9pLm2A", "bT7nR4wYc8E", "pZ2hJ6sKd1F"


def _fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
    return data


class FakeYouTube:
    """Answers search, videos and commentThreads like the API; any call can be made to fail."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.errors: dict[str, tuple[int, str]] = {}  # "search" or "commentThreads:<video id>"
        self.bodies: dict[str, Any] = {}  # the same keys: a 200 with this JSON instead

    def calls(self, endpoint: str) -> list[httpx.QueryParams]:
        """The query parameters of each call to ``endpoint``."""
        return [r.url.params for r in self.requests if r.url.path.endswith(f"/{endpoint}")]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        endpoint, params = request.url.path.rsplit("/", 1)[1], request.url.params
        key = f"{endpoint}:{params['videoId']}" if endpoint == "commentThreads" else endpoint
        if key in self.errors:
            status, fixture = self.errors[key]
            return httpx.Response(status, json=_fixture(fixture))
        if key in self.bodies:
            return httpx.Response(200, json=self.bodies[key])
        if endpoint == "search":
            return httpx.Response(
                200, json=_fixture("search-2" if "pageToken" in params else "search-1")
            )
        if endpoint == "videos":
            videos = _fixture("videos")
            videos["items"] = [v for v in videos["items"] if v["id"] in params["id"].split(",")]
            return httpx.Response(200, json=videos)
        threads = _fixture("comment-threads")
        if params["videoId"] != DYKE:
            threads["items"] = []
        return httpx.Response(200, json=threads)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> FakeYouTube:
    monkeypatch.setenv("YOUTUBE_API_KEY", KEY)
    caplog.set_level(logging.DEBUG)  # httpx logs every request URL at INFO
    return FakeYouTube()


def _app(make_app: AppFactory, api: FakeYouTube, **options: Any) -> Any:
    options = {"query": QUERY, **options}
    source = {"id": "yt", "kind": "youtube", "url": DEFAULT_BASE, "options": options}
    # Only the cases a test opens itself: the analyser would make the dyke video one.
    alerts = {"case_severity": "critical"}
    return make_app([source], transport=httpx.MockTransport(api), alerts=alerts)


def _cursor(app: Any) -> dict[str, Any]:
    with app.sessions() as session:
        return dict(session.get(Source, "yt").cursor)


def _stored_text(app: Any) -> str:
    with app.sessions() as session:
        runs = [(r.error, r.warnings) for r in session.scalars(select(CrawlRun))]
        items = [(i.title, i.text, i.author, i.meta) for i in session.scalars(select(Item))]
        return json.dumps([runs, items, session.get(Source, "yt").last_error], ensure_ascii=False)


def _collect_directly(app: Any) -> None:
    """Run the adapter itself, outside the pipeline, to see the exception it raises."""
    spec = SourceSpec("yt", DEFAULT_BASE, {"query": QUERY})
    YouTubeAdapter().collect(app.fetcher, spec, RunState(secret={"YOUTUBE_API_KEY": KEY}.get))


def _open_case(app: Any, video_id: str) -> None:
    with db.transaction(app.sessions) as session:
        item = session.scalars(
            select(Item).where(Item.meta["video_id"].as_string() == video_id)
        ).one()
        session.add(Case(item_id=item.id, title=item.title, severity="alert"))


def test_search_pages_and_full_descriptions_are_stored(
    make_app: AppFactory, api: FakeYouTube, caplog: pytest.LogCaptureFixture
) -> None:
    app = _app(make_app, api)
    before = datetime.now(UTC)

    report = crawl_source(app, "yt")

    assert (report.status, report.new) == ("ok", 3)
    search = api.calls("search")
    assert [p.get("pageToken") for p in search] == [None, "CAIQAA"]
    first = search[0]
    assert (first["part"], first["type"], first["q"], first["order"]) == (
        "snippet",
        "video",
        QUERY,
        "date",
    )
    assert (first["regionCode"], first["relevanceLanguage"], first["maxResults"]) == (
        "VN",
        "vi",
        "50",
    )
    published_after = datetime.fromisoformat(first["publishedAfter"])
    assert timedelta(hours=23, minutes=59) < before - published_after < timedelta(days=1, seconds=5)
    assert [p["id"] for p in api.calls("videos")] == [f"{DYKE},{FESTIVAL}", BULLETIN]
    assert all(
        r.headers["x-goog-api-key"] == KEY and "key=" not in str(r.url) for r in api.requests
    )
    with app.sessions() as session:
        dyke = session.scalars(
            select(Item).where(Item.url == f"https://www.youtube.com/watch?v={DYKE}")
        ).one()
        titles = set(session.scalars(select(Item.title)))
    assert dyke.title == "Nam Định: Người dân Hải Hậu phấn khởi đón dự án đê biển mới"
    assert "dự kiến hoàn thành năm 2027" in dyke.text  # videos.list's, not search's cut-off text
    assert (dyke.author, dyke.kind, dyke.language) == ("NTV - Truyền hình Nam Định", "social", "vi")
    assert dyke.meta == {"video_id": DYKE, "channel_id": "UCq8nP3vL2mK7xR9tW1yZ4bA"}
    assert (
        dyke.published_at is not None
        and dyke.published_at.isoformat() == "2025-03-12T04:30:01+00:00"
    )
    assert "Toàn cảnh Lễ hội Phủ Dầy 2025 | Ninh Bình & Nam Định (cũ)" in titles
    assert _cursor(app)["quota"]["used"] == 202  # 2 searches, 2 videos.list
    assert "HTTP Request: GET https://www.googleapis.com" in caplog.text  # the check sees URLs
    assert KEY not in caplog.text and KEY not in _stored_text(app)


def test_next_run_searches_from_the_last_run_time(make_app: AppFactory, api: FakeYouTube) -> None:
    app = _app(make_app, api)
    crawl_source(app, "yt")
    searched_to = datetime.fromisoformat(_cursor(app)["searched_to"])
    api.requests.clear()

    again = crawl_source(app, "yt")

    assert again.new == 0
    published_after = datetime.fromisoformat(api.calls("search")[0]["publishedAfter"])
    # An hour of overlap: search finds a video some time after it was published.
    assert published_after == searched_to - timedelta(hours=1)
    assert _cursor(app)["quota"]["used"] == 404


def test_quota_exceeded_waits_until_midnight_pacific(
    make_app: AppFactory, api: FakeYouTube, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 05:00 UTC on 10 March 2025 is 22:00 the day before in California (PDT since 9 March).
    monkeypatch.setattr(youtube, "_now", lambda: datetime(2025, 3, 10, 5, 0, tzinfo=UTC))
    api.errors["search"] = (403, "error-quota-exceeded")
    app = _app(make_app, api)

    report = crawl_source(app, "yt")
    with pytest.raises(TransientSourceError) as raised:
        _collect_directly(app)

    assert raised.value.retry_after == 2 * 3600.0
    assert report.status == "error"
    assert (
        "daily quota is used up (The request cannot be completed because you have exceeded your quota.)"
        in (report.error or "")
    )
    assert "resets at midnight Pacific time, 2025-03-10 07:00 UTC" in (report.error or "")


def test_quota_resets_at_pacific_midnight_whatever_the_season() -> None:
    assert next_quota_reset(datetime(2025, 3, 10, 5, tzinfo=UTC)) == datetime(
        2025, 3, 10, 7, tzinfo=UTC
    )
    assert next_quota_reset(datetime(2025, 1, 15, 9, tzinfo=UTC)) == datetime(
        2025, 1, 16, 8, tzinfo=UTC
    )


def test_budget_reached_mid_run_stops_with_a_warning_and_keeps_the_units(
    make_app: AppFactory, api: FakeYouTube
) -> None:
    app = _app(make_app, api, daily_quota=150)

    report = crawl_source(app, "yt")
    paused = crawl_source(app, "yt")

    assert (report.status, report.new) == ("warning", 2)  # page 1 kept; page 2 would cost 100
    assert (
        "daily quota budget of 150 units (daily_quota) is reached: 101 spent today"
        in report.warnings[0]
    )
    cursor = _cursor(app)
    assert cursor["quota"]["used"] == 101 and "resume_after" in cursor
    assert paused.status == "warning" and "no calls made" in paused.warnings[0]
    assert len(api.calls("search")) == 1 and len(api.calls("videos")) == 1


def test_comments_only_of_open_case_videos_without_their_authors(
    make_app: AppFactory, api: FakeYouTube
) -> None:
    api.errors[f"commentThreads:{BULLETIN}"] = (403, "error-comments-disabled")
    api.errors[f"commentThreads:{FESTIVAL}"] = (404, "error-video-not-found")
    app = _app(make_app, api)
    crawl_source(app, "yt")
    assert api.calls("commentThreads") == []
    for video_id in (DYKE, BULLETIN, FESTIVAL):
        _open_case(app, video_id)

    report = crawl_source(app, "yt")

    assert (report.status, report.new) == ("warning", 2)
    asked = api.calls("commentThreads")
    assert sorted(p["videoId"] for p in asked) == sorted([DYKE, BULLETIN, FESTIVAL])
    assert (asked[0]["order"], asked[0]["maxResults"], asked[0]["part"]) == (
        "time",
        "100",
        "snippet",
    )
    assert any(f"comments are disabled on video {BULLETIN}" in w for w in report.warnings)
    assert any(
        f"video {FESTIVAL} was not found (deleted or made private)" in w for w in report.warnings
    )
    with app.sessions() as session:
        comments = session.scalars(
            select(Item).where(Item.url.like("%&lc=%")).order_by(Item.url)
        ).all()
    first = comments[1]
    assert first.url == f"https://www.youtube.com/watch?v={DYKE}&lc=UgzK3vQ8pLm2AxR7tW1yZ4bAaABAg"
    assert first.title == "Bình luận: Nam Định: Người dân Hải Hậu phấn khởi đón dự án đê biển mới"
    assert first.text == "Đê làm xong thì dân Hải Hậu mừng lắm, mong đúng tiến độ"
    assert first.author is None and first.kind == "social"
    assert first.meta == {
        "video_id": DYKE,
        "comment_id": "UgzK3vQ8pLm2AxR7tW1yZ4bAaABAg",
        "parent_url": f"https://www.youtube.com/watch?v={DYKE}",
        "likes": 12,
    }
    assert comments[0].text == "Đoạn qua xã Hải Lý năm ngoái sạt lở & chưa ai sửa"
    stored = _stored_text(app)
    assert "nguyenvanhaihau1978" not in stored and "tranthibinh" not in stored
    assert _cursor(app)["comments"] == {DYKE: "2025-03-12T06:41:09Z"}


def test_comments_already_read_are_not_taken_again(make_app: AppFactory, api: FakeYouTube) -> None:
    app = _app(make_app, api)
    crawl_source(app, "yt")
    _open_case(app, DYKE)
    assert crawl_source(app, "yt").new == 2

    again = crawl_source(app, "yt")

    assert (again.status, again.new, again.updated) == ("ok", 0, 0)


@pytest.mark.parametrize(
    ("fixture", "status", "error", "said"),
    [
        (
            "error-key-invalid",
            400,
            PermanentSourceError,
            "the YouTube API key in YOUTUBE_API_KEY is invalid or has expired",
        ),
        (
            "error-access-not-configured",
            403,
            PermanentSourceError,
            "YouTube Data API v3 is not enabled",
        ),
        ("error-rate-limit", 403, TransientSourceError, "exceeded the rate limit for this API"),
    ],
)
def test_api_errors_fail_the_source_clearly(
    make_app: AppFactory,
    api: FakeYouTube,
    caplog: pytest.LogCaptureFixture,
    fixture: str,
    status: int,
    error: type[Exception],
    said: str,
) -> None:
    api.errors["search"] = (status, fixture)
    app = _app(make_app, api)

    report = crawl_source(app, "yt")
    with pytest.raises(error) as raised:
        _collect_directly(app)

    assert report.status == "error" and said in (report.error or "")
    assert said in str(raised.value)
    assert isinstance(raised.value, PermanentSourceError) or raised.value.retry_after == 120.0
    assert KEY not in caplog.text and KEY not in _stored_text(app)


def test_missing_key_names_the_variable(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("YOUTUBE_API_KEY", raising=False)
    api = FakeYouTube()
    report = crawl_source(_app(make_app, api), "yt")
    assert (
        report.error
        == "the YouTube API key is missing: set the environment variable YOUTUBE_API_KEY"
    )
    assert api.requests == []


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"query": QUERY, "channel": "x"}, "channel"),
        ({}, "query"),
        ({"query": "  "}, "query"),
        ({"query": QUERY, "daily_quota": 0}, "daily_quota"),
        ({"query": QUERY, "region_code": "V N"}, "region_code"),
        ({"query": QUERY, "comments": "yes"}, "comments"),
        ({"query": QUERY, "api_key_env": "AIzaSyPastedKey"}, "api_key_env"),
    ],
)
def test_bad_options_are_named(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named) as raised:
        YouTubeAdapter().validate_options(options)
    assert "AIzaSyPastedKey" not in str(raised.value)


def test_options_get_their_defaults() -> None:
    assert YouTubeAdapter().validate_options({"query": QUERY}) == {
        "query": QUERY,
        "item_kind": "social",
        "api_key_env": "YOUTUBE_API_KEY",
        "region_code": "VN",
        "relevance_language": "vi",
        "max_results": 50,
        "daily_quota": 10_000,
        "max_comments": 100,
        "comments": True,
    }


# -- answers that are not the documented shape --------------------------------------------------


def test_odd_search_results_and_comment_threads_are_skipped_with_a_warning(
    make_app: AppFactory, api: FakeYouTube
) -> None:
    search = _fixture("search-1")
    del search["nextPageToken"]
    search["items"] += [42, {"id": {"videoId": "oddSnippet1"}, "snippet": "oops"}, {"id": []}]
    api.bodies["search"] = search
    threads = _fixture("comment-threads")
    threads["items"] += ["x", {"snippet": {"topLevelComment": []}}]
    api.bodies[f"commentThreads:{DYKE}"] = threads
    app = _app(make_app, api)

    first = crawl_source(app, "yt")
    _open_case(app, DYKE)
    second = crawl_source(app, "yt")

    assert (first.status, first.new) == ("warning", 2)
    assert first.warnings == [
        "a YouTube search result skipped: it is not a JSON object",
        "a YouTube search result skipped: its 'snippet' is not a JSON object",
        "a YouTube search result skipped: its 'id' is not a JSON object",
    ]
    assert (second.status, second.new) == ("warning", 2)  # the two good comments
    assert f"a comment thread on video {DYKE} skipped: it is not a JSON object" in second.warnings
    assert (
        f"a comment thread on video {DYKE} skipped: its 'topLevelComment' is not a JSON object"
        in second.warnings
    )


@pytest.mark.parametrize(
    ("body", "with_what"),
    [
        ({"items": 5}, "'items' that is not a list"),
        ({"items": {"id": "x"}}, "'items' that is not a list"),
        (["a", "list"], "a body that is not a JSON object"),
    ],
)
def test_search_answer_of_the_wrong_shape_is_a_transient_error(
    make_app: AppFactory, api: FakeYouTube, body: object, with_what: str
) -> None:
    api.bodies["search"] = body
    app = _app(make_app, api)

    report = crawl_source(app, "yt")
    with pytest.raises(TransientSourceError) as raised:
        _collect_directly(app)

    said = f"the YouTube Data API answered HTTP 200 with {with_what}"
    assert report.status == "error" and said in (report.error or "")
    assert said in str(raised.value)


def test_exactly_max_results_new_videos_is_no_warning(
    make_app: AppFactory, api: FakeYouTube
) -> None:
    app = _app(make_app, api, max_results=2, comments=False)
    crawl_source(app, "yt")
    api.requests.clear()

    again = crawl_source(app, "yt")  # the same two videos: exactly max_results

    assert api.calls("search")[0]["maxResults"] == "3"  # one more tells if any were left out
    assert (again.status, again.warnings) == ("ok", [])
    more = _fixture("search-1")
    more["items"] += _fixture("search-2")["items"]
    api.bodies["search"] = more
    over = crawl_source(app, "yt")
    assert over.status == "warning"
    assert over.warnings[0].startswith("more than max_results (2) new videos since the last run")


def test_api_base_url_must_be_https_unless_loopback(make_app: AppFactory, api: FakeYouTube) -> None:
    source = {
        "id": "yt",
        "kind": "youtube",
        "url": "http://www.googleapis.com/youtube/v3",
        "options": {"query": QUERY},
    }
    app = make_app([source], transport=httpx.MockTransport(api))

    report = crawl_source(app, "yt")

    assert report.status == "error" and api.requests == []
    assert "the YouTube Data API URL must be https://" in (report.error or "")
    local = SourceSpec(
        "yt", "http://127.0.0.1:8080/youtube/v3", {"query": QUERY, "comments": False}
    )
    state = RunState(secret={"YOUTUBE_API_KEY": KEY}.get)
    assert len(YouTubeAdapter().collect(app.fetcher, local, state).items) == 3
