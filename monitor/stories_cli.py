"""``monitor stories rebuild``: group items stored before stories existed into stories.

Exit codes as for every ``monitor`` command: 0 ok, 1 failure, 2 bad usage.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from monitor import stories
from monitor.cli_support import app_of, console, fail, settings_of
from monitor.config import parse_duration

stories_cli = typer.Typer(
    no_args_is_help=True, help="Stories: copies of one article across outlets, grouped."
)


@stories_cli.callback()
def stories_group() -> None:
    """Stories: copies of one article across outlets, grouped."""


def _since(value: str) -> timedelta:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        fail(f"--since: {exc}", 2)
    if not isinstance(seconds, int) or seconds <= 0:
        fail(f"--since must be a positive duration such as 14d (got {value!r})", 2)
    return timedelta(seconds=seconds)


@stories_cli.command("rebuild")
def rebuild(
    ctx: typer.Context,
    since: Annotated[
        str, typer.Option("--since", help="Only items stored within this long (e.g. 14d, 36h).")
    ] = "14d",
) -> None:
    """Give a story to each item stored without one (before stories existed), oldest first."""
    window = _since(since)
    settings = settings_of(ctx)
    app = app_of(ctx, settings=settings)
    try:
        grouped = stories.rebuild(app.sessions, settings, window)
    finally:
        app.close()
    console.print(f"{grouped} items grouped into stories")
