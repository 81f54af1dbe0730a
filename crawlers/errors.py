"""Errors raised while collecting from a source; the type says what the caller does next.

SourceError                  something went wrong with one source
├── TransientSourceError     try again later (timeouts, 5xx, 429, connection refused)
└── PermanentSourceError     retrying will not help; a person must look (404/410, 401/403,
    │                        body over the size cap, an unsupported URL, a redirect loop)
    ├── RobotsDisallowedError    the site's robots.txt asks us not to fetch this URL
    └── BlockedTargetError       a submitted URL points at a loopback/private/link-local address
UnknownKindError             a config names a source kind no adapter is registered for
"""

from __future__ import annotations


class SourceError(Exception):
    """A source could not be collected."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransientSourceError(SourceError):
    """A failure that may go away by itself; retry with backoff (``retry_after`` seconds if known)."""


class PermanentSourceError(SourceError):
    """A failure that needs a person: the URL, credentials or the source itself are wrong."""


class RobotsDisallowedError(PermanentSourceError):
    """robots.txt disallows the URL: it is not fetched (an adapter skips that page, not the run)."""


class BlockedTargetError(PermanentSourceError):
    """The URL resolves to an address that is not public (SSRF guard for submitted URLs)."""


class UnknownKindError(LookupError):
    """No adapter is registered under this alias."""

    def __init__(self, kind: str, known: list[str]) -> None:
        super().__init__(f"unknown source kind {kind!r}; known kinds: {', '.join(known)}")
        self.kind = kind
        self.known = known
