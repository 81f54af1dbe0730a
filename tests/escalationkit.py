"""Shared by the escalation and acknowledgement tests: on-call settings, cases opened at a fake
time, recording channels, and a clock that only moves when the test says."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from monitor.bootstrap import App, build_app
from monitor.channels.base import ChannelError, Message
from monitor.config import Settings
from monitor.storage import db
from monitor.storage.models import Case, CaseEvent, Story
from tests.conftest import make_settings

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
KEY = "k" * 32
ENV = {"MONITOR_SECRET_KEY": KEY}

PEOPLE = [
    {
        "id": "truc-ban",
        "name": "Cán bộ trực ban",
        "email": "trucban@example.vn",
        "telegram_chat_id": "1001",
        "zalo_user_id": "z-trucban",
        "webhook": True,
    },
    {"id": "truc-dem", "name": "Trực đêm", "email": "trucdem@example.vn"},
    {
        "id": "pho-phong",
        "name": "Phó trưởng phòng",
        "email": "phophong@example.vn",
        "telegram_chat_id": "1002",
        "zalo_user_id": "z-phophong",
        "webhook": True,
    },
    {"id": "truong-phong", "name": "Trưởng phòng", "email": "truongphong@example.vn"},
]
ONCALL: dict[str, Any] = {
    "people": PEOPLE,
    "rota": [
        {"days": "weekdays", "start": "07:30", "end": "17:00", "person": "truc-ban"},
        {"days": "all", "start": "17:00", "end": "07:30", "person": "truc-dem"},
        {"days": ["sat", "sun"], "start": "07:30", "end": "17:00", "person": "truc-dem"},
    ],
    "tiers": {2: ["pho-phong"], 3: ["truong-phong"]},
}


def local(text: str) -> datetime:
    """A local time written "2025-07-01 10:00" as an aware datetime."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=TZ)


def settings(db_url: str, notify: dict[str, Any] | None = None, **oncall: Any) -> Settings:
    """Settings with notifications on (every channel configured) and the test rota."""
    channels = {
        "email": {"host": "127.0.0.1", "port": 2525, "starttls": False},
        "telegram": {"api_url": "http://127.0.0.1:9"},
        "zalo": {"api_url": "http://127.0.0.1:9/zalo"},
        "webhook": {"url": "http://127.0.0.1:9/hook"},
    }
    cfg: dict[str, Any] = {"enabled": True, "channels": channels, **(notify or {})}
    return make_settings(db_url, notify=cfg, oncall={**ONCALL, **oncall})


def build(cfg: Settings, engine: db.Engine, channels: dict[str, Any]) -> App:
    """An application on the test database with these channels (a 'restart' is another one)."""
    app = build_app(cfg, engine=engine)
    app.channels = channels
    return app


def open_case(app: App, severity: str, at: datetime, title: str = "Sạt lở đê sông Hồng") -> int:
    """A story case opened at ``at`` with its "notify" event, as the pipeline leaves it."""
    with db.transaction(app.sessions) as session:
        story = Story(title=title, item_count=5, outlet_count=3, first_seen_at=at, last_seen_at=at)
        session.add(story)
        session.flush()
        case = Case(
            kind="story", story_id=story.id, title=title, severity=severity,
            notified_severity=severity, opened_at=at, updated_at=at,
        )  # fmt: skip
        session.add(case)
        session.flush()
        reasons = {"severity": severity, "reasons": ["từ khoá: sạt lở", "nhiều nguồn đưa tin"]}
        session.add(
            CaseEvent(case_id=case.id, at=at, actor="system", action="opened", detail=reasons)
        )
        notify(session, case.id, severity, at)
        return case.id


def notify(session: db.Session, case_id: int, severity: str, at: datetime) -> None:
    """A "notify" event, as a severity rise adds one."""
    case = session.get(Case, case_id)
    assert case is not None
    case.severity = case.notified_severity = severity
    session.add(
        CaseEvent(
            case_id=case_id, at=at, actor="system", action="notify", detail={"severity": severity}
        )
    )


@dataclass
class FakeChannel:
    """Records sends; ``failures`` are raised first, one per send."""

    name: str
    sent: list[tuple[str, Message]] = field(default_factory=list)
    failures: list[ChannelError] = field(default_factory=list)
    attempts: int = 0
    updates: list[dict[str, Any]] = field(default_factory=list)
    offsets: list[int | None] = field(default_factory=list)

    def send(self, recipient: str, message: Message) -> None:
        """Fail with the next queued failure, else record."""
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((recipient, message))

    def get_updates(self, offset: int | None = None) -> list[dict[str, Any]]:
        """The queued updates from ``offset`` on."""
        self.offsets.append(offset)
        return [u for u in self.updates if offset is None or u["update_id"] >= offset]


def fakes() -> dict[str, FakeChannel]:
    """A recording channel per name."""
    return {n: FakeChannel(n) for n in ("email", "telegram", "zalo", "webhook")}


def sent_to(channels: dict[str, FakeChannel]) -> list[tuple[str, str]]:
    """(channel, recipient) of every message sent so far, sorted."""
    return sorted((name, to) for name, c in channels.items() for to, _ in c.sent)
