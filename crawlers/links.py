"""Shared by the adapters that find article links (html, sitemap, forum): which links are new,
fetching each page politely, and what to remember about the ones that could not be stored.

One page that fails is a warning and is skipped, never the run: a 4xx, a robots.txt disallow or
a page with no text is remembered (the cursor's ``seen`` list) so it is not fetched every run; a
transient failure is retried on the next runs, up to ``MAX_RETRIES`` times.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

from crawlers.base import ItemRecord, ParseResult, RunState, SourceSpec, Validators
from crawlers.errors import PermanentSourceError, RobotsDisallowedError, TransientSourceError
from crawlers.extract import extract_article
from crawlers.fetcher import Fetcher
from crawlers.http import FetchResult
from crawlers.rss import parse_feed
from crawlers.text import clean_text

logger = logging.getLogger(__name__)
MAX_SEEN = 2000  # links remembered as not worth fetching again; the oldest are forgotten first
MAX_RETRIES = 3  # runs in which a page that failed transiently is tried before it is given up
BUILD_ERROR = "the page could not be read: an error in the crawler, logged"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Link:
    """An article link found on a listing, in a sitemap or a feed, with what was said about it."""

    url: str
    canonical: str
    title: str = ""
    published: datetime | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Memory:
    """The part of a cursor that says which links not to fetch again and which to retry."""

    seen: list[str] = field(default_factory=list)
    retries: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_cursor(cls, cursor: Mapping[str, Any]) -> Memory:
        """Read what an earlier run left; anything malformed is forgotten, not trusted."""
        seen = cursor.get("seen")
        retries = cursor.get("retries")
        return cls(
            [s for s in seen if isinstance(s, str)] if isinstance(seen, list) else [],
            {k: v for k, v in retries.items() if isinstance(v, int)}
            if isinstance(retries, dict)
            else {},
        )

    def to_cursor(self) -> dict[str, Any]:
        """The JSON-able form stored with the source."""
        return {"seen": self.seen[-MAX_SEEN:], "retries": dict(self.retries)}

    def remember(self, canonical: str) -> None:
        """Do not fetch this link again (until it falls off the end of the list)."""
        self.retries.pop(canonical, None)
        if canonical not in self.seen:
            self.seen.append(canonical)
        del self.seen[:-MAX_SEEN]

    def retry(self, canonical: str) -> bool:
        """Count a transient failure; False once the link has had its tries (then remembered)."""
        tries = self.retries.get(canonical, 0) + 1
        if tries >= MAX_RETRIES:
            self.remember(canonical)
            return False
        self.retries[canonical] = tries
        return True

    def succeeded(self, canonical: str) -> None:
        """The link was stored: no more retries are pending for it."""
        self.retries.pop(canonical, None)


def fresh_links(links: Iterable[Link], state: RunState, memory: Memory) -> list[Link]:
    """The links, once each, that are neither stored already nor remembered as not worth it."""
    unique: dict[str, Link] = {}
    for link in links:
        unique.setdefault(link.canonical, link)
    # A link no longer offered is not retried: it would keep the backlog open for nothing.
    memory.retries = {k: v for k, v in memory.retries.items() if k in unique}
    seen = set(memory.seen)
    candidates = [link for link in unique.values() if link.canonical not in seen]
    known = state.known([link.canonical for link in candidates]) if candidates else set()
    return [link for link in candidates if link.canonical not in known]


def fetch_own_page(fetcher: Fetcher, spec: SourceSpec, state: RunState) -> FetchResult:
    """The source's listing/feed/sitemap, conditionally unless a backlog waits behind a 304."""
    backlog = bool(state.cursor.get("backlog"))
    return fetcher.get(spec.url, validators=Validators() if backlog else state.validators)


def read_feed(page: FetchResult, spec: SourceSpec, kind: str) -> ParseResult:
    """A fetched RSS/Atom page's items, dates without a zone read in the source's timezone."""
    return parse_feed(page.content, page.url, page.content_type, kind=kind, timezone=spec.timezone)


@dataclass
class Batch:
    """The new links one run fetches (at most its limit), and how they are fetched."""

    todo: list[Link]
    pages: PageFetcher
    left_over: int  # new links left for the next runs

    @property
    def backlog(self) -> bool:
        """Whether links wait for a later run (over the limit, or to be retried)."""
        return self.left_over > 0 or bool(self.pages.memory.retries)

    def articles(self, spec: SourceSpec, kind: str) -> list[ItemRecord]:
        """Fetch and extract the run's links as article pages."""
        return collect_pages(
            self.pages, self.todo, lambda page, link: article_item(page, link, spec, kind)
        )

    def cursor(self, **extra: Any) -> dict[str, Any]:
        """What the next run needs: links remembered, retries, whether a backlog waits."""
        return {**self.pages.memory.to_cursor(), "backlog": self.backlog, **extra}


def new_links(
    fetcher: Fetcher, links: Iterable[Link], state: RunState, limit: int, warnings: list[str]
) -> Batch:
    """The run's share of the links not stored or remembered yet, with a PageFetcher for them."""
    memory = Memory.from_cursor(state.cursor)
    fresh = fresh_links(links, state, memory)
    return Batch(fresh[:limit], PageFetcher(fetcher, memory, warnings), max(len(fresh) - limit, 0))


def web_url(href: str, base: str = "") -> str | None:
    """``href`` made absolute against ``base``, without its fragment; None unless http(s).

    A malformed link (``http://[oops/``, a bad port) gives None: the caller skips it with a
    warning instead of losing the run to urllib's ValueError.
    """
    try:
        url = urljoin(base, href.strip()).split("#")[0]
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a port that is not a number 0-65535
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.hostname else None


def site_of(host: str) -> str:
    """The host a site is known by: lower-case, without a leading ``www.``."""
    host = host.lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


@dataclass(frozen=True, slots=True)
class UrlFilter:
    """Which links a source wants: on its own site (optionally) and matching include/exclude."""

    site: str | None = None
    include: str | None = None
    exclude: str | None = None

    def __call__(self, url: str) -> bool:
        """Tell whether a link passes."""
        if self.site is not None:
            try:
                host = site_of(urlsplit(url).hostname or "")
            except ValueError:  # a malformed URL is no link of the site's
                return False
            if host != self.site and not host.endswith("." + self.site):
                return False
        if self.include and not re.search(self.include, url):
            return False
        return not (self.exclude and re.search(self.exclude, url))


class PageFetcher:
    """Fetches the pages of one run, turning a page's failure into a warning and a memory."""

    def __init__(self, fetcher: Fetcher, memory: Memory, warnings: list[str]) -> None:
        self.fetcher, self.memory, self.warnings = fetcher, memory, warnings
        self.fetched = 0

    def get(self, link: Link) -> FetchResult | None:
        """The page, or None (with a warning) when it cannot be had this run."""
        try:
            result = self.fetcher.get(link.url)
        except ValueError as exc:  # a URL urllib cannot even split (http://[oops/)
            self.skip(link, f"skipped, not a valid URL ({exc})")
        except RobotsDisallowedError as exc:
            self.skip(link, f"skipped, robots.txt disallows it ({exc})")
        except PermanentSourceError as exc:
            self.skip(link, f"skipped: {exc}")
        except TransientSourceError as exc:
            again = self.memory.retry(link.canonical)
            then = "tried again next run" if again else f"given up after {MAX_RETRIES} runs"
            self.warnings.append(f"{link.url}: {exc}; {then}")
        else:
            self.fetched += 1
            return result
        return None

    def skip(self, link: Link, why: str) -> None:
        """Warn about a page that will not be stored, and do not fetch it again."""
        self.memory.remember(link.canonical)
        self.warnings.append(f"{link.url}: {why}")

    def build(self, link: Link, make: Callable[[], T], then: str = "skipped") -> T | None:
        """``make()``; None, with a warning saying what ``then`` happens, when it raises.

        One page that trips a bug in extraction must cost that page, not the run and what the
        run already collected; the traceback is logged so the bug stays visible. The page is
        remembered like a page with no text, not retried every run against the same bug.
        """
        try:
            return make()
        except Exception as exc:
            logger.exception("reading the page %s failed unexpectedly", link.url)
            self.skip(link, f"{then}, {BUILD_ERROR} ({type(exc).__name__}: {str(exc)[:200]})")
            return None


def article_item(result: FetchResult, link: Link, spec: SourceSpec, kind: str) -> ItemRecord:
    """An item from an article page; the link's own title and time stand in for missing ones."""
    article = extract_article(
        result.content, result.url, result.content_type, timezone=spec.timezone
    )
    meta: dict[str, Any] = dict(link.meta)
    if article.description:
        meta["description"] = article.description[:1000]
    if result.url != link.url:
        meta["fetched_url"] = result.url[:2000]
    return ItemRecord(
        url=link.url[:2000],
        canonical_url=link.canonical[:2000],
        title=(article.title or clean_text(link.title))[:1000],
        text=article.text,
        kind=kind,
        author=article.author[:300] if article.author else None,
        published_at=article.published or link.published,
        language=article.language,
        meta=meta,
    )


Build = Callable[[FetchResult, Link], ItemRecord]


def collect_pages(pages: PageFetcher, links: Iterable[Link], build: Build) -> list[ItemRecord]:
    """Fetch each link and build its item; a page with no text is skipped and remembered."""
    items: list[ItemRecord] = []
    for link in links:
        result = pages.get(link)
        if result is None:
            continue
        item = pages.build(link, partial(build, result, link))
        if item is None:
            continue
        if not item.text:
            pages.skip(link, "skipped, no article text found on the page")
            continue
        pages.memory.succeeded(link.canonical)
        items.append(item)
    return items
