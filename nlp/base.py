"""The analyser interface the application calls, and the plain data it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

# Ordered from least to most urgent; cases open at the level the application is configured with.
SEVERITIES: tuple[str, ...] = ("none", "watch", "alert", "critical")


def severity_rank(severity: str) -> int:
    """Position of a severity on the ladder (unknown values rank lowest)."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


@dataclass(frozen=True, slots=True)
class Place:
    """A place named in a text: its name, level, old and new unit, and where it was found."""

    name: str
    level: str
    start: int
    end: int
    old_unit: str | None = None
    new_unit: str | None = None


@dataclass(frozen=True, slots=True)
class Analysis:
    """What an analyser concluded about one item, with the reasons a person can check."""

    model_version: str
    relevant: bool
    relevance_score: float
    severity: str = "none"
    places: list[Place] = field(default_factory=list)
    topic: str | None = None
    topic_scores: dict[str, float] = field(default_factory=dict)
    sentiment: str | None = None
    sentiment_score: float | None = None
    reasons: list[str] = field(default_factory=list)


class Analyser(Protocol):
    """Decides relevance, topic, sentiment and severity of an item's title and text."""

    version: str

    def analyse(self, title: str, text: str, kind: str = "news") -> Analysis:
        """Analyse one item (``kind``: news, social, forum or manual)."""
        ...
