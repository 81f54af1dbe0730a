"""Relevance learnt where the place rules miss: is a text that names the province about it?

The gazetteer (``nlp.places``) finds every place of the province a text names and scores the
evidence. Naming is not being about: a suspect "quê Nam Định" arrested in Bình Dương, the club
as one line of a results table, a bus "đi Nam Định" that crashed in Huế are not about the
province; one mention can carry a story that is. So for a text in which the gazetteer found a
place, a logistic regression learnt from the labelled corpus decides, over features that say
what they are:

    gaz:score, gaz:relevant, gaz:title, gaz:lead, gaz:places:<n>, gaz:mentions:<n>
                   the gazetteer's score and verdict, where and how often places are named
    c:<word>       a word within ``WINDOW`` characters of a named place (folded, L2-normalised)
    w:<word>       a word of the text's head (folded, L2-normalised)
    kind:<kind>    news, social, forum, manual

A text naming no place, or one the rules find not about the province, stays not relevant: the
model only overrules the rules' "relevant". The reasons staff see are the gazetteer's, plus the
model's probability and the context words that weighed most.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlp.base import Place
from nlp.classify import ModelError, read_manifest, sha256_of
from nlp.normalize import fold

FORMAT = "nlp-relevance-logistic/1"
MODEL_DIR = Path(__file__).resolve().parent / "models" / "relevance"
MODEL_FILE = "model.json.gz"
WINDOW = 120
HEAD = 1500
MAX_WINDOWS = 6
_WORD = re.compile(r"[^\W\d_]+|\d+")


@dataclass(frozen=True, slots=True)
class BinaryModel:
    """Sparse weights, a bias and the probability from which a text is relevant."""

    weights: dict[str, float]
    bias: float
    threshold: float

    def probability(self, features: Mapping[str, float]) -> float:
        """P(relevant)."""
        x = self.bias + sum(v * self.weights.get(f, 0.0) for f, v in features.items())
        return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))

    def to_json(self) -> dict[str, Any]:
        """The file form."""
        return {
            "format": FORMAT,
            "threshold": self.threshold,
            "bias": self.bias,
            "weights": dict(sorted(self.weights.items())),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BinaryModel:
        """Read the file form."""
        if data.get("format") != FORMAT:
            raise ModelError(f"format {data.get('format')!r}, expected {FORMAT!r}")
        return cls(
            {str(k): float(v) for k, v in data["weights"].items()},
            float(data["bias"]),
            float(data["threshold"]),
        )


def save(model: BinaryModel, path: Path) -> None:
    """Write a model file (gzip'd JSON; the same model gives the same bytes)."""
    body = json.dumps(model.to_json(), ensure_ascii=False, sort_keys=True).encode()
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
        out.write(body)


def _bucket(n: int, edges: tuple[int, ...]) -> str:
    reached = [e for e in edges if n >= e]
    return str(reached[-1]) if reached else "0"


def _words(text: str, prefix: str, weight: float = 1.0) -> dict[str, float]:
    words = set(_WORD.findall(fold(text)))
    if not words:
        return {}
    value = weight / math.sqrt(len(words))
    return {f"{prefix}{w}": value for w in words}


def features(
    title: str, text: str, score: float, relevant: bool, places: list[Place], kind: str = "news"
) -> dict[str, float]:
    """The features of a text in which the gazetteer found ``places`` (see the docstring)."""
    whole = f"{title}\n{text}"
    title_end = len(title)
    out: dict[str, float] = {
        "gaz:score": round(score, 4),
        f"kind:{kind}": 1.0,
        f"gaz:places:{_bucket(len({p.name for p in places}), (1, 2, 3))}": 1.0,
        f"gaz:mentions:{_bucket(len(places), (1, 2, 3, 6))}": 1.0,
    }
    if relevant:
        out["gaz:relevant"] = 1.0
    if title_end and any(p.start < title_end for p in places):
        out["gaz:title"] = 1.0
    if any(title_end < p.start < title_end + 400 for p in places):
        out["gaz:lead"] = 1.0
    windows = " ".join(
        whole[max(0, p.start - WINDOW) : p.end + WINDOW] for p in places[:MAX_WINDOWS]
    )
    out.update(_words(windows, "c:"))
    out.update(_words(whole[:HEAD], "w:", 0.5))
    return out


def describe(feature: str) -> str:
    """The Vietnamese reason a feature gives."""
    head, _, rest = feature.partition(":")
    if head in ("c", "w"):
        return f"“{rest}”"
    return {
        "gaz:title": "tên địa danh ở tiêu đề",
        "gaz:lead": "tên địa danh ở đoạn đầu",
        "gaz:relevant": "quy tắc địa danh",
        "gaz:score": "điểm địa danh",
    }.get(feature, feature)


class RelevanceModel:
    """Decides whether a text naming the province is about it (the shipped or an injected model)."""

    def __init__(self, *, model: BinaryModel | None = None, directory: Path = MODEL_DIR) -> None:
        self.directory = directory
        self._model = model
        self.manifest: dict[str, Any] = {"version": "unsaved"}
        if model is None:
            self.manifest = read_manifest(directory)
        self.version = str(self.manifest.get("version", "unknown"))

    @property
    def model(self) -> BinaryModel:
        """The model (loaded and checked against its manifest on first use)."""
        if self._model is None:
            path = self.directory / str(self.manifest.get("model_file", MODEL_FILE))
            if not path.exists():
                raise ModelError(f"{path} missing (run `monitor nlp train --task relevance`)")
            if (
                self.manifest.get("model_sha256")
                and sha256_of(path) != self.manifest["model_sha256"]
            ):
                raise ModelError(f"{path} does not match its manifest's sha256")
            try:
                with gzip.open(path, "rb") as f:
                    self._model = BinaryModel.from_json(json.loads(f.read()))
            except (OSError, EOFError, ValueError, KeyError) as exc:
                raise ModelError(f"{path}: not a readable relevance model ({exc})") from exc
        return self._model

    def decide(self, features_: Mapping[str, float]) -> tuple[bool, float, str]:
        """(relevant, probability, reason) for a text's features."""
        model = self.model
        p = model.probability(features_)
        relevant = p >= model.threshold
        sign = 1 if relevant else -1
        pushed = sorted(
            (
                (f, v * model.weights[f])
                for f, v in features_.items()
                if f.startswith("c:") and f in model.weights and sign * v * model.weights[f] > 0
            ),
            key=lambda fc: -abs(fc[1]),
        )
        context = ", ".join(describe(f) for f, _ in pushed[:3])
        verdict = "là bài về tỉnh" if relevant else "không phải bài về tỉnh"
        reason = f"mô hình ngữ cảnh: {verdict} (xác suất {p:.0%})"
        return relevant, p, reason + (f", ngữ cảnh {context}" if context else "")
