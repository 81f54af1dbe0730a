"""Stored surge data: hourly counts of relevant items, and the cases surges open.

Counts are upserted with the dialect's ``INSERT ... ON CONFLICT DO UPDATE``, so concurrent crawl
runs add to the same hour without losing an increment (a read-then-write would).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from monitor.storage.casestore import Dues, due_time, tighten_due
from monitor.storage.models import Case, CaseEvent, HourlyCount, Item
from nlp.base import severity_rank

_OPEN = ("new", "acknowledged", "in_progress")
# (hour, dimension, key) -> (total, negative)
Counts = Mapping[tuple[datetime, str, str], tuple[int, int]]
# (dimension, key) -> hour -> (total, negative)
Series = dict[tuple[str, str], dict[datetime, tuple[int, int]]]


@dataclass(frozen=True, slots=True)
class SurgeCase:
    """What became of a surge's case: opened, continued, or unchanged (nothing new to say)."""

    case_id: int
    action: str
    notified: bool


def first_seen(
    session: Session, item_ids: Collection[int]
) -> dict[int, tuple[datetime, datetime | None]]:
    """Each item's first-seen and published times."""
    if not item_ids:
        return {}
    rows = session.execute(
        select(Item.id, Item.fetched_at, Item.published_at).where(Item.id.in_(item_ids))
    )
    return {item_id: (fetched, published) for item_id, fetched, published in rows}


def add_counts(session: Session, counts: Counts) -> None:
    """Add to the hourly counts (rows created as needed), safely under concurrent runs."""
    if not counts:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(HourlyCount)
    stmt = stmt.on_conflict_do_update(
        index_elements=[HourlyCount.hour, HourlyCount.dimension, HourlyCount.key],
        set_={
            "total": HourlyCount.total + stmt.excluded.total,
            "negative": HourlyCount.negative + stmt.excluded.negative,
        },
    )
    # Rows in key order: two runs updating the same hours lock them in the same order (no deadlock).
    rows = [
        {"hour": hour, "dimension": dim, "key": key, "total": total, "negative": negative}
        for (hour, dim, key), (total, negative) in sorted(counts.items())
    ]
    session.execute(stmt, rows)


def counting_began(session: Session) -> datetime | None:
    """The first hour anything was counted (hours before it are unknown, not quiet)."""
    return session.scalar(select(func.min(HourlyCount.hour)))


def series(
    session: Session, hours: Collection[datetime], keys: Iterable[tuple[str, str]] | None = None
) -> Series:
    """The counts in the given hours, per (dimension, key); only these keys when given."""
    stmt = select(
        HourlyCount.dimension,
        HourlyCount.key,
        HourlyCount.hour,
        HourlyCount.total,
        HourlyCount.negative,
    ).where(HourlyCount.hour.in_(hours))
    if keys is not None:
        wanted = list(keys)
        if not wanted:
            return {}
        stmt = stmt.where(tuple_(HourlyCount.dimension, HourlyCount.key).in_(wanted))
    found: Series = {}
    for dim, key, hour, total, negative in session.execute(stmt):
        found.setdefault((dim, key), {})[hour] = (total, negative)
    return found


def open_cases(session: Session, surge_keys: Collection[str]) -> dict[str, int]:
    """The open surge case of each of these keys that has one."""
    if not surge_keys:
        return {}
    rows = session.execute(
        select(Case.surge_key, Case.id).where(
            Case.kind == "surge", Case.surge_key.in_(surge_keys), Case.status.in_(_OPEN)
        )
    )
    return {key: case_id for key, case_id in rows if key is not None}


def _last_detail(session: Session, case_id: int) -> dict[str, Any] | None:
    return session.scalar(
        select(CaseEvent.detail)
        .where(CaseEvent.case_id == case_id, CaseEvent.action.in_(("opened", "surge_continues")))
        .order_by(CaseEvent.id.desc())
        .limit(1)
    )


def _event(session: Session, case: Case, at: datetime, action: str, detail: dict[str, Any]) -> None:
    session.add(CaseEvent(case_id=case.id, at=at, actor="system", action=action, detail=detail))


def _notify(session: Session, case: Case, at: datetime) -> None:
    case.notified_severity = case.severity
    _event(session, case, at, "notify", {"severity": case.severity, "title": case.title})


def record_surge(
    session: Session,
    surge_key: str,
    title: str,
    severity: str,
    figures: dict[str, Any],
    now: datetime,
    due: Dues | None = None,
) -> SurgeCase:
    """Open a case for a surge, or add to the one open for its key; notify when new or higher."""
    case = session.scalar(
        select(Case).where(
            Case.kind == "surge", Case.surge_key == surge_key, Case.status.in_(_OPEN)
        )
    )
    if case is None:
        case = Case(
            kind="surge",
            surge_key=surge_key,
            title=title,
            severity=severity,
            status="new",
            opened_at=now,
            updated_at=now,
            due_at=due_time(due, severity, now),
        )
        session.add(case)
        session.flush()
        _event(session, case, now, "opened", figures)
        _notify(session, case, now)
        return SurgeCase(case.id, "opened", True)
    if _last_detail(session, case.id) == figures:
        return SurgeCase(case.id, "unchanged", False)  # a later run of the same hour, no new items
    case.title, case.updated_at = title, now
    if severity_rank(severity) > severity_rank(case.severity):
        case.severity = severity
        tighten_due(case, due)
    _event(session, case, now, "surge_continues", figures)
    rises = severity_rank(case.severity) > severity_rank(case.notified_severity or "none")
    if rises:
        _notify(session, case, now)
    return SurgeCase(case.id, "surge_continues", rises)
