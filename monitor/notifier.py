"""The escalation engine: plan due steps as stored notifications, then deliver them with retries.

``plan`` turns new "notify" case events into escalations (a severity rise restarts from the new
severity's policy) and, for every escalation whose next step is due, stores one notification
per person and channel under an idempotency key, then moves the escalation on. ``deliver`` sends
pending notifications through ``app.channels``: a transient failure waits ``retry_backoff``,
then twice that ... (or the server's ``retry_after`` if longer), and after ``max_attempts`` the
notification is failed and the case gets a "notify_failed" event; every failure is on the case.

Everything is in the database, so a new process picks up where the last one stopped. A crash
after a send and before its commit sends that one message once more (see notifystore). Each
send runs inside its row's transaction; on SQLite that holds the write lock for the send (at most
the channel's timeout), which other writers wait out on the busy timeout.

With ``notify.enabled`` off, escalations still advance but store and send no notifications, so
turning it on later does not release a backlog of stale alarms.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor import acklinks, escalation, notices
from monitor.bootstrap import App
from monitor.channels.base import ChannelError, Message
from monitor.config_notify import OnCallSettings, SeverityPolicy
from monitor.errors import ConfigError
from monitor.storage import db, notifystore
from monitor.storage.notifystore import DueEscalation, Pending

logger = logging.getLogger(__name__)
# A channel whose last this many sends failed is reported (channel_health, and a warning).
FAILING_AFTER = 3
# Bounds one pass, so a backlog is worked off over several passes instead of one long one.
MAX_SENDS = 200
_DEFAULT_POLICY = OnCallSettings().policy
_CATCH_UP = 20


@dataclass
class Report:
    """What one pass did."""

    escalations_started: int = 0
    steps: int = 0
    planned: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0


def _policy(app: App, severity: str) -> SeverityPolicy | None:
    """The severity's policy ("none" has none); a config that sets the policy of only some
    severities keeps the defaults of the others, as cases.due does."""
    for policies in (app.settings.oncall.policy, _DEFAULT_POLICY):
        found = next((p for level, p in policies.items() if level == severity), None)
        if found is not None:
            return found
    return None


def _ack_link(app: App, case_id: int, now: datetime) -> str | None:
    try:
        return acklinks.ack_url(app.settings, case_id, now)
    except ConfigError as exc:
        logger.warning("notifications go out without an acknowledgement link: %s", exc)
        return None


def _start(app: App, session: db.Session, now: datetime, report: Report) -> None:
    events = notifystore.new_notify_events(session)
    for event in events:
        policy = _policy(app, event.severity)
        first = escalation.step_at(policy, 0, 0) if policy else None
        started = min(event.at, now)
        next_at = None
        if policy is not None and first is not None:
            due = started + escalation.due_offset(policy, first)
            next_at = escalation.release(policy, app.settings.oncall, due, app.settings.tz)
        notifystore.start(session, event.case_id, event.severity, started, next_at)
        report.escalations_started += 1
    if events:
        notifystore.mark_planned(session, events[-1].id)


def _closed(row: DueEscalation) -> bool:
    return row.acknowledged or row.case_status != "new"


def _notify_step(
    app: App, session: db.Session, row: DueEscalation, step: escalation.Step, now: datetime
) -> int:
    settings, tz = app.settings, app.settings.tz
    if not settings.notify.enabled:
        return 0
    brief = notifystore.brief(session, row.case_id)
    payload = notices.render(
        brief, step.tier, _ack_link(app, row.case_id, now), tz, settings.notify.language
    )
    people = escalation.tier_people(settings.oncall, step.tier, now, tz)
    reach = [c for p in people for c in escalation.contacts(p, settings.notify.channels)]
    if not reach:
        # Nobody on the rota or no channel for them: the step passes, the next tier still comes.
        logger.warning("case %d: nobody to reach at tier %d", row.case_id, step.tier)
    stored = 0
    for contact in reach:
        stored += notifystore.add_notification(
            session,
            escalation.notification_key(row.case_id, row.severity, step, contact),
            case_id=row.case_id,
            channel=contact.channel,
            person_id=contact.person_id,
            recipient=contact.recipient,
            tier=step.tier,
            payload=payload,
            next_attempt_at=now,
            created_at=now,
        )
    return stored


def _step(app: App, session: db.Session, row: DueEscalation, now: datetime, report: Report) -> None:
    policy = _policy(app, row.severity)
    step = escalation.step_at(policy, row.next_step, row.rounds) if policy else None
    if _closed(row) or policy is None or step is None:
        notifystore.finish(session, row.case_id)
        return
    report.steps += 1
    report.planned += _notify_step(app, session, row, step, now)
    nxt = escalation.following(policy, step, row.started_at, now)
    if nxt is None:
        notifystore.advance(session, row.case_id, step.index, step.round, None)
        return
    due = row.started_at + escalation.due_offset(policy, nxt)
    next_at = escalation.release(policy, app.settings.oncall, due, app.settings.tz)
    notifystore.advance(session, row.case_id, nxt.index, nxt.round, next_at)


def plan(app: App, now: datetime, report: Report | None = None) -> Report:
    """Start escalations for new notify events and store the notifications of due steps."""
    report = report or Report()
    with db.transaction(app.sessions) as session:
        _start(app, session, now, report)
    # Steps already overdue (after a stop) go out one after another in this pass; repeats
    # collapse (escalation.following), so a few rounds always catch up.
    for _ in range(_CATCH_UP):
        with db.transaction(app.sessions) as session:
            rows = notifystore.due(session, now)
            for row in rows:
                _step(app, session, row, now, report)
        if not rows:
            break
    return report


def _backoff(app: App, attempts: int, retry_after: float | None) -> timedelta:
    wait = app.settings.notify.retry_backoff * 2 ** max(0, attempts - 1)
    return timedelta(seconds=max(wait, retry_after or 0))


def _message(row: Pending) -> Message:
    p = row.payload
    return Message(
        p.get("subject", ""), p.get("text", ""), p.get("html"), p.get("link"),
        case_id=row.case_id, key=row.key,
    )  # fmt: skip


def _attempt(app: App, row: Pending) -> ChannelError | None:
    channel = app.channels.get(row.channel)
    if channel is None:
        return ChannelError(f"{row.channel}: the channel is not configured", transient=False)
    try:
        channel.send(row.recipient, _message(row))
    except ChannelError as exc:
        return exc
    except Exception as exc:  # a bug in a channel is one failed send, not a stopped engine
        logger.exception("%s: send failed unexpectedly", row.channel)
        return ChannelError(f"{row.channel}: {type(exc).__name__}: {exc}", transient=True)
    return None


def _failed(
    app: App, session: db.Session, row: Pending, exc: ChannelError, now: datetime, report: Report
) -> None:
    attempts = row.attempts + 1
    give_up = not exc.transient or attempts >= app.settings.notify.max_attempts
    detail: dict[str, Any] = {
        "key": row.key, "channel": row.channel, "person": row.person_id, "attempt": attempts,
        "error": str(exc)[:500],
    }  # fmt: skip
    if give_up:
        notifystore.settle(
            session, row.id, "failed", now, attempts=attempts, last_error=str(exc)[:2000]
        )
        report.failed += 1
        action = "notify_failed"
    else:
        retry_at = now + _backoff(app, attempts, exc.retry_after)
        notifystore.settle(
            session, row.id, "pending", now, attempts=attempts, last_error=str(exc)[:2000],
            next_attempt_at=retry_at,
        )  # fmt: skip
        detail["retry_at"] = retry_at.isoformat()
        report.retried += 1
        action = "notify_error"
    if row.case_id is not None:
        notifystore.case_event(session, row.case_id, action, now, detail)
    failures = notifystore.channel_result(session, row.channel, now, str(exc))
    if failures >= FAILING_AFTER:
        logger.warning("channel %s: the last %d sends failed (%s)", row.channel, failures, exc)


def _deliver_one(app: App, now: datetime, report: Report) -> bool:
    with db.transaction(app.sessions) as session:
        row = notifystore.claim(session, now)
        if row is None:
            return False
        # An escalation message for a case someone has taken up is no longer news.
        if row.tier is not None and row.case_status not in (None, "new"):
            notifystore.settle(
                session, row.id, "cancelled", now, last_error="case already acknowledged"
            )
            report.cancelled += 1
            return True
        error = _attempt(app, row)
        if error is not None:
            _failed(app, session, row, error, now, report)
            return True
        notifystore.settle(session, row.id, "sent", now, attempts=row.attempts + 1, last_error=None)
        notifystore.channel_result(session, row.channel, now, None)
        report.sent += 1
    return True


def deliver(app: App, now: datetime, report: Report | None = None) -> Report:
    """Send the notifications that are due, one transaction each (claimed, sent, marked)."""
    report = report or Report()
    if not app.settings.notify.enabled:
        return report
    for _ in range(MAX_SENDS):
        if not _deliver_one(app, now, report):
            break
    return report


def run(app: App, now: datetime) -> Report:
    """One pass of the engine: plan what is due, then deliver it."""
    report = plan(app, now)
    return deliver(app, now, report)


def channel_health(sessions: db.Sessions) -> list[notifystore.ChannelHealth]:
    """How each channel is doing, for administrators (consecutive failures, pending, failed)."""
    return notifystore.channel_health(sessions)


def failing_channels(sessions: db.Sessions, after: int = FAILING_AFTER) -> list[str]:
    """The channels whose last ``after`` sends all failed."""
    return [h.channel for h in channel_health(sessions) if h.consecutive_failures >= after]
