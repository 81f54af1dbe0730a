"""One run of one source: fetch -> parse -> store new/changed items -> analyse -> open cases."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from crawlers.base import Collected, RunState, SourceSpec
from crawlers.errors import PermanentSourceError, SourceError
from crawlers.registry import get_adapter
from monitor import health, stories, surges
from monitor.bootstrap import App
from monitor.cases import due_map
from monitor.storage import db, repo, sourcehealth
from monitor.storage.models import utcnow
from nlp.base import Analysis

logger = logging.getLogger(__name__)


@dataclass
class RunReport:
    """How a run went, as shown to a person."""

    source_id: str
    status: str
    fetched: int = 0
    new: int = 0
    updated: int = 0
    errors: int = 0
    cases_opened: int = 0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    deferred_until: datetime | None = None
    # The source's health changed with this run (disabled, silent, active again) and why.
    health: str | None = None
    health_reason: str | None = None


def _backoff(app: App, failures: int, exc: SourceError) -> datetime:
    """When to try again: exponential for transient errors, the longest wait for permanent ones,
    a server's Retry-After honoured — all capped at ``max_backoff`` (a hostile header is no order)."""
    cfg = app.settings.scheduler
    if isinstance(exc, PermanentSourceError):
        delay = float(cfg.max_backoff)
    elif exc.retry_after is not None:
        delay = exc.retry_after
    else:
        delay = cfg.retry_backoff * 2.0 ** min(max(failures - 1, 0), 32)
    return utcnow() + timedelta(seconds=min(delay, cfg.max_backoff))


def _analyse(
    app: App, items: list[tuple[int, str, str, str]]
) -> tuple[list[tuple[int, Analysis]], int]:
    results: list[tuple[int, Analysis]] = []
    errors = 0
    for item_id, title, text, kind in items:
        try:
            results.append((item_id, app.analyser.analyse(title, text, kind)))
        except Exception:  # the item stays stored; the next run of its source tries again
            logger.exception("analysis of item %d failed", item_id)
            errors += 1
    return results, errors


def store_collected(
    app: App,
    run_id: int,
    source_id: str,
    collected: Collected,
    report: RunReport,
    *,
    track_health: bool = True,
) -> None:
    """Store a run's items, analyse what is new or changed, open cases, and close the run."""
    with db.transaction(app.sessions) as session:
        # Items an earlier run stored but could not analyse get another chance first.
        pending = repo.unanalysed(session, source_id, limit=200)
        ingested = repo.ingest(session, source_id, collected.items)
        todo = [(i, r.title, r.text, r.kind) for i, r in [*ingested.new, *ingested.updated]]
        analyses, report.errors = _analyse(app, [*pending, *todo])
        repo.save_analyses(session, analyses)
        new_ids = {item_id for item_id, _ in ingested.new}
        report.cases_opened += stories.on_analysed(session, app.settings, analyses, new_ids)
        surges.count_analysed(session, app.settings, analyses, new_ids)
        report.new, report.updated = len(ingested.new), len(ingested.updated)
        report.status = "warning" if collected.warnings else "ok"
        repo.record_success(session, source_id, collected.validators, collected.cursor, report.new)
        if track_health:
            _health_after_success(app, session, report, len(collected.warnings))
        repo.finish_run(
            session,
            run_id,
            report.status,
            fetched=report.fetched,
            new=report.new,
            updated=report.updated,
            errors=report.errors,
            warnings=report.warnings,
        )


def _note(report: RunReport, change: sourcehealth.HealthChange | None) -> None:
    if change is None:
        return
    report.health, report.health_reason = change.health, change.reason
    logger.warning("source %s is now %s: %s", change.source_id, change.health, change.reason)


def _health_after_success(app: App, session: db.Session, report: RunReport, warnings: int) -> None:
    policy = app.settings.health.to_policy()
    outcome = health.outcome_of(None, warnings)
    due = due_map(app.settings)
    _note(
        report, sourcehealth.record_outcome(session, report.source_id, outcome, None, policy, due)
    )
    _note(report, sourcehealth.check_silence(session, report.source_id, report.new, policy, due))


def _fail(app: App, run_id: int, report: RunReport, exc: SourceError, failures: int) -> RunReport:
    report.status, report.error, report.errors = "error", str(exc), report.errors + 1
    report.deferred_until = _backoff(app, failures, exc)
    logger.warning("source %s failed: %s", report.source_id, exc)
    with db.transaction(app.sessions) as session:
        repo.record_failure(session, report.source_id, str(exc), report.deferred_until)
        policy = app.settings.health.to_policy()
        outcome = health.outcome_of(exc)
        _note(
            report,
            sourcehealth.record_outcome(
                session, report.source_id, outcome, str(exc), policy, due_map(app.settings)
            ),
        )
        repo.finish_run(
            session,
            run_id,
            "error",
            fetched=report.fetched,
            errors=report.errors,
            error=report.error[:4000],
            warnings=report.warnings,
        )
    return report


def _finish_not_modified(
    app: App, run_id: int, report: RunReport, collected: Collected
) -> RunReport:
    report.status = "not_modified"
    with db.transaction(app.sessions) as session:
        repo.record_success(session, report.source_id, collected.validators, collected.cursor)
        _health_after_success(app, session, report, 0)
        repo.finish_run(session, run_id, "not_modified")
    return report


def _abandon(app: App, run_id: int, report: RunReport) -> RunReport:
    # Shutting down: nothing of this run is stored, so the next run fetches it all again.
    report.status = "abandoned"
    with db.transaction(app.sessions) as session:
        repo.finish_run(session, run_id, "abandoned", fetched=report.fetched)
    return report


def _known(app: App) -> Callable[[Collection[str]], set[str]]:
    def known(urls: Collection[str]) -> set[str]:
        with app.sessions() as session:
            return repo.known_urls(session, urls)

    return known


def _open_cases(app: App, source_id: str) -> Callable[[], list[str]]:
    def open_cases() -> list[str]:
        with app.sessions() as session:
            return repo.open_case_urls(session, source_id)

    return open_cases


def _run_state(app: App, state: repo.SourceState) -> RunState:
    # Secrets (API tokens) come from the environment by the name a source's options give, so
    # they are never written in config.yaml and never logged.
    return RunState(
        state.validators,
        state.cursor,
        state.last_success_at,
        _known(app),
        os.environ.get,
        _open_cases(app, state.id),
    )


def crawl_source(app: App, source_id: str, *, force: bool = False) -> RunReport:
    """Run one source once and record the run; a failure is recorded (at least logged), never raised."""
    if app.stopping.is_set():  # queued before Ctrl-C: start nothing
        return RunReport(source_id, "abandoned")
    try:
        return _crawl(app, source_id, force)
    except Exception as exc:  # even recording the failure failed: the database is down or locked
        logger.exception("the run of %s could not be recorded", source_id)
        return RunReport(source_id, "error", errors=1, error=f"{type(exc).__name__}: {exc}")


def _crawl(app: App, source_id: str, force: bool) -> RunReport:
    settings = app.settings.source(source_id)
    with db.transaction(app.sessions) as session:
        state = repo.source_state(session, source_id)
        if not force and state.health == "disabled":
            return RunReport(source_id, "disabled", health="disabled")
        if not force and state.backoff_until and state.backoff_until > utcnow():
            return RunReport(source_id, "deferred", deferred_until=state.backoff_until)
        run_id = repo.start_run(session, source_id)
    report = RunReport(source_id, "running")
    try:
        adapter = get_adapter(settings.kind)
        spec = SourceSpec(settings.id, settings.url, settings.options, app.settings.timezone)
        collected = adapter.collect(app.fetcher, spec, _run_state(app, state))
    except SourceError as exc:
        if app.stopping.is_set():  # cut short by shutdown: not the source's fault
            return _abandon(app, run_id, report)
        return _fail(app, run_id, report, exc, state.consecutive_failures + 1)
    except Exception as exc:  # a bug below the adapter: recorded on the source, never fatal
        logger.exception("collecting %s failed unexpectedly", source_id)
        error = SourceError(f"unexpected {type(exc).__name__}: {exc}")
        return _fail(app, run_id, report, error, state.consecutive_failures + 1)
    report.fetched, report.warnings = len(collected.items), list(collected.warnings)
    if collected.not_modified:
        return _finish_not_modified(app, run_id, report, collected)
    if app.stopping.is_set():
        return _abandon(app, run_id, report)
    try:
        store_collected(app, run_id, source_id, collected, report)
    except Exception as exc:  # a storage failure must not take the scheduler down with it
        logger.exception("storing the run of %s failed", source_id)
        return _fail(
            app,
            run_id,
            report,
            SourceError(f"storage failed: {exc}"),
            state.consecutive_failures + 1,
        )
    return report


def disable_source(app: App, source_id: str, reason: str) -> bool:
    """Switch a source off by hand (the dashboard); False if it was off already, KeyError if unknown."""
    with db.transaction(app.sessions) as session:
        return sourcehealth.disable(session, source_id, reason, utcnow())


def enable_sources(app: App, source_ids: list[str], actor: str) -> set[str]:
    """Put sources back to work after an administrator fixed them; returns those that changed."""
    with db.transaction(app.sessions) as session:
        return {s for s in source_ids if sourcehealth.enable(session, s, actor)}
