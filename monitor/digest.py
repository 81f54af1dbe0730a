"""The daily digest: what one local day brought, rendered, archived and emailed to staff.

A day is a local date in ``settings.timezone``; its items are the relevant items first seen
(fetched) that day, so an article published days earlier but found today counts today, as it
reached the office today. The morning digest covers the previous day (``previous_day``).

``run`` builds the data (``monitor.storage.digestdata``), renders it (``monitor.digest_render``),
archives it in ``digests`` (one row per day) and, when asked, emails it. Sending is idempotent:
each recipient's email is a notification with the key ``digest:<day>:<person>:email``, sent at
most once, and the day's ``sent_at`` is set once every recipient has it; a digest already sent
is neither sent again nor re-archived (the archive keeps what was sent) unless ``force``.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from monitor import digest_render
from monitor.bootstrap import App
from monitor.channels.base import Channel, ChannelError, Message
from monitor.config import Settings
from monitor.errors import ConfigError
from monitor.storage import db, digestdata, queries
from monitor.storage.digestdata import Archived, CaseLine, StoryLine
from monitor.storage.models import utcnow

logger = logging.getLogger(__name__)
CHART_DAYS = 14
TOP_PLACES = 12
MAX_OPEN_CASES = 25


@dataclass(frozen=True, slots=True)
class DayCount:
    """Relevant items first seen on one local day, by sentiment."""

    day: date
    sentiments: Counter[str]

    @property
    def total(self) -> int:
        """All of the day's relevant items."""
        return sum(self.sentiments.values())


@dataclass(frozen=True, slots=True)
class SourceLine:
    """A source that failed or went silent, and why."""

    id: str
    name: str
    health: str
    last_status: str | None
    reason: str


@dataclass(frozen=True)
class DigestData:
    """Everything one day's digest says, as plain data (rendering adds only words and charts)."""

    day: date
    province: str
    tz: ZoneInfo
    now: datetime
    series: list[DayCount]  # the last CHART_DAYS days, ending with ``day``
    topics: list[tuple[str | None, int]]  # topic name (None: unclassified), items
    places: list[tuple[str, int]]
    stories: list[StoryLine]
    new_cases: list[CaseLine]
    open_cases: list[CaseLine]
    open_total: int
    sources: list[SourceLine]
    other_places: int = 0

    @property
    def total(self) -> int:
        """The day's relevant items."""
        return self.series[-1].total

    @property
    def previous(self) -> int:
        """The day before's relevant items."""
        return self.series[-2].total

    @property
    def week_average(self) -> float:
        """Relevant items per day over the seven days before."""
        return sum(d.total for d in self.series[-8:-1]) / 7

    @property
    def change(self) -> int | None:
        """Percent change from the day before (None when the day before had none)."""
        if not self.previous:
            return None
        return round((self.total - self.previous) * 100 / self.previous)

    @property
    def sentiments(self) -> Counter[str]:
        """The day's relevant items by sentiment."""
        return self.series[-1].sentiments

    def overdue(self, case: CaseLine) -> bool:
        """Whether a case is past its due time now."""
        return case.due_at is not None and case.due_at < self.now


@dataclass
class Delivery:
    """What sending a day's digest did."""

    sent: list[str] = field(default_factory=list)  # person ids
    already: list[str] = field(default_factory=list)  # sent by an earlier, interrupted attempt
    failed: list[tuple[str, str]] = field(default_factory=list)  # person id, error
    skipped: list[str] = field(default_factory=list)  # recipients who cannot get email, why
    sent_before: datetime | None = None  # the whole digest went out then: nothing was done


@dataclass(frozen=True)
class Outcome:
    """A digest run: the data, its rendering, whether the archive kept an earlier one, delivery."""

    data: DigestData
    rendered: digest_render.Rendered
    archived: bool
    prior: Archived | None
    delivery: Delivery | None = None


def previous_day(settings: Settings, now: datetime | None = None) -> date:
    """Yesterday in the province: the day the morning digest covers."""
    return (now or utcnow()).astimezone(settings.tz).date() - timedelta(days=1)


def _start(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tz).astimezone(UTC)


def _failing_sources(app: App) -> list[SourceLine]:
    lines = []
    for row in queries.sources_health(app.sessions):
        # A source switched off in config.yaml is off on purpose, not failing.
        if not row.enabled or (row.health == "active" and row.last_status != "error"):
            continue
        reason = row.health_reason if row.health != "active" else row.last_error
        name = next((s.name for s in app.settings.sources if s.id == row.id and s.name), row.id)
        first = (reason or "").strip().splitlines()
        lines.append(SourceLine(row.id, name, row.health, row.last_status, (first or [""])[0]))
    return lines


def build(app: App, day: date, now: datetime | None = None) -> DigestData:
    """Gather what the digest of a local day says (cases are as they stand ``now``)."""
    settings, tz = app.settings, app.settings.tz
    days = [day - timedelta(days=CHART_DAYS - 1 - i) for i in range(CHART_DAYS + 1)]
    bounds = [_start(d, tz) for d in days]
    start, end = bounds[-2], bounds[-1]
    with app.sessions() as session:
        series = digestdata.daily_sentiments(session, bounds)
        topics = digestdata.topic_counts(session, start, end)
        places = digestdata.place_counts(session, start, end)
        stories = digestdata.top_stories(session, start, end, settings.digest.top_stories)
        new_cases = digestdata.cases_opened(session, start, end)
        open_cases, open_total = digestdata.cases_open(session, end, MAX_OPEN_CASES)
    top_places = places.most_common(TOP_PLACES)
    return DigestData(
        day=day,
        province=settings.province.name,
        tz=tz,
        now=now or utcnow(),
        series=[DayCount(d, c) for d, c in zip(days, series, strict=False)],
        topics=[(settings.topics.get(t, t) if t else None, n) for t, n in topics],
        places=top_places,
        other_places=len(places) - len(top_places),
        stories=stories,
        new_cases=new_cases,
        open_cases=open_cases,
        open_total=open_total,
        sources=_failing_sources(app),
    )


def recipients(settings: Settings) -> tuple[list[tuple[str, str]], list[str]]:
    """(person id, email) of whom the digest goes to, and the named people it cannot reach."""
    people = {p.id: p for p in settings.oncall.people}
    named = settings.digest.recipients
    if not named:
        return [(p.id, p.email) for p in people.values() if p.email], []
    found, problems = [], []
    for person_id in named:
        person = people.get(person_id)
        if person is None:
            problems.append(f"{person_id}: not in oncall.people")
        elif not person.email:
            problems.append(f"{person_id}: has no email")
        else:
            found.append((person_id, person.email))
    return found, problems


def _email_channel(app: App) -> Channel:
    channel: Channel | None = app.channels.get("email")
    if channel is None:
        raise ConfigError(
            "notify.channels.email: no email channel is configured, so the digest cannot be "
            "sent (configure notify.channels.email and set notify.enabled in config.yaml)"
        )
    return channel


def deliver(
    app: App, day: date, rendered: digest_render.Rendered, *, force: bool = False
) -> Delivery:
    """Email the rendered digest to its recipients, once each (again with ``force``)."""
    channel = _email_channel(app)
    people, problems = recipients(app.settings)
    if not people:
        raise ConfigError(
            "digest.recipients: nobody to send the digest to (no person in oncall.people has an "
            "email" + (f"; {'; '.join(problems)}" if problems else "") + ")"
        )
    iso = day.isoformat()
    keys = {pid: f"digest:{iso}:{pid}:email" for pid, _ in people}
    report = Delivery(skipped=problems)
    with db.transaction(app.sessions) as session:
        prior = digestdata.archived(session, iso)
        if prior is not None and prior.sent_at is not None and not force:
            report.sent_before = prior.sent_at
            return report
        done = set() if force else digestdata.delivered(session, list(keys.values()))
    for person_id, address in people:
        if keys[person_id] in done:
            report.already.append(person_id)
            continue
        _send_one(app, channel, rendered, iso, person_id, address, keys[person_id], report)
    if not report.failed:
        with db.transaction(app.sessions) as session:
            digestdata.mark_sent(session, iso, utcnow())
    return report


def _send_one(
    app: App,
    channel: Channel,
    rendered: digest_render.Rendered,
    day: str,
    person_id: str,
    address: str,
    key: str,
    report: Delivery,
) -> None:
    message = Message(
        rendered.subject, rendered.text, html=rendered.html, images=rendered.images, key=key
    )
    error = None
    try:
        channel.send(address, message)
    except ChannelError as exc:  # one recipient's failure must not keep the others waiting
        error = str(exc)
        logger.warning("digest %s to %s failed: %s", day, person_id, error)
        report.failed.append((person_id, error))
    else:
        report.sent.append(person_id)
    with db.transaction(app.sessions) as session:
        digestdata.record_delivery(
            session, key, person_id, address, error, utcnow(), {"digest": day}
        )


def run(
    app: App,
    day: date,
    *,
    language: str | None = None,
    send: bool = False,
    force: bool = False,
    now: datetime | None = None,
) -> Outcome:
    """Build, render and archive a day's digest, and email it when ``send``."""
    language = language or app.settings.digest.language
    data = build(app, day, now)
    rendered = digest_render.render(data, language)
    iso = day.isoformat()
    with db.transaction(app.sessions) as session:
        prior = digestdata.archived(session, iso)
        keep = prior is not None and prior.sent_at is not None and not force
        if not keep:
            digestdata.archive(
                session, iso, language, rendered.subject, rendered.page, rendered.text, utcnow()
            )
    delivery = deliver(app, day, rendered, force=force) if send else None
    return Outcome(data, rendered, not keep, prior, delivery)
