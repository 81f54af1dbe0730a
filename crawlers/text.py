"""Turning markup from outside into clean, storable Unicode text."""

from __future__ import annotations

import re
import unicodedata

from selectolax.lexbor import LexborHTMLParser

# C0/C1 controls other than tab and newline, and non-characters: PostgreSQL rejects NUL and
# none of them carries meaning in a news text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u200b\u2028\u2029]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_DROP_TAGS = ("script", "style", "noscript", "iframe", "object", "template", "svg")


def clean_text(text: str) -> str:
    """Make text safe to store: valid UTF-8, NFC, no control characters, tidy whitespace."""
    if not text:
        return ""
    # Lone surrogates (from broken escapes) cannot be encoded; replace them rather than fail.
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = unicodedata.normalize("NFC", _CONTROL.sub("", text))
    text = _SPACES.sub(" ", text)
    text = _BLANK_LINES.sub("\n", text)
    return "\n".join(line.strip() for line in text.split("\n")).strip()


def html_to_text(markup: str) -> str:
    """Strip HTML to its visible text (scripts, styles and embeds removed), cleaned."""
    if not markup:
        return ""
    if "<" not in markup and "&" not in markup:
        return clean_text(markup)
    tree = LexborHTMLParser(markup)
    tree.strip_tags(list(_DROP_TAGS))
    root = tree.body or tree.root
    if root is None:
        return ""
    return clean_text(root.text(separator=" "))
