"""Administration: users (add, role, password, disable/enable) and API tokens (create, revoke).

Every route needs the admin role. Changes go through monitor.accounts (which hashes passwords and
token secrets); each POST redirects (303) back to /admin with a message, except creating a token:
its secret exists only in that response (the database keeps its SHA-256), so the result page
shows it once, with a warning, instead of redirecting to a page that could not know it.
An AccountError (a taken name, a short password, an unknown role) is shown on the page.

An administrator cannot disable their own account or take away their own admin role: a slip
would lock them out at once (their session ends, or the admin pages close mid-change) and could
leave the office with no administrator; another administrator must do it, so someone who can
undo it is always there.
"""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from monitor import accounts
from monitor.accounts import ROLES, AccountError, Principal
from monitor.bootstrap import MANUAL_NAME, App, manual_source_id
from monitor.config import Settings
from monitor.web.auth import need, now_of
from monitor.web.render import Page

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
Admin = Annotated[Principal, Depends(need("admin"))]
ROLE_LABELS = {
    "viewer": ("Người xem", "Viewer"),
    "analyst": ("Chuyên viên", "Analyst"),
    "admin": ("Quản trị", "Administrator"),
}
# ?done=<key>&user=<name>|&token=<id> after a change: the message in both languages.
DONE = {
    "added": ("Đã thêm người dùng {user}.", "User {user} added."),
    "role": ("Đã đổi vai trò của {user}.", "Changed the role of {user}."),
    "password": (
        "Đã đặt lại mật khẩu của {user}; mọi phiên đăng nhập của họ đã kết thúc.",
        "Reset the password of {user}; every session of theirs has ended.",
    ),
    "disabled": (
        "Đã khoá {user}: các phiên đăng nhập và mã API của họ ngừng hoạt động.",
        "Disabled {user}: their sessions and API tokens no longer work.",
    ),
    "enabled": ("Đã mở khoá {user}.", "Enabled {user}."),
    "revoked": ("Đã thu hồi mã API #{token}.", "Revoked API token #{token}."),
}


def source_choices(settings: Settings) -> dict[str, str]:
    """The sources a user can be limited to (configured ones and staff submissions), id -> name."""
    names = {s.id: s.name or s.id for s in settings.sources}
    names.setdefault(manual_source_id(settings), MANUAL_NAME)
    return names


def _admin_page(
    request: Request, *, flash: str = "", flash_kind: str = "ok", status_code: int = 200
) -> HTMLResponse:
    monitor: App = request.app.state.monitor
    users = accounts.list_users(monitor.sessions)
    if not flash:
        flash = _done_message(request, {u.name for u in users})
    return Page(request).render(
        "admin.html",
        status_code=status_code,
        users=users,
        tokens=accounts.list_tokens(monitor.sessions),
        roles=ROLES,
        role_labels=ROLE_LABELS,
        sources=source_choices(monitor.settings),
        min_password=accounts.MIN_PASSWORD,
        flash=flash,
        flash_kind=flash_kind,
    )


def _done_message(request: Request, names: set[str]) -> str:
    """The message of ?done=; a name or token is shown only when it is one (no made-up text)."""
    key = request.query_params.get("done", "")
    user = request.query_params.get("user", "")
    token = request.query_params.get("token", "")
    if key not in DONE or (user and user not in names) or (token and not token.isdigit()):
        return ""
    return Page(request).t(*DONE[key]).format(user=user, token=token)


def _done(key: str, **about: str | int) -> RedirectResponse:
    return RedirectResponse("/admin?" + urlencode({"done": key, **about}), status_code=303)


def _refused(request: Request, message: str, status_code: int = 400) -> HTMLResponse:
    return _admin_page(request, flash=message, flash_kind="error", status_code=status_code)


@router.get("/admin")
def admin(request: Request, principal: Admin) -> HTMLResponse:
    """Users and API tokens, with the forms that change them."""
    return _admin_page(request)


@router.post("/admin/users")
def add_user(
    request: Request,
    principal: Admin,
    name: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1000)],
    role: Annotated[str, Form(max_length=16)] = "viewer",
    sources: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Create a user, limited to some sources if any are picked."""
    monitor: App = request.app.state.monitor
    picked = tuple(dict.fromkeys(sources or ()))
    unknown = [s for s in picked if s not in source_choices(monitor.settings)]
    if unknown:
        return _refused(request, f"Nguồn không có / unknown sources: {', '.join(unknown)}")
    try:
        accounts.add_user(
            monitor.sessions, name.strip(), role, password, picked, now=now_of(request)
        )
    except AccountError as exc:
        return _refused(request, str(exc))
    logger.info("%s added user %s (%s)", principal.name, name, role)
    return _done("added", user=name.strip())


def _self_refusal(page: Page, principal: Principal, name: str, what: str) -> str | None:
    if name != principal.name:
        return None
    return page.t(
        f"Bạn không thể tự {what} mình: hãy nhờ một quản trị viên khác "
        "(để luôn còn người mở lại được).",
        "You cannot do this to your own account: ask another administrator "
        "(so someone who can undo it always remains).",
    )


@router.post("/admin/users/{name}/role")
def change_role(
    request: Request, principal: Admin, name: str, role: Annotated[str, Form(max_length=16)]
) -> Response:
    """Give a user another role (not one's own admin role away)."""
    monitor: App = request.app.state.monitor
    if role != "admin" and (refusal := _self_refusal(Page(request), principal, name, "hạ quyền")):
        return _refused(request, refusal, 409)
    try:
        accounts.set_role(monitor.sessions, name, role)
    except AccountError as exc:
        return _refused(request, str(exc))
    logger.info("%s set the role of %s to %s", principal.name, name, role)
    return _done("role", user=name)


@router.post("/admin/users/{name}/password")
def reset_password(
    request: Request, principal: Admin, name: str, password: Annotated[str, Form(max_length=1000)]
) -> Response:
    """Set a new password; every session of the user ends."""
    monitor: App = request.app.state.monitor
    try:
        accounts.set_password(monitor.sessions, name, password, now=now_of(request))
    except AccountError as exc:
        return _refused(request, str(exc))
    logger.info("%s reset the password of %s", principal.name, name)
    if name == principal.name:  # their own session has just ended with the others
        return RedirectResponse("/login", status_code=303)
    return _done("password", user=name)


@router.post("/admin/users/{name}/disable")
def disable(request: Request, principal: Admin, name: str) -> Response:
    """Disable a user: sessions end, tokens stop working (not oneself)."""
    if refusal := _self_refusal(Page(request), principal, name, "khoá"):
        return _refused(request, refusal, 409)
    return _set_disabled(request, principal, name, True)


@router.post("/admin/users/{name}/enable")
def enable(request: Request, principal: Admin, name: str) -> Response:
    """Let a disabled user sign in again (their tokens work again too)."""
    return _set_disabled(request, principal, name, False)


def _set_disabled(request: Request, principal: Principal, name: str, disabled: bool) -> Response:
    monitor: App = request.app.state.monitor
    try:
        accounts.set_disabled(monitor.sessions, name, disabled)
    except AccountError as exc:
        return _refused(request, str(exc))
    done = "disabled" if disabled else "enabled"
    logger.info("%s %s user %s", principal.name, done, name)
    return _done(done, user=name)


@router.post("/admin/tokens")
def create_token(
    request: Request,
    principal: Admin,
    user: Annotated[str, Form(max_length=100)],
    name: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Create an API token acting as ``user``; its secret is on this response only."""
    monitor: App = request.app.state.monitor
    try:
        token_id, secret = accounts.create_token(
            monitor.sessions, user, name.strip(), principal.name, now=now_of(request)
        )
    except AccountError as exc:
        return _refused(request, str(exc))
    logger.info("%s created API token #%d for %s", principal.name, token_id, user)
    return Page(request).render(
        "admin_token.html", token_id=token_id, secret=secret, user=user, name=name.strip()
    )


@router.post("/admin/tokens/{token_id}/revoke")
def revoke_token(request: Request, principal: Admin, token_id: int) -> Response:
    """Revoke an API token: it is refused from the next request on."""
    monitor: App = request.app.state.monitor
    if not accounts.revoke_token(monitor.sessions, token_id, now=now_of(request)):
        page = Page(request)
        message = page.t(
            f"Không có mã API #{token_id} còn hiệu lực.", f"No active API token #{token_id}."
        )
        return _refused(request, message, 404)
    logger.info("%s revoked API token #%d", principal.name, token_id)
    return _done("revoked", token=token_id)
