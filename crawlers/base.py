"""Plain data passed between adapters and the application, and the adapter Protocol."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from crawlers.fetcher import Fetcher


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """One collected item, before storage: everything is plain, text is clean Unicode."""

    url: str
    canonical_url: str
    title: str
    text: str
    kind: str = "news"
    author: str | None = None
    published_at: datetime | None = None
    language: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Validators:
    """HTTP cache validators remembered per source for conditional GET."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class ParseResult:
    """What a parser made of some bytes: the items it could read and what it had to skip."""

    items: list[ItemRecord]
    warnings: list[str] = field(default_factory=list)
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Collected:
    """What one collection pass of a source produced."""

    items: list[ItemRecord]
    warnings: list[str] = field(default_factory=list)
    validators: Validators = Validators()
    not_modified: bool = False
    # What the adapter wants back on its next run (a high-water mark, links seen ...); None keeps
    # the previous cursor. Stored only when the run is stored, so a failed run repeats its work.
    cursor: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """The part of a source's configuration an adapter needs."""

    id: str
    url: str
    options: Mapping[str, Any] = field(default_factory=dict)
    # The IANA zone in which to read a date the source writes without one.
    timezone: str = "UTC"


def _nothing_known(urls: Collection[str]) -> set[str]:
    return set()


def _no_secrets(name: str) -> str | None:
    return None


def _no_cases() -> list[str]:
    return []


@dataclass(frozen=True, slots=True)
class RunState:
    """What the application remembers of a source between runs, and what it lets adapters ask."""

    validators: Validators = Validators()
    cursor: Mapping[str, Any] = field(default_factory=dict)
    last_success_at: datetime | None = None
    # Which of these canonical URLs are stored already, so an adapter fetches only new pages.
    known: Callable[[Collection[str]], set[str]] = _nothing_known
    # A secret (an API token) by the name of the environment variable a source's options give.
    secret: Callable[[str], str | None] = _no_secrets
    # The canonical URLs of this source's items that are open cases (to follow their comments).
    open_cases: Callable[[], list[str]] = _no_cases


class SourceAdapter(Protocol):
    """Collects items from one kind of source."""

    def validate_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Check a source's kind-specific options; raise ValueError naming the bad one."""
        ...

    def collect(self, fetcher: Fetcher, spec: SourceSpec, state: RunState) -> Collected:
        """Fetch and parse the source; raise a SourceError when it cannot be read at all."""
        ...
