"""Extraction benchmark: ``python -m bench extract [--repeat 1] [--worst 0]``.

On the 79 pages of ../shared/fixtures/article-extraction.tar.gz, token-level precision, recall
and F1 (bag of whitespace tokens, the benchmark's own method; means over pages) of our
extractor and, in the same run, of trafilatura, with pages/s. Both get the same gunzipped
bytes of each page, so both pay for decoding them; the tarball is read once, before timing.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import tarfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.ingest import _positive, _verdict
from crawlers.extract import extract_article

DATA = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "article-extraction.tar.gz"


@dataclass(frozen=True, slots=True)
class Page:
    """One benchmark page: its name, URL, HTML bytes and the true article body."""

    name: str
    url: str
    html: bytes
    truth: str


@dataclass(frozen=True, slots=True)
class Score:
    """Token-level precision, recall and F1 of one extracted text."""

    precision: float
    recall: float
    f1: float


def score(truth: str, predicted: str) -> Score:
    """Precision/recall/F1 of the predicted text's whitespace tokens against the truth's (bags)."""
    true_tokens, predicted_tokens = Counter(truth.split()), Counter(predicted.split())
    shared = sum((true_tokens & predicted_tokens).values())
    if not true_tokens and not predicted_tokens:
        return Score(1.0, 1.0, 1.0)
    if not shared:
        return Score(0.0, 0.0, 0.0)
    precision = shared / sum(predicted_tokens.values())
    recall = shared / sum(true_tokens.values())
    return Score(precision, recall, 2 * precision * recall / (precision + recall))


def mean_scores(scores: list[Score]) -> Score:
    """The mean of each figure over pages (as the benchmark reports them)."""
    count = len(scores) or 1
    return Score(
        sum(s.precision for s in scores) / count,
        sum(s.recall for s in scores) / count,
        sum(s.f1 for s in scores) / count,
    )


def load_pages(path: Path) -> list[Page]:
    """The benchmark's pages from its tarball (html/NAME.html.gz and ground-truth.json)."""
    with tarfile.open(path) as archive:
        members = {Path(m.name).name: m for m in archive.getmembers() if m.isfile()}
        truth = json.load(_read(archive, members["ground-truth.json"]))
        return [
            Page(
                name,
                entry.get("url") or "",
                gzip.decompress(_read(archive, members[f"{name}.html.gz"]).read()),
                entry.get("articleBody") or "",
            )
            for name, entry in sorted(truth.items())
        ]


def _read(archive: tarfile.TarFile, member: tarfile.TarInfo) -> io.BufferedReader:
    handle = archive.extractfile(member)
    if handle is None:
        raise SystemExit(f"{member.name}: not a file in the archive")
    return handle  # type: ignore[return-value]


def run_extractor(
    extract: Callable[[Page], str], pages: list[Page], repeat: int
) -> tuple[dict[str, Score], float]:
    """Each page's score and the pages per second (best of ``repeat`` timed passes)."""
    best = float("inf")
    texts: dict[str, str] = {}
    if pages:
        extract(pages[0])  # lazy imports and caches load outside the timing, for both
    for _ in range(repeat):
        start = time.perf_counter()
        texts = {page.name: extract(page) for page in pages}
        best = min(best, time.perf_counter() - start)
    scores = {page.name: score(page.truth, texts[page.name]) for page in pages}
    return scores, len(pages) / best


def _ours(page: Page) -> str:
    return extract_article(page.html, page.url).text


def _trafilatura() -> Callable[[Page], str] | None:
    try:
        import trafilatura
    except ImportError:
        return None

    def extract(page: Page) -> str:
        # Comments are not article text in the ground truth; tables are (trafilatura's default).
        return trafilatura.extract(page.html, url=page.url, include_comments=False) or ""

    return extract


def _line(label: str, scores: Mapping[str, Score], per_second: float) -> None:
    mean = mean_scores(list(scores.values()))
    print(
        f"{label:<14} F1 {mean.f1:.4f}  precision {mean.precision:.4f}  recall {mean.recall:.4f}"
        f"  {per_second:7.1f} pages/s"
    )


def run_extract(args: argparse.Namespace) -> int:
    """Score and time our extractor and trafilatura on the same pages; print the figures."""
    pages = load_pages(Path(args.data))
    print(f"pages          {len(pages)} (gunzipped bytes to each extractor; decoding included)")
    ours, our_speed = run_extractor(_ours, pages, args.repeat)
    _line("ours", ours, our_speed)
    theirs = _trafilatura()
    if theirs is None:
        print("trafilatura    skipped: not installed (pip install -e '.[bench]')")
    else:
        scores, speed = run_extractor(theirs, pages, args.repeat)
        _line("trafilatura", scores, speed)
        f1_ours, f1_theirs = (
            mean_scores(list(ours.values())).f1,
            mean_scores(list(scores.values())).f1,
        )
        print(
            f"F1 ours - trafilatura      {f1_ours - f1_theirs:+.4f}  {_verdict(f1_ours - f1_theirs, 0)}"
        )
        print(
            f"speed ours / trafilatura   {our_speed / speed:.2f}  {_verdict(our_speed / speed, 3)}"
        )
    if args.worst:
        print("worst pages (ours):")
        by_url = {page.name: page.url for page in pages}
        for name in sorted(ours, key=lambda n: ours[n].f1)[: args.worst]:
            s = ours[name]
            print(f"  F1 {s.f1:.3f}  P {s.precision:.3f}  R {s.recall:.3f}  {by_url[name]}")
    return 0


def add_command(commands: Any) -> None:
    """Register ``extract`` on the benchmark command line's subcommands."""
    parser = commands.add_parser("extract", help="Article extraction quality and speed.")
    parser.add_argument("--repeat", type=_positive, default=1, help="Timed passes; best kept (1).")
    parser.add_argument("--worst", type=int, default=0, help="List the N worst pages (0).")
    parser.add_argument("--data", default=str(DATA), help="The article-extraction tarball.")
    parser.set_defaults(func=run_extract)
