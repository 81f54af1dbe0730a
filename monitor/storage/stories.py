"""Stories in the database: items assigned to the story of their copies, and the LSH index.

The index is the ``item_bands`` table: one row per LSH band of an item's MinHash signature,
looked up through ``ix_item_bands_band``; exact copies are found through ``ix_items_text_hash``.
Both lookups only reach items seen within the window, and bands older than it are pruned, so
assigning an item costs index look-ups whose size depends on the window, never on the history.
The index lives in the database: a restarted process continues grouping where the last one was.

A changed item (same URL, new text) is signed again and its bands replaced, but it stays in its
story: a corrected or completed article is the same story, and moving it would split cases.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import delete, func, insert, select, text, tuple_
from sqlalchemy.orm import Session, selectinload

from monitor.storage import repo
from monitor.storage.models import Analysis, Item, ItemBand, Story, utcnow
from nlp import dedup
from nlp.base import severity_rank

logger = logging.getLogger(__name__)
MAX_OUTLETS = 100  # outlets a story lists; the count goes on beyond (it may then over-count)
_KIND_RANK = {"news": 0, "manual": 1, "forum": 2, "social": 3}
_TOPIC_SAMPLE = 500  # a story's most common topic is counted over its first items
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class StoryPolicy:
    """How items are matched into stories (see StoriesSettings for what each field means)."""

    similarity: float = 0.5
    shingle_words: int = 3
    num_perm: int = 128
    bands: int = 32
    window: timedelta = timedelta(days=14)
    min_words: int = 12
    authoritative_hosts: tuple[str, ...] = ()
    # Most band-sharing items whose signatures are compared per new item.
    max_candidates: int = 32


@dataclass(frozen=True, slots=True)
class Assignment:
    """Where an item went: ``new`` story, joined as an ``exact`` or ``near`` copy, or ``kept``."""

    item_id: int
    story_id: int
    how: str
    similarity: float | None = None

    @property
    def joined(self) -> bool:
        """Whether the item joined a story that already had other items."""
        return self.how in ("exact", "near")


_ASSIGN_LOCK = 0x5709E5  # the advisory lock key of story assignment ("stories")


def assign(
    session: Session, item_ids: Sequence[int], policy: StoryPolicy, *, prune_index: bool = True
) -> list[Assignment]:
    """Sign freshly stored or changed items, put each in its story, and index their bands."""
    if item_ids and session.get_bind().dialect.name == "postgresql":
        # One run assigns at a time (until its transaction ends): two runs carrying copies of one
        # story would otherwise not see each other's new story (and split it), or lock two
        # stories in opposite orders (and deadlock). SQLite already writes one at a time.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ASSIGN_LOCK})
    if prune_index:
        # Twice what this call adds, so pruning keeps pace with insertion and catches up.
        prune(session, utcnow() - policy.window, limit=max(1000, 2 * policy.bands * len(item_ids)))
    done: list[Assignment] = []
    for start in range(0, len(item_ids), _CHUNK):
        items = session.scalars(
            select(Item)
            .where(Item.id.in_(item_ids[start : start + _CHUNK]))
            .options(selectinload(Item.analysis))
            .order_by(Item.id)
        ).all()  # read before assigning: assigning runs statements of its own
        done.extend(_assign_one(session, item, policy) for item in items)
    return done


def _assign_one(session: Session, item: Item, policy: StoryPolicy) -> Assignment:
    found = dedup.fingerprint(
        item.title,
        item.text,
        shingle_words=policy.shingle_words,
        num_perm=policy.num_perm,
        min_words=policy.min_words,
    )
    item.text_hash = found.text_hash
    item.minhash = dedup.to_bytes(found.signature) if found.signature else None
    keys = dedup.band_keys(found.signature, policy.bands) if found.signature else []
    seen = item.updated_at or item.fetched_at
    # A changed item's bands are replaced (and a pre-existing index is never a reason to fail).
    session.execute(delete(ItemBand).where(ItemBand.item_id == item.id))
    if item.story_id is not None:  # changed: re-indexed, kept in its story
        _index(session, item.id, keys, seen)
        refresh(session, item.story_id, policy)
        return Assignment(item.id, item.story_id, "kept")
    story_id, how, score = _match(
        session, item, found.text_hash, keys, seen - policy.window, policy
    )
    _index(session, item.id, keys, seen)
    story = _lock(session, story_id) if story_id is not None else None
    if story is None:
        story = Story(
            title=item.title,
            first_seen_at=item.fetched_at,
            last_seen_at=item.fetched_at,
            item_count=0,
            outlets=[],
            outlet_count=0,
            max_severity="none",
            sentiment_counts={},
        )
        session.add(story)
        session.flush()
        how, score = "new", None
    item.story_id = story.id
    _add(session, story, item, policy)
    return Assignment(item.id, story.id, how, score)


def _match(
    session: Session,
    item: Item,
    text_hash: str | None,
    keys: list[int],
    cutoff: datetime,
    policy: StoryPolicy,
) -> tuple[int | None, str, float | None]:
    """The story of the item's exact copy, else of its most similar near copy, within the window."""
    if text_hash is not None:
        story_id = session.scalar(
            select(Item.story_id)
            .where(
                Item.text_hash == text_hash,
                Item.id != item.id,
                Item.story_id.is_not(None),
                Item.fetched_at >= cutoff,
            )
            .order_by(Item.id.desc())
            .limit(1)
        )
        if story_id is not None:
            return story_id, "exact", 1.0
    if not keys or item.minhash is None:
        return None, "new", None
    # The items sharing most bands are the likeliest copies; only the first few are compared.
    shared = func.count()
    ids = session.scalars(
        select(ItemBand.item_id)
        .where(ItemBand.band.in_(keys), ItemBand.seen_at >= cutoff, ItemBand.item_id != item.id)
        .group_by(ItemBand.item_id)
        .order_by(shared.desc(), ItemBand.item_id.desc())
        .limit(policy.max_candidates)
    ).all()
    if not ids:
        return None, "new", None
    rows = session.execute(
        select(Item.story_id, Item.minhash).where(
            Item.id.in_(ids), Item.story_id.is_not(None), Item.minhash.is_not(None)
        )
    )
    mine = dedup.from_bytes(item.minhash)
    scored = [(dedup.similarity(mine, dedup.from_bytes(sig)), sid) for sid, sig in rows if sig]
    best = max(scored, default=(0.0, None))
    if best[1] is None or best[0] < policy.similarity:
        return None, "new", None
    return best[1], "near", best[0]


def _index(session: Session, item_id: int, keys: list[int], seen: datetime) -> None:
    if keys:
        rows = [
            {"item_id": item_id, "position": p, "band": key, "seen_at": seen}
            for p, key in enumerate(keys)
        ]
        session.execute(insert(ItemBand), rows)


def _lock(session: Session, story_id: int) -> Story | None:
    # Two runs adding to one story must not overwrite each other's counts (PostgreSQL): the row
    # is locked and read afresh (after writing out this session's own changes to it).
    session.flush()
    return session.get(Story, story_id, with_for_update=True, populate_existing=True)


def outlet_of(item: Item) -> str | None:
    """Who published an item: the outlet a Google News item names, else its URL's host."""
    named = (item.meta or {}).get("outlet")
    if isinstance(named, str) and named.strip():
        return named.strip()[:200]
    host = (urlsplit(item.url).hostname or "").lower()
    return host.removeprefix("www.") or None


def _authoritative(item: Item, hosts: tuple[str, ...]) -> bool:
    host = (urlsplit(item.url).hostname or "").lower().removeprefix("www.")
    return any(host == h or host.endswith("." + h) for h in (h.lower() for h in hosts))


def _rank(item: Item, policy: StoryPolicy) -> tuple[bool, int, datetime, int]:
    """Lower represents a story better: authoritative, news, earliest."""
    when = item.published_at or item.fetched_at
    authoritative = _authoritative(item, policy.authoritative_hosts)
    return (not authoritative, _KIND_RANK.get(item.kind, 4), when, item.id)


def _add(session: Session, story: Story, item: Item, policy: StoryPolicy) -> None:
    """Count an item into its story's figures."""
    story.item_count += 1
    story.first_seen_at = min(story.first_seen_at, item.fetched_at)
    story.last_seen_at = max(story.last_seen_at, item.updated_at or item.fetched_at)
    outlet = outlet_of(item)
    if outlet and outlet not in story.outlets:
        story.outlet_count += 1
        if len(story.outlets) < MAX_OUTLETS:
            story.outlets = [*story.outlets, outlet]
    analysis = item.analysis
    if analysis is not None:
        if severity_rank(analysis.severity) > severity_rank(story.max_severity):
            story.max_severity = analysis.severity
        if analysis.sentiment:
            counts = dict(story.sentiment_counts)
            counts[analysis.sentiment] = counts.get(analysis.sentiment, 0) + 1
            story.sentiment_counts = counts
        if story.topic is None:
            story.topic = analysis.topic
        elif analysis.topic and analysis.topic != story.topic:
            session.flush()
            story.topic = _common_topic(session, story.id) or story.topic
    current = (
        session.get(Item, story.representative_item_id) if story.representative_item_id else None
    )
    if current is None or _rank(item, policy) < _rank(current, policy):
        story.representative_item_id, story.title = item.id, item.title


def _common_topic(session: Session, story_id: int) -> str | None:
    sample = (
        select(Analysis.topic)
        .join(Item, Item.id == Analysis.item_id)
        .where(Item.story_id == story_id, Analysis.topic.is_not(None))
        .order_by(Item.id)
        .limit(_TOPIC_SAMPLE)
        .subquery()
    )
    count = func.count()
    return session.scalar(
        select(sample.c.topic).group_by(sample.c.topic).order_by(count.desc(), sample.c.topic)
    )


def refresh(session: Session, story_id: int, policy: StoryPolicy) -> None:
    """Recount a story's figures from all its items (after one of them changed)."""
    story = _lock(session, story_id)
    if story is None:
        return
    items = list(
        session.scalars(
            select(Item)
            .where(Item.story_id == story_id)
            .options(selectinload(Item.analysis))
            .order_by(Item.id)
        )
    )
    if not items:
        return
    story.item_count = story.outlet_count = 0
    story.outlets, story.sentiment_counts, story.topic = [], {}, None
    story.max_severity, story.representative_item_id = "none", None
    story.first_seen_at = story.last_seen_at = items[0].fetched_at
    for item in items:
        _add(session, story, item, policy)


def prune(session: Session, before: datetime, limit: int = 10_000) -> int:
    """Delete up to ``limit`` index rows seen before a time; returns how many were deleted.

    Rows another run is deleting are skipped (PostgreSQL), so concurrent runs never wait on
    each other here; what is left is pruned by the next call.
    """
    doomed = (
        select(ItemBand.item_id, ItemBand.position)
        .where(ItemBand.seen_at < before)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = session.execute(
        delete(ItemBand).where(tuple_(ItemBand.item_id, ItemBand.position).in_(doomed))
    )
    deleted = int(getattr(result, "rowcount", 0) or 0)
    if deleted:
        logger.debug("pruned %d index rows seen before %s", deleted, before)
    return deleted


def rebuild(
    session: Session, policy: StoryPolicy, since: timedelta, limit: int = _CHUNK
) -> list[Assignment]:
    """Assign stories to up to ``limit`` items stored since then without one, oldest first.

    An item's own case from before stories existed becomes its story's case, if the story has
    none. Call until it returns nothing; the index is not pruned meanwhile (old items must still
    match each other), the next crawl prunes it.
    """
    ids = session.scalars(
        select(Item.id)
        .where(Item.story_id.is_(None), Item.fetched_at >= utcnow() - since)
        .order_by(Item.fetched_at, Item.id)
        .limit(limit)
    ).all()
    done = assign(session, ids, policy, prune_index=False)
    for assignment in done:
        repo.story_case(session, assignment.story_id, assignment.item_id)
    return done
