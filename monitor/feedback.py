"""The analyst feedback loop: corrections of an item's relevance, topic, sentiment or severity.

``correct`` checks a correction and stores it as a label (``monitor.storage.labels``): who, what
the analyser had said, the new value and a note. Decisions, and why:

* The analyser's own row in ``analyses`` is never changed. Comparing the model's output with
  what analysts said stays possible (model evaluation stays honest), and a re-analysis, which
  replaces that row, cannot wipe a person's correction.
* Pages show ``effective``: the latest correction of a field wins over the analyser, marked with
  who corrected it. Stored aggregates made from analyses (a story's ``max_severity``, hourly
  counts, digests) keep counting the analyser's values; they are the model's view, rebuilt by it.
* A severity corrected upward to at least ``alerts.case_severity`` (and above what the analyser
  said) opens the item's story case, or raises its severity, through the very functions the
  pipeline uses (story assignment, then ``repo.open_or_update_case``), in the same transaction
  and with the analyst as actor; a raise asks for a notification as any other. A correction
  downward, or to "not relevant", closes nothing: a case is dismissed through the case workflow,
  where the reason is recorded.
* ``monitor nlp train`` trains on the latest topic, sentiment and severity corrections
  (``training_feedback``), weighing them above the labelled corpus; relevance corrections are
  shown, not trained on (relevance comes from the places a text names).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.bootstrap import App
from monitor.cases import due_map
from monitor.config import Settings
from monitor.storage import db, labels, repo
from monitor.storage import stories as story_store
from monitor.storage.labels import LabelRow
from monitor.stories import policy_of
from nlp.base import SEVERITIES, Analysis, severity_rank
from nlp.labels import SENTIMENTS

__all__ = [
    "FIELDS", "FIELD_NAMES", "TRAINABLE", "FeedbackError", "LabelRow", "Shown", "allowed_values",
    "correct", "corrections", "effective", "history", "training_feedback",
]  # fmt: skip

logger = logging.getLogger(__name__)

FIELDS = ("relevant", "topic", "sentiment", "severity")
FIELD_NAMES = {
    "relevant": "liên quan",
    "topic": "chủ đề",
    "sentiment": "sắc thái",
    "severity": "mức độ",
}
TRAINABLE = ("topic", "sentiment", "severity")  # the fields ``monitor nlp train`` learns from
# What a form may send for relevance, and what is stored (as the analysis says it: true/false).
_RELEVANT = {"yes": "true", "no": "false", "true": "true", "false": "false"}


class FeedbackError(ValueError):
    """A correction that cannot be stored: an unknown field, a value it does not take, no author.

    The message is Vietnamese, then English, and names the allowed values (pages show it).
    """

    def __init__(
        self, message: str, *, field: str | None = None, allowed: tuple[str, ...] = ()
    ) -> None:
        self.field, self.allowed = field, allowed
        super().__init__(message)


def allowed_values(settings: Settings, field: str) -> tuple[str, ...]:
    """The values a correction of ``field`` takes (for a form's choices); FeedbackError if none."""
    if field == "relevant":
        return ("yes", "no")
    if field == "topic":
        return tuple(settings.topics)
    if field == "sentiment":
        return SENTIMENTS
    if field == "severity":
        return SEVERITIES
    raise FeedbackError(
        f"Không sửa được trường “{field}”; các trường sửa được: "
        + ", ".join(f"{name} ({f})" for f, name in FIELD_NAMES.items())
        + f". / Unknown field {field!r}; fields that can be corrected: {', '.join(FIELDS)}.",
        allowed=FIELDS,
    )


def _stored(settings: Settings, field: str, value: str) -> str:
    """The value as stored, or FeedbackError naming what is allowed."""
    allowed = allowed_values(settings, field)
    given = value.strip() if field == "topic" else value.strip().lower()
    if field == "relevant" and given in _RELEVANT:
        return _RELEVANT[given]
    if field != "relevant" and given in allowed:
        return given
    raise FeedbackError(
        f"Giá trị “{value}” không hợp lệ cho {FIELD_NAMES[field]} ({field}); "
        f"chọn một trong: {', '.join(allowed)}. / "
        f"{value!r} is not a valid {field}; allowed: {', '.join(allowed)}.",
        field=field,
        allowed=allowed,
    )


def correct(
    app: App,
    item_id: int,
    field: str,
    value: str,
    *,
    author: str,
    note: str | None = None,
    now: datetime | None = None,
) -> LabelRow:
    """Store an analyst's correction of one field of an item; returns the stored label.

    ``relevant`` takes yes/no (stored as true/false, as the analysis has it; true/false are taken
    too, so a stored value can be sent back), ``topic`` a code of
    ``settings.topics``, ``sentiment`` one of nlp.labels.SENTIMENTS, ``severity`` one of
    nlp.base.SEVERITIES. FeedbackError (a ValueError) for a bad field, value or a missing
    author, KeyError for an unknown item; nothing is stored when it raises. A severity raised to
    the case level opens or raises the story's case in the same transaction (module docstring).
    """
    stored = _stored(app.settings, field, value)
    who = author.strip()[:100]
    if not who:
        raise FeedbackError("Cần tên người sửa. / A correction needs its author.", field=field)
    at = now or datetime.now(UTC)
    text = (note or "").strip() or None
    with db.transaction(app.sessions) as session:
        item = labels.analysed_item(session, item_id)
        if item is None:
            raise KeyError(item_id)
        previous = item.values[field]
        row = labels.add_label(session, item_id, field, stored, previous, who, text, at)
        if field == "severity" and _opens_case(app.settings, previous, stored):
            _open_or_raise_case(app.settings, session, item_id, row)
    logger.info("item %d: %s corrected %s -> %s by %s", item_id, field, previous, stored, who)
    return row


def _opens_case(settings: Settings, previous: str | None, severity: str) -> bool:
    rank = severity_rank(severity)
    return rank >= severity_rank(settings.alerts.case_severity) and rank > severity_rank(
        previous or "none"
    )


def _open_or_raise_case(
    settings: Settings, session: db.Session, item_id: int, row: LabelRow
) -> None:
    """The pipeline's own path: the item's story (assigned now if it had none), then its case."""
    reason = f"{row.author} sửa mức độ: {row.previous or 'chưa phân tích'} → {row.value}"
    if row.note:
        reason += f" ({row.note})"
    corrected = Analysis("analyst", True, 1.0, severity=row.value, reasons=[reason])
    (done,) = story_store.assign(session, [item_id], policy_of(settings.stories), prune_index=False)
    opened = repo.open_or_update_case(
        session,
        done.story_id,
        item_id,
        corrected,
        case_severity=settings.alerts.case_severity,
        joined=done.joined,
        actor=row.author,
        due=due_map(settings),
    )
    logger.info(
        "item %d: case %s after a severity correction", item_id, "opened" if opened else "updated"
    )


def history(app: App, item_id: int) -> list[LabelRow]:
    """Every correction of the item, newest first."""
    with app.sessions() as session:
        return labels.labels_for_item(session, item_id)


def corrections(app: App, item_ids: Collection[int]) -> dict[int, dict[str, LabelRow]]:
    """The correction in force of each field of each item (for lists: "corrected by X")."""
    with app.sessions() as session:
        return labels.current_corrections(session, item_ids)


@dataclass(frozen=True, slots=True)
class Shown:
    """What a page shows for one field: the corrected value if any, else the analyser's."""

    value: str | None
    analysed: str | None  # the analyser's own value (relevance as "true"/"false")
    correction: LabelRow | None

    @property
    def corrected_by(self) -> str | None:
        """Who made the correction in force, if there is one."""
        return self.correction.author if self.correction else None


def _as_stored(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def effective(analysed: object, corrections: Mapping[str, LabelRow]) -> dict[str, Shown]:
    """Each field as shown: the latest correction wins over the analyser's value.

    ``analysed`` is a mapping or an object with the fields as attributes (e.g. a
    ``queries.ItemDetail``); ``corrections`` one item's entry of ``corrections(app, ids)``.
    """
    shown: dict[str, Shown] = {}
    for field in FIELDS:
        raw = (
            analysed.get(field) if isinstance(analysed, Mapping) else getattr(analysed, field, None)
        )
        own, label = _as_stored(raw), corrections.get(field)
        shown[field] = Shown(label.value if label else own, own, label)
    return shown


def training_feedback(
    settings: Settings, tasks: Iterable[str], *, engine: db.Engine | None = None
) -> dict[str, list[tuple[str, str, str]]]:
    """(title, text, label) of the latest correction per item, for each trainable task.

    Reads the configured database (or ``engine``) and writes nothing; StorageError when it is
    unreachable, absent or not migrated. The labels are settings topic codes and sentiments;
    ``nlp.training`` maps them onto the task's labels and skips those it does not know.
    """
    wanted = [t for t in tasks if t in TRAINABLE]
    own = engine is None
    if engine is None:
        labels.check_present(settings.database.url)
    bound = db.make_engine(settings.database.url) if engine is None else engine
    try:
        return {task: labels.read_training_labels(bound, task) for task in wanted}
    finally:
        if own:
            bound.dispose()
