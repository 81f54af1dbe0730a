"""Signed acknowledgement links: one acknowledgement per case, forged and expired tokens refused,
and a GET (a mail scanner following the link) acknowledging nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from monitor import acklinks
from monitor.ackweb import AckApp
from monitor.errors import ConfigError
from monitor.storage.models import Case, CaseEvent
from tests.conftest import Database
from tests.escalationkit import ENV, KEY, build, local, open_case, settings

NOW = local("2025-07-01 10:00")


@pytest.fixture
def site(database: Database) -> tuple[Any, int]:
    app = build(settings(database.url), database.engine, {})
    return app, open_case(app, "critical", NOW)


def _client(app: Any, at: Any = NOW) -> httpx.Client:
    transport = httpx.WSGITransport(app=AckApp(app, clock=lambda: at, secret=ENV.get))
    return httpx.Client(transport=transport, base_url="http://monitor.test")


def _token(app: Any, case_id: int, at: Any = NOW) -> str:
    url = acklinks.ack_url(app.settings, case_id, at, secret=ENV.get)
    assert url.startswith("http://127.0.0.1:8080/ack?t=")
    return httpx.URL(url).params["t"]


def _acks(app: Any) -> list[tuple[int, str, str]]:
    with app.sessions() as session:
        rows = session.scalars(select(CaseEvent).where(CaseEvent.action == "acknowledged"))
        return [(e.case_id, e.actor, e.detail["channel"]) for e in rows]


def test_a_link_acknowledges_once(site: tuple[Any, int]) -> None:
    app, case_id = site
    token = _token(app, case_id)
    with _client(app, NOW + timedelta(minutes=5)) as client:
        first = client.post("/ack", data={"t": token})
        second = client.post("/ack", data={"t": token})
    assert first.status_code == 200 and f"Đã nhận sự vụ #{case_id}" in first.text
    assert second.status_code == 200 and "đã được nhận trước đó" in second.text
    assert _acks(app) == [(case_id, "ack-link", "email-link")]
    with app.sessions() as session:
        case = session.get(Case, case_id)
        assert case is not None and case.status == "acknowledged"
        assert case.acknowledged_at == NOW + timedelta(minutes=5)


def test_a_get_only_asks(site: tuple[Any, int]) -> None:
    app, case_id = site
    with _client(app) as client:
        page = client.get("/ack", params={"t": _token(app, case_id)})
    assert page.status_code == 200 and "method='post'" in page.text
    assert "Sạt lở đê sông Hồng" in page.text and "Xác nhận" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert _acks(app) == []


def _forge(token: str, **parts: str) -> str:
    case_id, expiry, nonce, signature = token.split(".")
    fields = {"case_id": case_id, "expiry": expiry, "nonce": nonce, "signature": signature}
    return ".".join({**fields, **parts}.values())


def test_forged_tokens_are_refused(site: tuple[Any, int]) -> None:
    app, case_id = site
    token = _token(app, case_id)
    other_key = acklinks.sign(case_id, NOW + timedelta(days=1), b"another-key-of-32-characters....")
    forged = [
        _forge(token, case_id=str(case_id + 1)),
        _forge(token, expiry=str(int((NOW + timedelta(days=30)).timestamp()))),
        other_key,
        "",
        "not-a-token",
        token + "x",
    ]
    with _client(app) as client:
        for bad in forged:
            for answer in (
                client.get("/ack", params={"t": bad}),
                client.post("/ack", data={"t": bad}),
            ):
                assert answer.status_code == 403 and "không hợp lệ" in answer.text
    for bad in forged:
        with pytest.raises(acklinks.ForgedLink):
            acklinks.verify(bad, KEY.encode(), NOW)
    assert _acks(app) == []


def test_an_expired_link_is_refused(site: tuple[Any, int]) -> None:
    app, case_id = site
    token = _token(app, case_id)  # notify.ack_link_ttl: one day
    assert acklinks.verify(token, KEY.encode(), NOW + timedelta(hours=23)) == case_id
    late = NOW + timedelta(days=1)
    with pytest.raises(acklinks.ExpiredLink):
        acklinks.verify(token, KEY.encode(), late)
    with _client(app, late) as client:
        answer = client.post("/ack", data={"t": token})
    assert answer.status_code == 403 and "hết hạn" in answer.text
    assert _acks(app) == []


def test_no_key_no_links(site: tuple[Any, int]) -> None:
    app, case_id = site
    for env in ({}, {"MONITOR_SECRET_KEY": "short"}):
        with pytest.raises(ConfigError, match="MONITOR_SECRET_KEY"):
            acklinks.ack_url(app.settings, case_id, NOW, secret=env.get)
    token = _token(app, case_id)
    transport = httpx.WSGITransport(app=AckApp(app, clock=lambda: NOW, secret={}.get))
    with httpx.Client(transport=transport, base_url="http://monitor.test") as client:
        assert client.post("/ack", data={"t": token}).status_code == 403
    assert _acks(app) == []


def test_unknown_paths_and_methods(site: tuple[Any, int]) -> None:
    app, case_id = site
    with _client(app) as client:
        assert client.get("/").status_code == 404
        assert client.put("/ack").status_code == 405
        missing = client.post(
            "/ack", data={"t": acklinks.sign(999, NOW + timedelta(hours=1), KEY.encode())}
        )
    assert missing.status_code == 404
