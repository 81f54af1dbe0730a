"""Helpers for the web tests: users, signed-in test clients, the CSRF token of a page."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from fastapi.testclient import TestClient

from monitor import accounts
from monitor.bootstrap import App
from monitor.web.app import create_web

PASSWORD = "mật-khẩu-đủ-dài-1"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_LOGIN_CSRF = re.compile(r'name="login_csrf" value="([^"]+)"')


class Clock:
    """A settable clock for the web app (sessions, throttling); it starts at the real time,
    because users and their records are stamped with it."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def advance(self, **delta: float) -> None:
        """Move the clock on."""
        self.now += timedelta(**delta)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class WebClient:
    """A test client signed in as one user, with that session's CSRF token."""

    client: TestClient
    name: str
    role: str
    csrf: str

    def post(self, path: str, data: dict[str, object] | None = None, **kwargs: object):  # type: ignore[no-untyped-def]
        """A form post carrying the CSRF token."""
        return self.client.post(path, data={"csrf": self.csrf, **(data or {})}, **kwargs)  # type: ignore[arg-type]

    def get(self, path: str, **kwargs: object):  # type: ignore[no-untyped-def]
        """A GET."""
        return self.client.get(path, **kwargs)  # type: ignore[arg-type]


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = _CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> httpx.Response:
    """Sign ``client`` in through the login form; returns the response of the redirect target."""
    page = client.get("/login")
    token = _LOGIN_CSRF.search(page.text)
    assert token, page.text[:500]
    return client.post(
        "/login",
        data={"name": name, "password": password, "login_csrf": token.group(1)},
        follow_redirects=True,
    )


def web_client(app: App, name: str, role: str, clock: Clock | None = None) -> WebClient:
    """A user of ``role`` created on ``app`` and a client signed in as them."""
    clock = clock or Clock()
    accounts.add_user(app.sessions, name, role, PASSWORD, now=clock.now)
    client = TestClient(create_web(app, clock=clock), follow_redirects=False)
    home = sign_in(client, name)
    assert home.status_code == 200, home.text[:500]
    return WebClient(client, name, role, csrf_of(home.text))
