"""Facebook: posts of public Pages through the Graph API (Page Public Content Access).

Only public Pages, by their id or username, through the official API: groups and personal
profiles have no lawful API path and are never read. The access token comes from an environment
variable and is sent in the Authorization header, so it is in no URL, log line or stored error.

Per Page: GET {base}/{page}/posts?fields=...&limit=...&since=<newest post seen, unix time>, then
``paging.next`` until ``max_posts``. Meta's usage headers (X-App-Usage, X-Page-Usage,
X-Business-Use-Case-Usage, percentages of the hourly budget) over ``max_usage_percent`` stop the
run with a warning and a pause; a rate-limit error (codes 4, 17, 32, 613, 80001-80014) does the
same, or fails the run as transient when nothing was read yet. An expired token (190) or a
missing permission (10, 200-299) fails the whole source; an unknown Page (100, 803) is a warning
and the other Pages go on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from crawlers.apis import (
    ApiResponse,
    ApiRun,
    Problem,
    env_name,
    first_words,
    http_problem,
    number,
    parse_time,
    plain_message,
    require_https,
    require_secret,
    shape_problem,
    strip_secret_params,
)
from crawlers.base import Collected, ItemRecord, RunState, SourceSpec
from crawlers.fetcher import Fetcher
from crawlers.options import item_kind, positive_int, reject_unknown
from crawlers.text import clean_text
from crawlers.urls import canonical_url

DEFAULT_BASE = "https://graph.facebook.com/v21.0"
FIELDS = "id,message,created_time,permalink_url,story,from"
_MAX_LIMIT = 100  # the most posts the Graph API returns per request
_TOKEN_CODES = frozenset({102, 190})
_PERMISSION_CODES = frozenset({10, *range(200, 300)})
_RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, *range(80001, 80015)})
_UNKNOWN_PAGE_CODES = frozenset({100, 803})
_USAGE_HEADERS = ("x-app-usage", "x-page-usage", "x-business-use-case-usage")
_USAGE_KEYS = ("call_count", "total_time", "total_cputime")
_RATE_LIMIT_WAIT = 3600.0  # when Meta does not say how long a rate limit lasts
_USAGE_PAUSE = 1800.0  # usage is a rolling hour: half of it lets the percentages fall
_OPTIONS: dict[str, Any] = {
    "pages": None,
    "access_token_env": "FACEBOOK_ACCESS_TOKEN",
    "max_posts": 50,
    "max_usage_percent": 80,
    "item_kind": "social",
}


def _now() -> datetime:
    return datetime.now(UTC)


def _usage_entries(raw: str | None) -> list[Mapping[str, Any]]:
    """The usage objects in one header: itself, or per business object a list of them (BUC)."""
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    if any(key in data for key in _USAGE_KEYS):
        return [data]
    lists = [value for value in data.values() if isinstance(value, list)]
    return [entry for entries in lists for entry in entries if isinstance(entry, dict)]


def usage(headers: Mapping[str, str]) -> tuple[float, float]:
    """The highest usage percentage in Meta's rate-limit headers, and minutes to regain access."""
    entries = [e for name in _USAGE_HEADERS for e in _usage_entries(headers.get(name))]
    highest = max((number(e.get(k)) for e in entries for k in _USAGE_KEYS), default=0.0)
    regain = max((number(e.get("estimated_time_to_regain_access")) for e in entries), default=0.0)
    return highest, regain


def _api_text(error: Mapping[str, Any]) -> str:
    """The Graph API's own words, code and trace id (what Meta's support asks for)."""
    message = plain_message(error.get("message")) or "no message"
    code, subcode = error.get("code"), error.get("error_subcode")
    detail = f"code {code}" + (f", subcode {subcode}" if subcode else "")
    trace = error.get("fbtrace_id")
    return f"{message} ({detail}" + (f", fbtrace_id {trace})" if trace else ")")


def graph_problem(response: ApiResponse, page: str, token_env: str) -> Problem | None:
    """What a Graph API error means for the run; None when the response is not an error."""
    error = response.payload.get("error")
    if not isinstance(error, dict):
        subject = f"the Graph API, for Facebook Page {page!r}"
        return http_problem(response, subject) or shape_problem(response, subject, ("data",))
    code, api = error.get("code"), _api_text(error)
    if code in _TOKEN_CODES:
        return Problem(
            "the Facebook access token has expired or is invalid; set a new one in "
            f"{token_env} (Graph API: {api})",
            "fail",
        )
    if code in _PERMISSION_CODES:
        return Problem(
            f"Facebook refused to read Page {page!r} for want of a permission or feature: {api}. "
            "The app needs 'pages_read_engagement' or the 'Page Public Content Access' feature "
            "(granted through Meta's App Review)",
            "fail",
        )
    if code in _RATE_LIMIT_CODES:
        minutes = usage(response.headers)[1]
        wait = minutes * 60 if minutes else _RATE_LIMIT_WAIT
        return Problem(
            f"the Graph API rate limit was reached: {api}; trying again in {wait / 60:.0f} min",
            "stop",
            wait,
        )
    if code in _UNKNOWN_PAGE_CODES:
        return Problem(
            f"Facebook Page {page!r} was not found or is not public; check it in the source's "
            f"pages option (Graph API: {api})",
            "skip",
        )
    transient = error.get("is_transient") is True or code in (1, 2) or response.status >= 500
    return Problem(
        f"Facebook Page {page!r} could not be read: {api}", "stop" if transient else "skip"
    )


def post_item(post: Mapping[str, Any], page: str, kind: str) -> ItemRecord | None:
    """One Page post as an item; None for a post with neither message nor story (a bare photo)."""
    post_id = str(post.get("id") or "")
    text = clean_text(str(post.get("message") or "")) or clean_text(str(post.get("story") or ""))
    if not post_id or not text:
        return None
    page_id = post_id.partition("_")[0] if "_" in post_id else None
    sender = post.get("from")
    sender = sender if isinstance(sender, dict) else {}
    # The Page's own name only: a post by anyone else (a person) keeps no name.
    is_page = page_id is not None and str(sender.get("id")) == page_id
    author = clean_text(str(sender.get("name") or "")) if is_page else ""
    url = str(post.get("permalink_url") or f"https://www.facebook.com/{post_id}")
    return ItemRecord(
        url=url[:2000],
        canonical_url=canonical_url(url)[:2000],
        title=first_words(text),
        text=text,
        kind=kind,
        author=author[:300] or None,
        published_at=parse_time(post.get("created_time")),
        meta={"page_id": page_id or str(sender.get("id") or ""), "post_id": post_id, "page": page},
    )


class FacebookAdapter:
    """Posts of public Facebook Pages; see the module docstring for options and errors."""

    def validate_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Check the options, filling defaults; raise ValueError naming the bad one."""
        reject_unknown("facebook", options, list(_OPTIONS))
        pages = options.get("pages")
        if not isinstance(pages, list) or not pages:
            raise ValueError("pages is required: a list of public Page ids or usernames")
        if not all(isinstance(p, str | int) and str(p).strip() for p in pages):
            raise ValueError(f"pages must be Page ids or usernames, not {pages!r}")
        limit = options.get("max_usage_percent", _OPTIONS["max_usage_percent"])
        if isinstance(limit, bool) or not isinstance(limit, int | float) or not 0 < limit <= 100:
            raise ValueError(f"max_usage_percent must be a number from 1 to 100, not {limit!r}")
        return {
            "pages": [str(p).strip() for p in pages],
            "access_token_env": env_name(options, "access_token_env", _OPTIONS["access_token_env"]),
            "max_posts": positive_int(options, "max_posts", _OPTIONS["max_posts"]),
            "max_usage_percent": limit,
            "item_kind": item_kind(options, "social"),
        }

    def collect(self, fetcher: Fetcher, spec: SourceSpec, state: RunState) -> Collected:
        """Read new posts of each configured Page; see the module docstring."""
        options = self.validate_options(spec.options)
        require_https(spec.url, "Graph API")
        env = options["access_token_env"]
        token = require_secret(state, env, "the Facebook access token")
        run = ApiRun(fetcher, spec.id, {"Authorization": f"Bearer {token}"}, token, _now())
        paused = run.paused(state.cursor)
        if paused is not None:
            return paused
        since: dict[str, Any] = dict(state.cursor.get("since") or {})
        for page in options["pages"]:
            if run.stopped:
                break
            newest = _PageReader(run, spec.url.rstrip("/"), page, options).read(since.get(page))
            if newest is not None:
                since[page] = newest
        return run.collected({**state.cursor, "since": since})


class _PageReader:
    """Reads one Page's new posts into the run, following ``paging.next``."""

    def __init__(self, run: ApiRun, base: str, page: str, options: Mapping[str, Any]) -> None:
        self.run, self.base, self.page, self.options = run, base, page, options
        self.taken = 0
        self.since: int | None = None
        self.complete = False  # paged to the end, or to max_posts

    def read(self, since: int | None) -> int | None:
        """Collect the Page's posts since ``since``; the new high-water mark (unix time)."""
        self.since = since
        limit = min(self.options["max_posts"], _MAX_LIMIT)
        first = {"fields": FIELDS, "limit": str(limit)}
        if since is not None:
            first["since"] = str(since)
        params: dict[str, str] | None = first
        url: str | None = f"{self.base}/{quote(self.page, safe='')}/posts"
        newest = since
        while url is not None and not self.run.stopped:
            response = self.run.call(url, params, self._classify)
            if response is None:
                return since  # unread or cut short: the next run reads this window again
            newest = max([newest or 0, *self._take(response.payload.get("data"))]) or None
            url, params = self._next(response.payload), None
            self._check_usage(response, more=url is not None)
        # A first run has no window to finish: the newest posts are all it wanted.
        return newest if since is None or self.complete else since

    def _classify(self, response: ApiResponse) -> Problem | None:
        return graph_problem(response, self.page, self.options["access_token_env"])

    def _take(self, posts: object) -> list[int]:
        """Add the posts to the run's items; the unix times of those taken."""
        times: list[int] = []
        room = self.options["max_posts"] - self.taken
        for post in posts[:room] if isinstance(posts, list) else []:
            if not isinstance(post, dict):
                self.run.warn(f"Facebook Page {self.page!r}: a post that is no JSON object skipped")
                continue
            self.taken += 1
            item = post_item(post, self.page, self.options["item_kind"])
            if item is not None:
                self.run.items.append(item)
            if item is not None and item.published_at is not None:
                times.append(int(item.published_at.timestamp()))
        return times

    def _next(self, payload: Mapping[str, Any]) -> str | None:
        """The next page of results, if it is wanted and on the Graph API's own host."""
        paging = payload.get("paging")
        if paging is not None and not isinstance(paging, dict):
            # The posts of this answer are kept; the window is read again next run.
            self.run.warn(
                f"Facebook Page {self.page!r}: 'paging' is not a JSON object; no more pages read"
            )
            return None
        link = paging.get("next") if isinstance(paging, dict) else None
        if not isinstance(link, str) or not payload.get("data"):
            self.complete = True
            return None
        if self.taken >= self.options["max_posts"]:
            self.complete = True
            if self.since is not None:
                self.run.warn(
                    f"Facebook Page {self.page!r} has more than max_posts "
                    f"({self.options['max_posts']}) new posts since the last run; the older "
                    "ones were left out (raise max_posts or crawl more often)"
                )
            return None
        if urlsplit(link).netloc != urlsplit(self.base).netloc:
            # The token goes with every request: never to another host.
            self.run.warn(f"Facebook Page {self.page!r}: paging link to another host ignored")
            self.complete = True
            return None
        return strip_secret_params(link)

    def _check_usage(self, response: ApiResponse, more: bool) -> None:
        highest, minutes = usage(response.headers)
        limit = self.options["max_usage_percent"]
        if highest <= limit:
            return
        self.complete = self.complete or not more
        wait = max(minutes * 60, _USAGE_PAUSE)
        self.run.stop(
            f"the Graph API usage is at {highest:.0f}% (over max_usage_percent {limit}); "
            f"stopped after Page {self.page!r}, resuming in {wait / 60:.0f} min",
            wait,
        )
