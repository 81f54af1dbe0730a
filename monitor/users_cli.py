"""``monitor users add|passwd|role|disable|enable|list`` and ``monitor users token
create|revoke|list``: who may sign in to the dashboard, and the JSON API's tokens.

Passwords are read from a prompt, or from standard input with --password-stdin (for scripts);
never from the command line, where other users of the machine could read them.
Exit codes as for every ``monitor`` command: 0 ok, 1 failure, 2 bad usage.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.table import Table

from monitor import accounts
from monitor.bootstrap import App
from monitor.cli_support import app_of, console, fail

users_cli = typer.Typer(no_args_is_help=True, help="Dashboard users and API tokens.")
token_cli = typer.Typer(no_args_is_help=True, help="API tokens (Authorization: Bearer ...).")
users_cli.add_typer(token_cli, name="token")

Name = Annotated[str, typer.Argument(metavar="NAME", help="The user name.")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]


@contextmanager
def _app(ctx: typer.Context) -> Iterator[App]:
    app = app_of(ctx)
    try:
        yield app
    except accounts.AccountError as exc:
        fail(str(exc), 1)
    finally:
        app.close()


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Mật khẩu / password: ")
    if getpass.getpass("Nhập lại / again: ") != first:
        fail("the two passwords differ", 2)
    return first


@users_cli.command("add")
def add(
    ctx: typer.Context,
    name: Name,
    role: Annotated[str, typer.Option("--role", help="viewer | analyst | admin")] = "viewer",
    source: Annotated[
        list[str] | None,
        typer.Option("--source", help="Limit the user to this source id (repeat); default all."),
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a user who can sign in to the dashboard."""
    try:
        accounts.check_role(role)
    except accounts.AccountError as exc:
        fail(str(exc), 2)
    password = _password(password_stdin)
    with _app(ctx) as app:
        unknown = set(source or ()) - {s.id for s in app.settings.sources} - {"manual"}
        if unknown:
            fail(f"--source: no such source: {', '.join(sorted(unknown))}", 2)
        accounts.add_user(app.sessions, name, role, password, tuple(source or ()))
    console.print(f"user {name} added ({role})")


@users_cli.command("passwd")
def passwd(ctx: typer.Context, name: Name, password_stdin: PasswordStdin = False) -> None:
    """Set a user's password; their sessions end."""
    password = _password(password_stdin)
    with _app(ctx) as app:
        accounts.set_password(app.sessions, name, password)
    console.print(f"password of {name} changed; their sessions ended")


@users_cli.command("role")
def role(
    ctx: typer.Context,
    name: Name,
    new_role: Annotated[str, typer.Argument(metavar="ROLE", help="viewer | analyst | admin")],
) -> None:
    """Change a user's role."""
    with _app(ctx) as app:
        accounts.set_role(app.sessions, name, new_role)
    console.print(f"{name} is now {new_role}")


@users_cli.command("disable")
def disable(ctx: typer.Context, name: Name) -> None:
    """Stop a user signing in; their sessions end and their API tokens stop working."""
    with _app(ctx) as app:
        accounts.set_disabled(app.sessions, name, True)
    console.print(f"{name} disabled")


@users_cli.command("enable")
def enable(ctx: typer.Context, name: Name) -> None:
    """Let a disabled user sign in again."""
    with _app(ctx) as app:
        accounts.set_disabled(app.sessions, name, False)
    console.print(f"{name} enabled")


@users_cli.command("list")
def list_users(ctx: typer.Context) -> None:
    """Every user, their role and state."""
    with _app(ctx) as app:
        rows = accounts.list_users(app.sessions)
        table = Table("name", "role", "state", "sources", "last sign-in")
        for user in rows:
            last = user.last_login_at.astimezone(app.settings.tz) if user.last_login_at else None
            table.add_row(
                user.name,
                user.role,
                "disabled" if user.disabled else "active",
                ", ".join(user.sources) or "all",
                f"{last:%Y-%m-%d %H:%M}" if last else "—",
            )
    console.print(table)


@token_cli.command("create")
def token_create(
    ctx: typer.Context,
    name: Name,
    label: Annotated[str, typer.Option("--name", help="What the token is for.")] = "api",
    by: Annotated[str, typer.Option("--by", help="Who creates it (audit).")] = "cli",
) -> None:
    """Create an API token acting as user NAME; the secret is printed once."""
    with _app(ctx) as app:
        token_id, secret = accounts.create_token(app.sessions, name, label, by)
    console.print(f"token {token_id} for {name}; keep this secret, it is not shown again:")
    print(secret)  # plain, so scripts can capture it


@token_cli.command("revoke")
def token_revoke(
    ctx: typer.Context, token_id: Annotated[int, typer.Argument(metavar="ID")]
) -> None:
    """Revoke an API token."""
    with _app(ctx) as app:
        if not accounts.revoke_token(app.sessions, token_id):
            fail(f"no active token {token_id}", 1)
    console.print(f"token {token_id} revoked")


@token_cli.command("list")
def token_list(ctx: typer.Context) -> None:
    """Every API token (never the secrets)."""
    with _app(ctx) as app:
        table = Table("id", "user", "name", "created", "last used", "state")
        for t in accounts.list_tokens(app.sessions):
            table.add_row(
                str(t.id),
                t.user.name,
                t.name,
                f"{t.created_at:%Y-%m-%d %H:%M} by {t.created_by}",
                f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "—",
                "revoked" if t.revoked_at else "active",
            )
    console.print(table)
