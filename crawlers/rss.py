"""RSS/Atom: feed bytes -> item records, with feedparser doing the parsing (never the fetching)."""

from __future__ import annotations

import hashlib
import io
import re
import time
import xml.sax
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from xml.parsers.expat import errors as expat_errors
from zoneinfo import ZoneInfo

import feedparser

from crawlers.base import Collected, ItemRecord, ParseResult, RunState, SourceSpec
from crawlers.encoding import mend_char_refs, mend_utf8
from crawlers.fetcher import Fetcher
from crawlers.options import item_kind, reject_unknown
from crawlers.text import clean_text, html_to_text
from crawlers.urls import canonical_url

_MIN_YEAR, _MAX_YEAR = 1990, 2100
_ENTRY_START = re.compile(rb"<(?:[\w.-]+:)?(?:item|entry)[\s>]")
_ENTRY_END = re.compile(rb"</(?:[\w.-]+:)?(?:item|entry)\s*>")
# A date ending in a zone: an offset after the time (+07:00, +0700, -05) or letters (Z, GMT, ICT).
_ZONE_AT_END = re.compile(r"(?::\d\d(?:[.,]\d+)?\s*[+-]\d\d(?::?\d\d)?|[A-Za-z])\s*$")
# What expat says when a document stops before its root element closes: the feed was cut off.
_CUT_OFF = frozenset(
    {
        expat_errors.XML_ERROR_NO_ELEMENTS,
        expat_errors.XML_ERROR_UNCLOSED_TOKEN,
        expat_errors.XML_ERROR_UNCLOSED_CDATA_SECTION,
    }
)


def _cut_inside_last_entry(content: bytes, exc: object) -> bool:
    """Tell whether the document ended (feedparser's XML error says so) inside its last entry."""
    if not (isinstance(exc, xml.sax.SAXParseException) and exc.getMessage() in _CUT_OFF):
        return False
    opened = [m.start() for m in _ENTRY_START.finditer(content)]
    closed = [m.start() for m in _ENTRY_END.finditer(content)]
    return bool(opened) and opened[-1] > (closed[-1] if closed else -1)


def _to_utc(parsed: time.struct_time | None) -> datetime | None:
    # feedparser normalises every date it understands to a UTC struct_time.
    if not parsed:
        return None
    try:
        return datetime(*parsed[:6], tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _zoneless_to_utc(raw: object, zone: ZoneInfo) -> datetime | None:
    """Read a date written without a zone as wall-clock time in ``zone``; None if it has one."""
    # feedparser takes such an ISO date for UTC (7 h off for a Vietnamese site) and drops an
    # RFC 822 one altogether.
    if not isinstance(raw, str) or _ZONE_AT_END.search(raw):
        return None
    for parse in (datetime.fromisoformat, parsedate_to_datetime):
        try:
            when = parse(raw.strip())
            return when.replace(tzinfo=zone).astimezone(UTC) if when.tzinfo is None else None
        except (TypeError, ValueError, OverflowError):
            continue
    return None


def _entry_time(entry: Mapping[str, Any], zone: ZoneInfo) -> datetime | None:
    """When the entry was published (else updated), in UTC, if within the plausible years."""
    # Asked for a missing `updated`, feedparser answers with `published` and a DeprecationWarning;
    # `in` looks at the keys really there.
    for key in (k for k in ("published", "updated") if k in entry):
        when = _zoneless_to_utc(entry[key], zone) or _to_utc(entry.get(f"{key}_parsed"))
        if when is not None and _MIN_YEAR <= when.year <= _MAX_YEAR:
            return when
    return None


def _language(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return clean_text(value).split("-")[0].split("_")[0].lower()[:8] or None


def _entry_link(entry: Mapping[str, Any]) -> str | None:
    link = entry.get("link")
    if isinstance(link, str) and link.strip():
        return link.strip()
    for alt in entry.get("links") or []:
        href = alt.get("href") if isinstance(alt, Mapping) else None
        if isinstance(href, str) and href.strip():
            return href.strip()
    guid = entry.get("id")
    if isinstance(guid, str) and guid.strip().lower().startswith(("http://", "https://")):
        return guid.strip()
    return None


def _entry_text(entry: Mapping[str, Any]) -> str:
    candidates = [c.get("value", "") for c in entry.get("content") or [] if isinstance(c, Mapping)]
    candidates.append(entry.get("summary") or "")
    best = max((c for c in candidates if isinstance(c, str)), key=len, default="")
    return html_to_text(best)


def _synthetic_key(feed_url: str, title: str, text: str, guid: object) -> str:
    # An entry with no link still needs one stable key so that re-fetching it is not a new item.
    basis = f"{guid}" if isinstance(guid, str) and guid.strip() else f"{title}\n{text}"
    digest = hashlib.sha1(basis.encode("utf-8", "replace")).hexdigest()[:20]
    return f"tag:feed:{canonical_url(feed_url)}:{digest}"


def _entry_to_item(
    entry: Mapping[str, Any],
    feed_url: str,
    default_language: str | None,
    kind: str,
    zone: ZoneInfo,
) -> ItemRecord:
    title = html_to_text(entry.get("title") or "")
    text = _entry_text(entry)
    link = _entry_link(entry)
    if not (title or text or link):
        raise ValueError("it has no title, text or link")
    if link:
        url = clean_text(link)
        key = canonical_url(url)
    else:
        url = key = _synthetic_key(feed_url, title, text, entry.get("id"))
    published = _entry_time(entry, zone)
    author = clean_text(entry.get("author") or "") or None
    meta: dict[str, Any] = {}
    guid = entry.get("id")
    if isinstance(guid, str) and guid.strip():
        meta["guid"] = clean_text(guid)[:500]
    tags = [
        clean_text(t.get("term") or "") for t in entry.get("tags") or [] if isinstance(t, Mapping)
    ]
    if any(tags):
        meta["tags"] = [t for t in tags if t][:20]
    return ItemRecord(
        url=url[:2000],
        canonical_url=key[:2000],
        title=title[:1000],
        text=text,
        kind=kind,
        author=author[:300] if author else None,
        published_at=published,
        language=_language(entry.get("language")) or default_language,
        meta=meta,
    )


def parse_feed(
    content: bytes,
    url: str,
    content_type: str | None = None,
    *,
    kind: str = "news",
    timezone: str = "UTC",
) -> ParseResult:
    """Parse RSS/Atom bytes into items; a malformed feed keeps what parses and says why in warnings.

    A date written without a zone is read as local time in ``timezone`` (an IANA name).
    """
    zone = ZoneInfo(timezone)
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    warnings: list[str] = []
    content, bad = mend_utf8(content, content_type)
    if bad:
        warnings.append(f"{bad} invalid UTF-8 byte sequence(s) replaced with U+FFFD")
    content, bad = mend_char_refs(content)
    if bad:
        warnings.append(f"{bad} character reference(s) to UTF-16 halves or no character mended")
    try:
        # A stream, never a str/bytes: feedparser would treat those as a URL or a file name to open.
        # Markup is reduced to plain text by html_to_text afterwards, so feedparser's own HTML
        # sanitising and link rewriting would be thrown away: skipping them doubles its speed.
        parsed = feedparser.parse(
            io.BytesIO(content),
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as error:  # its fallback parser can trip over odd input: never crash a run
        warnings.append(f"unreadable feed: {type(error).__name__}: {clean_text(str(error))[:300]}")
        return ParseResult(items=[], warnings=warnings)
    exc = parsed.get("bozo_exception")
    # Servers often label feeds text/html or not at all; that costs nothing, so it is not reported.
    if parsed.get("bozo") and not isinstance(exc, feedparser.NonXMLContentType):
        warnings.append(f"malformed feed: {type(exc).__name__}: {clean_text(str(exc))[:300]}")
    feed = parsed.get("feed") or {}
    default_language = _language(feed.get("language"))
    entries = list(parsed.get("entries") or [])
    if entries and _cut_inside_last_entry(content, exc):
        # Its last entry is incomplete (often without its link, so stored now it would come back
        # as a duplicate); the next fetch reads it whole.
        entries.pop()
        warnings.append("the feed is cut off: its last, incomplete entry was left out")
    items: list[ItemRecord] = []
    for index, entry in enumerate(entries):
        try:
            items.append(_entry_to_item(entry, url, default_language, kind, zone))
        except Exception as exc:  # one odd entry must not cost the rest of the feed
            warnings.append(f"entry {index} skipped: {type(exc).__name__}: {exc}")
    if not items and not parsed.get("version"):
        warnings.append("no feed found in the response")
    title = clean_text(feed.get("title") or "") or None
    return ParseResult(items=items, warnings=warnings, title=title)


class RssAdapter:
    """RSS 0.9x/1.0/2.0 and Atom feeds. Options: ``item_kind`` (news), ``max_items`` (all)."""

    def validate_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``item_kind`` and ``max_items``; raise ValueError naming the bad option."""
        reject_unknown("rss", options, ["item_kind", "max_items"])
        kind = item_kind(options)
        max_items = options.get("max_items")
        if max_items is not None and (not isinstance(max_items, int) or max_items < 1):
            raise ValueError(f"max_items must be a positive whole number, not {max_items!r}")
        return {"item_kind": kind, "max_items": max_items}

    def collect(self, fetcher: Fetcher, spec: SourceSpec, state: RunState) -> Collected:
        """Conditionally fetch the feed and parse it; a 304 gives no items."""
        result = fetcher.get(spec.url, validators=state.validators)
        if result.not_modified:
            return Collected(items=[], validators=result.validators, not_modified=True)
        options = self.validate_options(spec.options)
        parsed = parse_feed(
            result.content,
            result.url,
            result.content_type,
            kind=options["item_kind"],
            timezone=spec.timezone,
        )
        items = parsed.items[: options["max_items"]] if options["max_items"] else parsed.items
        return Collected(items=items, warnings=parsed.warnings, validators=result.validators)
