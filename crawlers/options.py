"""Checks shared by the adapters' ``validate_options``: unknown names, types, defaults.

Each check reads one option from the mapping (or its default) and raises ValueError naming it;
the result is plain data (strings, numbers), so validating twice gives the same dict.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

ITEM_KINDS = ("news", "social", "forum", "manual")


def reject_unknown(kind: str, options: Mapping[str, Any], known: list[str]) -> None:
    """Raise ValueError for an option the ``kind`` adapter does not take, naming the known ones."""
    unknown = set(options) - set(known)
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)}; {kind} takes {', '.join(known)}")


def positive_int(options: Mapping[str, Any], name: str, default: int) -> int:
    """A whole number of at least 1."""
    value = options.get(name, default)
    # bool is an int to Python, never to a person writing `max_articles: true`.
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive whole number, not {value!r}")
    return value


def boolean(options: Mapping[str, Any], name: str, default: bool) -> bool:
    """true or false, nothing that merely looks like it."""
    value = options.get(name, default)
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, not {value!r}")
    return value


def pattern(options: Mapping[str, Any], name: str) -> str | None:
    """An optional regular expression, kept as text once it is known to compile."""
    value = options.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a regular expression, not {value!r}")
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"{name} is not a valid regular expression: {exc}") from None
    return value


def text(options: Mapping[str, Any], name: str, default: str | None = None) -> str | None:
    """An optional non-empty string."""
    value = options.get(name, default)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, not {value!r}")
    return value.strip()


def item_kind(options: Mapping[str, Any], default: str = "news") -> str:
    """The kind the source's items are stored as."""
    kind = options.get("item_kind", default)
    if kind not in ITEM_KINDS:
        raise ValueError(f"item_kind must be one of {', '.join(ITEM_KINDS)}, not {kind!r}")
    return str(kind)
