"""``monitor cases list|show|ack|start|assign|resolve|dismiss|reopen|note``: the case workflow
for staff without the dashboard; every change is recorded with channel "cli".

Exit codes as for every ``monitor`` command: 0 ok, 1 no such case or an action its state does not
allow (the message says which are allowed), 2 bad usage or configuration.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from monitor import cases
from monitor.bootstrap import App
from monitor.cli_support import app_of, console, fail
from monitor.storage import db

cases_cli = typer.Typer(
    no_args_is_help=True, help="Cases: what a person must look at, and who has it."
)

CaseId = Annotated[int, typer.Argument(metavar="ID", help="The case number.")]
By = Annotated[
    str | None, typer.Option("--by", help="Who does it, for the audit trail (default: your login).")
]
Note = Annotated[str | None, typer.Option("--note", help="A note for the audit trail.")]


@cases_cli.callback()
def cases_group() -> None:
    """Cases: what a person must look at, and who has it."""


def _status(code: str) -> str:
    return f"{cases.STATUS_LABELS.get(code, code)} ({code})"


def _when(app: App, value: datetime | None) -> str:
    return value.astimezone(app.settings.tz).strftime("%Y-%m-%d %H:%M") if value else "—"


def _due(app: App, view: cases.CaseView) -> str:
    due = _when(app, view.due_at)
    return f"[red]{due} quá hạn[/red]" if view.overdue else due


def _title(view: cases.CaseView) -> str:
    counts = f" ({view.item_count} bài, {view.outlet_count} báo)" if view.item_count else ""
    return escape(view.title[:100]) + counts


@contextmanager
def _app(ctx: typer.Context) -> Iterator[App]:
    app = app_of(ctx)
    try:
        yield app
    finally:
        app.close()


@cases_cli.command("list")
def list_command(
    ctx: typer.Context,
    status: Annotated[
        str,
        typer.Option(help="open | closed | all, or one state: " + ", ".join(cases.STATUSES)),
    ] = "open",
    severity: Annotated[
        str | None, typer.Option(help="At least this severity: watch, alert, critical.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=10000)] = 50,
) -> None:
    """List cases, most severe and soonest due first; overdue ones in red."""
    with _app(ctx) as app:
        try:
            found = cases.list_cases(app.sessions, status=status, severity=severity, limit=limit)
        except ValueError as exc:
            fail(str(exc), 2)
        table = Table("id", "kind", "severity", "status", "assignee", "opened", "due", "title")
        for view in found:
            table.add_row(
                str(view.id), view.kind, view.severity, _status(view.status),
                escape(view.assignee or "—"), _when(app, view.opened_at), _due(app, view),
                _title(view),
            )  # fmt: skip
    console.print(table if found else f"không có sự vụ nào / no cases ({status})")


def _about(detail: cases.CaseDetail) -> Iterator[str]:
    if detail.story:
        s = detail.story
        outlets = ", ".join(s.outlets[:8]) + (" …" if len(s.outlets) > 8 else "")
        yield f"câu chuyện / story #{s.id}: {s.item_count} bài, {s.outlet_count} báo: {outlets}"
    if detail.item:
        yield f"bài / item #{detail.item.id} ({detail.item.source_id}): {detail.item.url}"
    if detail.source:
        src = detail.source
        why = f": {src.health_reason}" if src.health_reason else ""
        yield f"nguồn / source {src.id} ({src.name or '—'}) {src.url} · {src.health}{why}"
    if detail.case.surge_key:
        yield f"tăng đột biến / surge: {detail.case.surge_key}"


def _event_text(event: cases.EventView) -> str:
    if event.note:
        return event.note
    d = event.detail
    if event.action == "assigned":
        return f"→ {d.get('assignee')}"
    keys = ("reason", "severity", "item_count", "outlet_count", "recent", "usual")
    return d.get("reason") or ", ".join(f"{k}={d[k]}" for k in keys if k in d)


@cases_cli.command("show")
def show_command(ctx: typer.Context, case_id: CaseId) -> None:
    """Show a case: its state, due time, what it is about, and its audit trail."""
    with _app(ctx) as app:
        try:
            detail = cases.show(app.sessions, case_id)
        except KeyError:
            fail(f"không có sự vụ #{case_id} / no case #{case_id}", 1)
        view = detail.case
        console.print(f"[bold]Sự vụ / case #{view.id}[/bold] · {view.kind} · {view.severity}")
        console.print(_title(view))
        console.print(
            f"trạng thái / status: {_status(view.status)} · người xử lý / assignee: "
            f"{escape(view.assignee or '—')}"
        )
        console.print(
            f"mở / opened: {_when(app, view.opened_at)} · hạn / due: {_due(app, view)} · "
            f"đã nhận / acknowledged: {_when(app, view.acknowledged_at)} · "
            f"đóng / closed: {_when(app, view.resolved_at)}"
        )
        for line in _about(detail):
            console.print(escape(line))
        allowed = ", ".join(cases.allowed_actions(view.status))
        console.print(f"thao tác được phép / allowed: {allowed}")
        trail = Table("lúc / when", "ai / who", "việc / action", "kênh / via", "trạng thái", "ghi chú / detail", title="nhật ký / audit trail")  # fmt: skip
        for event in detail.events:
            moved = f"{event.from_status} → {event.to_status}" if event.to_status else ""
            trail.add_row(
                _when(app, event.at), escape(event.actor), event.action, event.channel or "",
                moved, escape(_event_text(event)[:200]),
            )  # fmt: skip
    console.print(trail)


def _actor(by: str | None) -> str:
    if by and by.strip():
        return by.strip()
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in this environment
        return "cli"


def _apply(
    ctx: typer.Context, case_id: int, action: str, by: str | None, note: str | None,
    assignee: str | None = None,
) -> None:  # fmt: skip
    with _app(ctx) as app:
        try:
            with db.transaction(app.sessions) as session:
                view = cases.transition(
                    session, case_id, action, actor=_actor(by), channel="cli",
                    note=note, assignee=assignee,
                )  # fmt: skip
        except KeyError:
            fail(f"không có sự vụ #{case_id} / no case #{case_id}", 1)
        except cases.IllegalTransition as exc:
            fail(str(exc), 1)
        except ValueError as exc:
            fail(str(exc), 2)
        before = cases.show(app.sessions, case_id).events[-1].from_status or view.status
    who = f" · người xử lý / assignee: {escape(view.assignee)}" if view.assignee else ""
    moved = f"{_status(before)} → " if before != view.status else ""
    console.print(f"sự vụ / case #{case_id}: {moved}{_status(view.status)}{who}", highlight=False)


def _command(action: str, summary: str) -> Callable[..., None]:
    def command(ctx: typer.Context, case_id: CaseId, by: By = None, note: Note = None) -> None:
        _apply(ctx, case_id, action, by, note)

    command.__doc__ = summary
    return command


for _action, _summary in (
    ("ack", "Acknowledge a new case (nhận): stops its escalation."),
    ("start", "Start working on a case (bắt đầu xử lý)."),
    ("resolve", "Close a case as dealt with (đã xong)."),
    ("dismiss", "Close a case as needing nothing (bỏ qua)."),
    ("reopen", "Reopen a resolved or dismissed case (mở lại); it comes back acknowledged."),
):
    cases_cli.command(_action)(_command(_action, _summary))


@cases_cli.command("assign")
def assign_command(
    ctx: typer.Context,
    case_id: CaseId,
    person: Annotated[str, typer.Argument(metavar="PERSON", help="Who will handle it.")],
    by: By = None,
    note: Note = None,
) -> None:
    """Assign an open case to someone (giao); a new case becomes acknowledged."""
    _apply(ctx, case_id, "assign", by, note, assignee=person)


@cases_cli.command("note")
def note_command(
    ctx: typer.Context,
    case_id: CaseId,
    text: Annotated[str, typer.Argument(metavar="TEXT", help="The note.")],
    by: By = None,
) -> None:
    """Add a note to a case's audit trail (ghi chú), in any state."""
    _apply(ctx, case_id, "note", by, text)
