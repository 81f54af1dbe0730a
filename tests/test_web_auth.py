"""Signing in and staying safe: every route behind a login, CSRF on every form, throttled
sign-in, session cookies and their end, security headers, and the `monitor users` command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from monitor import accounts
from monitor.bootstrap import App
from monitor.cli import cli
from monitor.web.app import API_PAGES, ROUTERS, create_web
from monitor.web.auth import PUBLIC_PATHS, SESSION_COOKIE
from tests.conftest import AppFactory
from tests.webkit import PASSWORD, Clock, sign_in, web_client

runner = CliRunner()


@pytest.fixture
def app(make_app: AppFactory) -> App:
    """An application on the test database with no sources."""
    return make_app([])


def _routes() -> list[tuple[str, str]]:
    """Every (method, path) the dashboard and API answer, path parameters filled in."""
    found = []
    for prefix, router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute), route
            path = re.sub(r"\{[^}]+\}", "1", prefix + route.path)
            found += [(method, path) for method in sorted(route.methods or ())]
    return found


def test_every_route_refuses_an_anonymous_request(app: App) -> None:
    client = TestClient(create_web(app, clock=Clock()), follow_redirects=False)
    routes = _routes()
    assert len(routes) > 5
    for method, path in routes:
        if path in PUBLIC_PATHS:
            continue
        response = client.request(method, path)
        if method == "GET" and (not path.startswith("/api") or path in API_PAGES):
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["location"].startswith("/login?next="), (method, path)
        else:
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.headers["www-authenticate"] == "Bearer"


def test_only_login_and_healthz_and_mounted_assets_are_public(app: App) -> None:
    client = TestClient(create_web(app, clock=Clock()), follow_redirects=False)
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/login").status_code == 200
    assert client.get("/static/app.css").status_code == 200
    # Acknowledgement links carry their own signed token: without one the page refuses.
    assert client.get("/ack").status_code == 403
    assert client.get("/api/openapi.json").status_code == 401


def test_every_form_post_without_its_csrf_token_is_refused(app: App) -> None:
    admin = web_client(app, "quantri", "admin")
    unsafe = [(m, p) for m, p in _routes() if m not in ("GET", "HEAD") and p != "/login"]
    assert ("POST", "/logout") in unsafe
    for method, path in unsafe:
        plain = admin.client.request(method, path, data={"action": "ack", "note": "x"})
        forged = admin.client.request(
            method, path, data={"csrf": "not-the-token", "action": "ack", "note": "x"}
        )
        assert plain.status_code == 403, (method, path, plain.status_code)
        assert forged.status_code == 403, (method, path, forged.status_code)
    assert admin.get("/").status_code == 200  # still signed in: nothing was done


def test_login_form_without_its_token_is_refused(app: App) -> None:
    accounts.add_user(app.sessions, "canbo", "viewer", PASSWORD)
    client = TestClient(create_web(app, clock=Clock()), follow_redirects=False)
    response = client.post("/login", data={"name": "canbo", "password": PASSWORD})
    assert response.status_code == 403
    assert SESSION_COOKIE not in response.cookies


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(app: App) -> None:
    accounts.add_user(app.sessions, "canbo", "viewer", PASSWORD)
    client = TestClient(create_web(app, clock=Clock()), follow_redirects=False)
    wrong_password = sign_in(client, "canbo", "sai-mat-khau-1234")
    wrong_name = sign_in(client, "khongco", PASSWORD)
    assert wrong_password.status_code == wrong_name.status_code == 401
    assert "Sai tên đăng nhập hoặc mật khẩu." in wrong_password.text
    assert "Sai tên đăng nhập hoặc mật khẩu." in wrong_name.text
    assert client.get("/").status_code == 303


def test_sign_in_is_locked_after_repeated_failures_then_unlocks(app: App) -> None:
    accounts.add_user(app.sessions, "canbo", "analyst", PASSWORD)
    clock = Clock()
    client = TestClient(create_web(app, clock=clock), follow_redirects=False)
    limit = app.settings.web.login_max_failures
    for _ in range(limit):
        assert sign_in(client, "canbo", "sai-mat-khau-1234").status_code == 401
    locked = sign_in(client, "canbo", PASSWORD)
    assert locked.status_code == 429
    assert "Đăng nhập sai quá nhiều lần" in locked.text
    assert client.get("/").status_code == 303  # the right password did not sign in
    clock.advance(seconds=app.settings.web.login_lockout + 1)
    assert sign_in(client, "canbo", PASSWORD).status_code == 200
    assert client.get("/").status_code == 200


def test_session_cookie_is_httponly_samesite_and_secure_over_https(app: App) -> None:
    accounts.add_user(app.sessions, "canbo", "viewer", PASSWORD)
    for base, secure in (("http://testserver", False), ("https://testserver", True)):
        client = TestClient(create_web(app, clock=Clock()), base_url=base, follow_redirects=False)
        page = client.get("/login")
        token = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
        assert token
        response = client.post(
            "/login", data={"name": "canbo", "password": PASSWORD, "login_csrf": token.group(1)}
        )
        cookie = next(
            v
            for k, v in response.headers.multi_items()
            if k == "set-cookie" and SESSION_COOKIE in v
        )
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert ("Secure" in cookie) is secure, cookie


def test_an_idle_session_ends(app: App) -> None:
    clock = Clock()
    viewer = web_client(app, "canbo", "viewer", clock)
    clock.advance(seconds=app.settings.web.session_idle - 60)
    assert viewer.get("/").status_code == 200  # used: the idle time starts again
    clock.advance(seconds=app.settings.web.session_idle - 60)
    assert viewer.get("/").status_code == 200
    clock.advance(seconds=app.settings.web.session_idle + 1)
    assert viewer.get("/").status_code == 303


def test_password_change_and_disabling_end_sessions(app: App) -> None:
    first = web_client(app, "canbo", "viewer")
    second = web_client(app, "canbo2", "viewer")
    accounts.set_password(app.sessions, "canbo", "mat-khau-moi-rat-dai")
    accounts.set_disabled(app.sessions, "canbo2", True)
    assert first.get("/").status_code == 303
    assert second.get("/").status_code == 303
    assert sign_in(second.client, "canbo2").status_code == 401  # disabled: cannot sign in again


def test_logout_ends_the_session_for_good(app: App) -> None:
    viewer = web_client(app, "canbo", "viewer")
    cookie = viewer.client.cookies.get(SESSION_COOKIE)
    assert viewer.post("/logout").headers["location"] == "/login"
    replay = TestClient(create_web(app, clock=Clock()), follow_redirects=False)
    replay.cookies.set(SESSION_COOKIE, cookie or "")
    assert replay.get("/").status_code == 303


def test_sign_in_goes_back_only_to_local_pages(app: App) -> None:
    accounts.add_user(app.sessions, "canbo", "viewer", PASSWORD)
    for target, expected in (
        ("/sources", "/sources"),
        ("//evil.example/x", "/"),
        ("https://evil.example", "/"),
        ("/\t//evil.example", "/"),
    ):
        client = TestClient(create_web(app, clock=Clock()), follow_redirects=False)
        page = client.get("/login", params={"next": target})
        token = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
        assert token
        response = client.post(
            "/login",
            data={
                "name": "canbo",
                "password": PASSWORD,
                "login_csrf": token.group(1),
                "next": target,
            },
        )
        assert response.headers["location"] == expected


def test_pages_carry_security_headers(app: App) -> None:
    viewer = web_client(app, "canbo", "viewer")
    for path in ("/", "/login", "/no-such-page"):
        response = viewer.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
    assert viewer.get("/no-such-page").status_code == 404


def test_language_switch_is_remembered(app: App) -> None:
    viewer = web_client(app, "canbo", "viewer")
    assert "Tổng quan" in viewer.get("/").text
    assert "Overview" in viewer.get("/?lang=en").text
    assert "Overview" in viewer.get("/").text  # the cookie keeps it
    assert "Tổng quan" in viewer.get("/?lang=vi").text


def test_a_viewer_cannot_do_an_analysts_work(app: App) -> None:
    viewer = web_client(app, "canbo", "viewer")
    analyst_only = [
        (m, p)
        for m, p in _routes()
        if m == "POST" and p not in ("/login", "/logout") and not p.startswith("/api")
    ]
    for method, path in analyst_only:
        response = viewer.client.request(method, path, data={"csrf": viewer.csrf})
        assert response.status_code == 403, (method, path, response.status_code)


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"database:\n  url: sqlite:///{tmp_path / 'm.db'}\n", encoding="utf-8")
    return path


def test_users_command_adds_changes_and_disables(tmp_path: Path) -> None:
    config = ["--config", str(_config(tmp_path))]
    added = runner.invoke(
        cli, [*config, "users", "add", "canbo", "--role", "analyst", "--password-stdin"],
        input=PASSWORD + "\n",
    )  # fmt: skip
    short = runner.invoke(
        cli, [*config, "users", "add", "ngan", "--password-stdin"], input="ngan\n"
    )
    bad_role = runner.invoke(cli, [*config, "users", "add", "x", "--role", "chief"], input="")
    again = runner.invoke(
        cli, [*config, "users", "add", "canbo", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert added.exit_code == 0, added.output
    assert short.exit_code == 1 and "ít nhất 10 ký tự" in short.output
    assert bad_role.exit_code == 2 and "viewer, analyst, admin" in bad_role.output
    assert again.exit_code == 1 and "đã có người dùng" in again.output
    passwd = runner.invoke(
        cli,
        [*config, "users", "passwd", "canbo", "--password-stdin"],
        input="mat-khau-moi-rat-dai\n",
    )
    disabled = runner.invoke(cli, [*config, "users", "disable", "canbo"])
    listed = runner.invoke(cli, [*config, "users", "list"])
    assert passwd.exit_code == 0 and disabled.exit_code == 0
    assert "canbo" in listed.output and "analyst" in listed.output and "disabled" in listed.output


def test_users_token_command_creates_a_working_token_and_revokes_it(
    tmp_path: Path, make_app: AppFactory
) -> None:
    config = ["--config", str(_config(tmp_path))]
    runner.invoke(cli, [*config, "users", "add", "bot", "--password-stdin"], input=PASSWORD + "\n")
    created = runner.invoke(cli, [*config, "users", "token", "create", "bot", "--name", "báo cáo"])
    assert created.exit_code == 0, created.output
    secret = created.output.strip().splitlines()[-1]
    assert secret.startswith("mon_")
    listed = runner.invoke(cli, [*config, "users", "token", "list"])
    assert "báo cáo" in listed.output and secret not in listed.output
    token_id = re.search(r"token (\d+) for bot", created.output)
    assert token_id
    revoked = runner.invoke(cli, [*config, "users", "token", "revoke", token_id.group(1)])
    twice = runner.invoke(cli, [*config, "users", "token", "revoke", token_id.group(1)])
    assert revoked.exit_code == 0 and twice.exit_code == 1


def test_language_switch_keeps_the_page_and_its_query(app: App) -> None:
    viewer = web_client(app, "canbo", "viewer")
    html = viewer.get("/sources?done=x&source=y").text
    assert 'href="/sources?done=x&amp;source=y&amp;lang=en"' in html


def test_control_characters_in_api_search_parameters_are_not_an_error(app: App) -> None:
    accounts.add_user(app.sessions, "bot", "viewer", PASSWORD)
    _id, secret = accounts.create_token(app.sessions, "bot", "test", "test")
    client = TestClient(create_web(app, clock=Clock()))
    answer = client.get(
        "/api/items",
        params={"q": "nam\x00dinh", "place": "\x00", "source": "a\x00b"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["items"] == []
