"""Text normalisation for matching: NFC, case folding and (length-preserving) accent folding."""

from __future__ import annotations

import unicodedata


class _FoldTable(dict[int, str]):
    """A str.translate table that works out (and remembers) each character's folded form."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        if char in "đĐ":
            folded = "d"
        else:
            base = unicodedata.normalize("NFD", char)[0].lower()
            folded = base if len(base) == 1 else char
        self[code] = folded
        return folded


_FOLD = _FoldTable()


def fold(text: str) -> str:
    """Lower-case and strip Vietnamese diacritics, one output character per input character.

    Keeping the length means a match found in the folded text has the same span in ``text``
    (which must already be NFC, as stored text is).
    """
    return text.translate(_FOLD)


def nfc_lower(text: str) -> str:
    """NFC and lower-case, keeping diacritics."""
    return unicodedata.normalize("NFC", text).lower()
