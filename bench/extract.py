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

from bench.ingest import positive_arg, verdict
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


Extractor = Callable[[Page], str]


def run_extractors(
    extractors: dict[str, Extractor], pages: list[Page], repeat: int
) -> dict[str, tuple[dict[str, Score], float]]:
    """Each extractor's page scores and pages per CPU second, best of ``repeat`` passes.

    Passes alternate between the extractors, and CPU time of this process is what is counted,
    so other work on a shared machine slows neither of them more than the other.
    """
    best = dict.fromkeys(extractors, float("inf"))
    texts: dict[str, dict[str, str]] = {}
    for extract in extractors.values():
        if pages:
            extract(pages[0])  # lazy imports and caches load outside the timing, for both
    for _ in range(repeat):
        for label, extract in extractors.items():
            start = time.process_time()
            texts[label] = {page.name: extract(page) for page in pages}
            best[label] = min(best[label], time.process_time() - start)
    return {
        label: (
            {page.name: score(page.truth, texts[label][page.name]) for page in pages},
            len(pages) / max(best[label], 1e-9),
        )
        for label in extractors
    }


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
    print(
        f"pages          {len(pages)} (gunzipped bytes to each extractor, decoding included; "
        f"pages per CPU second, best of {args.repeat} alternating passes)"
    )
    extractors: dict[str, Extractor] = {"ours": _ours}
    if (theirs := _trafilatura()) is not None:
        extractors["trafilatura"] = theirs
    results = run_extractors(extractors, pages, args.repeat)
    for label, (scores, speed) in results.items():
        _line(label, scores, speed)
    if theirs is None:
        print("trafilatura    skipped: not installed (pip install -e '.[bench]')")
    else:
        (ours, our_speed), (scores, speed) = results["ours"], results["trafilatura"]
        gain = mean_scores(list(ours.values())).f1 - mean_scores(list(scores.values())).f1
        print(f"F1 ours - trafilatura      {gain:+.4f}  {verdict(gain, 0)}")
        print(
            f"speed ours / trafilatura   {our_speed / speed:.2f}  {verdict(our_speed / speed, 3)}"
        )
    if args.worst:
        _print_worst(pages, results["ours"][0], args.worst)
    return 0


def _print_worst(pages: list[Page], scores: dict[str, Score], count: int) -> None:
    print("worst pages (ours):")
    urls = {page.name: page.url for page in pages}
    for name in sorted(scores, key=lambda n: scores[n].f1)[:count]:
        s = scores[name]
        print(f"  F1 {s.f1:.3f}  P {s.precision:.3f}  R {s.recall:.3f}  {urls[name]}")


def add_command(commands: Any) -> None:
    """Register ``extract`` on the benchmark command line's subcommands."""
    parser = commands.add_parser("extract", help="Article extraction quality and speed.")
    parser.add_argument(
        "--repeat", type=positive_arg, default=3, help="Timed passes; best kept (3)."
    )
    parser.add_argument("--worst", type=int, default=0, help="List the N worst pages (0).")
    parser.add_argument("--data", default=str(DATA), help="The article-extraction tarball.")
    parser.set_defaults(func=run_extract)
