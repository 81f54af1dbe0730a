"""How a classifier did on a test split: accuracy, per-label precision/recall/F1, macro-F1."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nlp.classify import Classifier
from nlp.corpora import Example


@dataclass
class Metrics:
    """How a model did on one test split."""

    split: str
    n: int
    accuracy: float
    macro_f1: float  # over the gold labels present in the split
    per_label: dict[str, dict[str, float]]  # label -> precision, recall, f1, support
    confusion: dict[str, dict[str, int]]  # gold label -> predicted label -> count
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain data for a manifest."""
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "per_label": {
                k: {m: round(v, 4) for m, v in d.items()} for k, d in self.per_label.items()
            },
            "confusion": self.confusion,
            "note": self.note,
        }


def score(split: str, gold: Sequence[str], predicted: Sequence[str], note: str = "") -> Metrics:
    """Per-label precision/recall/F1, macro-F1, accuracy and the confusion matrix."""
    confusion: dict[str, dict[str, int]] = defaultdict(Counter)
    for g, p in zip(gold, predicted, strict=True):
        confusion[g][p] += 1
    predicted_count = Counter(predicted)
    per_label: dict[str, dict[str, float]] = {}
    for label in sorted(confusion):
        tp, support = confusion[label][label], sum(confusion[label].values())
        precision = tp / predicted_count[label] if predicted_count[label] else 0.0
        recall = tp / support
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    n = len(gold)
    return Metrics(
        split=split,
        n=n,
        accuracy=sum(g == p for g, p in zip(gold, predicted, strict=True)) / n if n else 0.0,
        macro_f1=sum(d["f1"] for d in per_label.values()) / len(per_label) if per_label else 0.0,
        per_label=per_label,
        confusion={g: dict(row) for g, row in sorted(confusion.items())},
        note=note,
    )


def measure(classifier: Classifier, splits: dict[str, list[Example]]) -> list[Metrics]:
    """Score a classifier on each split (labels it does not know count as errors)."""
    out = []
    for name, examples in splits.items():
        predicted = [classifier.predict(ex.words)[0] for ex in examples]
        out.append(score(name, [ex.label for ex in examples], predicted))
    return out
