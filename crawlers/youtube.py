"""YouTube: videos found by the YouTube Data API v3 search, and comments on videos that are cases.

search.list (part=snippet, type=video, q, regionCode, relevanceLanguage, order=date,
publishedAfter) finds new videos, paged by nextPageToken up to ``max_results``; one videos.list
call per page of results gives their full descriptions. For the source's videos that are open
cases, commentThreads.list (newest first) gives their new top-level comments. Commenters are
private persons: their names and channels are never stored (Decree 13/2023/NĐ-CP).

Quota: the API counts units per day and resets at midnight Pacific time; search.list costs 100,
videos.list and commentThreads.list 1. The units spent are kept in the cursor per Pacific day, and
a call that would go over ``daily_quota`` is not made: the run stops with a warning and resumes
the next Pacific day. The API key comes from an environment variable and is sent in the
X-Goog-Api-Key header, so it is in no URL, log line or stored error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from crawlers.apis import (
    ApiResponse,
    ApiRun,
    OddEntry,
    Problem,
    env_name,
    first_words,
    http_problem,
    iso_z,
    member,
    number,
    parse_time,
    plain_message,
    require_https,
    require_secret,
    shape_problem,
)
from crawlers.base import Collected, ItemRecord, RunState, SourceSpec
from crawlers.fetcher import Fetcher
from crawlers.options import boolean, item_kind, positive_int, reject_unknown
from crawlers.text import clean_text, html_to_text

DEFAULT_BASE = "https://www.googleapis.com/youtube/v3"
SEARCH_COST, LIST_COST = 100, 1
PACIFIC = ZoneInfo("America/Los_Angeles")  # Google's quota day
_PAGE_MAX = 50  # search.list and videos.list maxResults
_COMMENTS_PAGE_MAX = 100
_FIRST_WINDOW = timedelta(days=1)
# Search finds a video some time after it is published; each run looks this far behind the last.
_INDEX_LAG = timedelta(hours=1)
_RATE_LIMIT_WAIT = 120.0
_QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded", "dailyLimitExceededUnreg"})
_RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"})
_KEY_REASONS = frozenset({"keyInvalid", "keyExpired", "API_KEY_INVALID", "API_KEY_EXPIRED"})
_ACCESS_REASONS = frozenset({"accessNotConfigured", "SERVICE_DISABLED"})
_FORBIDDEN_REASONS = frozenset(
    {"forbidden", "ipRefererBlocked", "API_KEY_HTTP_REFERRER_BLOCKED", "API_KEY_IP_ADDRESS_BLOCKED"}
)
_VIDEO_REASONS = {
    "commentsDisabled": "comments are disabled on video {video}",
    "videoNotFound": "video {video} was not found (deleted or made private)",
}
_OPTIONS: dict[str, Any] = {
    "query": None,
    "api_key_env": "YOUTUBE_API_KEY",
    "region_code": "VN",
    "relevance_language": "vi",
    "max_results": 50,
    "daily_quota": 10_000,
    "comments": True,
    "max_comments": 100,
    "item_kind": "social",
}


def _now() -> datetime:
    return datetime.now(UTC)


def quota_day(now: datetime) -> date:
    """The day Google counts quota in: the date in Pacific time."""
    return now.astimezone(PACIFIC).date()


def next_quota_reset(now: datetime) -> datetime:
    """The next midnight Pacific time (when the daily quota resets), in UTC."""
    tomorrow = quota_day(now) + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=PACIFIC).astimezone(UTC)


def video_url(video_id: str) -> str:
    """The watch URL of a video."""
    return f"https://www.youtube.com/watch?v={video_id}"


def video_id_of(url: str) -> str | None:
    """The video id in a YouTube watch URL (of a video or of one of its comments)."""
    parts = urlsplit(url)
    if not (parts.hostname or "").endswith("youtube.com") or parts.path != "/watch":
        return None
    ids = parse_qs(parts.query).get("v")
    return ids[0] if ids else None


def _reasons(error: Mapping[str, Any]) -> set[str]:
    """The reasons in an error: each ``errors[].reason`` and the newer ``details[].reason``."""
    entries = [*(error.get("errors") or []), *(error.get("details") or [])]
    return {str(e["reason"]) for e in entries if isinstance(e, dict) and e.get("reason")}


def api_problem(
    response: ApiResponse, key_env: str, now: datetime, video: str = ""
) -> Problem | None:
    """What a YouTube Data API error means for the run; None when it is not an error."""
    error = response.payload.get("error")
    if not isinstance(error, dict):
        subject = "the YouTube Data API"
        return http_problem(response, subject) or shape_problem(response, subject, ("items",))
    reasons = _reasons(error)
    api = plain_message(error.get("message")) or f"HTTP {response.status}"
    if reasons & _QUOTA_REASONS:
        reset = next_quota_reset(now)
        return Problem(
            f"the YouTube Data API daily quota is used up ({api}); it resets at midnight "
            f"Pacific time, {reset:%Y-%m-%d %H:%M} UTC",
            "stop",
            (reset - now).total_seconds(),
        )
    if reasons & _RATE_REASONS or response.status == 429:
        return Problem(
            f"the YouTube Data API rate limit was reached: {api}", "stop", _RATE_LIMIT_WAIT
        )
    if reasons & _KEY_REASONS or "API key not valid" in api:
        return Problem(
            f"the YouTube API key in {key_env} is invalid or has expired; set a valid key "
            f"there (YouTube Data API: {api})",
            "fail",
        )
    if reasons & _ACCESS_REASONS:
        return Problem(
            "the YouTube Data API v3 is not enabled for the API key's Google Cloud project; "
            f"enable it in the Cloud console (YouTube Data API: {api})",
            "fail",
        )
    if reasons & _FORBIDDEN_REASONS:
        return Problem(
            f"the YouTube Data API refused the request (forbidden): {api}; check the key's "
            f"restrictions in {key_env}'s Google Cloud project",
            "fail",
        )
    per_video = sorted(reasons & set(_VIDEO_REASONS))
    if per_video:
        return Problem(
            _VIDEO_REASONS[per_video[0]].format(video=video or "?") + f" ({api})", "skip"
        )
    message = f"the YouTube Data API answered HTTP {response.status}: {api}"
    return Problem(message, "stop") if response.status >= 500 else Problem(message, "fail")


def _language(snippet: Mapping[str, Any]) -> str | None:
    code = snippet.get("defaultLanguage") or snippet.get("defaultAudioLanguage")
    return str(code).split("-")[0].lower()[:8] if code else None


def video_item(video_id: str, snippet: Mapping[str, Any], kind: str) -> ItemRecord:
    """A video as an item, from its search or videos.list snippet; OddEntry if that is no object."""
    if not isinstance(snippet, Mapping):
        raise OddEntry("its 'snippet' is not a JSON object")
    url = video_url(video_id)
    title = html_to_text(str(snippet.get("title") or ""))
    return ItemRecord(
        url=url,
        canonical_url=url,
        title=title[:1000],
        text=clean_text(str(snippet.get("description") or "")),
        kind=kind,
        author=clean_text(str(snippet.get("channelTitle") or ""))[:300] or None,
        published_at=parse_time(snippet.get("publishedAt")),
        language=_language(snippet),
        meta={"video_id": video_id, "channel_id": str(snippet.get("channelId") or "")},
    )


def comment_item(
    thread: Mapping[str, Any], video_id: str, video_title: str, kind: str
) -> ItemRecord | None:
    """A top-level comment as an item, without its author (a private person).

    None for a comment without id or text; OddEntry when the thread is not the documented shape.
    """
    comment = member(member(thread, "snippet"), "topLevelComment")
    snippet = member(comment, "snippet")
    comment_id = str(comment.get("id") or thread.get("id") or "")
    text = clean_text(str(snippet.get("textOriginal") or "")) or html_to_text(
        str(snippet.get("textDisplay") or "")
    )
    if not comment_id or not text:
        return None
    url = f"{video_url(video_id)}&lc={comment_id}"
    return ItemRecord(
        url=url,
        canonical_url=url,
        title=f"Bình luận: {video_title or first_words(text, 80)}"[:1000],
        text=text,
        kind=kind,
        author=None,
        published_at=parse_time(snippet.get("publishedAt")),
        meta={
            "video_id": video_id,
            "comment_id": comment_id,
            "parent_url": video_url(video_id),
            "likes": int(number(snippet.get("likeCount"))),
        },
    )


@dataclass
class Quota:
    """Units spent on one Pacific day, against the daily budget."""

    day: str
    used: int
    budget: int

    @classmethod
    def load(cls, cursor: Mapping[str, Any], budget: int, now: datetime) -> Quota:
        """Today's spending from the cursor (nothing if it is of an earlier day)."""
        stored = cursor.get("quota")
        stored = stored if isinstance(stored, dict) else {}
        today = quota_day(now).isoformat()
        used = int(number(stored.get("used"))) if stored.get("day") == today else 0
        return cls(today, used, budget)

    def spend(self, units: int) -> bool:
        """Count ``units`` for a call about to be made; False (nothing counted) if over budget."""
        if self.used + units > self.budget:
            return False
        self.used += units
        return True


class YouTubeAdapter:
    """YouTube Data API v3 search and comment threads; see the module docstring."""

    def validate_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Check the options, filling defaults; raise ValueError naming the bad one."""
        reject_unknown("youtube", options, list(_OPTIONS))
        query = options.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ValueError('query is required: the search, e.g. \'"Nam Định" | "Ninh Bình"\'')
        checked: dict[str, Any] = {
            "query": query.strip(),
            "item_kind": item_kind(options, "social"),
        }
        checked["api_key_env"] = env_name(options, "api_key_env", _OPTIONS["api_key_env"])
        for name in ("region_code", "relevance_language"):
            value = options.get(name, _OPTIONS[name])
            if not isinstance(value, str) or not value.isalpha() or len(value) > 8:
                raise ValueError(f"{name} must be a code like {_OPTIONS[name]!r}, not {value!r}")
            checked[name] = value
        for name in ("max_results", "daily_quota", "max_comments"):
            checked[name] = positive_int(options, name, _OPTIONS[name])
        checked["comments"] = boolean(options, "comments", True)
        return checked

    def collect(self, fetcher: Fetcher, spec: SourceSpec, state: RunState) -> Collected:
        """Search new videos, then new comments of the videos that are open cases."""
        options = self.validate_options(spec.options)
        require_https(spec.url, "YouTube Data API")
        key = require_secret(state, options["api_key_env"], "the YouTube API key")
        now = _now()
        run = ApiRun(fetcher, spec.id, {"X-Goog-Api-Key": key}, key, now)
        paused = run.paused(state.cursor)
        if paused is not None:
            return paused
        reader = _Reader(
            run,
            spec.url.rstrip("/"),
            options,
            Quota.load(state.cursor, options["daily_quota"], now),
        )
        cursor = dict(state.cursor)
        cursor["searched_to"] = reader.search(parse_time(state.cursor.get("searched_to")))
        if options["comments"]:
            cursor["comments"] = reader.comments(state.open_cases(), state.cursor.get("comments"))
        cursor["quota"] = {"day": reader.quota.day, "used": reader.quota.used}
        return run.collected(cursor)


class _Reader:
    """The calls of one run, each paid for from the quota before it is made."""

    def __init__(self, run: ApiRun, base: str, options: Mapping[str, Any], quota: Quota) -> None:
        self.run, self.base, self.options, self.quota = run, base, options, quota
        self.titles: dict[str, str] = {}  # video id -> title, for comment items

    def _call(
        self, endpoint: str, params: dict[str, str], cost: int, video: str = ""
    ) -> Mapping[str, Any] | None:
        if self.run.stopped:
            return None
        if not self.quota.spend(cost):
            reset = next_quota_reset(self.run.now)
            self.run.stop(
                f"the daily quota budget of {self.quota.budget} units (daily_quota) is reached: "
                f"{self.quota.used} spent today; resuming after midnight Pacific time, "
                f"{reset:%Y-%m-%d %H:%M} UTC",
                (reset - self.run.now).total_seconds(),
            )
            return None
        env, now = self.options["api_key_env"], self.run.now
        response = self.run.call(
            f"{self.base}/{endpoint}", params, lambda r: api_problem(r, env, now, video)
        )
        return response.payload if response is not None else None

    def search(self, searched_to: datetime | None) -> str:
        """Collect new videos; the time the next search starts from (kept if this one was cut)."""
        start = searched_to - _INDEX_LAG if searched_to else self.run.now - _FIRST_WINDOW
        params = {
            "part": "snippet",
            "type": "video",
            "q": self.options["query"],
            "regionCode": self.options["region_code"],
            "relevanceLanguage": self.options["relevance_language"],
            "order": "date",
            "publishedAfter": iso_z(start),
        }
        wanted, taken, left_out = self.options["max_results"], 0, False
        while taken < wanted:
            room = wanted - taken
            # One result more than there is room for, when a page can hold it: whether it comes
            # says whether any were left out (a search costs the same whatever maxResults).
            params["maxResults"] = str(min(_PAGE_MAX, room + 1))
            payload = self._call("search", params, SEARCH_COST)
            if payload is None:  # cut short: the next run searches this window again
                return iso_z(searched_to or start + _INDEX_LAG)
            found = self._search_results(payload)
            ids = list(found)[:room]
            taken += len(ids)
            self._add_videos(ids, found)
            token = payload.get("nextPageToken")
            # On a full page only the next-page token can tell that more were found.
            left_out = len(found) > room or (room >= _PAGE_MAX and bool(token))
            if not token or not ids:
                break
            params["pageToken"] = str(token)
        if taken >= wanted and left_out and searched_to is not None:
            self.run.warn(
                f"more than max_results ({wanted}) new videos since the last run; the older "
                "ones were left out (raise max_results or crawl more often)"
            )
        return iso_z(self.run.now)

    def _search_results(self, payload: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
        """The videos of a page of search results, newest first: id -> snippet.

        A result not of the documented shape is skipped with a warning, the others are kept.
        """
        found: dict[str, Mapping[str, Any]] = {}
        for result in payload.get("items") or []:
            try:
                video_id = member(result, "id").get("videoId")
                snippet = member(result, "snippet")
            except OddEntry as exc:
                self.run.warn(f"a YouTube search result skipped: {exc}")
                continue
            if isinstance(video_id, str) and video_id:
                found.setdefault(video_id, snippet)
            else:
                self.run.warn("a YouTube search result skipped: it has no id.videoId")
        return found

    def _add_videos(self, ids: list[str], snippets: dict[str, Mapping[str, Any]]) -> None:
        """Add the found videos, with full descriptions when videos.list could be afforded."""
        snippets = {**snippets, **self._details(ids)}
        for video_id in ids:
            item = video_item(video_id, snippets[video_id], self.options["item_kind"])
            self.titles[video_id] = item.title
            self.run.items.append(item)

    def _details(self, ids: list[str]) -> dict[str, Mapping[str, Any]]:
        """Full snippets of up to 50 videos (1 unit); empty when there is no budget or an error."""
        if not ids or self.quota.used + LIST_COST > self.quota.budget:
            return {}
        payload = self._call(
            "videos", {"part": "snippet", "id": ",".join(ids[:_PAGE_MAX])}, LIST_COST
        )
        details: dict[str, Mapping[str, Any]] = {}
        for video in (payload or {}).get("items") or []:
            try:
                snippet = member(video, "snippet")
            except OddEntry as exc:  # the search's shorter snippet stands in
                self.run.warn(f"a YouTube video's details skipped: {exc}")
                continue
            if video.get("id"):
                details[str(video["id"])] = snippet
        return details

    def comments(self, case_urls: list[str], previous: object) -> dict[str, str]:
        """Collect new comments of the open-case videos; per video the newest comment time."""
        seen = dict(previous) if isinstance(previous, dict) else {}
        videos = list(dict.fromkeys(v for v in map(video_id_of, case_urls) if v))
        missing = [v for v in videos if v not in self.titles]
        for video_id, snippet in self._details(missing).items():
            self.titles[video_id] = html_to_text(str(snippet.get("title") or ""))
        newest: dict[str, str] = {}
        for video_id in videos:
            since = parse_time(seen.get(video_id))
            latest = self._video_comments(video_id, since)
            if latest is not None:
                newest[video_id] = iso_z(latest)
        return newest  # videos no longer open cases drop out

    def _video_comments(self, video_id: str, since: datetime | None) -> datetime | None:
        """Collect one video's comments newer than ``since``; the newest comment's time."""
        wanted, taken, latest = self.options["max_comments"], 0, since
        params = {
            "part": "snippet",
            "videoId": video_id,
            "order": "time",
            "textFormat": "plainText",
            "maxResults": str(min(_COMMENTS_PAGE_MAX, wanted)),
        }
        while taken < wanted:
            payload = self._call("commentThreads", params, LIST_COST, video_id)
            if payload is None:
                return since
            title, kind = self.titles.get(video_id, ""), self.options["item_kind"]
            for item in self._comment_items(payload, video_id, title, kind):
                when = item.published_at
                if when is not None and since is not None and when <= since:
                    return latest  # newest first: the rest were read on an earlier run
                self.run.items.append(item)
                taken += 1
                latest = max(latest, when) if latest and when else (latest or when)
                if taken >= wanted:
                    return latest
            token = payload.get("nextPageToken")
            if not token:
                break
            params["pageToken"] = str(token)
        return latest

    def _comment_items(
        self, payload: Mapping[str, Any], video_id: str, title: str, kind: str
    ) -> list[ItemRecord]:
        """The comments of a page of comment threads; an odd thread is skipped with a warning."""
        items = []
        for thread in payload.get("items") or []:
            try:
                item = comment_item(thread, video_id, title, kind)
            except OddEntry as exc:
                self.run.warn(f"a comment thread on video {video_id} skipped: {exc}")
                continue
            if item is not None:
                items.append(item)
        return items
