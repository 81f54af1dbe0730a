"""Stored escalations and notifications: what is due, idempotent inserts, claiming work.

Notifications are inserted with ``INSERT ... ON CONFLICT (key) DO NOTHING``, so planning the same
step twice (a restart, two processes) stores one message. Sending claims one due row at a time
with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises
writers), and the caller marks it sent in the same transaction: a crash between the send and the
commit leaves it pending, so it may go out once more, never more than once per crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from monitor.storage.models import AppState, Case, CaseEvent, Escalation, Notification, Story

PLANNED_KEY = "escalation:planned"  # the id of the last "notify" case event planned
CHANNEL_KEY = "channel:"  # + name: consecutive failures, last error, last success


@dataclass(frozen=True, slots=True)
class NotifyEvent:
    """A "notify" entry of a case's audit trail: staff must hear of this case at this severity."""

    id: int
    case_id: int
    severity: str
    at: datetime


@dataclass(frozen=True, slots=True)
class DueEscalation:
    """An escalation whose next step is due, with where its case stands."""

    case_id: int
    severity: str
    started_at: datetime
    next_step: int
    rounds: int
    case_status: str
    acknowledged: bool


@dataclass(frozen=True, slots=True)
class CaseBrief:
    """What a notification says about a case."""

    id: int
    title: str
    severity: str
    status: str
    due_at: datetime | None
    reasons: tuple[str, ...]
    item_count: int | None
    outlet_count: int | None


@dataclass(frozen=True, slots=True)
class Pending:
    """A claimed notification, ready to send."""

    id: int
    key: str
    case_id: int | None
    channel: str
    person_id: str | None
    recipient: str
    tier: int | None
    attempts: int
    payload: dict[str, Any]
    case_status: str | None


@dataclass(frozen=True, slots=True)
class ChannelHealth:
    """How a channel is doing, for administrators."""

    channel: str
    consecutive_failures: int
    last_error: str | None
    last_failure_at: str | None
    last_success_at: str | None
    pending: int
    failed: int


def get_state(session: Session, key: str, *, lock: bool = False) -> dict[str, Any]:
    """A stored application value (empty if never set); ``lock`` holds its row to the commit."""
    stmt = select(AppState.value).where(AppState.key == key)
    value = session.scalar(stmt.with_for_update() if lock else stmt)
    return dict(value or {})


def put_state(session: Session, key: str, value: dict[str, Any]) -> None:
    """Store an application value."""
    row = session.get(AppState, key)
    if row is None:
        session.add(AppState(key=key, value=value))
    else:
        row.value = value
    session.flush()


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def new_notify_events(session: Session, limit: int = 500) -> list[NotifyEvent]:
    """ "notify" events not planned yet, oldest first; the planned mark is locked to the commit."""
    after = int(get_state(session, PLANNED_KEY, lock=True).get("event_id", 0))
    rows = session.execute(
        select(CaseEvent.id, CaseEvent.case_id, CaseEvent.detail, CaseEvent.at, Case.severity)
        .join(Case, Case.id == CaseEvent.case_id)
        .where(CaseEvent.action == "notify", CaseEvent.id > after)
        .order_by(CaseEvent.id)
        .limit(limit)
    )
    return [NotifyEvent(i, c, (d or {}).get("severity") or s, at) for i, c, d, at, s in rows]


def mark_planned(session: Session, event_id: int) -> None:
    """Remember that notify events up to this id are planned."""
    put_state(session, PLANNED_KEY, {"event_id": event_id})


def start(
    session: Session, case_id: int, severity: str, started: datetime, next_at: datetime | None
) -> None:
    """Start (or restart, after a severity rise) a case's escalation from its first step."""
    row = session.get(Escalation, case_id) or Escalation(case_id=case_id)
    row.severity, row.started_at, row.next_step, row.rounds = severity, started, 0, 0
    row.next_at, row.state = next_at, "active" if next_at is not None else "done"
    session.add(row)
    session.flush()


def due(session: Session, now: datetime, limit: int = 100) -> list[DueEscalation]:
    """Active escalations whose next step is due, locked (others skip them) to the commit."""
    stmt = (
        select(Escalation, Case.status, Case.acknowledged_at)
        .join(Case, Case.id == Escalation.case_id)
        .where(Escalation.state == "active", Escalation.next_at <= now)
        .order_by(Escalation.next_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Escalation)
    )
    return [
        DueEscalation(e.case_id, e.severity, e.started_at, e.next_step, e.rounds, s, a is not None)
        for e, s, a in session.execute(stmt)
    ]


def advance(
    session: Session, case_id: int, step: int, round_: int, next_at: datetime | None
) -> None:
    """Move an escalation to its next step, due at ``next_at`` (None: nothing left, done)."""
    row = session.get(Escalation, case_id)
    if row is None:
        raise KeyError(case_id)
    row.next_step, row.rounds, row.next_at = step, round_, next_at
    row.state = "active" if next_at is not None else "done"


def finish(session: Session, case_id: int) -> None:
    """Stop a case's escalation (acknowledged or closed)."""
    advance(session, case_id, 0, 0, None)


def brief(session: Session, case_id: int) -> CaseBrief:
    """What a notification says about the case; KeyError if there is none."""
    case = session.get(Case, case_id)
    if case is None:
        raise KeyError(case_id)
    story = session.get(Story, case.story_id) if case.story_id is not None else None
    reasons = session.scalar(
        select(CaseEvent.detail)
        .where(CaseEvent.case_id == case_id, CaseEvent.detail.is_not(None))
        .where(CaseEvent.action.in_(("opened", "severity_raised", "item_updated", "story_grew")))
        .order_by(CaseEvent.id.desc())
        .limit(1)
    )
    found = tuple(str(r) for r in (reasons or {}).get("reasons", ()) if r)
    return CaseBrief(
        case.id, case.title, case.severity, case.status, case.due_at, found,
        story.item_count if story else None, story.outlet_count if story else None,
    )  # fmt: skip


def add_notification(session: Session, key: str, **values: Any) -> bool:
    """Store a pending notification unless one with this key exists; True if stored."""
    stmt = _insert(session)(Notification).values(key=key, status="pending", attempts=0, **values)
    result = session.execute(stmt.on_conflict_do_nothing(index_elements=["key"]))
    return bool(getattr(result, "rowcount", 0))


def claim(session: Session, now: datetime) -> Pending | None:
    """The next due pending notification, locked (others skip it) until the commit."""
    stmt = (
        select(Notification, Case.status)
        .outerjoin(Case, Case.id == Notification.case_id)
        .where(Notification.status == "pending")
        .where((Notification.next_attempt_at <= now) | Notification.next_attempt_at.is_(None))
        .order_by(Notification.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=Notification)
    )
    found = session.execute(stmt).first()
    if found is None:
        return None
    n, status = found
    return Pending(
        n.id, n.key, n.case_id, n.channel, n.person_id, n.recipient, n.tier, n.attempts,
        dict(n.payload or {}), status,
    )  # fmt: skip


def settle(
    session: Session, notification_id: int, status: str, now: datetime, **values: Any
) -> None:
    """Record a send's outcome: sent, pending again (a retry), failed or cancelled."""
    row = session.get(Notification, notification_id)
    if row is None:
        raise KeyError(notification_id)
    row.status = status
    row.sent_at = now if status == "sent" else row.sent_at
    for name, value in values.items():
        setattr(row, name, value)


def case_event(
    session: Session, case_id: int, action: str, at: datetime, detail: dict[str, Any]
) -> None:
    """Add an entry to a case's audit trail, by the system."""
    session.add(CaseEvent(case_id=case_id, at=at, actor="system", action=action, detail=detail))


def channel_result(session: Session, channel: str, now: datetime, error: str | None) -> int:
    """Count a send on a channel; returns its consecutive failures so far (0 after a success)."""
    key = CHANNEL_KEY + channel
    state = get_state(session, key, lock=True)
    if error is None:
        state.update(consecutive_failures=0, last_success_at=now.isoformat())
    else:
        failures = int(state.get("consecutive_failures", 0)) + 1
        state.update(consecutive_failures=failures, last_error=error[:500])
        state["last_failure_at"] = now.isoformat()
    put_state(session, key, state)
    return int(state["consecutive_failures"])


def channel_health(sessions: sessionmaker[Session]) -> list[ChannelHealth]:
    """Every channel that has been used: its run of failures and its pending/failed messages."""
    with sessions() as session:
        counts: dict[tuple[str, str], int] = {
            (c, s): n
            for c, s, n in session.execute(
                select(Notification.channel, Notification.status, func.count())
                .where(Notification.status.in_(("pending", "failed")))
                .group_by(Notification.channel, Notification.status)
            )
        }
        states = {
            k.removeprefix(CHANNEL_KEY): dict(v or {})
            for k, v in session.execute(
                select(AppState.key, AppState.value).where(AppState.key.like(CHANNEL_KEY + "%"))
            )
        }
    names = sorted(set(states) | {c for c, _ in counts})
    return [
        ChannelHealth(
            name,
            int(states.get(name, {}).get("consecutive_failures", 0)),
            states.get(name, {}).get("last_error"),
            states.get(name, {}).get("last_failure_at"),
            states.get(name, {}).get("last_success_at"),
            counts.get((name, "pending"), 0),
            counts.get((name, "failed"), 0),
        )
        for name in names
    ]
