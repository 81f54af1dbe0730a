"""Sign in, sign out, and the health check a load balancer or monitor polls."""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from monitor import accounts
from monitor.bootstrap import App
from monitor.storage import db
from monitor.web.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    client_address,
    is_https,
    now_of,
)
from monitor.web.render import Page

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """A local path to go to after signing in; anything else (another site) becomes /."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    # Browsers and urlsplit drop tabs and newlines: "/\t//evil.example" would become "//evil...".
    if any(ch < " " or ch in "\x7f\\" for ch in target):
        return "/"
    return target


def _login_page(request: Request, error: str | None = None, status_code: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    page = Page(request)
    response = page.render(
        "login.html",
        status_code=status_code,
        login_csrf=token,
        error=error,
        next=safe_next(request.query_params.get("next")),
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=is_https(request)
    )
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    """The sign-in page (or straight on, when already signed in)."""
    if getattr(request.state, "principal", None) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    return _login_page(request)


@router.post("/login")
def login(
    request: Request,
    name: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1000)],
    login_csrf: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",  # noqa: A002 - the form field's name
) -> Response:
    """Check the name and password (throttled), start a session, go where the user was going."""
    page = Page(request)
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, login_csrf):
        return _login_page(
            request,
            page.t("Trang đăng nhập đã cũ, hãy thử lại.", "The form expired; try again."),
            403,
        )
    monitor: App = request.app.state.monitor
    now = now_of(request)
    try:
        user = accounts.authenticate(
            monitor.sessions, monitor.settings.web, name, password, client_address(request), now
        )
    except accounts.LoginThrottled as exc:
        until = page.local(exc.until, "%H:%M")
        message = page.t(
            f"Đăng nhập sai quá nhiều lần. Hãy thử lại sau {until}.",
            f"Too many failed sign-ins. Try again after {until}.",
        )
        return _login_page(request, message, 429)
    except accounts.LoginRefused:
        message = page.t("Sai tên đăng nhập hoặc mật khẩu.", "Wrong user name or password.")
        return _login_page(request, message, 401)
    secret, _csrf = accounts.start_session(monitor.sessions, monitor.settings.web, user, now)
    logger.info("%s signed in from %s", user.name, client_address(request))
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=monitor.settings.web.session_max,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    """End the session (the CSRF check already ran) and go to the sign-in page."""
    monitor: App = request.app.state.monitor
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        accounts.end_session(monitor.sessions, secret)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/healthz")
def healthz(request: Request) -> Response:
    """200 when the database answers, 503 otherwise; says nothing else to an anonymous caller."""
    monitor: App = request.app.state.monitor
    try:
        db.ping(monitor.engine)
    except Exception:  # any failure to reach the database is "down" to a health check
        logger.exception("health check: the database does not answer")
        return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok"})
