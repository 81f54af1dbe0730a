"""Read-side queries for the case queue and the case, story and item pages; plain data out.

Scoping: a user limited to some sources (``scope``) sees an item when its source is one of them,
a story when one of its copies is, a story case when its story is visible, an item case when its
item is, and a source case when its source is. Surge cases count the whole province's coverage,
not any one source, so they are shown only to users who see every source.

Speed (1M items, ~10k cases): the queue filters cases on their own columns (``ix_cases_status``,
``ix_cases_severity``) and sorts the few thousand that match in memory; a scoped user's story
cases test ``ix_items_story_id`` per case. The pages read one story's copies through
``ix_items_story_id``, an item by its key, its case through the unique ``case.item_id`` /
``case.story_id`` indexes.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, func, or_, select
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session, load_only, sessionmaker

from monitor.storage.casestore import OPEN, CaseView
from monitor.storage.models import Analysis, Case, Item, Source, Story
from monitor.storage.stories import outlet_of
from nlp.base import SEVERITIES

Scope = Collection[str] | None  # source ids a user may see; None: every source


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """Which cases the queue shows; None/False leaves a filter off."""

    statuses: tuple[str, ...] | None = OPEN
    severities: tuple[str, ...] | None = None
    kind: str | None = None
    assignee: str | None = None
    unassigned: bool = False
    overdue: bool = False
    scope: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class QueuePage:
    """One page of the queue and how many cases match in all."""

    cases: tuple[CaseView, ...]
    total: int
    offset: int
    limit: int

    @property
    def has_more(self) -> bool:
        """Whether another page follows."""
        return self.offset + len(self.cases) < self.total


@dataclass(frozen=True, slots=True)
class CaseLink:
    """A case as other pages link to it."""

    id: int
    title: str
    severity: str
    status: str
    assignee: str | None
    due_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoryCopy:
    """One copy of a story: where it appeared, when, and what the analyser said of it."""

    id: int
    title: str
    url: str
    kind: str
    source_id: str
    source_name: str | None
    outlet: str | None
    published_at: datetime | None
    fetched_at: datetime
    relevant: bool | None
    severity: str | None
    sentiment: str | None


@dataclass(frozen=True, slots=True)
class StoryPage:
    """A story with the copies a user may see (at most the limit asked for) and its case."""

    id: int
    title: str
    topic: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    item_count: int
    outlet_count: int
    outlets: tuple[str, ...]
    max_severity: str
    sentiment_counts: dict[str, int]
    representative_item_id: int | None
    copies: tuple[StoryCopy, ...]
    visible_copies: int  # copies the user may see, of which ``copies`` lists the first ones
    case: CaseLink | None


@dataclass(frozen=True, slots=True)
class PlaceView:
    """A place the analyser found in the text."""

    name: str
    level: str
    new_unit: str | None


@dataclass(frozen=True, slots=True)
class AnalysisView:
    """The analyser's latest verdict on an item, as it stored it."""

    model_version: str
    relevant: bool
    relevance_score: float
    topic: str | None
    sentiment: str | None
    sentiment_score: float | None
    severity: str
    places: tuple[PlaceView, ...]
    reasons: tuple[str, ...]
    analysed_at: datetime


@dataclass(frozen=True, slots=True)
class ItemPage:
    """An item with its source, text, analysis, story and case."""

    id: int
    source_id: str
    source_name: str | None
    kind: str
    url: str
    title: str
    text: str
    author: str | None
    published_at: datetime | None
    fetched_at: datetime
    submitted_by: str | None
    story_id: int | None
    story_title: str | None
    story_item_count: int | None
    analysis: AnalysisView | None
    case: CaseLink | None


def _rank() -> Any:
    return sql_case({s: i for i, s in enumerate(SEVERITIES)}, value=Case.severity, else_=-1)


def _in_scope(scope: Collection[str]) -> ColumnElement[bool]:
    """Cases a user limited to these sources may see (see the module docstring)."""
    ids = list(scope)
    story_copy = exists().where(Item.story_id == Case.story_id, Item.source_id.in_(ids))
    own_item = exists().where(Item.id == Case.item_id, Item.source_id.in_(ids))
    return or_(
        Case.source_id.in_(ids),
        and_(Case.story_id.is_not(None), story_copy),
        and_(Case.story_id.is_(None), Case.item_id.is_not(None), own_item),
    )


def _conditions(wanted: QueueFilter, now: datetime) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if wanted.statuses is not None:
        found.append(Case.status.in_(wanted.statuses))
    if wanted.severities is not None:
        found.append(Case.severity.in_(wanted.severities))
    if wanted.kind is not None:
        found.append(Case.kind == wanted.kind)
    if wanted.unassigned:
        found.append(Case.assignee.is_(None))
    elif wanted.assignee is not None:
        found.append(Case.assignee == wanted.assignee)
    if wanted.overdue:
        found += [Case.status.in_(OPEN), Case.due_at.is_not(None), Case.due_at <= now]
    if wanted.scope is not None:
        found.append(_in_scope(wanted.scope) if wanted.scope else false())
    return found


def _view(case: Case, item_count: int | None, outlet_count: int | None, now: datetime) -> CaseView:
    overdue = case.status in OPEN and case.due_at is not None and case.due_at <= now
    return CaseView(
        case.id, case.kind, case.title, case.severity, case.status, case.assignee,
        case.opened_at, case.updated_at, case.due_at, overdue, case.acknowledged_at,
        case.resolved_at, case.item_id, case.story_id, case.source_id, case.surge_key,
        item_count, outlet_count,
    )  # fmt: skip


def queue(
    sessions: sessionmaker[Session], wanted: QueueFilter, *, limit: int, offset: int, now: datetime
) -> QueuePage:
    """A page of the cases that match: most severe first, then the soonest due, then newest."""
    conditions = _conditions(wanted, now)
    stmt = (
        select(Case, Story.item_count, Story.outlet_count)
        .outerjoin(Story, Story.id == Case.story_id)
        .where(*conditions)
        .order_by(_rank().desc(), Case.due_at.is_(None), Case.due_at, Case.id.desc())
        .limit(limit)
        .offset(offset)
    )
    count = select(func.count()).select_from(Case).where(*conditions)
    with sessions() as session:
        rows = tuple(_view(c, n, o, now) for c, n, o in session.execute(stmt))
        total = int(session.scalar(count) or 0)
    return QueuePage(rows, total, offset, limit)


def assignees(sessions: sessionmaker[Session], limit: int = 200) -> list[str]:
    """The names cases are assigned to, for the queue's filter."""
    stmt = (
        select(Case.assignee)
        .where(Case.assignee.is_not(None))
        .distinct()
        .order_by(Case.assignee)
        .limit(limit)
    )
    with sessions() as session:
        return [name for name in session.scalars(stmt) if name]


def visible_cases(
    sessions: sessionmaker[Session], case_ids: Sequence[int], scope: Scope
) -> set[int]:
    """Which of these cases exist and are visible to a user with this scope."""
    ids = sorted(set(case_ids))
    if not ids:
        return set()
    stmt = select(Case.id).where(Case.id.in_(ids))
    if scope is not None:
        stmt = stmt.where(_in_scope(scope) if scope else false())
    with sessions() as session:
        return set(session.scalars(stmt))


def _link(case: Case | None) -> CaseLink | None:
    if case is None:
        return None
    return CaseLink(case.id, case.title, case.severity, case.status, case.assignee, case.due_at)


_COPY_COLUMNS = (
    Item.id, Item.title, Item.url, Item.kind, Item.source_id, Item.published_at,
    Item.fetched_at, Item.meta,
)  # fmt: skip


def _copies(
    session: Session, story_id: int, scope: Scope, limit: int
) -> tuple[list[StoryCopy], int]:
    where = [Item.story_id == story_id]
    if scope is not None:
        where.append(Item.source_id.in_(list(scope)))
    stmt = (
        select(Item, Source.name, Analysis.relevant, Analysis.severity, Analysis.sentiment)
        .options(load_only(*_COPY_COLUMNS))
        .join(Source, Source.id == Item.source_id)
        .outerjoin(Analysis, Analysis.item_id == Item.id)
        .where(*where)
        .order_by(func.coalesce(Item.published_at, Item.fetched_at), Item.id)
        .limit(limit)
    )
    copies = [
        StoryCopy(
            i.id,
            i.title,
            i.url,
            i.kind,
            i.source_id,
            name,
            outlet_of(i),
            i.published_at,
            i.fetched_at,
            rel,
            sev,
            sent,
        )  # fmt: skip
        for i, name, rel, sev, sent in session.execute(stmt)
    ]
    total = len(copies)
    if total == limit:
        total = int(session.scalar(select(func.count()).select_from(Item).where(*where)) or 0)
    return copies, total


def story_page(
    sessions: sessionmaker[Session], story_id: int, scope: Scope, *, limit: int = 500
) -> StoryPage | None:
    """The story and its first ``limit`` copies (oldest first) a user may see; None if there is
    no such story, or none of its copies is from the user's sources."""
    with sessions() as session:
        story = session.get(Story, story_id)
        if story is None:
            return None
        copies, visible = _copies(session, story_id, scope, limit)
        if scope is not None and not copies:
            return None
        case = session.scalar(select(Case).where(Case.story_id == story_id))
        counts = {str(k): int(v) for k, v in (story.sentiment_counts or {}).items()}
        return StoryPage(
            story.id, story.title, story.topic, story.first_seen_at, story.last_seen_at,
            story.item_count, story.outlet_count, tuple(str(o) for o in story.outlets or ()),
            story.max_severity, counts, story.representative_item_id, tuple(copies), visible,
            _link(case),
        )  # fmt: skip


def _analysis(row: Analysis | None) -> AnalysisView | None:
    if row is None:
        return None
    # One entry per place, however often the text names it.
    places = tuple(
        dict.fromkeys(
            PlaceView(str(p.get("name", "")), str(p.get("level", "")), p.get("new_unit"))
            for p in row.places or ()
            if isinstance(p, dict)
        )
    )
    return AnalysisView(
        row.model_version, row.relevant, row.relevance_score, row.topic, row.sentiment,
        row.sentiment_score, row.severity, places, tuple(str(r) for r in row.reasons or ()),
        row.analysed_at,
    )  # fmt: skip


def _item_case(session: Session, item: Item) -> Case | None:
    """The story's case, else a case the item opened before stories grouped it."""
    if item.story_id is not None:
        found = session.scalar(select(Case).where(Case.story_id == item.story_id))
        if found is not None:
            return found
    return session.scalar(select(Case).where(Case.item_id == item.id))


def item_page(sessions: sessionmaker[Session], item_id: int) -> ItemPage | None:
    """The item with its source, analysis, story and case; None if there is no such item."""
    with sessions() as session:
        item = session.get(Item, item_id)
        if item is None:
            return None
        source = session.get(Source, item.source_id)
        story = session.get(Story, item.story_id) if item.story_id is not None else None
        analysis = session.scalar(select(Analysis).where(Analysis.item_id == item_id))
        submitted = (item.meta or {}).get("submitted_by")
        return ItemPage(
            item.id, item.source_id, source.name if source else None, item.kind, item.url,
            item.title, item.text, item.author, item.published_at, item.fetched_at,
            submitted if isinstance(submitted, str) else None, item.story_id,
            story.title if story else None, story.item_count if story else None,
            _analysis(analysis), _link(_item_case(session, item)),
        )  # fmt: skip
