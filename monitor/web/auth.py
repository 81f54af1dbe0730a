"""Who is asking, and may they: sessions, API tokens, roles and CSRF, applied to every route.

``create_web`` installs ``signed_in`` and ``csrf_checked`` as dependencies of the whole app, so a
new route is closed to anonymous requests and to cross-site form posts unless its path is listed
in PUBLIC_PATHS. Routes that need more than a viewer take ``Depends(need("analyst"))``.
A browser proves itself with the session cookie (HttpOnly, SameSite=Lax, Secure over HTTPS) and
every unsafe request also with the session's CSRF token (form field ``csrf`` or header
``X-CSRF-Token``); an API client sends ``Authorization: Bearer <token>`` and no cookie.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from monitor import accounts
from monitor.accounts import Principal
from monitor.bootstrap import App

SESSION_COOKIE = "monitor_session"
LOGIN_CSRF_COOKIE = "monitor_login_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Reachable without signing in. /static (the style sheet and script) and /ack (acknowledgement
# links, which carry their own signed token) are mounted apps outside the route dependencies.
PUBLIC_PATHS = frozenset({"/login", "/healthz"})


class NotSignedIn(Exception):
    """No valid session or token: pages redirect to the sign-in page, the API answers 401."""


class Forbidden(Exception):
    """Signed in, but the role does not allow this (or the CSRF token is missing or wrong)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def now_of(request: Request) -> datetime:
    """The app's clock (tests set their own)."""
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


def client_address(request: Request) -> str:
    """The client's address; behind a trusted proxy, the last address it forwarded for."""
    monitor: App = request.app.state.monitor
    peer = request.client.host if request.client else "unknown"
    forwarded = request.headers.get("X-Forwarded-For")
    if forwarded and peer in monitor.settings.web.trusted_proxies:
        return forwarded.split(",")[-1].strip()[:64] or peer
    return peer


def is_https(request: Request) -> bool:
    """Whether the browser reached us over HTTPS (directly or through a trusted proxy)."""
    monitor: App = request.app.state.monitor
    forced = monitor.settings.web.secure_cookies
    if forced is not None:
        return forced
    if request.url.scheme == "https":
        return True
    peer = request.client.host if request.client else ""
    proto = request.headers.get("X-Forwarded-Proto", "").lower()
    return proto == "https" and peer in monitor.settings.web.trusted_proxies


def identify(request: Request) -> Principal | None:
    """The principal of a request: a bearer token, else the session cookie, else None."""
    monitor: App = request.app.state.monitor
    now = now_of(request)
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return accounts.resolve_token(monitor.sessions, secret.strip(), now)
    cookie = request.cookies.get(SESSION_COOKIE, "")
    return accounts.resolve_session(monitor.sessions, monitor.settings.web, cookie, now)


def signed_in(request: Request) -> Principal | None:
    """App-wide dependency: resolve the principal; refuse anonymous requests to private paths."""
    principal = identify(request)
    request.state.principal = principal
    if principal is None and request.url.path not in PUBLIC_PATHS:
        raise NotSignedIn()
    return principal


async def csrf_checked(
    request: Request, principal: Annotated[Principal | None, Depends(signed_in)]
) -> None:
    """App-wide dependency: an unsafe request from a browser session must carry its CSRF token."""
    if request.method in SAFE_METHODS or principal is None or principal.via != "session":
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and _is_form(request):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not principal.csrf or not hmac.compare_digest(sent, principal.csrf):
        raise Forbidden(
            "Phiên làm việc không hợp lệ, hãy tải lại trang. / Missing or wrong CSRF token."
        )


def _is_form(request: Request) -> bool:
    kind = request.headers.get("Content-Type", "")
    return kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))


def need(role: str) -> Callable[[Request], Principal]:
    """A dependency giving the principal if it has ``role`` or higher; Forbidden otherwise."""
    accounts.check_role(role)

    def dependency(request: Request) -> Principal:
        principal: Principal | None = getattr(request.state, "principal", None)
        if principal is None:
            raise NotSignedIn()
        if not principal.can(role):
            raise Forbidden(f"Cần quyền {role} để làm việc này. / This needs the {role} role.")
        return principal

    return dependency
