"""Repairs on feed bytes before parsing, so one bad byte or reference does not spoil a whole feed."""

from __future__ import annotations

import codecs
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


_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
_META_CHARSET = re.compile(rb"""<meta[^>]+?charset\s*=\s*["']?\s*([\w.:-]+)""", re.I)
_SNIFF_BYTES = 4096
# What browsers read for these labels (the WHATWG Encoding Standard): a page "in ISO-8859-1"
# is really windows-1252, and a "UTF-16" meta in a byte-oriented page cannot be true.
_ALIASES = {
    "iso-8859-1": "windows-1252",
    "latin1": "windows-1252",
    "latin-1": "windows-1252",
    "us-ascii": "windows-1252",
    "ascii": "windows-1252",
    "utf-16": "utf-8",
    "utf-16le": "utf-8",
    "utf-16be": "utf-8",
    "windows-874": "cp874",
    "tis-620": "cp874",
    "iso-8859-11": "cp874",
    "iso-8859-9": "windows-1254",
    "x-mac-cyrillic": "mac-cyrillic",
    "gb2312": "gbk",
}
# The encodings a browser decodes pages in (the WHATWG Encoding Standard), as Python codec names.
# Python also knows "codecs" that are no text encoding (base64, zlib, rot13, undefined ...) or
# that no browser would apply to a page (utf-7, unicode_escape, idna): a page declaring one of
# those is treated as declaring nothing.
_PAGE_CODECS = frozenset(
    codecs.lookup(name).name
    for name in (
        "utf-8",
        "cp866",
        *(f"iso8859-{n}" for n in (2, 3, 4, 5, 6, 7, 8, 10, 13, 14, 15, 16)),
        "koi8-r",
        "koi8-u",
        "mac-roman",
        "mac-cyrillic",
        "cp874",
        *(f"cp{n}" for n in range(1250, 1259)),
        "gbk",
        "gb18030",
        "big5",
        "euc_jp",
        "iso2022_jp",
        "shift_jis",
        "euc_kr",
    )
)
# Letters only Vietnamese uses often in windows-1258: đ ơ ư and the combining tone marks.
_VIETNAMESE_1258 = frozenset(b"\xd0\xf0\xd5\xf5\xdd\xfd\xcc\xd2\xde\xec\xf2")


def _codec(label: str, source: str, warnings: list[str]) -> str | None:
    """The Python codec name for a declared charset label; None (and a warning) if unknown."""
    label = label.strip().lower()
    label = _ALIASES.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        name = None
    if name not in _PAGE_CODECS:
        warnings.append(f"unknown charset {label[:40]!r} declared by the {source}; ignored")
        return None
    return name


def _legacy_guess(content: bytes) -> str:
    """windows-1258 when the high bytes look like Vietnamese letters, else windows-1252."""
    high = sum(1 for b in content if b >= 0x80)
    vietnamese = sum(1 for b in content if b in _VIETNAMESE_1258)
    return "cp1258" if vietnamese >= 3 and vietnamese * 5 >= high else "cp1252"


def _declared(
    content: bytes, content_type: str | None, warnings: list[str]
) -> list[tuple[str, str]]:
    """The known codecs the header and the <meta> tag declare, in that order, with their source."""
    labels: list[tuple[str, str]] = []
    if header := _CHARSET.search(content_type or ""):
        labels.append((header.group(1), "header"))
    if meta := _META_CHARSET.search(content[:_SNIFF_BYTES]):
        labels.append((meta.group(1).decode("ascii", "replace"), "meta"))
    found = [(_codec(label, source, warnings), source) for label, source in labels]
    return [(codec, source) for codec, source in found if codec]


def decode_html(content: bytes, content_type: str | None) -> tuple[str, str, list[str]]:
    """Decode an HTML page: BOM, then header charset, then <meta> charset, then UTF-8, then a guess.

    Returns the text, the codec used and warnings. A declared charset the bytes cannot be in
    (strict decoding fails) gives way to the next declaration that fits, with a warning;
    charset_normalizer is not one of our dependencies, so the last resort is windows-1258
    (Vietnamese-looking bytes) or windows-1252, with undecodable bytes replaced.
    """
    warnings: list[str] = []
    for bom, codec in _BOMS:
        if content.startswith(bom):
            return content[len(bom) :].decode(codec, "replace"), codec, warnings
    declared = _declared(content, content_type, warnings)
    for codec, source in [*declared, ("utf-8", "sniffed")]:
        try:
            text = content.decode(codec)
        except (UnicodeError, LookupError):  # only page codecs get here; kept safe all the same
            if source != "sniffed":
                warnings.append(f"bytes are not {codec} as the {source} says; trying the next")
            continue
        if declared and source != declared[0][1]:
            warnings.append(f"decoded as {codec} ({source}), not as declared {declared[0][0]}")
        return text, codec, warnings
    if declared and declared[0][0] == "utf-8":
        # A few bad bytes in a UTF-8 page (cut inside a character) should not spoil the rest.
        return content.decode("utf-8", "replace"), "utf-8", warnings
    codec = _legacy_guess(content)
    warnings.append(f"charset unknown; guessed {codec}")
    return content.decode(codec, "replace"), codec, warnings
