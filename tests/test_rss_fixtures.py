"""Recorded real feeds: each ``tests/fixtures/rss/NAME.xml`` is checked against ``NAME.expected.json``.

Adding a regression is dropping in a feed and its expected facts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crawlers.rss import parse_feed

FEEDS = sorted((Path(__file__).parent / "fixtures" / "rss").glob("*.xml"))


@pytest.mark.parametrize("feed", FEEDS, ids=[f.stem for f in FEEDS])
def test_recorded_feed(feed: Path) -> None:
    expected = json.loads(feed.with_suffix("").with_suffix(".expected.json").read_text("utf-8"))
    result = parse_feed(feed.read_bytes(), expected["url"], "application/rss+xml")
    everything = " ".join(f"{i.title} {i.text}" for i in result.items)

    assert len(result.items) == expected["items"]
    assert len(result.warnings) == expected["warnings"], result.warnings
    assert set(expected["titles"]) <= {i.title for i in result.items}
    assert all(text in everything for text in expected["texts"])
    assert not [marker for marker in expected["absent"] if marker in everything]
    assert all(i.canonical_url == i.canonical_url.strip() for i in result.items)


def test_there_are_recorded_feeds() -> None:
    assert FEEDS, "tests/fixtures/rss holds no feeds"
