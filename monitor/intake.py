"""Manual intake: a URL or pasted text submitted by staff becomes an item, analysed like any other.

Submissions are stored under the configured source of kind ``manual`` (or the built-in source
``manual``), each as a crawl run, so the audit trail says who submitted what and when.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from crawlers.base import Collected, ItemRecord
from crawlers.errors import SourceError
from crawlers.manual import submitted_text, submitted_url
from monitor.bootstrap import App, manual_source_id
from monitor.pipeline import RunReport, store_collected
from monitor.storage import db, queries, repo

logger = logging.getLogger(__name__)


@dataclass
class Submission:
    """What became of a submission: the stored item and its analysis, or why it failed."""

    ok: bool
    error: str | None = None
    item: queries.ItemDetail | None = None
    new: bool = False
    cases_opened: int = 0
    warnings: list[str] = field(default_factory=list)


def submit(
    app: App,
    *,
    url: str | None = None,
    text: str | None = None,
    title: str | None = None,
    kind: str = "manual",
    submitted_by: str = "cli",
) -> Submission:
    """Fetch a URL (SSRF-guarded) or take pasted text, store it, analyse it, open a case if due."""
    try:
        if text is not None:
            record = submitted_text(text, title=title, url=url, kind=kind)
        elif url:
            record = submitted_url(app.fetcher, url, kind=kind, timezone=app.settings.timezone)
        else:
            raise ValueError("give a URL or the text to submit")
    except (SourceError, ValueError) as exc:
        logger.warning("submission by %s refused: %s", submitted_by, exc)
        return Submission(False, str(exc))
    except Exception as exc:  # a page that trips a bug must not take the caller down
        logger.exception("submission by %s failed unexpectedly", submitted_by)
        return Submission(False, f"the page could not be read: {type(exc).__name__}: {exc}")
    record = _with_submitter(record, submitted_by)
    return _store(app, record)


def _with_submitter(record: ItemRecord, submitted_by: str) -> ItemRecord:
    meta = {**record.meta, "submitted_by": submitted_by[:100]}
    return ItemRecord(
        record.url,
        record.canonical_url,
        record.title,
        record.text,
        record.kind,
        record.author,
        record.published_at,
        record.language,
        meta,
    )


def _store(app: App, record: ItemRecord) -> Submission:
    source_id = manual_source_id(app.settings)
    with db.transaction(app.sessions) as session:
        run_id = repo.start_run(session, source_id)
    report = RunReport(source_id, "running", fetched=1)
    # A manual source is never scheduled, so silence and failure scores mean nothing for it.
    store_collected(app, run_id, source_id, Collected([record]), report, track_health=False)
    item = queries.item_detail(app.sessions, record.canonical_url)
    return Submission(True, item=item, new=report.new == 1, cases_opened=report.cases_opened)
