"""The main text of an article page: readability-style scoring of blocks on a selectolax tree.

Paragraphs vote for the containers around them (more text and commas, more votes), containers
are weighed by their class/id and discounted by the share of their text inside links, and the
best one, with the siblings that look like it, becomes the text; link lists, share bars and
other boilerplate inside it are dropped on the way out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawlers.text import clean_text

# Never article text, wherever they are.
_JUNK_TAGS = [
    "script",
    "style",
    "noscript",
    "iframe",
    "svg",
    "template",
    "object",
    "embed",
    "nav",
    "aside",
    "footer",
    "button",
    "select",
    "textarea",
    "input",
    "dialog",
    "menu",
    "canvas",
    "video",
    "audio",
    "map",
    # Photo captions are not article text in the benchmark's ground truth (F1 +0.004 without).
    "figcaption",
]
# Readability's lists, widened with what Vietnamese news templates call their boxes.
_UNLIKELY = re.compile(
    r"-ad-|ad-break|adsbox|advert|agegate|banner|breadcrumb|combx|comment|community|cover-wrap|"
    r"disqus|extra|foot|gdpr|header|legends|menu|related|remark|replies|rss|shoutbox|sidebar|"
    r"skyscraper|social|sponsor|supplemental|popup|promo|share|sharing|newsletter|subscribe|"
    r"cookie|modal|outbrain|taboola|recommend|tin-?lien-?quan|lienquan|xemthem|xem-?them|"
    r"tags?-?list|box-?tag|navbar|pagination|pager|print|toolbar|signup|login|hidden",
)
_COMMENTS = re.compile(r"comment|disqus|repl(?:y|ies)|binh-?luan")
_MAYBE = re.compile(r"and|article|body|column|content|main|shadow|detail|story|entry|post")
_POSITIVE = re.compile(
    r"article|body|content|entry|hentry|h-entry|main|page|pagination|post|text|blog|story|"
    r"detail|fck|noi-?dung|chi-?tiet|cms-body|singular",
)
_NEGATIVE = re.compile(
    r"-ad-|hidden|^hid$| hid$| hid |^hid |banner|combx|comment|com-|contact|foot|footer|footnote|"
    r"gdpr|masthead|media|meta|outbrain|promo|related|scroll|share|shoutbox|sidebar|skyscraper|"
    r"sponsor|shopping|tags|tool|widget|byline|author|dateline|caption|social|subscribe|"
    r"newsletter|recommend|lienquan|xemthem",
)
_COMMAS = re.compile(r"[,،、，]")
_SENTENCE_END = re.compile(r"[.!?…。:\"”»)]\s*$")
_SCORED_TAGS = "p, pre, td, blockquote, h2, h3, h4, li, div, section, article, span, font"
_PARAGRAPH_TAGS = frozenset({"p", "pre", "td", "blockquote"})
_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "main",
        "li",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "table",
        "tr",
        "td",
        "th",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "figure",
        "figcaption",
        "br",
        "hr",
        "header",
        "address",
        "center",
        "caption",
    }
)
_TAG_WEIGHT = {
    "article": 10,
    "main": 5,
    "div": 5,
    "section": 3,
    "pre": 3,
    "td": 3,
    "blockquote": 3,
    "form": -3,
    "ol": -3,
    "ul": -3,
    "li": -3,
    "dl": -3,
    "th": -5,
    "address": -3,
    "h1": -5,
    "h2": -5,
    "h3": -5,
    "h4": -5,
}
_MIN_PARAGRAPH = 25
# Lines that are only the label of a box left inside the text (an ad slot, a comments link).
_LABELS = frozenset(
    {
        "advertisement",
        "advert",
        "ad",
        "comments",
        "image copyright",
        "quảng cáo",
        "xem thêm",
        "tin liên quan",
        "bình luận",
        "chia sẻ",
        "share",
    }
)
_MAX_CLIMB = 5
_CLIMB_GAIN = 1.3
_CLIMB_DENSITY = 0.25


def _hints(node: LexborNode) -> str:
    attrs = node.attributes
    # Lower-cased here so the regexes need no IGNORECASE, which makes them six times slower.
    return f"{attrs.get('class') or ''} {attrs.get('id') or ''}".strip().lower()


# Pages repeat the same few class names thousands of times: the regexes run once per name.
@lru_cache(maxsize=4096)
def _hint_weight(hints: str) -> int:
    weight = 25 if _POSITIVE.search(hints) else 0
    return weight - 25 if _NEGATIVE.search(hints) else weight


@lru_cache(maxsize=4096)
def _unlikely(hints: str) -> bool:
    return bool(_UNLIKELY.search(hints)) and not _MAYBE.search(hints)


def class_weight(node: LexborNode) -> int:
    """Readability's class/id weight: +25 for an article-like name, -25 for boilerplate."""
    hints = _hints(node)
    return _hint_weight(hints) if hints else 0


def _remove(nodes: Iterable[LexborNode]) -> None:
    # Children before their ancestors: decomposing a node inside a freed subtree is unsafe.
    for node in reversed(list(nodes)):
        node.decompose()


def strip_boilerplate(root: LexborNode) -> None:
    """Remove what is never article text: scripts, navigation, hidden and unlikely boxes."""
    root.strip_tags(_JUNK_TAGS)
    selector = "[class], [id], [style], [hidden], [role], [aria-hidden]"
    _remove(node for node in root.css(selector) if _is_boilerplate(node))
    _remove(node for node in root.css("header") if len(node.text()) < 400)


def _is_boilerplate(node: LexborNode) -> bool:
    """Tell whether a node is hidden, navigation, or named like boilerplate (and is not content)."""
    if node.tag in ("body", "html", "a", "article", "main"):
        return False
    attrs = node.attributes
    style = (attrs.get("style") or "").replace(" ", "").lower()
    if "hidden" in attrs or "display:none" in style or attrs.get("aria-hidden") == "true":
        return True
    if attrs.get("role") in ("navigation", "complementary", "banner", "contentinfo"):
        return True
    hints = _hints(node)
    if not hints or not _unlikely(hints):
        return False
    return bool(_COMMENTS.search(hints)) or not _holds_article(node)


def _holds_article(node: LexborNode) -> bool:
    """Tell whether a box is too full of unlinked text to be the boilerplate its name says."""
    # Layout wrappers get names like "container penci_sidebar" or "pageRow" (pager!).
    text = node.text()
    return len(text) > 1500 and link_density(node, len(text)) < 0.3


def link_density(node: LexborNode, text_length: int | None = None) -> float:
    """The share of a node's text that sits inside links."""
    length = len(node.text()) if text_length is None else text_length
    if not length:
        return 0.0
    linked = sum(len(a.text()) for a in node.css("a"))
    return min(1.0, linked / length)


def _ancestors(node: LexborNode, levels: int) -> Iterator[LexborNode]:
    parent = node.parent
    while parent is not None and parent.tag not in ("html", "-document") and levels:
        yield parent
        parent = parent.parent
        levels -= 1


def _own_text(node: LexborNode) -> str:
    """A paragraph's text: all of it for paragraph tags, only direct text for containers."""
    if node.tag in _PARAGRAPH_TAGS:
        return node.text()
    return node.text(deep=False)


# selectolax compares nodes by their serialized HTML (slow, and equal for twin boxes), so nodes
# are told apart and looked up by mem_id, the address of the element in the tree.
Scores = dict[int, tuple[LexborNode, float]]


def score_candidates(root: LexborNode) -> Scores:
    """Readability's scores by mem_id: each paragraph's votes added to its ancestors, by distance."""
    scores: Scores = {}
    for node in root.css(_SCORED_TAGS):
        text = _own_text(node).strip()
        if len(text) < _MIN_PARAGRAPH:
            continue
        votes = 1 + len(_COMMAS.findall(text)) + min(len(text) / 100, 3)
        if node.tag not in _PARAGRAPH_TAGS:
            # A container with text of its own (div + br layouts) is itself a candidate.
            _add(scores, node, votes)
        for level, ancestor in enumerate(_ancestors(node, 3)):
            _add(scores, ancestor, votes / (1, 2, 6)[level])
    return {
        key: (node, score * (1 - link_density(node)))
        for key, (node, score) in scores.items()
        if node.tag != "body"
    }


def _add(scores: Scores, node: LexborNode, votes: float) -> None:
    key = node.mem_id
    if key not in scores:
        scores[key] = (node, _TAG_WEIGHT.get(node.tag or "", 0) + class_weight(node))
    scores[key] = (node, scores[key][1] + votes)


def pick_content(root: LexborNode, scores: Scores) -> list[LexborNode]:
    """The best-scoring container and the siblings that look like more of it."""
    if not scores:
        return [root]
    top, top_score = max(scores.values(), key=lambda pair: pair[1])
    top = _widen(top)
    parent = top.parent
    if parent is None:
        return [top]
    threshold = max(10.0, top_score * 0.2)
    top_class = top.attributes.get("class")
    chosen = []
    for sibling in parent.iter():
        key = sibling.mem_id
        if key == top.mem_id:
            chosen.append(sibling)
            continue
        bonus = top_score * 0.2 if top_class and sibling.attributes.get("class") == top_class else 0
        if key in scores:
            if scores[key][1] + bonus >= threshold:
                chosen.append(sibling)
        elif sibling.tag == "p" and _looks_like_paragraph(sibling):
            chosen.append(sibling)
    return chosen


def _prose(node: LexborNode) -> int:
    """How much unlinked paragraph text a node holds."""
    total = 0
    for paragraph in node.css("p"):
        text = paragraph.text()
        if len(text) >= 80 and link_density(paragraph, len(text)) < 0.2:
            total += len(text)
    return total


def _widen(top: LexborNode) -> LexborNode:
    """Climb to an ancestor when it holds much more prose: articles split by figures or quotes."""
    prose = _prose(top)
    node = top
    for _ in range(_MAX_CLIMB):
        parent = node.parent
        if parent is None or parent.tag in ("body", "html"):
            break
        more = _prose(parent)
        if more > prose * _CLIMB_GAIN and link_density(parent) < _CLIMB_DENSITY:
            top, prose = parent, more
        node = parent
    return top


def _looks_like_paragraph(node: LexborNode) -> bool:
    text = node.text().strip()
    density = link_density(node, len(text))
    if len(text) > 80:
        return density < 0.25
    return bool(text) and density == 0 and bool(_SENTENCE_END.search(text))


def clean_container(node: LexborNode) -> None:
    """Drop link lists and boilerplate boxes inside the chosen content (readability's cleaning)."""
    sizes = _sizes(node)
    boxes = node.css("ul, ol, div, section, table, p, li, dl")
    _remove(box for box in boxes if _is_clutter(box, sizes.get(box.mem_id, _Size())))


@dataclass(slots=True)
class _Size:
    text: int = 0
    linked: int = 0
    images: int = 0


def _sizes(root: LexborNode) -> dict[int, _Size]:
    """Text length, linked text length and images of every element under root, in one pass."""
    # Asking each box for its text would be quadratic in the nesting depth (50,000 nested divs).
    sizes: dict[int, _Size] = {}
    top = root.mem_id
    for node in reversed(list(root.traverse(include_text=True))):
        size = sizes.setdefault(node.mem_id, _Size())
        if node.tag == "-text":
            size.text = len((node.text_content or "").strip())
        elif node.tag == "a":
            size.linked = size.text
        elif node.tag == "img":
            size.images = 1
        parent = node.parent
        if parent is not None and node.mem_id != top:
            total = sizes.setdefault(parent.mem_id, _Size())
            total.text += size.text
            total.linked += size.linked
            total.images += size.images
    return sizes


def _is_clutter(box: LexborNode, size: _Size) -> bool:
    """Tell whether a box inside the content is a link list, a named boilerplate box or empty."""
    if not size.text:
        return box.tag in ("p", "div") and not size.images
    density = min(1.0, size.linked / size.text)
    if class_weight(box) < 0 and size.text < 1000 or density > 0.5 and box.tag != "p":
        return True
    return density > 0.33 and size.text < 200 and box.tag in ("p", "li")


def render(nodes: Iterable[LexborNode]) -> str:
    """The text of nodes, one line per block, cleaned."""
    parts: list[str] = []
    for node in nodes:
        for child in node.traverse(include_text=True):
            if child.tag == "-text":
                parts.append(child.text_content or "")
            elif child.tag in _BLOCK_TAGS:
                parts.append("\n")
        parts.append("\n")
    return clean_text("".join(parts))


def main_text(tree: LexborHTMLParser) -> str:
    """The article text of a parsed page, paragraphs one per line; "" if it has none."""
    root = tree.body or tree.root
    if root is None:
        return ""
    strip_boilerplate(root)
    scores = score_candidates(root)
    chosen = pick_content(root, scores)
    for node in chosen:
        clean_container(node)
    lines = render(chosen).split("\n")
    return "\n".join(line for line in lines if line.casefold() not in _LABELS)
