"""Items staff submit by hand: a URL (fetched and extracted) or text pasted from anywhere.

A submitted URL is typed by a person, so it is fetched with the fetcher's SSRF guard: an address
that is not public (loopback, private, link-local) is refused unless ``http.allowed_networks``
allows it. robots.txt is honoured as for any page; when a site disallows it, the text can be
pasted instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from crawlers.base import Collected, ItemRecord, RunState, SourceSpec
from crawlers.errors import PermanentSourceError, RobotsDisallowedError
from crawlers.fetcher import Fetcher
from crawlers.links import Link, article_item
from crawlers.options import ITEM_KINDS
from crawlers.text import clean_text
from crawlers.urls import canonical_url

_TITLE_CHARS = 160


class ManualAdapter:
    """Where staff submissions are stored; it collects nothing on a schedule."""

    def validate_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """A manual source takes no options."""
        if options:
            raise ValueError(f"unknown option(s) {sorted(options)}; manual takes no options")
        return {}

    def collect(self, fetcher: Fetcher, spec: SourceSpec, state: RunState) -> Collected:
        """Nothing to collect: items arrive through ``monitor submit`` (and the dashboard)."""
        return Collected(items=[])


def _kind(kind: str) -> str:
    if kind not in ITEM_KINDS:
        raise ValueError(f"kind must be one of {', '.join(ITEM_KINDS)}, not {kind!r}")
    return kind


def submitted_url(
    fetcher: Fetcher, url: str, *, kind: str = "manual", timezone: str = "UTC"
) -> ItemRecord:
    """Fetch a submitted URL (SSRF-guarded) and extract its article; raises a SourceError."""
    kind = _kind(kind)
    try:
        result = fetcher.get(url.strip(), guard=True)
    except RobotsDisallowedError as exc:
        raise RobotsDisallowedError(f"{exc}; paste the text instead (--text)") from exc
    # Keyed by the URL as submitted, so submitting it again (or crawling it) finds the same item.
    link = Link(url.strip(), canonical_url(url))
    item = article_item(result, link, SourceSpec("manual", url, timezone=timezone), kind)
    if not item.text and not item.title:
        raise PermanentSourceError(f"no article text found at {url}; paste the text instead")
    return item


def submitted_text(
    text: str,
    *,
    title: str | None = None,
    url: str | None = None,
    kind: str = "manual",
    published_at: datetime | None = None,
) -> ItemRecord:
    """An item from pasted text; the same text pasted twice is the same item."""
    kind = _kind(kind)
    body = clean_text(text)
    if not body:
        raise ValueError("the pasted text is empty")
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()[:32]
    canonical = canonical_url(url) if url else f"manual:{digest}"
    first_line = body.split("\n", 1)[0]
    return ItemRecord(
        url=url or canonical,
        canonical_url=canonical or f"manual:{digest}",
        title=clean_text(title or "") or first_line[:_TITLE_CHARS],
        text=body,
        kind=kind,
        published_at=published_at,
        meta={"submitted": "text"},
    )
