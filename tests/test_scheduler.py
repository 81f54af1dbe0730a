"""``monitor run``'s scheduling: one guarded job per source, and a clean stop."""

from __future__ import annotations

import threading

import httpx
from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
from sqlalchemy import func, select

from monitor.bootstrap import App, build_app
from monitor.pipeline import crawl_source
from monitor.scheduler import JOB_FUNC, build_scheduler, serve
from monitor.storage.models import CrawlRun, Item, Source
from tests.conftest import VNEXPRESS_FEED, AppFactory, Database, FeedServer, make_settings


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


def test_shutdown_during_a_polite_pause_sends_nothing_more_and_blames_no_one(
    database: Database,
) -> None:
    listing = (
        "<html><body>"
        + "".join(f"<h3><a href='/tin/bai-{n}.html'>Bài {n} về Nam Định</a></h3>" for n in range(5))
        + "</body></html>"
    ).encode()
    paths: list[str] = []
    holder: dict[str, App] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if request.url.path == "/":
            holder["app"].stopping.set()  # Ctrl-C arrives while the listing downloads
            return httpx.Response(200, content=listing, headers={"Content-Type": "text/html"})
        return httpx.Response(404)

    settings = make_settings(
        database.url,
        [{"id": "bao", "kind": "html", "url": "https://baotinh.vn/"}],
        http={"min_delay": 30, "robots": False},
    )
    # The application's own sleep (no test double): the 30 s pause before the first article
    # ends at once, because shutdown was asked for.
    app = build_app(settings, transport=httpx.MockTransport(handler), engine=database.engine)
    holder["app"] = app

    report = crawl_source(app, "bao")
    app.fetcher.client.close()

    assert report.status == "abandoned" and paths == ["/"]
    with app.sessions() as session:
        source = session.get(Source, "bao")
        assert source is not None and (source.failure_score, source.consecutive_failures) == (0, 0)
