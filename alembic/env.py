"""Alembic environment: migrations run on the connection the application hands in.

``monitor db upgrade`` passes its connection in ``config.attributes``; the ``alembic`` command line
(for writing new revisions) falls back to ``sqlalchemy.url`` or the monitor's own settings.
"""

from __future__ import annotations

from sqlalchemy import Connection, create_engine

from alembic import context
from monitor.storage.models import Base
from monitor.storage.searchindex import include_object

config = context.config


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # The search index (migration 0006) is engine-specific and not in the models.
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from monitor.configfile import load_settings

    return load_settings().database.url


connection = config.attributes.get("connection")
if connection is not None:
    _migrate(connection)
else:
    with create_engine(_url()).begin() as own:
        _migrate(own)
