"""Learning the relevance model (``nlp.relevance``) from the labelled corpus.

Every labelled item in which the gazetteer finds a place is an example (items naming none stay
not relevant in use, so they teach nothing). A scikit-learn logistic regression with balanced
class weights is fitted on the training split for each regularisation in ``C_GRID``; the one
with the best development F1 is kept, with the threshold that maximises that F1.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from datetime import date
from typing import Any

from nlp import labelled
from nlp.classify import MANIFEST_FILE
from nlp.corpora import Progress, TrainingError, sha256_file
from nlp.labelled import Item
from nlp.places import PlaceMatcher
from nlp.relevance import FORMAT, MODEL_FILE, BinaryModel, features, save
from nlp.severity_training import MIN_DF, MIN_WEIGHT, Example, matrix, vocabulary
from nlp.training import Paths, TrainResult

C_GRID = (0.3, 1.0, 3.0, 10.0)
MAX_CHARS = 20_000  # as the analyser reads a text for places


def examples(places: PlaceMatcher, items: Sequence[Item]) -> list[Example]:
    """Items naming a place of the province, as examples (level "yes"/"no")."""
    out = []
    for it in items:
        title, text = it.title[:MAX_CHARS], it.text[:MAX_CHARS]
        found = places.match(title, text)
        if found.places:
            f = features(title, text, found.score, found.relevant, found.places, it.kind)
            out.append(Example(f, "yes" if it.label.relevant else "no", 1.0, it.kind))
    return out


def _f1(probs: Sequence[float], gold: Sequence[int]) -> tuple[float, float, float, float]:
    """(best F1, its threshold, precision, recall) over the development items."""
    best = (0.0, 0.5, 0.0, 0.0)
    positives = sum(gold)
    for t in sorted(set(probs)):
        chosen = [g for p, g in zip(probs, gold, strict=True) if p >= t]
        tp = sum(chosen)
        if not chosen or not tp:
            continue
        precision, recall = tp / len(chosen), tp / positives
        f1 = 2 * precision * recall / (precision + recall)
        if f1 > best[0]:
            best = (f1, t, precision, recall)
    return best


def train_relevance(
    paths: Paths, places: PlaceMatcher, *, progress: Progress | None = None
) -> TrainResult:
    """Fit and write ``paths.models_dir / "relevance"`` with its manifest."""
    from sklearn.linear_model import LogisticRegression

    started = time.monotonic()
    parts = labelled.by_split(labelled.load(paths.data_dir, paths.labels))
    train, dev = examples(places, parts["train"]), examples(places, parts["dev"])
    if len({ex.level for ex in train}) < 2:
        raise TrainingError("the labelled corpus has no relevance examples of both kinds")
    names = vocabulary(train, MIN_DF)
    index = {f: i for i, f in enumerate(names)}
    x, x_dev = matrix(train, index), matrix(dev, index)
    y = [int(ex.level == "yes") for ex in train]
    gold = [int(ex.level == "yes") for ex in dev]
    best: tuple[tuple[float, float, float, float], float, Any] | None = None
    for c in C_GRID:
        clf = LogisticRegression(C=c, class_weight="balanced", solver="liblinear", max_iter=5000)
        clf.fit(x, y)
        found = _f1(list(clf.predict_proba(x_dev)[:, 1]), gold)
        if best is None or found[0] > best[0][0]:
            best = (found, c, clf)
    assert best is not None
    (f1, threshold, precision, recall), c, clf = best
    model = BinaryModel(
        {
            f: round(float(w), 5)
            for f, w in zip(names, clf.coef_[0], strict=True)
            if abs(w) >= MIN_WEIGHT
        },
        round(float(clf.intercept_[0]), 5),
        round(float(threshold), 4),
    )
    out = paths.models_dir / "relevance"
    out.mkdir(parents=True, exist_ok=True)
    save(model, out / f"{MODEL_FILE}.tmp")
    model_hash = sha256_file(out / f"{MODEL_FILE}.tmp")
    today = date.today().isoformat()
    manifest = {
        "task": "relevance",
        "version": f"relevance-{today}-{model_hash[:8]}",
        "date": today,
        "model_file": MODEL_FILE,
        "model_sha256": model_hash,
        "model_bytes": (out / f"{MODEL_FILE}.tmp").stat().st_size,
        "format": FORMAT,
        "labels": ["not relevant", "relevant"],
        "trained_with": {
            "features": "nlp.relevance.features over the gazetteer's match (nlp.places)",
            "classifier": "logistic regression, liblinear, balanced class weights",
        },
        "hyperparameters": {
            "c": c,
            "c_grid": list(C_GRID),
            "min_df": MIN_DF,
            "n_features": len(names),
        },
        "threshold": model.threshold,
        "dev": {
            "f1": round(f1, 4),
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "n": len(dev),
        },
        "data_files": [labelled.file_info(paths.labels)],
        "examples": {
            "total_with_repeats": len(train),
            "train": {"relevant": sum(y), "not relevant": len(y) - sum(y)},
            "dev": {"relevant": sum(gold), "not relevant": len(gold) - sum(gold)},
        },
        "notes": [
            "Only texts naming a place of the province are examples; a text naming none is not relevant.",
            "Threshold and C chosen on the labelled dev split by F1; metrics on the test split are in `monitor nlp eval`.",
        ],
        "training_seconds": round(time.monotonic() - started),
    }
    (out / f"{MANIFEST_FILE}.tmp").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    os.replace(out / f"{MODEL_FILE}.tmp", out / MODEL_FILE)
    os.replace(out / f"{MANIFEST_FILE}.tmp", out / MANIFEST_FILE)
    return TrainResult("relevance", manifest, [], time.monotonic() - started)
