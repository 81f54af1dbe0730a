"""The names a ``PlaceMatcher`` knows, what each can mean, and one regular expression for them all.

Every name is keyed by its accent-folded form; one key can have several senses (the commune and
the district of one name, a province and a landmark ...). The senses come from the gazetteer (the
province, its old districts and communes, the new wards formed from them), the configuration
(aliases, landmarks, keywords), every other province, and the units of the other provinces merged
into the same new province. A ``Hit`` is one mention of a sense found in a text, as the matcher
then weighs it.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp.gazetteer import (
    AdminUnit,
    Gazetteer,
    Neighbours,
    accent_key,
    everyday_words,
    known_provinces,
    name_sharing,
    province_spellings,
    short_name,
)
from nlp.normalize import fold

PREFIXES = {
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
PREFIX_RE = r"(?:tinh|thanh pho|huyen|quan|thi xa|thi tran|xa|phuong|dac khu)\s+|(?:tp|tt)\b\.?\s*|[hxp]\.\s*"
CONFIG_KINDS = ("alias", "landmark", "keyword")
UNIT_KINDS = ("unit", "neighbour")


@dataclass(frozen=True, slots=True, eq=False)
class Sense:
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


@dataclass(slots=True)
class Hit:
    """One mention of a sense in a text, and how the matcher judged it."""

    start: int
    end: int
    sense: Sense
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


def formed(ward: AdminUnit | None) -> tuple[str, ...]:
    """The old communes a new ward was formed from (none for no ward)."""
    return ward.formed_from if ward is not None else ()


def build_senses(
    gazetteer: Gazetteer,
    aliases: Iterable[str],
    landmarks: Iterable[str],
    keywords: Iterable[str],
    *,
    own: set[str],
    parent: str | None,
    neighbours: Neighbours,
    mapping_path: Path | None,
) -> dict[str, tuple[Sense, ...]]:
    """Every name the matcher knows (folded) and its senses, in the order ties are broken."""
    senses: dict[str, list[Sense]] = defaultdict(list)
    for sense in _unit_senses(gazetteer, own, mapping_path):
        senses[_key(sense.name)].append(sense)
    for kind, terms in (("alias", aliases), ("landmark", landmarks), ("keyword", keywords)):
        for term in terms:
            if term.strip():
                senses[_key(term)].append(_sense(kind, term.strip()))
    inside = set(neighbours.provinces)
    for name in known_provinces(mapping_path):
        if name in own:
            continue
        kind = "parent" if name == parent else "other"
        for form in (name, *province_spellings(name)):
            senses[_key(form)].append(_sense(kind, form, inside=name in inside, origin=name))
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
    return {k: tuple(v) for k, v in senses.items()}


def _unit_senses(gazetteer: Gazetteer, own: set[str], mapping_path: Path | None) -> list[Sense]:
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
        districts += [old.split(", ")[1] for old in formed(ward)]
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


def _sense(kind: str, name: str, **fields: Any) -> Sense:
    return Sense(kind, name, accent_key(name), len(name.split()), **fields)


def _key(text: str) -> str:
    return " ".join(fold(unicodedata.normalize("NFC", text)).split())


def _units(sense: Sense) -> tuple[AdminUnit, ...]:
    return tuple(u for u in (sense.district, sense.ward, *sense.old_wards) if u is not None)


def compile_names(senses: Mapping[str, tuple[Sense, ...]]) -> re.Pattern[str]:
    """One pattern for every name: a prefixed single syllable, or a (prefixed) longer name."""
    single = {
        k for k, v in senses.items() if all(s.syllables == 1 and s.kind in UNIT_KINDS for s in v)
    }
    multi = [k for k in senses if k not in single]
    return re.compile(
        rf"(?<![^\W\d_])(?:(?P<p1>{PREFIX_RE})(?P<one>{_trie(single)})"
        rf"|(?P<p2>{PREFIX_RE})?(?P<name>{_trie(multi)}))(?![^\W\d_])"
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
