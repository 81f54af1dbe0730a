"""The scheduler: one job per enabled source at its interval, run until asked to stop."""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from monitor import jobs
from monitor.bootstrap import App

logger = logging.getLogger(__name__)
JOB_FUNC = "monitor.jobs:crawl_source"
SURGES_FUNC = "monitor.jobs:detect_surges"


def build_scheduler(app: App) -> BackgroundScheduler:
    """A scheduler with one coalesced, single-instance, jittered interval job per enabled source."""
    cfg = app.settings.scheduler
    scheduler = BackgroundScheduler(
        timezone=app.settings.tz,
        executors={"default": ThreadPoolExecutor(cfg.max_workers)},
    )
    start = datetime.now(app.settings.tz)
    # A manual source only stores what staff submit: there is nothing to crawl on a schedule.
    for source in (s for s in app.settings.sources if s.enabled and s.kind != "manual"):
        scheduler.add_job(
            JOB_FUNC,
            "interval",
            seconds=source.interval,
            jitter=cfg.jitter or None,
            # Runs missed while busy collapse into one; a source never runs twice at once.
            coalesce=True,
            max_instances=1,
            misfire_grace_time=300,
            args=[source.id],
            id=f"crawl:{source.id}",
            name=f"crawl {source.id}",
            # The first pass starts within one jitter, so a restart is not one burst of requests.
            next_run_time=start + timedelta(seconds=random.uniform(0, cfg.jitter)),
        )
    return scheduler


def schedule_surges(app: App, scheduler: BackgroundScheduler) -> None:
    """Look for surges every ``surges.every`` seconds, when ``surges.enabled``."""
    cfg = app.settings.surges
    if not cfg.enabled:
        return
    scheduler.add_job(
        SURGES_FUNC,
        "interval",
        seconds=cfg.every,
        # A slow pass never overlaps the next; passes missed while busy collapse into one.
        coalesce=True,
        max_instances=1,
        misfire_grace_time=300,
        id="surges",
        name="detect surges",
    )


def serve(app: App, scheduler: BackgroundScheduler | None = None) -> None:
    """Run the scheduler until ``app.stopping`` is set, then finish in-flight runs and return."""
    scheduler = scheduler or build_scheduler(app)
    jobs.bind(app)

    def _on_job(event: JobExecutionEvent) -> None:
        if event.exception is not None:
            logger.error("job %s failed: %s", event.job_id, event.exception)

    scheduler.add_listener(_on_job, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    sources = len(scheduler.get_jobs())
    schedule_surges(app, scheduler)
    scheduler.start()
    logger.info("monitoring %d source(s); Ctrl-C stops", sources)
    try:
        app.stopping.wait()
    finally:
        logger.info("stopping: finishing runs in flight")
        # Runs that already fetched see app.stopping and store nothing; the rest finish cleanly.
        scheduler.shutdown(wait=True)
        jobs.bind(None)
