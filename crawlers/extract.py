"""Article pages: bytes and URL -> title, main text, published time, author, language.

A pure function of its input, like the feed parser: a page that cannot be read (empty, binary,
absurdly nested) gives an Article with warnings, never an exception.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from selectolax.lexbor import LexborHTMLParser

from crawlers.encoding import decode_html
from crawlers.extract_body import main_text
from crawlers.extract_meta import PageMeta, guess_language, page_meta
from crawlers.text import clean_text

logger = logging.getLogger(__name__)

# A byline closing a Vietnamese article: "Lê Phương", "Minh Anh - Hoàng Nam", "TRẦN VĂN A".
_BYLINE = re.compile(r"^[^\W\d_][^\W\d_.'’]*(?:[ -]{1,3}[^\W\d_][^\W\d_.'’]*){0,5}$")
_MAX_BYLINE = 40
_DATE = re.compile(r"\b(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}-\d\d-\d\d)\b")
_NOT_WORDS = re.compile(r"[\d\W_]+")
_MAX_DATELINE = 60
# JSON-LD articleBody is the publisher's own statement of the text: used when it is long and
# mostly agrees with what the markup gave (some sites put only a teaser or stale text there).
_MIN_LD_BODY = 500
_LD_AGREEMENT = 0.6
_MAX_BYTES = 20_000_000
# Real pages nest a few dozen levels deep; lexbor takes seconds past ~20,000 levels.
_MANY_TAGS = 8_000
_MAX_DEPTH = 1_000
_TAG = re.compile(r"<(/?)([a-zA-Z][\w:-]*)[^>]*>")
_VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    ]
)


@dataclass(frozen=True, slots=True)
class Article:
    """What an article page holds, as plain clean text; warnings say what could not be read."""

    title: str
    text: str
    published: datetime | None = None
    author: str | None = None
    language: str | None = None
    warnings: list[str] = field(default_factory=list)
    description: str | None = None
    canonical_url: str | None = None
    encoding: str | None = None


def _zone(name: str, warnings: list[str]) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        warnings.append(f"unknown timezone {name!r}; dates without a zone read as UTC")
        return ZoneInfo("UTC")


def extract_article(
    content: bytes, url: str, content_type: str | None = None, *, timezone: str = "UTC"
) -> Article:
    """Extract the article of a page from its bytes; dates without a zone are read in ``timezone``."""
    warnings: list[str] = []
    zone = _zone(timezone, warnings)
    if len(content) > _MAX_BYTES:
        warnings.append(f"page of {len(content):,} bytes cut to {_MAX_BYTES:,}")
        content = content[:_MAX_BYTES]
    markup, encoding, decode_warnings = decode_html(content, content_type)
    warnings.extend(decode_warnings)
    if not markup.strip():
        return Article(title="", text="", warnings=[*warnings, "empty page"], encoding=encoding)
    if markup.count("\ufffd") > len(markup) // 10 or "\x00" in markup[:1000]:
        return Article(title="", text="", warnings=[*warnings, "not HTML: binary bytes"])
    if markup.count("<") > _MANY_TAGS:
        markup = _flatten(markup, warnings)
    try:
        return _extract(markup, url, zone, encoding, warnings)
    except (RecursionError, MemoryError, ValueError) as exc:
        logger.debug("extraction failed for %s: %r", url, exc)
        return Article(title="", text="", warnings=[*warnings, f"unreadable page: {exc!r}"])


def _flatten(markup: str, warnings: list[str]) -> str:
    """Drop the tags nested deeper than any real page nests (the parser is quadratic in depth)."""
    depth, kept, start, dropped = 0, [], 0, 0
    for tag in _TAG.finditer(markup):
        if tag[2].lower() in _VOID or tag[0].endswith("/>"):
            continue
        depth += -1 if tag[1] else 1
        if depth > _MAX_DEPTH or tag[1] and depth >= _MAX_DEPTH:
            kept.append(markup[start : tag.start()])
            start, dropped = tag.end(), dropped + 1
    if not dropped:
        return markup
    warnings.append(f"{dropped:,} tags nested deeper than {_MAX_DEPTH} dropped")
    return "".join(kept) + markup[start:]


def _extract(markup: str, url: str, zone: ZoneInfo, encoding: str, warnings: list[str]) -> Article:
    tree = LexborHTMLParser(markup)
    meta = page_meta(tree, zone, warnings)
    text = main_text(tree)
    text = _prefer_ld_body(text, meta.article_body)
    text = _drop_datelines(text)
    text, byline = _split_byline(text)
    if not text:
        warnings.append("no article text found")
    author = _author(meta, byline, url)
    canonical = urljoin(url, meta.canonical_url) if meta.canonical_url else None
    return Article(
        title=meta.title or "",
        text=text,
        published=meta.published,
        author=author,
        language=meta.language or guess_language(text),
        warnings=warnings,
        description=clean_text(meta.description or "") or None,
        canonical_url=canonical,
        encoding=encoding,
    )


def _tokens(text: str) -> Counter[str]:
    return Counter(text.split())


def _prefer_ld_body(text: str, ld_body: str | None) -> str:
    """The JSON-LD articleBody instead of the markup's text, when it is long and agrees."""
    body = clean_text(ld_body or "")
    if len(body) < _MIN_LD_BODY or "<" in body[:200]:
        return text
    ours, theirs = _tokens(text), _tokens(body)
    shared = sum((ours & theirs).values())
    if not text or shared >= _LD_AGREEMENT * sum(theirs.values()):
        return body if len(body) >= len(text) * 0.8 else text
    return text


def _is_dateline(line: str) -> bool:
    if len(line) > _MAX_DATELINE or not _DATE.search(line):
        return False
    return len(_NOT_WORDS.sub(" ", line).split()) <= 4


def _drop_datelines(text: str) -> str:
    """Take the date stamps ("Thứ tư, 22/10/2025, 19:25 (GMT+7)") off the start and end."""
    lines = text.split("\n")
    ends = {*range(min(3, len(lines))), *range(max(0, len(lines) - 3), len(lines))}
    return "\n".join(
        line for n, line in enumerate(lines) if n not in ends or not _is_dateline(line)
    )


def _split_byline(text: str) -> tuple[str, str | None]:
    """Take a closing byline line (a short name, no punctuation) off the text."""
    head, _, last = text.rpartition("\n")
    if not head or len(last) > _MAX_BYLINE or not _BYLINE.match(last):
        return text, None
    words = last.replace("-", " ").split()
    if len(words) < 2 or not all(w[0].isupper() for w in words):
        return text, None
    return head, last


def _host_words(url: str, meta: PageMeta) -> set[str]:
    host = urlsplit(url).hostname or ""
    words = {part for part in re.split(r"[^a-z0-9]+", host.lower()) if len(part) > 3}
    if meta.site_name:
        words.add(re.sub(r"\W+", "", meta.site_name.lower()))
    return words


def _author(meta: PageMeta, byline: str | None, url: str) -> str | None:
    """The article's author; the publication's own name (meta author "VnExpress") is not one."""
    site = _host_words(url, meta)
    for name in meta.authors:
        squashed = re.sub(r"\W+", "", name.lower())
        if not any(word in squashed or squashed in word for word in site if squashed):
            return name
    return byline
