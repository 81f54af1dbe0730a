"""Stories: copies of one article across outlets grouped into one story, with one case per story.

``on_analysed`` is called by the pipeline inside the transaction that stored and analysed a run's
items. Every analysed item is grouped, relevant to the province or not: reach is counted on all
copies, and a story that is not about the province today may be once a copy names a place.
A case opens when a flagged item (at ``alerts.case_severity``) is in a story without one;
later copies update that case, whatever their own severity.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from monitor.cases import due_map
from monitor.config import Settings, StoriesSettings
from monitor.storage import db, repo
from monitor.storage import stories as storage
from monitor.storage.stories import StoryPolicy
from nlp.base import Analysis

logger = logging.getLogger(__name__)


def policy_of(settings: StoriesSettings) -> StoryPolicy:
    """The matching policy the stories settings describe."""
    return StoryPolicy(
        similarity=settings.similarity,
        shingle_words=settings.shingle_words,
        num_perm=settings.num_perm,
        bands=settings.bands,
        window=timedelta(seconds=settings.window),
        min_words=settings.min_words,
        authoritative_hosts=settings.authoritative_hosts,
    )


def on_analysed(
    session: db.Session,
    settings: Settings,
    analysed: list[tuple[int, Analysis]],
    new_ids: set[int],
) -> int:
    """Group freshly analysed items into stories and open/update their cases; returns cases opened."""
    if not analysed:
        return 0
    by_item = dict(analysed)
    assignments = storage.assign(session, list(by_item), policy_of(settings.stories))
    opened, due = 0, due_map(settings)
    for done in assignments:
        opened += repo.open_or_update_case(
            session,
            done.story_id,
            done.item_id,
            by_item[done.item_id],
            case_severity=settings.alerts.case_severity,
            joined=done.joined,
            due=due,
        )
    grouped = sum(done.joined for done in assignments)
    if grouped:
        logger.info("%d of %d items joined an existing story", grouped, len(assignments))
    return opened


def rebuild(sessions: db.Sessions, settings: Settings, since: timedelta) -> int:
    """Give a story to every item stored since then without one, in batches; returns how many."""
    policy, total = policy_of(settings.stories), 0
    while True:
        with db.transaction(sessions) as session:
            done = storage.rebuild(session, policy, since)
        if not done:
            return total
        total += len(done)
        logger.info("%d items grouped into stories so far", total)
