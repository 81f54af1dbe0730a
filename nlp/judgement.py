"""How the whole analyser judges the labelled test split: the figures the office cares about.

``judge`` runs an analyser over labelled items (relevance from places, topic, tone, severity,
exactly as in use) and ``report`` scores it, per kind of text (news, social):

- relevance precision / recall / F1;
- flag (alert or critical) recall and precision, and critical recall, on the final severity
  (``none`` whenever the analyser judged the item not relevant);
- topic accuracy on the relevant items: the primary topic predicted is one of the acceptable ones;
- sentiment macro-F1 over every item of the kind.

``plot`` draws a reliability diagram of P(alert or above) and the severity confusion matrix.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlp.base import Analyser, severity_rank
from nlp.labelled import Item
from nlp.metrics import score

FLAG = severity_rank("alert")
CRITICAL = severity_rank("critical")
LEVELS = ("none", "watch", "alert", "critical")
ROWS = (
    "n", "relevant", "relevance precision", "relevance recall", "relevance F1", "flag (gold)",
    "flag recall", "flag precision", "critical (gold)", "critical recall", "topic accuracy",
    "sentiment macro-F1",
)  # fmt: skip
# The targets: figure -> (kind or None for both, minimum).
TARGETS: dict[str, float] = {
    "relevance F1": 0.98,
    "flag recall": 0.95,
    "flag precision": 0.80,
    "critical recall": 0.95,
    "topic accuracy": 0.85,
    "sentiment macro-F1 news": 0.80,
    "sentiment macro-F1 social": 0.70,
}


@dataclass(frozen=True, slots=True)
class Outcome:
    """One labelled item and what the analyser said of it."""

    item: Item
    relevant: bool
    topic: str | None
    sentiment: str | None
    severity: str
    flag_probability: float  # the severity model's P(alert or above), relevance aside


def judge(
    analyser: Analyser, items: Sequence[Item], severity_model: Any | None = None
) -> list[Outcome]:
    """Analyse every item as in use (the analyser must classify irrelevant items too)."""
    out = []
    for item in items:
        a = analyser.analyse(item.title, item.text, item.kind)
        probability = 0.0
        if severity_model is not None:
            probability = severity_model(item)
        out.append(Outcome(item, a.relevant, a.topic, a.sentiment, a.severity, probability))
    return out


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def _f1(p: float | None, r: float | None) -> float | None:
    return 2 * p * r / (p + r) if p and r else (0.0 if p is not None and r is not None else None)


def report(outcomes: Sequence[Outcome]) -> dict[str, dict[str, Any]]:
    """The figures per kind of text ("news", "social") and for all together ("all")."""
    kinds: dict[str, list[Outcome]] = {"all": list(outcomes)}
    for o in outcomes:
        kinds.setdefault(o.item.kind, []).append(o)
    return {kind: _figures(rows) for kind, rows in kinds.items()}


def _figures(rows: Sequence[Outcome]) -> dict[str, Any]:
    gold_rel = [o.item.label.relevant for o in rows]
    tp = sum(g and o.relevant for g, o in zip(gold_rel, rows, strict=True))
    precision, recall = _ratio(tp, sum(o.relevant for o in rows)), _ratio(tp, sum(gold_rel))
    gold_sev = [severity_rank(o.item.label.severity) for o in rows]
    pred_sev = [severity_rank(o.severity) for o in rows]
    flagged = sum(p >= FLAG for p in pred_sev)
    flag_tp = sum(g >= FLAG and p >= FLAG for g, p in zip(gold_sev, pred_sev, strict=True))
    crit_tp = sum(g == CRITICAL and p == CRITICAL for g, p in zip(gold_sev, pred_sev, strict=True))
    relevant = [o for o in rows if o.item.label.relevant]
    topic_ok = sum(o.topic in o.item.label.topics for o in relevant)
    sentiment = score(
        "sentiment", [o.item.label.sentiment for o in rows], [o.sentiment or "" for o in rows]
    )
    return {
        "n": len(rows),
        "relevant": sum(gold_rel),
        "relevance precision": precision,
        "relevance recall": recall,
        "relevance F1": _f1(precision, recall),
        "flag (gold)": sum(g >= FLAG for g in gold_sev),
        "flag recall": _ratio(flag_tp, sum(g >= FLAG for g in gold_sev)),
        "flag precision": _ratio(flag_tp, flagged),
        "critical (gold)": sum(g == CRITICAL for g in gold_sev),
        "critical recall": _ratio(crit_tp, sum(g == CRITICAL for g in gold_sev)),
        "topic accuracy": _ratio(topic_ok, len(relevant)),
        "sentiment macro-F1": sentiment.macro_f1 if rows else None,
        "severity confusion": {
            g: dict(Counter(o.severity for o in rows if o.item.label.severity == g))
            for g in ("none", "watch", "alert", "critical")
        },
    }


def plot(outcomes: Sequence[Outcome], docs: Path) -> list[Path]:
    """docs/severity-reliability.png and docs/severity-confusion.png; the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    docs.mkdir(parents=True, exist_ok=True)
    levels = ("none", "watch", "alert", "critical")
    # Reliability: the model's P(alert or above) against how often the learnt label is that high.
    bins: list[list[tuple[float, int]]] = [[] for _ in range(10)]
    for o in outcomes:
        hit = int(severity_rank(o.item.label.learnt_severity) >= FLAG)
        bins[min(9, int(o.flag_probability * 10))].append((o.flag_probability, hit))
    xs = [sum(p for p, _ in b) / len(b) for b in bins if b]
    ys = [sum(h for _, h in b) / len(b) for b in bins if b]
    ns = [len(b) for b in bins if b]
    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.plot(xs, ys, marker="o", color="#b03a2e", label="severity model")
    for x, y, n in zip(xs, ys, ns, strict=True):
        ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(4, -10), fontsize=8)
    ax.set_xlabel("predicted P(alert or critical)")
    ax.set_ylabel("observed share labelled alert or critical")
    ax.set_title(f"Reliability on the labelled test split (n={len(outcomes)})")
    ax.legend(loc="upper left")
    reliability = docs / "severity-reliability.png"
    fig.tight_layout()
    fig.savefig(reliability)
    plt.close(fig)
    # Confusion of the final severity (relevance included), as staff would see it.
    matrix = [
        [sum(1 for o in outcomes if o.item.label.severity == g and o.severity == p) for p in levels]
        for g in levels
    ]
    fig, ax = plt.subplots(figsize=(5, 4.4), dpi=100)
    ax.imshow([[min(v, 60) for v in row] for row in matrix], cmap="Blues")
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            ax.text(j, i, str(v), ha="center", va="center", color="black")
    ax.set_xticks(range(4), levels)
    ax.set_yticks(range(4), levels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("labelled (adjudicated)")
    ax.set_title("Severity on the labelled test split")
    confusion = docs / "severity-confusion.png"
    fig.tight_layout()
    fig.savefig(confusion)
    plt.close(fig)
    return [reliability, confusion]
