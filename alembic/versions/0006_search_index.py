"""full-text search: items.search_text, items.dated_at and a search index on each engine

``items.search_text`` holds the item's title and text folded by
``monitor.storage.searchtext.index_text`` (filled here for the items already stored, by
``repo.ingest`` from now on); ``items.dated_at`` (generated: published, else collected) is the
date search filters and sorts on.

The index holds the words of ``search_text`` and the item's facets, one token each (see
``monitor.storage.searchtext.facet_token``: source, kind, relevance, severity, topic, sentiment,
places, and ``zzall``), so a search with filters is one lookup in one index on either engine.
It is kept in step by triggers on ``items`` and ``analyses``:

SQLite: ``items_search``, a contentless FTS5 table (search_text, facets) whose rowid is the
item's date in seconds since 2000 shifted 32 bits left, or-ed with its id: newest first is
plain rowid order, a date range is a rowid range, the item id is the low 32 bits.
PostgreSQL: ``items_search`` (item_id, dated_at, vector), a narrow table beside ``items`` (its
rows are read by the thousand: without the item's text they stay small and untoasted), with a
GIN index on the vector of search_text and facets ('simple' configuration: the text is folded
already) and a btree on (dated_at, item_id), kept by triggers on items and analyses.

Neither is in the models (each exists on one engine only): alembic/env.py leaves them out of
autogenerate. A later migration that rebuilds ``items`` or ``analyses`` in batch mode (move and
copy) drops their triggers with the old table: it must run ``drop_index`` before and
``create_index`` after.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from monitor.storage.searchtext import index_text

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)
_BATCH = 1000
EPOCH_2000 = 946684800

# --- SQLite ---------------------------------------------------------------------------------------


def _hex(value: str) -> str:
    return f"lower(hex({value}))"


def _sqlite_analysis(a: str) -> str:
    """The facets an analysis row (alias or new/old) adds, as SQL text."""
    name = "json_extract(p.value, '$.name')"
    places = (
        f"(SELECT group_concat(' zzplace' || {_hex(name)}, '') "
        f"FROM json_each({a}.places) p WHERE p.type = 'object' "
        f"AND {name} IS NOT NULL)"
    )
    return (
        f"' zzanalysed zzrel' || ({a}.relevant = 1) || ' zzsev' || {_hex(f'{a}.severity')}"
        f" || iif({a}.topic IS NULL, '', ' zztopic' || {_hex(f'{a}.topic')})"
        f" || iif({a}.sentiment IS NULL, '', ' zzsent' || {_hex(f'{a}.sentiment')})"
        f" || coalesce({places}, '')"
    )


def _sqlite_facets(i: str, analysis: str | None = "current") -> str:
    """An item's facets as SQL text: with its stored analysis, a given one, or none."""
    base = f"'zzall zzsrc' || {_hex(f'{i}.source_id')} || ' zzkind' || {_hex(f'{i}.kind')}"
    if analysis is None:
        return base
    if analysis == "current":
        part = f"(SELECT {_sqlite_analysis('a')} FROM analyses a WHERE a.item_id = {i}.id)"
        return f"{base} || coalesce({part}, '')"
    return f"{base} || {_sqlite_analysis(analysis)}"


def _sqlite_key(i: str) -> str:
    seconds = f"CAST(strftime('%s', {i}.dated_at) AS INTEGER) - {EPOCH_2000}"
    return f"((max(0, min(2147483647, coalesce({seconds}, 0))) << 32) | {i}.id)"


def _fts(i: str, facets: str, delete: bool = False) -> str:
    """An insert of the item's row into items_search (or the 'delete' of it)."""
    if delete:
        return (
            "INSERT INTO items_search(items_search, rowid, search_text, facets) "
            f"SELECT 'delete', {_sqlite_key(i)}, {i}.search_text, {facets}"
        )
    return (
        "INSERT INTO items_search(rowid, search_text, facets) "
        f"SELECT {_sqlite_key(i)}, {i}.search_text, {facets}"
    )


_ITEM_CHANGED = " OR ".join(
    f"old.{c} IS NOT new.{c}"
    for c in ("search_text", "published_at", "fetched_at", "source_id", "kind")
)


def _sqlite_statements() -> list[str]:
    of_item = "FROM items i WHERE i.id = {}.item_id"
    return [
        # unicode61 cuts at what is not a letter or digit (search_text has spaces there already);
        # remove_diacritics is a second safety net; prefix indexes serve 'ch*'-style queries.
        "CREATE VIRTUAL TABLE items_search USING fts5(search_text, facets, content='', "
        "tokenize='unicode61 remove_diacritics 2', prefix='2 3')",
        "CREATE TRIGGER items_search_insert AFTER INSERT ON items BEGIN "
        f"{_fts('new', _sqlite_facets('new'))}; END",
        # Before: when the row is gone, its analysis is gone too (deleted by the cascade, whose
        # trigger then finds no item and leaves the index alone); here both are still there.
        "CREATE TRIGGER items_search_delete BEFORE DELETE ON items BEGIN "
        f"{_fts('old', _sqlite_facets('old'), delete=True)}; END",
        "CREATE TRIGGER items_search_update AFTER UPDATE ON items "
        f"WHEN {_ITEM_CHANGED} BEGIN "
        f"{_fts('old', _sqlite_facets('old'), delete=True)}; "
        f"{_fts('new', _sqlite_facets('new'))}; END",
        # An item has one analysis (unique item_id): before it was inserted the row had none.
        "CREATE TRIGGER analyses_search_insert AFTER INSERT ON analyses BEGIN "
        f"{_fts('i', _sqlite_facets('i', None), delete=True)} {of_item.format('new')}; "
        f"{_fts('i', _sqlite_facets('i', 'new'))} {of_item.format('new')}; END",
        # An analysis deleted (or replaced) while its item stays.
        "CREATE TRIGGER analyses_search_delete AFTER DELETE ON analyses BEGIN "
        f"{_fts('i', _sqlite_facets('i', 'old'), delete=True)} {of_item.format('old')}; "
        f"{_fts('i', _sqlite_facets('i', None))} {of_item.format('old')}; END",
        "CREATE TRIGGER analyses_search_update AFTER UPDATE ON analyses BEGIN "
        f"{_fts('i', _sqlite_facets('i', 'old'), delete=True)} {of_item.format('old')}; "
        f"{_fts('i', _sqlite_facets('i', 'new'))} {of_item.format('new')}; END",
        f"{_fts('i', _sqlite_facets('i'))} FROM items i",
    ]


SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS analyses_search_update",
    "DROP TRIGGER IF EXISTS analyses_search_delete",
    "DROP TRIGGER IF EXISTS analyses_search_insert",
    "DROP TRIGGER IF EXISTS items_search_update",
    "DROP TRIGGER IF EXISTS items_search_delete",
    "DROP TRIGGER IF EXISTS items_search_insert",
    "DROP TABLE IF EXISTS items_search",
)

# --- PostgreSQL -----------------------------------------------------------------------------------


def _pg_hex(value: str) -> str:
    return f"encode(convert_to({value}, 'UTF8'), 'hex')"


POSTGRESQL_INDEX = (
    "CREATE TABLE items_search (item_id integer PRIMARY KEY REFERENCES items (id) "
    "ON DELETE CASCADE, dated_at timestamptz NOT NULL, vector tsvector NOT NULL)",
    # The planner's estimate of a word's matches comes from the most common lexemes kept by
    # ANALYZE: with the default 1,000 of them, any rarer word is guessed at ~0.5% of the items.
    "ALTER TABLE items_search ALTER COLUMN vector SET STATISTICS 1000",
    f"""CREATE FUNCTION items_search_facets(item integer, source text, kind text) RETURNS text
    LANGUAGE sql STABLE AS $$
    SELECT 'zzall zzsrc' || {_pg_hex("source")} || ' zzkind' || {_pg_hex("kind")} || coalesce((
        SELECT ' zzanalysed zzrel' || a.relevant::int || ' zzsev' || {_pg_hex("a.severity")}
            || coalesce(' zztopic' || {_pg_hex("a.topic")}, '')
            || coalesce(' zzsent' || {_pg_hex("a.sentiment")}, '')
            || coalesce((
                SELECT string_agg(' zzplace' || {_pg_hex("p->>'name'")}, '')
                FROM jsonb_array_elements(
                    CASE WHEN jsonb_typeof(a.places) = 'array' THEN a.places ELSE '[]' END
                ) p
                WHERE jsonb_typeof(p) = 'object' AND p->>'name' IS NOT NULL
            ), '')
        FROM analyses a WHERE a.item_id = item
    ), '')
    $$""",
    """CREATE FUNCTION items_search_vector(item integer, words text, source text, kind text)
    RETURNS tsvector LANGUAGE sql STABLE AS $$
    SELECT to_tsvector('simple'::regconfig, words || ' ' || items_search_facets(item, source, kind))
    $$""",
    """CREATE FUNCTION items_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO items_search (item_id, dated_at, vector) VALUES (NEW.id, NEW.dated_at,
                items_search_vector(NEW.id, NEW.search_text, NEW.source_id, NEW.kind));
        ELSIF NEW.search_text IS DISTINCT FROM OLD.search_text
                OR NEW.dated_at IS DISTINCT FROM OLD.dated_at
                OR NEW.source_id IS DISTINCT FROM OLD.source_id
                OR NEW.kind IS DISTINCT FROM OLD.kind THEN
            UPDATE items_search SET dated_at = NEW.dated_at,
                vector = items_search_vector(NEW.id, NEW.search_text, NEW.source_id, NEW.kind)
            WHERE item_id = NEW.id;
        END IF;
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER items_search_sync AFTER INSERT OR UPDATE ON items "
    "FOR EACH ROW EXECUTE FUNCTION items_search_sync()",
    # An analysis saved, changed or removed: its item's facets again. (A deleted item's row
    # goes with it, by the foreign key.)
    """CREATE FUNCTION analyses_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE items_search s
        SET vector = items_search_vector(i.id, i.search_text, i.source_id, i.kind)
        FROM items i
        WHERE i.id = s.item_id AND s.item_id IN (
            CASE WHEN TG_OP <> 'INSERT' THEN OLD.item_id END,
            CASE WHEN TG_OP <> 'DELETE' THEN NEW.item_id END
        );
        RETURN NULL;
    END $$""",
    "CREATE TRIGGER analyses_search_sync AFTER INSERT OR UPDATE OR DELETE ON analyses "
    "FOR EACH ROW EXECUTE FUNCTION analyses_search_sync()",
    "INSERT INTO items_search (item_id, dated_at, vector) SELECT id, dated_at, "
    "items_search_vector(id, search_text, source_id, kind) FROM items",
    "CREATE INDEX ix_items_search_vector ON items_search USING gin (vector)",
    "CREATE INDEX ix_items_search_dated_at ON items_search (dated_at, item_id)",
)
POSTGRESQL_DROP = (
    "DROP TRIGGER IF EXISTS analyses_search_sync ON analyses",
    "DROP FUNCTION IF EXISTS analyses_search_sync()",
    "DROP TRIGGER IF EXISTS items_search_sync ON items",
    "DROP FUNCTION IF EXISTS items_search_sync()",
    "DROP TABLE IF EXISTS items_search",
    "DROP FUNCTION IF EXISTS items_search_vector(integer, text, text, text)",
    "DROP FUNCTION IF EXISTS items_search_facets(integer, text, text)",
)


def create_index() -> None:
    """The search index of this engine, its triggers, filled from the items stored."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in _sqlite_statements() if sqlite else POSTGRESQL_INDEX:
        op.execute(statement)


def drop_index() -> None:
    """The search index of this engine and its triggers, gone."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_DROP if sqlite else POSTGRESQL_DROP:
        op.execute(statement)


def _backfill() -> None:
    """Fill search_text of the items already stored, a batch of rows at a time."""
    connection = op.get_bind()
    items = sa.table(
        "items", sa.column("id"), sa.column("title"), sa.column("text"), sa.column("search_text")
    )
    last = 0
    while True:
        rows = connection.execute(
            sa.select(items.c.id, items.c.title, items.c.text)
            .where(items.c.id > last)
            .order_by(items.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        connection.execute(
            sa.update(items)
            .where(items.c.id == sa.bindparam("item_id"))
            .values(search_text=sa.bindparam("folded")),
            [{"item_id": i, "folded": index_text(t or "", x or "")} for i, t, x in rows],
        )
        last = rows[-1][0]


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_text", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(
            sa.Column(
                "dated_at",
                _WHEN,
                # SQLite adds only virtual generated columns (indexed all the same); PostgreSQL
                # before 18 has stored ones only.
                sa.Computed(
                    "coalesce(published_at, fetched_at)", persisted=None if sqlite else True
                ),
                nullable=True,
            )
        )
        batch_op.create_index(batch_op.f("ix_items_dated_at"), ["dated_at"], unique=False)
    _backfill()
    create_index()


def downgrade() -> None:
    drop_index()
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_items_dated_at"))
        batch_op.drop_column("dated_at")
        batch_op.drop_column("search_text")
