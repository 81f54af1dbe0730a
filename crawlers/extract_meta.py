"""An article page's metadata: JSON-LD, OpenGraph and other <meta> tags, <html lang>, <time>."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

from selectolax.lexbor import LexborHTMLParser

from crawlers.text import clean_text

_ARTICLE_TYPES = frozenset(
    {
        "article",
        "newsarticle",
        "reportagenewsarticle",
        "analysisnewsarticle",
        "opinionnewsarticle",
        "blogposting",
        "socialmediaposting",
        "liveblogposting",
        "scholarlyarticle",
        "techarticle",
        "report",
    }
)
_MIN_YEAR, _MAX_YEAR = 1990, 2100
# 22/10/2025 19:25 or 22-10-2025, as Vietnamese sites write dates (day first).
_DAY_FIRST = re.compile(
    r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:\D{1,12}?(\d{1,2})[:hg](\d{2})(?::(\d{2}))?)?"
)
_TIME_FIRST = re.compile(r"(\d{1,2})[:h](\d{2})\D{1,12}?(\d{1,2})/(\d{1,2})/(\d{4})")
_LANGUAGE = re.compile(r"^[a-zA-Z]{2,3}(?:[-_][a-zA-Z0-9]{2,8})*$")
# Letters only Vietnamese writes (ơ ư đ ă and the tone-marked vowels of its alphabet).
_VIETNAMESE = re.compile(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.I)
_MAX_JSON_LD = 2_000_000
_DATE_KEYS = (
    "article:published_time",
    "og:published_time",
    "published_time",
    "datepublished",
    "pubdate",
    "publishdate",
    "publish-date",
    "article.published",
    "dc.date.issued",
    "dc.date",
    "dcterms.created",
    "date",
    "sailthru.date",
    "parsely-pub-date",
)
_AUTHOR_KEYS = ("author", "article:author", "dc.creator", "parsely-author", "sailthru.author")


@dataclass(slots=True)
class PageMeta:
    """What a page says about itself outside its text (all optional)."""

    title: str | None = None
    description: str | None = None
    published: datetime | None = None
    authors: list[str] = field(default_factory=list)
    language: str | None = None
    canonical_url: str | None = None
    site_name: str | None = None
    article_body: str | None = None


def _types(item: dict[str, Any]) -> set[str]:
    kind = item.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return {k.lower() for k in kinds if isinstance(k, str)}


def _walk_ld(data: Any, depth: int = 0) -> list[dict[str, Any]]:
    """The JSON-LD objects of an article type, searched through lists and @graph."""
    if depth > 6:
        return []
    if isinstance(data, list):
        return [found for item in data for found in _walk_ld(item, depth + 1)]
    if not isinstance(data, dict):
        return []
    found = [data] if _types(data) & _ARTICLE_TYPES else []
    for key in ("@graph", "mainEntity", "mainEntityOfPage"):
        if isinstance(data.get(key), list | dict):
            found.extend(_walk_ld(data[key], depth + 1))
    return found


def _names(value: Any) -> list[str]:
    """Person names from a JSON-LD author value (a string, a Person, or a list of them)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        if "organization" in _types(value):
            return []
        return _names(value.get("name"))
    if isinstance(value, list):
        return [name for item in value[:10] for name in _names(item)]
    return []


def _text(value: Any) -> str | None:
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, dict):
        value = value.get("@value") or value.get("name")
    return clean_text(value) or None if isinstance(value, str) else None


def json_ld(tree: LexborHTMLParser, warnings: list[str]) -> list[dict[str, Any]]:
    """The article objects of the page's JSON-LD scripts; unreadable scripts are warnings."""
    found: list[dict[str, Any]] = []
    for script in tree.css('script[type="application/ld+json"]'):
        raw = script.text(deep=True)
        if len(raw) > _MAX_JSON_LD:
            warnings.append("JSON-LD script too large; skipped")
            continue
        try:
            found.extend(_walk_ld(json.loads(raw, strict=False)))
        except (ValueError, RecursionError):
            warnings.append("JSON-LD script is not valid JSON; skipped")
    return found


def meta_tags(tree: LexborHTMLParser) -> dict[str, str]:
    """<meta> contents by lower-cased property/name/itemprop; the first of each wins."""
    tags: dict[str, str] = {}
    for node in tree.css("meta[content]"):
        attrs = node.attributes
        content = (attrs.get("content") or "").strip()
        for key in ("property", "name", "itemprop", "http-equiv"):
            name = (attrs.get(key) or "").strip().lower()
            if name and content and name not in tags:
                tags[name] = content
    return tags


def parse_date(raw: str | None, zone: ZoneInfo) -> datetime | None:
    """A date in ISO 8601, RFC 822 or day-first form as aware UTC; zoneless ones read in ``zone``."""
    if not raw or len(raw) > 100:
        return None
    raw = raw.strip()
    when = _iso_or_rfc(raw) or _day_first(raw)
    if when is None:
        return None
    try:
        if when.tzinfo is None:
            when = when.replace(tzinfo=zone)
        when = when.astimezone(UTC)
    except (OverflowError, ValueError):  # 0001-01-01 (ASP.NET's empty date) east of UTC
        return None
    return when if _MIN_YEAR <= when.year <= _MAX_YEAR else None


def _iso_or_rfc(raw: str) -> datetime | None:
    candidates = (raw, raw.replace(" ", "T", 1), raw[:19], raw[:10])
    for candidate in candidates:
        try:
            return datetime.fromisoformat(candidate.replace("Z", "+00:00"))
        except ValueError:
            continue
    try:
        return parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None


def _day_first(raw: str) -> datetime | None:
    if match := _TIME_FIRST.search(raw):
        hour, minute, day, month, year = match.groups()
        second = None
    elif match := _DAY_FIRST.search(raw):
        day, month, year, hour, minute, second = match.groups()
    else:
        return None
    try:
        return datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
        )
    except ValueError:
        return None


def _language(raw: str | None) -> str | None:
    """The primary subtag of a language tag or locale: vi-VN, vi_VN -> vi."""
    if not raw or not _LANGUAGE.match(raw.strip()):
        return None
    return raw.strip().replace("_", "-").split("-")[0].lower()


def guess_language(text: str) -> str | None:
    """A cheap guess: "vi" when Vietnamese-only letters are common in the text, else None."""
    sample = text[:5000]
    letters = sum(1 for char in sample if char.isalpha())
    return "vi" if letters and len(_VIETNAMESE.findall(sample)) * 20 >= letters else None


def page_meta(tree: LexborHTMLParser, zone: ZoneInfo, warnings: list[str]) -> PageMeta:
    """Collect the page's metadata, JSON-LD first, then <meta> tags, then the markup."""
    ld = json_ld(tree, warnings)
    tags = meta_tags(tree)
    meta = PageMeta()
    for item in ld:
        meta.title = meta.title or _text(item.get("headline")) or _text(item.get("name"))
        meta.description = meta.description or _text(item.get("description"))
        meta.published = meta.published or parse_date(_text(item.get("datePublished")), zone)
        meta.authors = meta.authors or _names(item.get("author"))
        meta.language = meta.language or _language(_text(item.get("inLanguage")))
        body = item.get("articleBody")
        if isinstance(body, str) and len(body) > len(meta.article_body or ""):
            meta.article_body = body
    meta.title = _title(tree, tags) or meta.title
    meta.description = meta.description or tags.get("og:description") or tags.get("description")
    meta.published = meta.published or _meta_date(tree, tags, zone)
    if not meta.authors:
        meta.authors = [tags[k] for k in _AUTHOR_KEYS if k in tags and "://" not in tags[k]][:1]
    meta.language = meta.language or _markup_language(tree, tags)
    meta.site_name = tags.get("og:site_name")
    canonical = tree.css_first('link[rel="canonical"][href]')
    meta.canonical_url = (
        canonical.attributes.get("href") if canonical is not None else tags.get("og:url")
    )
    meta.authors = [name for a in meta.authors if (name := clean_text(a))]
    return meta


def _title(tree: LexborHTMLParser, tags: dict[str, str]) -> str | None:
    for key in ("og:title", "twitter:title", "headline"):
        if tags.get(key):
            return clean_text(tags[key])
    h1 = tree.css_first("h1")
    if h1 is not None and (text := clean_text(h1.text())):
        return text
    title = tree.css_first("title")
    return clean_text(title.text()) or None if title is not None else None


def _meta_date(tree: LexborHTMLParser, tags: dict[str, str], zone: ZoneInfo) -> datetime | None:
    for key in _DATE_KEYS:
        if when := parse_date(tags.get(key), zone):
            return when
    for node in tree.css("time[datetime], [itemprop=datePublished]"):
        raw = node.attributes.get("datetime") or node.attributes.get("content") or node.text()
        if when := parse_date(raw, zone):
            return when
    return None


def _markup_language(tree: LexborHTMLParser, tags: dict[str, str]) -> str | None:
    html = tree.css_first("html")
    declared = html.attributes.get("lang") if html is not None else None
    return (
        _language(declared)
        or _language(tags.get("og:locale"))
        or _language(tags.get("content-language"))
        or _language(tags.get("language"))
    )
