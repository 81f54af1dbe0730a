"""Google News search RSS: every outlet's stories on a query, with the outlet's name kept.

The feed is read by ``crawlers.rss.parse_feed``; a second, light pass over the same bytes picks
up what it does not keep: each item's ``<source url="...">Outlet</source>`` and the HTML list of
related stories in its description. Links stay the news.google.com redirect URLs: resolving them
would mean scraping Google's pages.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from xml.parsers import expat

from selectolax.lexbor import LexborHTMLParser

from crawlers import options as opt
from crawlers import safexml
from crawlers.base import Collected, ItemRecord, RunState, SourceSpec
from crawlers.fetcher import Fetcher
from crawlers.links import read_feed
from crawlers.text import clean_text
from crawlers.urls import canonical_url

SEARCH_URL = "https://news.google.com/rss/search"
# Vietnamese results as a reader in Viet Nam sees them.
_LOCALE = {"hl": "vi", "gl": "VN", "ceid": "VN:vi"}
_OPTIONS = ["query", "max_items", "item_kind"]


@dataclass(frozen=True, slots=True)
class Outlet:
    """What Google News says of one item beyond the feed basics."""

    name: str | None = None
    url: str | None = None
    description: str = ""  # the description's HTML


class _Sources:
    """expat handlers: per item, its link, ``<source>`` and raw description HTML."""

    def __init__(self) -> None:
        self.found: dict[str, Outlet] = {}
        self.item: dict[str, str] | None = None
        self.field: str | None = None
        self.buffer: list[str] = []
        self.malformed: list[str] = []

    def start(self, name: str, attrs: dict[str, str]) -> None:
        local = safexml.local_name(name)[1]
        if local == "item":
            self.item = {}
        elif self.item is not None and local in ("link", "source", "description"):
            self.field, self.buffer = local, []
            if local == "source" and attrs.get("url"):
                self.item["source_url"] = attrs["url"]

    def text(self, data: str) -> None:
        if self.field:
            self.buffer.append(data)

    def end(self, name: str) -> None:
        if self.item is None:
            return
        if self.field:
            self.item[self.field], self.field = "".join(self.buffer), None
        elif safexml.local_name(name)[1] == "item":
            item, self.item = self.item, None
            if item.get("link"):
                self._add(clean_text(item["link"]), item)

    def _add(self, link: str, item: dict[str, str]) -> None:
        try:
            key = canonical_url(link)
        except ValueError:  # http://[oops/: this item has no outlet, the others keep theirs
            self.malformed.append(link[:200])
            return
        self.found[key] = Outlet(
            clean_text(item.get("source", "")) or None,
            clean_text(item.get("source_url", "")) or None,
            item.get("description", ""),
        )


def outlets(content: bytes, warnings: list[str] | None = None) -> dict[str, Outlet]:
    """Each item's outlet and description, by the canonical form of its link.

    An item whose link is malformed gets no outlet; a warning naming it goes to ``warnings``.
    """
    sources = _Sources()
    # parse_feed says what is wrong with a broken feed; here what was read before is kept.
    with contextlib.suppress(expat.ExpatError, safexml.RefusedXml):
        safexml.parse([content], sources.start, sources.end, sources.text)
    if warnings is not None:
        warnings.extend(
            f"item with a malformed link {u!r}: outlet not read" for u in sources.malformed
        )
    return sources.found


def strip_outlet(title: str, outlet: str | None) -> str:
    """A title without the " - Outlet" Google News appends to it."""
    if outlet:
        for dash in (" - ", " – ", " — "):
            if title.endswith(dash + outlet):
                return title[: -len(dash + outlet)].rstrip()
    return title


def related_text(description: str, title: str) -> str:
    """The description's list of stories as lines "Title (Outlet)", less the item's own story."""
    if not description.strip():
        return ""
    tree = LexborHTMLParser(description)
    lines = []
    whole = tree.body or tree.root
    for entry in tree.css("li") or ([whole] if whole is not None else []):
        anchor, font = entry.css_first("a"), entry.css_first("font")
        story = clean_text(anchor.text(separator=" ")) if anchor else ""
        outlet = clean_text(font.text(separator=" ")) if font else ""
        if story and story != title:
            lines.append(f"{story} ({outlet})" if outlet else story)
    return "\n".join(lines)


def search_url(base: str, query: str) -> str:
    """The search RSS URL for ``query`` in Vietnamese, keeping what ``base`` already asks."""
    parts = urlsplit(base or SEARCH_URL)
    params = {**_LOCALE, **dict(parse_qsl(parts.query)), "q": query}
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(params), ""))


def _with_outlet(item: ItemRecord, found: Outlet | None) -> ItemRecord:
    if found is None:
        return item
    title = strip_outlet(item.title, found.name)
    meta = dict(item.meta)
    if found.name:
        meta["outlet"] = found.name[:300]
    if found.url:
        meta["outlet_url"] = found.url[:2000]
    return replace(item, title=title, text=related_text(found.description, title), meta=meta)


class GoogleNewsAdapter:
    """Google News search RSS. Options: ``query``, ``max_items`` (100), ``item_kind`` (news)."""

    def validate_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Check the options, filling in defaults; raise ValueError naming the bad one."""
        opt.reject_unknown("gnews", options, _OPTIONS)
        return {
            "query": opt.text(options, "query"),
            "max_items": opt.positive_int(options, "max_items", 100),
            "item_kind": opt.item_kind(options),
        }

    def collect(self, fetcher: Fetcher, spec: SourceSpec, state: RunState) -> Collected:
        """Fetch the search feed (conditionally); items keep their outlet, titles lose it."""
        options = self.validate_options(spec.options)
        url = search_url(spec.url, options["query"]) if options["query"] else spec.url
        result = fetcher.get(url, validators=state.validators)
        if result.not_modified:
            return Collected(items=[], validators=result.validators, not_modified=True)
        parsed = read_feed(result, spec, options["item_kind"])
        warnings = list(parsed.warnings)
        found = outlets(result.content, warnings)
        items = [_with_outlet(i, found.get(i.canonical_url)) for i in parsed.items]
        return Collected(
            items=items[: options["max_items"]],
            warnings=warnings,
            validators=result.validators,
        )
