"""Sitemaps: news sitemaps, plain ones and sitemap indexes (also gzipped) -> new article pages.

Which entries are new: dated within ``max_age`` days and after the cursor's high-water mark
(less an overlap, since a story can reach the sitemap a while after its publication time), then
neither stored already nor remembered. Entries without a date count as new. The newest are
fetched first, ``max_articles`` a run; the mark only moves once nothing is left behind.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from xml.parsers import expat
from zoneinfo import ZoneInfo

from crawlers import options as opt
from crawlers import safexml
from crawlers.base import Collected, RunState, SourceSpec
from crawlers.errors import PermanentSourceError, SourceError
from crawlers.extract_meta import parse_date
from crawlers.fetcher import Fetcher
from crawlers.links import Link, UrlFilter, fetch_own_page, new_links, site_of, web_url
from crawlers.text import clean_text
from crawlers.urls import canonical_url

_OPTIONS = ["max_articles", "max_sitemaps", "max_age", "include", "exclude", "item_kind"]
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 64 * 1024
_MAX_ENTRIES = 50_000  # the sitemap protocol's own limit per file
_OVERLAP = timedelta(hours=2)
_NEWS_FIELDS = {"publication_date", "title", "name", "language"}


@dataclass(frozen=True, slots=True)
class Entry:
    """One ``<url>`` of a urlset or ``<sitemap>`` of an index."""

    loc: str
    lastmod: datetime | None = None
    published: datetime | None = None  # news:publication_date
    title: str | None = None  # news:title
    publication: str | None = None  # news:publication/news:name

    @property
    def when(self) -> datetime | None:
        """The entry's time: its publication, else its last modification."""
        return self.published or self.lastmod


@dataclass(frozen=True, slots=True)
class Sitemap:
    """A parsed sitemap: ``kind`` is urlset, sitemapindex or None (not a sitemap)."""

    kind: str | None
    entries: list[Entry]
    root: str | None = None
    error: str | None = None  # why reading stopped before the end, if it did
    warnings: list[str] = field(default_factory=list)


class _TooBig(ValueError):
    pass


def _decompressed(content: bytes, max_bytes: int) -> Iterator[bytes]:
    """The XML bytes, gunzipped chunk by chunk when gzipped; never more than ``max_bytes``."""
    if not content.startswith(_GZIP_MAGIC):
        yield content
        return
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    data, total = content, 0
    while not inflater.eof:
        chunk = inflater.decompress(data, _CHUNK)
        data = inflater.unconsumed_tail
        if not chunk and not data:
            return  # cut short: expat then says the document ended early
        total += len(chunk)
        if total > max_bytes:
            raise _TooBig(f"gzipped sitemap inflates past the {max_bytes}-byte cap")
        yield chunk


class _Reader:
    """expat handlers collecting entries; only the fields a sitemap defines, at their places."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone, self.depth = zone, 0
        self.root: str | None = None
        self.entries: list[Entry] = []
        self.fields: dict[str, str] | None = None
        self.capture: str | None = None
        self.buffer: list[str] = []
        self.malformed: list[str] = []  # <loc>s urllib cannot read

    def start(self, name: str, attrs: dict[str, str]) -> None:
        namespace, local = safexml.local_name(name)
        self.depth += 1
        if self.depth == 1:
            self.root = local
        elif self.depth == 2 and local in ("url", "sitemap"):
            self.fields = {}
        elif self.fields is not None and self._wanted(namespace, local):
            self.capture, self.buffer = local, []

    def _wanted(self, namespace: str, local: str) -> bool:
        if self.depth == 3 and local in ("loc", "lastmod"):
            return True
        return "sitemap-news" in namespace and local in _NEWS_FIELDS

    def text(self, data: str) -> None:
        if self.capture:
            self.buffer.append(data)

    def end(self, name: str) -> None:
        self.depth -= 1
        if self.capture:
            assert self.fields is not None
            self.fields.setdefault(self.capture, clean_text("".join(self.buffer)))
            self.capture = None
        elif self.depth == 1 and self.fields is not None:
            self._finish(self.fields)
            self.fields = None

    def _finish(self, fields: dict[str, str]) -> None:
        loc = fields.get("loc", "")
        if web_url(loc) is None:  # not http(s), or malformed (http://[oops/): skipped
            if loc.lower().startswith(("http://", "https://")):
                self.malformed.append(loc[:200])
            return
        self.entries.append(
            Entry(
                loc,
                parse_date(fields.get("lastmod"), self.zone),
                parse_date(fields.get("publication_date"), self.zone),
                fields.get("title") or None,
                fields.get("name") or None,
            )
        )
        if len(self.entries) >= _MAX_ENTRIES:
            raise safexml.StopReading


def parse_sitemap(content: bytes, *, max_bytes: int, timezone: str = "UTC") -> Sitemap:
    """Parse sitemap bytes (gzipped or not, inflated up to ``max_bytes``) into its entries.

    Malformed, refused (DOCTYPE) or oversized input keeps the entries read before the trouble
    and says what it was in ``error``; dates without a zone are read in ``timezone``.
    """
    reader = _Reader(ZoneInfo(timezone))
    error = None
    try:
        safexml.parse(_decompressed(content, max_bytes), reader.start, reader.end, reader.text)
    except expat.ExpatError as exc:
        error = f"malformed XML: {expat.ErrorString(exc.code)} at line {exc.lineno}"
    except (safexml.RefusedXml, _TooBig) as exc:
        error = str(exc)
    except zlib.error as exc:
        error = f"corrupt gzip: {exc}"
    kind = reader.root if reader.root in ("urlset", "sitemapindex") else None
    warnings = (
        [f"only the first {_MAX_ENTRIES} entries read"]
        if len(reader.entries) >= _MAX_ENTRIES
        else []
    )
    if reader.malformed:
        count, first = len(reader.malformed), reader.malformed[0]
        entries = "entry" if count == 1 else "entries"
        warnings.append(f"{count} {entries} with a malformed <loc> skipped, e.g. {first!r}")
    return Sitemap(kind, reader.entries if kind else [], reader.root, error, warnings)


def _newest_first(entries: list[Entry]) -> list[Entry]:
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(entries, key=lambda e: e.when or epoch, reverse=True)


class SitemapAdapter:
    """A (news) sitemap or sitemap index whose new entries are fetched and extracted."""

    def validate_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Check the options, filling in defaults; raise ValueError naming the bad one."""
        opt.reject_unknown("sitemap", options, _OPTIONS)
        return {
            "max_articles": opt.positive_int(options, "max_articles", 30),
            "max_sitemaps": opt.positive_int(options, "max_sitemaps", 5),
            "max_age": opt.positive_int(options, "max_age", 3),
            "include": opt.pattern(options, "include"),
            "exclude": opt.pattern(options, "exclude"),
            "item_kind": opt.item_kind(options),
        }

    def collect(self, fetcher: Fetcher, spec: SourceSpec, state: RunState) -> Collected:
        """Fetch the sitemap (conditionally), its newest child sitemaps, and the new articles."""
        options = self.validate_options(spec.options)
        result = fetch_own_page(fetcher, spec, state)
        if result.not_modified:
            return Collected(items=[], validators=result.validators, not_modified=True)
        root = self._read(result.content, result.url, fetcher, spec)
        warnings = [*root.warnings, *([f"{result.url}: {root.error}"] if root.error else [])]
        now = datetime.now(UTC)
        high_water, floor = _marks(state.cursor, options["max_age"], now)
        entries, complete = root.entries, True
        if root.kind == "sitemapindex":
            entries, complete = self._follow(fetcher, spec, root, floor, options, warnings)
        site = site_of(urlsplit(result.url).hostname or "")
        wanted = UrlFilter(site, options["include"], options["exclude"])
        dated = [e for e in _newest_first(entries) if (e.when is None or e.when >= floor)]
        links = [_link(e) for e in dated if wanted(e.loc)]
        batch = new_links(fetcher, links, state, options["max_articles"], warnings)
        items = batch.articles(spec, options["item_kind"])
        newest = max((e.when for e in dated if e.when), default=None)
        if complete and not batch.backlog and newest:
            high_water = max(high_water or newest, min(newest, now))
        cursor = batch.cursor(high_water=high_water.isoformat() if high_water else None)
        return Collected(items, warnings, result.validators, cursor=cursor)

    def _read(self, content: bytes, url: str, fetcher: Fetcher, spec: SourceSpec) -> Sitemap:
        """Parse the source's own sitemap; one that gives nothing readable fails the run."""
        sitemap = parse_sitemap(content, max_bytes=fetcher.policy.max_bytes, timezone=spec.timezone)
        if sitemap.kind is None:
            why = sitemap.error or f"its root element is <{sitemap.root}>"
            raise PermanentSourceError(f"{url} is not a readable sitemap: {why}")
        if sitemap.error and not sitemap.entries:
            raise PermanentSourceError(f"{url}: {sitemap.error}")
        return sitemap

    def _follow(
        self,
        fetcher: Fetcher,
        spec: SourceSpec,
        index: Sitemap,
        floor: datetime,
        options: Mapping[str, Any],
        warnings: list[str],
    ) -> tuple[list[Entry], bool]:
        """The entries of an index's newest child sitemaps (at most ``max_sitemaps`` fetched).

        A child not changed since ``floor`` is not fetched. Returns whether every child read
        whole: if one failed, the high-water mark stays where it was.
        """
        queue = _newest_first([e for e in index.entries if e.when is None or e.when >= floor])
        entries: list[Entry] = []
        complete = True
        for _ in range(options["max_sitemaps"]):
            if not queue:
                break
            child = queue.pop(0)
            try:
                result = fetcher.get(child.loc)
                sitemap = self._read(result.content, result.url, fetcher, spec)
            except SourceError as exc:
                warnings.append(f"child sitemap skipped: {exc}")
                complete = False
                continue
            if sitemap.error:
                warnings.append(f"{result.url}: {sitemap.error}")
            if sitemap.kind == "sitemapindex":
                nested = [e for e in sitemap.entries if e.when is None or e.when >= floor]
                queue = _newest_first(queue + nested)
            else:
                entries += sitemap.entries
        return entries, complete


def _marks(
    cursor: Mapping[str, Any], max_age: int, now: datetime
) -> tuple[datetime | None, datetime]:
    """The last run's high-water mark, and the oldest entry time this run takes."""
    high_water = parse_date(str(cursor.get("high_water") or ""), ZoneInfo("UTC"))
    floor = now - timedelta(days=max_age)
    return high_water, max(floor, high_water - _OVERLAP) if high_water else floor


def _link(entry: Entry) -> Link:
    meta = {"outlet": entry.publication} if entry.publication else {}
    return Link(entry.loc, canonical_url(entry.loc), entry.title or "", entry.when, meta)
