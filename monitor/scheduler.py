"""The scheduler: one job per enabled source at its interval, run until asked to stop."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from wsgiref.simple_server import WSGIServer

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from monitor import ackweb, jobs
from monitor.bootstrap import App

logger = logging.getLogger(__name__)
JOB_FUNC = "monitor.jobs:crawl_source"
SURGES_FUNC = "monitor.jobs:detect_surges"
ESCALATE_FUNC = "monitor.jobs:escalate"
TELEGRAM_FUNC = "monitor.jobs:poll_telegram"
DIGEST_FUNC = "monitor.jobs:send_digest"
# Steps are minutes apart (15 min to tier 2), so a pass a minute is on time; Telegram replies
# are read more often, so an officer's "/ack" is answered while they hold the phone.
ESCALATE_EVERY = 60
TELEGRAM_EVERY = 20


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


def schedule_digest(app: App, scheduler: BackgroundScheduler) -> None:
    """Send yesterday's digest daily at ``digest.send_at`` local time, when ``digest.enabled``."""
    cfg = app.settings.digest
    if not cfg.enabled:
        return
    hour, minute = (int(part) for part in cfg.send_at.split(":"))
    scheduler.add_job(
        DIGEST_FUNC,
        "cron",
        hour=hour,
        minute=minute,
        timezone=app.settings.tz,
        coalesce=True,
        max_instances=1,
        # A process busy or paused at send_at still sends within the morning (sending is
        # idempotent, so a late run after an early one does nothing).
        misfire_grace_time=4 * 3600,
        id="digest",
        name="daily digest",
    )


def schedule_notifications(app: App, scheduler: BackgroundScheduler) -> None:
    """Escalate every minute; read Telegram acknowledgements when the bot is configured."""
    every = {ESCALATE_FUNC: ("escalate", ESCALATE_EVERY)}
    if app.settings.notify.enabled and "telegram" in app.channels:
        every[TELEGRAM_FUNC] = ("telegram", TELEGRAM_EVERY)
    for func, (job_id, seconds) in every.items():
        # Single instance: two passes at once would only contend for the same rows.
        scheduler.add_job(
            func,
            "interval",
            seconds=seconds,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=300,
            id=job_id,
            name=job_id,
        )


def start_ack_web(app: App) -> WSGIServer | None:
    """Serve only the acknowledgement links on web.host:web.port (dashboard off, notify on)."""
    if not app.settings.notify.enabled:
        return None
    try:
        server, _thread = ackweb.start_server(app, app.settings.web.host, app.settings.web.port)
    except OSError as exc:  # the port is taken: links still verify wherever the app is served
        logger.error(
            "cannot serve acknowledgement links on %s:%d: %s",
            app.settings.web.host,
            app.settings.web.port,
            exc,
        )
        return None
    return server


def start_web(app: App) -> Callable[[], None]:
    """Serve the dashboard (which answers acknowledgement links too), or the links alone when
    the dashboard is off; returns what stops it."""
    if not app.settings.web.enabled:
        ack_web = start_ack_web(app)
        if ack_web is None:
            return lambda: None

        def stop_ack_web() -> None:
            ack_web.shutdown()
            ack_web.server_close()

        return stop_ack_web
    from monitor.web.app import create_web, serve_in_thread, stop

    server, thread = serve_in_thread(create_web(app), app.settings.web.host, app.settings.web.port)
    return lambda: stop(server, thread)


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
    schedule_digest(app, scheduler)
    schedule_notifications(app, scheduler)
    stop_web = start_web(app)
    scheduler.start()
    logger.info("monitoring %d source(s); Ctrl-C stops", sources)
    try:
        app.stopping.wait()
    finally:
        logger.info("stopping: finishing runs in flight")
        # Runs that already fetched see app.stopping and store nothing; the rest finish cleanly.
        scheduler.shutdown(wait=True)
        stop_web()
        jobs.bind(None)
