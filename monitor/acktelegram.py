"""Acknowledging from Telegram: "/ack 12", or a reply to a notification, from a known chat.

The bot's updates are polled (``getUpdates`` with the offset kept in the database) by a
scheduled job. A message whose chat (or sender) id is a person's ``telegram_chat_id``
acknowledges the case with channel "telegram" and that person as the actor; the answer is
queued as a notification (key "telegram:update:<id>:reply"), so it goes out once. Messages from
unknown chats are logged and ignored. The offset is stored with the acknowledgements in one
transaction: a crash before the commit reads the same updates again, and acknowledging twice
is refused by the workflow, so nothing is acknowledged twice.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor import cases, escalation, notices
from monitor.bootstrap import App
from monitor.channels.base import ChannelError
from monitor.storage import db, notifystore

logger = logging.getLogger(__name__)
OFFSET_KEY = "telegram:offset"
_COMMAND = re.compile(r"^/(?:ack|nhan)(?:@\w+)?\s+#?(\d+)\b", re.I)
_BARE = re.compile(r"^/(?:ack|nhan)(?:@\w+)?\s*$", re.I)
# The case a notification is about, as its first line says ("[KHẨN] Sự vụ #12: ...").
_SUBJECT = re.compile(r"(?:Sự vụ|Case) #(\d+)")


@dataclass
class PollReport:
    """What one poll did."""

    updates: int = 0
    acknowledged: int = 0
    ignored: int = 0


def case_of(message: dict[str, Any]) -> int | None:
    """The case a message acknowledges: "/ack 12", or "/ack" (or any text) replying to a notice."""
    text = str(message.get("text") or "").strip()
    command = _COMMAND.match(text)
    if command:
        return int(command.group(1))
    replied = message.get("reply_to_message")
    if isinstance(replied, dict) and (_BARE.match(text) or not text.startswith("/")):
        found = _SUBJECT.search(str(replied.get("text") or ""))
        return int(found.group(1)) if found else None
    return None


def _ids(message: dict[str, Any]) -> set[str]:
    ids = set()
    for part in ("chat", "from"):
        value = message.get(part)
        if isinstance(value, dict) and value.get("id") is not None:
            ids.add(str(value["id"]))
    return ids


def _acknowledge(app: App, session: db.Session, update: dict[str, Any], now: datetime) -> bool:
    message = update.get("message")
    if not isinstance(message, dict):
        return False
    case_id = case_of(message)
    person = escalation.person_by_chat(app.settings.oncall, _ids(message))
    if case_id is None or person is None or not person.telegram_chat_id:
        if case_id is not None:
            logger.warning(
                "telegram: /ack %d from an unknown chat %s ignored", case_id, _ids(message)
            )
        return False
    try:
        with session.begin_nested():
            cases.transition(session, case_id, "ack", actor=person.id, channel="telegram", now=now)
        kind = "acked"
    except cases.IllegalTransition:
        kind = "already"
    except KeyError:
        kind = "unknown"
    notifystore.add_notification(
        session,
        f"telegram:update:{update.get('update_id')}:reply",
        case_id=case_id if kind != "unknown" else None,
        channel="telegram",
        person_id=person.id,
        recipient=person.telegram_chat_id,
        tier=None,
        payload=notices.reply(kind, case_id, app.settings.notify.language),
        next_attempt_at=now,
        created_at=now,
    )
    return kind == "acked"


def poll(app: App, now: datetime) -> PollReport:
    """Read the bot's new messages and acknowledge the cases they name."""
    report = PollReport()
    channel = app.channels.get("telegram")
    if channel is None or not app.settings.notify.enabled:
        return report
    with app.sessions() as session:
        offset = notifystore.get_state(session, OFFSET_KEY).get("offset")
    # Read outside a transaction: the database is not held while Telegram answers.
    try:
        updates = channel.get_updates(offset)
    except ChannelError as exc:
        logger.warning("telegram: cannot read updates: %s", exc)
        return report
    with db.transaction(app.sessions) as session:
        # Another process may have handled some of these since: skip below the stored offset.
        done = int(notifystore.get_state(session, OFFSET_KEY, lock=True).get("offset") or 0)
        fresh = [
            u for u in updates if isinstance(u.get("update_id"), int) and u["update_id"] >= done
        ]
        for update in fresh:
            report.updates += 1
            if _acknowledge(app, session, update, now):
                report.acknowledged += 1
            else:
                report.ignored += 1
        if fresh:
            notifystore.put_state(
                session, OFFSET_KEY, {"offset": max(u["update_id"] for u in fresh) + 1}
            )
    return report
