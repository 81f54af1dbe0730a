"""Dashboard page benchmark: ``python -m bench pages [--items 1000000] [--cases 10000]``.

Fills a fresh database as ``bench search`` does (the same synthetic Vietnamese items, through the
real migrations, SQLite in a temporary directory and/or PostgreSQL in a fresh schema), adds 30
days of hourly counts (what the overview's charts read) and ``--cases`` cases of which ``--open``
are open, signs an analyst in, and requests the main pages through the real ASGI app in-process
(FastAPI's TestClient: no network, the whole request path with its session check). Prints
p50/p95/max per page against the target p95 < 200 ms for the overview and the case queue.
Exit codes: 0 ran (a missed target is reported, not fatal), 1 a backend could not be run, 2 bad usage.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import searchdata as data
from bench.ingest import peak_rss_mib, positive_arg, verdict
from bench.search import _libpq, fresh_schema, postgres_url
from monitor import accounts
from monitor.bootstrap import build_app
from monitor.config import Settings
from monitor.storage import db
from monitor.storage.db import Engine

TARGET_P95_MS = 200.0
TARGETED = ("/", "/cases")
PAGES = (
    "/",
    "/cases",
    "/cases?status=all",
    "/cases?severity=critical&status=all",
    "/search?q=nam+dinh",
    "/search?q=%22bao+lu%22&relevant=yes",
    "/sources",
)
PASSWORD = "bench-password-long"
HOURS = 30 * 24


def _hourly(
    now: datetime, places: list[str], topics: list[str], seed: int
) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS)
    for h in range(HOURS):
        hour = start + timedelta(hours=h)
        for dimension, keys in (("province", ["*"]), ("topic", topics), ("place", places)):
            for key in keys:
                total = rng.randint(0, 12 if dimension == "province" else 3)
                if total:
                    yield {"hour": hour, "dimension": dimension, "key": key, "total": total,
                           "negative": rng.randint(0, total)}  # fmt: skip


def seed_dashboard(engine: Engine, cases: int, open_cases: int, seed: int) -> None:
    """Hourly counts for the charts and cases for the queue, on a filled database."""
    from sqlalchemy import func, insert, select

    from monitor.storage.models import Case, HourlyCount, Item

    rng = random.Random(seed)
    now = datetime.now(UTC)
    places = [place[0] for place in data.PLACES]
    topics = ["land_planning", "environment_disaster", "security_order", "health", "education",
              "transport_infrastructure", "agriculture_fishery", "social_welfare"]  # fmt: skip
    with engine.begin() as conn:
        rows = list(_hourly(now, places, topics, seed))
        for start in range(0, len(rows), 5000):
            conn.execute(insert(HourlyCount), rows[start : start + 5000])
        top = conn.scalar(select(func.max(Item.id))) or 0
        chosen = rng.sample(range(1, top + 1), min(cases, top))
        titles = dict(
            conn.execute(select(Item.id, Item.title).where(Item.id.in_(chosen[:1000]))).all()
        )
        batch = []
        for n, item_id in enumerate(chosen):
            opened = now - timedelta(minutes=rng.randint(0, 180 * 24 * 60))
            status = (
                rng.choice(("new", "acknowledged", "in_progress"))
                if n < open_cases
                else rng.choice(("resolved", "dismissed"))
            )
            batch.append({
                "kind": "item", "item_id": item_id, "title": titles.get(item_id, f"Tin số {item_id}"),
                "severity": rng.choice(("watch", "alert", "alert", "critical")), "status": status,
                "opened_at": opened, "updated_at": opened, "due_at": opened + timedelta(hours=4),
            })  # fmt: skip
            if len(batch) == 5000:
                conn.execute(insert(Case), batch)
                batch = []
        if batch:
            conn.execute(insert(Case), batch)


def time_pages(engine: Engine, url: str, requests: int) -> dict[str, list[float]]:
    """Sign an analyst in and request each page ``requests`` times; milliseconds per request."""
    from fastapi.testclient import TestClient

    from monitor.web.app import create_web

    settings = Settings.model_validate(
        {"database": {"url": url}, "analysis": {"analyser": "keyword"}}
    )
    app = build_app(settings, engine=engine, migrate=False)
    accounts.add_user(app.sessions, "bench", "analyst", PASSWORD)
    client = TestClient(create_web(app), follow_redirects=False)
    token = re.search(r'name="login_csrf" value="([^"]+)"', client.get("/login").text)
    assert token, "no sign-in form"
    signed = client.post(
        "/login", data={"name": "bench", "password": PASSWORD, "login_csrf": token.group(1)}
    )
    assert signed.status_code == 303, signed.text[:300]
    timings: dict[str, list[float]] = {}
    for page in PAGES:
        for _ in range(3):  # warm caches, as a page a person reloads
            assert client.get(page).status_code == 200, page
        spent = []
        for _ in range(requests):
            began = time.perf_counter()
            response = client.get(page)
            spent.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, (page, response.status_code)
        timings[page] = spent
    app.fetcher.client.close()
    return timings


def _pct(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def print_pages(backend: str, items: int, fill_s: float, timings: dict[str, list[float]]) -> None:
    """One line per page: p50, p95, max, and the verdict where the issue sets a target."""
    print(f"\n{backend}: {items:,} items filled in {fill_s:,.0f} s")
    print(f"  {'page':<40} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for page, spent in timings.items():
        p95 = _pct(spent, 0.95)
        mark = (
            f"  {verdict(-p95, -TARGET_P95_MS)} p95 < {TARGET_P95_MS:.0f} ms"
            if page in TARGETED
            else ""
        )
        print(f"  {page:<40} {statistics.median(spent):8.1f} {p95:8.1f} {max(spent):8.1f}{mark}")


def _fill_sqlite(
    args: argparse.Namespace, corpus: data.Corpus, path: Path
) -> tuple[str, Engine, float, int]:
    url = f"sqlite:///{path}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    began = time.perf_counter()
    items = data.fill_sqlite(str(path), data.chunks(data.generate(corpus, args.items, args.seed)))
    data.analyze_sqlite(str(path))
    seed_dashboard(engine, args.cases, args.open, args.seed)
    return url, engine, time.perf_counter() - began, items


def run_pages(args: argparse.Namespace) -> int:
    """Fill each backend asked for and time the pages on it."""
    corpus = data.load_corpus(Path(args.data))
    code = 0
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="monitor-bench-pages-") as tmp:
            url, engine, fill_s, items = _fill_sqlite(args, corpus, Path(tmp) / "pages.db")
            print_pages("sqlite", items, fill_s, time_pages(engine, url, args.requests))
            engine.dispose()
    if args.backend in ("postgresql", "both"):
        pg_url = postgres_url()
        if pg_url is None:
            print(
                "postgresql: no database answers (set MONITOR_TEST_DATABASE_URL)", file=sys.stderr
            )
            return 1 if args.backend == "postgresql" else code
        code = max(code, _run_postgresql(args, corpus, pg_url))
    peak = peak_rss_mib()
    print(f"peak memory {peak:.0f} MiB" if peak else "")
    return code


def _run_postgresql(args: argparse.Namespace, corpus: data.Corpus, url: str) -> int:
    from sqlalchemy import text

    with fresh_schema(url, "bench_pages") as (schema, engine):
        began = time.perf_counter()
        rows = data.chunks(data.generate(corpus, args.items, args.seed))
        items = data.fill_postgresql(_libpq(url), schema, rows)
        data.finish_postgresql(_libpq(url), schema)
        seed_dashboard(engine, args.cases, args.open, args.seed)
        with engine.begin() as conn:
            conn.execute(text("ANALYZE cases"))
            conn.execute(text("ANALYZE hourly_counts"))
        fill_s = time.perf_counter() - began
        print_pages("postgresql", items, fill_s, time_pages(engine, url, args.requests))
        return 0


def add_command(commands: Any) -> None:
    """Register ``pages`` on the benchmark command line's subcommands."""
    parser = commands.add_parser("pages", help="Time the overview and case queue at 1M items.")
    parser.add_argument("--items", type=positive_arg, default=1_000_000, help="Items (1000000).")
    parser.add_argument("--cases", type=positive_arg, default=10_000, help="Cases (10000).")
    parser.add_argument("--open", type=positive_arg, default=500, help="Open cases (500).")
    parser.add_argument("--requests", type=positive_arg, default=100, help="Per page (100).")
    parser.add_argument(
        "--backend", choices=("sqlite", "postgresql", "both"), default="both", help="Where (both)."
    )
    parser.add_argument("--seed", type=int, default=2025, help="Random seed (2025).")
    parser.add_argument("--data", default=str(data.DATA), help="The labelled corpora directory.")
    parser.set_defaults(func=run_pages)
