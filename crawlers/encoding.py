"""Repairs on feed bytes before parsing, so one bad byte or reference does not spoil a whole feed."""

from __future__ import annotations

import re

_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([\w.:-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""\s*<\?xml[^>]*?\sencoding\s*=\s*["']\s*([\w.:-]+)""")
_CHAR_REFS = re.compile(rb"(?:&#(?:[xX][0-9a-fA-F]+|[0-9]+);)+")
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")
_NO_CHAR = 0x110000


def declared_encoding(content: bytes, content_type: str | None) -> str | None:
    """The charset of the Content-Type header, else of the XML declaration; None if neither."""
    if header := _CHARSET.search(content_type or ""):
        return header.group(1).lower()
    if declaration := _XML_ENCODING.match(content.removeprefix(b"\xef\xbb\xbf")):
        return declaration.group(1).decode("ascii").lower()
    return None


def mend_utf8(content: bytes, content_type: str | None) -> tuple[bytes, int]:
    """Replace the few bad bytes of a UTF-8 feed; returns the bytes and how many sequences were bad.

    One bad byte (a feed cut inside a character, a stray windows-1252 byte) would otherwise make
    feedparser decode the whole feed with a legacy code page, turning all Vietnamese into mojibake.
    A feed in a real legacy encoding has hardly any valid multi-byte UTF-8, so it is left alone.
    """
    try:
        content.decode("utf-8")
        return content, 0
    except UnicodeDecodeError:
        pass
    declared = declared_encoding(content, content_type)
    if b"\x00" in content[:4] or declared not in (None, "utf-8", "utf8"):
        return content, 0  # UTF-16/32, or declared in another encoding
    text = content.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    valid = len(text) - len(text.encode("ascii", "ignore")) - bad
    if valid < 2 * bad:
        return content, 0
    return text.encode("utf-8"), bad


def _code_point(hex_digits: bytes, digits: bytes) -> int:
    if len((hex_digits or digits).lstrip(b"0")) > 8:
        return _NO_CHAR
    return int(hex_digits, 16) if hex_digits else int(digits)


def mend_char_refs(content: bytes) -> tuple[bytes, int]:
    """Make numeric references to no character (UTF-16 halves, past U+10FFFF) safe; returns how many.

    feedparser's fallback parser raises on them. Some sites write emoji as UTF-16 pairs
    (``&#xD83D;&#xDE00;``): a pair becomes its character, a lone half or a bad number U+FFFD.
    """
    mended = 0

    def mend(run: re.Match[bytes]) -> bytes:
        nonlocal mended
        codes = [_code_point(h, d) for h, d in _CHAR_REF.findall(run[0])]
        if all(c < _NO_CHAR and not 0xD800 <= c <= 0xDFFF for c in codes):
            return run[0]
        mended += 1
        raw = "".join(chr(c) if c < _NO_CHAR else "\ufffd" for c in codes)
        text = raw.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        return "".join(f"&#x{ord(char):x};" for char in text).encode("ascii")

    if b"&#" in content:
        content = _CHAR_REFS.sub(mend, content)
    return content, mended
