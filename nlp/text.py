"""Vietnamese text preparation shared by every analyser step and by training.

One pass per item: NFC, tone marks placed one way ("hoà" and "hòa" become the same word),
boilerplate and whitespace cleaned, sentences split, words segmented with underthesea. Training
prepares its examples with the very same function, so the models see what they will see in use.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Only the head of a long article decides its topic and tone, and word segmentation costs time
# in proportion to length: items from feeds are a title and a summary anyway.
MAX_CHARS = 1500

_BOILERPLATE = re.compile(
    r"(?im)^\s*(?:(?:ảnh|video|nguồn|theo|đọc thêm|xem thêm|tin liên quan|>>)\s*[:：].*"
    r"|(?:chia sẻ|bình luận|báo lỗi)\s*(?:\||$).*)$"
)
_URL = re.compile(r"https?://\S+|www\.\S+")
_SPACE = re.compile(r"[ \t\u00a0\u200b]+")


@dataclass(frozen=True, slots=True)
class Prepared:
    """A text made ready for analysis: normalised text, its sentences, and its segmented words."""

    text: str
    sentences: list[str]
    # lower-case, words joined by spaces, the syllables of a word by "_" ("tai_nạn giao_thông")
    words: str


def normalize(text: str) -> str:
    """NFC, one tone-mark placement, no URLs or boilerplate lines, tidy whitespace."""
    from underthesea import text_normalize  # imported on first use: loading it costs ~0.2 s

    text = unicodedata.normalize("NFC", text)
    text = _BOILERPLATE.sub("", _URL.sub(" ", text))
    lines = (_SPACE.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(text_normalize(line) for line in lines if line)


def prepare(title: str, text: str, max_chars: int = MAX_CHARS) -> Prepared:
    """Normalise title and text together, split sentences and segment words (once per item)."""
    from underthesea import sent_tokenize, word_tokenize

    body = normalize(f"{title.strip()}\n{text.strip()}" if title.strip() else text)
    head = body[:max_chars]
    sentences = [s for line in head.splitlines() for s in sent_tokenize(line) if s.strip()]
    words = " ".join(word_tokenize(s, format="text") for s in sentences).lower()
    return Prepared(body, sentences, words)
