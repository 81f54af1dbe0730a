"""Ingest benchmark: ``python -m bench ingest [--feeds 200] [--entries 50]``.

``ingest`` serves synthetic Vietnamese RSS feeds from 127.0.0.1, crawls every source once through
the whole pipeline (fetch -> parse -> store -> analyse -> cases) into a fresh SQLite file, and
compares the stored rate with feedparser's parse-only rate over the very same bytes.
Exit codes: 0 ran (a missed target is reported, not fatal), 1 the figures are wrong, 2 bad usage.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import pstats
import random
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import feedparser

from crawlers.rss import parse_feed
from monitor.bootstrap import build_app
from monitor.config import Settings
from monitor.pipeline import RunReport, crawl_source
from monitor.storage import queries

logger = logging.getLogger(__name__)

# Targets from the ingest-performance issue.
TARGET_ITEMS_PER_S = 1000.0
TARGET_RATIO = 0.4
RELEVANT_SHARE = 0.2  # entries that name the province or one of its districts
ALARM_SHARE = 0.1  # entries with an alarm word, relevant or not
CONTENT_TYPE = "application/rss+xml; charset=utf-8"
_BASE_TIME = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)

# The filler is checked to name no unit of the province and no alarm word, so the cases opened
# can be predicted; beware folding: "hoàn thành năm" folds to "... thanh nam", an alias.
_TITLES = (
    "Hội nghị tổng kết công tác chuyển đổi số giai đoạn 2021–2025",
    "Xuất khẩu dệt may tăng trưởng mạnh trong sáu tháng đầu năm",
    "Vụ lúa xuân được mùa, nông dân phấn khởi",
    "Chuẩn bị chu đáo cho kỳ thi tốt nghiệp trung học phổ thông",
    "Đẩy nhanh tiến độ giải ngân vốn đầu tư công",
    "Lễ hội truyền thống thu hút hàng nghìn du khách",
    "Nâng cấp tuyến đường ven biển kết nối các khu công nghiệp",
    "Giá cả thị trường ổn định, nguồn cung hàng hoá dồi dào",
    "Câu lạc bộ bóng đá giành chiến thắng thuyết phục trên sân nhà",
    "Khởi công xây dựng trường mầm non đạt chuẩn quốc gia",
)
_ALARM_TITLES = (
    "Cháy lớn tại kho hàng, lực lượng chức năng khẩn trương dập lửa",
    "Tai nạn giao thông trên quốc lộ khiến nhiều người bị thương",
    "Một người tử vong sau va chạm giữa xe tải và xe máy",
    "Cháy nhà xưởng trong đêm, thiệt hại hàng tỷ đồng",
)
_SENTENCES = (
    "Sáng nay, Ủy ban nhân dân tỉnh đã tổ chức hội nghị tổng kết công tác chuyển đổi số "
    "với sự tham gia của đại diện các sở, ban, ngành và địa phương.",
    "Theo báo cáo, tốc độ tăng trưởng kinh tế trong quý vừa qua đạt khoảng 7,2%, "
    "cao hơn mức bình quân chung của cả nước.",
    "Nhiều doanh nghiệp cho biết đơn hàng xuất khẩu dệt may và giày da đã phục hồi rõ rệt "
    "kể từ đầu năm, người lao động có thêm việc làm ổn định.",
    "Ngành giáo dục đang gấp rút chuẩn bị cho kỳ thi tốt nghiệp, bảo đảm an toàn, "
    "nghiêm túc và đúng quy chế.",
    "Bà con nông dân phấn khởi khi vụ lúa xuân năm nay được mùa, được giá, "
    "năng suất bình quân đạt trên 70 tạ mỗi héc-ta.",
    "Lãnh đạo địa phương nhấn mạnh yêu cầu đẩy nhanh tiến độ giải ngân vốn đầu tư công "
    "và cải thiện môi trường kinh doanh.",
    "Chương trình xây dựng nông thôn mới kiểu mẫu tiếp tục được triển khai đồng bộ, "
    "chú trọng nâng cao đời sống tinh thần của người dân.",
    "Các đơn vị y tế tăng cường tuyên truyền về tiêm chủng mở rộng và chăm sóc sức khỏe "
    "ban đầu cho trẻ em.",
    "Lễ hội truyền thống thu hút hàng nghìn du khách thập phương về tham quan, chiêm bái "
    "trong những ngày đầu xuân.",
    "Cơ quan chức năng khuyến cáo người dân thận trọng khi giao dịch trực tuyến và bảo vệ "
    "thông tin cá nhân.",
    "Dự án nâng cấp tuyến đường ven biển dự kiến xong vào cuối năm sau, góp phần kết nối "
    "các khu công nghiệp với cảng biển.",
    "Hội Liên hiệp Phụ nữ phối hợp với Đoàn Thanh niên tổ chức chuỗi hoạt động tình nguyện "
    "hè cho học sinh, sinh viên.",
    "Giá cả các mặt hàng thiết yếu trên thị trường nhìn chung ổn định, nguồn cung dồi dào, "
    "không có hiện tượng găm hàng.",
    "Sở Khoa học và Công nghệ vừa công bố danh sách các đề tài nghiên cứu ứng dụng "
    "được đặt hàng trong năm 2025.",
)
_ALARM_SENTENCES = (
    "Vụ cháy bùng phát vào khoảng 2 giờ sáng, lực lượng cảnh sát phòng cháy đã có mặt kịp thời.",
    "Vụ tai nạn khiến giao thông trên tuyến đường ùn tắc kéo dài nhiều giờ.",
    "Một người tử vong tại chỗ, hai người khác được đưa đi cấp cứu.",
)
_PLACE_TITLE_SUFFIXES = (" ở huyện Hải Hậu", " tại Nam Định", " ở huyện Hải Hậu, tỉnh Nam Định")
_PLACE_SENTENCES = (
    "Sự việc được ghi nhận tại huyện Hải Hậu.",
    "Thông tin do Sở Thông tin và Truyền thông tỉnh Nam Định cung cấp.",
    "Người dân ở huyện Hải Hậu, tỉnh Nam Định theo dõi sát diễn biến.",
)
_CATEGORIES = ("Thời sự", "Kinh tế", "Xã hội", "Giáo dục", "Văn hoá", "Thể thao")


@dataclass(frozen=True, slots=True)
class Corpus:
    """Feed bodies by URL path, and what the pipeline should make of them."""

    feeds: dict[str, bytes]
    entries: int
    expected_cases: int


@dataclass(frozen=True, slots=True)
class CrawlOutcome:
    """One pass over every source: how long it took and what each run reported."""

    elapsed: float
    reports: list[RunReport]
    counted: int

    @property
    def stored(self) -> int:
        """Items the runs say they stored."""
        return sum(r.new for r in self.reports)

    @property
    def cases(self) -> int:
        """Cases the runs say they opened."""
        return sum(r.cases_opened for r in self.reports)

    @property
    def failed(self) -> list[RunReport]:
        """Runs that did not finish cleanly."""
        return [r for r in self.reports if r.status != "ok"]


def _description(rng: random.Random, sentences: list[str], link: str, feed: int, entry: int) -> str:
    lead, *rest = sentences
    image = f"https://bao-{feed}.example.vn/anh/{entry}.jpg"
    body = "".join(f"<p>{s}</p>" for s in rest)
    related = f'<p><a href="{link}?ref=lien-quan">Đọc tiếp</a> &#8211; <em>Báo {feed}</em></p>'
    if rng.random() < 0.3:  # some feeds ship a script or style the sanitiser must drop
        related += "<script>var ads = 1;</script><style>p{margin:0}</style>"
    figure = f'<p><img src="{image}" alt="Ảnh minh hoạ" /></p>'
    return f"{figure}<p><strong>{lead}</strong></p>{body}{related}"


def _item(rng: random.Random, feed: int, entry: int) -> tuple[str, bool]:
    """One <item> and whether the keyword analyser should open a case for it."""
    relevant, alarm = rng.random() < RELEVANT_SHARE, rng.random() < ALARM_SHARE
    title = rng.choice(_ALARM_TITLES if alarm else _TITLES)
    sentences = rng.sample(_SENTENCES, rng.randint(3, 5))
    if alarm:
        sentences.insert(1, rng.choice(_ALARM_SENTENCES))
    if relevant and rng.random() < 0.5:
        title += rng.choice(_PLACE_TITLE_SUFFIXES)
    elif relevant:
        sentences.insert(rng.randrange(1, len(sentences) + 1), rng.choice(_PLACE_SENTENCES))
    link = f"https://bao-{feed}.example.vn/tin/{entry}.html"
    html = _description(rng, sentences, link, feed, entry)
    # Feeds in the wild wrap HTML either way; both paths through feedparser get exercised.
    description = f"<![CDATA[{html}]]>" if feed % 2 == 0 else escape(html)
    published = _BASE_TIME - timedelta(minutes=entry * 17 + rng.randint(0, 16))
    xml = (
        f"<item><title>{escape(title)}</title><link>{link}</link>"
        f'<guid isPermaLink="true">{link}</guid><category>{rng.choice(_CATEGORIES)}</category>'
        f"<description>{description}</description>"
        f"<pubDate>{format_datetime(published, usegmt=True)}</pubDate></item>"
    )
    return xml, relevant and alarm


def _feed(rng: random.Random, feed: int, entries: int) -> tuple[bytes, int]:
    """One RSS 2.0 document and the number of cases it should open."""
    items = [_item(rng, feed, entry) for entry in range(entries)]
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        f"<title>Báo {feed} – Tin mới nhất</title><link>https://bao-{feed}.example.vn/</link>"
        f"<description>Tin tức thời sự, kinh tế, xã hội trong ngày của Báo {feed}</description>"
        f"<language>vi</language><lastBuildDate>{format_datetime(_BASE_TIME, usegmt=True)}"
        f"</lastBuildDate>{''.join(x for x, _ in items)}</channel></rss>"
    )
    return xml.encode("utf-8"), sum(case for _, case in items)


def make_corpus(feeds: int, entries: int, seed: int = 2025) -> Corpus:
    """Generate ``feeds`` RSS documents of ``entries`` items each, the same for the same seed."""
    rng = random.Random(seed)
    bodies: dict[str, bytes] = {}
    cases = 0
    for feed in range(feeds):
        bodies[f"/feed/{feed:03d}.xml"], feed_cases = _feed(rng, feed, entries)
        cases += feed_cases
    return Corpus(bodies, feeds * entries, cases)


def _handler(feeds: Mapping[str, bytes]) -> type[BaseHTTPRequestHandler]:
    class FeedHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real server would allow
        # Headers and body go out in two writes; with Nagle on, the body's last segment waits for
        # the client's delayed ACK (~40 ms a feed), which would time the loopback, not the pipeline.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:  # the name http.server dispatches to
            body = feeds.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per request would drown the figures

    return FeedHandler


@contextmanager
def serve(feeds: Mapping[str, bytes]) -> Iterator[str]:
    """Serve the feeds on 127.0.0.1 from a background thread; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(feeds))
    thread = threading.Thread(target=server.serve_forever, name="bench-http", daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    logger.debug("serving %d feeds on %s", len(feeds), base_url)
    try:
        yield base_url
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def bench_settings(
    base_url: str, paths: Sequence[str], db_path: Path, workers: int, analyser: str = "nlp"
) -> Settings:
    """Settings with one rss source per feed, a fresh SQLite file and the chosen analyser."""
    sources = [
        {"id": f"bench-{n:03d}", "kind": "rss", "url": f"{base_url}{path}"}
        for n, path in enumerate(paths)
    ]
    return Settings.model_validate(
        {
            "database": {"url": f"sqlite:///{db_path}"},
            "sources": sources,
            "scheduler": {"jitter": 0, "max_workers": workers},
            "analysis": {"analyser": analyser},
            # Every feed is on one local host: the politeness pause between requests to a host
            # (1 s by default) would measure the pause, not the ingest. Concurrency per host
            # follows the workers so they are not held back either.
            "http": {"min_delay": 0, "per_host_concurrency": min(workers, 16)},
        }
    )


def crawl_all(settings: Settings, workers: int) -> CrawlOutcome:
    """Build the app (migrating the database), then time one crawl of every source."""
    app = build_app(settings)
    try:
        ids = [s.id for s in settings.sources]
        start = time.perf_counter()
        if workers == 1:
            reports = [crawl_source(app, source_id) for source_id in ids]
        else:
            with ThreadPoolExecutor(workers) as pool:
                reports = list(pool.map(lambda source_id: crawl_source(app, source_id), ids))
        elapsed = time.perf_counter() - start
        return CrawlOutcome(elapsed, reports, queries.count_items(app.sessions))
    finally:
        app.close()


def time_feedparser(bodies: Sequence[bytes]) -> tuple[float, int]:
    """Seconds feedparser alone takes over the bodies, and the entries it found."""
    start = time.perf_counter()
    entries = sum(len(feedparser.parse(io.BytesIO(body)).entries) for body in bodies)
    return time.perf_counter() - start, entries


def time_parse_feed(feeds: Mapping[str, bytes]) -> tuple[float, int]:
    """Seconds the crawler's parse_feed (feedparser plus cleaning) takes, and the items it made."""
    start = time.perf_counter()
    items = sum(
        len(parse_feed(body, f"http://127.0.0.1{path}", CONTENT_TYPE).items)
        for path, body in feeds.items()
    )
    return time.perf_counter() - start, items


def peak_rss_mib() -> float | None:
    """The process's peak resident memory in MiB, where the platform reports it."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB here


def verdict(value: float, target: float) -> str:
    """PASS when a figure meets its target (at least it), else MISS, as every benchmark prints."""
    return "PASS" if value >= target else "MISS"


def _print_figures(args: argparse.Namespace, corpus: Corpus, outcome: CrawlOutcome) -> None:
    parse_s, parsed = time_feedparser(list(corpus.feeds.values()))
    clean_s, cleaned = time_parse_feed(corpus.feeds)
    stored_rate = outcome.stored / outcome.elapsed
    parse_rate = parsed / parse_s
    ratio = stored_rate / parse_rate
    peak = peak_rss_mib()
    size = sum(len(b) for b in corpus.feeds.values()) / 2**20
    rows = [
        ("feeds", f"{args.feeds}"),
        ("entries per feed", f"{args.entries}  ({corpus.entries} in all, {size:.1f} MiB of XML)"),
        ("workers", f"{args.workers}"),
        ("items stored", f"{outcome.stored}  (count_items {outcome.counted})"),
        ("elapsed (crawl)", f"{outcome.elapsed:.3f} s"),
        (
            "stored items/s",
            f"{stored_rate:,.0f}  [target >= {TARGET_ITEMS_PER_S:,.0f}: "
            f"{verdict(stored_rate, TARGET_ITEMS_PER_S)}]",
        ),
        ("parse-only items/s", f"{parse_rate:,.0f}  (feedparser.parse, {parse_s:.3f} s)"),
        (
            "ratio stored/parse-only",
            f"{ratio:.2f}  [target >= {TARGET_RATIO}: {verdict(ratio, TARGET_RATIO)}]",
        ),
        (
            "parse_feed items/s",
            f"{cleaned / clean_s:,.0f}  (crawlers.rss.parse_feed, {clean_s:.3f} s)",
        ),
        ("peak memory (ru_maxrss)", f"{peak:.1f} MiB" if peak is not None else "n/a"),
        ("analyser", args.analyser),
        (
            "cases opened",
            f"{outcome.cases}  (alarm entries by construction {corpus.expected_cases})",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def _check(corpus: Corpus, outcome: CrawlOutcome) -> list[str]:
    problems = [
        f"{r.source_id}: {r.status} {r.error or '; '.join(r.warnings)}" for r in outcome.failed
    ]
    if outcome.stored != corpus.entries:
        problems.append(f"runs stored {outcome.stored} items, expected {corpus.entries}")
    if outcome.counted != corpus.entries:
        problems.append(f"count_items says {outcome.counted}, expected {corpus.entries}")
    return problems


def _extra_pass(
    args: argparse.Namespace, base_url: str, corpus: Corpus, tmp: Path, name: str
) -> None:
    """Crawl again into a fresh database under tracemalloc or cProfile (never the timed pass)."""
    settings = bench_settings(
        base_url, list(corpus.feeds), tmp / f"{name}.db", args.workers, args.analyser
    )
    if name == "tracemalloc":
        tracemalloc.start()
        crawl_all(settings, args.workers)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"tracemalloc peak (crawl pass)  {peak / 2**20:.1f} MiB")
        return
    profile = cProfile.Profile()
    profile.runcall(crawl_all, settings, args.workers)
    print(f"\ncProfile of a crawl pass (top {args.profile_top}, by cumulative time):")
    pstats.Stats(profile, stream=sys.stdout).sort_stats("cumulative").print_stats(args.profile_top)


def run_ingest(args: argparse.Namespace) -> int:
    """Benchmark ingest end to end; 1 if what was stored is not what was served."""
    corpus = make_corpus(args.feeds, args.entries, args.seed)
    with (
        tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp,
        serve(corpus.feeds) as base_url,
    ):
        settings = bench_settings(
            base_url, list(corpus.feeds), Path(tmp) / "bench.db", args.workers, args.analyser
        )
        outcome = crawl_all(settings, args.workers)
        _print_figures(args, corpus, outcome)
        for extra in ("tracemalloc", "profile"):
            if getattr(args, extra):
                _extra_pass(args, base_url, corpus, Path(tmp), extra)
    problems = _check(corpus, outcome)
    for problem in problems[:20]:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


def workers_arg(text: str) -> int:
    """A command-line worker count: 1 to 64 (scheduler.max_workers' range)."""
    value = positive_arg(text)
    if value > 64:
        raise argparse.ArgumentTypeError("at most 64 (scheduler.max_workers)")
    return value


def positive_arg(text: str) -> int:
    """A command-line whole number of at least 1 (shared by the benchmarks)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_command(commands: Any) -> None:
    """Register ``ingest`` on the benchmark command line's subcommands."""
    ingest = commands.add_parser(
        "ingest", help="Crawl synthetic RSS feeds from 127.0.0.1 end to end."
    )
    ingest.add_argument("--feeds", type=positive_arg, default=200, help="Feeds to serve (200).")
    ingest.add_argument(
        "--analyser",
        choices=("nlp", "keyword"),
        default="nlp",
        help="The shipped models (nlp) or the name-only stand-in (keyword).",
    )
    ingest.add_argument("--entries", type=positive_arg, default=50, help="Entries per feed (50).")
    ingest.add_argument(
        "--workers",
        type=workers_arg,
        default=1,
        help="Crawl with this many threads, as the CLI does (1).",
    )
    ingest.add_argument(
        "--seed", type=int, default=2025, help="Seed of the generated corpus (2025)."
    )
    ingest.add_argument(
        "--tracemalloc",
        action="store_true",
        help="Also report traced peak memory of a separate pass.",
    )
    ingest.add_argument(
        "--profile",
        action="store_true",
        help="Also cProfile a separate pass and print the top calls.",
    )
    ingest.add_argument(
        "--profile-top", type=positive_arg, default=25, help="Rows of the profile (25)."
    )
    ingest.set_defaults(func=run_ingest)
