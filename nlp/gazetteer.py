"""Administrative units of a province, old (before 1 July 2025) and new, from underthesea's data.

underthesea ships the official old -> new mapping (``underthesea/address/data/mapping.json``);
it is read at run time, never copied into this repository, so a new release updates the names.
Besides one province's units this module indexes every unit name in the country (to tell when a
name is shared with other provinces) and the other parts of the province it was merged into.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from nlp.normalize import fold

logger = logging.getLogger(__name__)

_PREFIX = re.compile(r"^(tỉnh|thành phố|huyện|quận|thị xã|thị trấn|xã|phường|đặc khu)\s+", re.I)
_TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"  # grave, acute, tilde, hook above, dot below
_TONE = re.compile(f"[{_TONE_MARKS}]")
_NO_TONE = str.maketrans("", "", _TONE_MARKS)


@dataclass(frozen=True, slots=True)
class AdminUnit:
    """One unit: short name ("Hải Hậu"), full name ("Huyện Hải Hậu"), level and era."""

    name: str
    full_name: str
    level: str  # province | district | ward
    era: str  # old (before 2025-07-01) | new
    parent: str | None = None  # the old district of an old ward
    new_unit: str | None = None  # the new ward an old ward became part of
    formed_from: tuple[str, ...] = ()  # a new ward: its old units, "Xã Hải Minh, Huyện Hải Hậu"
    province: str | None = None  # its old province, when not the gazetteer's own (or not one)


@dataclass(frozen=True, slots=True)
class Gazetteer:
    """The units of one province: the province itself, what it was made of, and what it became."""

    province: str
    full_name: str
    new_province: str | None
    units: tuple[AdminUnit, ...]
    new_full_name: str | None = None  # "Tỉnh Ninh Bình"
    merged_from: tuple[str, ...] = ()  # a new province: the old provinces it was formed from


@dataclass(frozen=True, slots=True)
class NameUse:
    """One unit somewhere in the country carrying a given name."""

    accents: str  # accent_key of the short name
    level: str  # district | ward
    era: str  # old | new
    province: str  # short name of the (old or new) province the unit belongs to


@dataclass(frozen=True, slots=True)
class Sharing:
    """Where else in the country one of a province's unit names is used."""

    # (level district | ward | any, same accents) -> short names of the provinces using it
    provinces: Mapping[tuple[str, bool], tuple[str, ...]]
    neighbours: bool  # also used in another part of the new province it was merged into


@dataclass(frozen=True, slots=True)
class Neighbours:
    """The other old provinces merged into the same new province, and their units' names."""

    provinces: tuple[str, ...]
    units: tuple[AdminUnit, ...]  # their old districts and the new wards formed only from them


def short_name(full_name: str) -> str:
    """Drop the unit-type prefix: "Huyện Hải Hậu" -> "Hải Hậu"."""
    return _PREFIX.sub("", full_name.strip())


def accent_key(text: str) -> str:
    """Lower-case form with each syllable's tone mark moved to its end.

    Tone-mark placement varies ("hoà"/"hòa", "thuỷ"/"thủy"); both give the same key, while a
    different tone ("Định"/"Đinh") or vowel ("Dương"/"Đường") gives a different one.
    """
    keys = []
    for syllable in unicodedata.normalize("NFD", text.lower()).split():
        tone = _TONE.search(syllable)
        if tone is None:
            keys.append(unicodedata.normalize("NFC", syllable))
        else:
            keys.append(unicodedata.normalize("NFC", syllable.translate(_NO_TONE)) + tone.group())
    return " ".join(keys)


def default_mapping_path() -> Path:
    """Where underthesea keeps its address mapping."""
    return Path(str(files("underthesea") / "address" / "data" / "mapping.json"))


def default_wordlist_path() -> Path:
    """underthesea's Vietnamese word list (lower-case entries are everyday words)."""
    return Path(str(files("underthesea") / "corpus" / "data" / "Viet74K.txt"))


@cache
def _load_mapping(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def known_provinces(path: Path | None = None) -> list[str]:
    """Short names of every province, old and new, in the mapping."""
    data = _load_mapping(path or default_mapping_path())
    names = {v["short"] for v in data["old_province_names"].values()}
    names |= {v["short"] for v in data["province_names"].values()}
    return sorted(names)


def _find_key(names: dict[str, dict[str, str]], province: str) -> str | None:
    wanted = fold(short_name(province))
    return next((k for k, v in names.items() if fold(v["short"]) == wanted), None)


def _formed_from(rows: Iterable[dict[str, str]], home: str | None) -> dict[str, tuple[str, ...]]:
    """For each new ward, the old units it was formed from (province named when not ``home``)."""
    found: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        if not short_name(r["old_ward"]):
            continue  # a few rows of the mapping lack the old ward's name
        where = f"{r['old_ward']}, {r['old_district']}"
        if r["old_province"] != home:
            where += f", {r['old_province']}"
        found[r["new_ward"]].append(where)
    return {ward: tuple(dict.fromkeys(olds)) for ward, olds in found.items()}


def _old_units(rows: Iterable[dict[str, str]], tag_province: bool) -> list[AdminUnit]:
    """The old districts and old wards in ``rows``, each once."""
    units: dict[tuple[str, ...], AdminUnit] = {}
    for r in rows:
        province = short_name(r["old_province"]) if tag_province else None
        district = r["old_district"]
        if short_name(district):
            units.setdefault(
                (district, r["old_province"]),
                AdminUnit(short_name(district), district, "district", "old", province=province),
            )
        if short_name(r["old_ward"]):
            units.setdefault(
                (r["old_ward"], district, r["old_province"]),
                AdminUnit(
                    short_name(r["old_ward"]),
                    r["old_ward"],
                    "ward",
                    "old",
                    district,
                    r["new_ward"],
                    province=province,
                ),
            )
    return list(units.values())


def _new_wards(rows: list[dict[str, str]], home: str | None) -> list[AdminUnit]:
    """The new wards in ``rows``; away from ``home``, each tagged with its old province if one."""
    formed = _formed_from(rows, home)
    origins: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        origins[r["new_ward"]].add(short_name(r["old_province"]))
    return [
        AdminUnit(
            short_name(w),
            w,
            "ward",
            "new",
            formed_from=formed.get(w, ()),
            province=next(iter(origins[w])) if home is None and len(origins[w]) == 1 else None,
        )
        for w in origins
    ]


def _old_province(data: dict[str, Any], key: str) -> Gazetteer:
    info = data["old_province_names"][key]
    rows = [r for r in data["ward_mapping"] if r["old_province_key"] == key]
    new_key = data["province_mapping"].get(key)
    new_info = data["province_names"][new_key] if new_key else None
    new_wards = {r["new_ward"] for r in rows}
    siblings = [
        r
        for r in data["ward_mapping"]
        if r["new_province_key"] == new_key and r["new_ward"] in new_wards
    ]
    province = AdminUnit(info["short"], info["name"], "province", "old")
    units = (province, *_old_units(rows, False), *_new_wards(siblings, info["name"]))
    return Gazetteer(
        info["short"],
        info["name"],
        new_info["short"] if new_info else None,
        units,
        new_info["name"] if new_info else None,
    )


def _new_province(data: dict[str, Any], key: str) -> Gazetteer:
    info = data["province_names"][key]
    rows = [r for r in data["ward_mapping"] if r["new_province_key"] == key]
    merged = tuple(
        sorted(
            data["old_province_names"][k]["short"]
            for k, v in data["province_mapping"].items()
            if v == key and k in data["old_province_names"]
        )
    )
    province = AdminUnit(info["short"], info["name"], "province", "new")
    units = (province, *_new_wards(rows, None), *_old_units(rows, True))
    return Gazetteer(info["short"], info["name"], None, units, merged_from=merged)


def load_gazetteer(province: str, path: Path | None = None) -> Gazetteer:
    """Build the gazetteer of a province named as before or after 2025; KeyError if unknown."""
    data = _load_mapping(path or default_mapping_path())
    key = _find_key(data["old_province_names"], province)
    if key is not None and data["province_mapping"].get(key) != key:
        return _old_province(data, key)
    new_key = _find_key(data["province_names"], province)
    if new_key is not None:
        return _new_province(data, new_key)
    if key is not None:
        return _old_province(data, key)
    raise KeyError(f"province {province!r} is not in underthesea's address data")


@cache
def name_index(path: Path | None = None) -> Mapping[str, tuple[NameUse, ...]]:
    """Every district and ward name in the country, by folded short name, with where it is used."""
    data = _load_mapping(path or default_mapping_path())
    seen: set[tuple[str, str, str, str]] = set()  # rows repeat districts; look at each unit once
    for r in data["ward_mapping"]:
        seen.add((r["old_district"], "district", "old", r["old_province"]))
        seen.add((r["old_ward"], "ward", "old", r["old_province"]))
        seen.add((r["new_ward"], "ward", "new", r["new_province"]))
    keys: dict[str, str] = {}
    uses: dict[str, set[NameUse]] = defaultdict(set)
    for full, level, era, province in seen:
        name = short_name(full)
        if name:
            key = keys.get(name) or keys.setdefault(name, accent_key(name))
            uses[fold(name)].add(NameUse(key, level, era, short_name(province)))
    return {name: tuple(found) for name, found in uses.items()}


def load_neighbours(gazetteer: Gazetteer, path: Path | None = None) -> Neighbours:
    """The other old provinces that share the gazetteer's new province, and their unit names.

    Nam Định, Hà Nam and Ninh Bình became the new Ninh Bình: a story naming "Ninh Bình" with a
    place of Hà Nam's or old Ninh Bình's is about another part of the new province.
    """
    if gazetteer.new_province is None:
        return Neighbours((), ())
    data = _load_mapping(path or default_mapping_path())
    new_key = _find_key(data["province_names"], gazetteer.new_province)
    own = _find_key(data["old_province_names"], gazetteer.province)
    keys = [k for k, v in data["province_mapping"].items() if v == new_key and k != own]
    rows = [r for r in data["ward_mapping"] if r["old_province_key"] in keys]
    own_wards = {u.full_name for u in gazetteer.units if u.level == "ward" and u.era == "new"}
    districts = [u for u in _old_units(rows, True) if u.level == "district"]
    wards = [u for u in _new_wards(rows, None) if u.full_name not in own_wards]
    provinces = tuple(sorted(data["old_province_names"][k]["short"] for k in keys))
    return Neighbours(provinces, (*districts, *wards))


def name_sharing(gazetteer: Gazetteer, path: Path | None = None) -> dict[str, Sharing]:
    """For each unit name of the gazetteer (by accent_key), where else the country uses it."""
    own = {gazetteer.province, *gazetteer.merged_from}
    new_name = gazetteer.new_province or gazetteer.province
    nearby = {*load_neighbours(gazetteer, path).provinces, new_name}
    names = {
        accent_key(u.name): u.name for u in gazetteer.units if u.name and u.level != "province"
    }
    new_wards = {
        accent_key(u.name) for u in gazetteer.units if u.era == "new" and u.level == "ward"
    }
    index = name_index(path)
    sharing = {}
    for key, name in names.items():
        found: dict[tuple[str, bool], set[str]] = defaultdict(set)
        near = False
        for use in index.get(fold(name), ()):
            if (use.era == "old" and use.province in own) or (
                use.era == "new" and use.province == new_name and use.accents in new_wards
            ):
                continue  # the province's own unit, before or after 2025
            near = near or use.province in nearby
            for level in (use.level, "any"):
                found[(level, False)].add(use.province)
                if use.accents == key:
                    found[(level, True)].add(use.province)
        sharing[key] = Sharing({k: tuple(sorted(v)) for k, v in found.items()}, near)
    return sharing


def province_spellings(name: str) -> tuple[str, ...]:
    """Other ways the press writes a province's name ("TP.HCM", "Sài Gòn"), not in the mapping."""
    return _SPELLINGS.get(name, ())


_SPELLINGS = {
    "Hồ Chí Minh": ("TP.HCM", "TPHCM", "HCM", "Sài Gòn"),
    "Bà Rịa - Vũng Tàu": ("Bà Rịa-Vũng Tàu", "Vũng Tàu"),
    "Huế": ("Thừa Thiên Huế", "Thừa Thiên - Huế"),
    "Đắk Lắk": ("Đắc Lắc",),
    "Đắk Nông": ("Đắc Nông",),
}


def everyday_words(names: Iterable[str], path: Path | None = None) -> frozenset[str]:
    """Those of ``names`` that are also everyday words ("Liên Minh", "Rạng Đông"), by accent_key.

    Lower-case entries of underthesea's word list are common words; capitalised entries are
    proper names and do not count.
    """
    wanted: dict[str, set[str]] = defaultdict(set)
    for name in names:
        wanted[fold(name)].add(accent_key(name))
    path = path or default_wordlist_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        logger.warning("word list %s not readable; no place name is treated as a common word", path)
        return frozenset()
    found = set()
    # One translate over the whole list is far quicker than folding 70,000 words one by one.
    for word, folded in zip(text.splitlines(), fold(text).splitlines(), strict=True):
        if folded in wanted and word == word.lower() and accent_key(word) in wanted[folded]:
            found.add(accent_key(word))
    return frozenset(found)
