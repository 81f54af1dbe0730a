"""XenForo forums (voz.vn ...): a forum's RSS lists its new threads; each new thread's page is
fetched once and its opening post read.

One item per thread, whatever ``max_posts`` says: the monitor's unit is a story (a case is about
a thread), and the first replies, when asked for, are the thread's early tone, so they are added
to the opening post's text, without their posters' names. Only the opening poster's display name
is kept, never a profile link: no personal profiles. A thread page that cannot be had keeps the
feed's excerpt (a transient failure is retried on the next runs first).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawlers import options as opt
from crawlers.base import Collected, ItemRecord, RunState, SourceSpec
from crawlers.encoding import decode_html
from crawlers.extract_meta import parse_date
from crawlers.fetcher import Fetcher
from crawlers.http import FetchResult
from crawlers.links import Link, PageFetcher, fetch_own_page, new_links, read_feed
from crawlers.text import clean_text

_OPTIONS = ["fetch_threads", "max_threads", "max_posts", "item_kind"]
_THREAD_ID = re.compile(r"/(?:t|threads)/(?:[^/]*\.)?(\d+)/?")
# Not the post's words: the expander, "X said:" headers naming other members, scripts.
_NOISE = (
    ".bbCodeBlock-title",
    ".bbCodeBlock-expandLink",
    ".bbCodeSpoiler-button",
    ".js-extraPhrases",
    "script",
    "style",
    "noscript",
)
_BLOCKS = "div, p, li, blockquote, ul, ol, h2, h3, h4, table, tr"
_READ_MORE = re.compile(r"\n?(?:Read more|Xem thêm|Đọc thêm)\.*$", re.IGNORECASE)
_EMAIL = re.compile(r"\S+@\S+")


@dataclass(frozen=True, slots=True)
class Post:
    """One post of a thread page."""

    text: str
    author: str | None = None
    published: datetime | None = None


@dataclass(frozen=True, slots=True)
class Thread:
    """A XenForo thread page: its title and posts in page order."""

    title: str | None
    posts: list[Post]
    warnings: list[str] = field(default_factory=list)


def _post(node: LexborNode, zone: ZoneInfo) -> Post | None:
    body = node.css_first(".message-body .bbWrapper") or node.css_first(".bbWrapper")
    if body is None:
        return None
    for noise in body.css(", ".join(_NOISE)):
        noise.decompose()
    name = node.attributes.get("data-author") or ""
    if not name and (shown := node.css_first(".message-name")):
        name = shown.text(separator=" ")
    stamp = node.css_first(".message-attribution time.u-dt") or node.css_first("time.u-dt")
    published = parse_date(stamp.attributes.get("datetime"), zone) if stamp else None
    return Post(_text(body), clean_text(name) or None, published)


def _text(body: LexborNode) -> str:
    """A post's text with its line breaks: inline links and bold stay inside their line."""
    for br in body.css("br"):
        br.replace_with("\n")
    for block in body.css(_BLOCKS):
        block.insert_before("\n")
        block.insert_after("\n")
    return clean_text(body.text(separator=""))


def parse_thread(
    content: bytes, url: str, content_type: str | None = None, *, timezone: str = "UTC"
) -> Thread:
    """The title and posts of a XenForo thread page (``article.message`` markup)."""
    markup, _, warnings = decode_html(content, content_type)
    tree = LexborHTMLParser(markup)
    zone = ZoneInfo(timezone)
    posts = [p for n in tree.css("article.message") if (p := _post(n, zone)) and p.text]
    heading = tree.css_first("h1.p-title-value")
    title = clean_text(heading.text(separator=" ")) if heading else None
    if not posts:
        warnings.append(f"no XenForo posts (article.message .bbWrapper) found on {url}")
    return Thread(title or None, posts, warnings)


def _feed_only(item: ItemRecord, forum: str | None) -> ItemRecord:
    """A feed entry as an item: its excerpt without "Read more", no e-mail in the author."""
    author = clean_text(_EMAIL.sub("", item.author or "").strip("() ")) or None
    meta = {k: v for k, v in item.meta.items() if k != "tags"}
    match = _THREAD_ID.search(item.url)
    if match:
        meta["thread_id"] = match.group(1)
    if forum:
        meta["forum"] = forum[:300]
    return replace(item, text=_READ_MORE.sub("", item.text).strip(), author=author, meta=meta)


def _with_thread(item: ItemRecord, thread: Thread, max_posts: int) -> ItemRecord:
    opening, *replies = thread.posts[:max_posts]
    text = "\n\n".join([opening.text, *(r.text for r in replies)])
    meta = {**item.meta, "posts": 1 + len(replies)}
    return replace(
        item,
        title=thread.title or item.title,
        text=text,
        author=opening.author or item.author,
        published_at=opening.published or item.published_at,
        meta=meta,
    )


class ForumAdapter:
    """A XenForo forum's RSS with the new threads' pages read (see the module docstring)."""

    def validate_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Check the options, filling in defaults; raise ValueError naming the bad one."""
        opt.reject_unknown("forum", options, _OPTIONS)
        return {
            "fetch_threads": opt.boolean(options, "fetch_threads", True),
            "max_threads": opt.positive_int(options, "max_threads", 20),
            "max_posts": opt.positive_int(options, "max_posts", 1),
            "item_kind": opt.item_kind(options, "forum"),
        }

    def collect(self, fetcher: Fetcher, spec: SourceSpec, state: RunState) -> Collected:
        """Fetch the forum's feed (conditionally) and the pages of threads not stored yet."""
        options = self.validate_options(spec.options)
        result = fetch_own_page(fetcher, spec, state)
        if result.not_modified:
            return Collected(items=[], validators=result.validators, not_modified=True)
        parsed = read_feed(result, spec, options["item_kind"])
        warnings = list(parsed.warnings)
        feed_items = [_feed_only(i, _forum(i, parsed.title)) for i in parsed.items]
        if not options["fetch_threads"]:
            return Collected(feed_items, warnings, result.validators)
        by_key = {item.canonical_url: item for item in feed_items}
        links = [Link(i.url, i.canonical_url, i.title) for i in feed_items]
        batch = new_links(fetcher, links, state, options["max_threads"], warnings)
        items = []
        for link in batch.todo:
            item = self._thread_item(batch.pages, link, by_key[link.canonical], spec, options)
            if item is not None:
                items.append(item)
        cursor = batch.cursor()
        return Collected(items, warnings, result.validators, cursor=cursor)

    def _thread_item(
        self,
        pages: PageFetcher,
        link: Link,
        item: ItemRecord,
        spec: SourceSpec,
        options: Mapping[str, Any],
    ) -> ItemRecord | None:
        """The thread as an item; the feed's excerpt when the page fails, None to retry later."""
        page: FetchResult | None = pages.get(link)
        if page is None:
            return None if link.canonical in pages.memory.retries else item
        read = partial(
            parse_thread, page.content, page.url, page.content_type, timezone=spec.timezone
        )
        thread = pages.build(link, read, then="the feed's excerpt kept")
        if thread is None:
            return item
        if not thread.posts:
            pages.warnings.extend(thread.warnings)
            return item
        pages.memory.succeeded(link.canonical)
        return _with_thread(item, thread, options["max_posts"])


def _forum(item: ItemRecord, feed_title: str | None) -> str | None:
    tags = item.meta.get("tags")
    return str(tags[0]) if isinstance(tags, list) and tags else feed_title
