"""Corpus and example files read for training, and their texts prepared with an on-disk cache.

A ``Source`` picks rows out of one corpus file (a part of it, a sample per label); the ``Loader``
reads the file, maps its labels onto ours and prepares every text through ``nlp.text.prepare``
exactly as in use. ``PreparedCache`` keeps the prepared words on disk by file hash and preparation
code, so a second run segments nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import inspect
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from nlp import text as text_module
from nlp.labels import CORPORA, POLARITY, TOPIC_CODES, map_label

logger = logging.getLogger(__name__)

EXAMPLES_DIR = Path(__file__).resolve().parent / "data" / "examples"
DOMAIN = "written for this project"
Progress = Callable[[str, int, int], None]  # (what, done, total)


class TrainingError(Exception):
    """Training or evaluation cannot go on: a missing or malformed data file, an empty split."""


@dataclass(frozen=True, slots=True)
class Example:
    """One prepared, labelled text and where it came from."""

    words: str
    label: str
    provenance: str  # corpus file stem, or the examples file name
    key: str  # hash of the raw text: duplicates across splits are found by it


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Objects of a JSON Lines file, gzip-compressed when its name ends in .gz."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise TrainingError(f"{path}:{number}: not JSON ({exc.msg})") from exc


def sha256_file(path: Path) -> str:
    """The file's SHA-256, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def text_key(title: str, body: str) -> str:
    """A short stable hash of a raw example, for de-duplication and deterministic sampling."""
    return hashlib.blake2b(f"{title}\x00{body}".encode(), digest_size=8).hexdigest()


def held_out(key: str, fraction: int = 5) -> bool:
    """True for the deterministic 1-in-``fraction`` share of keys kept for testing."""
    return int(key, 16) % fraction == 0


def prepare_fingerprint() -> str:
    """Hash of the preparation code: cached words are stale as soon as ``nlp.text`` changes."""
    source = inspect.getsource(text_module)
    return hashlib.sha256(source.encode()).hexdigest()[:12]


# --- preparation with an on-disk cache --------------------------------------------------------


class PreparedCache:
    """Segmented words of corpus rows, kept per (file hash, preparation code) under ``root``."""

    def __init__(self, root: Path | None, workers: int = 1, progress: Progress | None = None):
        self.root, self.workers, self.progress = root, max(1, workers), progress
        self.fingerprint = prepare_fingerprint()

    def words(self, path: Path, file_hash: str, rows: dict[int, tuple[str, str]]) -> dict[int, str]:
        """Prepared words for the given rows (index -> (title, text)) of one file."""
        cache = self._path(path, file_hash)
        done = self._load(cache) if cache else {}
        missing = sorted(i for i in rows if i not in done)
        if missing:
            logger.info("preparing %d texts of %s (%d cached)", len(missing), path.name, len(done))
            fresh = dict(
                zip(missing, self._prepare([rows[i] for i in missing], path.name), strict=True)
            )
            done.update(fresh)
            if cache:
                self._append(cache, fresh)
        return {i: done[i] for i in rows}

    def _path(self, path: Path, file_hash: str) -> Path | None:
        if self.root is None:
            return None
        name = path.name.split(".")[0]
        return self.root / f"{name}-{file_hash[:16]}-{self.fingerprint}.jsonl.gz"

    @staticmethod
    def _load(cache: Path) -> dict[int, str]:
        if not cache.exists():
            return {}
        try:
            return {int(row["i"]): str(row["w"]) for row in read_jsonl(cache)}
        except (TrainingError, EOFError, OSError, KeyError, ValueError):
            # e.g. a run killed while appending: start the file afresh rather than append to it
            logger.warning("cache %s unreadable; preparing again", cache)
            cache.unlink(missing_ok=True)
            return {}

    @staticmethod
    def _append(cache: Path, fresh: dict[int, str]) -> None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        # gzip members concatenate: appending keeps what earlier runs prepared
        with gzip.open(cache, "at", encoding="utf-8") as out:
            for i, words in fresh.items():
                out.write(json.dumps({"i": i, "w": words}, ensure_ascii=False) + "\n")

    def _prepare(self, pairs: list[tuple[str, str]], what: str) -> list[str]:
        chunk = 64
        parts = [pairs[i : i + chunk] for i in range(0, len(pairs), chunk)]
        if self.workers == 1 or len(parts) < 4:
            return self._collect(map(_prepare_chunk, parts), len(pairs), what)
        # spawn, not fork: the parent may hold threads, and workers import underthesea once
        with ProcessPoolExecutor(self.workers, mp_context=get_context("spawn")) as pool:
            return self._collect(pool.map(_prepare_chunk, parts), len(pairs), what)

    def _collect(self, batches: Iterable[list[str]], total: int, what: str) -> list[str]:
        out: list[str] = []
        for batch in batches:
            out.extend(batch)
            if self.progress:
                self.progress(f"segmenting {what}", len(out), total)
        return out


def _prepare_chunk(pairs: list[tuple[str, str]]) -> list[str]:
    return [text_module.prepare(title, body).words for title, body in pairs]


# --- loading -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Source:
    """Rows taken from one corpus file: which part, how many per label, how often repeated."""

    stem: str
    per_label: int | None = None  # the first N of each label in hash order: a stable sample
    part: str = "all"  # "all"; "train" / "test": the 4/5 and the 1/5 split by text hash
    repeat: int = 1  # a crude weight: the linear SVM has no per-example weights


@dataclass(frozen=True, slots=True)
class FileInfo:
    """A data file read, for the manifest."""

    file: str
    sha256: str
    origin: str


class Loader:
    """Reads corpus and example files, maps their labels and prepares their texts (cached)."""

    def __init__(self, data_dir: Path, examples_dir: Path, cache: PreparedCache) -> None:
        self.data_dir, self.examples_dir, self.cache = data_dir, examples_dir, cache
        self.files: dict[str, FileInfo] = {}

    def corpus(self, task: str, source: Source) -> list[Example]:
        """The mapped, sampled, prepared rows of one corpus file."""
        corpus = CORPORA[source.stem]
        if corpus.task != task:
            raise TrainingError(f"{source.stem} is a {corpus.task} corpus, not {task}")
        path = self.data_dir / f"{source.stem}.jsonl.gz"
        if not path.exists():
            raise TrainingError(f"{path} missing (see shared/data/README.md)")
        return self._examples(path, corpus.labels, source, source.stem, corpus.origin)

    def rows(self, stem: str, rows: Mapping[int, tuple[str, str]], origin: str) -> dict[int, str]:
        """Prepared words of some rows (row -> (title, text)) of one corpus file, cached."""
        path = self.data_dir / f"{stem}.jsonl.gz"
        file_hash = sha256_file(path)
        self.files.setdefault(path.name, FileInfo(path.name, file_hash, origin))
        return self.cache.words(path, file_hash, dict(rows))

    def domain(self, task: str, name: str, part: str) -> list[Example]:
        """Examples written for this project (part "train" or "test"); none if the file is absent."""
        path = self.examples_dir / name
        if not path.exists():
            logger.warning("no domain examples at %s", path)
            return []
        table = TOPIC_CODES if task == "topic" else POLARITY
        return self._examples(path, table, Source(name, part=part), name, DOMAIN, strict=True)

    def _examples(
        self,
        path: Path,
        table: Mapping[str, str | None],
        source: Source,
        provenance: str,
        origin: str,
        *,
        strict: bool = False,  # our own files: a label that is not one of our codes is a mistake
    ) -> list[Example]:
        file_hash = sha256_file(path)
        by_label: dict[str, list[tuple[str, int, str, str]]] = defaultdict(list)
        for i, row in enumerate(read_jsonl(path)):
            label = map_label(table, str(row.get("label", "")))
            if label is None and strict:
                raise TrainingError(f"{path}:{i + 1}: label {row.get('label')!r} is not a code")
            title, body = str(row.get("title") or ""), str(row.get("text") or "")
            if label is None or not (title.strip() or body.strip()):
                continue
            key = text_key(title, body)
            if source.part != "all" and held_out(key) != (source.part == "test"):
                continue
            by_label[label].append((key, i, title, body))
        chosen = {
            i: (key, label, title, body)
            for label, rows in by_label.items()
            for key, i, title, body in sorted(rows)[: source.per_label]
        }
        words = self.cache.words(path, file_hash, {i: (t, b) for i, (_, _, t, b) in chosen.items()})
        self.files[path.name] = FileInfo(path.name, file_hash, origin)
        return [
            Example(words[i], chosen[i][1], provenance, chosen[i][0])
            for i in sorted(chosen)
            if words[i].strip()
        ]
