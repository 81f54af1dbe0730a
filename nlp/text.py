"""Vietnamese text preparation shared by every analyser step and by training.

One pass per item: NFC, tone marks placed one way ("hoà" and "hòa" become the same word),
boilerplate and whitespace cleaned, sentences split, words segmented with underthesea. Training
prepares its examples with the very same function, so the models see what they will see in use.
"""

from __future__ import annotations

import re
import threading
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
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Prepared:
    """A text made ready for analysis: its normalised head, sentences, and segmented words."""

    text: str
    sentences: list[str]
    # lower-case, words joined by spaces, the syllables of a word by "_" ("tai_nạn giao_thông")
    words: str


def _tone_table() -> dict[str, str]:
    # underthesea's own table of syllables whose tone mark sits elsewhere ("hoà" -> "hòa").
    from underthesea.pipeline.text_normalize.token_normalize import token_map

    return dict(token_map)


_TONES: dict[str, str] = {}
_LOAD_LOCK = threading.Lock()
_loaded = False


def load() -> None:
    """Load underthesea's tone table and word-segmentation model once, safely across threads.

    underthesea publishes its model in a global before it has finished loading it, so a second
    thread segmenting at that moment would use a half-built model: the first use is serialised.
    """
    global _loaded
    if _loaded:
        return
    with _LOAD_LOCK:
        if _loaded:
            return
        from underthesea import sent_tokenize, word_tokenize

        _TONES.update(_tone_table())
        word_tokenize("Nam Định", format="text")
        sent_tokenize("Nam Định.")
        _loaded = True


def normalize(text: str) -> str:
    """NFC, one tone-mark placement, no URLs or boilerplate lines, tidy whitespace."""
    load()
    text = unicodedata.normalize("NFC", text)
    text = _BOILERPLATE.sub("", _URL.sub(" ", text))
    # underthesea's text_normalize would also re-tokenise every line; looking each word up in its
    # table does the same tone-mark normalisation at a fraction of the cost.
    text = _WORD.sub(lambda m: _TONES.get(m.group(), m.group()), text)
    lines = (_SPACE.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def normalized_head(title: str, text: str, max_chars: int = MAX_CHARS) -> str:
    """The title and the head of the text, normalised: ``prepare(...).text`` without segmenting."""
    raw = f"{title.strip()}\n{text.strip()}" if title.strip() else text
    # Cut before normalising: normalisation costs as much per character as segmentation.
    return normalize(raw[:max_chars])


def prepare(title: str, text: str, max_chars: int = MAX_CHARS) -> Prepared:
    """Normalise title and text together, split sentences and segment words (once per item)."""
    from underthesea import sent_tokenize, word_tokenize

    head = normalized_head(title, text, max_chars)
    lines = head.splitlines()
    sentences = [s for line in lines for s in sent_tokenize(line) if s.strip()]
    # Segmenting line by line, not sentence by sentence, saves a call per sentence.
    words = " ".join(word_tokenize(line, format="text") for line in lines).lower()
    return Prepared(head, sentences, words)
