"""Scheduled jobs: thin module-level functions referenced by text, taking simple arguments.

The scheduler calls ``monitor.jobs:crawl_source`` with a source id, and
``monitor.jobs:detect_surges`` every ``surges.every``, ``monitor.jobs:escalate`` every minute,
``monitor.jobs:poll_telegram`` (acknowledgements) often and ``monitor.jobs:send_digest`` daily
at ``digest.send_at``; ``bind`` gives the jobs the application built by the composition root
(the CLI runs the very same pipeline functions).
"""

from __future__ import annotations

import logging

from monitor import acktelegram, digest, notifier, surges
from monitor.bootstrap import App
from monitor.pipeline import RunReport
from monitor.pipeline import crawl_source as run_source
from monitor.storage.models import utcnow
from monitor.storage.surgecounts import SurgeCase

logger = logging.getLogger(__name__)
_app: App | None = None


def bind(app: App | None) -> None:
    """Give the jobs the application they run in (None unbinds)."""
    global _app
    _app = app


def crawl_source(source_id: str) -> RunReport:
    """Crawl one source once (the scheduled job)."""
    if _app is None:
        raise RuntimeError("monitor.jobs is not bound to an application")
    report = run_source(_app, source_id)
    logger.info(
        "source %s: %s, fetched %d, new %d, updated %d, errors %d",
        source_id,
        report.status,
        report.fetched,
        report.new,
        report.updated,
        report.errors,
    )
    return report


def detect_surges() -> list[tuple[surges.Surge, SurgeCase]]:
    """Look for surges now and open or continue their cases (the scheduled job)."""
    if _app is None:
        raise RuntimeError("monitor.jobs is not bound to an application")
    outcomes = surges.run(_app, utcnow())
    logger.info("surges: %d found that open or continue a case", len(outcomes))
    return outcomes


def escalate() -> notifier.Report:
    """Plan due escalation steps and deliver pending notifications (the scheduled job)."""
    if _app is None:
        raise RuntimeError("monitor.jobs is not bound to an application")
    report = notifier.run(_app, utcnow())
    if report.steps or report.sent or report.retried or report.failed:
        logger.info(
            "escalation: %d step(s), %d planned, %d sent, %d retrying, %d failed",
            report.steps,
            report.planned,
            report.sent,
            report.retried,
            report.failed,
        )
    return report


def poll_telegram() -> acktelegram.PollReport:
    """Read the Telegram bot's messages and acknowledge the cases they name (the scheduled job)."""
    if _app is None:
        raise RuntimeError("monitor.jobs is not bound to an application")
    report = acktelegram.poll(_app, utcnow())
    if report.updates:
        logger.info("telegram: %d update(s), %d acknowledged", report.updates, report.acknowledged)
    return report


def send_digest() -> digest.Outcome:
    """Build, archive and email yesterday's digest (the scheduled job; sent once per day)."""
    if _app is None:
        raise RuntimeError("monitor.jobs is not bound to an application")
    day = digest.previous_day(_app.settings)
    outcome = digest.run(_app, day, send=True)
    delivery = outcome.delivery
    if delivery is not None and delivery.sent_before is None:
        logger.info(
            "digest %s: sent to %d, failed %d", day, len(delivery.sent), len(delivery.failed)
        )
    return outcome
