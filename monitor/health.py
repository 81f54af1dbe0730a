"""Source health policy: how failures add up to a disabled source, and when a source is silent.

Pure functions of numbers and times; ``monitor.storage.sourcehealth`` applies them to stored
sources. Outcomes of a run weigh differently:

- hard: a permanent error (404/410, 401/403, robots.txt disallows, an expired API token), which
  retrying will not fix;
- temporary: a transient error (timeouts, 5xx, 429), which often goes away by itself;
- soft: the run stored what it could but had to warn (a damaged feed, pages skipped);
- ok: a clean run, which takes a fifth off the score, so a source that recovers is forgiven
  within a few runs.

Each failed run decays the old score a little and adds its weight, so one bad night does not
disable a source, while one that fails permanently every other run still adds up to disabled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from crawlers.errors import PermanentSourceError, SourceError

OUTCOMES = ("ok", "soft", "temporary", "hard")


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """When a failing source is disabled and when a quiet one counts as silent."""

    hard_weight: float = 1.0
    temporary_weight: float = 0.4
    soft_weight: float = 0.1
    decay: float = 0.9
    recovery: float = 0.8
    disable_at: float = 3.0
    silent_factor: float = 5.0
    silent_min: timedelta = timedelta(hours=12)
    min_history: int = 5
    # Items closer together than this arrived in one batch (undated items are stamped as they are
    # stored); their gaps say nothing about the source's pace.
    min_gap: timedelta = timedelta(minutes=1)


def outcome_of(error: SourceError | None, warnings: int = 0) -> str:
    """Classify a run: hard, temporary, soft or ok."""
    if error is None:
        return "soft" if warnings else "ok"
    return "hard" if isinstance(error, PermanentSourceError) else "temporary"


def next_score(score: float, outcome: str, policy: HealthPolicy) -> float:
    """The failure score after a run with this outcome."""
    if outcome == "ok":
        return round(score * policy.recovery, 4) if score >= 0.01 else 0.0
    weight = {
        "hard": policy.hard_weight,
        "temporary": policy.temporary_weight,
        "soft": policy.soft_weight,
    }[outcome]
    return round(score * policy.decay + weight, 4)


def usual_gap(times: list[datetime], policy: HealthPolicy) -> timedelta | None:
    """The median time between a source's consecutive items; None with too little history."""
    ordered = sorted(times)
    floor = policy.min_gap.total_seconds()
    pairs = zip(ordered, ordered[1:], strict=False)
    gaps = [gap for a, b in pairs if (gap := (b - a).total_seconds()) >= floor]
    if len(ordered) < policy.min_history or not gaps:
        return None
    return timedelta(seconds=median(gaps))


def silent_after(gap: timedelta | None, policy: HealthPolicy) -> timedelta | None:
    """How long without a new item makes a source silent (None: not enough history to say)."""
    if gap is None:
        return None
    return max(gap * policy.silent_factor, policy.silent_min)


def is_silent(
    last_new: datetime | None, now: datetime, gap: timedelta | None, policy: HealthPolicy
) -> bool:
    """Whether a source has brought nothing new for K times its usual gap."""
    limit = silent_after(gap, policy)
    return last_new is not None and limit is not None and now - last_new > limit


def describe_gap(delta: timedelta) -> str:
    """A duration in Vietnamese words a person reads at a glance (``3 giờ``, ``2 ngày``)."""
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} ngày"
    if seconds >= 2 * 3600:
        return f"{seconds // 3600} giờ"
    return f"{max(seconds // 60, 1)} phút"
