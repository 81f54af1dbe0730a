"""``monitor analyze``: JSON Lines in, one analysis (or error) line out per input, same order.

Input lines: ``{"id", "title"?, "text", "url"?, "kind"?}``. Output: ``{"id", "relevant",
"relevance", "places", "topic", "topic_scores", "sentiment", "sentiment_score", "severity",
"reasons"}``, or ``{"id", "line", "error"}`` for a line that cannot be analysed. The crawl
pipeline calls the same analyser with the same arguments.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from typing import Any

from nlp.base import Analyser, Analysis

ITEM_KINDS = ("news", "social", "forum", "manual")
_worker_analyser: Analyser | None = None


class BadRequest(ValueError):
    """An input line that is not a valid analysis request."""


def parse_request(line: str) -> dict[str, Any]:
    """Check one input line; BadRequest says what is wrong (the id is kept when readable)."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(data, dict):
        raise BadRequest("a line must be a JSON object")
    problems = []
    if (
        "id" not in data
        or not isinstance(data["id"], str | int | float)
        or isinstance(data["id"], bool)
    ):
        problems.append('"id" (a string or a number) is required')
    if not isinstance(data.get("text"), str):
        problems.append('"text" (a string) is required')
    for key in ("title", "url"):
        if data.get(key) is not None and not isinstance(data[key], str):
            problems.append(f'"{key}" must be a string')
    if data.get("kind", "news") not in ITEM_KINDS:
        problems.append(f'"kind" must be one of {", ".join(ITEM_KINDS)}')
    if problems:
        error = BadRequest("; ".join(problems))
        error.args = (*error.args, data.get("id"))
        raise error
    return data


def to_json(item_id: Any, analysis: Analysis) -> dict[str, Any]:
    """The output record of one analysed item."""
    return {
        "id": item_id,
        "relevant": analysis.relevant,
        "relevance": analysis.relevance_score,
        "places": [asdict(p) for p in analysis.places],
        "topic": analysis.topic,
        "topic_scores": analysis.topic_scores,
        "sentiment": analysis.sentiment,
        "sentiment_score": analysis.sentiment_score,
        "severity": analysis.severity,
        "reasons": analysis.reasons,
    }


def analyse_line(analyser: Analyser, numbered: tuple[int, str]) -> str:
    """Analyse one numbered input line into one output line; never raises."""
    number, line = numbered
    item_id = None
    try:
        request = parse_request(line)
        item_id = request["id"]
        analysis = analyser.analyse(
            request.get("title") or "", request["text"], request.get("kind", "news")
        )
        record = to_json(item_id, analysis)
    except BadRequest as exc:
        item_id = exc.args[1] if len(exc.args) > 1 else None
        record = {"id": item_id, "line": number, "error": exc.args[0]}
    except Exception as exc:  # one bad item must not stop the rest
        record = {
            "id": item_id,
            "line": number,
            "error": f"analysis failed: {type(exc).__name__}: {exc}",
        }
    return json.dumps(record, ensure_ascii=False)


def _init_worker(analyser: Analyser) -> None:
    global _worker_analyser
    _worker_analyser = analyser


def _worker_line(numbered: tuple[int, str]) -> str:
    assert _worker_analyser is not None
    return analyse_line(_worker_analyser, numbered)


def analyse_lines(analyser: Analyser, lines: Iterable[str], workers: int = 1) -> Iterator[str]:
    """Analyse JSON Lines (blank lines skipped), in order, in ``workers`` processes."""
    numbered = ((n, line) for n, line in enumerate(lines, start=1) if line.strip())
    if workers <= 1:
        yield from (analyse_line(analyser, item) for item in numbered)
        return
    # fork shares the loaded models with the workers instead of loading them again in each.
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_init_worker, initargs=(analyser,)) as pool:
        yield from pool.imap(_worker_line, numbered, chunksize=8)
