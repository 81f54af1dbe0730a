"""Stories benchmark: ``python -m bench stories [--articles 300] [--sizes 10000,100000,1000000]``.

Quality: real VNTC test articles (../shared/data), each republished 1-4 times by other outlets
with edits (a new headline, added boilerplate, a removed paragraph, reordered sentences, some of
them together, or verbatim), plus distinct articles of the same sections as negatives, are stored
and grouped into stories by the application's own code (``monitor.storage.stories.assign`` on a
fresh SQLite database built by ``monitor.bootstrap.build_app``); the "same story" pairs it makes
are scored against the pairs the generator made. A few sources are also re-listed under an AMP,
mobile or tracking variant of their URL: those must not become new items at all.

Speed: the LSH index is filled in bulk to 10k, 100k and 1M items seen within the window (random
band keys, written with the stdlib's sqlite3 in a child process: the ORM would take the whole
budget, and the child's memory is not the insertion's), then new real items are timed through
``assign`` at each size. Exit codes: 0 ran (a missed target is reported, not fatal), 2 bad usage.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import random
import re
import sqlite3
import tempfile
import time
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.ingest import peak_rss_mib, positive_arg, verdict
from crawlers.base import ItemRecord
from crawlers.urls import canonical_url
from monitor.bootstrap import App, build_app
from monitor.config import Settings
from monitor.storage import db, queries, repo
from monitor.storage import stories as storage
from monitor.storage.stories import StoryPolicy
from monitor.stories import policy_of
from nlp import dedup

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "topic_vntc10_test.jsonl.gz"
TARGET_PRECISION = 0.95
TARGET_RECALL = 0.95
TARGET_RATIO = 2.0  # per-item time at the largest size within 2x of that at the smallest
EDITS = ("headline", "boilerplate", "trimmed", "reordered")
MIN_WORDS = 80  # shorter articles are left out: one removed paragraph would be half of them
MAX_TRIM = 0.3  # the largest share of an article's words a trimmed paragraph may have
HEADLINE_WORDS = 14  # VNTC's title field holds the headline and the lead: cut to a headline
OUTLETS = 12
_WORD = re.compile(r"\w+")
_SENTENCE = re.compile(r"(?<=[.!?…])\s+(?=\S)")
_OUTLET_NAMES = (
    "Báo Nam Định",
    "Báo Ninh Bình",
    "Tuổi Trẻ",
    "Thanh Niên",
    "VnExpress",
    "Dân Trí",
    "Lao Động",
    "Tiền Phong",
    "VietNamNet",
    "Người Lao Động",
    "Zing News",
    "Báo Mới",
)
_URL_VARIANTS = (
    lambda u: u.replace("://", "://m.", 1),
    lambda u: u.replace("://", "://amp.", 1),
    lambda u: f"{u}?utm_source=facebook&utm_medium=social&fbclid=IwAR0x",
    lambda u: f"{u}/amp",
    lambda u: f"{u}?amp=1#binh-luan",
)


@dataclass(frozen=True, slots=True)
class Article:
    """A corpus article: its headline, its paragraphs' text and its section."""

    title: str
    text: str
    label: str


@dataclass(frozen=True, slots=True)
class SynItem:
    """One generated item, its true story and how it was made from its source article."""

    group: int
    role: str  # source | copy | negative
    outlet: int
    url: str
    title: str
    text: str
    edits: tuple[str, ...] = ()


@dataclass(slots=True)
class Syndication:
    """A generated set: items in arrival order, and URL variants of already listed items."""

    items: list[SynItem]
    variants: list[SynItem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PairScores:
    """Pair precision and recall of predicted groups against true groups."""

    true_pairs: int
    predicted_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float:
        """Share of predicted same-story pairs that are truly one story (1 when none predicted)."""
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        """Share of true same-story pairs predicted (1 when there are none)."""
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def _pairs(counts: Iterable[int]) -> int:
    return sum(n * (n - 1) // 2 for n in counts)


def pair_scores(truth: Sequence[object], predicted: Sequence[object]) -> PairScores:
    """Score predicted groups against true groups over all pairs of items."""
    if len(truth) != len(predicted):
        raise ValueError("truth and prediction must label the same items")
    cells = Counter(zip(truth, predicted, strict=True))
    return PairScores(
        _pairs(Counter(truth).values()), _pairs(Counter(predicted).values()), _pairs(cells.values())
    )


# --- the corpus ----------------------------------------------------------------------------------


def _shingles(text: str) -> set[str]:
    """Word 3-grams, lower-cased: the generator's own measure, independent of nlp.dedup."""
    words = _WORD.findall(text.lower())
    return {" ".join(words[i : i + 3]) for i in range(len(words) - 2)}


def load_articles(
    path: Path, count: int, seed: int, *, distinct: bool = True
) -> tuple[list[Article], int]:
    """About ``count`` articles sampled across the file (it is sorted by section).

    With ``distinct``, none is a near copy of another: the corpus has its own duplicates (one
    article filed twice) which would be scored as wrongly merged negatives, so an article sharing
    30% of its word 3-grams with one already kept is dropped. Returns the articles and the drops.
    """
    rng = random.Random(seed)
    rate = min(1.0, 1.5 * count / _rows_in(path))
    kept: list[Article] = []
    seen: dict[str, list[int]] = defaultdict(list)
    sizes: list[int] = []
    dropped = 0
    for article in _stream(path, rng, rate):
        if len(_WORD.findall(article.text)) < MIN_WORDS:
            continue
        if distinct:
            grams = _shingles(article.text)
            shared = Counter(i for g in grams for i in seen.get(g, ()))
            if any(n >= 0.3 * min(len(grams), sizes[i]) for i, n in shared.items()):
                dropped += 1
                continue
            for gram in grams:
                seen[gram].append(len(kept))
            sizes.append(len(grams))
        kept.append(article)
    rng.shuffle(kept)
    return kept[:count], dropped


def _rows_in(path: Path) -> int:
    with gzip.open(path, "rb") as handle:
        return max(1, sum(1 for _ in handle))


def _stream(path: Path, rng: random.Random, rate: float) -> Iterator[Article]:
    """The articles of a sample of the lines (lines not drawn are not even parsed)."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if rng.random() >= rate:
                continue
            row = json.loads(line)
            text = (row.get("text") or "").strip()
            if text:
                yield Article((row.get("title") or "").strip(), text, row.get("label") or "")


# --- the edits an outlet makes when it republishes ----------------------------------------------


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.split("\n") if p.strip()]


def _sentences(paragraph: str) -> list[str]:
    return _SENTENCE.split(paragraph)


def _headline(title: str) -> str:
    return " ".join(title.split()[:HEADLINE_WORDS])


def _new_headline(rng: random.Random, title: str, paragraphs: list[str], outlet: str) -> str:
    words = title.split()
    choices = [
        " ".join(words[: max(4, len(words) // 2)]),
        f"{rng.choice(('Nóng:', 'Video:', 'Tin mới:', 'Cận cảnh:'))} {title}",
        f"{title} - {outlet}",
        _sentences(paragraphs[0])[0][:120],
    ]
    return rng.choice(choices)


def _boilerplate(
    rng: random.Random, paragraphs: list[str], outlet: str, source: str, related: list[str]
) -> list[str]:
    """A byline, a "Theo ..." credit, a "Xem thêm" block and a footer; at least one of them."""
    parts = rng.sample(range(4), rng.randint(1, 4))
    out = list(paragraphs)
    if 0 in parts:
        out[0] = f"({outlet}) - {out[0]}"
    if 1 in parts:
        out.append(f"Theo {source}")
    if 2 in parts:
        out.append("Xem thêm:")
        out.extend(f"- {title}" for title in related)
    if 3 in parts:
        out.append(
            f"© Bản quyền thuộc về {outlet}. Ghi rõ nguồn '{outlet}' khi phát hành lại "
            "thông tin từ website này. Đường dây nóng: 0912 345 678."
        )
    return out


def _trimmed(rng: random.Random, paragraphs: list[str]) -> list[str]:
    """A paragraph fewer (never the lead), or a block of sentences, up to ~30% of the words.

    A "trim" that removed most of an article (VNTC has 600-word paragraphs) would be another
    article, not a copy: such cuts are not made.
    """
    words = [len(_WORD.findall(p)) for p in paragraphs]
    limit = MAX_TRIM * sum(words)
    removable = [n for n in range(1, len(paragraphs)) if words[n] <= limit]
    if removable:
        drop = rng.choice(removable)
        return paragraphs[:drop] + paragraphs[drop + 1 :]
    sentences = [s for p in paragraphs for s in _sentences(p)]
    if len(sentences) < 4:
        return paragraphs
    size = max(1, len(sentences) // 5)
    start = rng.randrange(1, len(sentences) - size + 1)
    return [" ".join(sentences[:start] + sentences[start + size :])]


def _reordered(rng: random.Random, paragraphs: list[str]) -> list[str]:
    """The paragraphs after the lead shuffled, and the sentences of one paragraph."""
    body = paragraphs[1:]
    rng.shuffle(body)
    out = [paragraphs[0], *body]
    which = rng.randrange(len(out))
    sentences = _sentences(out[which])
    rng.shuffle(sentences)
    out[which] = " ".join(sentences)
    return out


def _edit_kinds(rng: random.Random, copy: int) -> tuple[str, ...]:
    """Each edit alone in turn, or two to four together; a few copies are verbatim."""
    roll = rng.random()
    if roll < 0.08:
        return ()
    if roll < 0.5:
        return (EDITS[copy % len(EDITS)],)
    return tuple(sorted(rng.sample(EDITS, rng.randint(2, 4)), key=EDITS.index))


def republish(
    rng: random.Random,
    article: Article,
    edits: Sequence[str],
    outlet: int,
    source_outlet: int,
    related: list[str],
) -> tuple[str, str]:
    """The headline and text of one republished copy."""
    paragraphs = _paragraphs(article.text)
    title = article.title
    if "trimmed" in edits:
        paragraphs = _trimmed(rng, paragraphs)
    if "reordered" in edits:
        paragraphs = _reordered(rng, paragraphs)
    if "boilerplate" in edits:
        paragraphs = _boilerplate(
            rng, paragraphs, _OUTLET_NAMES[outlet], _OUTLET_NAMES[source_outlet], related
        )
    if "headline" in edits:
        title = _new_headline(rng, title, paragraphs, _OUTLET_NAMES[outlet])
    return title, "\n".join(paragraphs)


def _draw(
    rng: random.Random, same: list[Article], others: list[Article], unused: set[int]
) -> Article | None:
    """An article not drawn before, of the same section if one is left."""
    pool = [a for a in same if id(a) in unused] or [a for a in others if id(a) in unused]
    if not pool:
        return None
    drawn = rng.choice(pool)
    unused.discard(id(drawn))
    return drawn


def _quoting(article: Article, quoted: Article) -> str:
    """An article with another's first paragraphs inserted after its lead, as background.

    At least the quoted lead, then paragraphs while they stay under a third of the article's
    own words: a follow-up recalls what happened, it does not republish it.
    """
    own = _paragraphs(article.text)
    budget = len(_WORD.findall(article.text)) / 3
    background: list[str] = []
    for paragraph in _paragraphs(quoted.text):
        budget -= len(_WORD.findall(paragraph))
        if background and budget < 0:
            break
        background.append(paragraph)
    return "\n".join([own[0], *background, *own[1:]])


def _url(outlet: int, serial: int, section: str) -> str:
    return f"https://bao-{outlet:02d}.example.vn/{section}/bai-{serial}.html"


def make_syndication(
    articles: Sequence[Article], sources: int, seed: int, section: str = "tin"
) -> Syndication:
    """Sources with 1-4 edited copies each, then negatives of the same sections, shuffled.

    URLs are ``https://bao-NN.example.vn/<section>/bai-<serial>.html``: sets made with different
    sections can be stored in one database.
    """
    rng = random.Random(seed)
    originals, others = list(articles[:sources]), list(articles[sources:])
    by_label: dict[str, list[Article]] = defaultdict(list)
    for article in others:
        by_label[article.label].append(article)
    items: list[SynItem] = []
    variants: list[SynItem] = []
    for group, article in enumerate(originals):
        home = rng.randrange(OUTLETS)
        source = SynItem(
            group, "source", home, _url(home, len(items), section), article.title, article.text
        )
        items.append(source)
        if rng.random() < 0.3:
            variant = rng.choice(_URL_VARIANTS)(source.url)
            variants.append(SynItem(group, "variant", home, variant, source.title, source.text))
        outlets = rng.sample([o for o in range(OUTLETS) if o != home], rng.randint(1, 4))
        for n, outlet in enumerate(outlets):
            edits = _edit_kinds(rng, group + n)
            related = [_headline(a.title) for a in rng.sample(others, min(3, len(others)))]
            title, text = republish(rng, article, edits, outlet, home, related)
            items.append(
                SynItem(
                    group, "copy", outlet, _url(outlet, len(items), section), title, text, edits
                )
            )
    group = len(originals)
    unused = {id(a) for a in others}
    for n, article in enumerate(originals):
        # A distinct article of the same section for each source; for some sources another one
        # that quotes the source's lead as background (a follow-up: another story all the same).
        for role in ("negative", "follow-up") if n % 3 == 0 else ("negative",):
            other = _draw(rng, by_label.get(article.label, []), others, unused)
            if other is None:
                break
            text = other.text if role == "negative" else _quoting(other, article)
            outlet = rng.randrange(OUTLETS)
            url = _url(outlet, len(items), section)
            items.append(SynItem(group, role, outlet, url, other.title, text))
            group += 1
    rng.shuffle(items)
    return Syndication(items, variants)


# --- through the application ---------------------------------------------------------------------


def bench_settings(db_path: Path) -> Settings:
    """Settings with one rss source per outlet, a fresh SQLite file and the keyword analyser."""
    sources = [
        {"id": _source(o), "kind": "rss", "url": f"https://bao-{o:02d}.example.vn/rss"}
        for o in range(OUTLETS)
    ]
    return Settings.model_validate(
        {
            "database": {"url": f"sqlite:///{db_path}"},
            "sources": sources,
            "analysis": {"analyser": "keyword"},  # stories need no model; loading one is not timed
        }
    )


def _source(outlet: int) -> str:
    return f"bao-{outlet:02d}"


def _record(item: SynItem, when: datetime) -> ItemRecord:
    return ItemRecord(item.url, canonical_url(item.url), item.title, item.text, published_at=when)


@dataclass(slots=True)
class Grouped:
    """What the application made of a list of items: each one's story (None: not stored)."""

    stories: list[int | None]
    assign_seconds: float
    how: Counter[str]


def store_and_group(app: App, items: Sequence[SynItem], policy: StoryPolicy, batch: int) -> Grouped:
    """Store the items in runs of ``batch`` (one transaction each) and assign their stories."""
    out = Grouped([], 0.0, Counter())
    when = datetime.now(UTC)
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        with db.transaction(app.sessions) as session:
            ids = [_ingest_one(session, item, when) for item in chunk]
            began = time.perf_counter()
            done = storage.assign(session, [i for i in ids if i is not None], policy)
            out.assign_seconds += time.perf_counter() - began
        out.how.update(d.how for d in done)
        story_of = {d.item_id: d.story_id for d in done}
        out.stories.extend(story_of.get(i) if i is not None else None for i in ids)
    return out


def _ingest_one(session: db.Session, item: SynItem, when: datetime) -> int | None:
    result = repo.ingest(session, _source(item.outlet), [_record(item, when)])
    return result.new[0][0] if result.new else None


def count_new_variants(app: App, variants: Sequence[SynItem]) -> int:
    """How many AMP/mobile/tracking variants of stored URLs were stored as new items (want 0)."""
    when = datetime.now(UTC)
    with db.transaction(app.sessions) as session:
        return sum(_ingest_one(session, item, when) is not None for item in variants)


@dataclass(frozen=True, slots=True)
class Quality:
    """The scores of one quality run."""

    scores: PairScores
    items: int
    groups: int
    by_edit: dict[str, tuple[int, int]]  # edit -> (copies that joined their source, copies)
    merged: dict[str, tuple[int, int]]  # role -> (items put in a story with another, items)
    similarity: dict[str, list[float]]  # role -> word 3-gram Jaccard with the source article
    new_variants: int
    variants: int
    how: Counter[str]
    seconds: float
    dropped: int


def _predicted(grouped: Grouped) -> list[object]:
    return [sid if sid is not None else ("unstored", n) for n, sid in enumerate(grouped.stories)]


def recall_by_edit(syn: Syndication, predicted: Sequence[object]) -> dict[str, tuple[int, int]]:
    """Per edit kind: copies put in their source's story, and copies made with that edit."""
    pairs = list(zip(syn.items, predicted, strict=True))
    source_story = {i.group: p for i, p in pairs if i.role == "source"}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for item, story in pairs:
        if item.role != "copy":
            continue
        kinds = list(item.edits or ("verbatim",)) + (["combined"] if len(item.edits) > 1 else [])
        for kind in kinds:
            counts[kind][0] += story == source_story[item.group]
            counts[kind][1] += 1
    return {k: (v[0], v[1]) for k, v in counts.items()}


def merged_by_role(syn: Syndication, predicted: Sequence[object]) -> dict[str, tuple[int, int]]:
    """Per role of the items that should stand alone: those put in a story with another item."""
    sizes = Counter(predicted)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for item, story in zip(syn.items, predicted, strict=True):
        if item.role in ("negative", "follow-up"):
            counts[item.role][0] += sizes[story] > 1
            counts[item.role][1] += 1
    return {k: (v[0], v[1]) for k, v in counts.items()}


def similarities(syn: Syndication, articles: Sequence[Article]) -> dict[str, list[float]]:
    """How alike each copy and follow-up is to its source (word 3-gram Jaccard), sorted."""
    sources = {i.group: _shingles(i.text) for i in syn.items if i.role == "source"}
    out: dict[str, list[float]] = defaultdict(list)
    follow = [i for i in syn.items if i.role == "follow-up"]
    for item in syn.items:
        if item.role == "copy":
            out["copy"].append(_jaccard(_shingles(item.text), sources[item.group]))
    for item in follow:  # a follow-up against the source it quotes: the nearest one
        grams = _shingles(item.text)
        out["follow-up"].append(max(_jaccard(grams, g) for g in sources.values()))
    return {k: sorted(v) for k, v in out.items()}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def run_quality(args: argparse.Namespace, tmp: Path) -> Quality:
    """Generate, store and group the syndication set; score it."""
    wanted = args.articles * 5 // 2  # sources, their negatives and a third more for follow-ups
    articles, dropped = load_articles(Path(args.data), wanted, args.seed)
    syn = make_syndication(articles, min(args.articles, len(articles) * 2 // 5), args.seed)
    settings = bench_settings(tmp / "quality.db")
    app = build_app(settings)
    try:
        began = time.perf_counter()
        grouped = store_and_group(app, syn.items, policy_of(settings.stories), args.batch)
        seconds = time.perf_counter() - began
        new_variants = count_new_variants(app, syn.variants)
    finally:
        app.close()
    predicted = _predicted(grouped)
    return Quality(
        pair_scores([i.group for i in syn.items], predicted),
        len(syn.items),
        len({i.group for i in syn.items}),
        recall_by_edit(syn, predicted),
        merged_by_role(syn, predicted),
        similarities(syn, articles),
        new_variants,
        len(syn.variants),
        grouped.how,
        seconds,
        dropped,
    )


# --- speed at 10k, 100k, 1M indexed items ---------------------------------------------------------

_STAMP = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy keeps a DateTime in SQLite (naive UTC)
_TABLES = ("items", "stories", "item_bands")


def bulk_fill(
    db_path: str, count: int, bands: int, num_perm: int, window_s: int, seed: int
) -> tuple[float, float | None]:
    """Add ``count`` items with random signatures to the index, seen within the window.

    Runs in a child process (see the module docstring); indexes are dropped during the load and
    rebuilt after, as a bulk load does. Returns seconds taken and the child's peak memory in MiB.
    """
    import numpy as np

    began = time.perf_counter()
    rng = np.random.default_rng(seed)
    con = sqlite3.connect(db_path, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("PRAGMA cache_size=-262144")
        indexes = con.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({', '.join('?' * len(_TABLES))})",
            _TABLES,
        ).fetchall()
        con.execute("BEGIN")
        for name, _ in indexes:
            con.execute(f'DROP INDEX "{name}"')
        first_item = (con.execute("SELECT max(id) FROM items").fetchone()[0] or 0) + 1
        first_story = (con.execute("SELECT max(id) FROM stories").fetchone()[0] or 0) + 1
        now = datetime.now(UTC).replace(tzinfo=None)
        for start in range(0, count, 20_000):
            n = min(20_000, count - start)
            _fill_chunk(
                con, rng, first_item + start, first_story + start, n, bands, num_perm, now, window_s
            )
        for _, sql in indexes:
            con.execute(sql)
        con.execute("COMMIT")
        con.execute("ANALYZE")
        con.execute("PRAGMA journal_mode=WAL")
    finally:
        con.close()
    return time.perf_counter() - began, peak_rss_mib()


def _fill_chunk(
    con: sqlite3.Connection,
    rng: Any,
    first_item: int,
    first_story: int,
    n: int,
    bands: int,
    num_perm: int,
    now: datetime,
    window_s: int,
) -> None:
    # Seen over the first 90% of the window, so nothing filled is pruned while the bench runs.
    ages = rng.integers(0, int(window_s * 0.9), size=n)
    stamps = [(now - timedelta(seconds=int(a))).strftime(_STAMP) for a in ages]
    keys = rng.integers(-(2**63), 2**63 - 1, size=(n, bands), dtype="int64").tolist()
    signatures = rng.integers(0, 2**32, size=(n, num_perm), dtype="uint32")
    con.executemany(
        "INSERT INTO stories (id, title, representative_item_id, first_seen_at, last_seen_at, "
        "item_count, outlets, outlet_count, max_severity, sentiment_counts) "
        "VALUES (?, 'Tin', ?, ?, ?, 1, '[\"bao\"]', 1, 'none', '{}')",
        ((first_story + i, first_item + i, stamps[i], stamps[i]) for i in range(n)),
    )
    con.executemany(
        "INSERT INTO items (id, source_id, kind, url, canonical_url, title, text, fetched_at, "
        "content_hash, meta, story_id, text_hash, minhash) "
        "VALUES (?, 'bao-00', 'news', ?, ?, 'Tin', 'Nội dung', ?, ?, '{}', ?, ?, ?)",
        (
            (
                first_item + i,
                f"https://bao-00.example.vn/fill/{first_item + i}.html",
                f"https://bao-00.example.vn/fill/{first_item + i}.html",
                stamps[i],
                f"{first_item + i:064x}",
                first_story + i,
                f"{first_item + i:064x}",
                signatures[i].tobytes(),
            )
            for i in range(n)
        ),
    )
    con.executemany(
        "INSERT INTO item_bands (item_id, position, band, seen_at) VALUES (?, ?, ?, ?)",
        ((first_item + i, p, key, stamps[i]) for i in range(n) for p, key in enumerate(keys[i])),
    )


@dataclass(frozen=True, slots=True)
class SizeRun:
    """Insertion measured at one index size."""

    indexed: int
    fill_seconds: float
    per_item_ms: float
    signing_ms: float  # of which computing the signatures alone (no database)
    items: int
    rss_mib: float | None


def run_speed(
    args: argparse.Namespace, tmp: Path
) -> tuple[list[SizeRun], float | None, float | None]:
    """Fill the index to each size and time inserting new real items; with memory peaks."""
    settings = bench_settings(tmp / "speed.db")
    policy = policy_of(settings.stories)
    articles, _ = load_articles(
        Path(args.data), len(args.sizes) * args.timed // 2 + 200, args.seed + 1, distinct=False
    )
    share = max(1, len(articles) // len(args.sizes))
    runs: list[SizeRun] = []
    child_peak: float | None = None
    app = build_app(settings)
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        for n, size in enumerate(args.sizes):
            missing = max(0, size - queries.count_items(app.sessions))
            app.engine.dispose()  # the bulk load changes the journal mode: no other connection
            fill_s, peak = pool.submit(
                bulk_fill,
                str(tmp / "speed.db"),
                missing,
                policy.bands,
                policy.num_perm,
                int(policy.window.total_seconds()),
                args.seed + n,
            ).result()
            child_peak = max(child_peak or 0.0, peak or 0.0) or None
            indexed = queries.count_items(app.sessions)
            part = articles[n * share : (n + 1) * share]
            syn = make_syndication(part, len(part) // 2, args.seed + n, f"size-{size}")
            timed = syn.items[: args.timed]
            grouped = store_and_group(app, timed, policy, args.batch)
            per_item = 1000 * grouped.assign_seconds / max(1, len(timed))
            signing = 1000 * _signing_seconds(timed, policy) / max(1, len(timed))
            runs.append(SizeRun(indexed, fill_s, per_item, signing, len(timed), peak_rss_mib()))
        traced = _traced_peak(app, policy, articles[-200:], args)
    finally:
        pool.shutdown()
        app.close()
    return runs, child_peak, traced


def _signing_seconds(items: Sequence[SynItem], policy: StoryPolicy) -> float:
    """Seconds nlp.dedup takes to fingerprint the items, as assign does, without the database."""
    began = time.perf_counter()
    for item in items:
        dedup.fingerprint(
            item.title,
            item.text,
            shingle_words=policy.shingle_words,
            num_perm=policy.num_perm,
            min_words=policy.min_words,
        )
    return time.perf_counter() - began


def _traced_peak(
    app: App, policy: StoryPolicy, articles: list[Article], args: argparse.Namespace
) -> float | None:
    """Python heap peak (tracemalloc) while assigning a further batch at the largest size."""
    syn = make_syndication(articles, len(articles) // 2, args.seed + 99, "traced")
    items = syn.items[: min(200, args.timed)]
    if not items:
        return None
    tracemalloc.start()
    try:
        store_and_group(app, items, policy, args.batch)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


# --- the command -----------------------------------------------------------------------------------


def _rows(rows: list[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def _spread(values: list[float]) -> str:
    if not values:
        return "none"
    return f"min {values[0]:.2f}, median {values[len(values) // 2]:.2f}, max {values[-1]:.2f}"


def print_quality(q: Quality, policy: StoryPolicy) -> None:
    """The quality figures."""
    s = q.scores
    roles = ", ".join(f"{role} {n}" for role, (_, n) in sorted(q.merged.items()))
    rows = [
        (
            "policy",
            f"similarity {policy.similarity}, {policy.shingle_words}-word shingles, "
            f"{policy.num_perm} permutations in {policy.bands} bands, min_words {policy.min_words}",
        ),
        ("items", f"{q.items} in {q.groups} true stories ({roles} standing alone)"),
        ("corpus near-copies", f"{q.dropped} left out of the sample"),
        ("copy ~ source", f"{_spread(q.similarity.get('copy', []))}  (word 3-gram Jaccard)"),
        ("follow-up ~ source", f"{_spread(q.similarity.get('follow-up', []))}"),
        ("assignments", ", ".join(f"{k} {v}" for k, v in sorted(q.how.items()))),
        ("true pairs", f"{s.true_pairs}"),
        ("predicted pairs", f"{s.predicted_pairs}  (correct {s.correct_pairs})"),
        ("pair precision", f"{s.precision:.4f}  {_target(s.precision, TARGET_PRECISION)}"),
        ("pair recall", f"{s.recall:.4f}  {_target(s.recall, TARGET_RECALL)}"),
        ("pair F1", f"{s.f1:.4f}"),
    ]
    for role, (merged, total) in sorted(q.merged.items()):
        rows.append((f"{role}s merged", f"{merged} of {total}  (put in a story with another item)"))
    rows += [
        ("URL variants stored", f"{q.new_variants} of {q.variants}  (AMP/mobile/utm; want 0)"),
        (
            "store+group time",
            f"{q.seconds:.2f} s  ({1000 * q.seconds / max(1, q.items):.2f} ms/item)",
        ),
    ]
    _rows(rows)
    print("copies in their source's story, by edit (a copy with several edits counts in each):")
    for edit in (*EDITS, "verbatim", "combined"):
        joined, total = q.by_edit.get(edit, (0, 0))
        if total:
            print(f"  {edit:<12} {joined:>5} / {total:<5} {joined / total:.3f}")


def _target(value: float, target: float) -> str:
    return f"[target >= {target}: {verdict(value, target)}]"


def print_speed(runs: list[SizeRun], child_peak: float | None, traced: float | None) -> None:
    """The speed figures."""
    print(
        "indexed items  fill (s)  items timed  assign ms/item  of which signing  rest  peak RSS (MiB)"
    )
    for r in runs:
        rss = f"{r.rss_mib:.0f}" if r.rss_mib is not None else "n/a"
        rest = r.per_item_ms - r.signing_ms
        print(
            f"{r.indexed:>13,}  {r.fill_seconds:>8.1f}  {r.items:>11}  {r.per_item_ms:>14.3f}  "
            f"{r.signing_ms:>16.3f}  {rest:>4.2f}  {rss:>14}"
        )
    if len(runs) > 1 and runs[0].per_item_ms:
        first, last = runs[0], runs[-1]
        ratio = last.per_item_ms / first.per_item_ms
        verdict = "PASS" if ratio <= TARGET_RATIO else "MISS"
        rest = (last.per_item_ms - last.signing_ms) / max(
            1e-9, first.per_item_ms - first.signing_ms
        )
        print(
            f"ratio {last.indexed:,} / {first.indexed:,}: {ratio:.2f}  "
            f"[target <= {TARGET_RATIO}: {verdict}]  (without signing: {rest:.2f})"
        )
    if child_peak is not None:
        print(f"peak memory of the bulk fill (child process)  {child_peak:.0f} MiB")
    if traced is not None:
        print(f"tracemalloc peak while assigning a batch at the largest size  {traced:.1f} MiB")


def run_stories(args: argparse.Namespace) -> int:
    """Score story grouping on the syndication set, then time insertion at each index size."""
    with tempfile.TemporaryDirectory(prefix="monitor-bench-stories-") as tmp:
        quality = run_quality(args, Path(tmp))
        print_quality(quality, policy_of(Settings().stories))
        if args.sizes:
            print()
            began = time.perf_counter()
            runs, child_peak, traced = run_speed(args, Path(tmp))
            print_speed(runs, child_peak, traced)
            size = sum(f.stat().st_size for f in Path(tmp).glob("speed.db*")) / 2**30
            print(f"speed part  {time.perf_counter() - began:.0f} s, database {size:.2f} GiB")
    return 0


def _sizes(text: str) -> list[int]:
    return sorted({positive_arg(part.strip()) for part in text.split(",") if part.strip()})


def add_command(commands: Any) -> None:
    """Register ``stories`` on the benchmark command line's subcommands."""
    parser = commands.add_parser(
        "stories", help="Story grouping: pair precision/recall and insertion time at index sizes."
    )
    parser.add_argument(
        "--articles", type=positive_arg, default=300, help="Source articles republished (300)."
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=[10_000, 100_000, 1_000_000],
        help="Indexed items to time insertion at (10000,100000,1000000); '' skips the timing.",
    )
    parser.add_argument(
        "--timed", type=positive_arg, default=1000, help="Items timed per size (1000)."
    )
    parser.add_argument(
        "--batch", type=positive_arg, default=20, help="Items per run/transaction (20)."
    )
    parser.add_argument("--seed", type=int, default=2025, help="Seed of the generated set (2025).")
    parser.add_argument("--data", default=str(DATA), help="Corpus file (VNTC test).")
    parser.set_defaults(func=run_stories)
