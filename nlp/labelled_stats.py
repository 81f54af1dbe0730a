"""Counts and inter-annotator agreement of the labelled corpus, as Markdown (for its README).

``python -m nlp.labelled_stats [labels.jsonl]``: per field, the share of items both annotators
labelled alike and Cohen's kappa (linearly weighted for the ordinal severity), then the
adjudicated labels' counts per value, per stratum and per split.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

from nlp.labelled import read_labels, split_of

SEVERITY_ORDER = {"none": 0, "watch": 1, "alert": 2, "critical": 3}


def _fields(label: dict[str, Any]) -> dict[str, Any]:
    learnt = label["severity"] if label["relevant"] else (label["severity_if_here"] or "none")
    return {
        "relevant": str(label["relevant"]),
        "primary topic": label["topics"][0],
        "sentiment": label["sentiment"],
        "severity": SEVERITY_ORDER[label["severity"]],
        "severity or severity_if_here": SEVERITY_ORDER[learnt],
    }


def agreement(records: list[dict[str, Any]]) -> list[tuple[str, float, float, str]]:
    """(field, raw agreement, kappa, kind of kappa) per field."""
    from sklearn.metrics import cohen_kappa_score

    out = []
    pairs = [(_fields(r["annotators"]["A"]), _fields(r["annotators"]["B"])) for r in records]
    for field in pairs[0][0]:
        a = [p[0][field] for p in pairs]
        b = [p[1][field] for p in pairs]
        weighted = field.startswith("severity")
        kappa = cohen_kappa_score(a, b, weights="linear" if weighted else None)
        raw = sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
        out.append((field, raw, float(kappa), "linear-weighted" if weighted else "Cohen"))
    return out


def main() -> None:
    """Print the tables."""
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    records = read_labels(path)
    print(
        f"{len(records)} adjudicated items; {sum(r['adjudicated'] for r in records)} adjudicated "
        "after a disagreement\n"
    )
    print("| field | agreement | kappa | kind |\n|---|---|---|---|")
    for field, raw, kappa, kind in agreement(records):
        print(f"| {field} | {raw:.3f} | {kappa:.3f} | {kind} |")
    labels = [r["label"] for r in records]
    high = sum(
        max(SEVERITY_ORDER[lb["severity"]], SEVERITY_ORDER[lb["severity_if_here"] or "none"]) >= 2
        for lb in labels
    )
    print(f"\nalert or critical (severity or severity_if_here): {high}\n")
    tables = {
        "relevant": Counter(str(lb["relevant"]) for lb in labels),
        "primary topic": Counter(lb["topics"][0] for lb in labels),
        "sentiment": Counter(lb["sentiment"] for lb in labels),
        "severity": Counter(lb["severity"] for lb in labels),
        "severity_if_here": Counter(str(lb["severity_if_here"]) for lb in labels),
        "stratum": Counter(r["stratum"].split(":")[0] for r in records),
        "kind": Counter(r["kind"] for r in records),
        "split": Counter(split_of(r["group"]) for r in records),
    }
    for name, counts in tables.items():
        print(f"| {name} | items |\n|---|---|")
        for value, n in sorted(counts.items(), key=lambda kv: -kv[1]):
            print(f"| {value} | {n} |")
        print()


if __name__ == "__main__":
    main()
