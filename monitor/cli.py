"""The ``monitor`` command line. Exit codes: 0 ok, 1 failure, 2 bad usage or configuration."""

from __future__ import annotations

import logging
import shutil
import signal
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.logging import RichHandler
from rich.progress import Progress
from rich.table import Table

from monitor import intake, notifier
from monitor.analyze import analyse_lines
from monitor.bootstrap import build_analyser, sync_sources
from monitor.cases_cli import cases_cli
from monitor.cli_support import app_of, console, err, fail, settings_of
from monitor.config import Settings, parse_duration
from monitor.configfile import config_path
from monitor.digest_cli import digest
from monitor.errors import ConfigError, StorageError
from monitor.extract_cli import extract
from monitor.nlp_cli import nlp_cli
from monitor.pipeline import RunReport, crawl_source, enable_sources
from monitor.scheduler import serve
from monitor.storage import db, queries
from monitor.stories_cli import stories_cli
from monitor.surges_cli import surges
from monitor.users_cli import users_cli
from nlp.base import SEVERITIES
from nlp.classify import ModelError

STARTER_CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"
cli = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Media and social-media monitor for a province.",
)
db_cli = typer.Typer(no_args_is_help=True, help="Database schema.")
sources_cli = typer.Typer(no_args_is_help=True, help="Configured sources and their health.")
items_cli = typer.Typer(no_args_is_help=True, help="Collected items.")
cli.add_typer(db_cli, name="db")
cli.add_typer(sources_cli, name="sources")
cli.add_typer(items_cli, name="items")
cli.add_typer(nlp_cli, name="nlp")
cli.command()(extract)
cli.command()(surges)
cli.add_typer(stories_cli, name="stories")
cli.add_typer(cases_cli, name="cases")
notify_cli = typer.Typer(no_args_is_help=True, help="Notification channels.")
cli.add_typer(notify_cli, name="notify")
cli.command()(digest)
cli.add_typer(users_cli, name="users")


def _local(value: datetime | None, settings: Settings) -> str:
    return value.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M") if value else "—"


@cli.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="Config file (default: $MONITOR_CONFIG or ./config.yaml)."
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug detail.")] = False,
) -> None:
    """Watch news and social media about the province; flag what needs a person."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False, rich_tracebacks=True)],
        force=True,
    )
    for noisy in ("httpx", "httpcore", "apscheduler.executors", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)
    ctx.obj = {"config": config}


@cli.command()
def init(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a starter config.yaml (the shipped, documented one) if there is none."""
    target = config_path(ctx.obj["config"])
    if target.exists() and not force:
        console.print(f"{target} already exists; nothing written (use --force to overwrite)")
        return
    if target.resolve() != STARTER_CONFIG:
        shutil.copyfile(STARTER_CONFIG, target)
    console.print(f"wrote {target}")


@db_cli.command("upgrade")
def db_upgrade(ctx: typer.Context, revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Migrate the database schema (to the newest by default)."""
    settings = settings_of(ctx)
    try:
        db.upgrade(db.make_engine(settings.database.url), revision)
    except StorageError as exc:
        fail(str(exc), 1)
    console.print(f"database at {revision}: {settings.database.url}")


@sources_cli.command("list")
def sources_list(ctx: typer.Context) -> None:
    """List sources with their health: last run, failures, items stored."""
    app = app_of(ctx)
    table = Table(
        "id", "kind", "on", "items", "last run", "status", "last success", "fails", "last error"
    )
    for row in queries.sources_health(app.sessions):
        table.add_row(
            row.id,
            row.kind,
            "yes" if row.enabled else "no",
            str(row.items),
            _local(row.last_run_at, app.settings),
            row.last_status or "—",
            _local(row.last_success_at, app.settings),
            str(row.consecutive_failures),
            (row.last_error or "")[:80],
        )
    console.print(table)
    app.close()


_HEALTH_STYLE = {"active": "green", "disabled": "red", "silent": "yellow"}


@sources_cli.command("health")
def sources_health(ctx: typer.Context) -> None:
    """Show each source's health: last success, last new item, failure score, state."""
    app = app_of(ctx)
    table = Table(
        "id", "kind", "state", "score", "last success", "last new item", "fails", "why / last error"
    )
    for row in queries.sources_health(app.sessions):
        state = row.health if row.enabled else "off"
        style = _HEALTH_STYLE.get(state, "dim")
        table.add_row(
            row.id,
            row.kind,
            f"[{style}]{state}[/{style}]",
            f"{row.failure_score:.2f}",
            _local(row.last_success_at, app.settings),
            _local(row.last_new_item_at, app.settings),
            str(row.consecutive_failures),
            (row.health_reason or row.last_error or "")[:90],
        )
    console.print(table)
    app.close()


@sources_cli.command("enable")
def sources_enable(
    ctx: typer.Context, source_ids: Annotated[list[str], typer.Argument(metavar="ID...")]
) -> None:
    """Put disabled or silent sources back to work (clean score; their cases are resolved)."""
    app = app_of(ctx)
    try:
        changed = enable_sources(app, source_ids, actor="cli")
    except KeyError as exc:
        fail(f"unknown source id: {exc.args[0]}", 2)
    for source_id in source_ids:
        console.print(f"{source_id}: {'enabled' if source_id in changed else 'already active'}")
    app.close()


def _report_table(reports: list[RunReport], settings: Settings) -> Table:
    table = Table("source", "status", "fetched", "new", "updated", "errors", "cases", "note")
    for r in sorted(reports, key=lambda r: r.source_id):
        note = r.error or "; ".join(r.warnings)[:120]
        if r.status == "deferred":
            note = f"backing off until {_local(r.deferred_until, settings)} (--force to crawl now)"
        elif r.status == "disabled":
            note = "disabled after repeated failures (`monitor sources enable` or --force)"
        elif r.health:
            note = f"now {r.health}: {r.health_reason}; " + note
        style = {"error": "red", "warning": "yellow", "deferred": "yellow", "disabled": "red"}.get(
            r.status
        )
        table.add_row(
            r.source_id,
            f"[{style}]{r.status}[/{style}]" if style else r.status,
            str(r.fetched),
            str(r.new),
            str(r.updated),
            str(r.errors),
            str(r.cases_opened),
            note,
        )
    return table


@cli.command()
def crawl(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="One pass over the sources, then exit.")
    ] = False,
    source: Annotated[
        list[str] | None, typer.Option("--source", "-s", help="Only this source id (repeatable).")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Crawl sources that are backing off after errors too.")
    ] = False,
) -> None:
    """Crawl the enabled sources once and show what each brought (exit 1 if any failed)."""
    if not once:
        fail("crawl needs --once; `monitor run` keeps crawling on a schedule", 2)
    app = app_of(ctx)
    known = {s.id for s in app.settings.sources}
    unknown = [s for s in source or [] if s not in known]
    if unknown:
        fail(
            f"unknown source id(s): {', '.join(unknown)}; configured: {', '.join(sorted(known)) or 'none'}",
            2,
        )
    chosen = (
        list(dict.fromkeys(source))
        if source
        else [s.id for s in app.settings.sources if s.enabled and s.kind != "manual"]
    )
    reports: list[RunReport] = []
    with (
        Progress(console=err, transient=True) as progress,
        ThreadPoolExecutor(app.settings.scheduler.max_workers) as pool,
    ):
        task = progress.add_task("crawling", total=len(chosen))
        futures = [pool.submit(crawl_source, app, source_id, force=force) for source_id in chosen]
        for future in as_completed(futures):
            reports.append(future.result())
            progress.advance(task)
    console.print(_report_table(reports, app.settings))
    app.close()
    if any(r.status == "error" for r in reports):
        raise typer.Exit(1)


@cli.command()
def run(ctx: typer.Context) -> None:
    """Run the scheduler in the foreground; Ctrl-C stops cleanly."""
    app = app_of(ctx)
    sync_sources(
        app, stale_after=timedelta(0)
    )  # the one long-lived crawler: nothing else is running

    def _stop(signum: int, _frame: FrameType | None) -> None:
        if app.stopping.is_set():
            err.print("stopping now; runs in flight are abandoned and roll back")
            sys.exit(130)
        err.print("stopping after the runs in flight (Ctrl-C again to stop at once)")
        app.stopping.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    serve(app)
    app.close()


@cli.command()
def web(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Listen address (default web.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default web.port).")] = None,
) -> None:
    """Serve the dashboard and JSON API alone (no crawling); Ctrl-C stops."""
    import uvicorn

    from monitor.web.app import create_web, warn_if_no_users

    app = app_of(ctx)
    warn_if_no_users(app)
    host = host or app.settings.web.host
    port = port or app.settings.web.port
    err.print(f"dashboard on http://{host}:{port}/ (create a user with `monitor users add`)")
    uvicorn.run(create_web(app), host=host, port=port, log_config=None, access_log=False)
    app.close()


@cli.command()
def submit(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Argument(help="The page to fetch and extract.")] = None,
    text: Annotated[
        str | None, typer.Option("--text", help="Pasted text instead of (or as well as) a URL.")
    ] = None,
    title: Annotated[str | None, typer.Option(help="Title for pasted text.")] = None,
    kind: Annotated[str, typer.Option(help="news | social | forum | manual")] = "manual",
    by: Annotated[str, typer.Option("--by", help="Who submits it (kept in the audit trail).")] = (
        "cli"
    ),
) -> None:
    """Submit a URL or pasted text as an item: stored, analysed, and a case opened if due."""
    if url is None and text is None:
        fail("give a URL, or --text with the text to submit", 2)
    app = app_of(ctx)
    result = intake.submit(app, url=url, text=text, title=title, kind=kind, submitted_by=by)
    app.close()
    if not result.ok or result.item is None:
        fail(f"not submitted: {result.error}", 1)
    item = result.item
    state = "stored as new item" if result.new else "already stored as item"
    console.print(f"{state} {item.id}: {item.title}")
    console.print(
        f"relevant: {'yes' if item.relevant else 'no'} · severity: {item.severity or '—'} · "
        f"topic: {item.topic or '—'} · sentiment: {item.sentiment or '—'}"
    )
    for reason in item.reasons[:8]:
        console.print(f"  - {reason}")
    if item.case_id is not None:
        console.print(f"case {item.case_id} is open for it")


@notify_cli.command("status")
def notify_status(ctx: typer.Context) -> None:
    """How each notification channel is doing: failures in a row, last error, pending, failed."""
    app = app_of(ctx)
    rows = notifier.channel_health(app.sessions)
    app.close()
    if not rows:
        console.print("no notifications sent yet")
        return
    table = Table(
        "channel",
        "failing in a row",
        "last success",
        "last failure",
        "pending",
        "failed",
        "last error",
    )
    for row in rows:
        style = "red" if row.consecutive_failures >= notifier.FAILING_AFTER else None
        fails = str(row.consecutive_failures)
        table.add_row(
            row.channel,
            f"[{style}]{fails}[/{style}]" if style else fails,
            row.last_success_at or "—",
            row.last_failure_at or "—",
            str(row.pending),
            str(row.failed),
            (row.last_error or "")[:80],
        )
    console.print(table)


@items_cli.command("list")
def items_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10000)] = 20,
    source: Annotated[str | None, typer.Option("--source", "-s")] = None,
    relevant: Annotated[
        bool, typer.Option("--relevant", help="Only items about the province.")
    ] = False,
    severity: Annotated[
        str | None, typer.Option(help=f"At least this severity: {', '.join(SEVERITIES)}.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Only newer than this, e.g. 6h, 2d.")] = None,
) -> None:
    """List recent items, newest first."""
    if severity is not None and severity not in SEVERITIES:
        fail(f"--severity must be one of {', '.join(SEVERITIES)}", 2)
    try:
        cutoff = (
            datetime.now().astimezone() - timedelta(seconds=parse_duration(since))
            if since
            else None
        )
    except ValueError as exc:
        fail(f"--since: {exc}", 2)
    app = app_of(ctx)
    rows = queries.recent_items(
        app.sessions,
        limit=limit,
        source_id=source,
        relevant_only=relevant,
        min_severity=severity,
        since=cutoff,
    )
    table = Table("id", "published", "source", "sev", "title")
    for row in rows:
        table.add_row(
            str(row.id),
            _local(row.published_at or row.fetched_at, app.settings),
            row.source_id,
            row.severity or "—",
            row.title[:90],
        )
    console.print(table)
    app.close()


@cli.command()
def analyze(
    ctx: typer.Context,
    input: Annotated[
        str, typer.Option("--input", "-i", help="JSON Lines file, or - for stdin.")
    ] = "-",
    output: Annotated[
        str, typer.Option("--output", "-o", help="Where to write, or - for stdout.")
    ] = "-",
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Worker processes (default: analysis.workers)."),
    ] = None,
) -> None:
    """Analyse JSON Lines {id, title?, text, url?, kind?}: one result or error line per input, in order."""
    settings = settings_of(ctx)
    try:
        analyser = build_analyser(settings, classify_all=True)
        analyser.analyse("", "")  # load the models once, before worker processes share them
    except ConfigError as exc:
        fail(str(exc), 2)
    except ModelError as exc:
        fail(f"{exc} (monitor nlp train rebuilds the models)", 1)
    try:
        source = sys.stdin if input == "-" else open(input, encoding="utf-8", errors="replace")  # noqa: SIM115
    except OSError as exc:
        fail(f"--input: {exc}", 2)
    try:
        target = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        fail(f"--output: {exc}", 2)
    with source, target:
        for line in analyse_lines(analyser, source, workers or settings.analysis.workers):
            target.write(line + "\n")


def main() -> None:
    """Console-script entry point."""
    cli()
