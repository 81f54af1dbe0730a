"""Stored source health: the failure score, disabling, silence, and cases for an administrator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.health import HealthPolicy, describe_gap, is_silent, next_score, usual_gap
from monitor.storage.casestore import Dues, due_time
from monitor.storage.models import Case, CaseEvent, Item, Source, utcnow

_OPEN = ("new", "acknowledged", "in_progress")
_HISTORY = 50


@dataclass(frozen=True, slots=True)
class HealthChange:
    """A source changed state (active, disabled, silent) and why."""

    source_id: str
    health: str
    reason: str
    case_id: int | None = None


def _name(source: Source) -> str:
    return source.name or source.id


def _source(session: Session, source_id: str) -> Source:
    source = session.get(Source, source_id)
    if source is None:
        raise KeyError(source_id)
    return source


def _open_case(session: Session, source: Source) -> Case | None:
    return session.scalar(
        select(Case).where(
            Case.kind == "source", Case.source_id == source.id, Case.status.in_(_OPEN)
        )
    )


def _raise_case(session: Session, source: Source, title: str, reason: str, due: Dues | None) -> int:
    """Open a case about a source for an administrator (or add to the one already open)."""
    now = utcnow()
    case = _open_case(session, source)
    if case is None:
        case = Case(
            kind="source",
            source_id=source.id,
            title=title,
            severity="alert",
            status="new",
            opened_at=now,
            updated_at=now,
            due_at=due_time(due, "alert", now),
        )
        session.add(case)
        session.flush()
        action = "opened"
    else:
        case.title, case.updated_at, action = title, now, "updated"
    session.add(
        CaseEvent(
            case_id=case.id,
            at=now,
            actor="system",
            action=action,
            detail={"source_id": source.id, "health": source.health, "reason": reason},
        )
    )
    return case.id


def _close_case(session: Session, source: Source, actor: str, note: str) -> None:
    case = _open_case(session, source)
    if case is None:
        return
    now = utcnow()
    case.status, case.resolved_at, case.updated_at = "resolved", now, now
    session.add(
        CaseEvent(case_id=case.id, at=now, actor=actor, action="resolved", detail={"note": note})
    )


def _set(source: Source, health: str, reason: str | None, now: datetime) -> None:
    source.health, source.health_reason, source.health_changed_at = health, reason, now


def record_outcome(
    session: Session,
    source_id: str,
    outcome: str,
    error: str | None,
    policy: HealthPolicy,
    due: Dues | None = None,
) -> HealthChange | None:
    """Add a run's outcome to the source's failure score; disable it when the score is too high."""
    source = _source(session, source_id)
    source.failure_score = next_score(source.failure_score, outcome, policy)
    if source.health == "disabled" or source.failure_score < policy.disable_at:
        return None
    reason = f"lỗi liên tục (điểm lỗi {source.failure_score:.2f}): {error or 'không rõ'}"[:1000]
    _set(source, "disabled", reason, utcnow())
    title = f"Nguồn “{_name(source)}” đã bị tạm dừng vì lỗi liên tục"
    case_id = _raise_case(session, source, title, reason, due)
    return HealthChange(source_id, "disabled", reason, case_id)


def _item_times(session: Session, source_id: str) -> list[datetime]:
    when = func.coalesce(Item.published_at, Item.fetched_at)
    stmt = select(when).where(Item.source_id == source_id).order_by(when.desc()).limit(_HISTORY)
    return [t for t in session.scalars(stmt) if t is not None]


def check_silence(
    session: Session, source_id: str, new_items: int, policy: HealthPolicy, due: Dues | None = None
) -> HealthChange | None:
    """Flag a source silent after K x its usual gap without new items; unflag it when it speaks."""
    source = _source(session, source_id)
    now = utcnow()
    if new_items:
        if source.health != "silent":
            return None
        _set(source, "active", None, now)
        _close_case(session, source, "system", "nguồn đã có tin mới trở lại")
        return HealthChange(source_id, "active", "có tin mới trở lại")
    if source.health != "active":
        return None
    gap = usual_gap(_item_times(session, source_id), policy)
    # Quiet since its last new item, or since an administrator put it back to work.
    last = max((t for t in (source.last_new_item_at, source.health_changed_at) if t), default=None)
    if not is_silent(last, now, gap, policy) or gap is None or last is None:
        return None
    quiet = describe_gap(now - last)
    reason = f"không có tin mới trong {quiet} (thường cứ {describe_gap(gap)} có một tin)"
    _set(source, "silent", reason, now)
    title = f"Nguồn “{_name(source)}” im lặng bất thường"
    return HealthChange(
        source_id, "silent", reason, _raise_case(session, source, title, reason, due)
    )


def disable(session: Session, source_id: str, reason: str, now: datetime) -> bool:
    """Stop collecting from a source until it is enabled again (``crawl_source`` skips a disabled
    source unless forced); False if it was disabled already. No case: a person chose this."""
    source = _source(session, source_id)
    if source.health == "disabled":
        return False
    _set(source, "disabled", reason, now)
    return True


def enable(session: Session, source_id: str, actor: str) -> bool:
    """Put a disabled or silent source back to work with a clean score; False if it was active."""
    source = _source(session, source_id)
    if source.health == "active" and source.failure_score == 0:
        return False
    source.failure_score, source.consecutive_failures, source.backoff_until = 0.0, 0, None
    _set(source, "active", None, utcnow())
    _close_case(session, source, actor, "nguồn được bật lại")
    return True
