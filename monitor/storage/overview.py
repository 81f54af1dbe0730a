"""Read-side queries of the overview page, the archived digest's HTML and the administrator's
switch that stops a source; the sources list and the digest archive are read through
monitor.storage.apiqueries (the JSON API's queries, scoped the same way).

The overview is read on every visit, so each query is bounded by an index, never by the table:

- today's counts walk one day of items through ``ix_items_fetched_at`` and look each one's
  analysis up by ``uq_analyses_item_id`` (a correlated lookup, so PostgreSQL never chooses to
  hash the whole analyses table for a few thousand items);
- the 30-day volume and negative counts and the 7-day top topics and places read
  ``hourly_counts`` by its primary key, which begins with the hour: a few hundred small rows.
  ``hourly_counts`` is what surges are judged on (monitor.surges.count_analysed), so it counts
  what surges count: *relevant* items, on the UTC hour they were first seen, at their first
  analysis, leaving out old news found late (published more than ``surges.max_age`` before it was
  fetched). A correction of an analysis later does not move it, it has no source dimension
  (so it cannot be scoped to a department's sources) and it keeps negative items only, not the
  neutral/positive split;
- open cases by severity use ``ix_cases_status``; cases opened today scan the cases table,
  which has no index on ``opened_at`` (cases are few next to items). For a user limited to some
  sources, each open case is tested against them through ``pk_items`` / ``ix_items_story_id``:
  cheap for hundreds of open cases, a few hundred milliseconds for tens of thousands.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select, true
from sqlalchemy.orm import Session, sessionmaker

from monitor.storage.models import Analysis, Case, Digest, HourlyCount, Item

_OPEN = ("new", "acknowledged", "in_progress")
Scope = tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class Today:
    """What came in during one local day (scoped items) and the cases (opened, open now)."""

    collected: int
    relevant: int
    negative: int
    new_cases: int
    open_cases: int


@dataclass(frozen=True, slots=True)
class Volume:
    """Relevant items counted in one span (a local day) of ``hourly_counts``, and the negative."""

    start: datetime
    total: int
    negative: int


@dataclass(frozen=True, slots=True)
class KeyCount:
    """A topic or place and its relevant (and negative) items in a span."""

    key: str
    total: int
    negative: int


def _items_in(scope: Scope) -> ColumnElement[bool]:
    return Item.source_id.in_(scope) if scope is not None else true()


def _cases_in(scope: Scope) -> ColumnElement[bool]:
    """The cases a user limited to ``scope`` sees on the /cases page these counts link to, by the
    rule of monitor.storage.casequeue: a source case by its source, a story case when one of the
    story's copies is in scope, an item case by its item; surge cases only when unscoped."""
    if scope is None:
        return true()
    ids = list(scope)
    story_copy = exists().where(Item.story_id == Case.story_id, Item.source_id.in_(ids))
    own_item = exists().where(Item.id == Case.item_id, Item.source_id.in_(ids))
    return or_(
        Case.source_id.in_(ids),
        and_(Case.story_id.is_not(None), story_copy),
        and_(Case.story_id.is_(None), Case.item_id.is_not(None), own_item),
    )


def _analysis_flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """1 when the item's analysis meets ``condition``, looked up per item by its unique index."""
    flag = case((condition, 1), else_=0)
    return select(flag).where(Analysis.item_id == Item.id).correlate(Item).scalar_subquery()


def today(sessions: sessionmaker[Session], start: datetime, end: datetime, scope: Scope) -> Today:
    """Items first seen in [start, end) (collected, relevant, negative) and cases opened then
    and open now; items and cases limited to ``scope``'s sources when given."""
    relevant = _analysis_flag(Analysis.relevant.is_(True))
    negative = _analysis_flag(Analysis.relevant.is_(True) & (Analysis.sentiment == "negative"))
    items = select(
        func.count(), func.coalesce(func.sum(relevant), 0), func.coalesce(func.sum(negative), 0)
    ).where(Item.fetched_at >= start, Item.fetched_at < end, _items_in(scope))
    opened = select(func.count()).where(Case.opened_at >= start, Case.opened_at < end)
    still_open = select(func.count()).where(Case.status.in_(_OPEN))
    with sessions() as session:
        collected, rel, neg = session.execute(items).one()
        new_cases = session.scalar(opened.where(_cases_in(scope))) or 0
        open_now = session.scalar(still_open.where(_cases_in(scope))) or 0
    return Today(int(collected), int(rel), int(neg), int(new_cases), int(open_now))


def open_by_severity(sessions: sessionmaker[Session], scope: Scope) -> dict[str, int]:
    """Open cases (new, acknowledged, in progress) per severity, limited to ``scope``."""
    stmt = (
        select(Case.severity, func.count())
        .where(Case.status.in_(_OPEN), _cases_in(scope))
        .group_by(Case.severity)
    )
    with sessions() as session:
        return {severity: int(n) for severity, n in session.execute(stmt)}


def daily_volume(sessions: sessionmaker[Session], bounds: Sequence[datetime]) -> list[Volume]:
    """Relevant and negative items of ``hourly_counts`` in each span bounds[i]..bounds[i+1]
    (an hour falls in the span its start does)."""
    stmt = select(HourlyCount.hour, HourlyCount.total, HourlyCount.negative).where(
        HourlyCount.hour >= bounds[0],
        HourlyCount.hour < bounds[-1],
        HourlyCount.dimension == "province",
        HourlyCount.key == "all",
    )
    totals = [[0, 0] for _ in bounds[1:]]
    with sessions() as session:
        for hour, total, negative in session.execute(stmt):
            span = totals[bisect_right(bounds, hour) - 1]
            span[0] += total
            span[1] += negative
    return [Volume(start, total, neg) for start, (total, neg) in zip(bounds, totals, strict=False)]


def top_keys(
    sessions: sessionmaker[Session], dimension: str, start: datetime, end: datetime, limit: int
) -> list[KeyCount]:
    """The ``dimension``'s keys (topic codes, place names) with the most relevant items in the
    span, from ``hourly_counts``; ties by key."""
    total = func.sum(HourlyCount.total)
    stmt = (
        select(HourlyCount.key, total, func.sum(HourlyCount.negative))
        .where(HourlyCount.hour >= start, HourlyCount.hour < end)
        .where(HourlyCount.dimension == dimension)
        .group_by(HourlyCount.key)
        .order_by(total.desc(), HourlyCount.key)
        .limit(limit)
    )
    with sessions() as session:
        return [KeyCount(key, int(n), int(neg)) for key, n, neg in session.execute(stmt)]


# -- the digest archive (listed and read as text by monitor.storage.apiqueries) --------------------


def digest_html(sessions: sessionmaker[Session], day: str) -> str | None:
    """The archived digest of a local day as it was rendered (HTML), if any."""
    with sessions() as session:
        return session.scalar(select(Digest.html).where(Digest.day == day))


# -- the administrator's switch --------------------------------------------------------------------
