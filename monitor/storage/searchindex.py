"""The search index of each engine, behind one small interface.

SQLite: ``items_search``, a contentless FTS5 table (search_text, facets) whose rowid is the
item's date in whole seconds since 2000, shifted 32 bits left, or-ed with the item id (see
migration 0006): newest first is rowid order, a date range is a rowid range, and a search with
filters is one MATCH: no row of ``items`` is read until the page's hits are known.
PostgreSQL: ``items_search`` (item_id, dated_at, vector of words and facet tokens), a narrow
table with a GIN index on the vector and a btree on the date; ``PostgreSQLIndex`` says which
of the two it reads, and why.

Both take an ``IndexQuery`` (text clauses, facet tokens, a range of whole seconds) and give item
ids; a key (the rowid, or (dated_at, id)) lets a long export continue where a batch ended.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    and_,
    cast,
    column,
    func,
    literal,
    select,
    table,
    text,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import REGCONFIG, TSVECTOR
from sqlalchemy.orm import Session

from monitor.storage.searchtext import FACET_ALL, Clause, ParsedQuery

EPOCH_2000 = 946684800  # the SQLite index counts seconds from 2000-01-01 UTC
_LOW32 = 0xFFFFFFFF
Key = Any  # an int (SQLite rowid) or a (dated_at, id) pair (PostgreSQL)


@dataclass(frozen=True, slots=True)
class Facet:
    """Items with any of these facet tokens (or, negated, with none of them)."""

    tokens: tuple[str, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class IndexQuery:
    """A search as the index takes it: text clauses, facets and a range of whole seconds."""

    parsed: ParsedQuery
    facets: tuple[Facet, ...] = ()
    since: int | None = None  # POSIX seconds, inclusive
    until: int | None = None  # POSIX seconds, exclusive

    def where(self, *more: Facet) -> IndexQuery:
        """The same query with more facets."""
        return IndexQuery(self.parsed, (*self.facets, *more), self.since, self.until)


class SearchIndex(Protocol):
    """What search needs of an engine's index."""

    def count(self, session: Session, query: IndexQuery, cap: int) -> int:
        """Matching items, counted no further than ``cap``."""

    def ids(
        self,
        session: Session,
        query: IndexQuery,
        *,
        newest: bool,
        limit: int,
        offset: int = 0,
        after: Key | None = None,
        matches: int | None = None,
    ) -> list[tuple[Key, int]]:
        """(key, item id) of matches by date (then id), after ``after`` in that order.

        ``matches``: how many items match at most, when known (it may choose the plan).
        """

    def ranked(
        self,
        session: Session,
        query: IndexQuery,
        pool: int,
        limit: int,
        offset: int,
        matches: int | None = None,
    ) -> list[int]:
        """Item ids of the ``pool`` newest matches, most relevant first."""


def _string(words: str) -> str:
    """An FTS5 string: its words are letters and digits only, so nothing in it is syntax."""
    return f'"{words}"'


def _quoted(clause: Clause) -> str:
    return _string(" ".join(clause.words)) + ("*" if clause.prefix else "")


def _fts_or(items: Sequence[str]) -> str:
    return "(" + " OR ".join(items) + ")"


class SQLiteIndex:
    """FTS5 over folded words and facets; see the module docstring."""

    def expression(self, query: IndexQuery) -> str:
        """The query as one FTS5 MATCH expression; every word and token is a quoted string."""
        parsed = query.parsed
        positive = [
            f"facets : {_fts_or([_string(t) for t in f.tokens])}"
            for f in query.facets
            if not f.negated
        ]
        if parsed.positive:
            positive.insert(0, f"search_text : ({' '.join(_quoted(c) for c in parsed.positive)})")
        if not positive:
            positive = [f"facets : {_string(FACET_ALL)}"]
        negative = [f"search_text : {_quoted(c)}" for c in parsed.negative]
        negative += [f"facets : {_string(t)}" for f in query.facets if f.negated for t in f.tokens]
        expression = " AND ".join(positive)
        if negative:
            expression = f"({expression}) NOT {_fts_or(negative)}"
        return expression

    def _where(self, query: IndexQuery) -> tuple[str, dict[str, Any]]:
        sql = "items_search MATCH :match"
        params: dict[str, Any] = {"match": self.expression(query)}
        if query.since is not None:
            sql += " AND rowid >= :lo"
            params["lo"] = _key_seconds(query.since) << 32
        if query.until is not None:
            sql += " AND rowid < :hi"
            params["hi"] = _key_seconds(query.until) << 32
        return sql, params

    def count(self, session: Session, query: IndexQuery, cap: int) -> int:
        where, params = self._where(query)
        sql = f"SELECT count(*) FROM (SELECT rowid FROM items_search WHERE {where} LIMIT :cap)"
        return int(session.execute(text(sql), {**params, "cap": cap}).scalar_one())

    def ids(
        self,
        session: Session,
        query: IndexQuery,
        *,
        newest: bool,
        limit: int,
        offset: int = 0,
        after: Key | None = None,
        matches: int | None = None,
    ) -> list[tuple[Key, int]]:
        where, params = self._where(query)
        if after is not None:
            where += " AND rowid < :after" if newest else " AND rowid > :after"
            params["after"] = after
        sql = (
            f"SELECT rowid FROM items_search WHERE {where} "
            f"ORDER BY rowid {'DESC' if newest else 'ASC'} LIMIT :limit OFFSET :offset"
        )
        rows = session.execute(text(sql), {**params, "limit": limit, "offset": offset})
        return [(key, key & _LOW32) for (key,) in rows]

    def ranked(
        self,
        session: Session,
        query: IndexQuery,
        pool: int,
        limit: int,
        offset: int,
        matches: int | None = None,
    ) -> list[int]:
        where, params = self._where(query)
        # bm25 over the words only: the facets column weighs nothing.
        sql = (
            "SELECT key FROM (SELECT rowid AS key, bm25(items_search, 1.0, 0.0) AS score "
            f"FROM items_search WHERE {where} ORDER BY rowid DESC LIMIT :pool) "
            "ORDER BY score, key DESC LIMIT :limit OFFSET :offset"
        )
        params.update(pool=pool, limit=limit, offset=offset)
        return [key & _LOW32 for (key,) in session.execute(text(sql), params)]


def _key_seconds(posix: int) -> int:
    """Seconds since 2000 as the SQLite index keeps them (before 2000: 0; capped at 2068)."""
    return max(0, min(2**31 - 1, posix - EPOCH_2000))


def _ts_clause(clause: Clause) -> str:
    return "(" + " <-> ".join(clause.words) + (":*" if clause.prefix else "") + ")"


# PostgreSQL's index table (migration 0006), not in the models: it exists on that engine only.
_SEARCH = table(
    "items_search",
    column("item_id", Integer),
    column("dated_at", DateTime(timezone=True)),
    column("vector", TSVECTOR),
)


def _tsquery(expression: str) -> ColumnElement[Any]:
    return func.to_tsquery(cast("simple", REGCONFIG), expression)


class PostgreSQLIndex:
    """``items_search``: a GIN-indexed tsvector of words and facets, and the item's date.

    Newest first, the planner walks the date index and tests each row until it has the rows
    asked for: quick when matches are common, seconds when they are rare (each row's tsvector
    is read). It misjudges the middle (the test's cost, reading a tsvector, is not in its
    model), so when the matches (counted, or estimated by the planner) are fewer than
    FEW * sqrt(rows needed * items) they are read through the GIN index behind a fence (a
    materialised CTE, stopped at FEW_GUARD) and sorted: the cheaper way by either count.
    """

    # A match read through GIN costs about what a row tested on the date walk does; the factor
    # was tuned with python -m bench search at a million items.
    FEW = 1.2
    FEW_GUARD = 50_000  # the estimate was far off: walk the dates after all

    def expression(self, query: IndexQuery) -> str:
        """The query as to_tsquery text: words and tokens are letters and digits only."""
        parsed = query.parsed
        positive = [_ts_clause(c) for c in parsed.positive]
        positive += ["(" + " | ".join(f.tokens) + ")" for f in query.facets if not f.negated]
        if not positive:
            positive = [FACET_ALL]
        negative = [_ts_clause(c) for c in parsed.negative]
        negative += [t for f in query.facets if f.negated for t in f.tokens]
        if negative:
            positive.append("!(" + " | ".join(negative) + ")")
        return " & ".join(positive)

    def _where(self, query: IndexQuery) -> ColumnElement[bool]:
        conditions: list[ColumnElement[bool]] = [
            _SEARCH.c.vector.op("@@")(_tsquery(self.expression(query)))
        ]
        if query.since is not None:
            conditions.append(_SEARCH.c.dated_at >= _utc(query.since))
        if query.until is not None:
            conditions.append(_SEARCH.c.dated_at < _utc(query.until))
        return and_(*conditions)

    def count(self, session: Session, query: IndexQuery, cap: int) -> int:
        inner = select(_SEARCH.c.item_id).where(self._where(query)).limit(cap).subquery()
        return int(session.execute(select(func.count()).select_from(inner)).scalar_one())

    def estimate(self, session: Session, query: IndexQuery) -> float:
        """The planner's estimate of the matches (from EXPLAIN: nothing is read)."""
        stmt = select(literal(1)).select_from(_SEARCH).where(self._where(query))
        compiled = stmt.compile(dialect=session.get_bind().dialect)
        connection = session.connection()
        plan = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params)
        return float(plan.scalar_one()[0]["Plan"]["Plan Rows"])

    def _few(self, session: Session, query: IndexQuery, matches: int | None, needed: int) -> bool:
        """Whether reading every match beats walking the dates for ``needed`` rows."""
        items = session.execute(
            text("SELECT reltuples FROM pg_class WHERE oid = 'items_search'::regclass")
        ).scalar_one()
        threshold = self.FEW * math.sqrt(needed * max(float(items), 1.0))
        if matches is not None:
            return matches <= threshold
        return self.estimate(session, query) <= threshold

    def _fenced(self, query: IndexQuery) -> Any:
        return (
            select(_SEARCH.c.dated_at, _SEARCH.c.item_id.label("id"))
            .where(self._where(query))
            .limit(self.FEW_GUARD)
            .cte("matches")
            .prefix_with("MATERIALIZED")
        )

    def ids(
        self,
        session: Session,
        query: IndexQuery,
        *,
        newest: bool,
        limit: int,
        offset: int = 0,
        after: Key | None = None,
        matches: int | None = None,
    ) -> list[tuple[Key, int]]:
        if self._few(session, query, matches, offset + limit):
            found = self._ids_fenced(session, query, newest, limit, offset, after)
            if found is not None:
                return found
        stmt = select(_SEARCH.c.dated_at, _SEARCH.c.item_id).where(self._where(query))
        when, item = _SEARCH.c.dated_at, _SEARCH.c.item_id
        return self._page(session, stmt, when, item, newest, limit, offset, after)

    def _ids_fenced(
        self,
        session: Session,
        query: IndexQuery,
        newest: bool,
        limit: int,
        offset: int,
        after: Key | None,
    ) -> list[tuple[Key, int]] | None:
        """The page from the fenced matches; None when the fence stopped them (not few)."""
        fenced = self._fenced(query)
        stmt = select(fenced.c.dated_at, fenced.c.id)
        if after is not None:
            key = tuple_(fenced.c.dated_at, fenced.c.id)
            stmt = stmt.where(key < tuple_(*after) if newest else key > tuple_(*after))
        page = stmt.order_by(*_order(fenced.c, newest)).limit(limit).offset(offset).subquery()
        rows = self._with_size(session, fenced, page, _order(page.c, newest))
        if rows is None:
            return None
        return [((when, item_id), item_id) for when, item_id in rows]

    def _with_size(
        self, session: Session, fenced: Any, page: Any, order: Sequence[Any]
    ) -> list[tuple[Any, Any]] | None:
        """The page's (dated_at, id) rows; None if the fence stopped the matches."""
        size = select(func.count().label("size")).select_from(fenced).subquery()
        stmt = (
            select(size.c.size, page.c.dated_at, page.c.id)
            .select_from(size.outerjoin(page, true()))
            .order_by(*order)
        )
        rows = list(session.execute(stmt))
        if rows[0][0] >= self.FEW_GUARD:
            return None
        return [(when, item_id) for _, when, item_id in rows if item_id is not None]

    def _rows(
        self,
        session: Session,
        stmt: Any,
        when: Any,
        item: Any,
        newest: bool,
        limit: int,
        offset: int,
        after: Key | None,
    ) -> list[Any]:
        if after is not None:
            key = tuple_(when, item)
            stmt = stmt.where(key < tuple_(*after) if newest else key > tuple_(*after))
        order = (when.desc(), item.desc()) if newest else (when.asc(), item.asc())
        return list(session.execute(stmt.order_by(*order).limit(limit).offset(offset)))

    def _page(
        self,
        session: Session,
        stmt: Any,
        when: Any,
        item: Any,
        newest: bool,
        limit: int,
        offset: int,
        after: Key | None,
    ) -> list[tuple[Key, int]]:
        rows = self._rows(session, stmt, when, item, newest, limit, offset, after)
        return [((w, i), i) for w, i in rows]

    def ranked(
        self,
        session: Session,
        query: IndexQuery,
        pool: int,
        limit: int,
        offset: int,
        matches: int | None = None,
    ) -> list[int]:
        words = _tsquery(self.expression(IndexQuery(ParsedQuery(query.parsed.positive))))
        if self._few(session, query, matches, pool):
            fenced = self._fenced(query)
            pool_rows = (
                select(fenced.c.dated_at, fenced.c.id)
                .order_by(*_order(fenced.c, True))
                .limit(pool)
                .subquery()
            )
            scored = (
                select(
                    pool_rows.c.dated_at,
                    pool_rows.c.id,
                    func.ts_rank(_SEARCH.c.vector, words).label("score"),
                )
                .join(_SEARCH, _SEARCH.c.item_id == pool_rows.c.id)
                .subquery()
            )
            page = (
                select(scored.c.dated_at, scored.c.id, scored.c.score)
                .order_by(scored.c.score.desc(), *_order(scored.c, True))
                .limit(limit)
                .offset(offset)
                .subquery()
            )
            rows = self._with_size(
                session, fenced, page, (page.c.score.desc(), *_order(page.c, True))
            )
            if rows is not None:
                return [item_id for _, item_id in rows]
        candidates = (
            select(
                _SEARCH.c.dated_at,
                _SEARCH.c.item_id.label("id"),
                func.ts_rank(_SEARCH.c.vector, words).label("score"),
            )
            .where(self._where(query))
            .order_by(_SEARCH.c.dated_at.desc(), _SEARCH.c.item_id.desc())
            .limit(pool)
            .subquery()
        )
        ranked = (
            select(candidates.c.id)
            .order_by(
                candidates.c.score.desc(), candidates.c.dated_at.desc(), candidates.c.id.desc()
            )
            .limit(limit)
            .offset(offset)
        )
        return list(session.scalars(ranked))


def _order(columns: Any, newest: bool) -> tuple[Any, Any]:
    """By date then id, newest or oldest first."""
    if newest:
        return columns.dated_at.desc(), columns.id.desc()
    return columns.dated_at.asc(), columns.id.asc()


def _utc(posix: int) -> datetime:
    return datetime.fromtimestamp(posix, UTC)


def index_for(session: Session) -> SearchIndex:
    """The index of the engine the session is bound to."""
    name = session.get_bind().dialect.name
    if name == "sqlite":
        return SQLiteIndex()
    if name == "postgresql":
        return PostgreSQLIndex()
    raise ValueError(f"search supports SQLite and PostgreSQL, not {name}")


# The search index's own schema objects: each exists on one engine only (an FTS5 table and its
# shadow tables, or a table with its indexes), so they are not in the models, and autogenerate
# (alembic/env.py, and the test that compares migrations with models) must leave them alone.
INDEX_TABLE = "items_search"


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic's include_object hook: False for the search index's engine-specific tables."""
    if type_ == "table" and name is not None:
        return name != INDEX_TABLE and not name.startswith(f"{INDEX_TABLE}_")
    return True
