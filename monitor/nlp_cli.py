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
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table

from monitor.cli_support import err, fail
from monitor.configfile import load_settings
from monitor.errors import ConfigError, StorageError
from monitor.feedback import training_feedback
from nlp.classify import MODELS_DIR, ModelError
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
    str, typer.Option("--task", "-t", help=f"{' | '.join(RECIPES)} | all", show_default=True)
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
FeedbackOption = Annotated[
    bool | None,
    typer.Option(
        "--feedback/--no-feedback",
        help="Train on analysts' corrections from the configured database. Default: when it "
        "can be read (a warning otherwise); --feedback fails if it cannot.",
        show_default=False,
    ),
]


def _tasks(task: str) -> list[str]:
    if task == "all":
        return list(RECIPES)
    if task not in RECIPES:
        fail(f"--task must be one of {', '.join(RECIPES)}, all (got {task!r})", 2)
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
                result = train(
                    name,
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


@nlp_cli.command("eval")
def eval_command(
    task: TaskOption = "all",
    data: DataOption = DEFAULT_DATA,
    models: ModelsOption = MODELS_DIR,
    examples: ExamplesOption = EXAMPLES_DIR,
    cache: CacheOption = DEFAULT_CACHE,
    workers: WorkersOption = DEFAULT_WORKERS,
) -> None:
    """Measure the models on test splits they never saw: per-label P/R/F1 and confusion."""
    paths = _paths(data, models, examples, cache)
    summary: list[tuple[str, Metrics]] = []
    for name in _tasks(task):
        try:
            with Progress(console=err, transient=True) as progress:
                version, results = evaluate(name, paths, workers=workers, progress=_Bar(progress))
        except (TrainingError, ModelError, OSError) as exc:
            fail(f"{name}: {exc}", 1)
        console.print(f"\n[bold]{name}[/bold]: {version} ({models / name})")
        for metrics in results:
            print_metrics(metrics)
            summary.append((name, metrics))
    print_summary(summary)
