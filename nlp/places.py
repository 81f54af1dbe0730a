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
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp.base import Place
from nlp.gazetteer import (
    AdminUnit,
    Gazetteer,
    accent_key,
    everyday_words,
    known_provinces,
    load_neighbours,
    name_sharing,
    province_spellings,
    short_name,
)
from nlp.normalize import fold

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

_PREFIXES = {
    "tinh": ("province", "tỉnh"),
    "thanh pho": ("city", "thành phố"),
    "tp": ("city", ""),
    "huyen": ("district", "huyện"),
    "quan": ("district", "quận"),
    "thi xa": ("district", "thị xã"),
    "h": ("district", ""),
    "xa": ("ward", "xã"),
    "phuong": ("ward", "phường"),
    "thi tran": ("ward", "thị trấn"),
    "dac khu": ("ward", "đặc khu"),
    "tt": ("ward", ""),
    "x": ("ward", ""),
    "p": ("ward", ""),
}
_PREFIX_RE = r"(?:tinh|thanh pho|huyen|quan|thi xa|thi tran|xa|phuong|dac khu)\s+|(?:tp|tt)\b\.?\s*|[hxp]\.\s*"
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


@dataclass(frozen=True, slots=True, eq=False)
class _Sense:
    """One thing a folded name can mean."""

    kind: str  # own | alias | landmark | keyword | unit | parent | other | neighbour
    name: str  # as written officially or in the configuration
    accents: str  # accent_key(name)
    syllables: int
    district: AdminUnit | None = None
    ward: AdminUnit | None = None  # the new ward of this name
    old_wards: tuple[AdminUnit, ...] = ()
    # (level class district|ward|any, accents exact) -> other provinces using the name
    shared: Mapping[tuple[str, bool], tuple[str, ...]] = field(default_factory=dict)
    common: bool = False  # also an everyday word
    near_neighbours: bool = False  # the name is also used in another part of the new province
    districts: frozenset[str] = frozenset()  # folded names of the old districts it belonged to
    inside: bool = False  # another province that is part of the same new province
    origin: str = ""  # neighbour units: their old province


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


@dataclass(slots=True)
class _Hit:
    start: int
    end: int
    sense: _Sense
    level: str  # province | city | district | ward | alias | landmark | keyword
    prefixed: bool
    exact: bool
    title: bool
    lead: bool
    top: bool  # in the title, or opening a text that has none (a social post)
    listed: bool = False
    status: str = "weak"  # strong | weak | supported | dropped
    why: str = ""
    old_ward: AdminUnit | None = None  # of two old communes of one name, the one meant


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
        self._new_name = gazetteer.new_province or gazetteer.province
        neighbours = load_neighbours(gazetteer, mapping_path)
        self._neighbour_provinces = set(neighbours.provinces)
        senses: dict[str, list[_Sense]] = defaultdict(list)
        for sense in self._unit_senses(gazetteer, own, mapping_path):
            senses[_key(sense.name)].append(sense)
        for kind, terms in (("alias", aliases), ("landmark", landmarks), ("keyword", keywords)):
            for term in terms:
                if term.strip():
                    senses[_key(term)].append(_sense(kind, term.strip()))
        self._add_provinces(senses, own, mapping_path)
        # A neighbour's name counts unless the province has a unit of that name and level
        taken = {(s.accents, u.level) for g in senses.values() for s in g for u in _units(s)}
        for unit in neighbours.units:
            if (accent_key(unit.name), unit.level) not in taken:
                origin = unit.province or ""
                senses[_key(unit.name)].append(
                    _sense("neighbour", unit.name, district=unit, origin=origin)
                    if unit.level == "district"
                    else _sense("neighbour", unit.name, ward=unit, origin=origin)
                )
        self._senses = {k: tuple(v) for k, v in senses.items()}
        news: dict[str, list[str]] = defaultdict(list)
        for unit in gazetteer.units:
            if unit.parent and unit.new_unit and unit.new_unit not in news[unit.parent]:
                news[unit.parent].append(unit.new_unit)
        self._district_news = {district: ", ".join(wards) for district, wards in news.items()}
        self._regex = _compile(self._senses)

    # -- building -------------------------------------------------------------------------------

    def _unit_senses(
        self, gazetteer: Gazetteer, own: set[str], mapping_path: Path | None
    ) -> list[_Sense]:
        groups: dict[str, list[AdminUnit]] = defaultdict(list)
        for unit in gazetteer.units:
            if unit.name and unit.level != "province":
                groups[accent_key(unit.name)].append(unit)
        common = everyday_words(u[0].name for u in groups.values())
        sharing = name_sharing(gazetteer, mapping_path)
        own_keys = {accent_key(name) for name in own}
        result = [_sense("own", name) for name in own if accent_key(name) not in groups]
        for key, units in groups.items():
            ward = next((u for u in units if u.level == "ward" and u.era == "new"), None)
            olds = tuple(u for u in units if u.level == "ward" and u.era == "old")
            districts = [u.parent for u in olds if u.parent]
            districts += [old.split(", ")[1] for old in _formed(ward)]
            result.append(
                _sense(
                    "own" if key in own_keys else "unit",
                    units[0].name,
                    district=next((u for u in units if u.level == "district"), None),
                    ward=ward,
                    old_wards=olds,
                    shared=sharing[key].provinces,
                    common=key in common,
                    near_neighbours=sharing[key].neighbours,
                    districts=frozenset(fold(short_name(d)) for d in districts),
                )
            )
        return result

    def _add_provinces(
        self, senses: dict[str, list[_Sense]], own: set[str], mapping_path: Path | None
    ) -> None:
        for name in known_provinces(mapping_path):
            if name in own:
                continue
            kind = "parent" if name == self._parent else "other"
            inside = name in self._neighbour_provinces
            for form in (name, *province_spellings(name)):
                senses[_key(form)].append(_sense(kind, form, inside=inside, origin=name))

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
        return Relevance(relevant, score, places, self._reasons(hits, counted, relevant, score))

    def _hits(self, doc: _Text) -> list[_Hit]:
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

    def _as_written(self, hit: _Hit, doc: _Text, start: int) -> bool:
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
        self, senses: tuple[_Sense, ...], doc: _Text, at: int, start: int, end: int, prefix: str
    ) -> _Hit | None:
        written = accent_key(doc.norm[start:end])
        wanted = _prefix_level(doc.norm[at:start], written) if prefix else None
        best: tuple[tuple[bool, bool, int], _Sense] | None = None
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
        if sense.syllables == 1 and sense.kind in _UNITS and not (fits and exact):
            return None  # "thị trấn Lâm" yes; "lam", "con" typed without accents are any word
        level = _level(sense, wanted if fits else None) or "province"
        first = at if fits else start
        title, lead = first < doc.title_end, first <= doc.title_end + LEAD
        top = title or (lead and doc.title_end == 0)
        # A sentence that opens with the place is about it, wherever it stands
        lead = lead or doc.norm[max(0, first - 10) : first].rstrip(" \t")[-1:] in _OPENS
        return _Hit(first, end, sense, level, fits, exact, title, lead, top)

    def _judge(self, hit: _Hit, doc: _Text) -> None:
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

    def _support(self, hit: _Hit, hits: list[_Hit], context: list[_Hit], doc: _Text) -> None:
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

    def _new_style(self, hit: _Hit, address: _Hit, folded: str) -> bool:
        """A "xã X, tỉnh Ninh Bình" address with no district is post-2025: X is a new ward."""
        if address.sense.kind != "parent":
            return False
        if not hit.sense.near_neighbours:
            return True
        gap = folded[min(hit.end, address.end) : max(hit.start, address.start)]
        return hit.prefixed and hit.sense.ward is not None and not _DISTRICT_WORD.search(gap)

    # -- output ---------------------------------------------------------------------------------

    def _place(self, hit: _Hit, offsets: list[int] | None) -> Place:
        start, end = (
            (hit.start, hit.end) if offsets is None else (offsets[hit.start], offsets[hit.end])
        )
        name, old, new = self._describe(hit)
        return Place(name, _LEVEL_NAME.get(hit.level, hit.level), start, end, old, new)

    def _describe(self, hit: _Hit) -> tuple[str, str | None, str | None]:
        """The place's official name, what it was before 2025 and what it is now."""
        sense, g = hit.sense, self.gazetteer
        if hit.level == "province":
            if g.new_full_name:
                return g.full_name, g.full_name, g.new_full_name
            return (g.full_name if sense.name == g.province else sense.name), None, None
        if hit.level in ("district", "city") and sense.district is not None:
            full = sense.district.full_name
            return full, full, self._district_news.get(full)
        if hit.level == "ward" and sense.ward is not None:
            return (
                sense.ward.full_name,
                "; ".join(_formed(sense.ward)) or None,
                sense.ward.full_name,
            )
        if hit.level == "ward" and sense.old_wards:
            old = hit.old_ward or sense.old_wards[0]
            return old.full_name, f"{old.full_name}, {old.parent}", old.new_unit
        return sense.name, None, None

    def _reasons(
        self, hits: list[_Hit], counted: list[_Hit], relevant: bool, score: float
    ) -> list[str]:
        """What was found; for an item judged not relevant, also what was set aside and why."""
        groups: dict[str, list[_Hit]] = {}
        for hit in counted:
            if hit.status != "listed":
                groups.setdefault(self._describe(hit)[0], []).append(hit)
        reasons = [self._found(group) for group in list(groups.values())[:5]]
        if relevant:
            return reasons
        notes = []
        if any(h.status == "listed" for h in hits):
            notes.append(
                f"tên {self._label()} chỉ nằm trong danh sách cùng nhiều tỉnh khác — không tính là bài về tỉnh"
            )
        skipped = {h.sense.name: h for h in hits if h.status == "dropped"}
        notes.extend(self._skipped(hit) for hit in skipped.values())
        if not counted:
            notes.extend(self._context_only(hits))
        if counted and not notes:
            notes.append(f"chưa đủ căn cứ để coi là bài về {self._label()} (điểm {score:.2f})")
        return reasons + notes[:4]

    def _label(self) -> str:
        return _lower_first(self.gazetteer.full_name)

    def _found(self, group: list[_Hit]) -> str:
        hit = group[0]
        name, old, new = self._describe(hit)
        text = f"nhắc tới {_lower_first(name) if hit.level not in _CONFIG else f'“{name}”'}"
        text += self._history(hit, old, new)
        if any(h.title for h in group):
            text += " trong tiêu đề"
        if len(group) > 1:
            text += f", {len(group)} lần"
        if not any(h.exact for h in group):
            text += " (viết không dấu)"
        if hit.status == "supported":
            shared = hit.sense.shared.get(("any", hit.exact)) or hit.sense.common
            text += " — " + ("tên này có cả ở nơi khác; " if shared else "") + _why(hit.why)
        return text

    def _history(self, hit: _Hit, old: str | None, new: str | None) -> str:
        g = self.gazetteer
        where = _lower_first(g.new_full_name) if g.new_full_name else None
        if hit.level in _CONFIG or where is None:
            return ""
        if hit.level == "province":
            return f" (nay thuộc {where})"
        if hit.level in ("district", "city") and new:
            wards = new.split(", ")
            same = next((w for w in wards if short_name(w) == hit.sense.name), None)
            if same and len(wards) > 1:
                return (
                    f" (nay là {_lower_first(same)} và {len(wards) - 1} xã, phường khác, {where})"
                )
            return f" (nay là {_lower_first(', '.join(wards))}, {where})"
        if hit.level == "ward" and hit.sense.ward is not None:
            districts = sorted({_lower_first(o.split(", ")[1]) for o in _formed(hit.sense.ward)})
            before = (
                f" (trước thuộc {' và '.join(districts)}, {self._label()})" if districts else ""
            )
            return f", {where}{before}"
        if hit.level == "ward" and new:
            district = _lower_first((old or "").split(", ")[-1])
            return f" ({district} cũ; nay thuộc {_lower_first(new)}, {where})"
        return ""

    def _skipped(self, hit: _Hit) -> str:
        written = f"“{hit.sense.name}”"
        if hit.why == "person":
            return f"bỏ qua {written}: ở đây là tên người, đường phố hoặc doanh nghiệp"
        if hit.why.startswith("conflict:"):
            return f"bỏ qua {written}: bài ghi địa chỉ thuộc {hit.why.split(':', 1)[1]}"
        elsewhere = hit.sense.shared.get(("any", hit.exact), ())
        if elsewhere:
            names = ", ".join(elsewhere[:3]) + ("…" if len(elsewhere) > 3 else "")
            return f"bỏ qua {written}: tên này cũng có ở {names}, mà bài không nhắc {self.gazetteer.province} ở gần"
        if not hit.exact:
            return (
                f"bỏ qua {written} (viết không dấu): cần thêm ngữ cảnh về {self.gazetteer.province}"
            )
        if hit.sense.common:
            return f"bỏ qua {written}: cũng là từ thông thường, cần thêm ngữ cảnh về {self.gazetteer.province}"
        return (
            f"bỏ qua {written}: tên xã, phường đứng riêng (có thể là tên người hay nơi khác),"
            f" cần thêm ngữ cảnh về {self.gazetteer.province}"
        )

    def _context_only(self, hits: list[_Hit]) -> list[str]:
        notes = []
        parent = next((h for h in hits if h.sense.kind == "parent"), None)
        neighbour = next((h for h in hits if h.sense.kind == "neighbour"), None)
        if neighbour is not None and parent is not None:
            unit = neighbour.sense.district or neighbour.sense.ward
            name = _lower_first(unit.full_name) if unit else neighbour.sense.name
            origin = neighbour.sense.origin or " hoặc ".join(sorted(self._neighbour_provinces))
            notes.append(
                f"nhắc tới {name} — thuộc {origin} cũ, không phải {self.gazetteer.province}"
            )
        elif parent is not None:
            notes.append(
                f"chỉ nhắc tới tỉnh {parent.sense.name}, không có địa danh nào của {self.gazetteer.province} cũ"
                f" — có thể thuộc địa bàn {' hoặc '.join(sorted(self._neighbour_provinces))} cũ"
            )
        return notes


_CONFIG = ("alias", "landmark", "keyword")
_UNITS = ("unit", "neighbour")
_OPENS = ("", ".", "!", "?", "\n")  # what comes before a sentence-opening word
_SENTENCE_END = ".!?:;\n\"“'‘(-–—"
_CASED = ("own", "alias", "landmark", "keyword", "unit", "neighbour")
_LEVEL_NAME = {"city": "district"}


def _sense(kind: str, name: str, **fields: Any) -> _Sense:
    return _Sense(kind, name, accent_key(name), len(name.split()), **fields)


def _key(text: str) -> str:
    return " ".join(fold(unicodedata.normalize("NFC", text)).split())


def _units(sense: _Sense) -> tuple[AdminUnit, ...]:
    return tuple(u for u in (sense.district, sense.ward, *sense.old_wards) if u is not None)


def _formed(ward: AdminUnit | None) -> tuple[str, ...]:
    return ward.formed_from if ward is not None else ()


def _lower_first(text: str) -> str:
    """ "Huyện Hải Hậu" -> "huyện Hải Hậu"; a name without a unit type stays as it is."""
    return text[:1].lower() + text[1:] if short_name(text) != text else text


def _compile(senses: Mapping[str, tuple[_Sense, ...]]) -> re.Pattern[str]:
    """One pattern for every name: a prefixed single syllable, or a (prefixed) longer name."""
    single = {k for k, v in senses.items() if all(s.syllables == 1 and s.kind in _UNITS for s in v)}
    multi = [k for k in senses if k not in single]
    return re.compile(
        rf"(?<![^\W\d_])(?:(?P<p1>{_PREFIX_RE})(?P<one>{_trie(single)})"
        rf"|(?P<p2>{_PREFIX_RE})?(?P<name>{_trie(multi)}))(?![^\W\d_])"
    )


def _trie(words: Iterable[str]) -> str:
    """A regular expression matching any of ``words``, shared prefixes factored out."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return _trie_node(root) or "(?!)"


def _trie_node(node: dict[str, Any]) -> str:
    parts = [
        (r"[^\S\n]+" if char == " " else re.escape(char)) + _trie_node(child)
        for char, child in sorted(node.items())
        if char
    ]
    if not parts:
        return ""
    body = parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"
    if "" not in node:
        return body
    return (f"(?:{body})" if len(parts) > 1 or len(body) > 1 else body) + "?"


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
    level, official = _PREFIXES[folded]
    if not official:
        return level
    plain = written.strip().isascii()
    if plain and not name_accents.isascii():
        return None  # "xa Nam Định" is "far from Nam Định", not a commune
    if not plain and accent_key(written) != accent_key(official):
        return None  # "phương" (direction) is not "phường"
    return level


def _level(sense: _Sense, wanted: str | None) -> str | None:
    """The level the sense takes for a prefix (None: the prefix does not fit)."""
    kind = sense.kind
    if kind in _CONFIG:
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


def _mark_lists(context: list[_Hit], folded: str) -> None:
    """Mark the province named in a list of provinces, or in a table row, as listed."""
    runs: list[list[_Hit]] = []
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


def _pick_old_wards(counted: list[_Hit]) -> None:
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


def _address(hit: _Hit, context: list[_Hit], norm: str) -> _Hit | None:
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


def _supports(other: _Hit, hit: _Hit) -> str:
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


def _near(hit: _Hit, other: _Hit) -> bool:
    return other.title or abs(other.start - hit.start) <= WINDOW


def _unique(hit: _Hit) -> bool:
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


def _weight(hit: _Hit) -> float:
    kind = hit.sense.kind
    if kind in _CONFIG or kind == "own":
        base = _WEIGHT[kind]
    elif hit.level == "ward":
        base = _WEIGHT["ward_prefixed" if hit.prefixed else "ward"]
    else:
        base = _WEIGHT["district_prefixed" if hit.prefixed else "district"]
    base *= 1.0 if hit.exact else _PLAIN
    base *= 1.0 if hit.top else _LEAD if hit.lead else _BODY
    return base * (_LISTED if hit.listed else 1.0)


def _why(why: str) -> str:
    kind, _, name = why.partition(":")
    if kind == "address":
        return f"tính vì địa chỉ ghi rõ {name}"
    if kind == "district":
        return f"tính vì bài nhắc cả {name}"
    return f"tính vì bài nhắc {name} ở gần"
