"""``monitor surges [--at TIME]``: the surges at a moment (now by default), and their open cases.

Reads only: cases are opened by ``monitor run``'s surge job. Exit codes as for every ``monitor``
command: 0 ok (surges or not), 1 the database failed, 2 bad usage or configuration.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from monitor import surges as surge_rules
from monitor.cli_support import app_of, console, fail, settings_of
from monitor.config import Settings
from monitor.storage.models import utcnow


def _moment(at: str | None, settings: Settings) -> datetime:
    if at is None:
        return utcnow()
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        fail(f"--at: not an ISO time: {at!r} (e.g. 2025-07-01T09:30 or 2025-07-01T02:30Z)", 2)
    # A time written without a zone is the province's local time, as people read the dashboard.
    return moment if moment.tzinfo else moment.replace(tzinfo=settings.tz)


def surges(
    ctx: typer.Context,
    at: Annotated[
        str | None,
        typer.Option("--at", help="ISO time to judge at (default now; no zone = local time)."),
    ] = None,
) -> None:
    """Show the surges of coverage now (or --at a time): recent vs usual, and their cases."""
    settings = settings_of(ctx)
    moment = _moment(at, settings)
    app = app_of(ctx, settings=settings)
    try:
        found = surge_rules.current(app, moment)
    finally:
        app.close()
    hours = settings.surges.recent_hours
    local = moment.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
    table = Table(
        "dimension", "key", f"recent ({hours} h)", "usual", "negative", "case",
        title=f"surges at {local}",
    )  # fmt: skip
    for surge, case_id in found:
        negative = f"{surge.negative} (usual {surge.usual_negative:.1f})"
        table.add_row(
            surge.dimension,
            surge.key.replace("@", " @ "),  # a topic at a place: wraps between the two
            str(surge.recent),
            f"{surge.usual:.1f}",
            f"[red]{negative}[/red]" if surge.of_negative else negative,
            str(case_id) if case_id is not None else "—",
        )
    console.print(table if found else f"no surges at {local}")
