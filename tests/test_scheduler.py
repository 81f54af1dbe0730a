"""``monitor run``'s scheduling: one guarded job per source, and a clean stop."""

from __future__ import annotations

import threading

import httpx
from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
from sqlalchemy import func, select

from monitor.pipeline import crawl_source
from monitor.scheduler import JOB_FUNC, build_scheduler, serve
from monitor.storage.models import CrawlRun, Item
from tests.conftest import VNEXPRESS_FEED, AppFactory, FeedServer


def test_one_coalesced_single_instance_job_per_enabled_source(make_app: AppFactory) -> None:
    app = make_app(
        [
            {"id": "a", "kind": "rss", "url": "http://127.0.0.1:9/a", "interval": "15m"},
            {"id": "b", "kind": "rss", "url": "http://127.0.0.1:9/b", "interval": 60},
            {"id": "off", "kind": "rss", "url": "http://127.0.0.1:9/c", "enabled": False},
        ],
        scheduler={"jitter": 20},
    )
    jobs = {job.id: job for job in build_scheduler(app).get_jobs()}
    assert sorted(jobs) == ["crawl:a", "crawl:b"]
    job = jobs["crawl:a"]
    assert (job.func_ref, job.args, job.coalesce, job.max_instances) == (JOB_FUNC, ("a",), True, 1)
    assert job.trigger.interval.total_seconds() == 900 and job.trigger.jitter == 20
    assert jobs["crawl:b"].trigger.interval.total_seconds() == 60


def test_serve_runs_every_source_then_stops_cleanly(
    make_app: AppFactory, feed_server: FeedServer
) -> None:
    feed_server.add("/ok.rss", VNEXPRESS_FEED.read_bytes())
    app = make_app(
        [
            {"id": "ok", "kind": "rss", "url": feed_server.url("/ok.rss")},
            {"id": "down", "kind": "rss", "url": "http://127.0.0.1:9/feed.rss"},
        ]
    )
    scheduler = build_scheduler(app)
    done: set[str] = set()

    def _ran(event: JobExecutionEvent) -> None:
        done.add(event.job_id)
        if done == {"crawl:ok", "crawl:down"}:
            app.stopping.set()

    scheduler.add_listener(_ran, EVENT_JOB_EXECUTED)
    thread = threading.Thread(target=serve, args=(app, scheduler), daemon=True)
    thread.start()
    thread.join(timeout=60)

    assert not thread.is_alive() and not scheduler.running
    with app.sessions() as session:
        runs = dict(session.execute(select(CrawlRun.source_id, CrawlRun.status)).all())
        items = session.scalar(select(func.count()).select_from(Item))
    assert runs == {"ok": "ok", "down": "error"}
    assert items == 25


def test_stopping_mid_run_abandons_it_without_storing(make_app: AppFactory) -> None:
    body = VNEXPRESS_FEED.read_bytes()
    holder = {}

    def handler(request: httpx.Request) -> httpx.Response:
        holder["app"].stopping.set()  # Ctrl-C arrives while the feed downloads
        return httpx.Response(200, content=body)

    app = make_app(
        [{"id": "vne", "kind": "rss", "url": "https://vnexpress.net/rss/tin-moi-nhat.rss"}],
        transport=httpx.MockTransport(handler),
    )
    holder["app"] = app

    report = crawl_source(app, "vne")

    assert report.status == "abandoned"
    with app.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Item)) == 0
        assert session.scalars(select(CrawlRun.status)).all() == ["abandoned"]
