"""What every ``monitor`` command shares: its consoles, failing with an exit code, and loading the
settings and the application from the ``--config`` the top-level command was given."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

from monitor.bootstrap import App, build_app
from monitor.config import Settings
from monitor.configfile import load_settings
from monitor.errors import ConfigError, StorageError
from nlp.classify import ModelError

console = Console()
err = Console(stderr=True)


def fail(message: str, code: int) -> NoReturn:
    """Print an error and exit: 1 for a failure, 2 for bad usage or configuration."""
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def settings_of(ctx: typer.Context) -> Settings:
    """The settings from the config file (and environment) the command line named."""
    try:
        return load_settings((ctx.obj or {}).get("config"))
    except ConfigError as exc:
        fail(str(exc), 2)


def app_of(ctx: typer.Context, *, migrate: bool = True, settings: Settings | None = None) -> App:
    """The application built from those settings; configuration errors exit 2, storage 1."""
    settings = settings or settings_of(ctx)
    try:
        return build_app(settings, migrate=migrate)
    except ConfigError as exc:
        fail(str(exc), 2)
    except (StorageError, ModelError) as exc:
        fail(str(exc), 1)
