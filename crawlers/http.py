"""Polite, bounded HTTP fetching: conditional GET, a size cap, and errors that say what to do next."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from crawlers.base import Validators
from crawlers.errors import PermanentSourceError, TransientSourceError

_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A response body (or a 304) with what is needed to parse it and to fetch it next time."""

    url: str
    status: int
    content: bytes
    content_type: str | None
    validators: Validators
    not_modified: bool = False


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), if readable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _check_status(response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    message = f"HTTP {status} {response.reason_phrase or ''}".strip() + f" from {response.url}"
    if retry_after is not None:
        message += f" (Retry-After {retry_after:.0f}s)"
    if status in _TRANSIENT_STATUS or status >= 500:
        raise TransientSourceError(message, retry_after=retry_after)
    raise PermanentSourceError(message)


def _read_capped(
    response: httpx.Response, max_bytes: int, deadline: float | None, started: float
) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise PermanentSourceError(
            f"response of {int(declared)} bytes from {response.url} is over the {max_bytes}-byte cap"
        )
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > max_bytes:
            raise PermanentSourceError(
                f"response from {response.url} is over the {max_bytes}-byte cap"
            )
        # Checked between reads, so it can overrun by one read_timeout; that bounds it all the same.
        if deadline is not None and time.monotonic() - started > deadline:
            raise TransientSourceError(
                f"response from {response.url} took longer than {deadline:g} s, its deadline"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _validators(response: httpx.Response, previous: Validators) -> Validators:
    return Validators(
        etag=response.headers.get("etag") or previous.etag,
        last_modified=response.headers.get("last-modified") or previous.last_modified,
    )


def fetch(
    client: httpx.Client,
    url: str,
    validators: Validators,
    max_bytes: int,
    *,
    deadline: float | None = None,
) -> FetchResult:
    """GET a URL conditionally; raise Transient/PermanentSourceError for anything but a body or 304.

    ``deadline`` bounds the whole response in seconds: the client's read timeout bounds each read
    only, so a server dripping a byte at a time could otherwise hold a worker forever.
    """
    started = time.monotonic()
    headers = {}
    if validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                return FetchResult(
                    str(response.url), 304, b"", None, _validators(response, validators), True
                )
            _check_status(response)
            content = _read_capped(response, max_bytes, deadline, started)
            return FetchResult(
                str(response.url),
                response.status_code,
                content,
                response.headers.get("content-type"),
                _validators(response, Validators()),
            )
    except httpx.TimeoutException as exc:
        raise TransientSourceError(f"timed out fetching {url}: {type(exc).__name__}") from exc
    except httpx.TooManyRedirects as exc:
        raise PermanentSourceError(f"too many redirects fetching {url}") from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise PermanentSourceError(f"cannot fetch {url}: {exc}") from exc
    except httpx.DecodingError as exc:  # not a TransportError: a corrupt gzip/deflate body
        raise TransientSourceError(f"cannot decompress the body from {url}: {exc}") from exc
    except httpx.TransportError as exc:
        raise TransientSourceError(
            f"network error fetching {url}: {exc or type(exc).__name__}"
        ) from exc
