"""XML from outside, read with expat as a stream of events and no document type at all.

A sitemap or a feed never needs a DOCTYPE; refusing every one rules out entity expansion
("billion laughs") and external entities before they start. ``defusedxml`` is not a dependency,
and expat (the standard library's) gives what it does in a few lines. Input is fed in chunks, so
a decompressed stream is read without holding it whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from xml.parsers import expat

StartHandler = Callable[[str, dict[str, str]], None]
EndHandler = Callable[[str], None]
TextHandler = Callable[[str], None]


class RefusedXml(ValueError):
    """The document declares a DOCTYPE or entities, which this reader never processes."""


class StopReading(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a handler that has read enough; ``parse`` returns quietly."""


def _refuse_doctype(name: str, *args: object) -> None:
    raise RefusedXml(f"DOCTYPE {name!r} refused: entity declarations are not read")


def _refuse_entity(name: str, *args: object) -> None:
    raise RefusedXml(f"ENTITY {name!r} declaration refused")


def parse(chunks: Iterable[bytes], start: StartHandler, end: EndHandler, text: TextHandler) -> None:
    """Feed ``chunks`` to expat; names are ``"namespace local"`` (or ``local`` without a namespace).

    Raises RefusedXml for a DOCTYPE/ENTITY and expat.ExpatError for malformed XML; what the
    handlers saw before that stays with them.
    """
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_entity
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.buffer_text = True
    try:
        for chunk in chunks:
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except StopReading:
        return


def local_name(name: str) -> tuple[str, str]:
    """Split an expat ``"namespace local"`` name into (namespace, local)."""
    namespace, _, local = name.rpartition(" ")
    return namespace, local
