"""Search over all history: one query function over SQLite FTS5 and PostgreSQL full text.

``search(session, SearchQuery(...))`` gives one page of hits and a total; ``iter_search``
streams every hit for a CSV export. The user's text is read by ``searchtext.parse`` (words,
"phrases", -exclusions, prefix*), and the index and the query are both folded by
``searchtext.fold_words``: "nam dinh" finds "Nam Định" and the reverse, on either engine.
Filters are facet tokens in the same index (``searchindex``), so words and filters are one
lookup. Dates are the item's ``dated_at``: when it was published, else when it was collected,
in whole seconds (``since`` inclusive, ``until`` exclusive).

Orders: newest/oldest by date, then id (on SQLite, items of the same second by id alone);
severity, most severe first, then newest; relevance, the RELEVANCE_POOL newest matches most
relevant first, then the older matches newest first (ranking every match of a common word
reads every match: hundreds of milliseconds at a million items).

Totals are counted up to COUNT_CAP, then shown as "more than": at a million items, counting
ten thousand matches of a common word took 0.4-0.9 s on PostgreSQL (each match is a row
read), a thousand 10-60 ms. ``has_next`` says whether the next page has hits.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.storage.models import Analysis, Item
from monitor.storage.searchindex import Facet, IndexQuery, Key, SearchIndex, index_for
from monitor.storage.searchtext import (
    FACET_ANALYSED,
    ParsedQuery,
    facet_token,
    highlight,
    parse,
    snippet,
)
from nlp.base import SEVERITIES

SORTS = ("newest", "oldest", "relevance", "severity")
PER_PAGE = 50
MAX_PER_PAGE = 200
COUNT_CAP = 1_000  # totals above this are shown as "more than 1,000" (see the module docstring)
RELEVANCE_POOL = 200  # by relevance: the newest this many matches, most relevant first
_BATCH = 500
Segments = list[tuple[str, bool]]


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What a person searches for: text in the search syntax and filters, sort and page.

    ``since`` is inclusive and ``until`` exclusive, both on the item's date (published, else
    collected). ``severity`` is one level exactly, ``min_severity`` that level or above.
    ``place`` is a place's official name as the analyser gives it ("Huyện Hải Hậu").
    ``sources`` limits the search to these source ids (a user's department); None is every one.
    """

    text: str = ""
    since: datetime | None = None
    until: datetime | None = None
    topic: str | None = None
    sentiment: str | None = None
    severity: str | None = None
    min_severity: str | None = None
    source_id: str | None = None
    kind: str | None = None
    place: str | None = None
    relevant: bool | None = None
    sources: tuple[str, ...] | None = None
    sort: str = "newest"
    page: int = 1
    per_page: int = PER_PAGE

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {self.sort!r}")
        if not 1 <= self.per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be 1 to {MAX_PER_PAGE}, not {self.per_page}")
        if self.page < 1:
            raise ValueError(f"page must be at least 1, not {self.page}")
        for name in ("severity", "min_severity"):
            value = getattr(self, name)
            if value is not None and value not in SEVERITIES:
                raise ValueError(f"{name} must be one of {', '.join(SEVERITIES)}, not {value!r}")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} must be an aware datetime")


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One item found: what a results table shows, and where the query matched.

    ``snippet`` and ``title_segments`` are plain text cut from the stored title and text,
    paired with True where a searched word matched: escape every segment, mark the True ones.
    """

    item_id: int
    title: str
    url: str
    source_id: str
    kind: str
    published_at: datetime | None
    fetched_at: datetime
    story_id: int | None
    relevant: bool | None
    topic: str | None
    sentiment: str | None
    severity: str | None
    places: list[str] = field(default_factory=list)
    snippet: Segments = field(default_factory=list)
    title_segments: Segments = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of hits; ``total`` is exact unless ``total_capped`` (then: more than it)."""

    hits: list[SearchHit]
    total: int
    total_capped: bool
    page: int
    per_page: int
    has_next: bool = False

    @property
    def pages(self) -> int:
        """Pages the total makes (at least 1)."""
        return max(1, math.ceil(self.total / self.per_page))


def backend_of(session: Session) -> str:
    """'sqlite' or 'postgresql': the engine the session is bound to (ValueError for others)."""
    name = session.get_bind().dialect.name
    if name not in ("sqlite", "postgresql"):
        raise ValueError(f"search supports SQLite and PostgreSQL, not {name}")
    return name


# --- what the index is asked ----------------------------------------------------------------------


def _any(field: str, values: Iterable[str | bool]) -> Facet:
    return Facet(tuple(facet_token(field, v) for v in values))


def facets_of(q: SearchQuery) -> tuple[Facet, ...] | None:
    """The facets of the query's filters; None when they exclude everything."""
    found: list[Facet] = []
    if q.sources is not None:
        if not q.sources:
            return None
        found.append(_any("src", q.sources))
    for name, value in (
        ("src", q.source_id),
        ("kind", q.kind),
        ("topic", q.topic),
        ("sent", q.sentiment),
        ("sev", q.severity),
        ("place", q.place),
    ):
        if value:
            found.append(_any(name, [value]))
    if q.min_severity:
        found.append(_any("sev", SEVERITIES[SEVERITIES.index(q.min_severity) :]))
    if q.relevant is not None:
        found.append(Facet((facet_token("rel", True),), negated=not q.relevant))
    return tuple(found)


def _seconds(when: datetime | None) -> int | None:
    return None if when is None else math.floor(when.timestamp())


def index_query(q: SearchQuery) -> IndexQuery | None:
    """What to ask the index for a search; None when nothing can match."""
    facets = facets_of(q)
    if facets is None:
        return None
    return IndexQuery(parse(q.text), facets, _seconds(q.since), _seconds(q.until))


# --- the search -----------------------------------------------------------------------------------


def search(session: Session, query: SearchQuery) -> SearchPage:
    """One page of the items matching the query, and how many match (up to COUNT_CAP)."""
    asked = index_query(query)
    if asked is None or asked.parsed.contradictory:
        return SearchPage([], 0, False, query.page, query.per_page)
    index = index_for(session)
    counted = index.count(session, asked, COUNT_CAP + 1)
    matches = counted if counted <= COUNT_CAP else None
    offset = (query.page - 1) * query.per_page
    ids = _page_ids(session, index, asked, query.sort, offset, query.per_page + 1, matches)
    hits = hydrate(session, ids[: query.per_page], asked.parsed)
    return SearchPage(
        hits,
        min(counted, COUNT_CAP),
        counted > COUNT_CAP,
        query.page,
        query.per_page,
        has_next=len(ids) > query.per_page,
    )


def _page_ids(
    session: Session,
    index: SearchIndex,
    asked: IndexQuery,
    sort: str,
    offset: int,
    limit: int,
    matches: int | None,
) -> list[int]:
    if sort == "relevance" and asked.parsed.positive:
        return _by_relevance(session, index, asked, offset, limit, matches)
    if sort == "severity":
        return _by_severity(session, index, asked, offset, limit, matches)
    newest = sort != "oldest"
    rows = index.ids(session, asked, newest=newest, limit=limit, offset=offset, matches=matches)
    return [i for _, i in rows]


def _pool_end(
    session: Session, index: SearchIndex, asked: IndexQuery, matches: int | None
) -> Key | None:
    """The key of the oldest match in the relevance pool; None if every match is in it."""
    last = index.ids(
        session, asked, newest=True, limit=1, offset=RELEVANCE_POOL - 1, matches=matches
    )
    return last[0][0] if last else None


def _by_relevance(
    session: Session,
    index: SearchIndex,
    asked: IndexQuery,
    offset: int,
    limit: int,
    matches: int | None,
) -> list[int]:
    """The pool most relevant first; past it, the older matches newest first."""
    found = []
    if offset < RELEVANCE_POOL:
        found = index.ranked(session, asked, RELEVANCE_POOL, limit, offset, matches)
    if len(found) == limit or (matches is not None and matches <= RELEVANCE_POOL):
        return found
    end = _pool_end(session, index, asked, matches)
    if end is None:
        return found
    rest = index.ids(
        session,
        asked,
        newest=True,
        limit=limit - len(found),
        offset=max(0, offset - RELEVANCE_POOL),
        after=end,
        matches=matches,
    )
    return found + [i for _, i in rest]


def _levels() -> list[tuple[Facet, ...]]:
    """The severity levels in order, each as the facets that select it."""
    known = [(Facet((facet_token("sev", s),)),) for s in reversed(SEVERITIES)]
    tokens = tuple(f[0].tokens[0] for f in known)
    # Analysed with a severity outside the ladder, then not analysed: both rank below "none".
    other = (Facet((FACET_ANALYSED,)), Facet(tokens, negated=True))
    unanalysed = (Facet((FACET_ANALYSED,), negated=True),)
    return [*known, other, unanalysed]


def _by_severity(
    session: Session,
    index: SearchIndex,
    asked: IndexQuery,
    offset: int,
    limit: int,
    matches: int | None,
) -> list[int]:
    """Most severe first, newest first within a severity: one level after another."""
    found: list[int] = []
    for level in _levels():
        if len(found) >= limit:
            break
        at_level = asked.where(*level)
        if offset:
            here = index.count(session, at_level, offset + 1)
            if here <= offset:
                offset -= here
                continue
        rows = index.ids(
            session,
            at_level,
            newest=True,
            limit=limit - len(found),
            offset=offset,
            matches=matches,
        )
        found += [i for _, i in rows]
        offset = 0
    return found


def iter_search(session: Session, query: SearchQuery, limit: int = 50_000) -> Iterator[SearchHit]:
    """Every hit of the query in its order (page and per_page ignored), at most ``limit``.

    Streams in batches; hits carry no snippets (for a CSV export). By relevance, the order is
    the one ``search`` gives: the RELEVANCE_POOL newest matches most relevant first, then the
    older ones newest first.
    """
    asked = index_query(query)
    if asked is None or asked.parsed.contradictory or limit < 1:
        return
    index = index_for(session)
    counted = index.count(session, asked, COUNT_CAP + 1)
    matches = counted if counted <= COUNT_CAP else None
    for ids in _batches(session, index, asked, query.sort, limit, matches):
        yield from hydrate(session, ids, asked.parsed, snippets=False)


def _batches(
    session: Session,
    index: SearchIndex,
    asked: IndexQuery,
    sort: str,
    limit: int,
    matches: int | None,
) -> Iterator[list[int]]:
    if sort == "relevance" and asked.parsed.positive:
        ranked = index.ranked(session, asked, RELEVANCE_POOL, limit, 0, matches)
        for start in range(0, len(ranked), _BATCH):
            yield ranked[start : start + _BATCH]
        end = _pool_end(session, index, asked, matches) if len(ranked) < limit else None
        if end is not None:
            yield from _keyset(session, index, asked, True, limit - len(ranked), matches, end)
        return
    levels = _levels() if sort == "severity" else [()]
    left = limit
    for level in levels:
        at_level = asked.where(*level)
        for ids in _keyset(session, index, at_level, sort != "oldest", left, matches):
            left -= len(ids)
            yield ids
        if left <= 0:
            return


def _keyset(
    session: Session,
    index: SearchIndex,
    asked: IndexQuery,
    newest: bool,
    limit: int,
    matches: int | None,
    after: Key | None = None,
) -> Iterator[list[int]]:
    """Matches in date order, a batch at a time, each batch continuing after the last key."""
    while limit > 0:
        size = min(_BATCH, limit)
        rows = index.ids(session, asked, newest=newest, limit=size, after=after, matches=matches)
        if not rows:
            return
        yield [i for _, i in rows]
        limit -= len(rows)
        after = rows[-1][0]


_HIT_COLUMNS = (
    Item.id,
    Item.title,
    Item.url,
    Item.source_id,
    Item.kind,
    Item.published_at,
    Item.fetched_at,
    Item.story_id,
    Analysis.relevant,
    Analysis.topic,
    Analysis.sentiment,
    Analysis.severity,
    Analysis.places,
)


def hydrate(
    session: Session, ids: list[int], parsed: ParsedQuery, snippets: bool = True
) -> list[SearchHit]:
    """The items of these ids as hits, in this order (ids of items since deleted are skipped)."""
    if not ids:
        return []
    columns = (*_HIT_COLUMNS, Item.text) if snippets else _HIT_COLUMNS
    stmt = select(*columns).outerjoin(Analysis, Analysis.item_id == Item.id).where(Item.id.in_(ids))
    rows = {row.id: row for row in session.execute(stmt)}
    return [_hit(rows[i], parsed, snippets) for i in ids if i in rows]


def _place_names(places: Any) -> list[str]:
    names = (p.get("name") for p in places or () if isinstance(p, dict))
    return list(dict.fromkeys(str(n) for n in names if n))


def _hit(row: Any, parsed: ParsedQuery, snippets: bool) -> SearchHit:
    return SearchHit(
        item_id=row.id,
        title=row.title,
        url=row.url,
        source_id=row.source_id,
        kind=row.kind,
        published_at=row.published_at,
        fetched_at=row.fetched_at,
        story_id=row.story_id,
        relevant=row.relevant,
        topic=row.topic,
        sentiment=row.sentiment,
        severity=row.severity,
        places=_place_names(row.places),
        snippet=snippet(row.text, parsed) if snippets else [],
        title_segments=highlight(row.title, parsed) if snippets else [],
    )
