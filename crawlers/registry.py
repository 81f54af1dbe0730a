"""One registry of source adapters, looked up by a short alias (``rss``, ``html`` ...)."""

from __future__ import annotations

from functools import cache
from importlib import import_module

from crawlers.base import SourceAdapter
from crawlers.errors import UnknownKindError

# Text references so that looking up one kind never imports the others.
_ADAPTERS: dict[str, str] = {
    "rss": "crawlers.rss:RssAdapter",
    "atom": "crawlers.rss:RssAdapter",
    "html": "crawlers.html:HtmlAdapter",
    "sitemap": "crawlers.sitemap:SitemapAdapter",
    "gnews": "crawlers.gnews:GoogleNewsAdapter",
    "facebook": "crawlers.facebook:FacebookAdapter",
    "youtube": "crawlers.youtube:YouTubeAdapter",
    "forum": "crawlers.forum:ForumAdapter",
    "manual": "crawlers.manual:ManualAdapter",
}


def known_kinds() -> list[str]:
    """The aliases a source's ``kind`` may take."""
    return sorted(_ADAPTERS)


@cache
def get_adapter(kind: str) -> SourceAdapter:
    """Return the adapter registered for ``kind``; UnknownKindError lists the known ones."""
    try:
        ref = _ADAPTERS[kind]
    except KeyError:
        raise UnknownKindError(kind, known_kinds()) from None
    module_name, _, attr = ref.partition(":")
    adapter: SourceAdapter = getattr(import_module(module_name), attr)()
    return adapter
