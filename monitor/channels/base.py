"""What every notification channel shares: the message, the interface, and its errors.

    ChannelError              the send failed; ``transient`` and ``retry_after`` say what next
    ├── TransientChannelError try again later (server down, timeout, 429, 5xx); ``retry_after``
    │                         is the wait the server asked for, if it said
    └── PermanentChannelError a person must act (wrong password, unknown chat, token missing or
                              invalid, recipient refused): retrying the same send cannot work

A channel makes one attempt per ``send``: the retry and backoff policy belongs to the escalation
engine, which records each failure on the case. No error message ever contains a secret.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from crawlers.apis import redact
from crawlers.http import parse_retry_after

ACK_LABEL = "Đã nhận / Acknowledge"
# The APIs answer in well under a second; a stuck one must not hold the escalation engine.
HTTP_TIMEOUT = httpx.Timeout(20.0, connect=10.0)


@dataclass(frozen=True)
class Message:
    """One notification, rendered once and sent on any channel."""

    subject: str
    text: str
    html: str | None = None
    # The signed acknowledgement link (see the part 4); every channel shows it.
    link: str | None = None
    # (content-id, PNG bytes) shown inline in the HTML (email only), referenced as "cid:<id>".
    images: tuple[tuple[str, bytes], ...] = ()
    case_id: int | None = None
    # Idempotency key, sent where the API allows (webhook Idempotency-Key, email Message-ID).
    key: str | None = None


class ChannelError(Exception):
    """A send failed; ``transient`` says whether retrying can help, ``retry_after`` when."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None):
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


class TransientChannelError(ChannelError):
    """Try again later, after ``retry_after`` seconds if the server said."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message, transient=True, retry_after=retry_after)


class PermanentChannelError(ChannelError):
    """Retrying the same send cannot work: a person must fix the settings or the recipient."""

    def __init__(self, message: str):
        super().__init__(message, transient=False)


class Channel(Protocol):
    """A way to reach a person: one attempt per send, a ChannelError when it fails."""

    name: str

    def send(self, recipient: str, message: Message) -> None:
        """Deliver ``message`` to ``recipient`` (an address, chat id or user id) once."""
        ...


Secret = Callable[[str], "str | None"]


def require_secret(value: str | None, env_name: str, channel: str, what: str) -> str:
    """The secret, or the permanent error naming the environment variable to set."""
    if not value:
        raise PermanentChannelError(f"{channel}: set {env_name} to the {what} (it is not set)")
    return value


def with_link(text: str, link: str | None) -> str:
    """``text`` ending with the acknowledgement link, unless it already carries it."""
    if not link or link in text:
        return text
    return f"{text.rstrip()}\n\n{ACK_LABEL}: {link}"


def http_client(transport: httpx.BaseTransport | None) -> httpx.Client:
    """The client a channel keeps for its life (bounded timeouts, no redirects followed)."""
    return httpx.Client(timeout=HTTP_TIMEOUT, transport=transport, follow_redirects=False)


def post(
    client: httpx.Client, channel: str, url: str, secret: str, **kwargs: Any
) -> httpx.Response:
    """POST once; a network failure is a TransientChannelError with the secret scrubbed."""
    try:
        return client.post(url, **kwargs)
    except httpx.TransportError as exc:
        # from None: the chained exception's request would carry the URL into tracebacks.
        detail = redact(f"{type(exc).__name__}: {exc}", secret)
        raise TransientChannelError(f"{channel}: cannot reach the API ({detail})") from None


def status_error(
    channel: str, response: httpx.Response, detail: str, retry_after: float | None = None
) -> ChannelError:
    """The error an HTTP error status calls for: 429 and 5xx transient, other 4xx permanent."""
    status = response.status_code
    if retry_after is None:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
    message = f"{channel}: {detail} (HTTP {status})"
    if status == 429 or status >= 500:
        if retry_after is not None:
            message += f", retry after {retry_after:g}s"
        return TransientChannelError(message, retry_after)
    return PermanentChannelError(message)


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The response body as a JSON object; empty when it is not one (a proxy's HTML page)."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
