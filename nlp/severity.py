"""Severity: how urgently a person must look at an item, learnt from labelled texts, with reasons.

none      not about the province, or nothing to act on
watch     goes in the daily digest
alert     follow up today
critical  escalate now

The model is ordinal: three logistic regressions over the features of ``nlp.severity_features``
give P(level >= watch), P(>= alert) and P(>= critical); the item gets the highest level whose
probability reaches that level's threshold. Weights are learnt by ``nlp.severity_training`` from
the labelled corpus (``nlp/data/labelled``), the thresholds are chosen on its development split
to favour recall of critical items, and both ship in ``nlp/models/severity`` with a manifest.
An item that is not about the province is always ``none``.

Reasons are the features that carried the decision: the largest contributions (weight x value)
to the probability of the level given, in Vietnamese. ``SeverityConfig`` (``severity:`` in
config.yaml) overrides thresholds and single weights, and sets the alarm lexicon.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp.classify import ModelError, read_manifest, sha256_of
from nlp.severity_features import (
    DEFAULT_IGNORE,
    DEFAULT_LEXICON,
    DEFAULT_VIRAL,
    Extractor,
    Lexicon,
    describe,
    is_unaccented,
)

__all__ = [
    "DEFAULT_IGNORE", "DEFAULT_LEXICON", "DEFAULT_VIRAL", "FORMAT", "LEVELS", "OrdinalModel",
    "SeverityConfig", "SeverityModel", "Verdict", "is_unaccented",
]  # fmt: skip

logger = logging.getLogger(__name__)

LEVELS = ("none", "watch", "alert", "critical")
RAISED = LEVELS[1:]  # each has a classifier: P(level >= it)
FORMAT = "nlp-severity-ordinal/1"
MODEL_DIR = Path(__file__).resolve().parent / "models" / "severity"
MODEL_FILE = "model.json.gz"
MAX_REASONS = 4
_NOTHING = "không có dấu hiệu cần theo dõi"


class SeverityModelError(ModelError):
    """The severity model cannot be used: missing, unreadable or not matching its manifest."""


@dataclass(frozen=True, slots=True)
class SeverityConfig:
    """Overrides of the shipped model (all in config.yaml under ``severity``).

    ``thresholds``: the probability from which each level starts (missing levels: the shipped
    ones). ``weights``: per level, single feature weights replacing the learnt ones
    (``{critical: {"cue:dike": 4.0}}``). ``lexicon``, ``ignore``, ``viral``: the alarm terms per
    level, everyday phrases that contain one, and phrases saying a post is spreading.
    """

    thresholds: Mapping[str, float] = field(default_factory=dict)
    weights: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    lexicon: Mapping[str, Sequence[str]] = field(default_factory=lambda: DEFAULT_LEXICON)
    ignore: Sequence[str] = DEFAULT_IGNORE
    viral: Sequence[str] = DEFAULT_VIRAL


@dataclass(frozen=True, slots=True)
class Verdict:
    """A severity level, the probability behind it and the reasons."""

    level: str
    score: float  # P(level >= alert): how likely the item needs following up
    reasons: list[str]
    probabilities: dict[str, float] = field(default_factory=dict)  # P(>= level) per level


@dataclass(frozen=True, slots=True)
class OrdinalModel:
    """Per raised level: a bias and sparse feature weights; and the decision thresholds."""

    weights: dict[str, dict[str, float]]
    bias: dict[str, float]
    thresholds: dict[str, float]

    def decision(self, level: str, features: Mapping[str, float]) -> float:
        """The linear decision value of P(>= level)."""
        w = self.weights[level]
        return self.bias[level] + sum(v * w.get(f, 0.0) for f, v in features.items())

    def probabilities(self, features: Mapping[str, float]) -> dict[str, float]:
        """P(>= level) for watch, alert and critical."""
        return {lvl: _sigmoid(self.decision(lvl, features)) for lvl in RAISED}

    def level(self, probabilities: Mapping[str, float]) -> str:
        """The highest level whose probability reaches its threshold."""
        for lvl in reversed(RAISED):
            if probabilities[lvl] >= self.thresholds[lvl]:
                return lvl
        return "none"

    def contributions(self, level: str, features: Mapping[str, float]) -> list[tuple[str, float]]:
        """The features pushing P(>= level) up, largest first."""
        w = self.weights[level]
        pushed = [(f, v * w[f]) for f, v in features.items() if f in w and v * w[f] > 0]
        return sorted(pushed, key=lambda fc: -fc[1])

    def to_json(self) -> dict[str, Any]:
        """The file form."""
        return {
            "format": FORMAT,
            "levels": list(LEVELS),
            "thresholds": self.thresholds,
            "bias": self.bias,
            "weights": {lvl: dict(sorted(w.items())) for lvl, w in self.weights.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OrdinalModel:
        """Read the file form."""
        if data.get("format") != FORMAT:
            raise SeverityModelError(f"format {data.get('format')!r}, expected {FORMAT!r}")
        return cls(
            weights={
                lvl: {str(f): float(v) for f, v in data["weights"][lvl].items()} for lvl in RAISED
            },
            bias={lvl: float(data["bias"][lvl]) for lvl in RAISED},
            thresholds={lvl: float(data["thresholds"][lvl]) for lvl in RAISED},
        )

    def configured(self, config: SeverityConfig) -> OrdinalModel:
        """This model with the configuration's thresholds and weights put in."""
        weights = {lvl: dict(w) for lvl, w in self.weights.items()}
        for lvl, changed in config.weights.items():
            weights[lvl].update(changed)
        return OrdinalModel(weights, dict(self.bias), {**self.thresholds, **config.thresholds})


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def save(model: OrdinalModel, path: Path) -> None:
    """Write a model file (gzip'd JSON; the same model gives the same bytes)."""
    body = json.dumps(model.to_json(), ensure_ascii=False, sort_keys=True).encode()
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        out.write(body)


def load(path: Path) -> OrdinalModel:
    """Read a model file written by ``save``."""
    try:
        with gzip.open(path, "rb") as f:
            data = json.loads(f.read())
    except (OSError, EOFError, ValueError) as exc:
        raise SeverityModelError(f"{path}: not a readable severity model ({exc})") from exc
    try:
        return OrdinalModel.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise SeverityModelError(f"{path}: malformed severity model ({exc})") from exc


class SeverityModel:
    """Rates an analysed item none / watch / alert / critical and says why.

    The shipped model is loaded on first use (``model`` injects one); the configuration's
    thresholds and weights are applied over it.
    """

    def __init__(
        self,
        config: SeverityConfig | None = None,
        *,
        model: OrdinalModel | None = None,
        directory: Path = MODEL_DIR,
    ) -> None:
        self.config = config or SeverityConfig()
        self.directory = directory
        self.extractor = Extractor(
            Lexicon(self.config.lexicon, self.config.ignore, self.config.viral)
        )
        self._model = model.configured(self.config) if model is not None else None
        self.manifest: dict[str, Any] = {"version": "unsaved"}
        if model is None:
            try:
                self.manifest = read_manifest(directory)
            except ModelError as exc:
                raise SeverityModelError(str(exc)) from exc
        self.version = str(self.manifest.get("version", "unknown"))

    @property
    def model(self) -> OrdinalModel:
        """The model in use (the shipped one, loaded and configured on first access)."""
        if self._model is None:
            manifest = self.manifest
            path = self.directory / str(manifest.get("model_file", MODEL_FILE))
            if not path.exists():
                raise SeverityModelError(f"{path} missing (run `monitor nlp train`)")
            if manifest.get("model_sha256") and sha256_of(path) != manifest["model_sha256"]:
                raise SeverityModelError(f"{path} does not match its manifest's sha256")
            self._model = load(path).configured(self.config)
        return self._model

    def features(
        self,
        text: str,
        words: str,
        *,
        title: str = "",
        kind: str = "news",
        topic_scores: Mapping[str, float] | None = None,
        sentiment_scores: Mapping[str, float] | None = None,
    ) -> dict[str, float]:
        """The features the model weighs (``nlp.severity_features``)."""
        return self.extractor.extract(
            text,
            words,
            title=title,
            kind=kind,
            topic_scores=topic_scores,
            sentiment_scores=sentiment_scores,
        )

    def assess(
        self,
        text: str,
        words: str,
        *,
        relevant: bool,
        title: str = "",
        kind: str = "news",
        topic_scores: Mapping[str, float] | None = None,
        sentiment_scores: Mapping[str, float] | None = None,
        topic_names: Mapping[str, str] | None = None,
    ) -> Verdict:
        """The level of an item: ``text`` its normalised head, ``words`` its segmented words."""
        if not relevant:
            return Verdict("none", 0.0, ["không liên quan tới địa bàn"])
        features = self.features(
            text,
            words,
            title=title,
            kind=kind,
            topic_scores=topic_scores,
            sentiment_scores=sentiment_scores,
        )
        return self.judge(features, topic_names)

    def judge(
        self, features: Mapping[str, float], topic_names: Mapping[str, str] | None = None
    ) -> Verdict:
        """The level, probabilities and reasons for computed features."""
        model = self.model
        probabilities = model.probabilities(features)
        level = model.level(probabilities)
        reasons = [
            f"mức {level}: xác suất cần theo dõi {probabilities['watch']:.0%}, cần xử lý "
            f"{probabilities['alert']:.0%}, khẩn cấp {probabilities['critical']:.0%}"
        ]
        if level == "none":
            return Verdict(level, round(probabilities["alert"], 3), [*reasons, _NOTHING])
        seen: set[str] = set()
        for feature, _ in model.contributions(level, features):
            reason = describe(feature, topic_names)
            if reason not in seen:
                seen.add(reason)
                reasons.append(reason)
            if len(seen) >= MAX_REASONS:
                break
        return Verdict(level, round(probabilities["alert"], 3), reasons, probabilities)
