"""What a ``PlaceMatcher`` says about the places it found, in Vietnamese, for a reader.

Each place gets its official name, what it was before the 2025 reorganisation and what it is now.
The reasons list what was found (in the title, how often, written without diacritics, counted only
because of its address or a nearby place); for a text judged not relevant, also what was set aside
and why: a person's name, an address in another province, a name other provinces use too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Set

from nlp.gazetteer import Gazetteer, short_name
from nlp.placenames import CONFIG_KINDS, Hit, formed


class PlaceReasons:
    """Describes the places of one province that a text names, and explains the verdict."""

    def __init__(self, gazetteer: Gazetteer, neighbour_provinces: Set[str]) -> None:
        self.gazetteer = gazetteer
        self._neighbour_provinces = neighbour_provinces
        news: dict[str, list[str]] = defaultdict(list)
        for unit in gazetteer.units:
            if unit.parent and unit.new_unit and unit.new_unit not in news[unit.parent]:
                news[unit.parent].append(unit.new_unit)
        self._district_news = {district: ", ".join(wards) for district, wards in news.items()}

    def describe(self, hit: Hit) -> tuple[str, str | None, str | None]:
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
                "; ".join(formed(sense.ward)) or None,
                sense.ward.full_name,
            )
        if hit.level == "ward" and sense.old_wards:
            old = hit.old_ward or sense.old_wards[0]
            return old.full_name, f"{old.full_name}, {old.parent}", old.new_unit
        return sense.name, None, None

    def reasons(
        self, hits: list[Hit], counted: list[Hit], relevant: bool, score: float
    ) -> list[str]:
        """What was found; for an item judged not relevant, also what was set aside and why."""
        groups: dict[str, list[Hit]] = {}
        for hit in counted:
            if hit.status != "listed":
                groups.setdefault(self.describe(hit)[0], []).append(hit)
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

    def _found(self, group: list[Hit]) -> str:
        hit = group[0]
        name, old, new = self.describe(hit)
        text = f"nhắc tới {_lower_first(name) if hit.level not in CONFIG_KINDS else f'“{name}”'}"
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

    def _history(self, hit: Hit, old: str | None, new: str | None) -> str:
        g = self.gazetteer
        where = _lower_first(g.new_full_name) if g.new_full_name else None
        if hit.level in CONFIG_KINDS or where is None:
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
            districts = sorted({_lower_first(o.split(", ")[1]) for o in formed(hit.sense.ward)})
            before = (
                f" (trước thuộc {' và '.join(districts)}, {self._label()})" if districts else ""
            )
            return f", {where}{before}"
        if hit.level == "ward" and new:
            district = _lower_first((old or "").split(", ")[-1])
            return f" ({district} cũ; nay thuộc {_lower_first(new)}, {where})"
        return ""

    def _skipped(self, hit: Hit) -> str:
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

    def _context_only(self, hits: list[Hit]) -> list[str]:
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


def _lower_first(text: str) -> str:
    """ "Huyện Hải Hậu" -> "huyện Hải Hậu"; a name without a unit type stays as it is."""
    return text[:1].lower() + text[1:] if short_name(text) != text else text


def _why(why: str) -> str:
    kind, _, name = why.partition(":")
    if kind == "address":
        return f"tính vì địa chỉ ghi rõ {name}"
    if kind == "district":
        return f"tính vì bài nhắc cả {name}"
    return f"tính vì bài nhắc {name} ở gần"
