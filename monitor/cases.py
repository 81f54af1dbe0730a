"""The case workflow: who may move a case where, its due time, and reading cases for people.

States and the actions between them (``transition`` refuses anything else with IllegalTransition)::

    new ──ack──▶ acknowledged ──start──▶ in_progress
     └────────────start─────────────────▲
    new | acknowledged | in_progress ──resolve──▶ resolved
    new | acknowledged | in_progress ──dismiss──▶ dismissed
    resolved | dismissed ──reopen──▶ acknowledged
    assign (any open state) sets the assignee; on a new case it also acknowledges it
    note (any state) only adds to the audit trail

Decisions: a case may be resolved or dismissed straight from ``new`` (a duplicate, or one dealt
with before anyone opened it), which also sets ``acknowledged_at`` (someone has looked at it, so
escalation stops); the event's from/to states show that it was never acknowledged on its own.
Assigning a new case acknowledges it, because whoever assigns it has seen it. Acknowledging a
case that is not new is refused, so an acknowledgement link used twice acknowledges once; the
row is locked while it changes, so two clicks at the same moment do the same. Reopening gives
``acknowledged``, not ``new``: the case has an owner who knows it, and it is not re-escalated.

Every change adds a CaseEvent: actor, the action as a past-tense word ("acknowledged"), and in
its detail the channel (cli | web | api | email-link | telegram | system), from/to state, note and
assignee. The escalation engine and the web UI call ``transition``; the CLI does too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from monitor.config_notify import CaseSettings
from monitor.storage import casestore, db
from monitor.storage.casestore import CLOSED, OPEN, CaseDetail, CaseView, EventView
from nlp.base import SEVERITIES

if TYPE_CHECKING:
    from monitor.config import Settings

__all__ = [
    "ACTIONS", "CHANNELS", "CLOSED", "OPEN", "STATUSES", "STATUS_LABELS", "CaseDetail", "CaseView",
    "EventView", "IllegalTransition", "allowed_actions", "due_at", "due_map", "list_cases", "show",
    "transition",
]  # fmt: skip

STATUSES = (*OPEN, *CLOSED)
STATUS_LABELS = {
    "new": "mới",
    "acknowledged": "đã nhận",
    "in_progress": "đang xử lý",
    "resolved": "đã xong",
    "dismissed": "bỏ qua",
}
CHANNELS = ("cli", "web", "api", "email-link", "telegram", "system")


@dataclass(frozen=True, slots=True)
class Rule:
    """An action: the states it may start from, where it leads (None: stays) and its labels."""

    sources: tuple[str, ...]
    target: str | None
    event: str
    label: str


ACTIONS: dict[str, Rule] = {
    "ack": Rule(("new",), "acknowledged", "acknowledged", "nhận"),
    "start": Rule(("new", "acknowledged"), "in_progress", "started", "bắt đầu xử lý"),
    "resolve": Rule(OPEN, "resolved", "resolved", "đóng là đã xong"),
    "dismiss": Rule(OPEN, "dismissed", "dismissed", "bỏ qua"),
    "reopen": Rule(CLOSED, "acknowledged", "reopened", "mở lại"),
    "assign": Rule(OPEN, None, "assigned", "giao"),
    "note": Rule(STATUSES, None, "noted", "ghi chú"),
}


def allowed_actions(status: str) -> list[str]:
    """The actions a case in this state accepts."""
    return [name for name, rule in ACTIONS.items() if status in rule.sources]


def _label(status: str) -> str:
    return f"«{STATUS_LABELS.get(status, status)}» ({status})"


class IllegalTransition(ValueError):
    """This action is not allowed on the case in its current state (or is no action at all)."""

    def __init__(self, case_id: int, action: str, status: str | None = None) -> None:
        self.case_id, self.action, self.status = case_id, action, status
        self.allowed = allowed_actions(status) if status else list(ACTIONS)
        vi_allowed = ", ".join(f"{ACTIONS[a].label} ({a})" for a in self.allowed) or "không có"
        en_allowed = ", ".join(self.allowed) or "none"
        if status is None:
            message = (
                f"Không có thao tác “{action}” trên sự vụ; các thao tác: {vi_allowed}. / "
                f"Unknown case action {action!r}; known actions: {en_allowed}."
            )
        else:
            message = (
                f"Không thể {ACTIONS[action].label} ({action}) sự vụ #{case_id}: sự vụ đang ở "
                f"trạng thái {_label(status)}; các thao tác được phép: {vi_allowed}. / "
                f"Cannot {action} case #{case_id}: it is {status}; allowed actions: {en_allowed}."
            )
        super().__init__(message)


def due_map(settings: Settings) -> dict[str, timedelta]:
    """How long a case of each severity has until it is due (cases.due; "none" as for watch)."""
    # A config that sets only some severities keeps the defaults of the others.
    due = {str(k): v for k, v in [*CaseSettings().due.items(), *settings.cases.due.items()]}
    return {sev: timedelta(seconds=due.get(sev, due["watch"])) for sev in SEVERITIES}


def due_at(settings: Settings, severity: str, opened_at: datetime) -> datetime:
    """When a case of this severity opened then is due."""
    dues = due_map(settings)
    return opened_at + dues.get(severity, dues["watch"])


def _check(
    action: str, case_id: int, actor: str, channel: str, note: str | None, assignee: str | None
) -> None:
    if action not in ACTIONS:
        raise IllegalTransition(case_id, action)
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; known: {', '.join(CHANNELS)}")
    if not actor.strip():
        raise ValueError("a case change needs an actor (who made it)")
    if action == "note" and not (note or "").strip():
        raise ValueError("a note needs its text")
    if action == "assign" and not (assignee or "").strip():
        raise ValueError("assign needs the person to assign the case to")


def transition(
    session: db.Session,
    case_id: int,
    action: str,
    *,
    actor: str,
    channel: str,
    note: str | None = None,
    assignee: str | None = None,
    now: datetime | None = None,
) -> CaseView:
    """Apply a workflow action to a case and record it in the audit trail; returns the case.

    KeyError for an unknown case, IllegalTransition (a ValueError) for an action its state does
    not allow, ValueError for a missing actor/note/assignee or an unknown channel. Nothing is
    written when it raises. Runs in the caller's transaction.
    """
    _check(action, case_id, actor, channel, note, assignee)
    at = now or datetime.now(UTC)
    case = casestore.lock(session, case_id, at)
    rule = ACTIONS[action]
    if case.status not in rule.sources:
        raise IllegalTransition(case_id, action, case.status)
    after = rule.target or case.status
    detail: dict[str, str | None] = {"channel": channel, "from": case.status, "to": after}
    owner = case.assignee
    if action == "assign":
        after = "acknowledged" if case.status == "new" else after
        owner = (assignee or "").strip()[:100]
        detail.update(to=after, assignee=owner, previous_assignee=case.assignee)
    if note and note.strip():
        detail["note"] = note.strip()
    return casestore.record(
        session,
        case_id,
        at=at,
        actor=actor.strip(),
        action=rule.event,
        detail={k: v for k, v in detail.items() if v is not None},
        status=after,
        assignee=owner,
        acknowledged_at=case.acknowledged_at or (at if after != "new" else None),
        resolved_at=_resolved_at(case, after, at),
    )


def _resolved_at(case: CaseView, after: str, at: datetime) -> datetime | None:
    """Closing sets it, reopening clears it, a note on a closed case keeps it."""
    if after not in CLOSED:
        return None
    return case.resolved_at if case.status in CLOSED else at


def _statuses(status: str | None) -> tuple[str, ...] | None:
    if status in (None, "all"):
        return None
    groups = {"open": OPEN, "closed": CLOSED, **{s: (s,) for s in STATUSES}}
    if status not in groups:
        raise ValueError(f"unknown status {status!r}; use one of: all, {', '.join(groups)}")
    return groups[status]


def _severities(severity: str | None) -> tuple[str, ...] | None:
    if severity is None:
        return None
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}; use one of: {', '.join(SEVERITIES)}")
    return SEVERITIES[SEVERITIES.index(severity) :]


def list_cases(
    sessions: db.Sessions,
    *,
    status: str | None = None,
    severity: str | None = None,
    limit: int = 50,
    now: datetime | None = None,
) -> list[CaseView]:
    """Cases in a state (a code, "open", "closed", or None/"all") of at least this severity,
    most severe and soonest due first; ValueError for an unknown status or severity."""
    return casestore.list_cases(
        sessions,
        statuses=_statuses(status),
        severities=_severities(severity),
        limit=limit,
        now=now or datetime.now(UTC),
    )


def show(sessions: db.Sessions, case_id: int, now: datetime | None = None) -> CaseDetail:
    """The case with its audit trail and its story, item or source; KeyError if there is none."""
    found = casestore.detail(sessions, case_id, now or datetime.now(UTC))
    if found is None:
        raise KeyError(case_id)
    return found
