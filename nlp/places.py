"""Is a text about the province, and which of its places does it name?

``PlaceMatcher.match(title, text)`` finds, with one precompiled regular expression over the
accent-folded text, every name it knows: the province, its old districts and communes, the new
wards formed from them, configured aliases, landmarks and institutions, every other province, and
the units of the other provinces merged into the same new province. Each mention is then checked
against the text as written and weighed (evidence adds up as 1 - prod(1 - weight)):

- Written as the official name: the same diacritics (any tone-mark placement) or none at all
  ("Đinh" is not "Định"); capitalised, unless the text capitalises nothing ("Việt Nam thắng" is
  not "Nam Thắng"); not part of a longer name ("Đền Trần Thương", "Lê Thị Ý Yên", "xã Lâm Thao");
  not a person or street ("ông", "đường", a family name before it); a unit type written before it
  must fit ("quận Hải Châu" is not the commune Hải Châu).
- Counts alone: the province, its capital, keywords, landmarks, longer aliases, and a district
  or a prefixed unit whose name no other province uses at that level (computed from the mapping
  for the whole country: "huyện Xuân Trường" is unique, a bare "Xuân Trường" is not).
- Needs support: shared names, everyday words ("Liên Minh"), bare commune names (often a person
  or a place abroad: "Hoàng Nam", "Hải Nam"), two-syllable aliases ("Thành Nam"), unaccented bare
  names ("giao thuy") and unaccented names in a text otherwise written with diacritics. Support is
  the province (or the new province, for a name no other part of it uses, or a post-2025 address
  "xã X, tỉnh Ninh Bình") written as its address; the province, another of its places or its old
  district within ``WINDOW`` characters or in the title. An address in another province
  ("xã Nghĩa Hưng, tỉnh Lạng Sơn") rules the mention out.
- The new province ("Ninh Bình" for Nam Định) is context, not evidence.
- The province inside a list of four or more provinces, three of them outside its new province
  ("Hà Nội, Hải Phòng, Nam Định, Thanh Hóa ..."), or in a table row, weighs little.
- The title weighs most, then the opening ``LEAD`` characters of the body and any sentence that
  opens with the place, then the rest: one passing mention deep in an article is not enough.

The names and what each can mean are built by ``nlp.placenames``; the places' descriptions and
the Vietnamese reasons are written by ``nlp.placereasons``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nlp.base import Place
from nlp.gazetteer import Gazetteer, accent_key, load_neighbours, short_name
from nlp.normalize import fold
from nlp.placenames import (
    CONFIG_KINDS,
    PREFIXES,
    UNIT_KINDS,
    Hit,
    Sense,
    build_senses,
    compile_names,
)
from nlp.placereasons import PlaceReasons

THRESHOLD = 0.5  # relevant from this score on
WINDOW = 300  # characters around a shared name in which support counts

# Evidence one mention gives before position factors.
_WEIGHT = {
    "keyword": 1.0,
    "landmark": 1.0,
    "alias": 0.9,
    "own": 0.9,  # the province, its capital city or the ward named after it
    "district_prefixed": 0.85,  # "huyện Hải Hậu" is as specific as the province
    "district": 0.7,
    "ward_prefixed": 0.7,
    "ward": 0.5,  # a bare two-syllable commune name is often also a person's name
}
LEAD = 300  # characters of the body that open it (an RSS summary is about this long)
_LEAD = 0.75  # a mention in the opening of the body weighs less than one in the title
_BODY = 0.5  # and one further down less again: a single passing mention is not enough
_PLAIN = 0.8  # written without diacritics
_LISTED = 0.15  # in a list of provinces or a table row

# A commune name right after these words is a person, a street or a firm, not the commune.
_NOT_A_PLACE = frozenset(
    "ông bà anh chị em cháu cụ cô chú bác thầy cậu bé vệ môn hlv sĩ thủ "  # noqa: SIM905
    "đường phố ngõ ngách hẻm ty đoàn hiệu nghiệp".split()  # công ty, tập đoàn, doanh nghiệp
)
_SURNAMES = frozenset(
    "nguyễn trần lê phạm hoàng huỳnh phan vũ võ đặng bùi đỗ hồ ngô dương lý đào đoàn vương "  # noqa: SIM905
    "trịnh mai trương đinh lương lưu tô tạ cao chu quách phùng hà lã lại triệu".split()
)
_PRIORITY = {
    "keyword": 7,
    "landmark": 6,
    "alias": 5,
    "own": 4,
    "parent": 3,
    "other": 2,
    "unit": 1,
    "neighbour": 0,
}
_LIST_GAP = re.compile(
    r"[\s\d,;:/&+().%|\-–—]*(?:(?:va|hoac|cung|den|toi)\b[\s\d,;:/&+().%|\-–—]*)?"
)
_BREAK = re.compile(r"[!?;\n]|\.(?:\s|$)")
_DISTRICT_WORD = re.compile(r"\b(?:huyen|quan|thi xa|thanh pho|tp)\b")
_PREVIOUS_WORD = re.compile(r"(\w+)\s+$")
_NEXT_WORD = re.compile(r"[^\S\n]+(\w+)")
_UPPER = "".join(c for c in map(chr, range(0x41, 0x1F00)) if c.isupper() and c.isalpha())
_MID_SENTENCE_CAPITAL = re.compile(rf"\w[^\S\n]+[{_UPPER}]")
_LETTERS = re.compile(r"[^\W\d_]+")
_CONNECTORS = frozenset(("va", "hoac", "cung", "den", "toi"))
_SENTENCE = re.compile(r"(?<!\d)[.!?](?:\s|$)|\n")
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True, slots=True)
class Relevance:
    """Whether a text is about the province, how strongly, the places it names and why."""

    relevant: bool
    score: float
    places: list[Place]
    reasons: list[str]


class _Text:
    """The text being matched (NFC and folded), with facts about its writing worked out on demand."""

    def __init__(self, body: str, title_end: int) -> None:
        self.norm, self.offsets = _nfc(body)
        self.folded = fold(self.norm)
        self.title_end = title_end
        self._cased: bool | None = None
        self._accented: bool | None = None

    def cased(self) -> bool:
        """Whether the text capitalises names at all (much social text is typed in lower case)."""
        if self._cased is None:
            # Keyboards capitalise sentence starts; only a capital inside a sentence shows names are
            self._cased = _MID_SENTENCE_CAPITAL.search(self.norm) is not None
        return self._cased

    def accented(self) -> bool:
        """Whether the text is written with diacritics (social text often is not)."""
        if self._accented is None:
            words = self.norm.split()
            self._accented = sum(not w.isascii() for w in words) >= 0.3 * len(words)
        return self._accented


class PlaceMatcher:
    """Decides whether a text is about one province and lists the places of it that it names."""

    def __init__(
        self,
        gazetteer: Gazetteer,
        aliases: Iterable[str] = (),
        landmarks: Iterable[str] = (),
        keywords: Iterable[str] = (),
        *,
        threshold: float = THRESHOLD,
        mapping_path: Path | None = None,
    ) -> None:
        self.gazetteer = gazetteer
        self.threshold = threshold
        own = {gazetteer.province, *gazetteer.merged_from}
        self._parent = gazetteer.new_province if gazetteer.new_province not in own else None
        neighbours = load_neighbours(gazetteer, mapping_path)
        self._neighbour_provinces = set(neighbours.provinces)
        self._senses = build_senses(
            gazetteer,
            aliases,
            landmarks,
            keywords,
            own=own,
            parent=self._parent,
            neighbours=neighbours,
            mapping_path=mapping_path,
        )
        self._report = PlaceReasons(gazetteer, self._neighbour_provinces)
        self._regex = compile_names(self._senses)

    # -- matching -------------------------------------------------------------------------------

    def match(self, title: str, text: str) -> Relevance:
        """Score how much ``title`` and ``text`` are about the province and list its places.

        Spans index into ``f"{title}\\n{text}"`` exactly as given (decomposed Unicode included).
        """
        doc = _Text(
            f"{title}\n{text}", len(unicodedata.normalize("NFC", title)) if title.strip() else 0
        )
        hits = self._hits(doc)
        context = [h for h in hits if h.sense.kind in ("own", "parent", "other")]
        context = [h for h in context if h.level in ("province", "city")]
        _mark_lists(context, doc.folded)
        for hit in hits:
            self._judge(hit, doc)
        for hit in hits:
            if hit.status == "weak":
                self._support(hit, hits, context, doc)
            elif hit.status == "strong" and hit.sense.kind == "landmark":
                address = _address(hit, context, doc.norm)
                if address is not None and address.sense.kind == "other":
                    hit.status, hit.why = "dropped", f"conflict:{address.sense.origin}"
        counted = [h for h in hits if h.status in ("strong", "supported", "listed")]
        _pick_old_wards(counted)
        score = 1.0
        for hit in counted:
            score *= 1.0 - _weight(hit)
        score = round(1.0 - score, 3)
        relevant = score >= self.threshold
        places = [self._place(h, doc.offsets) for h in counted]
        return Relevance(
            relevant, score, places, self._report.reasons(hits, counted, relevant, score)
        )

    def _hits(self, doc: _Text) -> list[Hit]:
        hits = []
        for m in self._regex.finditer(doc.folded):
            group = "one" if m.group("one") is not None else "name"
            prefix = m.group("p1") or m.group("p2") or ""
            start, end = m.span(group)
            senses = self._senses[" ".join(m.group(group).split())]
            hit = self._resolve(senses, doc, m.start(), start, end, prefix)
            if hit is not None and self._as_written(hit, doc, start):
                hits.append(hit)
        return hits

    def _as_written(self, hit: Hit, doc: _Text, start: int) -> bool:
        """Whether the way the name is written fits the way the text is written."""
        surface = doc.norm[start : hit.end]
        if hit.sense.kind not in _CASED:
            return True
        if not _capitalised(surface, hit.sense.name) and doc.cased():
            return False  # "Việt Nam thắng" is not "Nam Thắng", "kim chỉ nam định hướng" not "Nam Định"
        if hit.sense.kind in ("own", "keyword") or surface.isupper() or not doc.cased():
            return True
        # Part of a longer name: "Đền Trần Thương", "xã Lâm Thao", "Lê Thị Ý Yên", "Long Thành Nam"
        return not self._continues(doc, hit.end) and (
            hit.prefixed or not _follows_name(doc.norm, hit.start)
        )

    def _continues(self, doc: _Text, end: int) -> bool:
        """The name runs on into a capitalised word that is not another known name."""
        following = _NEXT_WORD.match(doc.norm, end)
        if (
            following is None
            or not following.group(1)[:1].isupper()
            or following.group(1).isupper()
        ):
            return False
        return self._regex.match(doc.folded, following.start(1)) is None

    def _resolve(
        self, senses: tuple[Sense, ...], doc: _Text, at: int, start: int, end: int, prefix: str
    ) -> Hit | None:
        written = accent_key(doc.norm[start:end])
        wanted = _prefix_level(doc.norm[at:start], written) if prefix else None
        best: tuple[tuple[bool, bool, int], Sense] | None = None
        for sense in senses:
            exact = written == sense.accents
            if not exact and not _unaccented_match(written, sense.accents):
                continue
            fits = wanted is not None and _level(sense, wanted) is not None
            rank = (exact, fits, _PRIORITY[sense.kind])
            if best is None or rank > best[0]:
                best = (rank, sense)
        if best is None:
            return None
        (exact, fits, _), sense = best
        if not fits and wanted and sense.kind == "unit":
            return None  # "quận Hải Châu" is Đà Nẵng's, not the commune Hải Châu
        if sense.syllables == 1 and sense.kind in UNIT_KINDS and not (fits and exact):
            return None  # "thị trấn Lâm" yes; "lam", "con" typed without accents are any word
        level = _level(sense, wanted if fits else None) or "province"
        first = at if fits else start
        title, lead = first < doc.title_end, first <= doc.title_end + LEAD
        top = title or (lead and doc.title_end == 0)
        # A sentence that opens with the place is about it, wherever it stands
        lead = lead or doc.norm[max(0, first - 10) : first].rstrip(" \t")[-1:] in _OPENS
        return Hit(first, end, sense, level, fits, exact, title, lead, top)

    def _judge(self, hit: Hit, doc: _Text) -> None:
        """Decide whether a mention counts on its own."""
        sense = hit.sense
        if sense.kind in ("parent", "other", "neighbour"):
            hit.status = "context"
        elif hit.listed:
            hit.status = "listed"
        elif not hit.exact and doc.accented():
            hit.status = "weak"  # "Nam Dinh" in a text with diacritics may be some other name
        elif sense.kind == "own":
            hit.status = "strong"
        elif sense.kind in ("unit", "alias") and not hit.prefixed and _person(doc.norm, hit.start):
            hit.status, hit.why = "dropped", "person"
        elif sense.kind != "unit":
            # "thành nam" typed in lower case may be "thành nam giới"; a two-syllable alias
            # ("Thành Nam") is as often a person's or a firm's name
            written = hit.exact and _capitalised(doc.norm[hit.start : hit.end], sense.name)
            short = sense.kind == "alias" and sense.syllables < 3
            hit.status = "strong" if (written or sense.syllables >= 3) and not short else "weak"
        else:
            # A bare commune name is as often a person ("Hoàng Nam") or a place abroad ("Hải Nam").
            cls = ("district" if hit.level == "city" else hit.level) if hit.prefixed else "any"
            unique = not sense.shared.get((cls, hit.exact))
            alone = hit.prefixed or (hit.exact and hit.level == "district" and not sense.common)
            hit.status = "strong" if unique and alone else "weak"

    def _support(self, hit: Hit, hits: list[Hit], context: list[Hit], doc: _Text) -> None:
        """A weak mention counts if its address or its surroundings place it in the province."""
        address = _address(hit, context, doc.norm)
        if address is not None:
            if address.sense.kind == "other":
                hit.status, hit.why = "dropped", f"conflict:{address.sense.origin}"
                return
            if address.sense.kind == "own" or self._new_style(hit, address, doc.folded):
                hit.status, hit.why = "supported", f"address:{address.sense.name}"
                return
        for other in hits:
            if other is not hit and _near(hit, other):
                why = _supports(other, hit)
                if why:
                    hit.status, hit.why = "supported", f"{why}:{other.sense.name}"
                    return
        hit.status = "dropped"

    def _new_style(self, hit: Hit, address: Hit, folded: str) -> bool:
        """A "xã X, tỉnh Ninh Bình" address with no district is post-2025: X is a new ward."""
        if address.sense.kind != "parent":
            return False
        if not hit.sense.near_neighbours:
            return True
        gap = folded[min(hit.end, address.end) : max(hit.start, address.start)]
        return hit.prefixed and hit.sense.ward is not None and not _DISTRICT_WORD.search(gap)

    # -- output ---------------------------------------------------------------------------------

    def _place(self, hit: Hit, offsets: list[int] | None) -> Place:
        start, end = (
            (hit.start, hit.end) if offsets is None else (offsets[hit.start], offsets[hit.end])
        )
        name, old, new = self._report.describe(hit)
        return Place(name, _LEVEL_NAME.get(hit.level, hit.level), start, end, old, new)


_OPENS = ("", ".", "!", "?", "\n")  # what comes before a sentence-opening word
_SENTENCE_END = ".!?:;\n\"“'‘(-–—"
_CASED = ("own", "alias", "landmark", "keyword", "unit", "neighbour")
_LEVEL_NAME = {"city": "district"}


def _nfc(text: str) -> tuple[str, list[int] | None]:
    """The text in NFC, with a map from its offsets back to the input's when they differ."""
    if unicodedata.is_normalized("NFC", text):
        return text, None
    pieces, offsets, start = [], [], 0
    for i in range(1, len(text) + 1):
        if i == len(text) or not unicodedata.combining(text[i]):
            piece = unicodedata.normalize("NFC", text[start:i])
            pieces.append(piece)
            offsets.extend([start] * len(piece))
            start = i
    offsets.append(len(text))
    return "".join(pieces), offsets


def _capitalised(written: str, official: str) -> bool:
    """Each word capitalised where the official name capitalises it."""
    mine, theirs = written.split(), official.split()
    return len(mine) == len(theirs) and all(
        a[:1].isupper() or not b[:1].isupper() for a, b in zip(mine, theirs, strict=True)
    )


def _unaccented_match(written: str, official: str) -> bool:
    """Each syllable as officially written, or written with no diacritics at all."""
    mine, theirs = written.split(), official.split()
    return len(mine) == len(theirs) and all(
        a == b or a.isascii() for a, b in zip(mine, theirs, strict=True)
    )


def _prefix_level(written: str, name_accents: str) -> str | None:
    """The level a written prefix ("huyện ", "TP.") names, if it is one."""
    folded = " ".join(fold(written).replace(".", " ").split())
    level, official = PREFIXES[folded]
    if not official:
        return level
    plain = written.strip().isascii()
    if plain and not name_accents.isascii():
        return None  # "xa Nam Định" is "far from Nam Định", not a commune
    if not plain and accent_key(written) != accent_key(official):
        return None  # "phương" (direction) is not "phường"
    return level


def _level(sense: Sense, wanted: str | None) -> str | None:
    """The level the sense takes for a prefix (None: the prefix does not fit)."""
    kind = sense.kind
    if kind in CONFIG_KINDS:
        return kind if wanted is None else None
    if wanted in ("district", "city") and sense.district is not None:
        return "city" if sense.district.full_name.lower().startswith("thành phố") else "district"
    if wanted == "ward" and (sense.ward is not None or sense.old_wards):
        return "ward"
    if kind in ("own", "parent", "other") and wanted in (None, "province", "city"):
        return "province"
    if wanted is None and kind in ("unit", "neighbour"):
        return "district" if sense.district is not None else "ward"
    return None


def _mark_lists(context: list[Hit], folded: str) -> None:
    """Mark the province named in a list of provinces, or in a table row, as listed."""
    runs: list[list[Hit]] = []
    for hit in context:
        gap = folded[runs[-1][-1].end : hit.start] if runs else ""
        if runs and _in_a_list(gap):
            runs[-1].append(hit)
        else:
            runs.append([hit])
    for run in runs:
        outside = {h.sense.origin for h in run if h.sense.kind == "other" and not h.sense.inside}
        if len(run) >= 4 and len(outside) >= 3:
            for hit in run:
                hit.listed = True
    if len({h.sense.origin or h.sense.name for h in context}) < 5:
        return
    for hit in context:
        if hit.sense.kind == "own" and not hit.listed:
            line_start = folded.rfind("\n", 0, hit.start) + 1
            line_end = folded.find("\n", hit.end)
            line = folded[line_start : len(folded) if line_end < 0 else line_end]
            names = sum(
                len(folded[h.start : h.end].split())
                for h in context
                if h.start >= line_start and h.end <= line_start + len(line)
            )
            hit.listed = bool(_DIGIT.search(line)) and len(_LETTERS.findall(line)) - names <= 4


def _in_a_list(gap: str) -> bool:
    """Whether two province names with ``gap`` between them are items of one list or table row.

    Only separators ("Hà Nội, Hải Phòng và Nam Định", one name a line), or within one sentence a
    few words and figures ("Hà Nội: 120 ca; Hải Phòng: 80 ca; Nam Định: 45 ca").
    """
    if len(gap) > 40:
        return False
    if _LIST_GAP.fullmatch(gap):
        return True
    words = [w for w in _LETTERS.findall(gap) if w not in _CONNECTORS]
    return len(words) <= 2 and _DIGIT.search(gap) is not None and not _SENTENCE.search(gap)


def _pick_old_wards(counted: list[Hit]) -> None:
    """Two old communes named "Quang Trung": the one in the district the text names."""
    districts = {fold(h.sense.name) for h in counted if h.level in ("district", "city")}
    for hit in counted:
        if len(hit.sense.old_wards) > 1:
            hit.old_ward = next(
                (w for w in hit.sense.old_wards if fold(short_name(w.parent or "")) in districts),
                None,
            )


def _person(norm: str, start: int) -> bool:
    """A name right after "ông", "đường" or a family name ("Lương Xuân Trường") is not a place."""
    previous = _PREVIOUS_WORD.search(norm, max(0, start - 20), start)
    if previous is None:
        return False
    word = previous.group(1)
    return word.lower() in _NOT_A_PLACE or (word[:1].isupper() and word.lower() in _SURNAMES)


def _address(hit: Hit, context: list[Hit], norm: str) -> Hit | None:
    """The province written as part of the mention's address, right after it or just before."""
    after = next((c for c in context if c.start >= hit.end), None)
    if (
        after is not None
        and after.start - hit.end <= 80
        and not _BREAK.search(norm, hit.end, after.start)
    ):
        return after
    before = next((c for c in reversed(context) if c.end <= hit.start), None)
    if (
        before is not None
        and hit.start - before.end <= 60
        and not _BREAK.search(norm, before.end, hit.start)
    ):
        return before
    return None


def _supports(other: Hit, hit: Hit) -> str:
    """How ``other`` supports the weak mention ``hit`` ("" if it does not)."""
    if other.status == "strong":
        return "near"
    if other.sense.kind in ("unit", "own") and other.sense is not hit.sense:
        if other.status in ("weak", "supported") and fold(other.sense.name) in hit.sense.districts:
            return "district"
        if other.status in ("weak", "supported") and _unique(other):
            return "near"  # two distinct names of the province's places, each its own
    if other.sense.kind == "parent" and hit.prefixed and not hit.sense.near_neighbours:
        return "near"  # "xã Nghĩa Hưng" with "Ninh Bình" nearby: only ours in the new province
    return ""


def _near(hit: Hit, other: Hit) -> bool:
    return other.title or abs(other.start - hit.start) <= WINDOW


def _unique(hit: Hit) -> bool:
    """A district name or a prefixed name that no other province uses, however it is written."""
    if not (hit.prefixed or hit.level == "district"):
        return False
    return not hit.sense.shared.get(("any", False)) and not hit.sense.common


def _follows_name(norm: str, start: int) -> bool:
    """Whether a capitalised word inside a sentence comes right before ``start`` (not "UBND")."""
    previous = _PREVIOUS_WORD.search(norm, max(0, start - 20), start)
    if previous is None:
        return False
    word = previous.group(1)
    if not word[:1].isupper() or (len(word) > 1 and word.isupper()):
        return False
    before = norm[max(0, previous.start() - 5) : previous.start()].rstrip(" \t")
    return bool(before) and before[-1] not in _SENTENCE_END


def _weight(hit: Hit) -> float:
    kind = hit.sense.kind
    if kind in CONFIG_KINDS or kind == "own":
        base = _WEIGHT[kind]
    elif hit.level == "ward":
        base = _WEIGHT["ward_prefixed" if hit.prefixed else "ward"]
    else:
        base = _WEIGHT["district_prefixed" if hit.prefixed else "district"]
    base *= 1.0 if hit.exact else _PLAIN
    base *= 1.0 if hit.top else _LEAD if hit.lead else _BODY
    return base * (_LISTED if hit.listed else 1.0)
