"""Shared fixtures: a database per test (SQLite always, PostgreSQL when configured), settings,
applications built through the composition root, and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import os
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from monitor.bootstrap import App, build_app
from monitor.config import Settings
from monitor.storage.db import make_engine

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURES = SHARED / "fixtures"
VNEXPRESS_FEED = (
    Path(__file__).parent / "fixtures" / "rss" / "vnexpress-rss-tin-moi-nhat-2017-11-14.xml"
)
PG_URL = os.environ.get("MONITOR_TEST_DATABASE_URL")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
_ran_on: Counter[str] = Counter()


@dataclass
class Database:
    """A fresh, empty database for one test: its URL and an engine bound to it."""

    backend: str
    url: str
    engine: Engine


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty database on each configured backend (PostgreSQL in a schema of its own)."""
    backend = request.param
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'monitor.db'}"
        engine = make_engine(url)
        _ran_on[backend] += 1
        yield Database(backend, url, engine)
        engine.dispose()
        return
    if not PG_URL:
        pytest.skip("MONITOR_TEST_DATABASE_URL is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(PG_URL, schema=schema)
    _ran_on[backend] += 1
    try:
        yield Database(backend, PG_URL, engine)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def make_settings(
    db_url: str = "sqlite:///:memory:", sources: list[dict[str, Any]] | None = None, **sections: Any
) -> Settings:
    """Settings as a config file would give them, with test-friendly scheduling."""
    data: dict[str, Any] = {
        "database": {"url": db_url},
        "sources": sources or [],
        "scheduler": {"jitter": 0, "max_workers": 2},
        # No politeness delay and no retries unless a test asks: tests never wait in real time.
        "http": {"connect_timeout": 2, "read_timeout": 2, "min_delay": 0, "max_retries": 0},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return Settings.model_validate(data)


AppFactory = Callable[..., App]


class FakeSleep:
    """Stands in for the fetcher's sleep: records each wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def fake_sleep() -> FakeSleep:
    """The waits the applications of one test asked for, none of them slept."""
    return FakeSleep()


@pytest.fixture
def make_app(database: Database, fake_sleep: FakeSleep) -> Iterator[AppFactory]:
    """Build applications on the test database through the composition root."""
    apps: list[App] = []

    def factory(
        sources: list[dict[str, Any]], transport: httpx.BaseTransport | None = None, **sections: Any
    ) -> App:
        app = build_app(
            make_settings(database.url, sources, **sections),
            transport=transport,
            engine=database.engine,
            sleep=fake_sleep,
        )
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.fetcher.client.close()


@dataclass
class Route:
    """What the local server answers on one path."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hits: int = 0
    requests: list[dict[str, str]] = field(default_factory=list)


class FeedServer:
    """A real HTTP server on 127.0.0.1 answering configured routes (ETag/304 aware)."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                route.hits += 1
                route.requests.append(dict(self.headers))
                etag = route.headers.get("ETag")
                if etag and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str) -> str:
        """The full URL of a path on this server."""
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def add(self, path: str, body: bytes, status: int = 200, **headers: str) -> Route:
        """Serve ``body`` at ``path``; header names use underscores for dashes."""
        route = Route(body, status, {k.replace("_", "-"): v for k, v in headers.items()})
        self.routes[path] = route
        return route


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """A real HTTP client, for the tests against a server on 127.0.0.1."""
    with httpx.Client() as real:
        yield real


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A local HTTP server for the test's feeds, stopped afterwards."""
    server = FeedServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say which database backends the suite actually ran on."""
    ran = ", ".join(f"{name}: {count} tests" for name, count in sorted(_ran_on.items())) or "none"
    terminalreporter.write_line(f"database backends exercised: {ran}")
    if not PG_URL:
        terminalreporter.write_line(
            "PostgreSQL not exercised: MONITOR_TEST_DATABASE_URL is not set"
        )


@pytest.fixture
def small_corpora(tmp_path: Path) -> Path:
    """The first 400 rows of each topic corpus the search benchmarks read (reading them whole
    would be most of a test); skipped when ../shared/data is not there."""
    import gzip
    import itertools

    from bench.searchdata import CORPORA, DATA

    if not all((DATA / name).is_file() for name in CORPORA):
        pytest.skip(f"the topic corpora are not in {DATA}")
    folder = tmp_path / "corpora"
    folder.mkdir()
    for name in CORPORA:
        with gzip.open(DATA / name, "rb") as source, gzip.open(folder / name, "wb") as small:
            small.writelines(itertools.islice(source, 400))
    return folder
