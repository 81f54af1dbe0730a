"""Administrative units of a province, old (before 1 July 2025) and new, from underthesea's data.

underthesea ships the official old -> new mapping (``underthesea/address/data/mapping.json``);
it is read at run time, never copied into this repository, so a new release updates the names.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from nlp.normalize import fold

_PREFIX = re.compile(r"^(tỉnh|thành phố|huyện|quận|thị xã|thị trấn|xã|phường|đặc khu)\s+", re.I)


@dataclass(frozen=True, slots=True)
class AdminUnit:
    """One unit: short name ("Hải Hậu"), full name ("Huyện Hải Hậu"), level and era."""

    name: str
    full_name: str
    level: str  # province | district | ward
    era: str  # old (before 2025-07-01) | new
    parent: str | None = None  # the old district of an old ward
    new_unit: str | None = None  # the new ward an old ward became part of


@dataclass(frozen=True, slots=True)
class Gazetteer:
    """The units of one province: the province itself, what it was made of, and what it became."""

    province: str
    full_name: str
    new_province: str | None
    units: tuple[AdminUnit, ...]


def short_name(full_name: str) -> str:
    """Drop the unit-type prefix: "Huyện Hải Hậu" -> "Hải Hậu"."""
    return _PREFIX.sub("", full_name.strip())


def default_mapping_path() -> Path:
    """Where underthesea keeps its address mapping."""
    return Path(str(files("underthesea") / "address" / "data" / "mapping.json"))


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


def _old_province(data: dict[str, Any], key: str) -> Gazetteer:
    info = data["old_province_names"][key]
    rows = [r for r in data["ward_mapping"] if r["old_province_key"] == key]
    new_key = data["province_mapping"].get(key)
    new_name = data["province_names"][new_key]["short"] if new_key else None
    units: dict[tuple[str, str, str], AdminUnit] = {}
    for r in rows:
        district = r["old_district"]
        units.setdefault(
            (district, "district", "old"),
            AdminUnit(short_name(district), district, "district", "old"),
        )
        units.setdefault(
            (r["old_ward"] + "|" + district, "ward", "old"),
            AdminUnit(
                short_name(r["old_ward"]), r["old_ward"], "ward", "old", district, r["new_ward"]
            ),
        )
        units.setdefault(
            (r["new_ward"], "ward", "new"),
            AdminUnit(short_name(r["new_ward"]), r["new_ward"], "ward", "new"),
        )
    province = AdminUnit(info["short"], info["name"], "province", "old")
    return Gazetteer(info["short"], info["name"], new_name, (province, *units.values()))


def _new_province(data: dict[str, Any], key: str) -> Gazetteer:
    info = data["province_names"][key]
    wards = {r["new_ward"] for r in data["ward_mapping"] if r["new_province_key"] == key}
    units = [AdminUnit(short_name(w), w, "ward", "new") for w in sorted(wards)]
    province = AdminUnit(info["short"], info["name"], "province", "new")
    return Gazetteer(info["short"], info["name"], None, (province, *units))


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
