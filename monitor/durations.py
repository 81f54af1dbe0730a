"""Durations and clock times as people write them in config.yaml and on the command line."""

from __future__ import annotations

import re
from typing import Any

_DURATION = re.compile(
    r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s?)?\s*$", re.I
)


def parse_duration(value: Any) -> Any:
    """Seconds from a number or a text such as "90s", "15m", "1h30m", "1d"."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match or not any(match.groups()):
            raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 15m, 1h30m)")
        d, h, m, s = (int(g or 0) for g in match.groups())
        return d * 86400 + h * 3600 + m * 60 + s
    return value


def clock_time(value: Any) -> Any:
    """A local time as HH:MM; YAML 1.1 reads an unquoted 17:00 as the base-60 number 1020."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return f"{value // 60:02d}:{value % 60:02d}"
    return value
