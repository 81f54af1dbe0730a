"""The admin pages: only administrators get in; users are added, changed, disabled and enabled;
API tokens are created (the secret shown once) and revoked; mistakes are shown, not crashes; an
administrator cannot lock themselves out. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from monitor import accounts
from monitor.bootstrap import App
from monitor.web.app import create_web
from tests.conftest import AppFactory
from tests.webkit import PASSWORD, Clock, WebClient, sign_in, web_client

SOURCES = [
    {"id": "baonamdinh", "kind": "rss", "url": "https://baonamdinh.vn/rss/xa-hoi.rss",
     "name": "Báo Nam Định"},
    {"id": "vnexpress", "kind": "rss", "url": "https://vnexpress.net/rss/thoi-su.rss"},
]  # fmt: skip
NEW_PASSWORD = "một-mật-khẩu-mới-dài"
_SECRET = re.compile(r'id="token-secret" value="(mon_[A-Za-z0-9_-]+)"')


@pytest.fixture
def app(make_app: AppFactory) -> App:
    """An app with two configured sources."""
    return make_app(SOURCES)


@pytest.fixture
def admin(app: App) -> WebClient:
    """An administrator signed in."""
    return web_client(app, "quan-tri", "admin", Clock())


def _user(app: App, name: str) -> accounts.UserRow:
    [found] = [u for u in accounts.list_users(app.sessions) if u.name == name]
    return found


def _can_sign_in(app: App, name: str, password: str = PASSWORD) -> bool:
    client = TestClient(create_web(app, clock=Clock()), follow_redirects=False)
    landed: Any = sign_in(client, name, password)  # the response after the redirect
    return bool(landed.url.path == "/")


def _row(html: str, name: str) -> str:
    found = re.search(rf'<tr data-user="{re.escape(name)}".*?</tr>', html, re.S)
    assert found, f"no row for {name}"
    return found.group(0)


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_the_admin_pages_refuse_others(app: App, role: str) -> None:
    user = web_client(app, "lan", role, Clock())
    page = user.get("/admin")
    assert page.status_code == 403 and "admin" in page.text
    assert 'href="/admin"' not in page.text  # nor is the menu offering it
    changes: list[tuple[str, dict[str, object]]] = [
        ("/admin/users", {"name": "x", "role": "admin", "password": PASSWORD}),
        ("/admin/users/lan/role", {"role": "admin"}),
        ("/admin/users/lan/password", {"password": NEW_PASSWORD}),
        ("/admin/users/lan/disable", {}),
        ("/admin/tokens", {"user": "lan", "name": "mine"}),
        ("/admin/tokens/1/revoke", {}),
    ]
    for path, data in changes:
        assert user.post(path, data).status_code == 403, path
    assert [u.name for u in accounts.list_users(app.sessions)] == ["lan"]
    assert _user(app, "lan").role == role and accounts.list_tokens(app.sessions) == []


def test_anonymous_is_sent_to_sign_in(app: App) -> None:
    client = TestClient(create_web(app, clock=Clock()), follow_redirects=False)
    answer = client.get("/admin")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")
    assert client.post("/admin/users", data={"name": "x"}).status_code == 401


def test_the_admin_page_lists_users_with_role_state_scope_and_sign_in(
    app: App, admin: WebClient
) -> None:
    accounts.add_user(app.sessions, "huyen", "viewer", PASSWORD, ("vnexpress",))
    accounts.set_disabled(app.sessions, "huyen", True)
    html = admin.get("/admin").text
    mine = _row(html, "quan-tri")
    assert 'data-role="admin"' in mine and 'data-state="active"' in mine
    assert "Tất cả" in mine and "/admin/users/quan-tri/disable" not in mine  # not oneself
    theirs = _row(html, "huyen")
    assert 'data-state="disabled"' in theirs and "vnexpress" in theirs
    assert "/admin/users/huyen/enable" in theirs and "/admin/users/huyen/disable" not in theirs
    assert "—" in theirs  # never signed in
    # The add form offers the configured sources and staff submissions.
    assert '<option value="baonamdinh">Báo Nam Định (baonamdinh)</option>' in html
    assert '<option value="manual">' in html
    assert html.count('name="csrf"') >= 6


def test_an_admin_adds_a_user_who_can_then_sign_in(app: App, admin: WebClient) -> None:
    added = admin.post(
        "/admin/users",
        {"name": "lan", "role": "analyst", "password": PASSWORD, "sources": ["vnexpress"]},
    )
    assert added.status_code == 303
    assert added.headers["location"] == "/admin?done=added&user=lan"
    page = admin.get(added.headers["location"])
    assert "Đã thêm người dùng lan." in page.text and 'class="flash ok"' in page.text
    user = _user(app, "lan")
    assert (user.role, user.sources, user.disabled) == ("analyst", ("vnexpress",), False)
    assert _can_sign_in(app, "lan")


def test_mistakes_are_shown_not_crashes(app: App, admin: WebClient) -> None:
    short = admin.post("/admin/users", {"name": "lan", "role": "viewer", "password": "ngắn"})
    assert short.status_code == 400
    assert "at least 10 characters" in short.text and 'class="flash error"' in short.text
    bad_name = admin.post("/admin/users", {"name": "<b>lan</b>", "password": PASSWORD})
    assert bad_name.status_code == 400 and "&lt;b&gt;lan&lt;/b&gt;" in bad_name.text
    bad_role = admin.post("/admin/users", {"name": "lan", "role": "boss", "password": PASSWORD})
    assert bad_role.status_code == 400 and "unknown role" in bad_role.text
    unknown_source = admin.post(
        "/admin/users", {"name": "lan", "password": PASSWORD, "sources": ["tiktok"]}
    )
    assert unknown_source.status_code == 400 and "tiktok" in unknown_source.text
    taken = admin.post("/admin/users", {"name": "quan-tri", "password": PASSWORD})
    assert taken.status_code == 400 and "already exists" in taken.text
    nobody = admin.post("/admin/users/nobody/role", {"role": "viewer"})
    assert nobody.status_code == 400 and "no such user" in nobody.text
    assert [u.name for u in accounts.list_users(app.sessions)] == ["quan-tri"]
    # A message about someone who is not a user is not shown (no made-up text on our page).
    assert 'class="flash' not in admin.get("/admin?done=added&user=someone-else").text
    assert 'class="flash' not in admin.get("/admin?done=hacked").text


def test_role_password_disable_and_enable(app: App, admin: WebClient) -> None:
    accounts.add_user(app.sessions, "lan", "viewer", PASSWORD)
    assert admin.post("/admin/users/lan/role", {"role": "analyst"}).status_code == 303
    assert _user(app, "lan").role == "analyst"

    done = admin.post("/admin/users/lan/password", {"password": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["location"].endswith("done=password&user=lan")
    assert not _can_sign_in(app, "lan", PASSWORD) and _can_sign_in(app, "lan", NEW_PASSWORD)
    short = admin.post("/admin/users/lan/password", {"password": "ngắn"})
    assert short.status_code == 400 and _can_sign_in(app, "lan", NEW_PASSWORD)

    done = admin.post("/admin/users/lan/disable")
    assert done.status_code == 303 and _user(app, "lan").disabled
    assert "Đã khoá lan" in admin.get(done.headers["location"]).text
    assert not _can_sign_in(app, "lan", NEW_PASSWORD)
    assert admin.post("/admin/users/lan/enable").status_code == 303
    assert not _user(app, "lan").disabled and _can_sign_in(app, "lan", NEW_PASSWORD)


def test_an_admin_cannot_lock_themselves_out(app: App, admin: WebClient) -> None:
    disabled = admin.post("/admin/users/quan-tri/disable")
    assert disabled.status_code == 409 and "một quản trị viên khác" in disabled.text
    demoted = admin.post("/admin/users/quan-tri/role", {"role": "analyst"})
    assert demoted.status_code == 409
    me = _user(app, "quan-tri")
    assert me.role == "admin" and not me.disabled
    assert admin.get("/admin").status_code == 200
    # Another administrator can.
    other = web_client(app, "quan-tri-2", "admin", Clock())
    assert other.post("/admin/users/quan-tri/role", {"role": "analyst"}).status_code == 303
    assert _user(app, "quan-tri").role == "analyst"
    assert admin.get("/admin").status_code == 403


def test_a_token_made_on_the_page_works_then_is_revoked_and_refused(
    app: App, admin: WebClient
) -> None:
    accounts.add_user(app.sessions, "lan", "analyst", PASSWORD)
    made = admin.post("/admin/tokens", {"user": "lan", "name": "báo cáo tuần"})
    assert made.status_code == 200
    found = _SECRET.search(made.text)
    assert found, made.text
    secret = found.group(1)
    assert "chỉ hiện một lần" in made.text and made.headers["Cache-Control"] == "no-store"
    [token] = accounts.list_tokens(app.sessions)
    assert (token.name, token.user.name, token.created_by) == ("báo cáo tuần", "lan", "quan-tri")

    api = TestClient(create_web(app, clock=Clock()), headers={"Authorization": f"Bearer {secret}"})
    assert api.get("/api/cases").status_code == 200
    listed = admin.get("/admin").text
    assert secret not in listed and f'data-token="{token.id}" data-state="active"' in listed

    revoked = admin.post(f"/admin/tokens/{token.id}/revoke")
    assert revoked.status_code == 303
    assert revoked.headers["location"] == f"/admin?done=revoked&token={token.id}"
    assert f"Đã thu hồi mã API #{token.id}." in admin.get(revoked.headers["location"]).text
    refused = api.get("/api/cases")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    assert f'data-token="{token.id}" data-state="revoked"' in admin.get("/admin").text
    again = admin.post(f"/admin/tokens/{token.id}/revoke")
    assert again.status_code == 404 and 'class="flash error"' in again.text


def test_a_token_for_nobody_is_refused(app: App, admin: WebClient) -> None:
    refused = admin.post("/admin/tokens", {"user": "nobody", "name": "x"})
    assert refused.status_code == 400 and "no such user" in refused.text
    assert accounts.list_tokens(app.sessions) == []
