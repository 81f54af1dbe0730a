"""Stored cases: due times, reading cases with their audit trail, and writing a workflow change.

The rules of the workflow (which action is allowed from which state) live in ``monitor.cases``;
this module only reads and writes what it is told, and returns plain data.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.storage.models import Case, CaseEvent, Item, Source, Story
from nlp.base import SEVERITIES

OPEN = ("new", "acknowledged", "in_progress")
CLOSED = ("resolved", "dismissed")
# How long a case of each severity has until it is due; see monitor.cases.due_map.
Dues = Mapping[str, timedelta]


def due_time(dues: Dues | None, severity: str, start: datetime) -> datetime | None:
    """When a case of this severity opened at ``start`` is due (None without due times)."""
    after = (dues or {}).get(severity)
    return start + after if after is not None else None


def tighten_due(case: Case, dues: Dues | None) -> None:
    """After a severity rise: bring the due time forward to what the new severity allows."""
    due = due_time(dues, case.severity, case.opened_at)
    if due is not None and (case.due_at is None or due < case.due_at):
        case.due_at = due


@dataclass(frozen=True, slots=True)
class CaseView:
    """A case as listed: what, how severe, where it stands, who has it and when it is due."""

    id: int
    kind: str
    title: str
    severity: str
    status: str
    assignee: str | None
    opened_at: datetime
    updated_at: datetime
    due_at: datetime | None
    overdue: bool
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    item_id: int | None = None
    story_id: int | None = None
    source_id: str | None = None
    surge_key: str | None = None
    item_count: int | None = None  # story cases: copies of the story, and outlets carrying it
    outlet_count: int | None = None


@dataclass(frozen=True, slots=True)
class EventView:
    """One audit-trail entry; channel, from/to state and note are set by workflow actions."""

    at: datetime
    actor: str
    action: str
    channel: str | None
    from_status: str | None
    to_status: str | None
    note: str | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoryRef:
    """The story a case follows."""

    id: int
    title: str
    item_count: int
    outlet_count: int
    outlets: tuple[str, ...]
    first_seen_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True, slots=True)
class ItemRef:
    """The item that opened a case."""

    id: int
    title: str
    url: str
    source_id: str
    published_at: datetime | None


@dataclass(frozen=True, slots=True)
class SourceRef:
    """The source a case is about."""

    id: str
    name: str | None
    url: str
    health: str
    health_reason: str | None


@dataclass(frozen=True, slots=True)
class CaseDetail:
    """A case, its audit trail (oldest first) and what it is about."""

    case: CaseView
    events: tuple[EventView, ...]
    story: StoryRef | None = None
    item: ItemRef | None = None
    source: SourceRef | None = None


def _view(case: Case, story: Story | None, now: datetime) -> CaseView:
    overdue = case.status in OPEN and case.due_at is not None and case.due_at <= now
    return CaseView(
        case.id, case.kind, case.title, case.severity, case.status, case.assignee,
        case.opened_at, case.updated_at, case.due_at, overdue, case.acknowledged_at,
        case.resolved_at, case.item_id, case.story_id, case.source_id, case.surge_key,
        story.item_count if story else None, story.outlet_count if story else None,
    )  # fmt: skip


def _event_view(event: CaseEvent) -> EventView:
    d = event.detail or {}
    return EventView(
        event.at, event.actor, event.action, d.get("channel"), d.get("from"), d.get("to"),
        d.get("note"), dict(d),
    )  # fmt: skip


def _story(session: Session, case: Case) -> Story | None:
    return session.get(Story, case.story_id) if case.story_id is not None else None


def lock(session: Session, case_id: int, now: datetime) -> CaseView:
    """The case, its row locked for the rest of the transaction (PostgreSQL; SQLite's
    transactions already write one at a time); KeyError if there is none."""
    stmt = (
        select(Case)
        .where(Case.id == case_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    case = session.scalar(stmt)
    if case is None:
        raise KeyError(case_id)
    return _view(case, _story(session, case), now)


def record(
    session: Session,
    case_id: int,
    *,
    at: datetime,
    actor: str,
    action: str,
    detail: dict[str, Any],
    status: str,
    assignee: str | None,
    acknowledged_at: datetime | None,
    resolved_at: datetime | None,
) -> CaseView:
    """Write a case's new state and the audit-trail entry saying who changed it, and how."""
    case = session.get(Case, case_id)
    if case is None:
        raise KeyError(case_id)
    case.status, case.assignee, case.updated_at = status, assignee, at
    case.acknowledged_at, case.resolved_at = acknowledged_at, resolved_at
    session.add(CaseEvent(case_id=case_id, at=at, actor=actor[:100], action=action, detail=detail))
    session.flush()
    return _view(case, _story(session, case), at)


def _rank() -> Any:
    return sql_case({s: i for i, s in enumerate(SEVERITIES)}, value=Case.severity, else_=-1)


def list_cases(
    sessions: sessionmaker[Session],
    *,
    statuses: Collection[str] | None,
    severities: Collection[str] | None,
    limit: int,
    now: datetime,
) -> list[CaseView]:
    """Cases in these states and severities: most severe first, then the soonest due."""
    stmt = (
        select(Case, Story)
        .outerjoin(Story, Story.id == Case.story_id)
        .order_by(_rank().desc(), Case.due_at.is_(None), Case.due_at, Case.id.desc())
        .limit(limit)
    )
    if statuses is not None:
        stmt = stmt.where(Case.status.in_(statuses))
    if severities is not None:
        stmt = stmt.where(Case.severity.in_(severities))
    with sessions() as session:
        return [_view(case, story, now) for case, story in session.execute(stmt)]


def _story_ref(story: Story | None) -> StoryRef | None:
    if story is None:
        return None
    return StoryRef(
        story.id, story.title, story.item_count, story.outlet_count,
        tuple(str(o) for o in story.outlets), story.first_seen_at, story.last_seen_at,
    )  # fmt: skip


def _item_ref(session: Session, item_id: int | None) -> ItemRef | None:
    item = session.get(Item, item_id) if item_id is not None else None
    if item is None:
        return None
    return ItemRef(item.id, item.title, item.url, item.source_id, item.published_at)


def _source_ref(session: Session, source_id: str | None) -> SourceRef | None:
    source = session.get(Source, source_id) if source_id is not None else None
    if source is None:
        return None
    return SourceRef(source.id, source.name, source.url, source.health, source.health_reason)


def detail(sessions: sessionmaker[Session], case_id: int, now: datetime) -> CaseDetail | None:
    """The case with its audit trail and what it is about, or None if there is no such case."""
    with sessions() as session:
        case = session.get(Case, case_id)
        if case is None:
            return None
        events = session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
        )
        story = _story(session, case)
        return CaseDetail(
            _view(case, story, now),
            tuple(_event_view(e) for e in events),
            _story_ref(story),
            _item_ref(session, case.item_id),
            _source_ref(session, case.source_id),
        )
