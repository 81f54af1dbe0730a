"""The escalation engine with a fake clock: a critical case walked through tier 1, tier 2 and an
acknowledgement against real local SMTP/Telegram/Zalo/webhook servers, restarting between steps;
alerts waiting for working hours, quiet hours, retries, giving up, and Telegram /ack."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from monitor import acktelegram, jobs, notifier
from monitor.ackweb import start_server
from monitor.channels import build_channels
from monitor.channels.base import PermanentChannelError, TransientChannelError
from monitor.config import Settings
from monitor.scheduler import build_scheduler, schedule_notifications
from monitor.storage import db
from monitor.storage.models import Case, CaseEvent, Escalation, Notification
from tests.channelservers import ApiServer, Reply, SmtpServer
from tests.conftest import Database
from tests.escalationkit import KEY, build, fakes, local, notify, open_case, sent_to, settings

TOKEN = "123456:telegram-token"
SECRETS = {"MONITOR_SMTP_PASSWORD": "s3cret-pass", "TELEGRAM_BOT_TOKEN": TOKEN,
           "ZALO_OA_ACCESS_TOKEN": "zalo-token", "MONITOR_WEBHOOK_SECRET": "hook-secret"}  # fmt: skip


@pytest.fixture(autouse=True)
def _signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_SECRET_KEY", KEY)


class Servers:
    """The four local servers and the settings pointing at them."""

    def __init__(self, smtp: SmtpServer, tg: ApiServer, zalo: ApiServer, hook: ApiServer):
        self.smtp, self.tg, self.zalo, self.hook = smtp, tg, zalo, hook

    def settings(self, db_url: str) -> Settings:
        channels = {
            "email": {"host": "127.0.0.1", "port": self.smtp.port, "username": "canbo"},
            "telegram": {"api_url": self.tg.url()},
            "zalo": {"api_url": self.zalo.url("/v3.0/oa/message/cs")},
            "webhook": {"url": self.hook.url("/hook")},
        }
        return settings(db_url, {"channels": channels})

    def received(self) -> list[tuple[str, str]]:
        """(channel, recipient) of everything that reached a server, sorted."""
        mails = [("email", to) for m in self.smtp.mails for to in m.rcpt_tos]
        tg = [("telegram", str(r.json()["chat_id"])) for r in self.tg.requests]
        zalo = [("zalo", r.json()["recipient"]["user_id"]) for r in self.zalo.requests]
        hook = [("webhook", r.json()["recipient"]) for r in self.hook.requests]
        return sorted(mails + tg + zalo + hook)


@pytest.fixture
def servers() -> Iterator[Servers]:
    zalo_ok = Reply(200, {"error": 0, "message": "Success"})
    with (
        SmtpServer() as smtp,
        ApiServer() as tg,
        ApiServer(zalo_ok) as zalo,
        ApiServer(secret="hook-secret") as hook,
    ):
        yield Servers(smtp, tg, zalo, hook)


def _restart_and_run(
    cfg: Settings,
    database: Database,
    servers: Servers,
    at: datetime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new application and scheduler on the same database; run its escalation job once at ``at``."""
    channels = build_channels(cfg.notify, SECRETS.get, ssl_context=servers.smtp.client_context)
    app = build(cfg, database.engine, dict(channels))
    scheduler = build_scheduler(app)
    schedule_notifications(app, scheduler)
    monkeypatch.setattr(jobs, "utcnow", lambda: at)
    jobs.bind(app)
    try:
        scheduler.get_job("escalate").func()
    finally:
        jobs.bind(None)


TIER1 = [
    ("email", "trucban@example.vn"),
    ("telegram", "1001"),
    ("webhook", "truc-ban"),
    ("zalo", "z-trucban"),
]
TIER2 = [
    ("email", "phophong@example.vn"),
    ("telegram", "1002"),
    ("webhook", "pho-phong"),
    ("zalo", "z-phophong"),
]


def test_critical_walk_tier1_tier2_ack_with_restarts(
    database: Database, servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = servers.settings(database.url)
    case_id = open_case(build(cfg, database.engine, {}), "critical", local("2025-07-01 10:00"))

    def run(at: str) -> None:
        _restart_and_run(cfg, database, servers, local(at), monkeypatch)

    run("2025-07-01 10:00")
    run("2025-07-01 10:00")  # a second process, or a restart in the same minute: nothing twice
    assert servers.received() == TIER1
    mail = servers.smtp.mails[0].message()
    assert mail["Subject"] == f"[KHẨN] Sự vụ #{case_id}: Sạt lở đê sông Hồng"
    body = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "5 bài trên 3 nguồn" in body and "từ khoá: sạt lở" in body and "/ack?t=" in body
    assert all(r.signature_ok for r in servers.hook.requests)

    run("2025-07-01 10:10")
    assert servers.received() == TIER1
    run("2025-07-01 10:16")
    assert servers.received() == sorted(TIER1 + TIER2)

    link = servers.hook.requests[-1].json()["link"]
    app = build(cfg, database.engine, {})
    web, _ = start_server(app, "127.0.0.1", 0, clock=lambda: local("2025-07-01 10:20"))
    try:
        url = link.replace("http://127.0.0.1:8080", f"http://127.0.0.1:{web.server_port}")
        with httpx.Client() as client:
            assert "<form" in client.get(url).text
            token = httpx.URL(url).params["t"]
            answer = client.post(url.split("?")[0], data={"t": token})
        assert answer.status_code == 200 and "Đã nhận" in answer.text
    finally:
        web.shutdown()
        web.server_close()

    run("2025-07-01 10:31")
    run("2025-07-01 11:00")
    assert servers.received() == sorted(TIER1 + TIER2)
    with app.sessions() as session:
        assert session.get(Case, case_id).status == "acknowledged"  # type: ignore[union-attr]
        assert session.get(Escalation, case_id).state == "done"  # type: ignore[union-attr]
        acks = session.scalars(select(CaseEvent).where(CaseEvent.action == "acknowledged")).all()
        assert [(e.actor, e.detail["channel"]) for e in acks] == [("ack-link", "email-link")]
        keys = session.scalars(select(Notification.key).order_by(Notification.key)).all()
    assert len(keys) == 8 and all(k.startswith(f"case:{case_id}:sev:critical:tier:") for k in keys)


def _app(
    database: Database, notify: dict[str, Any] | None = None, **oncall: Any
) -> tuple[Any, dict[str, Any]]:
    channels = fakes()
    return build(
        settings(database.url, notify, **oncall), database.engine, dict(channels)
    ), channels


def _walk(app: Any, times: list[str]) -> None:
    for at in times:
        notifier.run(app, local(at))


def test_alert_in_the_evening_waits_for_the_next_working_morning(database: Database) -> None:
    app, channels = _app(database)
    case_id = open_case(app, "alert", local("2025-07-04 20:00"))  # a Friday
    _walk(app, ["2025-07-04 20:00", "2025-07-04 23:30", "2025-07-05 10:00", "2025-07-07 07:29"])
    assert sent_to(channels) == []
    _walk(app, ["2025-07-07 07:30", "2025-07-07 09:00"])
    assert sent_to(channels) == TIER1
    subject = channels["email"].sent[0][1].subject
    assert subject == f"[Cảnh báo] Sự vụ #{case_id}: Sạt lở đê sông Hồng"


def test_quiet_hours_hold_alerts_but_not_critical(database: Database) -> None:
    policy = {"alert": {"steps": [{"tier": 1}], "working_hours_only": False}}
    app, channels = _app(database, policy=policy)
    open_case(app, "alert", local("2025-07-01 23:00"))
    _walk(app, ["2025-07-01 23:00", "2025-07-02 05:59"])
    assert sent_to(channels) == []
    _walk(app, ["2025-07-02 06:00"])
    assert sent_to(channels) == [("email", "trucdem@example.vn")]
    open_case(app, "critical", local("2025-07-02 23:00"), "Cháy chợ")
    _walk(app, ["2025-07-02 23:00"])
    assert sent_to(channels) == [("email", "trucdem@example.vn")] * 2


def test_severity_rise_restarts_from_the_new_policy(database: Database) -> None:
    app, channels = _app(database)
    case_id = open_case(app, "alert", local("2025-07-01 10:00"))
    _walk(app, ["2025-07-01 10:00"])
    with db.transaction(app.sessions) as session:
        notify(session, case_id, "critical", local("2025-07-01 10:05"))
    _walk(app, ["2025-07-01 10:05", "2025-07-01 10:06", "2025-07-01 10:19"])
    assert sent_to(channels) == sorted(TIER1 * 2)
    _walk(app, ["2025-07-01 10:20"])
    assert sent_to(channels) == sorted(TIER1 * 2 + TIER2)
    assert "[KHẨN]" in channels["zalo"].sent[-1][1].subject


def test_watch_cases_are_digest_only(database: Database) -> None:
    app, channels = _app(database)
    open_case(app, "watch", local("2025-07-01 10:00"))
    _walk(app, ["2025-07-01 10:00", "2025-07-01 12:00"])
    assert sent_to(channels) == []


def _events(app: Any, action: str) -> list[dict[str, Any]]:
    with app.sessions() as session:
        rows = session.scalars(select(CaseEvent).where(CaseEvent.action == action))
        return [e.detail for e in rows]


def test_transient_failure_is_retried_with_backoff_and_recorded(database: Database) -> None:
    app, channels = _app(database)
    channels["email"].failures.append(TransientChannelError("smtp: server down"))
    channels["telegram"].failures.append(TransientChannelError("telegram: 429", retry_after=300))
    open_case(app, "critical", local("2025-07-01 10:00"))
    _walk(app, ["2025-07-01 10:00", "2025-07-01 10:00"])
    assert sent_to(channels) == [("webhook", "truc-ban"), ("zalo", "z-trucban")]
    errors = _events(app, "notify_error")
    assert sorted(e["channel"] for e in errors) == ["email", "telegram"]
    retry = {e["channel"]: e["retry_at"] for e in errors}
    assert retry == {
        "email": local("2025-07-01 10:01").isoformat(),
        "telegram": local("2025-07-01 10:05").isoformat(),
    }
    _walk(app, ["2025-07-01 10:01"])
    assert ("email", "trucban@example.vn") in sent_to(channels)
    assert ("telegram", "1001") not in sent_to(channels)  # the server asked for 300 s
    _walk(app, ["2025-07-01 10:05"])
    assert sent_to(channels) == TIER1
    assert [h.consecutive_failures for h in notifier.channel_health(app.sessions)] == [0] * 4


def test_gives_up_after_max_attempts_and_reports_the_channel(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    app, channels = _app(database, {"max_attempts": 3, "retry_backoff": 60})
    channels["email"].failures.extend(TransientChannelError("smtp: down") for _ in range(5))
    channels["zalo"].failures.append(PermanentChannelError("zalo: user is not a follower"))
    open_case(app, "critical", local("2025-07-01 10:00"))
    start = local("2025-07-01 10:00")
    with caplog.at_level(logging.WARNING, logger="monitor.notifier"):
        for minutes in (0, 1, 2, 3, 10):
            notifier.run(app, start + timedelta(minutes=minutes))
    assert channels["email"].attempts == 3  # at 10:00, 10:01 and 10:03 (60 s, then 120 s)
    failed = _events(app, "notify_failed")
    assert sorted((e["channel"], e["attempt"]) for e in failed) == [("email", 3), ("zalo", 1)]
    health = {h.channel: h for h in notifier.channel_health(app.sessions)}
    assert health["email"].consecutive_failures == 3 and health["email"].failed == 1
    assert notifier.failing_channels(app.sessions) == ["email"]
    assert "channel email: the last 3 sends failed" in caplog.text
    with app.sessions() as session:
        statuses = session.execute(select(Notification.channel, Notification.status)).all()
    assert ("email", "failed") in statuses and ("zalo", "failed") in statuses


def _update(update_id: int, chat: int, text: str, replied: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"chat": {"id": chat}, "from": {"id": chat}, "text": text}
    if replied is not None:
        message["reply_to_message"] = {"text": replied}
    return {"update_id": update_id, "message": message}


def test_telegram_ack_from_a_known_chat_only(database: Database) -> None:
    app, channels = _app(database)
    case_id = open_case(app, "critical", local("2025-07-01 10:00"))
    other = open_case(app, "critical", local("2025-07-01 10:00"), "Ngập úng")
    _walk(app, ["2025-07-01 10:00"])
    tg = channels["telegram"]
    tg.updates.append(_update(7, 999, f"/ack {case_id}"))  # a stranger
    assert acktelegram.poll(app, local("2025-07-01 10:02")).acknowledged == 0
    tg.updates.append(_update(8, 1001, f"/ack {case_id}"))
    tg.updates.append(_update(9, 1001, "đã nhận", replied=f"[KHẨN] Sự vụ #{other}: Ngập úng"))
    tg.updates.append(_update(10, 1001, f"/ack@monitor_bot {case_id}"))  # already acknowledged
    assert acktelegram.poll(app, local("2025-07-01 10:03")).acknowledged == 2
    assert acktelegram.poll(app, local("2025-07-01 10:04")).updates == 0
    assert tg.offsets == [None, 8, 11]
    _walk(app, ["2025-07-01 10:05", "2025-07-01 10:20", "2025-07-01 11:00"])
    replies = [m.text for to, m in tg.sent if to == "1001"][2:]
    assert replies == [
        f"Đã ghi nhận: sự vụ #{case_id} đã được nhận.",
        f"Đã ghi nhận: sự vụ #{other} đã được nhận.",
        f"Sự vụ #{case_id} đã được nhận trước đó.",
    ]
    assert all(to != "1002" for to, _ in tg.sent)  # tier 2 never reached
    with app.sessions() as session:
        acks = session.scalars(select(CaseEvent).where(CaseEvent.action == "acknowledged")).all()
    assert sorted((e.case_id, e.actor, e.detail["channel"]) for e in acks) == [
        (case_id, "truc-ban", "telegram"), (other, "truc-ban", "telegram"),
    ]  # fmt: skip


def test_rota_windows_and_repeats() -> None:
    from monitor import escalation
    from monitor.config_notify import OnCallSettings, SeverityPolicy
    from tests.escalationkit import ONCALL, TZ

    oncall = OnCallSettings.model_validate(
        {**ONCALL, "rota": [*ONCALL["rota"], {"start": "09:00", "end": "09:00", "person": "x"}],
         "people": [*ONCALL["people"], {"id": "x", "name": "X"}]}
    )  # fmt: skip
    # 02:00 on Tuesday belongs to Monday's 17:00-07:30 shift; a shift with start == end is all day.
    assert escalation.on_duty(oncall, local("2025-07-01 02:00"), TZ) == "truc-dem"
    assert escalation.on_duty(oncall, local("2025-07-01 10:00"), TZ) == "truc-ban"
    assert (
        escalation.on_duty(
            oncall.model_copy(update={"rota": oncall.rota[3:]}), local("2025-07-01 08:59"), TZ
        )
        == "x"
    )
    policy = SeverityPolicy.model_validate(
        {"steps": [{"tier": 1}, {"tier": 2, "after": "15m"}], "repeat": "30m"}
    )
    start = local("2025-07-01 10:00")
    last = escalation.Step(1, 0, 2)
    # Back after five hours: one repeat now, not ten, then the regular 30-minute rhythm.
    nxt = escalation.following(policy, last, start, start + timedelta(hours=5))
    assert nxt is not None and start + escalation.due_offset(policy, nxt) > start + timedelta(
        hours=4, minutes=30
    )
    assert escalation.following(policy.model_copy(update={"repeat": 0}), last, start, start) is None
