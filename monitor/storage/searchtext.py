"""The text search indexes and the words of a query: both folded by one function.

``index_text`` is what ``items.search_text`` holds and both engines index (SQLite FTS5,
PostgreSQL ``to_tsvector('simple', ...)``); ``words`` cuts a user's query the same way, so
"nam dinh" and "Nam Định" are the same words on either side and on either engine.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from nlp.normalize import fold

# Longer texts are indexed up to here: a PostgreSQL tsvector must stay under 1 MB (a whole
# insert fails otherwise) and no news article comes near it (200k characters ~ 80 pages).
MAX_INDEXED = 200_000


class _WordTable(dict[int, str]):
    """A str.translate table: a letter or digit folds (nlp.normalize.fold), anything else is a space."""

    def __missing__(self, code: int) -> str:
        folded = fold(chr(code))
        mapped = folded if folded.isalnum() else " "
        self[code] = mapped
        return mapped


_WORDS = _WordTable()


def fold_words(text: str) -> str:
    """``text`` folded with every character that is not a letter or digit made a space.

    One character out for each character in, so a span found in the result is the same span of
    ``text``: snippets are cut from the stored text, never from the folded copy.
    """
    return text.translate(_WORDS)


def index_text(title: str, text: str) -> str:
    """What ``items.search_text`` holds for an item: its title and text as words, folded."""
    return fold_words(f"{title}\n{text}"[:MAX_INDEXED])


def words(query: str) -> list[str]:
    """The index words of a piece of user text (NFC first: a form may send decomposed marks)."""
    return fold_words(unicodedata.normalize("NFC", query)).split()


# --- the query syntax ---------------------------------------------------------------------------

MAX_QUERY = 1000  # characters of a query read; the rest is ignored
MAX_CLAUSES = 16  # words and phrases of a query used; the rest is ignored
MAX_PHRASE = 12  # words of one phrase kept
MIN_PREFIX = 2  # a shorter prefix ("a*") would match nearly everything: it is a plain word
_CHUNK = re.compile(r'(-?)"([^"]*)"?|(\S+)')


@dataclass(frozen=True, slots=True)
class Clause:
    """Words that must follow one another (one word: just that word) in an item, or must not.

    ``prefix``: the last word may be the start of a longer one ("chặn*" finds "chặn" and "chắn").
    """

    words: tuple[str, ...]
    prefix: bool = False
    negated: bool = False


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """A user's search text as clauses: all positive ones must match, no negated one may."""

    clauses: tuple[Clause, ...] = ()

    @property
    def positive(self) -> tuple[Clause, ...]:
        """The clauses an item must match."""
        return tuple(c for c in self.clauses if not c.negated)

    @property
    def negative(self) -> tuple[Clause, ...]:
        """The clauses an item must not match."""
        return tuple(c for c in self.clauses if c.negated)

    @property
    def contradictory(self) -> bool:
        """Whether a clause is both asked for and excluded ("tỉnh -tỉnh"): nothing can match."""
        excluded = {(c.words, c.prefix) for c in self.negative}
        return any((c.words, c.prefix) in excluded for c in self.positive)

    def __bool__(self) -> bool:
        return bool(self.clauses)


def parse(text: str) -> ParsedQuery:
    """Read search syntax: words, "quoted phrases", -exclusions and prefix* words.

    Never fails: what is not a letter or digit only separates words (a query of punctuation is
    empty, i.e. everything), an unclosed quote runs to the end, a word joined by punctuation
    ("Tân-Phong", "7,2%") is a phrase of its parts, a lone "-" or "*" is nothing.
    """
    clauses: list[Clause] = []
    for match in _CHUNK.finditer(text[:MAX_QUERY]):
        minus, quoted, bare = match.groups()
        if bare is not None:
            negated = bare.startswith("-") and len(bare) > 1
            raw = bare[1:] if negated else bare
            clause = _clause(raw, raw.endswith("*"), negated)
        else:
            clause = _clause(quoted, False, bool(minus))
        if clause is not None and clause not in clauses:
            clauses.append(clause)
    return ParsedQuery(tuple(clauses[:MAX_CLAUSES]))


def _clause(raw: str, prefix: bool, negated: bool) -> Clause | None:
    found = tuple(words(raw)[:MAX_PHRASE])
    if not found:
        return None
    return Clause(found, prefix and len(found[-1]) >= MIN_PREFIX, negated)


def clause_pattern(clause: Clause) -> re.Pattern[str]:
    """A regex finding the clause in folded text (words there are separated by spaces)."""
    *whole, last = (re.escape(w) for w in clause.words)
    tail = rf"{last}\S*" if clause.prefix else last
    return re.compile(r"(?<!\S)" + r"\s+".join([*whole, tail]) + r"(?!\S)")


# --- snippets -------------------------------------------------------------------------------------

SNIPPET_CHARS = 240  # about two lines of a results table
_LEAD = 60  # characters kept before the first match


def matched_spans(text: str, query: ParsedQuery) -> list[tuple[int, int]]:
    """Where the positive clauses match in ``text`` (a phrase is one span), in order.

    Found in the folded text, which has the same length: the spans are the stored text's.
    """
    folded = fold_words(text)
    hits = sorted(m.span() for c in query.positive for m in clause_pattern(c).finditer(folded))
    merged: list[tuple[int, int]] = []
    for a, b in hits:
        # Overlapping, or only spaces between: one mark ("Hải Hậu", not "Hải" and "Hậu").
        if merged and (a <= merged[-1][1] or text[merged[-1][1] : a].isspace()):
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def _segments(
    text: str, spans: list[tuple[int, int]], start: int, end: int
) -> list[tuple[str, bool]]:
    segments: list[tuple[str, bool]] = []
    at = start
    for a, b in spans:
        a, b = max(a, at), min(b, end)
        if a >= b:
            continue
        segments.append((text[at:a], False))
        segments.append((text[a:b], True))
        at = b
    segments.append((text[at:end], False))
    return [(piece, hit) for piece, hit in segments if piece]


def highlight(text: str, query: ParsedQuery) -> list[tuple[str, bool]]:
    """``text`` as plain segments, True where a searched word or phrase matched."""
    return _segments(text, matched_spans(text, query) if query else [], 0, len(text))


def snippet(text: str, query: ParsedQuery, size: int = SNIPPET_CHARS) -> list[tuple[str, bool]]:
    """About ``size`` characters of ``text`` around its first match, as highlight segments.

    Cut at spaces; "…" segments (never marked) say that text was left out.
    """
    text = text[:MAX_INDEXED]
    spans = matched_spans(text, query) if query else []
    start = _cut_before(text, spans[0][0] - _LEAD) if spans else 0
    end = len(text) if start + size >= len(text) else _cut_before(text, start + size, start)
    while end > start and end < len(text) and text[end - 1].isspace():
        end -= 1
    body = _segments(text, spans, start, end)
    if start > 0:
        body.insert(0, ("…", False))
    if end < len(text):
        body.append(("…", False))
    return body


def _cut_before(text: str, at: int, floor: int = 0) -> int:
    """The start of the whitespace-separated word at ``at`` (``at`` itself if none after floor)."""
    if at <= floor:
        return floor
    space = max(text.rfind(" ", floor, at + 1), text.rfind("\n", floor, at + 1))
    return space + 1 if space > floor else at


# --- facets ---------------------------------------------------------------------------------------

FACET_ALL = "zzall"  # every item
FACET_ANALYSED = "zzanalysed"  # every item with an analysis


def facet_token(field: str, value: str | bool) -> str:
    """The index token of one facet value: alnum only, never split by either engine's parser.

    The migration's triggers make the same tokens in SQL (hex of the value's UTF-8 bytes).
    """
    if field == "rel":
        return f"zzrel{int(bool(value))}"
    return f"zz{field}{str(value).encode('utf-8').hex()}"
