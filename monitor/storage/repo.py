"""Write-side storage operations: sources, crawl runs, idempotent ingest, analyses and cases."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crawlers.base import ItemRecord, Validators
from monitor.storage.casestore import Dues, due_time, tighten_due
from monitor.storage.models import (
    Analysis,
    Case,
    CaseEvent,
    CrawlRun,
    Item,
    Source,
    Story,
    utcnow,
)
from monitor.storage.searchtext import index_text
from nlp.base import Analysis as AnalysisResult
from nlp.base import severity_rank

logger = logging.getLogger(__name__)
_CHUNK = 500
_ENRICHED = "enriched_by"  # item meta: the other source whose fuller copy replaced the text


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """What storage keeps of a configured source."""

    id: str
    kind: str
    url: str
    name: str | None
    enabled: bool


@dataclass(frozen=True, slots=True)
class SourceState:
    """What a run needs to know about a source before it fetches."""

    id: str
    validators: Validators
    consecutive_failures: int
    backoff_until: datetime | None
    cursor: dict[str, Any] = field(default_factory=dict)
    last_success_at: datetime | None = None
    health: str = "active"


@dataclass(slots=True)
class IngestResult:
    """Which items a batch added or changed (id, record); the rest were already stored as they are."""

    new: list[tuple[int, ItemRecord]] = field(default_factory=list)
    updated: list[tuple[int, ItemRecord]] = field(default_factory=list)
    unchanged: int = 0
    repeated: int = 0  # the same URL twice in one batch


def content_hash(record: ItemRecord) -> str:
    """A fingerprint of what a reader sees; when it changes, the item is updated."""
    basis = f"{record.title}\n{record.text}\n{record.author or ''}"
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()


def sync_sources(session: Session, sources: Iterable[SourceConfig]) -> None:
    """Make the sources table match the configuration; sources no longer configured are disabled."""
    configured = {s.id: s for s in sources}
    existing = {s.id: s for s in session.scalars(select(Source))}
    for source_id, cfg in configured.items():
        row = existing.get(source_id)
        if row is None:
            session.add(
                Source(id=cfg.id, kind=cfg.kind, url=cfg.url, name=cfg.name, enabled=cfg.enabled)
            )
            continue
        if row.url != cfg.url:  # a new URL has nothing to do with the old one's validators
            row.etag = row.last_modified = None
        row.kind, row.url, row.name, row.enabled = cfg.kind, cfg.url, cfg.name, cfg.enabled
    for source_id, row in existing.items():
        if source_id not in configured:
            row.enabled = False


def source_state(session: Session, source_id: str) -> SourceState:
    """The stored state of a source; KeyError if it was never synced."""
    row = session.get(Source, source_id)
    if row is None:
        raise KeyError(source_id)
    return SourceState(
        row.id,
        Validators(row.etag, row.last_modified),
        row.consecutive_failures,
        row.backoff_until,
        dict(row.cursor or {}),
        row.last_success_at,
        row.health,
    )


def known_urls(session: Session, canonical_urls: Collection[str]) -> set[str]:
    """Which of these canonical URLs are stored already."""
    found: set[str] = set()
    keys = list(dict.fromkeys(canonical_urls))
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        found.update(
            session.scalars(select(Item.canonical_url).where(Item.canonical_url.in_(chunk)))
        )
    return found


def open_case_urls(session: Session, source_id: str, limit: int = 50) -> list[str]:
    """Canonical URLs of a source's items whose cases are still open, newest first."""
    rows = session.scalars(
        select(Item.canonical_url)
        .join(Case, Case.item_id == Item.id)
        .where(Item.source_id == source_id, Case.status.not_in(("resolved", "dismissed")))
        .order_by(Case.opened_at.desc())
        .limit(limit)
    )
    return list(rows)


def start_run(session: Session, source_id: str, status: str = "running") -> int:
    """Record that a run of a source began; returns its id."""
    run = CrawlRun(source_id=source_id, status=status, started_at=utcnow())
    session.add(run)
    session.flush()
    return run.id


def finish_run(session: Session, run_id: int, status: str, **counts: Any) -> None:
    """Close a run with its outcome: status, counts, error text and warnings."""
    values = {"status": status, "finished_at": utcnow(), **counts}
    session.execute(update(CrawlRun).where(CrawlRun.id == run_id).values(**values))


def abandon_stale_runs(session: Session, started_before: datetime) -> int:
    """Mark runs a killed process left 'running' (started before a time) abandoned; returns how many."""
    result = session.execute(
        update(CrawlRun)
        .where(CrawlRun.status == "running", CrawlRun.started_at < started_before)
        .values(status="abandoned", finished_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


def record_success(
    session: Session,
    source_id: str,
    validators: Validators,
    cursor: Mapping[str, Any] | None = None,
    new_items: int = 0,
) -> None:
    """A run read the source: remember its validators and cursor and clear the failure streak."""
    now = utcnow()
    extra: dict[str, Any] = {} if cursor is None else {"cursor": dict(cursor)}
    if new_items:
        extra["last_new_item_at"] = now
    session.execute(
        update(Source)
        .where(Source.id == source_id)
        .values(
            **extra,
            etag=validators.etag,
            last_modified=validators.last_modified,
            last_run_at=now,
            last_success_at=now,
            last_error=None,
            consecutive_failures=0,
            backoff_until=None,
        )
    )


def record_failure(
    session: Session, source_id: str, error: str, backoff_until: datetime | None
) -> None:
    """A run could not read the source: keep the error and when to try again."""
    session.execute(
        update(Source)
        .where(Source.id == source_id)
        .values(
            last_run_at=utcnow(),
            last_error=error[:2000],
            consecutive_failures=Source.consecutive_failures + 1,
            backoff_until=backoff_until,
        )
    )


def _item_values(source_id: str, record: ItemRecord, digest: str) -> dict[str, Any]:
    return {
        "source_id": source_id,
        "kind": record.kind,
        "url": record.url,
        "canonical_url": record.canonical_url,
        "title": record.title,
        "text": record.text,
        "author": record.author,
        "published_at": record.published_at,
        "fetched_at": utcnow(),
        "language": record.language,
        "content_hash": digest,
        "meta": dict(record.meta),
        "search_text": index_text(record.title, record.text),
    }


@dataclass(frozen=True, slots=True)
class _Stored:
    id: int
    digest: str
    source_id: str
    text_length: int
    meta: dict[str, Any]


def _existing(session: Session, keys: Sequence[str]) -> dict[str, _Stored]:
    found: dict[str, _Stored] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        rows = session.execute(
            select(
                Item.canonical_url,
                Item.id,
                Item.content_hash,
                Item.source_id,
                func.length(Item.text),
                Item.meta,
            ).where(Item.canonical_url.in_(chunk))
        )
        found.update(
            (key, _Stored(item_id, digest, source, length or 0, dict(meta or {})))
            for key, item_id, digest, source, length, meta in rows
        )
    return found


def _replaces(stored: _Stored, source_id: str, record: ItemRecord, digest: str) -> bool:
    """Whether a record should overwrite the stored item of the same URL.

    A copy with more text always does (a full article after a feed's excerpt). Otherwise only the
    item's own source may change it, and not once another source enriched it: two feeds with
    different excerpts would overwrite each other every run, and a feed re-listing an article
    staff submitted in full would put its excerpt back.
    """
    if stored.digest == digest:
        return False
    if len(record.text) > stored.text_length:
        return True
    return stored.source_id == source_id and _ENRICHED not in stored.meta


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> list[int | None]:
    """Insert rows; returns each row's new id, None where another run stored that URL first."""
    if not rows:
        return []
    stmt = insert(Item).returning(Item.id, sort_by_parameter_order=True)
    try:
        with session.begin_nested():
            return list(session.scalars(stmt, rows))
    except IntegrityError:
        # Another run stored one of these URLs since we looked: insert one by one, skipping those.
        ids: list[int | None] = []
        for row in rows:
            try:
                with session.begin_nested():
                    ids.append(session.scalars(stmt, [row]).one())
            except IntegrityError:
                logger.debug("item %s was stored concurrently", row["canonical_url"])
                ids.append(None)
        return ids


def ingest(session: Session, source_id: str, records: Iterable[ItemRecord]) -> IngestResult:
    """Store new items and update changed ones; an item seen before unchanged is left alone."""
    result = IngestResult()
    batch: dict[str, ItemRecord] = {}
    for record in records:
        if record.canonical_url in batch:
            result.repeated += 1
        batch[record.canonical_url] = record
    existing = _existing(session, list(batch))
    new_rows, new_records = [], []
    for key, record in batch.items():
        digest = content_hash(record)
        stored = existing.get(key)
        if stored is None:
            new_rows.append(_item_values(source_id, record, digest))
            new_records.append(record)
        elif not _replaces(stored, source_id, record, digest):
            result.unchanged += 1
        else:
            values = _item_values(source_id, record, digest)
            for unchanged_field in ("source_id", "canonical_url", "fetched_at"):
                values.pop(unchanged_field)
            if stored.source_id != source_id:  # keep what the first source said, note who added
                values["meta"] = {**values["meta"], **stored.meta, _ENRICHED: source_id}
            session.execute(
                update(Item).where(Item.id == stored.id).values(updated_at=utcnow(), **values)
            )
            result.updated.append((stored.id, record))
    for item_id, record in zip(_insert_new(session, new_rows), new_records, strict=True):
        if item_id is None:
            result.unchanged += 1
        else:
            result.new.append((item_id, record))
    return result


def unanalysed(session: Session, source_id: str, limit: int) -> list[tuple[int, str, str, str]]:
    """(id, title, text, kind) of a source's items with no analysis yet (their analysis failed)."""
    stmt = (
        select(Item.id, Item.title, Item.text, Item.kind)
        .outerjoin(Analysis, Analysis.item_id == Item.id)
        .where(Item.source_id == source_id, Analysis.id.is_(None))
        .order_by(Item.id)
        .limit(limit)
    )
    return [(i, title, text, kind) for i, title, text, kind in session.execute(stmt)]


def save_analyses(session: Session, results: Sequence[tuple[int, AnalysisResult]]) -> None:
    """Store each item's latest analysis, replacing an earlier one."""
    if not results:
        return
    item_ids = [item_id for item_id, _ in results]
    for start in range(0, len(item_ids), _CHUNK):
        session.execute(
            delete(Analysis).where(Analysis.item_id.in_(item_ids[start : start + _CHUNK]))
        )
    rows = [
        {
            "item_id": item_id,
            "model_version": a.model_version,
            "relevant": a.relevant,
            "relevance_score": a.relevance_score,
            "places": [asdict(p) for p in a.places],
            "topic": a.topic,
            "topic_scores": dict(a.topic_scores),
            "sentiment": a.sentiment,
            "sentiment_score": a.sentiment_score,
            "severity": a.severity,
            "reasons": list(a.reasons),
            "analysed_at": utcnow(),
        }
        for item_id, a in results
    ]
    session.execute(insert(Analysis), rows)


def story_case(session: Session, story_id: int, item_id: int) -> Case | None:
    """The story's case, or the item's own case from before stories, which then follows the story."""
    case = session.scalar(select(Case).where(Case.story_id == story_id))
    if case is not None:
        return case
    case = session.scalar(select(Case).where(Case.item_id == item_id, Case.story_id.is_(None)))
    if case is not None:
        case.story_id, case.kind = story_id, "story"
        case.notified_severity = case.notified_severity or case.severity
    return case


def _story_detail(story: Story) -> dict[str, Any]:
    return {
        "item_count": story.item_count,
        "outlet_count": story.outlet_count,
        "outlets": list(story.outlets[:20]),
    }


def open_or_update_case(
    session: Session,
    story_id: int,
    item_id: int,
    analysis: AnalysisResult,
    *,
    case_severity: str = "alert",
    joined: bool = False,
    actor: str = "system",
    due: Dues | None = None,
) -> bool:
    """Open the story's case when an item of it is flagged, or update the open one; True if opened.

    An item that ``joined`` the story adds a "story_grew" event (even below ``case_severity``),
    a changed one "item_updated". Severity only rises, and a "notify" event is added only when it
    rises above the severity staff were last notified at. ``due`` (per severity) sets the due
    time, brought forward when the severity rises.
    """
    story = session.get(Story, story_id)
    if story is None:
        raise KeyError(story_id)
    case = story_case(session, story_id, item_id)
    now = utcnow()
    detail = {"item_id": item_id, "severity": analysis.severity, "reasons": list(analysis.reasons)}
    if case is None:
        if severity_rank(analysis.severity) < severity_rank(case_severity):
            return False
        case = Case(
            kind="story",
            item_id=item_id,
            story_id=story_id,
            title=story.title,
            severity=analysis.severity,
            opened_at=now,
            updated_at=now,
            due_at=due_time(due, analysis.severity, now),
        )
        session.add(case)
        session.flush()
        _event(session, case, actor, "opened", {**detail, **_story_detail(story)})
        _notify(session, case)
        return True
    if joined:
        _event(session, case, actor, "story_grew", {**detail, **_story_detail(story)})
    else:
        _event(session, case, actor, "item_updated", detail)
    if severity_rank(analysis.severity) > severity_rank(case.severity):
        case.severity = analysis.severity
        tighten_due(case, due)
        _event(session, case, actor, "severity_raised", detail)
    case.title, case.updated_at = story.title, now
    _notify(session, case)
    return False


def _event(session: Session, case: Case, actor: str, action: str, detail: dict[str, Any]) -> None:
    session.add(CaseEvent(case_id=case.id, at=utcnow(), actor=actor, action=action, detail=detail))


def _notify(session: Session, case: Case) -> None:
    """Ask for a notification when the case is more severe than staff were last told."""
    if severity_rank(case.severity) > severity_rank(case.notified_severity or "none"):
        _event(session, case, "system", "notify", {"severity": case.severity})
        case.notified_severity = case.severity
