"""The words of case notifications, in Vietnamese (or English with ``notify.language: en``)."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from monitor.storage.notifystore import CaseBrief

_WORDS: dict[str, dict[str, str]] = {
    "vi": {
        "critical": "KHẨN",
        "alert": "Cảnh báo",
        "watch": "Theo dõi",
        "case": "Sự vụ",
        "severity": "Mức độ",
        "reasons": "Lý do",
        "reach": "Lan truyền",
        "reach_value": "{items} bài trên {outlets} nguồn",
        "due": "Hạn xử lý",
        "tier": "Cấp báo",
        "ack": "Xác nhận đã nhận",
        "ack_hint": "Hoặc trả lời tin này bằng /ack {id} trên Telegram.",
        "acked": "Đã ghi nhận: sự vụ #{id} đã được nhận.",
        "already": "Sự vụ #{id} đã được nhận trước đó.",
        "unknown": "Không có sự vụ #{id}.",
    },
    "en": {
        "critical": "URGENT",
        "alert": "Alert",
        "watch": "Watch",
        "case": "Case",
        "severity": "Severity",
        "reasons": "Reasons",
        "reach": "Reach",
        "reach_value": "{items} items from {outlets} outlets",
        "due": "Due",
        "tier": "Tier",
        "ack": "Acknowledge",
        "ack_hint": "Or reply to this message with /ack {id} on Telegram.",
        "acked": "Recorded: case #{id} is acknowledged.",
        "already": "Case #{id} was already acknowledged.",
        "unknown": "There is no case #{id}.",
    },
}


def words(language: str) -> dict[str, str]:
    """The phrases of one language (Vietnamese unless English is asked for)."""
    return _WORDS.get(language, _WORDS["vi"])


def subject(brief: CaseBrief, language: str) -> str:
    """E.g. "[KHẨN] Sự vụ #12: <title>"."""
    w = words(language)
    return f"[{w.get(brief.severity, brief.severity)}] {w['case']} #{brief.id}: {brief.title}"


def _lines(
    brief: CaseBrief, tier: int, link: str | None, tz: ZoneInfo, w: dict[str, str]
) -> list[tuple[str, str]]:
    rows = [(w["severity"], w.get(brief.severity, brief.severity)), (w["tier"], str(tier))]
    if brief.reasons:
        rows.append((w["reasons"], "; ".join(brief.reasons)))
    if brief.item_count is not None:
        reach = w["reach_value"].format(items=brief.item_count, outlets=brief.outlet_count or 0)
        rows.append((w["reach"], reach))
    if brief.due_at is not None:
        rows.append((w["due"], local_time(brief.due_at, tz)))
    if link:
        rows.append((w["ack"], link))
    return rows


def render(
    brief: CaseBrief, tier: int, link: str | None, tz: ZoneInfo, language: str
) -> dict[str, Any]:
    """A case notification as stored in the notification's payload (a channels Message's fields)."""
    w = words(language)
    rows = _lines(brief, tier, link, tz, w)
    title = subject(brief, language)
    text = "\n".join(
        [title, "", *(f"{k}: {v}" for k, v in rows), "", w["ack_hint"].format(id=brief.id)]
    )
    items = "".join(
        f"<tr><th align='left'>{html.escape(k)}</th><td>{_cell(k, v, w)}</td></tr>" for k, v in rows
    )
    body = f"<h2>{html.escape(title)}</h2><table>{items}</table>"
    return {"subject": title, "text": text, "html": body, "link": link}


def _cell(key: str, value: str, w: dict[str, str]) -> str:
    if key == w["ack"]:
        return f"<a href='{html.escape(value, quote=True)}'>{html.escape(value)}</a>"
    return html.escape(value)


def reply(kind: str, case_id: int, language: str) -> dict[str, Any]:
    """A short answer to an acknowledgement ("acked", "already" or "unknown")."""
    text = words(language)[kind].format(id=case_id)
    return {"subject": text, "text": text, "html": None, "link": None}


def local_time(at: datetime, tz: ZoneInfo) -> str:
    """A time as staff read it."""
    return at.astimezone(tz).strftime("%H:%M %d/%m/%Y")
