"""``monitor digest [--date D] [--out FILE.html] [--send] [--force] [--lang vi|en]``.

Builds a local day's digest (by default yesterday's: the morning digest covers the day before),
archives it, writes it as a self-contained HTML page with ``--out`` and emails it with ``--send``.
A digest already sent is not sent or re-archived again without ``--force``. Exit codes as for
every ``monitor`` command: 0 ok, 1 a failure (database, a recipient's email), 2 bad usage or
configuration (a bad date, no email channel, nobody to send to).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import typer

from monitor import digest as digests
from monitor.cli_support import app_of, console, err, fail, settings_of
from monitor.errors import ConfigError, StorageError
from monitor.storage.models import utcnow


def _day(value: str | None, ctx: typer.Context) -> date:
    if value is None:
        return digests.previous_day(settings_of(ctx))
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"--date: not a date: {value!r} (use YYYY-MM-DD, e.g. 2025-07-01)", 2)


def _report_delivery(delivery: digests.Delivery) -> int:
    """Print what sending did; the exit code it calls for."""
    if delivery.sent_before is not None:
        console.print(f"already sent at {delivery.sent_before:%Y-%m-%d %H:%M} UTC; --force sends again")  # fmt: skip
        return 0
    for line in delivery.skipped:
        err.print(f"[yellow]not sent:[/yellow] {line}", highlight=False)
    if delivery.already:
        console.print(f"sent earlier to: {', '.join(delivery.already)}")
    if delivery.sent:
        console.print(f"sent to: {', '.join(delivery.sent)}")
    for person, error in delivery.failed:
        err.print(f"[red]failed:[/red] {person}: {error}", highlight=False)
    return 1 if delivery.failed else 0


def digest(
    ctx: typer.Context,
    day: Annotated[
        str | None,
        typer.Option("--date", help="Local date YYYY-MM-DD (default: yesterday)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the digest here as HTML with its charts inline."),
    ] = None,
    send: Annotated[bool, typer.Option("--send", help="Email it to digest.recipients.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Re-archive and resend a digest already sent.")
    ] = False,
    lang: Annotated[
        Literal["vi", "en"] | None,
        typer.Option("--lang", help="Language (default: digest.language)."),
    ] = None,
) -> None:
    """Build a day's digest: archive it, write it (--out) and email it (--send)."""
    when = _day(day, ctx)
    app = app_of(ctx)
    try:
        outcome = digests.run(app, when, language=lang, send=send, force=force, now=utcnow())
    except ConfigError as exc:
        fail(str(exc), 2)
    except StorageError as exc:
        fail(str(exc), 1)
    finally:
        app.close()
    console.print(outcome.rendered.subject, highlight=False, soft_wrap=True)
    if not outcome.archived:
        console.print("the archive keeps the digest as it was sent (--force replaces it)")
    if out is not None:
        try:
            out.write_text(outcome.rendered.page, encoding="utf-8")
        except OSError as exc:
            fail(f"--out: cannot write {out}: {exc.strerror or exc}", 1)
        console.print(f"written to {out}", soft_wrap=True)
    if outcome.delivery is not None:
        raise typer.Exit(_report_delivery(outcome.delivery))
