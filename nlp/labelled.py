"""The labelled corpus of real texts: references into ``shared/data`` with the office's labels.

``nlp/data/labelled/labels.jsonl`` holds one object per item: the reference (``file``, ``row``,
``key`` = ``nlp.corpora.text_key`` of its title and text), where it was picked from (``stratum``,
see ``nlp.labelled_select``), its near-copy ``group``, each annotator's labels (``annotators``),
the adjudicated ``label`` and, where the annotators disagreed, the adjudicator's ``reason``. The
texts themselves are read from the corpus files (``load``), never copied here.

The split is by group (a story printed twice, or comments on one article, never straddle it):
a fifth of the groups is ``test`` (only ``monitor nlp eval`` reads it), a fifth ``dev`` (decision
thresholds and calibration are chosen on it), the rest ``train``.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp.corpora import TrainingError, read_jsonl, sha256_file, text_key
from nlp.labelled_select import title_text

LABELLED_DIR = Path(__file__).resolve().parent / "data" / "labelled"
LABELS_FILE = "labels.jsonl"
SPLITS = ("train", "dev", "test")
ORIGIN = "labelled for this project by LABELS.md (two annotators, adjudicated)"
# Where the labelled rows' texts come from (shared/data/README.md).
TEXT_ORIGINS = {
    "topic_vntc10_train": "VNTC (RIVF 2007), MIT",
    "topic_vntc10_test": "VNTC (RIVF 2007), MIT",
    "topic_baomoi29": "baomoi TC201805, no licence stated",
    "topic_vnexpress_train": "VnExpress 2019-20, no licence stated",
    "topic_vnexpress_validate": "VnExpress 2019-20, no licence stated",
    "topic_vnexpress_test": "VnExpress 2019-20, no licence stated",
    "toxicity_vihsd_train": "ViHSD, research use only",
    "toxicity_victsd_train": "UIT-ViCTSD, no licence stated",
    "emotion_uit_vsmec_train": "UIT-VSMEC, research corpus",
}


def split_of(group: str) -> str:
    """train / dev / test for a near-copy group (a stable hash: 3/5, 1/5, 1/5)."""
    bucket = int(hashlib.blake2b(group.encode(), digest_size=4).hexdigest(), 16) % 5
    return "test" if bucket == 0 else "dev" if bucket == 1 else "train"


@dataclass(frozen=True, slots=True)
class Label:
    """What the office decided about one text (LABELS.md)."""

    relevant: bool
    topics: tuple[str, ...]
    sentiment: str
    severity: str
    severity_if_here: str | None = None
    note: str = ""

    @property
    def topic(self) -> str:
        """The primary topic."""
        return self.topics[0]

    @property
    def learnt_severity(self) -> str:
        """The severity a model learns: the item's own, or the one it would have here."""
        return self.severity if self.relevant else (self.severity_if_here or "none")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Label:
        """A label from its JSON form."""
        return cls(
            relevant=bool(data["relevant"]),
            topics=tuple(data["topics"]),
            sentiment=str(data["sentiment"]),
            severity=str(data["severity"]),
            severity_if_here=data.get("severity_if_here"),
            note=str(data.get("note") or ""),
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "relevant": self.relevant,
            "topics": list(self.topics),
            "sentiment": self.sentiment,
            "severity": self.severity,
            "severity_if_here": self.severity_if_here,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class Item:
    """One labelled text, read back from its corpus."""

    id: str
    file: str
    row: int
    key: str
    stratum: str
    kind: str  # news or social
    group: str
    title: str
    text: str
    label: Label
    annotators: dict[str, Label] = field(default_factory=dict)

    @property
    def split(self) -> str:
        """train, dev or test."""
        return split_of(self.group)


def read_labels(path: Path | None = None) -> list[dict[str, Any]]:
    """The stored records (references and labels, no texts)."""
    path = path or LABELLED_DIR / LABELS_FILE
    if not path.exists():
        raise TrainingError(f"{path} missing: the labelled corpus is not there")
    return list(read_jsonl(path))


def load(data_dir: Path, path: Path | None = None) -> list[Item]:
    """Every labelled item with its text read from ``data_dir``; a changed row is an error."""
    records = read_labels(path)
    wanted: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for record in records:
        wanted[record["file"]][int(record["row"])] = record
    texts: dict[str, tuple[str, str]] = {}
    for stem, rows in wanted.items():
        corpus = data_dir / f"{stem}.jsonl.gz"
        if not corpus.exists():
            raise TrainingError(f"{corpus} missing (the labelled corpus refers to it)")
        for row, data in enumerate(read_jsonl(corpus)):
            if row in rows:
                texts[f"{stem}:{row}"] = title_text(stem, data)
    items = []
    for record in records:
        ref = f"{record['file']}:{record['row']}"
        if ref not in texts:
            raise TrainingError(f"{ref}: no such row in {data_dir}")
        title, body = texts[ref]
        if text_key(title, body) != record["key"]:
            raise TrainingError(f"{ref}: the row's text changed since it was labelled")
        items.append(
            Item(
                id=record["id"],
                file=record["file"],
                row=int(record["row"]),
                key=record["key"],
                stratum=record["stratum"],
                kind=record["kind"],
                group=record["group"],
                title=title,
                text=body,
                label=Label.from_dict(record["label"]),
                annotators={k: Label.from_dict(v) for k, v in record["annotators"].items()},
            )
        )
    return items


def by_split(items: Iterable[Item]) -> dict[str, list[Item]]:
    """Items per split."""
    out: dict[str, list[Item]] = {name: [] for name in SPLITS}
    for item in items:
        out[item.split].append(item)
    return out


def labelled_keys(path: Path | None = None) -> set[str]:
    """Text keys of every labelled row: kept out of the public corpora's test splits."""
    try:
        return {str(r["key"]) for r in read_labels(path)}
    except TrainingError:
        return set()


def file_info(path: Path | None = None) -> dict[str, str]:
    """The labels file and its hash, for a manifest."""
    path = path or LABELLED_DIR / LABELS_FILE
    return {"file": f"nlp/data/labelled/{path.name}", "sha256": sha256_file(path), "origin": ORIGIN}
