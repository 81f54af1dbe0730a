"""Severity: how urgently a person must look at an item, with the reasons in Vietnamese.

none      not about the province, or nothing to act on
watch     goes in the daily digest
alert     follow up today (criticism of officials or services, a fatal accident, pollution,
          a misconduct allegation, food poisoning, a petition)
critical  escalate now (mass casualties, a disaster in progress, unrest, a dike breach, an
          outbreak, a viral accusation against the provincial government)

The score adds a crisis-lexicon term's weight, the topic's risk and the negative tone, scaled by
the source kind (a social post spreads faster than a routine notice). Every weight and threshold
comes from configuration; the defaults below are the shipped ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from nlp.normalize import fold, nfc_lower

LEVELS = ("none", "watch", "alert", "critical")

DEFAULT_LEXICON: dict[str, tuple[str, ...]] = {
    "critical": (
        "vỡ đê",
        "tràn đê",
        "sập cầu",
        "sập nhà",
        "nhiều người tử vong",
        "nhiều người thiệt mạng",
        "thương vong lớn",
        "cháy lớn",
        "nổ lớn",
        "lũ quét",
        "bạo loạn",
        "gây rối trật tự công cộng",
        "tụ tập đông người",
        "biểu tình",
        "dịch bùng phát",
        "ổ dịch",
        "ngộ độc tập thể",
        "mất tích trên biển",
        "khẩn cấp",
        "sơ tán",
    ),
    "alert": (
        "tử vong",
        "thiệt mạng",
        "chết",
        "tai nạn",
        "cháy",
        "nổ",
        "đuối nước",
        "ngộ độc",
        "ô nhiễm",
        "cá chết",
        "sạt lở",
        "ngập lụt",
        "bão",
        "dịch bệnh",
        "bị bắt",
        "bắt tạm giam",
        "khởi tố",
        "tham nhũng",
        "nhận hối lộ",
        "sai phạm",
        "tiêu cực",
        "tố cáo",
        "bức xúc",
        "khiếu kiện",
        "đơn thư",
        "kiến nghị tập thể",
        "lừa đảo",
        "hành hung",
        "gây phẫn nộ",
        "dân kêu trời",
    ),
    "watch": (
        "phản ánh",
        "kiến nghị",
        "khiếu nại",
        "chậm tiến độ",
        "xuống cấp",
        "bất cập",
        "vi phạm",
        "xử phạt",
        "cảnh báo",
        "thiếu",
        "quá tải",
        "ùn tắc",
        "mất điện",
        "mất nước",
    ),
}

# Everyday phrases that contain an alarm term but raise no alarm ("bùng nổ" doanh số, "cháy vé").
DEFAULT_IGNORE: tuple[str, ...] = (
    "bùng nổ",
    "cháy vé",
    "cháy hàng",
    "cháy túi",
    "bão giá",
    "cơn bão giá",
    "bão lòng",
    "nổ lực",
    "chết cười",
    "chết mê",
    "diễn tập",
    "phòng cháy",
    "chữa cháy",
    "phòng chống cháy nổ",
    "tai nạn lao động giảm",
    "xả lũ thành công",
    "dự báo bão",
    "không có thiệt hại",
)
# A term right after one of these is denied, not reported ("không có ai tử vong").
_NEGATION = re.compile(
    r"(?:không|chưa|chẳng|ko|khong|chua)(?:\s+(?:có|co|bị|bi|ai|người|nguoi|hề|he)){0,2}\s*$"
)

# Signs that a post is spreading: they add ``viral_weight`` on top of everything else.
DEFAULT_VIRAL: tuple[str, ...] = (
    "lan truyền trên mạng",
    "lan truyền trên mạng xã hội",
    "gây bão mạng",
    "chia sẻ rầm rộ",
    "hàng nghìn lượt chia sẻ",
    "hàng nghìn bình luận",
    "xôn xao mạng xã hội",
    "viral",
)

DEFAULT_TOPIC_RISK: dict[str, float] = {
    "corruption_misconduct": 0.9,
    "public_order": 0.7,
    "environment_disaster": 0.8,
    "health": 0.6,
    "land_planning": 0.7,
    "administrative_reform": 0.4,
    "social_welfare": 0.4,
    "infrastructure_transport": 0.4,
    "policy_governance": 0.3,
    "education": 0.3,
    "agriculture_fisheries": 0.3,
    "digital_telecom": 0.3,
    "economy_investment": 0.2,
    "culture_society": 0.1,
    "other": 0.0,
}


@dataclass(frozen=True, slots=True)
class SeverityConfig:
    """Weights and thresholds (all in config.yaml under ``severity``)."""

    thresholds: Mapping[str, float] = field(
        default_factory=lambda: {"watch": 0.15, "alert": 0.55, "critical": 0.9}
    )
    lexicon: Mapping[str, Sequence[str]] = field(default_factory=lambda: DEFAULT_LEXICON)
    term_weights: Mapping[str, float] = field(
        default_factory=lambda: {"watch": 0.3, "alert": 0.55, "critical": 0.9}
    )
    extra_term: float = 0.03  # each further distinct alarm term adds this much (up to 3)
    viral: Sequence[str] = DEFAULT_VIRAL
    viral_weight: float = 0.15
    ignore: Sequence[str] = DEFAULT_IGNORE
    topic_risk: Mapping[str, float] = field(default_factory=lambda: DEFAULT_TOPIC_RISK)
    topic_weight: float = 0.1
    negative_weight: float = 0.2
    kind_weights: Mapping[str, float] = field(
        default_factory=lambda: {"news": 1.0, "forum": 1.05, "social": 1.05, "manual": 1.05}
    )


@dataclass(frozen=True, slots=True)
class Verdict:
    """A severity level, its score and the reasons behind it."""

    level: str
    score: float
    reasons: list[str]


def _pattern(terms: Sequence[str]) -> re.Pattern[str] | None:
    forms = sorted({t for t in terms if t.strip()}, key=len, reverse=True)
    if not forms:
        return None
    return re.compile(r"(?<!\w)(" + "|".join(re.escape(t) for t in forms) + r")(?!\w)")


def is_unaccented(text: str) -> bool:
    """Tell whether a Vietnamese text was typed without diacritics (common in social posts)."""
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 20 and sum(not c.isascii() for c in letters) < 0.02 * len(letters)


class SeverityModel:
    """Rates an analysed item none / watch / alert / critical and says why."""

    def __init__(self, config: SeverityConfig | None = None) -> None:
        self.config = config or SeverityConfig()
        self._terms: dict[str, str] = {}  # form -> level, accented and folded forms
        for level in ("watch", "alert", "critical"):  # higher levels win a shared form
            for term in self.config.lexicon.get(level, ()):
                self._terms[nfc_lower(term)] = level
        # Without diacritics a one-syllable term is an everyday word ("chay" run, "no" full).
        self._folded = {fold(t): lvl for t, lvl in self._terms.items() if " " in t}
        self._exact_re = _pattern(list(self._terms))
        self._folded_re = _pattern(list(self._folded))
        self._viral_re = _pattern([nfc_lower(t) for t in self.config.viral])
        self._viral_folded_re = _pattern([fold(t) for t in self.config.viral])
        self._ignore_re = _pattern([nfc_lower(t) for t in self.config.ignore])
        self._ignore_folded_re = _pattern([fold(t) for t in self.config.ignore if " " in t])

    def _alarm_terms(self, text: str) -> tuple[dict[str, str], list[str]]:
        if is_unaccented(text):
            pattern, table, haystack = self._folded_re, self._folded, fold(text)
            viral_re, ignore_re = self._viral_folded_re, self._ignore_folded_re
        else:
            pattern, table, haystack = self._exact_re, self._terms, nfc_lower(text)
            viral_re, ignore_re = self._viral_re, self._ignore_re
        if ignore_re is not None:
            haystack = ignore_re.sub(lambda m: " " * len(m.group()), haystack)
        terms = {
            m.group(1): table[m.group(1)]
            for m in (pattern.finditer(haystack) if pattern else ())
            if not _NEGATION.search(haystack[max(0, m.start() - 25) : m.start()])
        }
        viral = sorted({m.group(1) for m in viral_re.finditer(haystack)}) if viral_re else []
        return terms, viral

    def assess(
        self,
        text: str,
        *,
        relevant: bool,
        topic: str | None,
        topic_confidence: float,
        negative: float,
        kind: str = "news",
        topic_label: str | None = None,
    ) -> Verdict:
        """Combine relevance, alarm terms, topic risk, negative tone and source kind."""
        if not relevant:
            return Verdict("none", 0.0, ["không liên quan tới địa bàn"])
        cfg = self.config
        reasons: list[str] = []
        terms, viral = self._alarm_terms(text)
        score = 0.0
        if terms:
            ranked = sorted(terms.items(), key=lambda kv: -cfg.term_weights.get(kv[1], 0.0))
            extra = cfg.extra_term * min(len(terms) - 1, 3)
            score = cfg.term_weights.get(ranked[0][1], 0.0) + extra
            reasons.append("từ ngữ báo động: " + ", ".join(f"“{t}”" for t, _ in ranked[:5]))
        risk = cfg.topic_risk.get(topic or "", 0.0)
        if risk:
            score += cfg.topic_weight * risk * topic_confidence
            reasons.append(f"chủ đề {topic_label or topic} (mức rủi ro {risk:.1f})")
        if negative >= 0.5:
            reasons.append(f"giọng điệu tiêu cực ({negative:.0%})")
        score += cfg.negative_weight * negative
        if viral:
            score += cfg.viral_weight
            reasons.append("đang lan truyền: " + ", ".join(f"“{t}”" for t in viral[:3]))
        weight = cfg.kind_weights.get(kind, 1.0)
        if weight != 1.0 and score:
            reasons.append(f"nguồn {kind} (hệ số {weight:g})")
        score = min(1.0, score * weight)
        level = next(
            (lvl for lvl in ("critical", "alert", "watch") if score >= cfg.thresholds[lvl]), "none"
        )
        return Verdict(level, round(score, 3), reasons)
