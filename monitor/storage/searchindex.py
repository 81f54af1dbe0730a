"""The search index of each engine, behind one small interface.

SQLite: ``items_search``, a contentless FTS5 table (search_text, facets) whose rowid is the
item's date in whole seconds since 2000, shifted 32 bits left, or-ed with the item id (see
migration 0006): newest first is rowid order, a date range is a rowid range, and a search with
filters is one MATCH: no row of ``items`` is read until the page's hits are known.
PostgreSQL: ``items.search_vector`` (words and facet tokens) with a GIN index, dates from
``items.dated_at`` and its index; the planner chooses between them.

Both take an ``IndexQuery`` (text clauses, facet tokens, a range of whole seconds) and give item
ids; a key (the rowid, or (dated_at, id)) lets a long export continue where a batch ended.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Select, and_, cast, func, literal_column, select, text, tuple_
from sqlalchemy.dialects.postgresql import REGCONFIG
from sqlalchemy.orm import Session

from monitor.storage.models import Item
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
    ) -> list[tuple[Key, int]]:
        """(key, item id) of matches by date (then id), after ``after`` in that order."""

    def ranked(
        self, session: Session, query: IndexQuery, pool: int, limit: int, offset: int
    ) -> list[int]:
        """Item ids of the ``pool`` newest matches, most relevant first."""


def _quoted(clause: Clause) -> str:
    return f'"{" ".join(clause.words)}"{"*" if clause.prefix else ""}'


def _fts_or(items: Sequence[str]) -> str:
    return "(" + " OR ".join(items) + ")"


class SQLiteIndex:
    """FTS5 over folded words and facets; see the module docstring."""

    def expression(self, query: IndexQuery) -> str:
        """The query as one FTS5 MATCH expression; every word and token is a quoted string."""
        parsed = query.parsed
        positive = [
            f"facets : {_fts_or([f'{chr(34)}{t}{chr(34)}' for t in f.tokens])}"
            for f in query.facets
            if not f.negated
        ]
        if parsed.positive:
            positive.insert(0, f"search_text : ({' '.join(_quoted(c) for c in parsed.positive)})")
        if not positive:
            positive = [f'facets : "{FACET_ALL}"']
        negative = [f"search_text : {_quoted(c)}" for c in parsed.negative]
        negative += [f'facets : "{t}"' for f in query.facets if f.negated for t in f.tokens]
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
        self, session: Session, query: IndexQuery, pool: int, limit: int, offset: int
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


_VECTOR: ColumnElement[Any] = literal_column("items.search_vector")


def _tsquery(expression: str) -> ColumnElement[Any]:
    return func.to_tsquery(cast("simple", REGCONFIG), expression)


class PostgreSQLIndex:
    """A GIN-indexed tsvector of words and facets, dates from ``items.dated_at``."""

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
        conditions: list[ColumnElement[bool]] = [_VECTOR.op("@@")(_tsquery(self.expression(query)))]
        if query.since is not None:
            conditions.append(Item.dated_at >= _utc(query.since))
        if query.until is not None:
            conditions.append(Item.dated_at < _utc(query.until))
        return and_(*conditions)

    def count(self, session: Session, query: IndexQuery, cap: int) -> int:
        inner = select(Item.id).where(self._where(query)).limit(cap).subquery()
        return int(session.execute(select(func.count()).select_from(inner)).scalar_one())

    def _ordered(self, query: IndexQuery, newest: bool) -> Select[datetime, int]:
        stmt = select(Item.dated_at, Item.id).where(self._where(query))
        if newest:
            return stmt.order_by(Item.dated_at.desc(), Item.id.desc())
        return stmt.order_by(Item.dated_at.asc(), Item.id.asc())

    def ids(
        self,
        session: Session,
        query: IndexQuery,
        *,
        newest: bool,
        limit: int,
        offset: int = 0,
        after: Key | None = None,
    ) -> list[tuple[Key, int]]:
        stmt = self._ordered(query, newest)
        if after is not None:
            key = tuple_(Item.dated_at, Item.id)
            stmt = stmt.where(key < tuple_(*after) if newest else key > tuple_(*after))
        rows = session.execute(stmt.limit(limit).offset(offset))
        return [((when, item_id), item_id) for when, item_id in rows]

    def ranked(
        self, session: Session, query: IndexQuery, pool: int, limit: int, offset: int
    ) -> list[int]:
        words = self.expression(IndexQuery(ParsedQuery(query.parsed.positive)))
        candidates = (
            self._ordered(query, newest=True)
            .add_columns(func.ts_rank(_VECTOR, _tsquery(words)).label("score"))
            .limit(pool)
            .subquery()
        )
        stmt = (
            select(candidates.c.id)
            .order_by(
                candidates.c.score.desc(), candidates.c.dated_at.desc(), candidates.c.id.desc()
            )
            .limit(limit)
            .offset(offset)
        )
        return list(session.scalars(stmt))


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


# The search index's own schema objects: each exists on one engine only, so they are not in the
# models, and autogenerate (alembic/env.py, and the test that compares migrations with models)
# must leave them alone.
INDEX_TABLE = "items_search"  # and FTS5's shadow tables items_search_*
INDEX_COLUMN = "search_vector"
INDEX_NAME = "ix_items_search_vector"


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic's include_object hook: False for the search index's engine-specific objects."""
    if type_ == "table" and name is not None:
        return name != INDEX_TABLE and not name.startswith(f"{INDEX_TABLE}_")
    if type_ == "column":
        return not (
            name == INDEX_COLUMN
            and getattr(obj, "table", None) is not None
            and obj.table.name == "items"
        )
    if type_ == "index":
        return name != INDEX_NAME
    return True
