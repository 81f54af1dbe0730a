"""Training and evaluation of the topic and sentiment classifiers (a library: paths come in).

The recipe for each task (``RECIPES``) names the corpora it trains on, how many examples of each
label it takes from each, and the test splits it is measured on. Every text goes through
``nlp.text.prepare`` exactly as in use; prepared words are cached on disk by file hash, so a
second run segments nothing (``nlp.corpora``). Scores are computed by ``nlp.metrics``.

``train`` also takes analysts' corrections (``feedback``: title, text, label) from the caller
(the monitor reads them from its database; this library never does). They are prepared like the
domain examples, weighed like them (few, and the closest to real use), replace a corpus or
domain example with the same text, are never put in a test split, and are counted in the
manifest (``examples.feedback`` and the ``feedback`` section).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import struct
import sys
import time
from array import array
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from nlp import labelled
from nlp import text as text_module
from nlp.classify import (
    FORMAT,
    MANIFEST_FILE,
    MODEL_FILE,
    Classifier,
    LinearModel,
    expand,
    save_model,
)
from nlp.corpora import (
    EXAMPLES_DIR,
    Example,
    Loader,
    PreparedCache,
    Progress,
    Source,
    TrainingError,
    prepare_fingerprint,
    sha256_file,
    text_key,
)
from nlp.labelled import Item
from nlp.labels import POLARITY, TOPIC_CODES, map_label, mapping_report
from nlp.metrics import Metrics, measure
from nlp.metrics import score as score  # callers import it from here

logger = logging.getLogger(__name__)


# --- recipes -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recipe:
    """What one task trains on, how, and what it is measured on."""

    task: str
    train: tuple[Source, ...]
    tests: tuple[tuple[str, Source], ...]  # (split name, rows)
    examples: str  # domain examples file in the examples directory
    example_repeat: int  # domain examples are few but closest to real use: weigh them up
    max_per_label: int | None  # cap per label over all corpora (domain examples not counted)
    # n-grams in fewer training texts than this are left out. This, not max_features, bounds the
    # vocabulary: a max_features cut breaks ties among equally frequent n-grams at random, and the
    # rebuilt model would differ from run to run.
    min_df: int
    c: float
    max_features: int = 10_000_000
    # The labelled corpus (nlp/data/labelled, train split) is the in-domain source: real news and
    # comments labelled by LABELS.md. Its items are weighed like this many corpus rows each.
    labelled_repeat: int = 6


RECIPES: dict[str, Recipe] = {
    "topic": Recipe(
        task="topic",
        train=(
            Source("topic_vntc10_train", per_label=3000),
            Source("topic_vnexpress_train", per_label=3000),
            Source("topic_baomoi29", per_label=2500),
        ),
        tests=(
            ("VNTC test (mapped)", Source("topic_vntc10_test")),
            ("VnExpress test (mapped)", Source("topic_vnexpress_test")),
        ),
        examples="topic_examples.jsonl",
        example_repeat=10,
        max_per_label=4000,
        min_df=20,  # 2.5 MB; 15 gives 3.2 MB, 10 gives 4.9 MB, all within noise of each other
        c=1.0,
    ),
    "sentiment": Recipe(
        task="sentiment",
        train=(
            Source("sentiment_vlsp2016_train", repeat=2),
            Source("sentiment_vnexpress_comments", part="train"),
            Source("sentiment_uit_vsfc_train", per_label=1500),
        ),
        tests=(
            ("VLSP 2016 test", Source("sentiment_vlsp2016_test")),
            (
                "VnExpress comments held-out (1 in 5)",
                Source("sentiment_vnexpress_comments", part="test"),
            ),
            ("UIT-VSFC test", Source("sentiment_uit_vsfc_test")),
        ),
        examples="sentiment_news.jsonl",
        example_repeat=8,
        max_per_label=None,
        min_df=3,  # 1.1 MB; 2 doubles the size for no gain on any split
        c=0.3,
        # news tone on news, complaint tone on comments: the labelled corpus is the only source
        # of either, against ~17,000 product reviews and student feedback
        labelled_repeat=20,
    ),
}
DOMAIN_TEST = "domain examples held-out (1 in 5)"
# The acceptance figures (macro-F1); eval reports whether they are met.
TARGETS: dict[tuple[str, str], float] = {
    ("topic", "VNTC test (mapped)"): 0.85,
    ("sentiment", "VLSP 2016 test"): 0.70,
}


# --- assembling a training set ------------------------------------------------------------------


def _cap(examples: list[Example], per_label: int | None) -> list[Example]:
    """At most ``per_label`` of each label, taken in turn from each corpus so none crowds out."""
    if per_label is None:
        return examples
    out: list[Example] = []
    by_label: dict[str, dict[str, list[Example]]] = defaultdict(lambda: defaultdict(list))
    for ex in examples:
        by_label[ex.label][ex.provenance].append(ex)
    for sources in by_label.values():
        queues = [list(reversed(rows)) for _, rows in sorted(sources.items())]
        taken = 0
        while taken < per_label and any(queues):
            for queue in queues:
                if queue and taken < per_label:
                    out.append(queue.pop())
                    taken += 1
    return out


FEEDBACK = "analyst feedback"  # the provenance of analysts' corrections
LABELLED = "labelled corpus"  # the provenance of nlp/data/labelled


@dataclass
class FeedbackUse:
    """What became of the analysts' corrections given to ``train``."""

    given: int = 0
    used: int = 0
    # unknown_label, empty, duplicate (an earlier one with the same text), test_duplicate
    skipped: dict[str, int] = field(default_factory=dict)
    replaced: int = 0  # corpus or domain examples with the same text, left out for the correction
    sha256: str | None = None  # of the (text key, label) pairs used


def feedback_examples(
    task: str, feedback: Sequence[tuple[str, str, str]], progress: Progress | None = None
) -> tuple[list[Example], FeedbackUse]:
    """Analysts' corrections as examples: labels mapped onto the task's, texts prepared as in use.

    A label the task does not have (a topic code only the configuration knows) is skipped with a
    warning; of two corrections of the same text, the later one counts.
    """
    table = TOPIC_CODES if task == "topic" else POLARITY
    use, skipped, unknown = FeedbackUse(given=len(feedback)), Counter[str](), Counter[str]()
    chosen: dict[str, tuple[str, str, str]] = {}
    for title, body, raw in feedback:
        label = map_label(table, raw)
        if label is None:
            unknown[raw] += 1
        elif not (title.strip() or body.strip()):
            skipped["empty"] += 1
        else:
            skipped["duplicate"] += text_key(title, body) in chosen
            chosen[text_key(title, body)] = (title, body, label)
    if unknown:
        skipped["unknown_label"] = sum(unknown.values())
        logger.warning(
            "%s: %d analyst correction(s) skipped, labels the model does not have: %s",
            task,
            skipped["unknown_label"],
            ", ".join(f"{label!r} ({n})" for label, n in sorted(unknown.items())),
        )
    examples: list[Example] = []
    for done, (key, (title, body, label)) in enumerate(chosen.items(), 1):
        words = text_module.prepare(title, body).words
        if words.strip():
            examples.append(Example(words, label, FEEDBACK, key))
        else:
            skipped["empty"] += 1
        if progress:
            progress("segmenting analyst feedback", done, len(chosen))
    use.skipped = {reason: n for reason, n in sorted(skipped.items()) if n}
    return examples, use


@dataclass
class TrainingSet:
    """Examples to fit on (repeats included), and what was left out and why."""

    examples: list[Example]
    repeats: dict[str, int]  # provenance -> how many times each of its examples is repeated
    dropped_as_test_duplicates: int
    feedback: FeedbackUse = field(default_factory=FeedbackUse)


def training_set(
    recipe: Recipe,
    loader: Loader,
    test_keys: set[str],
    feedback: Sequence[Example] = (),
    use: FeedbackUse | None = None,
    labelled: Sequence[Example] = (),
) -> TrainingSet:
    """The corpora sampled, capped and de-duplicated against the tests, plus domain examples, the
    labelled corpus's training split (``labelled``) and analysts' corrections (``feedback``, from
    ``feedback_examples``; ``use`` is filled in)."""
    use = use or FeedbackUse(given=len(feedback))
    corpora: list[Example] = []
    # corrections weigh most: above the labelled corpus, which weighs above the public corpora
    repeats = {
        recipe.examples: recipe.example_repeat,
        LABELLED: recipe.labelled_repeat,
        FEEDBACK: 2 * recipe.labelled_repeat,
    }
    for source in recipe.train:
        corpora.extend(loader.corpus(recipe.task, source))
        repeats[source.stem] = source.repeat
    seen: set[str] = set()
    kept: list[Example] = []
    for ex in corpora:
        if ex.key not in test_keys and ex.key not in seen:
            seen.add(ex.key)
            kept.append(ex)
    dropped = sum(1 for ex in corpora if ex.key in test_keys)
    kept = _cap(kept, recipe.max_per_label)
    kept += [
        ex for ex in loader.domain(recipe.task, recipe.examples, "train") if ex.key not in test_keys
    ]
    # a labelled row replaces the same row taken from its public corpus (with its mapped label)
    labelled_keys = {ex.key for ex in labelled}
    kept = [ex for ex in kept if ex.key not in labelled_keys]
    kept += [ex for ex in labelled if ex.key not in test_keys]
    corrected = [ex for ex in feedback if ex.key not in test_keys]
    if len(corrected) < len(feedback):
        use.skipped["test_duplicate"] = len(feedback) - len(corrected)
    # an analyst's label of a text outranks the corpus's or the examples' label of the same text
    keys = {ex.key for ex in corrected}
    use.replaced = sum(ex.key in keys for ex in kept)
    kept = [ex for ex in kept if ex.key not in keys] + corrected
    use.used = len(corrected)
    pairs = "\n".join(sorted(f"{ex.key}\t{ex.label}" for ex in corrected))
    use.sha256 = hashlib.sha256(pairs.encode()).hexdigest() if corrected else None
    examples = [ex for ex in kept for _ in range(repeats.get(ex.provenance, 1))]
    return TrainingSet(examples, repeats, dropped, use)


LABELLED_TESTS = {"news": "labelled test: news", "social": "labelled test: social"}


@dataclass
class Labelled:
    """The labelled corpus as training reads it: items per split and their prepared words."""

    parts: dict[str, list[Item]]
    words: dict[str, str]  # item id -> prepared words

    @property
    def keys(self) -> set[str]:
        """Text keys of every labelled row."""
        return {it.key for items in self.parts.values() for it in items}

    def examples(self, task: str, split: str, kind: str | None = None) -> list[Example]:
        """One split's items as examples of ``task`` (topic: the primary topic)."""
        return [
            Example(self.words[it.id], _labelled_value(task, it), LABELLED, it.key)
            for it in self.parts.get(split, [])
            if (kind is None or it.kind == kind) and self.words[it.id].strip()
        ]


def _labelled_value(task: str, item: Item) -> str:
    if task == "topic":
        return item.label.topic
    if task == "sentiment":
        return item.label.sentiment
    return item.label.learnt_severity


def read_labelled(paths: Paths, loader: Loader) -> Labelled:
    """The labelled corpus with its texts prepared (cached); empty with a warning if absent."""
    try:
        items = labelled.load(paths.data_dir, paths.labels)
    except TrainingError as exc:
        logger.warning("training without the labelled corpus: %s", exc)
        return Labelled({}, {})
    by_file: dict[str, dict[int, tuple[str, str]]] = defaultdict(dict)
    for it in items:
        by_file[it.file][it.row] = (it.title, it.text)
    words: dict[str, str] = {}
    for stem, rows in sorted(by_file.items()):
        prepared = loader.rows(stem, rows, labelled.TEXT_ORIGINS.get(stem, ""))
        words.update({f"{stem}:{row}": w for row, w in prepared.items()})
    return Labelled(labelled.by_split(items), words)


def test_splits(
    recipe: Recipe, loader: Loader, corpus: Labelled | None = None
) -> dict[str, list[Example]]:
    """The recipe's test splits that exist in the data directory, by name, and the labelled
    corpus's test split by kind. Labelled rows are left out of the public corpora's splits."""
    exclude = corpus.keys if corpus else set()
    splits: dict[str, list[Example]] = {}
    for name, source in recipe.tests:
        try:
            rows = loader.corpus(recipe.task, source)
        except TrainingError as exc:
            logger.warning("test split %r skipped: %s", name, exc)
            continue
        splits[name] = [ex for ex in rows if ex.key not in exclude]
    held = loader.domain(recipe.task, recipe.examples, "test")
    if held:
        splits[DOMAIN_TEST] = held
    for kind, name in LABELLED_TESTS.items():
        if corpus and (rows := corpus.examples(recipe.task, "test", kind)):
            splits[name] = rows
    return splits


# --- fitting and exporting ----------------------------------------------------------------------


def _read_text_classifier(path: Path, classes: Sequence[str]) -> LinearModel:
    """Vocabulary, IDF and weights out of a saved underthesea_core ``TextClassifier``.

    Its binary layout (bincode, underthesea_core 3.x) is: vocabulary map (string -> u32 index),
    IDF (f32 list), vectorizer settings, then the SVM: weights (f32, label-major), biases, labels,
    n_features, n_labels, c (f32), max_iter (u64), tol (f32), preprocessor (None). Every length is
    checked, and ``fit`` compares the exported model's predictions with the Rust ones.
    """
    data = path.read_bytes()
    try:
        vocab, pos = {}, 8
        for _ in range(struct.unpack_from("<Q", data, 0)[0]):
            (size,) = struct.unpack_from("<Q", data, pos)
            word = data[pos + 8 : pos + 8 + size].decode()
            (index,) = struct.unpack_from("<I", data, pos + 8 + size)
            vocab[word], pos = index, pos + 12 + size
        (n_idf,) = struct.unpack_from("<Q", data, pos)
        idf = array("f", data[pos + 8 : pos + 8 + 4 * n_idf])
        if data[-1] != 0:
            raise TrainingError("a TextClassifier with a preprocessor is not supported")
        end = len(data) - 1 - 4 - 8 - 4  # tol, max_iter, c
        n_labels, n_features = struct.unpack_from("<QQ", data, end - 16)[::-1]
        end -= 16 + 8 + sum(8 + len(c.encode()) for c in classes)
        end -= 8 + 4 * n_labels
        (n_bias,) = struct.unpack_from("<Q", data, end)
        bias = struct.unpack_from(f"<{n_labels}f", data, end + 8)
        end -= 8 + 4 * n_labels * n_features
        (n_weights,) = struct.unpack_from("<Q", data, end)
        flat = array("f", data[end + 8 : end + 8 + 4 * n_weights])
    except (struct.error, UnicodeDecodeError) as exc:
        raise TrainingError(f"{path}: unexpected TextClassifier layout ({exc})") from exc
    sizes = (len(vocab), n_idf, n_features, n_labels, n_bias, n_weights)
    if sizes != (n_features, n_features, n_features, len(classes), n_labels, n_labels * n_features):
        raise TrainingError(f"{path}: unexpected TextClassifier layout (sizes {sizes})")
    if sys.byteorder == "big":
        idf.byteswap()
        flat.byteswap()
    # the Rust indices follow a hash map's order; sorted features make a rebuilt file comparable
    order = sorted(vocab, key=lambda f: f.encode())
    rows = [vocab[f] for f in order]
    return LinearModel(
        labels=tuple(classes),
        vocab={f: i for i, f in enumerate(order)},
        idf=array("f", (idf[j] for j in rows)),
        weights=tuple(
            array("f", (flat[k * n_features + j] for j in rows)) for k in range(n_labels)
        ),
        bias=tuple(bias),
        min_token_length=1,  # unlike the stand-alone TfIdfVectorizer it keeps "." and "1"
    )


def _fit(recipe: Recipe, examples: Sequence[Example], work: Path) -> tuple[LinearModel, Any]:
    """Fit the Rust classifier and export it; returns the exported model and the Rust one."""
    from underthesea_core import TextClassifier

    if len({ex.label for ex in examples}) < 2:
        raise TrainingError("fewer than two labels to train on")
    rust = TextClassifier(
        max_features=recipe.max_features,
        ngram_range=(1, 2),
        min_df=recipe.min_df,
        max_df=1.0,
        c=recipe.c,
        max_iter=1000,
        tol=0.1,
    )
    rust.fit([expand(ex.words) for ex in examples], [ex.label for ex in examples])
    path = work / "textclassifier.tmp"
    rust.save(str(path))
    try:
        return _read_text_classifier(path, list(rust.classes)), rust
    finally:
        path.unlink(missing_ok=True)


def _calibrate(model: LinearModel, examples: Sequence[Example]) -> float:
    """The softmax temperature that best fits held-out examples (negative log-likelihood)."""
    index = {label: k for k, label in enumerate(model.labels)}
    rows = [
        (model.decision(expand(ex.words)), index[ex.label]) for ex in examples if ex.label in index
    ]
    if len(rows) < 20:
        return 1.0

    def loss(t: float) -> float:
        total = 0.0
        for decision, gold in rows:
            top = max(decision)
            z = sum(math.exp((d - top) / t) for d in decision)
            total += math.log(z) - (decision[gold] - top) / t
        return total

    grid = [0.02 * 1.25**i for i in range(25)]  # 0.02 ... ~4
    return min(grid, key=loss)


def _calibration_slice(ex: Example) -> bool:
    # digits of the key that the 1-in-5 test split does not look at
    return int(ex.key[:6], 16) % 10 == 0


def _agreement(model: LinearModel, rust: Any, examples: Sequence[Example]) -> float:
    texts = [expand(ex.words) for ex in examples[:3000]]
    if not texts:
        return 1.0
    ours = [
        model.labels[max(range(len(model.labels)), key=d.__getitem__)]
        for d in map(model.decision, texts)
    ]
    return sum(a == b for a, b in zip(ours, rust.predict_batch(texts), strict=True)) / len(texts)


# --- the two entry points -----------------------------------------------------------------------


@dataclass
class Paths:
    """Where data comes from and where models and the cache go."""

    data_dir: Path
    models_dir: Path
    examples_dir: Path = EXAMPLES_DIR
    cache_dir: Path | None = None
    labels: Path = labelled.LABELLED_DIR / labelled.LABELS_FILE


@dataclass
class TrainResult:
    """A trained task: its manifest (as written) and its test metrics."""

    task: str
    manifest: dict[str, Any]
    metrics: list[Metrics]
    seconds: float


def _loader(paths: Paths, workers: int, progress: Progress | None) -> Loader:
    return Loader(
        paths.data_dir, paths.examples_dir, PreparedCache(paths.cache_dir, workers, progress)
    )


def train(
    task: str,
    paths: Paths,
    *,
    feedback: Sequence[tuple[str, str, str]] = (),
    workers: int = 1,
    progress: Progress | None = None,
) -> TrainResult:
    """Build the task's training set, fit, export, measure and write model + manifest.

    ``feedback``: analysts' corrections as (title, text, label), trained on like domain examples.
    """
    started = time.monotonic()
    recipe = RECIPES[task]
    loader = _loader(paths, workers, progress)
    corpus = read_labelled(paths, loader)
    tests = test_splits(recipe, loader, corpus)
    # the labelled development split stays unseen: severity's thresholds are chosen on it
    test_keys = {ex.key for rows in tests.values() for ex in rows}
    test_keys |= {it.key for it in corpus.parts.get("dev", [])}
    corrected, use = feedback_examples(task, feedback, progress)
    data = training_set(
        recipe, loader, test_keys, corrected, use, labelled=corpus.examples(task, "train")
    )
    out = paths.models_dir / task
    out.mkdir(parents=True, exist_ok=True)
    fit_part = [ex for ex in data.examples if not _calibration_slice(ex)]
    held = [ex for ex in {ex.key: ex for ex in data.examples if _calibration_slice(ex)}.values()]
    logger.info(
        "%s: fitting on %d examples (%d kept for calibration)", task, len(fit_part), len(held)
    )
    draft, _ = _fit(recipe, fit_part, out)
    temperature = _calibrate(draft, held)
    model, rust = _fit(recipe, data.examples, out)
    model = replace(model, temperature=temperature)
    agreement = _agreement(model, rust, [ex for rows in tests.values() for ex in rows])
    if agreement < 0.995:
        raise TrainingError(f"exported model agrees with underthesea_core on only {agreement:.1%}")
    metrics = measure(Classifier.from_model(model), tests)
    # both files are replaced only once both are written: a failed run leaves the old pair
    save_model(model, out / f"{MODEL_FILE}.tmp")
    manifest = _manifest(recipe, loader, data, model, metrics, out / f"{MODEL_FILE}.tmp")
    manifest["exported_agrees_with_underthesea_core"] = round(agreement, 5)
    manifest["training_seconds"] = round(time.monotonic() - started)
    (out / f"{MANIFEST_FILE}.tmp").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    os.replace(out / f"{MODEL_FILE}.tmp", out / MODEL_FILE)
    os.replace(out / f"{MANIFEST_FILE}.tmp", out / MANIFEST_FILE)
    return TrainResult(task, manifest, metrics, time.monotonic() - started)


def _manifest(
    recipe: Recipe,
    loader: Loader,
    data: TrainingSet,
    model: LinearModel,
    metrics: list[Metrics],
    model_path: Path,
) -> dict[str, Any]:
    from importlib.metadata import version as package_version

    model_hash = sha256_file(model_path)
    today = date.today().isoformat()
    per_provenance: dict[str, Counter[str]] = defaultdict(Counter)
    for ex in {(ex.key, ex.provenance): ex for ex in data.examples}.values():
        per_provenance[ex.provenance][ex.label] += 1
    return {
        "task": recipe.task,
        "version": f"{recipe.task}-{today}-{model_hash[:8]}",
        "date": today,
        "model_file": MODEL_FILE,
        "model_sha256": model_hash,
        "model_bytes": model_path.stat().st_size,
        "format": FORMAT,
        "labels": list(model.labels),
        "trained_with": {
            "underthesea_core": package_version("underthesea_core"),
            "prepare": {"max_chars": text_module.MAX_CHARS, "code": prepare_fingerprint()},
            "features": "nlp.classify.expand(prepare(title, text).words): words + syllables",
        },
        "hyperparameters": {
            "classifier": "underthesea_core.TextClassifier (TF-IDF + linear SVM)",
            "max_features": recipe.max_features,
            "ngram_range": [1, 2],
            "min_df": recipe.min_df,
            "max_df": 1.0,
            "c": recipe.c,
            "max_iter": 1000,
            "tol": 0.1,
            "softmax_temperature": round(model.temperature, 4),
            "max_per_label": recipe.max_per_label,
            "repeats": data.repeats,
            "sources": [
                {"file": s.stem, "part": s.part, "per_label": s.per_label, "repeat": s.repeat}
                for s in recipe.train
            ],
        },
        "data_files": [
            {"file": f.file, "sha256": f.sha256, "origin": f.origin}
            for f in sorted(loader.files.values(), key=lambda f: f.file)
        ],
        "label_map": mapping_report(recipe.task),
        "examples": {
            "total_with_repeats": len(data.examples),
            "per_label_with_repeats": dict(
                sorted(Counter(ex.label for ex in data.examples).items())
            ),
            "per_label": dict(sorted(sum(per_provenance.values(), Counter()).items())),
            "per_provenance": {p: sum(c.values()) for p, c in sorted(per_provenance.items())},
            "per_provenance_label": {
                p: dict(sorted(c.items())) for p, c in sorted(per_provenance.items())
            },
            "dropped_as_duplicates_of_test_rows": data.dropped_as_test_duplicates,
            "feedback": data.feedback.used,
        },
        "feedback": {
            "origin": "analysts' corrections stored by the monitor (latest per item)",
            "given": data.feedback.given,
            "used": data.feedback.used,
            "repeat": data.repeats[FEEDBACK],
            "skipped": data.feedback.skipped,
            "replaced_examples": data.feedback.replaced,
            "sha256": data.feedback.sha256,
        },
        "metrics": {m.split: m.as_dict() for m in metrics},
        "notes": [
            "Test splits are never trained on: rows whose raw text also occurs in a test split are dropped from training.",
            "The VnExpress comments and the domain examples are split 4:1 by a hash of their text; the 1/5 is the test split.",
            "macro_f1 is averaged over the gold labels present in a split; predictions of other labels count as errors.",
            "Unmappable corpus labels are dropped; see label_map (null = dropped) and nlp/labels.py for the reasons.",
            f"Analysts' corrections (provenance {FEEDBACK!r}) are weighed like the domain examples, replace an example with the same text, and are never tested on.",
        ],
    }


def evaluate(
    task: str, paths: Paths, *, workers: int = 1, progress: Progress | None = None
) -> tuple[str, list[Metrics]]:
    """Measure the model in ``paths.models_dir`` on the task's test splits: (version, metrics)."""
    classifier = Classifier(paths.models_dir / task)
    loader = _loader(paths, workers, progress)
    splits = test_splits(RECIPES[task], loader, read_labelled(paths, loader))
    if not splits:
        raise TrainingError(f"no test split found under {paths.data_dir}")
    return classifier.version, measure(classifier, splits)
