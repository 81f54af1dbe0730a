"""A keyword analyser: the province's names in a text make it relevant.

It stands in until the trained classifiers land. Matching is case- and accent-insensitive
(social text is often typed without diacritics); an accent-exact match scores higher.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from nlp.base import Analysis, Place
from nlp.gazetteer import Gazetteer
from nlp.normalize import fold, nfc_lower

# Words that make a relevant item worth a person's attention now; they rank severity only.
DEFAULT_ALERT_TERMS = (
    "tai nạn",
    "cháy",
    "nổ",
    "ngộ độc",
    "đuối nước",
    "sạt lở",
    "ngập",
    "bão",
    "lũ",
    "vỡ đê",
    "biểu tình",
    "tụ tập đông người",
    "khiếu kiện",
    "tố cáo",
    "tham nhũng",
    "lừa đảo",
    "khởi tố",
    "bắt giữ",
    "ô nhiễm",
    "dịch bệnh",
    "bức xúc",
)
DEFAULT_CRITICAL_TERMS = ("tử vong", "thiệt mạng", "chết", "vỡ đê", "ngộ độc tập thể", "mất tích")


@dataclass(frozen=True, slots=True)
class _Term:
    text: str
    level: str
    old_unit: str | None = None
    new_unit: str | None = None


def _pattern(terms: Iterable[str], norm: Callable[[str], str] = fold) -> re.Pattern[str] | None:
    folded = sorted({norm(t) for t in terms if t.strip()}, key=len, reverse=True)
    if not folded:
        return None
    return re.compile(r"(?<!\w)(" + "|".join(re.escape(t) for t in folded) + r")(?!\w)")


class KeywordAnalyser:
    """Relevant when the province, an alias, a landmark or a named unit ("huyện Hải Hậu") appears."""

    version = "keyword-1"

    def __init__(
        self,
        gazetteer: Gazetteer,
        aliases: Iterable[str] = (),
        landmarks: Iterable[str] = (),
        keywords: Iterable[str] = (),
        alert_terms: Iterable[str] = DEFAULT_ALERT_TERMS,
        critical_terms: Iterable[str] = DEFAULT_CRITICAL_TERMS,
    ) -> None:
        self._terms: dict[str, _Term] = {}
        self._exact: set[str] = set()
        self._add(_Term(gazetteer.province, "province"), f"tỉnh {gazetteer.province}")
        for unit in gazetteer.units:
            if unit.level != "province":
                # A bare district or commune name exists in other provinces too; only its full form counts.
                self._add(
                    _Term(unit.full_name, unit.level, unit.parent, unit.new_unit), unit.full_name
                )
        for alias in aliases:
            self._add(_Term(alias, "alias"), alias)
        for landmark in landmarks:
            self._add(_Term(landmark, "landmark"), landmark)
        for keyword in keywords:
            self._add(_Term(keyword, "keyword"), keyword)
        self._place_re = _pattern(self._terms)
        # Alarm words must match with their diacritics: folded, "cháy" (fire) would be "chạy" (run).
        self._alert_re = _pattern(alert_terms, nfc_lower)
        self._critical_re = _pattern(critical_terms, nfc_lower)

    def _add(self, term: _Term, *forms: str) -> None:
        for form in (term.text, *forms):
            self._terms.setdefault(fold(form), term)
            self._exact.add(nfc_lower(form))

    def _places(self, text: str, folded: str) -> tuple[list[Place], float]:
        places: list[Place] = []
        score = 0.0
        if self._place_re is None:
            return places, score
        lowered = nfc_lower(text)
        for match in self._place_re.finditer(folded):
            term = self._terms[match.group(1)]
            exact = lowered[match.start() : match.end()] in self._exact
            score = max(score, 1.0 if exact else 0.6)
            places.append(
                Place(
                    term.text, term.level, match.start(), match.end(), term.old_unit, term.new_unit
                )
            )
        return places, score

    def analyse(self, title: str, text: str, kind: str = "news") -> Analysis:
        """Find the province's names; rank severity by alarm words if the item is relevant."""
        body = f"{title}\n{text}"
        places, score = self._places(body, fold(body))
        relevant = bool(places)
        reasons = [f"nhắc tới “{name}”" for name in dict.fromkeys(p.name for p in places)][:5]
        severity = "watch" if relevant else "none"
        if relevant:
            for level, pattern in (("critical", self._critical_re), ("alert", self._alert_re)):
                hits = (
                    sorted({m.group(1) for m in pattern.finditer(nfc_lower(body))})
                    if pattern
                    else []
                )
                if hits:
                    severity = level
                    reasons.append(f"từ khoá mức {level}: " + ", ".join(hits[:5]))
                    break
        return Analysis(self.version, relevant, score, severity, places, reasons=reasons)
