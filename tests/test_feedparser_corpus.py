"""Robustness over feedparser's own test corpus (2,106 feeds: well-formed, ill-formed, odd
encodings, entities): every file goes through ``parse_feed`` and the real ingest path without an
unhandled error, and everything stored reads back as valid text, on each database backend.

The corpus is read straight from the tarball; one database serves the whole run."""

from __future__ import annotations

import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from urllib.parse import urljoin

import pytest
from sqlalchemy import select

from crawlers.base import ItemRecord
from crawlers.rss import parse_feed
from monitor.bootstrap import App
from monitor.storage import db, repo
from monitor.storage.models import Item
from tests.conftest import FIXTURES, AppFactory

CORPUS = FIXTURES / "feedparser-corpus.tar.gz"
PARTS = ("encoding", "entities", "illformed", "wellformed")
# feedparser's own test server address: only a base for relative links, never contacted.
BASE = "http://127.0.0.1:8097/"
# Files state the HTTP headers they were served with in a leading comment:
#   Header:      Content-type: application/atom+xml; charset='us-ascii'
HEADER = re.compile(rb"^[ \t]*Header:[ \t]*([A-Za-z-]+):[ \t]*(.*?)[ \t]*\r?$", re.M)
BATCH = 100


@dataclass(frozen=True)
class CorpusFile:
    """One corpus feed with the URL and Content-Type it would have been fetched with."""

    name: str
    part: str
    content: bytes
    url: str
    content_type: str | None


def _as_fetched(name: str, content: bytes) -> CorpusFile:
    headers = {k.decode().lower(): v.decode("latin-1") for k, v in HEADER.findall(content)}
    url = BASE + name
    if "content-location" in headers:
        url = urljoin(url, headers["content-location"])
    return CorpusFile(name, name.split("/")[0], content, url, headers.get("content-type"))


@cache
def corpus() -> tuple[CorpusFile, ...]:
    """Every file of the corpus, in tarball order (read once per test session)."""
    files = []
    with tarfile.open(CORPUS) as tar:
        for member in tar:
            stream = tar.extractfile(member) if member.isfile() else None
            if stream is not None:
                files.append(_as_fetched(member.name, stream.read()))
    return tuple(files)


Parsed = tuple[CorpusFile, list[ItemRecord]]
Expected = dict[str, tuple[str, str, str | None]]


def _batches(parsed: list[Parsed]) -> Iterator[list[Parsed]]:
    for start in range(0, len(parsed), BATCH):
        yield parsed[start : start + BATCH]


def _ingest(app: App, parsed: list[Parsed]) -> None:
    with db.transaction(app.sessions) as session:
        for file, items in parsed:
            repo.ingest(session, f"corpus-{file.part}", items)


def _store(app: App, parsed: list[Parsed], failures: list[str]) -> Expected:
    """Ingest in batches, one transaction each; a failing batch is retried file by file to name
    the culprits. Returns what each stored URL key must read back as."""
    expected: Expected = {}
    owners: dict[str, tuple[str, bool]] = {}  # URL key -> (source that stored it, enriched)
    for batch in _batches(parsed):
        try:
            _ingest(app, batch)
            stored = batch
        except Exception:
            stored = []
            for one in batch:
                try:
                    _ingest(app, [one])
                    stored.append(one)
                except Exception as exc:
                    failures.append(f"{one[0].name}: ingest: {type(exc).__name__}: {exc}"[:500])
        for file, items in stored:
            _expect(expected, owners, f"corpus-{file.part}", items)
    return expected


def _expect(
    expected: Expected, owners: dict[str, tuple[str, bool]], source: str, items: list[ItemRecord]
) -> None:
    """What ingest keeps (repo._replaces): a fuller copy wins; else only the item's own source,
    until another source has enriched it."""
    last = {i.canonical_url: i for i in items}  # one ingest call keeps a URL's last version
    for key, item in last.items():
        version = (item.title, item.text, item.author)
        if key not in expected:
            expected[key], owners[key] = version, (source, False)
            continue
        owner, enriched = owners[key]
        if version == expected[key]:
            continue
        if len(item.text) > len(expected[key][1]):
            expected[key], owners[key] = version, (owner, enriched or owner != source)
        elif owner == source and not enriched:
            expected[key] = version


def _bad_text(value: object) -> str | None:
    """Why a stored value is not clean text (recursing into JSON), or None if it is."""
    if isinstance(value, dict):
        return next(filter(None, (_bad_text(v) for pair in value.items() for v in pair)), None)
    if isinstance(value, list):
        return next(filter(None, map(_bad_text, value)), None)
    if value is None or isinstance(value, bool | int | float):
        return None
    if not isinstance(value, str):
        return f"{type(value).__name__}, not str"
    if "\x00" in value:
        return "contains NUL"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate"
    return None


@pytest.mark.slow
def test_every_corpus_feed_parses_and_stores_as_clean_text(make_app: AppFactory) -> None:
    files = corpus()
    assert {f.part for f in files} == set(PARTS) and len(files) > 2000
    assert any(f.content_type for f in files) and any(f.url != BASE + f.name for f in files)
    app = make_app([{"id": f"corpus-{part}", "kind": "rss", "url": BASE + part} for part in PARTS])
    failures: list[str] = []

    parsed = []
    for file in files:
        try:
            result = parse_feed(file.content, file.url, file.content_type)
        except Exception as exc:
            failures.append(f"{file.name}: parse: {type(exc).__name__}: {exc}"[:500])
            continue
        parsed.append((file, result.items))
    expected = _store(app, parsed, failures)

    with app.sessions() as session:
        rows = session.scalars(select(Item)).all()
    for row in rows:
        values = [row.url, row.canonical_url, row.title, row.text, row.author, row.language]
        for value in [*values, row.kind, row.meta]:
            if problem := _bad_text(value):
                failures.append(f"item {row.canonical_url!r}: {problem}: {value!r}"[:500])
    assert failures == []
    assert len(expected) > 400  # the corpus really went through storage (about 500 URLs)
    assert {row.canonical_url: (row.title, row.text, row.author) for row in rows} == expected
