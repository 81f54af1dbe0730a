"""Read-side queries for the CLI, dashboards and digests; they return plain data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, sessionmaker

from monitor.storage.models import Analysis, Case, CrawlRun, Item, Source
from nlp.base import SEVERITIES


@dataclass(frozen=True, slots=True)
class ItemRow:
    """An item as listed: what it is, where from, and what the analyser said."""

    id: int
    source_id: str
    kind: str
    title: str
    url: str
    published_at: datetime | None
    fetched_at: datetime
    relevant: bool | None
    severity: str | None


@dataclass(frozen=True, slots=True)
class SourceRow:
    """A source with its health: last run, last success, failures, items stored."""

    id: str
    kind: str
    url: str
    enabled: bool
    items: int
    last_status: str | None
    last_run_at: datetime | None
    last_success_at: datetime | None
    consecutive_failures: int
    last_error: str | None
    backoff_until: datetime | None
    health: str = "active"
    health_reason: str | None = None
    failure_score: float = 0.0
    last_new_item_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ItemDetail:
    """One item with the analyser's verdict and its case, as shown after a submission."""

    id: int
    source_id: str
    kind: str
    title: str
    url: str
    published_at: datetime | None
    relevant: bool | None
    severity: str | None
    topic: str | None
    sentiment: str | None
    reasons: list[str]
    case_id: int | None


def item_detail(sessions: sessionmaker[Session], canonical_url: str) -> ItemDetail | None:
    """The stored item with this canonical URL, its analysis and its case, if any."""
    stmt = (
        select(Item, Analysis, Case.id)
        .outerjoin(Analysis, Analysis.item_id == Item.id)
        .outerjoin(Case, Case.item_id == Item.id)
        .where(Item.canonical_url == canonical_url)
    )
    with sessions() as session:
        row = session.execute(stmt).first()
        if row is None:
            return None
        item, analysis, case_id = row
        return ItemDetail(
            item.id,
            item.source_id,
            item.kind,
            item.title,
            item.url,
            item.published_at,
            analysis.relevant if analysis else None,
            analysis.severity if analysis else None,
            analysis.topic if analysis else None,
            analysis.sentiment if analysis else None,
            [str(r) for r in analysis.reasons] if analysis else [],
            case_id,
        )


def recent_items(
    sessions: sessionmaker[Session],
    *,
    limit: int = 20,
    source_id: str | None = None,
    relevant_only: bool = False,
    min_severity: str | None = None,
    since: datetime | None = None,
) -> list[ItemRow]:
    """The newest items (by publication, else fetch time), filtered."""
    when = func.coalesce(Item.published_at, Item.fetched_at)
    stmt = (
        select(Item, Analysis.relevant, Analysis.severity)
        .outerjoin(Analysis, Analysis.item_id == Item.id)
        .order_by(when.desc(), Item.id.desc())
        .limit(limit)
    )
    if source_id:
        stmt = stmt.where(Item.source_id == source_id)
    if relevant_only:
        stmt = stmt.where(Analysis.relevant.is_(True))
    if min_severity:
        stmt = stmt.where(Analysis.severity.in_(SEVERITIES[SEVERITIES.index(min_severity) :]))
    if since:
        stmt = stmt.where(when >= since)
    with sessions() as session:
        return [
            ItemRow(
                i.id, i.source_id, i.kind, i.title, i.url, i.published_at, i.fetched_at, rel, sev
            )
            for i, rel, sev in session.execute(stmt)
        ]


def sources_statement(
    sources: ColumnElement[bool] | None = None, items: ColumnElement[bool] | None = None
) -> Any:
    """A select of (source, items stored, latest run's status) per source by id, optionally narrowed."""
    # Counted per source on ix_items_source_id (an index-only count, one pass over the index).
    counts = select(Item.source_id, func.count().label("n"))
    if items is not None:
        counts = counts.where(items)
    counted = counts.group_by(Item.source_id).subquery()
    latest = (
        select(CrawlRun.source_id, func.max(CrawlRun.id).label("run_id"))
        .group_by(CrawlRun.source_id)
        .subquery()
    )
    stmt = (
        select(Source, func.coalesce(counted.c.n, 0), CrawlRun.status)
        .outerjoin(counted, counted.c.source_id == Source.id)
        .outerjoin(latest, latest.c.source_id == Source.id)
        .outerjoin(CrawlRun, CrawlRun.id == latest.c.run_id)
        .order_by(Source.id)
    )
    return stmt if sources is None else stmt.where(sources)


def sources_health(sessions: sessionmaker[Session]) -> list[SourceRow]:
    """Every known source with its latest run status and item count."""
    stmt = sources_statement()
    with sessions() as session:
        return [
            SourceRow(
                s.id,
                s.kind,
                s.url,
                s.enabled,
                n,
                status,
                s.last_run_at,
                s.last_success_at,
                s.consecutive_failures,
                s.last_error,
                s.backoff_until,
                s.health,
                s.health_reason,
                s.failure_score,
                s.last_new_item_at,
            )
            for s, n, status in session.execute(stmt)
        ]


def count_items(sessions: sessionmaker[Session], source_id: str | None = None) -> int:
    """How many items are stored (for one source, or all)."""
    stmt = select(func.count()).select_from(Item)
    if source_id:
        stmt = stmt.where(Item.source_id == source_id)
    with sessions() as session:
        return int(session.scalar(stmt) or 0)
