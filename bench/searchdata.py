"""Synthetic Vietnamese items for the search benchmark, and bulk loads into SQLite or PostgreSQL.

Titles and sentences are real: headlines and summaries of the baomoi and VnExpress topic corpora
(../shared/data). About a third of the items name the province or one of its districts and
communes (some typed without diacritics, as on social media); a few carry a story about the Tân
Phong bridge and many more its words apart, so phrase search has something to tell apart.
Items come in collection order (ids rise with the fetch time), a few of them backfilled old
articles; each has an analysis (relevant, topic, sentiment, severity, places) so filters have data.
Everything is streamed in chunks: memory does not grow with the number of items.
"""

from __future__ import annotations

import gzip
import itertools
import json
import random
import re
import sqlite3
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.storage.searchtext import index_text
from nlp.labels import SENTIMENTS, TOPICS

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CORPORA = ("topic_baomoi29.jsonl.gz", "topic_vnexpress_train.jsonl.gz")
CHUNK = 5000
SOURCES = 60
START = datetime(2023, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=3 * 365)
_SENTENCE = re.compile(r"(?<=[.!?…])\s+(?=\S)")
_STAMP = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy keeps a timestamp in SQLite (naive UTC)

# (how a text names it, official name, level); the province itself is added to every relevant one.
PLACES: tuple[tuple[str, str, str], ...] = (
    ("thành phố Nam Định", "Thành phố Nam Định", "district"),
    ("huyện Giao Thủy", "Huyện Giao Thủy", "district"),
    ("huyện Hải Hậu", "Huyện Hải Hậu", "district"),
    ("huyện Xuân Trường", "Huyện Xuân Trường", "district"),
    ("huyện Nghĩa Hưng", "Huyện Nghĩa Hưng", "district"),
    ("huyện Trực Ninh", "Huyện Trực Ninh", "district"),
    ("huyện Nam Trực", "Huyện Nam Trực", "district"),
    ("huyện Vụ Bản", "Huyện Vụ Bản", "district"),
    ("huyện Ý Yên", "Huyện Ý Yên", "district"),
    ("huyện Mỹ Lộc", "Huyện Mỹ Lộc", "district"),
    ("xã Hải Đông, huyện Hải Hậu", "Xã Hải Đông", "ward"),
    ("thị trấn Thịnh Long, huyện Hải Hậu", "Thị trấn Thịnh Long", "ward"),
    ("thị trấn Quất Lâm, huyện Giao Thủy", "Thị trấn Quất Lâm", "ward"),
    ("xã Giao Thiện, huyện Giao Thủy", "Xã Giao Thiện", "ward"),
    ("xã Xuân Thủy, huyện Xuân Trường", "Xã Xuân Thủy", "ward"),
    ("xã Nghĩa Lâm, huyện Nghĩa Hưng", "Xã Nghĩa Lâm", "ward"),
)
_PLACE_SENTENCES = (
    "Sự việc xảy ra tại {place}, tỉnh Nam Định.",
    "Theo Ủy ban nhân dân {place}, lực lượng chức năng đã có mặt kịp thời.",
    "Người dân ở {place} phản ánh tình trạng này đã kéo dài nhiều ngày.",
    "Lãnh đạo {place} cho biết địa phương sẽ sớm có phương án xử lý.",
    "Thông tin được Sở Thông tin và Truyền thông tỉnh Nam Định xác nhận chiều nay.",
)
_BRIDGE = (
    "Cầu Tân Phong ở huyện Giao Thủy xuống cấp nghiêm trọng, người dân lo lắng mỗi khi qua lại.",
    "Cơ quan chức năng đã cắm biển cấm xe tải trọng lớn đi qua cầu Tân Phong.",
)
# The bridge's words apart: these match "cầu tân phong" as words but not as the phrase.
_BRIDGE_APART = (
    "Phong trào thi đua ở xã Tân Thành được người dân hưởng ứng, yêu cầu đặt ra là giữ vững.",
    "Ông Tân cho biết phong cách làm việc mới đáp ứng yêu cầu của doanh nghiệp.",
)
_SEVERITIES = (("none", 0.82), ("watch", 0.11), ("alert", 0.055), ("critical", 0.015))
_KINDS = ("news",) * 40 + ("social",) * 10 + ("forum",) * 8 + ("manual",) * 2
# Zipf-like: the biggest outlet carries about a fifth of the items, the smallest a few hundredths.
_SOURCE_WEIGHTS = list(itertools.accumulate(1 / (n + 1) for n in range(SOURCES)))


def unaccented(text: str) -> str:
    """Text as typed without diacritics (case kept): "Hải Hậu" -> "Hai Hau"."""
    stripped = "".join(
        c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)
    )
    return stripped.replace("đ", "d").replace("Đ", "D")


@dataclass(frozen=True, slots=True)
class Corpus:
    """Real headlines and sentences to build items from."""

    titles: list[str]
    sentences: list[str]


def load_corpus(data: Path = DATA, limit: int = 120_000, seed: int = 2025) -> Corpus:
    """Headlines and summary sentences of the topic corpora (at most ``limit`` of each)."""
    rng = random.Random(seed)
    titles: list[str] = []
    sentences: list[str] = []
    for name in CORPORA:
        path = data / name
        if not path.is_file():
            continue
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                title = (row.get("title") or "").strip()
                if title:
                    titles.append(title)
                sentences.extend(s for s in _SENTENCE.split(row.get("text") or "") if len(s) > 20)
    if not titles or not sentences:
        raise FileNotFoundError(f"no corpus of {', '.join(CORPORA)} in {data}")
    rng.shuffle(titles)
    rng.shuffle(sentences)
    return Corpus(titles[:limit], sentences[:limit])


@dataclass(frozen=True, slots=True)
class Row:
    """One generated item with its analysis, as the two tables take it."""

    id: int
    source: int
    title: str
    text: str
    published_at: datetime | None
    fetched_at: datetime
    relevant: bool
    places: list[dict[str, Any]]
    topic: str
    sentiment: str
    severity: str

    @property
    def source_id(self) -> str:
        """The source's id (bao-00 ... bao-59)."""
        return f"bao-{self.source:02d}"

    @property
    def kind(self) -> str:
        """The source's kind: news, social, forum or manual."""
        return _KINDS[self.source]


def _place_dict(name: str, level: str) -> dict[str, Any]:
    return {"name": name, "level": level, "start": 0, "end": 0, "old_unit": None, "new_unit": None}


def _places(
    rng: random.Random, sentences: list[str], title: str
) -> tuple[str, list[dict[str, Any]]]:
    """Name the province or a place in about a third of the items (an eighth of those unaccented)."""
    if rng.random() >= 0.33:
        return title, []
    said, name, level = rng.choice(PLACES)
    sentence = rng.choice(_PLACE_SENTENCES).format(place=said)
    if rng.random() < 0.125:
        sentence = unaccented(sentence)
    sentences.insert(rng.randrange(len(sentences) + 1), sentence)
    if rng.random() < 0.25:
        title = f"{title} ở {said.split(',')[0]}"
    found = [_place_dict(name, level), _place_dict("Nam Định", "province")]
    return title, found


def _sentence_count(rng: random.Random) -> int:
    """Feed summaries mostly, some full articles."""
    roll = rng.random()
    if roll < 0.6:
        return rng.randint(1, 3)
    if roll < 0.9:
        return rng.randint(4, 10)
    return rng.randint(15, 30)


def _weighted(rng: random.Random, pairs: Sequence[tuple[str, float]]) -> str:
    roll, total = rng.random(), 0.0
    for value, weight in pairs:
        total += weight
        if roll < total:
            return value
    return pairs[-1][0]


def generate(corpus: Corpus, count: int, seed: int = 2025) -> Iterator[Row]:
    """``count`` items in collection order, the same for the same seed."""
    rng = random.Random(seed)
    step = SPAN / max(1, count)
    for n in range(count):
        fetched = START + step * n + timedelta(seconds=rng.randint(0, 59))
        published: datetime | None = fetched - timedelta(minutes=rng.randint(5, 360))
        roll = rng.random()
        if roll < 0.03:  # an old article collected late (a sitemap's first pass)
            published = fetched - timedelta(days=rng.randint(30, 700))
        elif roll < 0.08:  # a post that says no date
            published = None
        sentences = [rng.choice(corpus.sentences) for _ in range(_sentence_count(rng))]
        title = rng.choice(corpus.titles)
        if rng.random() < 0.002:
            sentences[0:0] = _BRIDGE
        elif rng.random() < 0.01:
            sentences.append(rng.choice(_BRIDGE_APART))
        title, places = _places(rng, sentences, title)
        relevant = bool(places)
        severity = _weighted(rng, _SEVERITIES) if relevant else "none"
        yield Row(
            id=n + 1,
            source=rng.choices(range(SOURCES), cum_weights=_SOURCE_WEIGHTS)[0],
            title=title,
            text=" ".join(sentences),
            published_at=published,
            fetched_at=fetched,
            relevant=relevant,
            places=places,
            topic=rng.choice(TOPICS),
            sentiment=rng.choice(SENTIMENTS),
            severity=severity,
        )


def chunks(rows: Iterator[Row], size: int = CHUNK) -> Iterator[list[Row]]:
    """The rows in lists of ``size``."""
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class WordStats:
    """Document frequencies of index words over the items seen (a sample, to pick queries)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.docs = 0
        self.freq: Counter[str] = Counter()
        self.bigrams: Counter[str] = Counter()

    def add(self, rows: Sequence[Row]) -> None:
        """Count the words of these rows while fewer than ``limit`` items were seen."""
        for row in rows:
            if self.docs >= self.limit:
                return
            folded = index_text(row.title, row.text).split()
            self.docs += 1
            self.freq.update(set(folded))
            self.bigrams.update({f"{a} {b}" for a, b in zip(folded, folded[1:], strict=False)})

    def share(self, word: str) -> float:
        """The share of sampled items with this word."""
        return self.freq[word] / max(1, self.docs)


# --- bulk loads -----------------------------------------------------------------------------------


def source_rows() -> list[tuple[str, str, str, str]]:
    """(id, kind, url, name) of the benchmark's sources."""
    adapter = {"news": "rss", "social": "facebook", "forum": "forum", "manual": "manual"}
    return [
        (f"bao-{n:02d}", adapter[_KINDS[n]], f"https://bao-{n:02d}.example.vn/rss", f"Báo {n}")
        for n in range(SOURCES)
    ]


def _item_tuple(row: Row, stamp: Any) -> tuple[Any, ...]:
    url = f"https://{row.source_id}.example.vn/tin/{row.id}.html"
    return (
        row.id,
        row.source_id,
        row.kind,
        url,
        url,
        row.title,
        row.text,
        None if row.published_at is None else stamp(row.published_at),
        stamp(row.fetched_at),
        "vi",
        f"{row.id:064x}",
        "{}",
        index_text(row.title, row.text),
    )


def _analysis_tuple(row: Row, stamp: Any) -> tuple[Any, ...]:
    return (
        row.id,
        row.id,
        "bench",
        row.relevant,
        1.0 if row.relevant else 0.0,
        json.dumps(row.places, ensure_ascii=False),
        row.topic,
        "{}",
        row.sentiment,
        0.5,
        row.severity,
        "[]",
        stamp(row.fetched_at),
    )


ITEM_COLUMNS = (
    "id, source_id, kind, url, canonical_url, title, text, published_at, fetched_at, language, "
    "content_hash, meta, search_text"
)
ANALYSIS_COLUMNS = (
    "id, item_id, model_version, relevant, relevance_score, places, topic, topic_scores, "
    "sentiment, sentiment_score, severity, reasons, analysed_at"
)


def _sqlite_stamp(when: datetime) -> str:
    return when.astimezone(UTC).replace(tzinfo=None).strftime(_STAMP)


def fill_sqlite(path: str, rows: Iterator[list[Row]]) -> int:
    """Insert the chunks of rows into a migrated SQLite file; its triggers index each item.

    Each chunk's analyses go in before its items (foreign keys off for the load), so the insert
    trigger indexes an item once with its facets, as the migration's fill does.
    """
    con = sqlite3.connect(path, isolation_level=None)
    done = 0
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("PRAGMA foreign_keys=OFF")
        con.execute("BEGIN")
        con.executemany(
            "INSERT OR IGNORE INTO sources (id, kind, url, name, enabled, created_at, cursor, "
            "health, consecutive_failures, failure_score) "
            "VALUES (?, ?, ?, ?, 1, '2023-01-01 00:00:00.000000', '{}', 'active', 0, 0)",
            source_rows(),
        )
        con.execute("COMMIT")
        for chunk in rows:
            con.execute("BEGIN")
            con.executemany(
                f"INSERT INTO analyses ({ANALYSIS_COLUMNS}) VALUES ({', '.join('?' * 13)})",
                [_analysis_tuple(r, _sqlite_stamp) for r in chunk],
            )
            con.executemany(
                f"INSERT INTO items ({ITEM_COLUMNS}) VALUES ({', '.join('?' * 13)})",
                [_item_tuple(r, _sqlite_stamp) for r in chunk],
            )
            con.execute("COMMIT")
            done += len(chunk)
    finally:
        con.close()
    return done


def analyze_sqlite(path: str) -> None:
    """Statistics for the planner, and the FTS index merged into one segment."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("ANALYZE")
        con.execute("INSERT INTO items_search(items_search) VALUES ('optimize')")
    finally:
        con.close()


_PG_FK = "fk_analyses_item_id_items"


def fill_postgresql(conninfo: str, schema: str, rows: Iterator[list[Row]]) -> int:
    """COPY the chunks of rows into a migrated PostgreSQL schema, without its GIN index.

    As a bulk load does: the search index's indexes and the analyses' foreign key are dropped
    first (see ``finish_postgresql``); each chunk's analyses go in before its items, so the
    items' trigger writes each items_search row once, with its facets.
    """
    import psycopg

    done = 0
    with psycopg.connect(conninfo, options=f"-csearch_path={schema}") as con:
        with con.cursor() as cur:
            cur.execute("DROP INDEX ix_items_search_vector")
            cur.execute("DROP INDEX ix_items_search_dated_at")
            cur.execute(f"ALTER TABLE analyses DROP CONSTRAINT {_PG_FK}")
            cur.executemany(
                "INSERT INTO sources (id, kind, url, name, enabled, created_at, cursor, health, "
                "consecutive_failures, failure_score) VALUES "
                "(%s, %s, %s, %s, true, now(), '{}', 'active', 0, 0) ON CONFLICT DO NOTHING",
                source_rows(),
            )
        con.commit()
        for chunk in rows:
            with con.cursor() as cur:
                with cur.copy(f"COPY analyses ({ANALYSIS_COLUMNS}) FROM STDIN") as copy:
                    for r in chunk:
                        copy.write_row(_analysis_tuple(r, _same))
                with cur.copy(f"COPY items ({ITEM_COLUMNS}) FROM STDIN") as copy:
                    for r in chunk:
                        copy.write_row(_item_tuple(r, _same))
            con.commit()
            done += len(chunk)
    return done


def finish_postgresql(conninfo: str, schema: str) -> None:
    """After the load: the foreign key and indexes back, sequences moved on, statistics."""
    import psycopg

    with psycopg.connect(conninfo, options=f"-csearch_path={schema}", autocommit=True) as con:
        con.execute(
            f"ALTER TABLE analyses ADD CONSTRAINT {_PG_FK} FOREIGN KEY (item_id) "
            "REFERENCES items (id) ON DELETE CASCADE"
        )
        con.execute("CREATE INDEX ix_items_search_vector ON items_search USING gin (vector)")
        con.execute("CREATE INDEX ix_items_search_dated_at ON items_search (dated_at, item_id)")
        for table in ("items", "analyses"):
            con.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        for table in ("items", "analyses", "items_search"):
            con.execute(f"VACUUM ANALYZE {table}")


def _same(when: datetime) -> datetime:
    return when
