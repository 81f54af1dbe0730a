"""Learning the ordinal severity model (``nlp.severity``) from labelled examples.

Each example is a feature map (``nlp.severity_features``), a level and a weight (analysts'
corrections weigh more than corpus labels). For each raised level a scikit-learn logistic
regression learns P(level >= it) with balanced class weights (critical items are few); the
regularisation is chosen on the development split by average precision, then each threshold is
the highest probability that still finds ``recall`` of the development items at or above its
level (favouring recall of escalations over precision), except ``watch``, whose threshold
maximises F1. Word n-grams seen in fewer than ``min_df`` training texts are left out.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from nlp import labelled
from nlp import text as text_module
from nlp.classify import MANIFEST_FILE, Classifier
from nlp.corpora import Loader, Progress, TrainingError, sha256_file, text_key
from nlp.labelled import SPLITS
from nlp.metrics import Metrics, score
from nlp.severity import FORMAT, LEVELS, MODEL_FILE, RAISED, OrdinalModel, SeverityModel, save
from nlp.text import normalized_head
from nlp.training import FeedbackUse, Paths, TrainResult, _loader, read_labelled

logger = logging.getLogger(__name__)

C_GRID = (0.1, 0.3, 1.0, 3.0)
RECALL = {"alert": 0.95, "critical": 0.95}
MIN_DF = 3
MIN_WEIGHT = 1e-4  # smaller weights are left out of the file: they change no decision


@dataclass(frozen=True, slots=True)
class Example:
    """One item's features, its severity and how much it counts."""

    features: Mapping[str, float]
    level: str
    weight: float = 1.0
    kind: str = "news"


@dataclass
class Fitted:
    """A trained model and how it was chosen."""

    model: OrdinalModel
    c: float
    n_features: int
    dev: dict[str, Any] = field(default_factory=dict)  # per level: AP, threshold, P and R at it


def _rank(level: str) -> int:
    return LEVELS.index(level)


def vocabulary(train: Sequence[Example], min_df: int) -> list[str]:
    """Features in training: every explained one, and the n-grams in ``min_df`` texts or more."""
    df: Counter[str] = Counter()
    for ex in train:
        df.update(ex.features.keys())
    return sorted(f for f, n in df.items() if n >= min_df or not f.startswith(("w:", "t:", "c:")))


def matrix(examples: Sequence[Example], index: Mapping[str, int]) -> Any:
    """The examples' features as a sparse matrix over ``index``."""
    from scipy.sparse import csr_matrix

    rows, cols, vals = [], [], []
    for r, ex in enumerate(examples):
        for f, v in ex.features.items():
            if (c := index.get(f)) is not None:
                rows.append(r)
                cols.append(c)
                vals.append(v)
    return csr_matrix((vals, (rows, cols)), shape=(len(examples), len(index)))


def _fit_level(x: Any, y: list[int], weights: list[float], c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=c, class_weight="balanced", solver="liblinear", max_iter=5000)
    clf.fit(x, y, sample_weight=weights)
    return clf


def _threshold(
    probs: Sequence[float], gold: Sequence[int], level: str
) -> tuple[float, float, float]:
    """(threshold, precision, recall) chosen on the development items for one level."""
    positives = sum(gold)
    if not positives:
        return 0.5, 0.0, 0.0
    best: tuple[float, float, float] = (0.5, 0.0, 0.0)
    best_f1 = -1.0
    for t in sorted(set(probs), reverse=True):
        found = [g for p, g in zip(probs, gold, strict=True) if p >= t]
        precision, recall = sum(found) / len(found), sum(found) / positives
        if level in RECALL:
            if recall >= RECALL[level]:
                return t, precision, recall  # the highest threshold reaching the recall
            continue
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        if f1 > best_f1:
            best, best_f1 = (t, precision, recall), f1
    return best


def fit(train: Sequence[Example], dev: Sequence[Example], *, min_df: int = MIN_DF) -> Fitted:
    """Fit the three classifiers, choose C and the thresholds on ``dev``."""
    from sklearn.metrics import average_precision_score

    names = vocabulary(train, min_df)
    index = {f: i for i, f in enumerate(names)}
    x, x_dev = matrix(train, index), matrix(dev, index)
    weights = [ex.weight for ex in train]
    best: tuple[float, float, dict[str, Any]] | None = None
    for c in C_GRID:
        fitted, score = {}, 0.0
        for level in RAISED:
            y = [int(_rank(ex.level) >= _rank(level)) for ex in train]
            if len(set(y)) < 2:
                raise ValueError(f"no training example on both sides of {level}")
            fitted[level] = _fit_level(x, y, weights, c)
            gold = [int(_rank(ex.level) >= _rank(level)) for ex in dev]
            score += average_precision_score(gold, fitted[level].predict_proba(x_dev)[:, 1])
        logger.info("severity: C=%g, mean dev average precision %.4f", c, score / len(RAISED))
        if best is None or score > best[1]:
            best = (c, score, fitted)
    assert best is not None
    c, _, classifiers = best
    dev_report: dict[str, Any] = {}
    thresholds: dict[str, float] = {}
    for level in RAISED:
        gold = [int(_rank(ex.level) >= _rank(level)) for ex in dev]
        probs = list(classifiers[level].predict_proba(x_dev)[:, 1])
        t, precision, recall = _threshold(probs, gold, level)
        thresholds[level] = round(float(t), 4)
        dev_report[level] = {
            "average_precision": round(float(average_precision_score(gold, probs)), 4),
            "threshold": thresholds[level],
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "support": sum(gold),
            "target_recall": RECALL.get(level),
        }
    model = OrdinalModel(
        weights={
            level: {
                f: round(float(w), 5)
                for f, w in zip(names, classifiers[level].coef_[0], strict=True)
                if abs(w) >= MIN_WEIGHT
            }
            for level in RAISED
        },
        bias={level: round(float(classifiers[level].intercept_[0]), 5) for level in RAISED},
        thresholds=thresholds,
    )
    return Fitted(model, c, len(names), dev_report)


# --- the task: from the labelled corpus to a shipped model ------------------------------------

FEEDBACK_WEIGHT = 3.0  # an analyst's correction counts three times a corpus label


def examples_of(
    severity: SeverityModel,
    topic: Classifier,
    sentiment: Classifier,
    texts: Sequence[tuple[str, str, str, str]],
    words: Sequence[str],
) -> list[dict[str, float]]:
    """Feature maps of (title, text, kind, level) texts with their prepared ``words``."""
    out = []
    for (title, body, kind, _), w in zip(texts, words, strict=True):
        out.append(
            severity.features(
                normalized_head(title, body),
                w,
                title=title,
                kind=kind,
                topic_scores=topic.predict(w)[1],
                sentiment_scores=sentiment.predict(w)[1],
            )
        )
    return out


def train_severity(
    paths: Paths,
    *,
    feedback: Sequence[tuple[str, str, str]] = (),
    workers: int = 1,
    progress: Progress | None = None,
) -> TrainResult:
    """Fit the severity model on the labelled corpus (and analysts' corrections), write it with
    its manifest to ``paths.models_dir / "severity"``; the topic and sentiment models there give
    the topic and tone features, so they are trained first."""
    started = time.monotonic()
    loader = _loader(paths, workers, progress)
    corpus = read_labelled(paths, loader)
    if not corpus.parts.get("train"):
        raise TrainingError(f"{paths.labels}: no labelled corpus to learn severity from")
    topic = Classifier(paths.models_dir / "topic")
    sentiment = Classifier(paths.models_dir / "sentiment")
    model = SeverityModel(model=OrdinalModel({}, {}, {}))
    sets: dict[str, list[Example]] = {}
    for split in SPLITS:
        items = corpus.parts[split]
        rows = [(it.title, it.text, it.kind, it.label.learnt_severity) for it in items]
        features = examples_of(model, topic, sentiment, rows, [corpus.words[it.id] for it in items])
        sets[split] = [
            Example(f, row[3], 1.0, row[2]) for f, row in zip(features, rows, strict=True)
        ]
    test_keys = {it.key for it in corpus.parts["test"]} | {it.key for it in corpus.parts["dev"]}
    corrected, use = _feedback(model, topic, sentiment, feedback, test_keys)
    fitted = fit(sets["train"] + corrected, sets["dev"])
    out = paths.models_dir / "severity"
    out.mkdir(parents=True, exist_ok=True)
    save(fitted.model, out / f"{MODEL_FILE}.tmp")
    metrics = [
        score(f"labelled test: {kind}", [ex.level for ex in rows], predict(fitted.model, rows))
        for kind in ("news", "social")
        if (rows := [ex for ex in sets["test"] if ex.kind == kind])
    ]
    manifest = _manifest(paths, loader, sets, fitted, metrics, use, out / f"{MODEL_FILE}.tmp")
    manifest["training_seconds"] = round(time.monotonic() - started)
    (out / f"{MANIFEST_FILE}.tmp").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    os.replace(out / f"{MODEL_FILE}.tmp", out / MODEL_FILE)
    os.replace(out / f"{MANIFEST_FILE}.tmp", out / MANIFEST_FILE)
    return TrainResult("severity", manifest, metrics, time.monotonic() - started)


def predict(model: OrdinalModel, examples: Sequence[Example]) -> list[str]:
    """The level of each example (its learnt severity, relevance aside)."""
    return [model.level(model.probabilities(ex.features)) for ex in examples]


def _feedback(
    model: SeverityModel,
    topic: Classifier,
    sentiment: Classifier,
    feedback: Sequence[tuple[str, str, str]],
    test_keys: set[str],
) -> tuple[list[Example], FeedbackUse]:
    """Analysts' severity corrections (title, text, level) as heavier examples."""
    use = FeedbackUse(given=len(feedback))
    chosen: dict[str, tuple[str, str, str]] = {}
    for title, body, level in feedback:
        if level not in LEVELS:
            use.skipped["unknown_label"] = use.skipped.get("unknown_label", 0) + 1
        elif text_key(title, body) in test_keys:
            use.skipped["test_duplicate"] = use.skipped.get("test_duplicate", 0) + 1
        else:
            chosen[text_key(title, body)] = (title, body, level)  # the latest one counts
    rows = [(t, b, "news", lvl) for t, b, lvl in chosen.values()]
    words = [text_module.prepare(t, b).words for t, b, _, _ in rows]
    features = examples_of(model, topic, sentiment, rows, words)
    use.used = len(rows)
    return [Example(f, r[3], FEEDBACK_WEIGHT) for f, r in zip(features, rows, strict=True)], use


def _manifest(
    paths: Paths,
    loader: Loader,
    sets: Mapping[str, Sequence[Example]],
    fitted: Fitted,
    metrics: Sequence[Metrics],
    use: FeedbackUse,
    model_path: Path,
) -> dict[str, Any]:
    from importlib.metadata import version as package_version

    model_hash = sha256_file(model_path)
    today = date.today().isoformat()
    return {
        "task": "severity",
        "version": f"severity-{today}-{model_hash[:8]}",
        "date": today,
        "model_file": MODEL_FILE,
        "model_sha256": model_hash,
        "model_bytes": model_path.stat().st_size,
        "format": FORMAT,
        "labels": list(LEVELS),
        "trained_with": {
            "scikit-learn": package_version("scikit-learn"),
            "features": "nlp.severity_features.Extractor over normalized_head(title, text) and "
            "prepare(title, text).words, with the topic and sentiment models' scores",
            "classifier": "one logistic regression per level: P(level >= watch / alert / critical), "
            "liblinear, balanced class weights",
        },
        "hyperparameters": {
            "c": fitted.c,
            "c_grid": list(C_GRID),
            "min_df": MIN_DF,
            "target_recall": RECALL,
            "feedback_weight": FEEDBACK_WEIGHT,
            "n_features": fitted.n_features,
        },
        "thresholds": fitted.model.thresholds,
        "thresholds_chosen_on": "labelled dev split: "
        + ", ".join(
            f"{k} {v['precision']:.3f} P / {v['recall']:.3f} R" for k, v in fitted.dev.items()
        ),
        "dev": fitted.dev,
        "data_files": [labelled.file_info(paths.labels)]
        + [
            {"file": f.file, "sha256": f.sha256, "origin": f.origin}
            for f in sorted(loader.files.values(), key=lambda f: f.file)
        ],
        "examples": {
            "total_with_repeats": len(sets["train"]) + use.used,
            **{
                split: dict(sorted(Counter(ex.level for ex in rows).items()))
                for split, rows in sets.items()
            },
        },
        "feedback": {
            "origin": "analysts' severity corrections stored by the monitor (latest per item)",
            "given": use.given,
            "used": use.used,
            "weight": FEEDBACK_WEIGHT,
            "skipped": use.skipped,
        },
        "metrics": {m.split: m.as_dict() for m in metrics},
        "notes": [
            "Learnt severity: an item's own severity, or for an item about another place the "
            "severity it would have in the province (severity_if_here); in use, an item that is "
            "not about the province is always none.",
            "The labelled corpus is split by near-copy group: train 3/5, dev 1/5 (C and "
            "thresholds), test 1/5 (metrics).",
        ],
    }
