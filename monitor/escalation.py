"""On-call policy: who is reached and when. Pure functions of the settings and a time.

Times go in and come out as aware datetimes; the rota, working hours and quiet hours are read in
the configured local time zone. An escalation is a position in a severity's steps: step ``i``
is due ``steps[i].after`` after the escalation started; past the last step, round ``k`` of the
last step is due ``k * repeat`` later. A due time is then *released*: a severity that waits for
working hours waits for the next start, one that respects quiet hours waits for their end.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from monitor.config_notify import (
    DAYS,
    Channels,
    HoursWindow,
    OnCallSettings,
    Person,
    SeverityPolicy,
)

# Releasing alternates working hours and quiet hours; a week of windows settles well before this.
_MAX_GATES = 16


@dataclass(frozen=True, slots=True)
class Step:
    """A position in an escalation: which step of the policy, which round of repeating it."""

    index: int
    round: int
    tier: int


@dataclass(frozen=True, slots=True)
class Contact:
    """One person on one channel, at the address that channel uses."""

    person_id: str
    channel: str
    recipient: str


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _spans(window: HoursWindow, day: date, tz: ZoneInfo) -> Iterator[tuple[datetime, datetime]]:
    """The window's span that starts on ``day``, if the window runs that weekday."""
    if DAYS[day.weekday()] not in window.days:
        return
    start, end = _clock(window.start), _clock(window.end)
    begins = datetime.combine(day, start, tz)
    ends_day = day if end > start else day + timedelta(days=1)
    yield begins, datetime.combine(ends_day, end, tz)


def _around(
    window: HoursWindow, at: datetime, tz: ZoneInfo, days: int
) -> Iterator[tuple[datetime, datetime]]:
    local = at.astimezone(tz).date()
    for offset in range(-1, days):
        yield from _spans(window, local + timedelta(days=offset), tz)


def current_span(
    window: HoursWindow, at: datetime, tz: ZoneInfo
) -> tuple[datetime, datetime] | None:
    """The span of ``window`` that ``at`` falls in (start included, end not), if any."""
    for begins, ends in _around(window, at, tz, 1):
        if begins <= at < ends:
            return begins, ends
    return None


def next_start(window: HoursWindow, at: datetime, tz: ZoneInfo) -> datetime | None:
    """The first start of ``window`` at or after ``at`` (None if it never runs)."""
    starts = [b for b, _ in _around(window, at, tz, 8) if b >= at]
    return min(starts, default=None)


def release(
    policy: SeverityPolicy, oncall: OnCallSettings, due: datetime, tz: ZoneInfo
) -> datetime:
    """When a step due at ``due`` may go out: after working hours begin and quiet hours end."""
    at = due
    for _ in range(_MAX_GATES):
        moved = at
        if policy.working_hours_only and current_span(oncall.working_hours, at, tz) is None:
            moved = next_start(oncall.working_hours, at, tz) or at
        if policy.respect_quiet_hours and oncall.quiet_hours is not None:
            quiet = current_span(oncall.quiet_hours, moved, tz)
            moved = quiet[1] if quiet else moved
        if moved == at:
            return at
        at = moved
    return at


def step_at(policy: SeverityPolicy, index: int, round_: int) -> Step | None:
    """The step at this position, or None when the policy has nothing (more) to do."""
    if index >= len(policy.steps) or (round_ and not policy.repeat):
        return None
    return Step(index, round_, policy.steps[index].tier)


def due_offset(policy: SeverityPolicy, step: Step) -> timedelta:
    """How long after the escalation started this step is due."""
    return timedelta(seconds=policy.steps[step.index].after + step.round * policy.repeat)


def following(policy: SeverityPolicy, step: Step, started: datetime, now: datetime) -> Step | None:
    """The step after ``step`` was done at ``now``; repeats missed while down collapse into one."""
    if step.index + 1 < len(policy.steps):
        return step_at(policy, step.index + 1, 0)
    if not policy.repeat:
        return None
    round_ = step.round + 1
    behind = (now - started - due_offset(policy, Step(step.index, round_, step.tier))) // timedelta(
        seconds=policy.repeat
    )
    return step_at(policy, step.index, round_ + max(0, int(behind)))


def on_duty(oncall: OnCallSettings, at: datetime, tz: ZoneInfo) -> str | None:
    """The rota's duty officer at ``at`` (the first shift that covers it), if any."""
    for shift in oncall.rota:
        if current_span(shift, at, tz) is not None:
            return shift.person
    return None


def tier_people(oncall: OnCallSettings, tier: int, at: datetime, tz: ZoneInfo) -> list[Person]:
    """Who tier ``tier`` is at ``at``: the duty officer for tier 1, the configured list above."""
    ids = [p for p in [on_duty(oncall, at, tz)] if p] if tier == 1 else oncall.tiers.get(tier, ())
    people = {p.id: p for p in oncall.people}
    return [people[i] for i in dict.fromkeys(ids) if i in people]


def contacts(person: Person, channels: Channels) -> list[Contact]:
    """Every configured channel this person can be reached on."""
    found = [
        ("email", channels.email is not None, person.email),
        ("telegram", channels.telegram is not None, person.telegram_chat_id),
        ("zalo", channels.zalo is not None, person.zalo_user_id),
        (
            "webhook",
            channels.webhook is not None and bool(channels.webhook.url) and person.webhook,
            person.id,
        ),
    ]
    return [Contact(person.id, name, str(to)) for name, on, to in found if on and to]


def person_by_chat(oncall: OnCallSettings, chat_ids: set[str]) -> Person | None:
    """The person whose Telegram chat id is one of these, if any."""
    return next((p for p in oncall.people if p.telegram_chat_id in chat_ids), None)


def notification_key(case_id: int, severity: str, step: Step, contact: Contact) -> str:
    """The idempotency key of one step's message to one person on one channel."""
    return (
        f"case:{case_id}:sev:{severity}:tier:{step.tier}:round:{step.round}"
        f":{contact.person_id}:{contact.channel}"
    )
