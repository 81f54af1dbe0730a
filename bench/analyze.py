"""Analysis benchmark: ``python -m bench analyze [--items 500] [--workers 2]``.

On VNTC test articles (../shared/data), times the whole analysis (relevance, topic, sentiment,
severity) in one process and in worker processes, and, on the same texts in the same run,
underthesea's ``word_tokenize`` alone: both on the full articles and on the head of each article
that the analysis reads (``nlp.text.MAX_CHARS``), which is the like-for-like baseline.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path
from typing import Any

from bench.ingest import peak_rss_mib, positive_arg, verdict
from monitor.analyze import analyse_lines
from monitor.bootstrap import build_analyser
from monitor.config import Settings
from nlp.text import MAX_CHARS

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "topic_vntc10_test.jsonl.gz"


def load_articles(path: Path, count: int) -> list[dict[str, str]]:
    """The first ``count`` articles of a corpus file (title and text)."""
    articles = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            articles.append({"title": row.get("title") or "", "text": row.get("text") or ""})
            if len(articles) == count:
                break
    return articles


def _rate(label: str, seconds: float, items: int, chars: int) -> float:
    per_second = items / seconds
    print(
        f"{label:<40} {per_second:8,.1f} items/s {chars / seconds:12,.0f} chars/s  ({seconds:.2f} s)"
    )
    return per_second


def _time_tokenizer(texts: list[str]) -> float:
    from underthesea import word_tokenize

    start = time.perf_counter()
    for text in texts:
        word_tokenize(text)
    return time.perf_counter() - start


def _time_analysis(analyser: Any, lines: list[str], workers: int) -> float:
    start = time.perf_counter()
    out = list(analyse_lines(analyser, lines, workers))
    elapsed = time.perf_counter() - start
    errors = [line for line in out if '"error"' in line]
    if errors:
        raise SystemExit(f"{len(errors)} analysis errors, first: {errors[0]}")
    return elapsed


def run_analyze(args: argparse.Namespace) -> int:
    """Benchmark the analysis against the tokenizer alone; print the figures."""
    articles = load_articles(Path(args.data), args.items)
    full = [f"{a['title']}\n{a['text']}" for a in articles]
    heads = [text[:MAX_CHARS] for text in full]
    chars_full, chars_head = sum(map(len, full)), sum(map(len, heads))
    lines = [json.dumps({"id": n, **a}, ensure_ascii=False) for n, a in enumerate(articles)]
    start = time.perf_counter()
    analyser = build_analyser(Settings(), classify_all=True)
    analyser.analyse("Nam Định", "khởi động")  # loads models and underthesea's tokenizer
    load = time.perf_counter() - start
    print(
        f"articles                                 {len(articles)} (VNTC test; {chars_full:,} chars, {chars_head:,} in the heads analysed)"
    )
    print(f"analyser                                 {analyser.version}")
    print(f"model load                               {load:.2f} s")
    tok_full = _rate(
        "word_tokenize alone, full articles", _time_tokenizer(full), len(full), chars_full
    )
    tok_head = _rate(
        "word_tokenize alone, same heads", _time_tokenizer(heads), len(heads), chars_head
    )
    one = _rate("analysis, 1 process", _time_analysis(analyser, lines, 1), len(lines), chars_head)
    many = _rate(
        f"analysis, {args.workers} processes",
        _time_analysis(analyser, lines, args.workers),
        len(lines),
        chars_head,
    )
    print(
        f"ratio 1 process / tokenizer (same heads) {one / tok_head:.2f}  {verdict(one / tok_head, 0.8)}"
    )
    print(f"ratio 1 process / tokenizer (full)       {one / tok_full:.2f}")
    print(
        f"ratio {args.workers} processes / tokenizer (same heads) {many / tok_head:.2f}  {verdict(many / tok_head, 1.6)}"
    )
    rss = peak_rss_mib()
    print(
        f"peak memory (ru_maxrss, main process)    {rss:.1f} MiB"
        if rss
        else "peak memory: not reported here"
    )
    return 0


def add_command(commands: Any) -> None:
    """Register ``analyze`` on the benchmark command line's subcommands."""
    parser = commands.add_parser("analyze", help="Analysis speed against word_tokenize alone.")
    parser.add_argument("--items", type=positive_arg, default=500, help="VNTC test articles (500).")
    parser.add_argument("--workers", type=positive_arg, default=2, help="Worker processes (2).")
    parser.add_argument("--data", default=str(DATA), help="Corpus file (VNTC test).")
    parser.set_defaults(func=run_analyze)
