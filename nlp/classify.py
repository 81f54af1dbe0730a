"""Topic and sentiment classifiers: a linear model over TF-IDF word n-grams, shipped in the package.

Training (``nlp.training``) fits underthesea_core's ``TextClassifier`` (TF-IDF + linear SVM in
Rust) and exports its vocabulary, IDF and per-class weights into the small file format below, so
that use needs nothing but the standard library and gives a score for every label, not only the
best one. The features are those of the Rust vectorizer, reproduced exactly (training checks
that both pick the same label): tokens split on whitespace and lower-cased (punctuation tokens
kept), word 1- and 2-grams, raw counts times IDF, L2-normalised. ``expand`` adds each compound
word's syllables as tokens too ("tai_nạn" also gives "tai", "nạn"), which helps with
segmentation slips and unsegmented social text.

Model file (``model.bin``), gzip-compressed:
    line 1  JSON header: format, labels, n_features, ngram_range, min_token_length, bias,
            temperature
    line 2  JSON list of the features (vocabulary) in index order
    rest    little-endian float32: IDF[n_features], then weights[label][n_features]
Scores are the softmax of the decision values divided by ``temperature`` (fitted on held-out
training data), so they sum to 1 and the best label is the one with the largest decision value.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import math
import sys
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import mul
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FORMAT = "nlp-linear-tfidf/1"
MODELS_DIR = Path(__file__).resolve().parent / "models"
MODEL_FILE = "model.bin"
MANIFEST_FILE = "manifest.json"


class ModelError(Exception):
    """A model cannot be used: missing, unreadable, or not matching its manifest."""


def expand(words: str) -> str:
    """The text the vectorizer sees: segmented words, then the syllables of compound words."""
    return f"{words} {words.replace('_', ' ')}" if "_" in words else words


@lru_cache(maxsize=8)
def ngram_counts(text: str, ngram_range: tuple[int, int], min_token_length: int) -> Counter[str]:
    """Counts of the word n-grams of ``text`` (cached: the topic and sentiment models share them)."""
    tokens = [t for t in text.lower().split() if len(t) >= min_token_length]
    counts: Counter[str] = Counter()
    low, high = ngram_range
    for n in range(low, high + 1):
        counts.update(
            tokens if n == 1 else (" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
        )
    return counts


@dataclass(frozen=True, slots=True)
class LinearModel:
    """TF-IDF features and one weight vector per label."""

    labels: tuple[str, ...]
    vocab: dict[str, int]
    idf: array[float]
    weights: tuple[array[float], ...]  # one array of n_features per label
    bias: tuple[float, ...]
    ngram_range: tuple[int, int] = (1, 2)
    min_token_length: int = 1
    temperature: float = 1.0

    def features(self, text: str) -> tuple[list[int], list[float]]:
        """Indices and L2-normalised TF-IDF values of the known n-grams of ``text``."""
        grams = ngram_counts(text, self.ngram_range, self.min_token_length)
        counts = {i: n for g, n in grams.items() if (i := self.vocab.get(g)) is not None}
        index = list(counts)
        values = [counts[i] * self.idf[i] for i in index]
        norm = math.sqrt(sum(v * v for v in values)) or 1.0
        return index, [v / norm for v in values]

    def decision(self, text: str) -> list[float]:
        """One decision value per label (larger is more likely)."""
        index, values = self.features(text)
        return [
            b + sum(map(mul, map(w.__getitem__, index), values))
            for w, b in zip(self.weights, self.bias, strict=True)
        ]

    def scores(self, decision: Sequence[float]) -> dict[str, float]:
        """Softmax of the decision values: a score in [0, 1] per label, summing to 1."""
        top = max(decision)
        exps = [math.exp((d - top) / self.temperature) for d in decision]
        total = sum(exps)
        return {label: e / total for label, e in zip(self.labels, exps, strict=True)}


def save_model(model: LinearModel, path: Path) -> None:
    """Write a model in the format described in the module docstring."""
    header = {
        "format": FORMAT,
        "labels": list(model.labels),
        "n_features": len(model.idf),
        "ngram_range": list(model.ngram_range),
        "min_token_length": model.min_token_length,
        "bias": list(model.bias),
        "temperature": model.temperature,
    }
    features = sorted(model.vocab, key=model.vocab.__getitem__)
    payload = array("f", model.idf)
    for w in model.weights:
        payload.extend(w)
    if sys.byteorder == "big":
        payload.byteswap()
    # mtime=0: the same model gives the same bytes, so its hash says whether it changed
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        out.write(json.dumps(header).encode() + b"\n")
        out.write(json.dumps(features, ensure_ascii=False).encode() + b"\n")
        out.write(payload.tobytes())


def load_model(path: Path) -> LinearModel:
    """Read a model file written by ``save_model``."""
    try:
        with gzip.open(path, "rb") as f:
            header: dict[str, Any] = json.loads(f.readline())
            features: list[str] = json.loads(f.readline())
            payload = array("f")
            payload.frombytes(f.read())
    except (OSError, EOFError, ValueError) as exc:
        raise ModelError(f"{path}: not a readable model ({exc})") from exc
    if header.get("format") != FORMAT:
        raise ModelError(f"{path}: format {header.get('format')!r}, expected {FORMAT!r}")
    if sys.byteorder == "big":
        payload.byteswap()
    n, labels = int(header["n_features"]), tuple(header["labels"])
    if len(features) != n or len(payload) != n * (len(labels) + 1):
        raise ModelError(f"{path}: {len(features)} features and {len(payload)} numbers for {n}")
    return LinearModel(
        labels=labels,
        vocab={f: i for i, f in enumerate(features)},
        idf=payload[:n],
        weights=tuple(payload[n * (k + 1) : n * (k + 2)] for k in range(len(labels))),
        bias=tuple(float(b) for b in header["bias"]),
        ngram_range=(int(header["ngram_range"][0]), int(header["ngram_range"][1])),
        min_token_length=int(header["min_token_length"]),
        temperature=float(header["temperature"]),
    )


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_manifest(directory: Path) -> dict[str, Any]:
    """A model directory's manifest."""
    path = directory / MANIFEST_FILE
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(f"no model at {directory}: {MANIFEST_FILE} missing") from exc
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: unreadable ({exc})") from exc
    return manifest


class Classifier:
    """A shipped (or injected) model: the primary label and a score for every label.

    Construction reads only the small manifest (for ``version`` and ``labels``); the model file is
    loaded, and checked against the manifest's hash, on first use. Input is
    ``nlp.text.prepare(...).words``.
    """

    def __init__(self, directory: Path, *, model: LinearModel | None = None) -> None:
        self.directory = directory
        self.manifest = read_manifest(directory) if model is None else {"version": "unsaved"}
        self.version: str = str(self.manifest.get("version", "unknown"))
        self.labels: tuple[str, ...] = tuple(
            self.manifest.get("labels", ()) if model is None else model.labels
        )
        self._model: LinearModel | None = model

    @classmethod
    def from_model(cls, model: LinearModel) -> Classifier:
        """A classifier around a model in memory (training measures one before saving it)."""
        return cls(Path("."), model=model)

    @classmethod
    def shipped(cls, task: str, models_dir: Path | None = None) -> Classifier:
        """The model shipped for ``task`` ("topic" or "sentiment")."""
        return cls((models_dir or MODELS_DIR) / task)

    @property
    def model(self) -> LinearModel:
        """The loaded model (loaded and verified on first access)."""
        if self._model is None:
            self._model = self._load()
        return self._model

    def _load(self) -> LinearModel:
        path = self.directory / str(self.manifest.get("model_file", MODEL_FILE))
        if not path.exists():
            raise ModelError(f"{path} missing (run `monitor nlp train`)")
        expected = self.manifest.get("model_sha256")
        if expected and sha256_of(path) != expected:
            raise ModelError(f"{path} does not match its manifest's sha256 (retrain or restore it)")
        model = load_model(path)
        if self.labels and model.labels != self.labels:
            raise ModelError(f"{path}: labels {model.labels} differ from the manifest's")
        logger.debug("loaded %s (%d features)", path, len(model.idf))
        return model

    def predict(self, words: str) -> tuple[str, dict[str, float]]:
        """The best label for prepared ``words`` and a score in [0, 1] for every label."""
        model = self.model
        decision = model.decision(expand(words))
        best = max(range(len(decision)), key=decision.__getitem__)
        return model.labels[best], model.scores(decision)

    def predict_many(self, texts: Sequence[str]) -> list[tuple[str, dict[str, float]]]:
        """``predict`` for each of several prepared texts."""
        return [self.predict(words) for words in texts]
