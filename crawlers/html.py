"""Listing pages (a news site's home or section page): article links -> pages fetched and extracted.

Only links that are neither stored already nor remembered from earlier runs are fetched, at most
``max_articles`` a run; the rest wait for the next run (which then fetches the listing even if
it says it has not changed, so that backlog is not stranded behind a 304).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser, SelectolaxError

from crawlers import options as opt
from crawlers.base import Collected, RunState, SourceSpec
from crawlers.encoding import decode_html
from crawlers.fetcher import Fetcher
from crawlers.http import FetchResult
from crawlers.links import Link, UrlFilter, fetch_own_page, new_links, site_of, web_url
from crawlers.text import clean_text
from crawlers.urls import canonical_url

# Where news sites put the links to their stories: headlines and article cards.
DEFAULT_SELECTOR = "article a[href], h2 a[href], h3 a[href], .title a[href]"
_OPTIONS = ["link_selector", "same_site", "include", "exclude", "max_articles", "item_kind"]
# An href meant as a web link (not mailto:, javascript:, tel: ...) that urllib cannot read.
_MALFORMED = re.compile(r"(?:https?:)?//", re.IGNORECASE)
_NUMERIC_ID = re.compile(r"\d{5,}")
_EXTENSION = re.compile(r"\.(?:html?|shtml|aspx?|php)$", re.IGNORECASE)
# Paths that are never one story, whatever their shape.
_NOT_ARTICLE = re.compile(
    r"/(?:tag|tags|tu-khoa|tim-kiem|search|author|tac-gia|login|dang-nhap|lien-he|rss)(?:[/.]|$)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Listing:
    """The links a listing page offers, in page order, with their (longest) anchor text."""

    links: list[tuple[str, str]]
    warnings: list[str] = field(default_factory=list)


def _slug_words(path: str) -> int:
    last = _EXTENSION.sub("", path.rstrip("/").rpartition("/")[2])
    return len([w for w in re.split(r"[-_]+", last) if w])


def looks_like_article(url: str) -> bool:
    """Tell a story's URL from a section's: a numeric id, a long slug, or a page with a slug."""
    path = urlsplit(url).path
    if _NOT_ARTICLE.search(path):
        return False
    words = _slug_words(path)
    last = path.rstrip("/").rpartition("/")[2]
    # "/thoi-su.htm" ends in .htm too: a page name counts only with a slug of a few words.
    return bool(_NUMERIC_ID.search(last) or words >= 5 or (_EXTENSION.search(last) and words >= 3))


def _is_section(url: str) -> bool:
    """A shallow path without an id (``/``, ``/kinh-te/``): a section heading, not a story."""
    path = urlsplit(url).path
    segments = [s for s in path.split("/") if s]
    return (len(segments) <= 1 and not looks_like_article(url)) or bool(_NOT_ARTICLE.search(path))


def _anchors(
    tree: LexborHTMLParser, selector: str, base: str, bad: set[str]
) -> list[tuple[str, str]]:
    """The http(s) links the selector picks, absolute; malformed hrefs are added to ``bad``."""
    found: list[tuple[str, str]] = []
    for node in tree.css(selector):
        href = (node.attributes.get("href") or "").strip()
        url = web_url(href, base)
        if url is not None:
            found.append((url, clean_text(node.text(separator=" "))))
        elif _MALFORMED.match(href):
            bad.add(href[:200])
    return found


def _base(tree: LexborHTMLParser, url: str, warnings: list[str]) -> str:
    """The URL links are relative to: the page's <base href> when it is a valid one."""
    node = tree.css_first("base[href]")
    href = (node.attributes.get("href") or "").strip() if node else ""
    if not href:
        return url
    base = web_url(href, url)
    if base is None:
        warnings.append(f"<base href={href[:200]!r}> is not a valid URL; ignored")
    return base or url


def parse_listing(
    content: bytes, url: str, content_type: str | None, selector: str = DEFAULT_SELECTOR
) -> Listing:
    """The article links of a listing page; with the default selector, any article-looking link too.

    A selector the source sets itself is taken at its word; the default one also matches section
    headings (``<h2><a href="/kinh-te">``), so with it shallow section paths are left out.
    """
    markup, _, warnings = decode_html(content, content_type)
    tree = LexborHTMLParser(markup)
    base = _base(tree, url, warnings)
    bad: set[str] = set()
    links = _anchors(tree, selector, base, bad)
    if selector == DEFAULT_SELECTOR:
        links = [(u, t) for u, t in links if not _is_section(u)]
        links += [(u, t) for u, t in _anchors(tree, "a[href]", base, bad) if looks_like_article(u)]
    warnings.extend(f"malformed link {href!r} skipped" for href in sorted(bad)[:20])
    if len(bad) > 20:
        warnings.append(f"{len(bad) - 20} more malformed links skipped")
    texts: dict[str, str] = {}
    for link, text in links:
        if link != url and len(text) >= len(texts.get(link, "")):
            texts[link] = text
    return Listing(list(texts.items()), warnings)


def listing_links(page: FetchResult, options: Mapping[str, Any]) -> tuple[list[Link], list[str]]:
    """The article links of a fetched listing that the source's options let through."""
    listing = parse_listing(page.content, page.url, page.content_type, options["link_selector"])
    site = site_of(urlsplit(page.url).hostname or "") if options["same_site"] else None
    wanted = UrlFilter(site, options["include"], options["exclude"])
    merged: dict[str, Link] = {}
    for url, text in listing.links:
        key = canonical_url(url)
        if not wanted(url):
            continue
        # A story linked twice (thumbnail, headline, with trackers or not) is fetched once,
        # from its first link, under its longest anchor text.
        first = merged.setdefault(key, Link(url, key, text))
        if len(text) > len(first.title):
            merged[key] = replace(first, title=text)
    links = list(merged.values())
    if not links:
        listing.warnings.append(f"no article links found on {page.url}; check link_selector")
    return links, listing.warnings


class HtmlAdapter:
    """A listing page whose article links are fetched and extracted (see the module docstring)."""

    def validate_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Check the options, filling in defaults; raise ValueError naming the bad one."""
        opt.reject_unknown("html", options, _OPTIONS)
        selector = opt.text(options, "link_selector", DEFAULT_SELECTOR)
        try:
            LexborHTMLParser("<p></p>").css(selector or DEFAULT_SELECTOR)
        except SelectolaxError:
            raise ValueError(f"link_selector is not a CSS selector: {selector!r}") from None
        return {
            "link_selector": selector,
            "same_site": opt.boolean(options, "same_site", True),
            "include": opt.pattern(options, "include"),
            "exclude": opt.pattern(options, "exclude"),
            "max_articles": opt.positive_int(options, "max_articles", 30),
            "item_kind": opt.item_kind(options),
        }

    def collect(self, fetcher: Fetcher, spec: SourceSpec, state: RunState) -> Collected:
        """Fetch the listing (conditionally) and the new articles it links to."""
        options = self.validate_options(spec.options)
        result = fetch_own_page(fetcher, spec, state)
        if result.not_modified:
            return Collected(items=[], validators=result.validators, not_modified=True)
        links, warnings = listing_links(result, options)
        batch = new_links(fetcher, links, state, options["max_articles"], warnings)
        items = batch.articles(spec, options["item_kind"])
        return Collected(items, warnings, result.validators, cursor=batch.cursor())
