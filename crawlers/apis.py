"""Shared pieces for official JSON APIs (Facebook Graph API, YouTube Data API v3).

Secrets (tokens, keys) travel in a request header, never in a URL, so neither the Fetcher's nor
httpx's log lines can carry them; ``redact`` scrubs every message built from an API answer all the
same. ``ApiRun`` decides what an API problem means for the run it happens in:

Problem.scope  what happens
"skip"         a warning; the run goes on with the next Page / video (unknown Page, comments off)
"stop"         try again later: on the run's first call a TransientSourceError; after a call that
               worked, a warning, what was collected is kept and the cursor says when to resume
"fail"         a person must act (expired token, missing permission): PermanentSourceError
"""

from __future__ import annotations

import html
import ipaddress
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from crawlers.base import Collected, ItemRecord, RunState
from crawlers.errors import PermanentSourceError, SourceError, TransientSourceError
from crawlers.fetcher import Fetcher
from crawlers.http import parse_retry_after
from crawlers.text import clean_text

logger = logging.getLogger(__name__)
SECRET_PARAMS = frozenset({"access_token", "key", "appsecret_proof", "client_secret"})
_SECRET_IN_TEXT = re.compile(
    r"(?i)(?<![\w-])(access_token|key|appsecret_proof|client_secret)=[^&\s\"'<>]*"
)
_TAG = re.compile(r"<[^>]*>")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
Scope = Literal["skip", "stop", "fail"]
_MIN_YEAR, _MAX_YEAR = 1970, 2100


def redact(text: str, *secrets: str) -> str:
    """``text`` with secret query parameters and the given secret values replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _SECRET_IN_TEXT.sub(lambda m: f"{m.group(1)}=***", text)


def strip_secret_params(url: str) -> str:
    """``url`` without secret query parameters (a paging link an API built with the token in it)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in query if k.lower() not in SECRET_PARAMS]
    return urlunsplit(parts._replace(query=urlencode(kept)))


def require_secret(state: RunState, env_name: str, what: str) -> str:
    """The secret in environment variable ``env_name``; PermanentSourceError naming it if unset."""
    value = (state.secret(env_name) or "").strip()
    if not value:
        raise PermanentSourceError(f"{what} is missing: set the environment variable {env_name}")
    return value


# -- secrets in options ----------------------------------------------------------------------------------


def env_name(options: Mapping[str, Any], name: str, default: str) -> str:
    """Option ``name`` as the name of an environment variable (never the secret itself)."""
    value = options.get(name, default)
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        # The value is not echoed: someone may have pasted the secret itself here.
        raise ValueError(
            f"{name} must name an environment variable (like {default}), in capitals, digits "
            "and _; the secret itself belongs in that variable, never in config.yaml"
        )
    return value


# -- values -----------------------------------------------------------------------------------


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time from an API ("...Z", "...+0000") in UTC, or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip())
        when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    except (OverflowError, ValueError):  # 0001-01-01T00:00:00+05:00 falls off datetime's range
        return None
    # 0001-01-01 and 9999-12-31 are how some systems write "no date": an unknown time.
    return when if _MIN_YEAR <= when.year <= _MAX_YEAR else None


def iso_z(when: datetime) -> str:
    """RFC 3339 in UTC with a Z, to the second (what the APIs take)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def first_words(text: str, limit: int = 120) -> str:
    """The first non-empty line of ``text``, cut at a word before ``limit`` characters."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if len(line) <= limit:
        return line
    cut = line[:limit].rsplit(" ", 1)[0] or line[:limit]
    return cut.rstrip(" ,.;:-") + "…"


def plain_message(value: object) -> str:
    """An API's error message as plain text (YouTube's carry <a> and <code> markup)."""
    return clean_text(html.unescape(_TAG.sub("", str(value or ""))))


def number(value: object) -> float:
    """A JSON number as float; anything else counts as 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)


# -- calls ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """An API's answer: HTTP status, its JSON object (empty if it sent none) and headers."""

    status: int
    payload: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)
    is_object: bool = True  # False when the body was no JSON object (payload is then empty)


@dataclass(frozen=True, slots=True)
class Problem:
    """What an API error means for the run; see the module docstring for the scopes."""

    message: str
    scope: Scope
    retry_after: float | None = None


def _json_object(content: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(content.decode("utf-8", "replace")) if content else {}
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def get_json(
    fetcher: Fetcher,
    url: str,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    secret: str = "",
) -> ApiResponse:
    """GET an API URL; an error status comes back with its JSON payload, not as an exception."""
    try:
        result = fetcher.get(
            url, params=params, headers=headers, robots=False, raise_for_status=False
        )
    except SourceError as exc:  # the message may quote the URL: keep secrets out of it
        raise type(exc)(redact(str(exc), secret), retry_after=exc.retry_after) from None
    payload = _json_object(result.content)
    return ApiResponse(result.status, payload or {}, result.headers, payload is not None)


def http_problem(response: ApiResponse, subject: str) -> Problem | None:
    """The problem of an error status that came without the API's error object; None for 2xx/3xx."""
    if response.status < 400:
        return None
    message = f"HTTP {response.status} from {subject}"
    if response.status == 429 or response.status >= 500:
        return Problem(message, "stop", parse_retry_after(response.headers.get("retry-after")))
    return Problem(message, "skip")


def shape_problem(response: ApiResponse, subject: str, lists: tuple[str, ...]) -> Problem | None:
    """The problem of a success status whose body is not the shape the API documents.

    A body that is no JSON object, or whose ``lists`` members are not lists,
    cannot be read at all. It stops the run as transient (a TransientSourceError on the run's
    first call): an API that answers 200 with nonsense is most likely a glitch on the way (a
    proxy's page, a cut body, a bad deploy) that retrying with backoff outlasts, and nothing in
    the source's settings would fix it; if it lasts, the failures count up in the source's health.
    """
    if response.status >= 400:
        return None
    what = f"{subject} answered HTTP {response.status} with "
    if not response.is_object:
        return Problem(what + "a body that is not a JSON object", "stop")
    payload = response.payload
    for name in lists:
        if name in payload and not isinstance(payload[name], list):
            return Problem(what + f"{name!r} that is not a list", "stop")
    return None


class OddEntry(ValueError):
    """One entry of an API answer is not the shape documented: that entry is skipped."""


def member(entry: object, name: str) -> Mapping[str, Any]:
    """``entry[name]`` as an object: {} when missing or null; OddEntry if either is no object."""
    if not isinstance(entry, dict):
        raise OddEntry("it is not a JSON object")
    value = entry.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise OddEntry(f"its {name!r} is not a JSON object")
    return value


def require_https(url: str, what: str) -> None:
    """PermanentSourceError unless ``url`` is https (or http on this machine, for tests)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise PermanentSourceError(f"the {what} URL {url!r} is not a valid URL") from None
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and _loopback(host):
        return
    raise PermanentSourceError(
        f"the {what} URL must be https:// (the secret goes with every request): {url!r}"
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


Classify = Callable[[ApiResponse], Problem | None]


class ApiRun:
    """One run of an API source: the items so far, its warnings, and whether it must stop."""

    def __init__(
        self,
        fetcher: Fetcher,
        source_id: str,
        headers: Mapping[str, str],
        secret: str,
        now: datetime,
    ) -> None:
        self.fetcher, self.source_id = fetcher, source_id
        self.headers, self.secret, self.now = dict(headers), secret, now
        self.items: list[ItemRecord] = []
        self.warnings: list[str] = []
        self.calls = 0  # calls that worked
        self.stopped = False
        self.resume_at: datetime | None = None

    def call(
        self, url: str, params: Mapping[str, str] | None, classify: Classify
    ) -> ApiResponse | None:
        """GET an API URL; its response, or None when it had a problem (handled, see handle)."""
        if self.stopped:
            return None
        try:
            response = get_json(
                self.fetcher, url, params=params, headers=self.headers, secret=self.secret
            )
        except TransientSourceError as exc:
            self.handle(Problem(str(exc), "stop", exc.retry_after))
            return None
        problem = classify(response)
        if problem is not None:
            self.handle(problem)
            return None
        self.calls += 1
        return response

    def handle(self, problem: Problem) -> None:
        """Warn, stop the run or fail the source, as the problem's scope says."""
        message = redact(problem.message, self.secret)
        if problem.scope == "fail":
            raise PermanentSourceError(message)
        if problem.scope == "skip":
            self.warn(message)
        elif self.calls == 0:  # nothing read yet: the source cannot be read now
            raise TransientSourceError(message, retry_after=problem.retry_after)
        else:
            self.stop(message, problem.retry_after)

    def stop(self, message: str, retry_after: float | None = None) -> None:
        """Make no more calls this run; with ``retry_after``, none before that many seconds."""
        self.stopped = True
        self.warn(message)
        if retry_after:
            self.resume_at = self.now + timedelta(seconds=retry_after)

    def warn(self, message: str) -> None:
        """Record a warning for the run and log it."""
        message = redact(message, self.secret)
        logger.warning("%s: %s", self.source_id, message)
        self.warnings.append(message)

    def collected(self, cursor: dict[str, Any]) -> Collected:
        """The run's result, the cursor noting when to resume if the run had to stop."""
        if self.resume_at is not None:
            cursor["resume_after"] = iso_z(self.resume_at)
        else:
            cursor.pop("resume_after", None)
        return Collected(items=self.items, warnings=self.warnings, cursor=cursor)

    def paused(self, cursor: Mapping[str, Any]) -> Collected | None:
        """A run with no calls when an earlier one was told to wait; None when free to go."""
        resume = parse_time(cursor.get("resume_after"))
        if resume is None or resume <= self.now:
            return None
        warning = f"waiting until {resume:%Y-%m-%d %H:%M} UTC, as the API asked; no calls made"
        return Collected(items=[], warnings=[warning], cursor=None)
