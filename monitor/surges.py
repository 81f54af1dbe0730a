"""Surges: hourly counts of relevant coverage per province, topic and place against their baseline.

``count_analysed`` is called by the pipeline inside the transaction that stored a run's items.
"""

from __future__ import annotations

import logging

from monitor.config import Settings
from monitor.storage import db
from nlp.base import Analysis

logger = logging.getLogger(__name__)


def count_analysed(
    session: db.Session,
    settings: Settings,
    analysed: list[tuple[int, Analysis]],
    new_ids: set[int],
) -> None:
    """Add newly stored relevant items to the hourly counts surges are measured on."""
    return None
