"""HTTP building blocks: a fetched body, Retry-After, a capped read, errors that say what next."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
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
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names


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


def check_status(status: int, url: str, headers: Mapping[str, str]) -> None:
    """Raise the SourceError an HTTP error status calls for (Transient for 429/5xx); 2xx/3xx pass."""
    if status < 400:
        return
    retry_after = parse_retry_after(headers.get("retry-after"))
    reason = httpx.codes.get_reason_phrase(status)
    message = f"HTTP {status} {reason}".strip() + f" from {url}"
    if retry_after is not None:
        message += f" (Retry-After {retry_after:.0f}s)"
    if status in _TRANSIENT_STATUS or status >= 500:
        raise TransientSourceError(message, retry_after=retry_after)
    raise PermanentSourceError(message)


def read_capped(
    response: httpx.Response, max_bytes: int, deadline: float | None, started: float
) -> bytes:
    """Read a streamed body, refusing it past ``max_bytes`` or past ``deadline`` seconds."""
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
