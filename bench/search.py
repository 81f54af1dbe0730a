"""Search benchmark: ``python -m bench search [--items 1000000] [--queries 200] [--backend both]``.

Fills a fresh database through the real migrations (SQLite in a temporary directory; PostgreSQL
in a fresh schema of MONITOR_TEST_DATABASE_URL, or of postgresql://postgres@127.0.0.1:5432/test
when that answers) with synthetic Vietnamese items made of real sentences (bench.searchdata),
stores a sample more through ``repo.ingest`` and ``repo.save_analyses`` (the write path, with the
index's triggers live), then times mixed queries through the real ``monitor.storage.search.search``:
common and rare words, phrases, unaccented words, prefixes, exclusions, words with filters,
filters alone, by relevance, and a deep page. Prints the fill rate, the index size and p50/p95/max
per class of query and overall, against the target p95 < 100 ms.
Exit codes: 0 ran (a missed target is reported, not fatal), 1 a backend could not be run, 2 bad usage.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench import searchdata as data
from bench.ingest import peak_rss_mib, positive_arg, verdict
from crawlers.base import ItemRecord
from monitor.storage import db, repo
from monitor.storage.db import Engine
from monitor.storage.search import SearchQuery, search
from monitor.storage.searchtext import fold_words
from nlp.base import Analysis, Place
from nlp.labels import SENTIMENTS, TOPICS

TARGET_P95_MS = 100.0
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SAMPLE_DOCS = 20_000  # items whose words are counted to choose the queries
WRITE_SAMPLE = 1_000  # items stored through the write path after the fill
WRITE_BATCH = 20  # items per transaction there (a crawl run's worth)
CLASSES = (
    "common words",
    "rare word",
    "phrase",
    "unaccented",
    "prefix",
    "exclusion",
    "words+filters",
    "filters only",
    "relevance",
    "deep page",
)


# --- the queries ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timed:
    """One query's class, what it asked and how it went."""

    kind: str
    query: SearchQuery
    ms: float
    total: int
    capped: bool


class Vocabulary:
    """Words of the first items filled: how common each is, and how a text wrote it."""

    def __init__(self, limit: int = SAMPLE_DOCS) -> None:
        self.stats = data.WordStats(limit)
        self.surface: dict[str, str] = {}

    def add(self, rows: Sequence[data.Row]) -> None:
        """Count the words of rows while the sample is not full."""
        if self.stats.docs >= self.stats.limit:
            return
        self.stats.add(rows)
        for row in rows[:500]:
            original = f"{row.title}\n{row.text}"
            spans = [m.span() for m in re.finditer(r"\S+", fold_words(original))]
            for (a, b), (c, d) in zip(spans, spans[1:], strict=False):
                self.surface.setdefault(fold_words(original[a:b]), original[a:b])
                pair = f"{fold_words(original[a:b])} {fold_words(original[c:d])}"
                self.surface.setdefault(pair, " ".join(original[a:d].split()))

    def band(self, low: float, high: float, min_len: int = 2) -> list[str]:
        """Words in between these shares of items, most common first."""
        found = [
            w
            for w, n in self.stats.freq.most_common()
            if low <= n / max(1, self.stats.docs) < high and len(w) >= min_len and w.isalpha()
        ]
        return found or [w for w, _ in self.stats.freq.most_common(50) if w.isalpha()]

    def said(self, word: str) -> str:
        """The word as a text wrote it (with its diacritics)."""
        return self.surface.get(word, word)

    def phrases(self, count: int) -> list[str]:
        """Common two-word sequences, as written."""
        common = [b for b, n in self.stats.bigrams.most_common(count * 4) if n >= 3]
        return [self.said(b) for b in common[:count]] or ["nam định"]


def _filters(rng: random.Random, span: tuple[Any, Any]) -> dict[str, Any]:
    """One to three filters, as a person would combine them."""
    start, end = span
    choices: list[dict[str, Any]] = [
        {"source_id": f"bao-{rng.randrange(12):02d}"},
        {"kind": rng.choice(("news", "social", "forum"))},
        {"topic": rng.choice(TOPICS)},
        {"sentiment": rng.choice(SENTIMENTS)},
        {"min_severity": rng.choice(("watch", "alert", "critical"))},
        {"place": rng.choice(data.PLACES)[1]},
        {"relevant": True},
        {"since": end - timedelta(days=rng.choice((7, 30, 90)))},
        {"since": start + timedelta(days=100), "until": start + timedelta(days=130)},
        {"sources": tuple(f"bao-{n:02d}" for n in rng.sample(range(data.SOURCES), 5))},
    ]
    chosen: dict[str, Any] = {}
    for extra in rng.sample(choices, rng.randint(1, 3)):
        chosen.update(extra)
    return chosen


def make_queries(
    vocab: Vocabulary, count: int, seed: int, span: tuple[Any, Any]
) -> list[tuple[str, SearchQuery]]:
    """``count`` queries, the classes in turn, the same for the same seed and vocabulary."""
    rng = random.Random(seed)
    common = vocab.band(0.05, 1.0)[:60]
    middle = vocab.band(0.002, 0.05)[:300]
    rare = vocab.band(0.0, 0.0002, min_len=4)
    phrases = [*vocab.phrases(40), "cầu Tân Phong"]
    places = ["nam dinh", "hai hau", "giao thuy", "xuan truong", "nghia hung", "y yen", "vu ban"]

    def words(pool: list[str], n: int) -> str:
        return " ".join(vocab.said(w) for w in rng.sample(pool, n))

    makers = {
        "common words": lambda: SearchQuery(text=words(common, rng.randint(1, 2))),
        "rare word": lambda: SearchQuery(text=vocab.said(rng.choice(rare))),
        "phrase": lambda: SearchQuery(text=f'"{rng.choice(phrases)}"'),
        "unaccented": lambda: SearchQuery(
            text=rng.choice([*places, *(p.lower() for p in common[:10])])
        ),
        "prefix": lambda: SearchQuery(text=f"{rng.choice(common + middle)[: rng.randint(2, 4)]}*"),
        "exclusion": lambda: SearchQuery(text=f"{words(common, 1)} -{words(common, 1)}"),
        "words+filters": lambda: SearchQuery(
            text=words(rng.choice((common, middle)), 1), **_filters(rng, span)
        ),
        "filters only": lambda: SearchQuery(
            sort=rng.choice(("newest", "newest", "severity", "oldest")), **_filters(rng, span)
        ),
        "relevance": lambda: SearchQuery(
            text=words(rng.choice((common, middle)), rng.randint(1, 2)), sort="relevance"
        ),
        "deep page": lambda: SearchQuery(text=words(common, 1), page=20),
    }
    return [(CLASSES[n % len(CLASSES)], makers[CLASSES[n % len(CLASSES)]]()) for n in range(count)]


def time_queries(sessions: Any, queries: list[tuple[str, SearchQuery]]) -> list[Timed]:
    """Run each query through search() in a session of its own; wall time of the call."""
    timed: list[Timed] = []
    for kind, query in queries:
        with sessions() as session:
            began = time.perf_counter()
            page = search(session, query)
            ms = 1000 * (time.perf_counter() - began)
        timed.append(Timed(kind, query, ms, page.total, page.total_capped))
    return timed


# --- filling -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Filled:
    """What filling a backend took and left."""

    backend: str
    items: int
    load_s: float
    build_s: float
    index_bytes: int
    text_bytes: int
    database_bytes: int
    write_rate: float = 0.0
    timed: list[Timed] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _observed(
    rows: Iterator[data.Row], vocab: Vocabulary, span: list[Any]
) -> Iterator[list[data.Row]]:
    """The rows in chunks, counting the first ones' words and noting the dates covered."""
    for chunk in data.chunks(rows):
        vocab.add(chunk)
        if not span:
            span.append(chunk[0].fetched_at)
        span[1:] = [chunk[-1].fetched_at]
        yield chunk


def write_path(sessions: Any, corpus: data.Corpus, count: int, seed: int) -> float:
    """Items per second stored and analysed as a crawl run does (the index's triggers live)."""
    rows = list(data.generate(corpus, count, seed))
    began = time.perf_counter()
    for start in range(0, len(rows), WRITE_BATCH):
        batch = rows[start : start + WRITE_BATCH]
        with db.transaction(sessions) as session:
            records = [
                ItemRecord(
                    f"https://bao-01.example.vn/moi/{seed}-{r.id}.html",
                    f"https://bao-01.example.vn/moi/{seed}-{r.id}.html",
                    r.title,
                    r.text,
                    published_at=r.published_at,
                )
                for r in batch
            ]
            stored = repo.ingest(session, "bao-01", records)
            analyses = [
                (
                    item_id,
                    Analysis(
                        "bench",
                        r.relevant,
                        1.0,
                        severity=r.severity,
                        places=[Place(str(p["name"]), str(p["level"]), 0, 0) for p in r.places],
                        topic=r.topic,
                        sentiment=r.sentiment,
                    ),
                )
                for (item_id, _), r in zip(stored.new, batch, strict=False)
            ]
            repo.save_analyses(session, analyses)
    return len(rows) / (time.perf_counter() - began)


def run_sqlite(args: argparse.Namespace, corpus: data.Corpus, tmp: Path) -> Filled:
    """Fill a SQLite file, then time the queries on it."""
    path = tmp / "search.db"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    engine.dispose()
    vocab, span = Vocabulary(), list[Any]()
    began = time.perf_counter()
    items = data.fill_sqlite(
        str(path), _observed(data.generate(corpus, args.items, args.seed), vocab, span)
    )
    load_s = time.perf_counter() - began
    began = time.perf_counter()
    data.analyze_sqlite(str(path))
    build_s = time.perf_counter() - began
    filled = Filled("sqlite", items, load_s, build_s, *_sqlite_sizes(path))
    filled.notes.append(
        "index kept by the triggers during the load; build = FTS5 optimize + ANALYZE"
    )
    engine = db.make_engine(f"sqlite:///{path}")
    try:
        sessions = db.session_factory(engine)
        filled.write_rate = write_path(sessions, corpus, args.writes, args.seed + 1)
        queries = make_queries(vocab, args.queries, args.seed, (span[0], span[-1]))
        filled.timed = time_queries(sessions, queries)
    finally:
        engine.dispose()
    return filled


def _sqlite_sizes(path: Path) -> tuple[int, int, int]:
    import sqlite3

    con = sqlite3.connect(str(path))
    try:
        index = con.execute(
            "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name LIKE 'items_search%'"
        ).fetchone()[0]
        text_bytes = con.execute(
            "SELECT coalesce(sum(length(search_text)), 0) FROM items"
        ).fetchone()[0]
    finally:
        con.close()
    whole = sum(p.stat().st_size for p in path.parent.glob(f"{path.name}*"))
    return int(index), int(text_bytes), whole


def postgres_url() -> str | None:
    """The PostgreSQL to fill: MONITOR_TEST_DATABASE_URL, or the local default if it answers."""
    url = os.environ.get("MONITOR_TEST_DATABASE_URL") or DEFAULT_PG
    engine = db.make_engine(url)
    try:
        with engine.connect():
            return url
    except Exception:  # noqa: BLE001 - any failure to connect means: not available
        return None
    finally:
        engine.dispose()


def _libpq(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def fresh_schema(url: str, prefix: str) -> Iterator[tuple[str, Engine]]:
    """A new, migrated schema of the database at ``url`` and an engine on it; dropped afterwards."""
    from sqlalchemy import text

    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = db.make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = db.make_engine(url, schema=schema)
    try:
        db.upgrade(engine)
        yield schema, engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def run_postgresql(args: argparse.Namespace, corpus: data.Corpus, url: str) -> Filled:
    """Fill a fresh schema, then time the queries on it; the schema is dropped afterwards."""
    with fresh_schema(url, "bench_search") as (schema, engine):
        vocab, span = Vocabulary(), list[Any]()
        began = time.perf_counter()
        rows = _observed(data.generate(corpus, args.items, args.seed), vocab, span)
        items = data.fill_postgresql(_libpq(url), schema, rows)
        load_s = time.perf_counter() - began
        began = time.perf_counter()
        data.finish_postgresql(_libpq(url), schema)
        build_s = time.perf_counter() - began
        filled = Filled("postgresql", items, load_s, build_s, *_pg_sizes(engine))
        filled.notes.append(
            "items_search rows written by the items trigger during the load; build = its "
            "GIN and date indexes + foreign key + VACUUM ANALYZE"
        )
        sessions = db.session_factory(engine)
        filled.write_rate = write_path(sessions, corpus, args.writes, args.seed + 1)
        queries = make_queries(vocab, args.queries, args.seed, (span[0], span[-1]))
        filled.timed = time_queries(sessions, queries)
        return filled


def _pg_sizes(engine: Any) -> tuple[int, int, int]:
    from sqlalchemy import text

    with engine.connect() as conn:
        index = conn.execute(text("SELECT pg_total_relation_size('items_search')")).scalar_one()
        texts = conn.execute(
            text("SELECT sum(pg_column_size(search_text)) FROM items")
        ).scalar_one()
        whole = conn.execute(
            text(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'"
            )
        ).scalar_one()
    return int(index), int(texts or 0), int(whole or 0)


# --- printing -------------------------------------------------------------------------------------


def _pct(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def print_figures(f: Filled) -> None:
    """The figures of one backend."""
    total_s = f.load_s + f.build_s
    rows = [
        ("backend", f.backend),
        ("items", f"{f.items:,} (each with an analysis)"),
        ("load", f"{f.load_s:,.0f} s, {f.items / max(f.load_s, 1e-9):,.0f} items/s"),
        ("index build", f"{f.build_s:,.0f} s"),
        ("fill rate", f"{f.items / max(total_s, 1e-9):,.0f} items/s (load and build)"),
        ("index size", f"{_mib(f.index_bytes)} ({f.index_bytes / max(f.items, 1):,.0f} B/item)"),
        ("search_text column", _mib(f.text_bytes)),
        ("database size", _mib(f.database_bytes)),
        (
            "write path",
            f"{f.write_rate:,.0f} items/s (repo.ingest + save_analyses, {WRITE_BATCH}/transaction)",
        ),
        ("queries", f"{len(f.timed)}"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    for note in f.notes:
        print(f"  ({note})")
    print(f"{'class':<14} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  {'median total':>12}")
    for kind in CLASSES:
        mine = [t for t in f.timed if t.kind == kind]
        if mine:
            _line(kind, mine)
    if f.timed:
        p95 = _line("all", f.timed)
        print(f"p95 {p95:.1f} ms  [target < {TARGET_P95_MS:.0f} ms: {verdict(TARGET_P95_MS, p95)}]")
    slowest = sorted(f.timed, key=lambda t: -t.ms)[:3]
    for t in slowest:
        print(f"  slowest: {t.ms:.1f} ms {t.kind}: {_describe(t.query)}")


def _line(kind: str, timed: list[Timed]) -> float:
    ms = [t.ms for t in timed]
    totals = sorted(t.total for t in timed)
    median = totals[len(totals) // 2]
    capped = "+" if any(t.capped and t.total == median for t in timed) else ""
    p95 = _pct(ms, 0.95)
    print(
        f"{kind:<14} {len(ms):>4} {statistics.median(ms):>8.1f} {p95:>8.1f} {max(ms):>8.1f}  "
        f"{median:>11,}{capped or ' '}"
    )
    return p95


def _describe(q: SearchQuery) -> str:
    fields = {k: v for k, v in vars_of(q).items() if v not in (None, "", 1, 50, "newest")}
    return ", ".join(f"{k}={v!r}" for k, v in fields.items())


def vars_of(q: SearchQuery) -> dict[str, Any]:
    """The query's fields by name."""
    return {name: getattr(q, name) for name in q.__dataclass_fields__}


# --- the command ----------------------------------------------------------------------------------


def run_search(args: argparse.Namespace) -> int:
    """Fill each backend asked for and time the queries on it."""
    began = time.perf_counter()
    corpus = data.load_corpus(Path(args.data))
    print(f"corpus: {len(corpus.titles):,} headlines, {len(corpus.sentences):,} sentences")
    code = 0
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="monitor-bench-search-") as tmp:
            print_figures(run_sqlite(args, corpus, Path(tmp)))
    if args.backend in ("postgresql", "both"):
        url = postgres_url()
        if url is None:
            print(
                "postgresql: no database answers (set MONITOR_TEST_DATABASE_URL)", file=sys.stderr
            )
            code = 1 if args.backend == "postgresql" else 0
        else:
            print()
            print_figures(run_postgresql(args, corpus, url))
    peak = peak_rss_mib()
    print(f"peak memory {peak:.0f} MiB; ran {time.perf_counter() - began:,.0f} s" if peak else "")
    return code


def add_command(commands: Any) -> None:
    """Register ``search`` on the benchmark command line's subcommands."""
    parser = commands.add_parser(
        "search", help="Fill a database with synthetic items and time search queries."
    )
    parser.add_argument(
        "--items", type=positive_arg, default=1_000_000, help="Items to fill (1000000)."
    )
    parser.add_argument("--queries", type=positive_arg, default=200, help="Queries timed (200).")
    parser.add_argument(
        "--backend", choices=("sqlite", "postgresql", "both"), default="both", help="Where (both)."
    )
    parser.add_argument(
        "--writes",
        type=positive_arg,
        default=WRITE_SAMPLE,
        help=f"Items stored through the write path after the fill ({WRITE_SAMPLE}).",
    )
    parser.add_argument(
        "--seed", type=int, default=2025, help="Seed of the items and queries (2025)."
    )
    parser.add_argument("--data", default=str(data.DATA), help="Folder of the topic corpora.")
    parser.set_defaults(func=run_search)
