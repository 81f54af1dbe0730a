"""The full analyser: relevance and places, topic, sentiment and severity, with reasons."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Protocol

from nlp.base import Analysis
from nlp.places import PlaceMatcher
from nlp.relevance import RelevanceModel, features
from nlp.severity import SeverityModel
from nlp.text import prepare

MAX_PLACE_CHARS = 20_000


class TextModel(Protocol):
    """A trained classifier over segmented words: the primary label and a score for every label."""

    version: str

    def predict(self, words: str) -> tuple[str, dict[str, float]]:
        """Classify one prepared text."""
        ...


class NlpAnalyser:
    """Prepares each item once, then runs every step on it."""

    def __init__(
        self,
        places: PlaceMatcher,
        topic: TextModel,
        sentiment: TextModel,
        severity: SeverityModel,
        topic_names: Mapping[str, str] | None = None,
        *,
        classify_irrelevant: bool = True,
        relevance: RelevanceModel | None = None,
    ) -> None:
        self.places, self.topic, self.sentiment, self.severity = places, topic, sentiment, severity
        self.relevance = relevance  # learnt context, over the gazetteer's verdict
        self.topic_names = dict(topic_names or {})
        # Word segmentation is most of the cost; national feeds are mostly about other places.
        self.classify_irrelevant = classify_irrelevant
        self.version = f"{topic.version}+{sentiment.version}+{severity.version}"
        if relevance is not None:
            self.version += f"+{relevance.version}"

    def analyse(self, title: str, text: str, kind: str = "news") -> Analysis:
        """Analyse one item (title and text as collected, kind news/social/forum/manual)."""
        # Place matching reads the whole text (a mention deep in it counts), within reason.
        relevance = self.places.match(title[:MAX_PLACE_CHARS], text[:MAX_PLACE_CHARS])
        # The learnt context only overrules the rules' "relevant" (a home town, a results
        # table); a text the rules find not about the province stays so (national lists).
        if self.relevance is not None and relevance.relevant:
            found = features(
                title[:MAX_PLACE_CHARS],
                text[:MAX_PLACE_CHARS],
                relevance.score,
                relevance.relevant,
                relevance.places,
                kind,
            )
            decided, _, reason = self.relevance.decide(found)
            relevance = replace(relevance, relevant=decided, reasons=[*relevance.reasons, reason])
        if not relevance.relevant and not self.classify_irrelevant:
            return Analysis(
                self.version,
                False,
                round(relevance.score, 3),
                "none",
                relevance.places,
                reasons=[*relevance.reasons, "không liên quan tới địa bàn: không phân loại chủ đề"],
            )
        prepared = prepare(title, text)
        topic, topic_scores = self.topic.predict(prepared.words)
        sentiment, sentiment_scores = self.sentiment.predict(prepared.words)
        verdict = self.severity.assess(
            prepared.text,
            prepared.words,
            relevant=relevance.relevant,
            title=title,
            kind=kind,
            topic_scores=topic_scores,
            sentiment_scores=sentiment_scores,
            topic_names=self.topic_names,
        )
        return Analysis(
            model_version=self.version,
            relevant=relevance.relevant,
            relevance_score=round(relevance.score, 3),
            severity=verdict.level,
            places=relevance.places,
            topic=topic,
            topic_scores={k: round(v, 4) for k, v in topic_scores.items()},
            sentiment=sentiment,
            sentiment_score=round(sentiment_scores.get(sentiment, 0.0), 4),
            reasons=[*relevance.reasons, *verdict.reasons],
        )
