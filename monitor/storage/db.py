"""Engines, sessions and schema migrations (Alembic, run in-process)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from alembic import command
from monitor.errors import StorageError

__all__ = [
    "Engine",
    "Sessions",
    "make_engine",
    "session_factory",
    "transaction",
    "upgrade",
    "downgrade",
]
# What the rest of the application holds on to, named here so that only storage imports SQLAlchemy.
Sessions = sessionmaker[Session]

ALEMBIC_DIR = Path(__file__).resolve().parents[2] / "alembic"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The sqlite3 module opens transactions only before DML, so a SAVEPOINT would start (and its
    # RELEASE commit) one by itself: take transaction control away from it (SQLAlchemy's recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets the dashboard read while a crawl writes; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def check_url(url: str) -> str:
    """Return ``url`` if it is a database URL whose driver is installed; ValueError says why not."""
    try:
        parsed = _with_driver(make_url(url))
    except ArgumentError:
        raise ValueError(
            f"not a database URL: {url!r} (e.g. sqlite:///data/monitor.db, "
            "postgresql+psycopg://user@host:5432/dbname)"
        ) from None
    try:
        parsed.get_dialect().import_dbapi()
    except (NoSuchModuleError, ImportError) as exc:
        raise ValueError(f"no driver for {parsed.drivername!r} is installed ({exc})") from None
    return url


def _with_driver(parsed: URL) -> URL:
    # psycopg 3 is the PostgreSQL driver this project installs; plain postgresql:// means it.
    if parsed.drivername == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str, *, echo: bool = False, schema: str | None = None) -> Engine:
    """Build an engine; SQLite files get their folder, WAL and a busy timeout. No connection yet."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StorageError(f"database.url is not a database URL: {url!r}") from exc
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
    elif schema is not None:
        kwargs["connect_args"] = {"options": f"-csearch_path={schema}"}
    parsed = _with_driver(parsed)
    engine = create_engine(parsed, pool_pre_ping=True, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front, so concurrent runs queue on the busy timeout; a
    # deferred transaction that read first fails at once (SQLITE_BUSY) when it comes to write.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


def _alembic_config(engine: Engine) -> Config:
    if not (ALEMBIC_DIR / "env.py").is_file():
        # alembic/ sits at the top of the repository (the owner's layout), outside the packages.
        raise StorageError(
            f"migrations not found in {ALEMBIC_DIR}: install from a checkout with `pip install -e .`"
        )
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def _run(engine: Engine, action: str, revision: str) -> None:
    config = _alembic_config(engine)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            getattr(command, action)(config, revision)
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot migrate the database: {exc}") from exc


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the schema up to ``revision``."""
    _run(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Migrate the schema down to ``revision``."""
    _run(engine, "downgrade", revision)


def table_names(engine: Engine) -> set[str]:
    """The tables that exist now."""
    return set(inspect(engine).get_table_names())


def ping(engine: Engine) -> None:
    """Run a trivial query; raises when the database does not answer."""
    from sqlalchemy import text

    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
