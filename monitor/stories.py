"""Stories: copies of one article across outlets grouped into one story, with one case per story.

Called by the pipeline inside the transaction that stored and analysed a run's items.
"""

from __future__ import annotations

import logging

from monitor.config import Settings
from monitor.storage import db, repo
from nlp.base import Analysis, severity_rank

logger = logging.getLogger(__name__)


def on_analysed(
    session: db.Session,
    settings: Settings,
    analysed: list[tuple[int, Analysis]],
    new_ids: set[int],
) -> int:
    """Group freshly analysed items into stories and open/update cases; returns cases opened."""
    threshold = severity_rank(settings.alerts.case_severity)
    opened = 0
    for item_id, analysis in analysed:
        if severity_rank(analysis.severity) >= threshold:
            opened += repo.open_or_update_case(session, item_id, analysis)
    return opened
