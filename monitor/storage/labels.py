"""Analysts' corrections (the ``labels`` table): stored, read back for pages, and for training.

A label never changes the analyser's own row in ``analyses``: it sits beside it, and the latest
label of a field is the correction in force (``monitor.feedback`` decides what pages show).
"Latest" is the newest ``created_at``, the larger id breaking ties.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, inspect, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session

from monitor.errors import StorageError
from monitor.storage.models import Analysis, Item, Label

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class LabelRow:
    """One stored correction: the field, its new value, what the analyser had said, who and why."""

    id: int
    item_id: int
    field: str
    value: str
    previous: str | None
    author: str
    note: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AnalysedItem:
    """An item as a correction sees it: its story and the analyser's values, as labels store them."""

    item_id: int
    story_id: int | None
    # relevant ("true"/"false"), topic, sentiment, severity; all None when it has no analysis yet
    values: dict[str, str | None]


def _row(label: Label) -> LabelRow:
    return LabelRow(
        label.id,
        label.item_id,
        label.field,
        label.value,
        label.previous,
        label.author,
        label.note,
        label.created_at,
    )


def add_label(
    session: Session,
    item_id: int,
    field: str,
    value: str,
    previous: str | None,
    author: str,
    note: str | None,
    now: datetime,
) -> LabelRow:
    """Store one correction as given (``monitor.feedback.correct`` validates it first)."""
    label = Label(
        item_id=item_id,
        field=field,
        value=value,
        previous=previous,
        author=author,
        note=note,
        created_at=now,
    )
    session.add(label)
    session.flush()
    return _row(label)


def analysed_item(session: Session, item_id: int) -> AnalysedItem | None:
    """The item's story and the analyser's current values; None if there is no such item."""
    found = session.execute(
        select(
            Item.story_id,
            Analysis.id,
            Analysis.relevant,
            Analysis.topic,
            Analysis.sentiment,
            Analysis.severity,
        )
        .select_from(Item)
        .outerjoin(Analysis, Analysis.item_id == Item.id)
        .where(Item.id == item_id)
    ).first()
    if found is None:
        return None
    story_id, analysis_id, relevant, topic, sentiment, severity = found
    if analysis_id is None:
        values: dict[str, str | None] = dict.fromkeys(
            ("relevant", "topic", "sentiment", "severity")
        )
    else:
        values = {
            "relevant": "true" if relevant else "false",
            "topic": topic,
            "sentiment": sentiment,
            "severity": severity,
        }
    return AnalysedItem(item_id, story_id, values)


def labels_for_item(session: Session, item_id: int) -> list[LabelRow]:
    """Every correction of the item, newest first."""
    rows = session.scalars(
        select(Label)
        .where(Label.item_id == item_id)
        .order_by(Label.created_at.desc(), Label.id.desc())
    )
    return [_row(label) for label in rows]


def current_corrections(
    session: Session, item_ids: Collection[int]
) -> dict[int, dict[str, LabelRow]]:
    """The latest correction of each field of each item (items without any are left out)."""
    ids = sorted(set(item_ids))
    found: dict[int, dict[str, LabelRow]] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = session.scalars(
            select(Label)
            .where(Label.item_id.in_(ids[start : start + _CHUNK]))
            .order_by(Label.created_at, Label.id)
        )
        for label in rows:  # oldest first: a later label of the same field replaces it
            found.setdefault(label.item_id, {})[label.field] = _row(label)
    return found


def training_labels(session: Session, field: str) -> list[tuple[str, str, str]]:
    """(title, text, value) of the latest correction of ``field`` per item, by item id.

    Items with neither title nor text are left out: there is nothing to learn from. A title
    alone is kept, since the analyser classified the item on that title too.
    """
    rows = session.execute(
        select(Label.item_id, Label.value, Item.title, Item.text)
        .join(Item, Item.id == Label.item_id)
        .where(Label.field == field)
        .order_by(Label.item_id, Label.created_at, Label.id)
    )
    latest: dict[int, tuple[str, str, str]] = {}
    for item_id, value, title, text in rows:
        latest[item_id] = (title or "", text or "", value)
    return [row for _, row in sorted(latest.items()) if (row[0].strip() or row[1].strip())]


def check_present(url: str | URL) -> None:
    """StorageError if the URL names an SQLite file that does not exist.

    Connecting would create an empty one (and building the engine its folder): a command that
    only reads checks first, so that asking leaves nothing behind.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StorageError(f"not a database URL: {url!r}") from exc
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    if not Path(parsed.database).exists():
        raise StorageError(f"no database at {parsed.database}")


def read_training_labels(engine: Engine, field: str) -> list[tuple[str, str, str]]:
    """``training_labels`` read in a session of its own, by a process that only reads.

    StorageError when the database is unreachable, when an SQLite file is not there (it is
    not created by asking), or when the schema has no labels table (not migrated).
    """
    check_present(engine.url)
    try:
        if "labels" not in inspect(engine).get_table_names():
            raise StorageError(
                f"the database at {engine.url.render_as_string()} has no labels table: "
                "run `monitor db upgrade`"
            )
        with Session(engine) as session:
            return training_labels(session, field)
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot read the database: {exc}") from exc
