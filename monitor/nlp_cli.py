"""``monitor nlp train`` / ``monitor nlp eval``: rebuild and measure the shipped classifiers.

``train`` also learns from analysts' corrections (``monitor.feedback``) stored in the configured
database. It reads only that database, not the whole application: the analyser the application
builds loads the very models being rebuilt, which may be missing. A database that cannot be read
(absent, unreachable, not migrated) is a warning and training goes on without the corrections,
unless ``--feedback`` asked for them.

Exit codes as for every ``monitor`` command: 0 ok, 1 failure, 2 bad usage.
"""

from __future__ import annotations

import logging
import os
import sys
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table

from monitor.bootstrap import build_analyser, build_places
from monitor.cli_support import err, fail
from monitor.configfile import load_settings
from monitor.errors import ConfigError, StorageError
from monitor.feedback import training_feedback
from nlp import judgement, labelled
from nlp.classify import MODELS_DIR, ModelError
from nlp.places import PlaceMatcher
from nlp.relevance_training import train_relevance
from nlp.severity_training import train_severity
from nlp.text import prepare
from nlp.training import (
    EXAMPLES_DIR,
    RECIPES,
    TARGETS,
    Metrics,
    Paths,
    TrainingError,
    evaluate,
    train,
)

Feedback = dict[str, list[tuple[str, str, str]]]  # task -> (title, text, label)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_CACHE = REPO / "data" / "cache"
DEFAULT_WORKERS = min(2, os.cpu_count() or 1)

logger = logging.getLogger(__name__)
# wide enough for a 15-label confusion matrix when the output goes to a file or a pipe
console = Console(width=None if sys.stdout.isatty() else 200)
nlp_cli = typer.Typer(
    no_args_is_help=True, help="Train and measure the topic and sentiment classifiers."
)

TaskOption = Annotated[
    str,
    typer.Option(
        "--task", "-t", help="topic | sentiment | relevance | severity | all", show_default=True
    ),
]
DataOption = Annotated[
    Path, typer.Option("--data", help="Directory of the labelled corpora (*.jsonl.gz).")
]
ModelsOption = Annotated[
    Path, typer.Option("--models", help="Directory holding <task>/model.bin and manifest.json.")
]
ExamplesOption = Annotated[
    Path, typer.Option("--examples", help="Directory of the domain example files.")
]
CacheOption = Annotated[
    Path, typer.Option("--cache", help="Where segmented texts are cached between runs.")
]
WorkersOption = Annotated[
    int, typer.Option("--workers", "-w", min=1, help="Processes segmenting texts.")
]
DocsOption = Annotated[
    Path | None,
    typer.Option(
        "--docs", help="Write the reliability diagram and severity confusion matrix (PNG) here."
    ),
]
FeedbackOption = Annotated[
    bool | None,
    typer.Option(
        "--feedback/--no-feedback",
        help="Train on analysts' corrections from the configured database. Default: when it "
        "can be read (a warning otherwise); --feedback fails if it cannot.",
        show_default=False,
    ),
]


# severity last: it reads the topic and tone models' scores
TASKS = (*RECIPES, "relevance", "severity")


def _tasks(task: str) -> list[str]:
    if task == "all":
        return list(TASKS)
    if task not in TASKS:
        fail(f"--task must be one of {', '.join(TASKS)}, all (got {task!r})", 2)
    return [task]


def _paths(data: Path, models: Path, examples: Path, cache: Path) -> Paths:
    if not data.is_dir():
        fail(f"--data {data}: no such directory", 2)
    return Paths(data_dir=data, models_dir=models, examples_dir=examples, cache_dir=cache)


def _short(label: str) -> str:
    """policy_governance -> pol_gov: keeps a 15-column confusion matrix readable."""
    return "_".join(part[:3] for part in label.split("_"))


def print_metrics(metrics: Metrics) -> None:
    """Per-label precision/recall/F1 and the confusion matrix of one split."""
    console.print(
        f"\n[bold]{metrics.split}[/bold]: n={metrics.n}, accuracy {metrics.accuracy:.3f}, "
        f"macro-F1 {metrics.macro_f1:.3f}"
    )
    table = Table("label", "precision", "recall", "F1", "support")
    for label, m in metrics.per_label.items():
        table.add_row(
            label,
            f"{m['precision']:.3f}",
            f"{m['recall']:.3f}",
            f"{m['f1']:.3f}",
            f"{m['support']:.0f}",
        )
    console.print(table)
    predicted = sorted(
        {p for row in metrics.confusion.values() for p in row} | set(metrics.confusion)
    )
    matrix = Table(
        "gold \\ predicted", *map(_short, predicted), title="confusion matrix", title_justify="left"
    )
    for gold, row in metrics.confusion.items():
        matrix.add_row(_short(gold), *(str(row[p]) if row.get(p) else "." for p in predicted))
    console.print(matrix)
    if metrics.note:
        console.print(f"note: {metrics.note}")


def print_summary(results: list[tuple[str, Metrics]]) -> None:
    """One line per task and split, with the issue's target where there is one."""
    table = Table("task", "split", "n", "accuracy", "macro-F1", "target", title="summary")
    for task, m in results:
        target = TARGETS.get((task, m.split))
        verdict = (
            ""
            if target is None
            else f"{target:.2f} " + ("met" if m.macro_f1 >= target else "NOT met")
        )
        table.add_row(task, m.split, str(m.n), f"{m.accuracy:.3f}", f"{m.macro_f1:.3f}", verdict)
    console.print()
    console.print(table)


class _Bar:
    """A progress callback for segmentation, shown on stderr."""

    def __init__(self, progress: Progress) -> None:
        self.progress, self.tasks = progress, dict[str, TaskID]()

    def __call__(self, what: str, done: int, total: int) -> None:
        if what not in self.tasks:
            self.tasks[what] = self.progress.add_task(what, total=total)
        self.progress.update(self.tasks[what], completed=done)


def read_feedback(ctx: typer.Context, wanted: bool | None, tasks: list[str]) -> Feedback:
    """Analysts' corrections per task from the configured database, as ``--feedback`` asks."""
    if wanted is False:
        return {}
    try:
        return training_feedback(load_settings((ctx.obj or {}).get("config")), tasks)
    except ConfigError as exc:
        problem, code = str(exc), 2
    except StorageError as exc:
        problem, code = str(exc), 1
    if wanted:
        fail(f"--feedback: analysts' corrections cannot be read: {problem}", code)
    err.print(
        f"[yellow]warning:[/yellow] training without analysts' corrections: {problem} "
        "(--no-feedback: do not read them)",
        highlight=False,
    )
    return {}


def _feedback_line(manifest: dict[str, Any], read: bool) -> str:
    if not read:
        return "analysts' corrections: not read"
    used = manifest["feedback"]
    skipped = ", ".join(f"{why} {n}" for why, n in used["skipped"].items())
    return f"analysts' corrections: {used['used']} of {used['given']} used" + (
        f" (skipped: {skipped})" if skipped else ""
    )


@nlp_cli.command("train")
def train_command(
    ctx: typer.Context,
    task: TaskOption = "all",
    data: DataOption = DEFAULT_DATA,
    models: ModelsOption = MODELS_DIR,
    examples: ExamplesOption = EXAMPLES_DIR,
    cache: CacheOption = DEFAULT_CACHE,
    workers: WorkersOption = DEFAULT_WORKERS,
    feedback: FeedbackOption = None,
) -> None:
    """Rebuild the models from the corpora, domain examples and analysts' corrections; print
    their test metrics."""
    paths = _paths(data, models, examples, cache)
    tasks = _tasks(task)
    corrections = read_feedback(ctx, feedback, tasks)
    summary: list[tuple[str, Metrics]] = []
    for name in tasks:
        try:
            with Progress(console=err, transient=True) as progress:
                if name == "relevance":
                    result = train_relevance(paths, _places(ctx))
                else:
                    result = (train_severity if name == "severity" else partial(train, name))(
                        paths,
                        feedback=corrections.get(name, ()),
                        workers=workers,
                        progress=_Bar(progress),
                    )
        except (TrainingError, ModelError, OSError) as exc:
            fail(f"{name}: {exc}", 1)
        manifest = result.manifest
        console.print(
            f"[bold]{name}[/bold]: {manifest['version']}, {manifest['examples']['total_with_repeats']} "
            f"training examples, model {manifest['model_bytes'] / 1e6:.1f} MB, "
            f"{result.seconds:.0f} s -> {models / name}"
        )
        console.print(f"{name}: {_feedback_line(manifest, name in corrections)}")
        for metrics in result.metrics:
            print_metrics(metrics)
            summary.append((name, metrics))
    print_summary(summary)


def _places(ctx: typer.Context) -> PlaceMatcher:
    try:
        return build_places(load_settings((ctx.obj or {}).get("config")))
    except ConfigError as exc:
        fail(str(exc), 2)


def judgement_report(ctx: typer.Context, paths: Paths, docs: Path | None) -> None:
    """The whole analyser on the labelled test split: the office's figures, per kind of text."""
    try:
        settings = load_settings((ctx.obj or {}).get("config"))
        analyser = build_analyser(settings, classify_all=True, models_dir=paths.models_dir)
        items = labelled.by_split(labelled.load(paths.data_dir, paths.labels))["test"]
    except ConfigError as exc:
        fail(str(exc), 2)
    except (TrainingError, ModelError, OSError) as exc:
        fail(f"judgement: {exc}", 1)
    severity = analyser.severity  # type: ignore[attr-defined]

    def flag_probability(item: labelled.Item) -> float:
        prepared = prepare(item.title, item.text)
        topic = analyser.topic.predict(prepared.words)[1]  # type: ignore[attr-defined]
        tone = analyser.sentiment.predict(prepared.words)[1]  # type: ignore[attr-defined]
        features = severity.features(
            prepared.text, prepared.words, title=item.title, kind=item.kind,
            topic_scores=topic, sentiment_scores=tone,
        )  # fmt: skip
        return float(severity.model.probabilities(features)["alert"])

    with err.status(f"analysing {len(items)} labelled test items"):
        outcomes = judgement.judge(analyser, items, flag_probability)
    figures = judgement.report(outcomes)
    console.print(f"\n[bold]judgement[/bold]: {analyser.version} on the labelled test split")
    table = Table("figure", *figures, "target", title="labelled test split (never trained on)")
    for name in judgement.ROWS:
        target = judgement.TARGETS.get(name) or judgement.TARGETS.get(f"{name} news")
        cells = [_cell(figures[kind].get(name)) for kind in figures]
        table.add_row(name, *cells, "" if target is None else f">= {target:.2f}")
    console.print(table)
    confusion = Table("labelled \\ predicted", *judgement.LEVELS, title="severity (all kinds)")
    for gold, row in figures["all"]["severity confusion"].items():
        confusion.add_row(gold, *(str(row.get(p, 0)) for p in judgement.LEVELS))
    console.print(confusion)
    if docs is not None:
        for path in judgement.plot(outcomes, docs):
            console.print(f"wrote {path}")


def _cell(value: object) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


@nlp_cli.command("eval")
def eval_command(
    ctx: typer.Context,
    task: TaskOption = "all",
    data: DataOption = DEFAULT_DATA,
    models: ModelsOption = MODELS_DIR,
    examples: ExamplesOption = EXAMPLES_DIR,
    cache: CacheOption = DEFAULT_CACHE,
    workers: WorkersOption = DEFAULT_WORKERS,
    docs: DocsOption = None,
) -> None:
    """Measure the models on test splits they never saw: per-label P/R/F1 and confusion, and
    the whole analyser's judgement on the labelled test split."""
    paths = _paths(data, models, examples, cache)
    summary: list[tuple[str, Metrics]] = []
    tasks = _tasks(task)
    for name in (t for t in tasks if t in RECIPES):
        try:
            with Progress(console=err, transient=True) as progress:
                version, results = evaluate(name, paths, workers=workers, progress=_Bar(progress))
        except (TrainingError, ModelError, OSError) as exc:
            fail(f"{name}: {exc}", 1)
        console.print(f"\n[bold]{name}[/bold]: {version} ({models / name})")
        for metrics in results:
            print_metrics(metrics)
            summary.append((name, metrics))
    if summary:
        print_summary(summary)
    if "severity" in tasks or "relevance" in tasks:
        judgement_report(ctx, paths, docs)
