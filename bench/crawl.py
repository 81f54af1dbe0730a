"""Crawl benchmark: ``python -m bench crawl [--sources 500] [--hosts 10] [--per-host 2] ...``.

Serves the sources from ``--hosts`` HTTP servers on 127.0.0.1 (each port is a host of its own:
the fetcher keys hosts by host:port), a mix of RSS feeds (the recorded VnExpress feed, its links
moved to the local host), html listing pages with their article pages (the recorded VnExpress
article page, retitled) and news sitemaps pointing at article pages. Every host serves a
robots.txt, read once by the fetcher as on the web.

The application is built through ``monitor.bootstrap.build_app`` on a fresh SQLite file with the
keyword analyser (crawling is measured, not NLP), ``http.min_delay`` 0 (no politeness pause, or
the run would time the pause) and ``http.per_host_concurrency`` ``--per-host``; then one pass
runs every source at once the way ``monitor crawl --once`` does, a ``ThreadPoolExecutor`` over
``monitor.pipeline.crawl_source``. Each server counts the requests it is answering at once and
keeps the most it saw; so does the fetcher (``peak_in_flight``).

Exit codes: 0 ran, the per-host limit held and every item was stored; 1 otherwise; 2 bad usage.
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from bench.ingest import peak_rss_mib, positive_arg, workers_arg
from monitor.bootstrap import build_app
from monitor.config import Settings
from monitor.pipeline import RunReport, crawl_source
from monitor.storage import queries

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
FEED = FIXTURES / "vnexpress-rss-tin-moi-nhat-2017-11-14.xml"
ARTICLE = FIXTURES / "vnexpress-article-VnExpress_2025_10_22.html.gz"
ARTICLE_TITLE = "Đau bụng kéo dài, phát hiện ung thư lymphoma ruột non"
FEED_ITEMS = 25  # entries in the recorded feed
KINDS = ("rss", "html", "sitemap")
# The adapter module each kind needs; a kind whose module is not there yet is left out, and said.
_MODULES = {"rss": "crawlers.rss", "html": "crawlers.html", "sitemap": "crawlers.sitemap"}
_ARTICLE_PATH = re.compile(r"^/(?:bai|tin)/(\d+)/[\w-]+-(\d+)\.html$")
_SECTIONS = ("thoi-su", "kinh-te", "xa-hoi", "giao-duc", "the-thao")
_HEADLINES = (
    "Nâng cấp tuyến đường ven biển kết nối các khu công nghiệp",
    "Vụ lúa xuân được mùa, nông dân phấn khởi",
    "Chuẩn bị chu đáo cho kỳ thi tốt nghiệp trung học phổ thông",
    "Lễ hội truyền thống thu hút hàng nghìn du khách",
    "Đẩy nhanh tiến độ giải ngân vốn đầu tư công",
)


@dataclass(frozen=True, slots=True)
class Plan:
    """What to serve and crawl."""

    sources: int = 500
    hosts: int = 10
    per_host: int = 2
    workers: int = 32
    articles: int = 5  # article pages per html listing and per sitemap
    kinds: tuple[str, ...] = KINDS
    latency: float = 0.02  # seconds each answer takes, as from a server across a network


@dataclass
class Host:
    """One HTTP server on 127.0.0.1: its pages, and how busy it was."""

    pages: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    in_flight: int = 0
    most_in_flight: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    base: str = ""

    def enter(self, path: str) -> None:
        """A request has arrived."""
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.requests[_page_kind(path)] += 1

    def leave(self) -> None:
        """A request has been answered."""
        with self.lock:
            self.in_flight -= 1


@dataclass(frozen=True, slots=True)
class Outcome:
    """One crawl pass over every source, what the servers saw and what the fetcher saw."""

    elapsed: float
    reports: list[RunReport]
    stored: int
    expected: int
    hosts: list[Host]
    fetcher_peaks: dict[str, int]
    per_host: int

    @property
    def server_peak(self) -> int:
        """The most requests any one host answered at once."""
        return max(host.most_in_flight for host in self.hosts)

    @property
    def limit_held(self) -> bool:
        """Whether no host ever had more requests in flight than the per-host limit."""
        fetcher_peak = max(self.fetcher_peaks.values(), default=0)
        return self.server_peak <= self.per_host and fetcher_peak <= self.per_host

    @property
    def failed(self) -> list[RunReport]:
        """Runs that did not store cleanly."""
        return [r for r in self.reports if r.status not in ("ok", "warning")]


def _page_kind(path: str) -> str:
    if path == "/robots.txt":
        return "robots.txt"
    return {"rss": "feed", "muc": "listing", "sitemap": "sitemap"}.get(
        path.split("/")[1], "article"
    )


def _handler(host: Host, article: bytes, latency: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real server would allow
        disable_nagle_algorithm = True  # see bench.ingest: time the crawler, not delayed ACKs

        def do_GET(self) -> None:  # the name http.server dispatches to
            host.enter(self.path)
            try:
                time.sleep(latency)  # while counted in flight: overlapping requests are seen
                page = host.pages.get(self.path) or _article_page(self.path, article)
                if page is None:
                    self.send_error(404)
                    return
                body, content_type = page
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            finally:
                host.leave()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per request would drown the figures

    return Handler


def _article_page(path: str, template: bytes) -> tuple[bytes, str] | None:
    """An article page made on request (hundreds of 250 kB pages are not kept in memory)."""
    match = _ARTICLE_PATH.match(path)
    if not match:
        return None
    source, article = match.groups()
    title = f"{_HEADLINES[int(article) % len(_HEADLINES)]} (nguồn {source}, bài {article})"
    return template.replace(ARTICLE_TITLE.encode(), title.encode()), "text/html; charset=utf-8"


@contextmanager
def serve(count: int, article: bytes, latency: float = 0.0) -> Iterator[list[Host]]:
    """Start ``count`` servers on 127.0.0.1 (one per host); yields them, their pages empty."""
    with ExitStack() as stack:
        hosts = []
        for _ in range(count):
            host = Host()
            server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(host, article, latency))
            server.daemon_threads = True
            thread = threading.Thread(target=server.serve_forever, name="bench-host", daemon=True)
            thread.start()
            stack.callback(thread.join)
            stack.callback(server.server_close)
            stack.callback(server.shutdown)
            host.base = f"http://127.0.0.1:{server.server_address[1]}"
            hosts.append(host)
        yield hosts


# --- the pages ------------------------------------------------------------------------------------


def _feed(base: str, source: int) -> bytes:
    """The recorded feed with every link moved under this source's path on the local host."""
    return FEED.read_bytes().replace(b"https://", f"{base}/rss/{source}/".encode())


def _article_links(base: str, prefix: str, source: int, articles: int) -> list[tuple[str, str]]:
    """(URL, headline) of a source's article pages; the long numeric id marks them as stories."""
    return [
        (
            f"{base}/{prefix}/{source}/tin-tuc-trong-ngay-{n}-{source * 1000 + n:07d}.html",
            _HEADLINES[n % len(_HEADLINES)],
        )
        for n in range(articles)
    ]


def _listing(base: str, source: int, articles: int) -> bytes:
    """A section page: navigation, article cards with headline links, a footer."""
    nav = "".join(f'<li><a href="/{s}/">{s.replace("-", " ").title()}</a></li>' for s in _SECTIONS)
    cards = "".join(
        f'<article class="item-news"><h3 class="title-news"><a href="{url}">{escape(title)}</a>'
        f'</h3><p class="description">{escape(title)}. Thông tin chi tiết trong bài.</p></article>'
        for url, title in _article_links(base, "bai", source, articles)
    )
    return (
        '<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8">'
        f"<title>Thời sự - Báo {source}</title></head><body><header><ul>{nav}</ul></header>"
        f'<main><section class="sidebar-1">{cards}</section></main>'
        '<footer><a href="/lien-he">Liên hệ</a> <a href="/rss">RSS</a></footer></body></html>'
    ).encode()


def _sitemap(base: str, source: int, articles: int, now: datetime) -> bytes:
    """A Google News sitemap of the source's newest articles, published minutes ago."""
    entries = "".join(
        f"<url><loc>{escape(url)}</loc><news:news><news:publication><news:name>Báo {source}"
        "</news:name><news:language>vi</news:language></news:publication>"
        f"<news:publication_date>{(now - timedelta(minutes=10 * n)).isoformat()}"
        f"</news:publication_date><news:title>{escape(title)}</news:title></news:news></url>"
        for n, (url, title) in enumerate(_article_links(base, "tin", source, articles))
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        f"{entries}</urlset>"
    ).encode()


def available_kinds(wanted: Sequence[str]) -> tuple[list[str], list[str]]:
    """The kinds whose adapter module can be imported, and those left out."""
    ready, missing = [], []
    for kind in wanted:
        try:
            importlib.import_module(_MODULES[kind])
        except ImportError:
            missing.append(kind)
        else:
            ready.append(kind)
    return ready, missing


def publish(
    hosts: list[Host], plan: Plan, kinds: Sequence[str]
) -> tuple[list[dict[str, Any]], int]:
    """Put each source's pages on its host (source n on host n mod hosts, kind n mod kinds).

    Returns the sources' configuration and the items a full crawl should store.
    """
    now = datetime.now(UTC)
    robots = (b"User-agent: *\nDisallow: /admin/\n", "text/plain")
    sources, expected = [], 0
    for host in hosts:
        host.pages["/robots.txt"] = robots
    for n in range(plan.sources):
        host, kind = hosts[n % len(hosts)], kinds[n % len(kinds)]
        if kind == "rss":
            path, page = f"/rss/{n}.rss", (_feed(host.base, n), "application/rss+xml")
            expected += FEED_ITEMS
        elif kind == "html":
            path, page = f"/muc/{n}/", (_listing(host.base, n, plan.articles), "text/html")
            expected += plan.articles
        else:
            path = f"/sitemap/{n}.xml"
            page = (_sitemap(host.base, n, plan.articles, now), "application/xml")
            expected += plan.articles
        host.pages[path] = page
        sources.append({"id": f"{kind}-{n:04d}", "kind": kind, "url": host.base + path})
    return sources, expected


# --- the crawl ------------------------------------------------------------------------------------


def bench_settings(sources: list[dict[str, Any]], db_path: Path, plan: Plan) -> Settings:
    """Settings for the pass: a fresh SQLite file, keyword analyser, no politeness pause."""
    return Settings.model_validate(
        {
            "database": {"url": f"sqlite:///{db_path}"},
            "sources": sources,
            "scheduler": {"jitter": 0, "max_workers": plan.workers},
            "analysis": {"analyser": "keyword"},
            "http": {"per_host_concurrency": plan.per_host, "min_delay": 0},
        }
    )


def run(plan: Plan, kinds: Sequence[str], db_dir: Path) -> Outcome:
    """Serve the sources, crawl each once concurrently, and say what happened."""
    article = gzip.decompress(ARTICLE.read_bytes())
    with serve(plan.hosts, article, plan.latency) as hosts:
        sources, expected = publish(hosts, plan, kinds)
        app = build_app(bench_settings(sources, db_dir / "crawl.db", plan))
        try:
            ids = [s["id"] for s in sources]
            start = time.perf_counter()
            with ThreadPoolExecutor(plan.workers) as pool:
                reports = list(pool.map(lambda source_id: crawl_source(app, source_id), ids))
            elapsed = time.perf_counter() - start
            stored = queries.count_items(app.sessions)
            peaks = app.fetcher.peak_in_flight()
        finally:
            app.close()
    return Outcome(elapsed, reports, stored, expected, hosts, peaks, plan.per_host)


def _print_figures(plan: Plan, kinds: Sequence[str], missing: Sequence[str], out: Outcome) -> None:
    by_kind = Counter(r.source_id.split("-")[0] for r in out.reports)
    pages: Counter[str] = Counter()
    for host in out.hosts:
        pages.update(host.requests)
    fetcher_peak = max(out.fetcher_peaks.values(), default=0)
    at_limit = sum(host.most_in_flight == plan.per_host for host in out.hosts)
    peak = peak_rss_mib()
    rows = [
        ("sources", f"{len(out.reports)}  ({', '.join(f'{k} {by_kind[k]}' for k in kinds)})"),
        ("kinds left out", ", ".join(missing) + " (adapter not importable)" if missing else "none"),
        ("hosts", f"{plan.hosts}  (127.0.0.1, one port each)"),
        ("workers", f"{plan.workers}  (ThreadPoolExecutor over crawl_source, as crawl --once)"),
        ("politeness", f"per_host_concurrency {plan.per_host}, min_delay 0 s, robots.txt on"),
        ("server latency", f"{plan.latency * 1000:g} ms an answer"),
        ("elapsed (crawl)", f"{out.elapsed:.2f} s"),
        ("sources/s", f"{len(out.reports) / out.elapsed:,.1f}"),
        ("items stored", f"{out.stored}  (expected {out.expected})"),
        ("items/s", f"{out.stored / out.elapsed:,.1f}"),
        (
            "pages fetched",
            f"{sum(pages.values())}  ({', '.join(f'{k} {v}' for k, v in sorted(pages.items()))})",
        ),
        (
            "max in flight per host",
            f"server {out.server_peak}, fetcher {fetcher_peak}  "
            f"(limit {plan.per_host}; {at_limit} of {plan.hosts} hosts reached it)",
        ),
        ("per-host limit held", "yes" if out.limit_held else "NO"),
        ("runs not ok", f"{len(out.failed)}"),
        (
            "peak memory (ru_maxrss)",
            f"{peak:.1f} MiB  (servers included)" if peak is not None else "n/a",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def problems(out: Outcome) -> list[str]:
    """What went wrong in a pass, if anything."""
    found = [f"{r.source_id}: {r.status} {r.error or '; '.join(r.warnings)}" for r in out.failed]
    if not out.limit_held:
        found.append(f"per-host limit {out.per_host} broken: server saw {out.server_peak}")
    if out.stored != out.expected:
        found.append(f"stored {out.stored} items, expected {out.expected}")
    return found


def run_crawl(args: argparse.Namespace) -> int:
    """Benchmark one concurrent crawl pass; 1 if the limit broke or items went missing."""
    plan = Plan(
        args.sources,
        args.hosts,
        args.per_host,
        args.workers,
        args.articles,
        args.kinds,
        args.latency / 1000,
    )
    kinds, missing = available_kinds(plan.kinds)
    if not kinds:
        print("error: none of the chosen kinds has an adapter yet", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="monitor-bench-crawl-") as tmp:
        outcome = run(plan, kinds, Path(tmp))
    _print_figures(plan, kinds, missing, outcome)
    found = problems(outcome)
    for problem in found[:20]:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if found else 0


def _kinds(text: str) -> tuple[str, ...]:
    chosen = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in chosen if k not in KINDS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(KINDS)}, comma-separated")
    return chosen


def add_command(commands: Any) -> None:
    """Register ``crawl`` on the benchmark command line's subcommands."""
    crawl = commands.add_parser(
        "crawl", help="Crawl many RSS/html/sitemap sources on 127.0.0.1 with per-host limits."
    )
    crawl.add_argument("--sources", type=positive_arg, default=500, help="Sources (500).")
    crawl.add_argument("--hosts", type=positive_arg, default=10, help="Hosts, one port each (10).")
    crawl.add_argument(
        "--per-host", type=positive_arg, default=2, help="http.per_host_concurrency (2)."
    )
    crawl.add_argument("--workers", type=workers_arg, default=32, help="Crawl threads (32).")
    crawl.add_argument(
        "--articles", type=positive_arg, default=5, help="Article pages per listing/sitemap (5)."
    )
    crawl.add_argument(
        "--kinds", type=_kinds, default=KINDS, help="Source kinds, in turn (rss,html,sitemap)."
    )
    crawl.add_argument(
        "--latency",
        type=float,
        default=20.0,
        help="Milliseconds each server takes to answer, as across a network (20).",
    )
    crawl.set_defaults(func=run_crawl)
