"""The daily digest's queries: counts per day, topic and place, top stories, cases, and the archive.

Counting is done by the database (GROUP BY over the day's relevant items, found through
``ix_items_fetched_at``); only the places, kept as JSON per analysis, are read item by item,
and then only for one day's relevant items. A day is a span of UTC instants the caller computes
from the local date, so the queries know nothing of time zones.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from monitor.storage.models import Analysis, Case, Digest, Item, Notification, Story
from nlp.base import SEVERITIES, severity_rank

_CLOSED = ("resolved", "dismissed")


@dataclass(frozen=True, slots=True)
class StoryLine:
    """A story of the day: its severity and reach, and the item that says why it matters."""

    story_id: int | None
    title: str
    url: str
    severity: str
    items: int
    outlets: int
    items_today: int
    topic: str | None
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CaseLine:
    """A case as the digest lists it."""

    id: int
    kind: str
    title: str
    severity: str
    status: str
    opened_at: datetime
    due_at: datetime | None


@dataclass(frozen=True, slots=True)
class Archived:
    """What the archive holds of one day's digest."""

    day: str
    language: str
    subject: str
    sent_at: datetime | None


def _rank(column: Any) -> ColumnElement[int]:
    """A severity as its position on the ladder, so the database can order by it."""
    return case({s: i for i, s in enumerate(SEVERITIES)}, value=column, else_=-1)


def _relevant_seen(start: datetime, end: datetime) -> tuple[ColumnElement[bool], ...]:
    return (Analysis.relevant.is_(True), Item.fetched_at >= start, Item.fetched_at < end)


def daily_sentiments(session: Session, bounds: Sequence[datetime]) -> list[Counter[str]]:
    """Relevant items first seen in each span ``bounds[i]``..``bounds[i+1]``, by sentiment."""
    # The span is a CASE over the boundaries, grouped through a subquery: PostgreSQL does not
    # see two copies of a parametrised CASE (select list, GROUP BY) as the same expression.
    span = case(*((Item.fetched_at < b, i) for i, b in enumerate(bounds[1:])), else_=-1)
    rows = (
        select(span.label("span"), func.coalesce(Analysis.sentiment, "").label("sentiment"))
        .join(Analysis, Analysis.item_id == Item.id)
        .where(*_relevant_seen(bounds[0], bounds[-1]))
        .subquery()
    )
    stmt = select(rows.c.span, rows.c.sentiment, func.count()).group_by(
        rows.c.span, rows.c.sentiment
    )
    days: list[Counter[str]] = [Counter() for _ in bounds[1:]]
    for index, sentiment, count in session.execute(stmt):
        days[index][sentiment or "unknown"] += count
    return days


def topic_counts(session: Session, start: datetime, end: datetime) -> list[tuple[str | None, int]]:
    """Relevant items first seen in the span per topic (None: unclassified), most first."""
    stmt = (
        select(Analysis.topic, func.count())
        .join(Item, Item.id == Analysis.item_id)
        .where(*_relevant_seen(start, end))
        .group_by(Analysis.topic)
    )
    rows = [(topic, count) for topic, count in session.execute(stmt)]
    return sorted(rows, key=lambda row: (-row[1], row[0] or ""))


def place_counts(session: Session, start: datetime, end: datetime) -> Counter[str]:
    """Relevant items first seen in the span per place named below the province."""
    stmt = (
        select(Analysis.places)
        .join(Item, Item.id == Analysis.item_id)
        .where(*_relevant_seen(start, end))
        .execution_options(yield_per=500)
    )
    counts: Counter[str] = Counter()
    for places in session.scalars(stmt):
        # An item naming a commune twice counts once; the province itself is every item.
        counts.update(
            {str(p["name"]) for p in places or () if p.get("name") and p.get("level") != "province"}
        )
    return counts


def _lead_items(start: datetime, end: datetime) -> Any:
    """Per story, its most severe relevant item of the span (the one that says why)."""
    order = (_rank(Analysis.severity).desc(), Item.id)
    return (
        select(
            Item.story_id,
            Item.id.label("item_id"),
            func.row_number().over(partition_by=Item.story_id, order_by=order).label("nth"),
            func.count().over(partition_by=Item.story_id).label("today"),
        )
        .join(Analysis, Analysis.item_id == Item.id)
        .where(*_relevant_seen(start, end), Item.story_id.is_not(None))
        .subquery()
    )


def top_stories(session: Session, start: datetime, end: datetime, limit: int) -> list[StoryLine]:
    """The stories with relevant items first seen in the span, by severity, then items, outlets."""
    lead = _lead_items(start, end)
    shown = aliased(Item)
    representative = aliased(Item)
    stmt = (
        select(Story, lead.c.today, shown, Analysis, representative.url)
        .join(lead, (lead.c.story_id == Story.id) & (lead.c.nth == 1))
        .join(shown, shown.id == lead.c.item_id)
        .join(Analysis, Analysis.item_id == shown.id)
        .outerjoin(representative, representative.id == Story.representative_item_id)
        .order_by(
            _rank(Story.max_severity).desc(),
            Story.item_count.desc(),
            Story.outlet_count.desc(),
            Story.id,
        )
        .limit(limit)
    )
    lines = [
        StoryLine(
            story.id,
            story.title or item.title,
            url or item.url,
            story.max_severity,
            story.item_count,
            story.outlet_count,
            today,
            analysis.topic or story.topic,
            tuple(str(r) for r in analysis.reasons or ()),
        )
        for story, today, item, analysis, url in session.execute(stmt)
    ]
    return sorted([*lines, *_lone_items(session, start, end, limit)], key=_reach)[:limit]


def _reach(line: StoryLine) -> tuple[int, int, int]:
    return (-severity_rank(line.severity), -line.items, -line.outlets)


def _lone_items(session: Session, start: datetime, end: datetime, limit: int) -> list[StoryLine]:
    """Relevant items of the span not grouped into a story (stored before stories existed)."""
    stmt = (
        select(Item, Analysis)
        .join(Analysis, Analysis.item_id == Item.id)
        .where(*_relevant_seen(start, end), Item.story_id.is_(None))
        .order_by(_rank(Analysis.severity).desc(), Item.id)
        .limit(limit)
    )
    return [
        StoryLine(
            None,
            item.title,
            item.url,
            analysis.severity,
            1,
            1,
            1,
            analysis.topic,
            tuple(str(r) for r in analysis.reasons or ()),
        )
        for item, analysis in session.execute(stmt)
    ]


def _case_line(case_row: Case) -> CaseLine:
    return CaseLine(
        case_row.id,
        case_row.kind,
        case_row.title,
        case_row.severity,
        case_row.status,
        case_row.opened_at,
        case_row.due_at,
    )


def cases_opened(session: Session, start: datetime, end: datetime) -> list[CaseLine]:
    """Cases opened in the span, most severe first."""
    stmt = (
        select(Case)
        .where(Case.opened_at >= start, Case.opened_at < end)
        .order_by(_rank(Case.severity).desc(), Case.opened_at, Case.id)
    )
    return [_case_line(c) for c in session.scalars(stmt)]


def cases_open(session: Session, before: datetime, limit: int) -> tuple[list[CaseLine], int]:
    """Cases opened before a moment and open now, most severe and soonest due first; and how many."""
    where = (Case.opened_at < before, Case.status.not_in(_CLOSED))
    stmt = (
        select(Case)
        .where(*where)
        .order_by(
            _rank(Case.severity).desc(),
            Case.due_at.is_(None),
            Case.due_at,
            Case.opened_at,
            Case.id,
        )
        .limit(limit)
    )
    total = session.scalar(select(func.count()).select_from(Case).where(*where)) or 0
    return [_case_line(c) for c in session.scalars(stmt)], int(total)


# -- the archive and who was sent it ---------------------------------------------------------------


def _upsert(session: Session, model: Any, values: dict[str, Any], key: str) -> None:
    """Insert a row, or update the one with the same unique ``key``, in one statement."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(model).values(**values)
    changed = {k: v for k, v in values.items() if k != key}
    session.execute(stmt.on_conflict_do_update(index_elements=[key], set_=changed))


def archived(session: Session, day: str) -> Archived | None:
    """The archived digest of a local day (YYYY-MM-DD), if any."""
    row = session.scalar(select(Digest).where(Digest.day == day))
    return Archived(row.day, row.language, row.subject, row.sent_at) if row else None


def archive(
    session: Session, day: str, language: str, subject: str, html: str, text: str, at: datetime
) -> None:
    """Keep a day's digest as rendered, replacing an earlier rendering (``sent_at`` is kept)."""
    values = {
        "day": day,
        "language": language,
        "subject": subject,
        "html": html,
        "text": text,
        "created_at": at,
    }
    _upsert(session, Digest, values, "day")


def mark_sent(session: Session, day: str, at: datetime) -> None:
    """Record that a day's digest went out."""
    row = session.scalar(select(Digest).where(Digest.day == day))
    if row is None:
        raise KeyError(day)
    row.sent_at = at


def delivered(session: Session, keys: Sequence[str]) -> set[str]:
    """Which of these notification keys were sent already."""
    stmt = select(Notification.key).where(Notification.key.in_(keys), Notification.status == "sent")
    return set(session.scalars(stmt))


def record_delivery(
    session: Session,
    key: str,
    person_id: str,
    recipient: str,
    error: str | None,
    at: datetime,
    payload: dict[str, Any],
) -> None:
    """Record one digest email: sent, or failed with the error (never left pending, so nothing
    that retries pending notifications sends it without its charts)."""
    values = {
        "key": key,
        "channel": "email",
        "person_id": person_id,
        "recipient": recipient,
        "status": "failed" if error else "sent",
        "attempts": 1,
        "last_error": error,
        "payload": payload,
        "created_at": at,
        "sent_at": None if error else at,
    }
    _upsert(session, Notification, values, "key")
