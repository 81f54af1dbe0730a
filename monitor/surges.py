"""Surges: hourly counts of relevant coverage per province, topic and place against their baseline.

``count_analysed`` is called by the pipeline inside the transaction that stored a run's items: each
new relevant item adds one to the hour it was first seen, for the province ("all"), its topic, each
place it names, and each topic at each place ("land_planning@Huyện Hải Hậu", so a case can say
"14 tin về Đất đai tại huyện Hải Hậu").

``detect`` judges the last ``recent_hours`` (the window ending this hour, still filling, and the one
ending at the hour just completed, so a burst late in an hour is judged whole): a surge is at least
``min_count`` items, ``ratio`` times the ``compare_hours`` before, and above mean + k x std of the same
hours over the last ``history_days``. The same test on negative items, with ``min_negative``, makes a
negative surge. Hours before counting began are unknown, not quiet: nothing is judged until the
baseline and at least one day of history were counted. A broader surge that a narrower one explains
(the province because of one topic at one place) is folded into it, so one burst makes one case.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from monitor.bootstrap import App
from monitor.cases import due_map
from monitor.config import Settings, SurgesSettings
from monitor.storage import db, surgecounts
from monitor.storage.surgecounts import SurgeCase
from nlp.base import Analysis

logger = logging.getLogger(__name__)
HOUR = timedelta(hours=1)
_UNIT_WORDS = ("Tỉnh ", "Thành phố ", "Huyện ", "Quận ", "Thị xã ", "Thị trấn ", "Xã ", "Phường ")


@dataclass(frozen=True, slots=True)
class Surge:
    """Unusual coverage of one key in the window ending at ``hour``, with the figures judged."""

    dimension: str  # province | topic | place | topic_place
    key: str
    hour: datetime  # the window's last hour (UTC)
    recent: int
    usual: float  # per window, from the hours before it
    negative: int
    usual_negative: float
    of_total: bool
    of_negative: bool
    history: tuple[float, float] = (0.0, 0.0)  # mean, std of the same window on earlier days
    history_negative: tuple[float, float] = (0.0, 0.0)
    covers: tuple[str, ...] = field(default=())  # broader surges this one explains

    @property
    def surge_key(self) -> str:
        """What surged, as cases know it: "topic:land_planning"."""
        return f"{self.dimension}:{self.key}"


def floor_hour(moment: datetime) -> datetime:
    """The UTC hour a moment falls in."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


# -- counting ------------------------------------------------------------------------------------


def count_keys(analysis: Analysis) -> set[tuple[str, str]]:
    """The (dimension, key) pairs one relevant item counts towards."""
    places = {p.name[:150] for p in analysis.places if p.level != "province"}
    keys = {("province", "all"), *(("place", name) for name in places)}
    if analysis.topic:
        keys.add(("topic", analysis.topic))
        keys |= {("topic_place", f"{analysis.topic}@{name}") for name in places}
    return keys


def count_analysed(
    session: db.Session,
    settings: Settings,
    analysed: list[tuple[int, Analysis]],
    new_ids: set[int],
) -> None:
    """Add newly stored relevant items to the hourly counts surges are measured on."""
    fresh = [(item_id, a) for item_id, a in analysed if item_id in new_ids and a.relevant]
    if not fresh:
        return
    seen = surgecounts.first_seen(session, [item_id for item_id, _ in fresh])
    max_age = timedelta(seconds=settings.surges.max_age)
    counts: dict[tuple[datetime, str, str], tuple[int, int]] = {}
    backlog = 0
    for item_id, analysis in fresh:
        fetched, published = seen[item_id]
        if published is not None and fetched - published > max_age:
            backlog += 1  # old news found now (a first crawl, an archive page): not coverage now
            continue
        hour, negative = floor_hour(fetched), int(analysis.sentiment == "negative")
        for dimension, key in count_keys(analysis):
            total, neg = counts.get((hour, dimension, key), (0, 0))
            counts[(hour, dimension, key)] = (total + 1, neg + negative)
    surgecounts.add_counts(session, counts)
    logger.debug("surge counts: %d item(s) counted, %d backlog", len(fresh) - backlog, backlog)


# -- the rule (pure) -----------------------------------------------------------------------------


def _window(end: datetime, hours: int) -> list[datetime]:
    return [end - i * HOUR for i in range(hours)]


@dataclass(frozen=True, slots=True)
class Plan:
    """The hours one window is compared with; ``ready`` once they were all counted."""

    recent: list[datetime]
    baseline: list[datetime]
    days: list[list[datetime]]
    ready: bool

    @classmethod
    def ending(cls, end: datetime, cfg: SurgesSettings, began: datetime) -> Plan:
        """The plan for the window of ``cfg.recent_hours`` ending at ``end``."""
        recent = _window(end, cfg.recent_hours)
        baseline = _window(end - cfg.recent_hours * HOUR, cfg.compare_hours)
        days = [
            _window(end - timedelta(days=d), cfg.recent_hours)
            for d in range(1, 1 + cfg.history_days)
        ]
        days = [day for day in days if min(day) >= began]
        return cls(recent, baseline, days, bool(days) and min(baseline) >= began)

    def hours(self) -> set[datetime]:
        """Every hour the plan reads."""
        return {*self.recent, *self.baseline, *(h for day in self.days for h in day)}


def _sum(counts: Mapping[datetime, tuple[int, int]], hours: list[datetime], j: int) -> int:
    return sum(counts.get(h, (0, 0))[j] for h in hours)


def _fires(
    recent: int, usual: float, history: tuple[float, float], minimum: int, cfg: SurgesSettings
) -> bool:
    mean, std = history
    floor = cfg.recent_hours / cfg.compare_hours  # "one item in the baseline", so 0 is not 0
    return (
        recent >= minimum
        and recent >= cfg.ratio * max(usual, floor)
        and recent > mean + cfg.k * std
    )


def judge(
    dimension: str,
    key: str,
    counts: Mapping[datetime, tuple[int, int]],
    plan: Plan,
    cfg: SurgesSettings,
) -> Surge | None:
    """The surge of one key in one window, or None: the rule itself, on counts already read."""
    if not plan.ready:
        return None
    figures = []
    for j in (0, 1):
        recent = _sum(counts, plan.recent, j)
        usual = _sum(counts, plan.baseline, j) * len(plan.recent) / len(plan.baseline)
        per_day = [_sum(counts, day, j) for day in plan.days]
        history = (statistics.fmean(per_day), statistics.pstdev(per_day))
        minimum = cfg.min_negative if j else cfg.min_count
        figures.append((recent, usual, history, _fires(recent, usual, history, minimum, cfg)))
    (recent, usual, history, of_total), (neg, usual_neg, history_neg, of_neg) = figures
    if not (of_total or of_neg):
        return None
    return Surge(
        dimension, key, plan.recent[0], recent, usual, neg, usual_neg, of_total, of_neg,
        history, history_neg,
    )  # fmt: skip


def _refines(narrow: Surge, broad: Surge) -> bool:
    if broad.dimension == "province":
        return narrow.dimension != "province"
    if narrow.dimension != "topic_place":
        return False
    topic, _, place = narrow.key.partition("@")
    return (broad.dimension, broad.key) in (("topic", topic), ("place", place))


def explains(narrow: Surge, broad: Surge) -> bool:
    """Whether a narrower surge accounts for at least half of what a broader one has over usual."""
    if not _refines(narrow, broad):
        return False
    if broad.of_total and not (
        narrow.of_total and 2 * (narrow.recent - narrow.usual) >= broad.recent - broad.usual
    ):
        return False
    excess_neg = narrow.negative - narrow.usual_negative
    return not broad.of_negative or (
        narrow.of_negative and 2 * excess_neg >= broad.negative - broad.usual_negative
    )


def fold(surges: list[Surge]) -> list[Surge]:
    """Keep the surges no narrower one explains; each names the broader ones it explains."""
    kept = [s for s in surges if not any(explains(n, s) for n in surges)]
    return [replace(k, covers=tuple(s.surge_key for s in surges if explains(k, s))) for k in kept]


# -- detection and cases -------------------------------------------------------------------------


def detect(session: db.Session, settings: Settings, now: datetime) -> list[Surge]:
    """The surges at ``now``, judged on the stored hourly counts (reads only)."""
    cfg = settings.surges
    began = surgecounts.counting_began(session)
    if began is None:
        return []
    plans = [Plan.ending(floor_hour(now) - i * HOUR, cfg, began) for i in (0, 1)]
    plans = [plan for plan in plans if plan.ready]
    if not plans:
        return []
    floor = min(cfg.min_count, cfg.min_negative)  # cheap first cut: too few items cannot surge
    recent = surgecounts.series(session, {h for p in plans for h in p.recent})
    candidates = {k for k, c in recent.items() if any(_sum(c, p.recent, 0) >= floor for p in plans)}
    if not candidates:
        return []
    counts = surgecounts.series(session, set().union(*(p.hours() for p in plans)), candidates)
    found = []
    for dimension, key in sorted(candidates):
        judged = (judge(dimension, key, counts.get((dimension, key), {}), p, cfg) for p in plans)
        surge = next((s for s in judged if s is not None), None)
        if surge is not None:
            found.append(surge)
    return fold(found)


def opens_case(surge: Surge, cfg: SurgesSettings) -> bool:
    """Whether this surge is one staff are told about."""
    return surge.of_negative or cfg.case_on == "any"


def severity_of(surge: Surge, cfg: SurgesSettings) -> str:
    """Negative coverage: alert, critical at 3 x min_count negative items; else watch."""
    if not surge.of_negative:
        return "watch"
    return "critical" if surge.negative >= 3 * cfg.min_count else "alert"


def _number(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0").replace(".", ",")


def _place(name: str) -> str:
    return name[0].lower() + name[1:] if name.startswith(_UNIT_WORDS) else name


def _subject(surge: Surge, settings: Settings) -> str:
    if surge.dimension == "province":
        return "về tỉnh"
    if surge.dimension == "place":
        return f"về {_place(surge.key)}"
    topic, _, place = surge.key.partition("@")
    name = settings.topics.get(topic, topic)
    return f"về {name} tại {_place(place)}" if place else f"về {name}"


def title_of(surge: Surge, settings: Settings) -> str:
    """The case title, e.g. "Đột biến: 14 tin tiêu cực về Đất đai... tại huyện Hải Hậu trong 1 giờ qua (thường 1)"."""
    count, usual, tone = (
        (surge.negative, surge.usual_negative, "tin tiêu cực")
        if surge.of_negative
        else (surge.recent, surge.usual, "tin")
    )
    hours = settings.surges.recent_hours
    return f"Đột biến: {count} {tone} {_subject(surge, settings)} trong {hours} giờ qua (thường {_number(usual)})"


def figures(surge: Surge) -> dict[str, object]:
    """A surge's figures as a case event keeps them (JSON)."""
    return {
        "surge_key": surge.surge_key,
        "hour": surge.hour.isoformat(),
        "recent": surge.recent,
        "usual": round(surge.usual, 2),
        "negative": surge.negative,
        "usual_negative": round(surge.usual_negative, 2),
        "history": [round(x, 2) for x in surge.history],
        "history_negative": [round(x, 2) for x in surge.history_negative],
        "of_total": surge.of_total,
        "of_negative": surge.of_negative,
        "covers": list(surge.covers),
    }


def record(
    session: db.Session, settings: Settings, surges: list[Surge], now: datetime
) -> list[tuple[Surge, SurgeCase]]:
    """Open or continue a case for each surge that qualifies."""
    cfg = settings.surges
    return [
        (s, surgecounts.record_surge(session, s.surge_key, title_of(s, settings), severity_of(s, cfg), figures(s), now, due_map(settings)))
        for s in surges
        if opens_case(s, cfg)
    ]  # fmt: skip


def run(app: App, now: datetime) -> list[tuple[Surge, SurgeCase]]:
    """Detect surges and open or continue their cases (the scheduled job's work)."""
    with db.transaction(app.sessions) as session:
        surges = detect(session, app.settings, now)
        outcomes = record(session, app.settings, surges, now)
    for surge, case in outcomes:
        level = logging.WARNING if case.action == "opened" else logging.INFO
        logger.log(level, "surge %s: %d item(s), usual %.1f: case %d %s",
                   surge.surge_key, surge.recent, surge.usual, case.case_id, case.action)  # fmt: skip
    return outcomes


def current(app: App, now: datetime) -> list[tuple[Surge, int | None]]:
    """The surges at ``now`` with the open case of each, if any (reads only)."""
    with app.sessions() as session:
        surges = detect(session, app.settings, now)
        cases = surgecounts.open_cases(session, [s.surge_key for s in surges])
    return [(s, cases.get(s.surge_key)) for s in surges]
