"""Build the dashboard's ASGI app from a bootstrapped App; serve it with uvicorn."""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from a2wsgi import WSGIMiddleware
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from monitor import accounts
from monitor.ackweb import AckApp
from monitor.bootstrap import App
from monitor.web import (
    api,
    pages_admin,
    pages_auth,
    pages_cases,
    pages_items,
    pages_overview,
    pages_search,
)
from monitor.web.auth import Forbidden, NotSignedIn, csrf_checked, signed_in
from monitor.web.render import LANG_COOKIE, LANGUAGES, Page, build_templates

logger = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
# No inline script or style, no plug-ins, no framing, forms only to us; charts are inline SVG.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
Clock = Callable[[], datetime]
# Every router and its prefix; the tests walk this list to check each route refuses strangers.
ROUTERS: tuple[tuple[str, APIRouter], ...] = (
    ("", pages_auth.router),
    ("", pages_overview.router),
    ("", pages_cases.router),
    ("", pages_items.router),
    ("", pages_search.router),
    ("", pages_admin.router),
    ("/api", api.router),
)


def _now() -> datetime:
    return datetime.now(UTC)


def create_web(monitor: App, *, clock: Clock = _now) -> FastAPI:
    """The dashboard and JSON API for ``monitor``; every route needs a login but PUBLIC_PATHS."""
    web = FastAPI(
        title="Province monitor API",
        version="1",
        description="JSON API of the province media monitor. Authenticate with "
        "`Authorization: Bearer <token>`; administrators create tokens (`monitor users token`).",
        dependencies=[Depends(signed_in), Depends(csrf_checked)],
        # The generated docs pages load scripts from a CDN (offline here, and against our CSP):
        # /api/openapi.json and /api/docs are served by monitor.web.api behind the login instead.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    web.state.monitor = monitor
    web.state.clock = clock
    web.state.templates = build_templates()
    for prefix, router in ROUTERS:
        web.include_router(router, prefix=prefix)
    web.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Acknowledgement links (monitor.ackweb) prove themselves with their signed token.
    ack = WSGIMiddleware(_AckAtRoot(AckApp(monitor, clock)))  # type: ignore[arg-type]
    web.router.routes.append(Route("/ack", ack, methods=["GET", "POST"]))
    web.middleware("http")(_headers)
    _handlers(web)
    return web


class _AckAtRoot:
    """AckApp checks its path is /ack; served from the route /ack, make sure it sees that."""

    def __init__(self, app: AckApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        environ["PATH_INFO"] = "/ack"
        return self.app(environ, start_response)


async def _headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.url.path.startswith("/static"):
        response.headers.setdefault("Cache-Control", "no-store")
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        response.set_cookie(LANG_COOKIE, asked, max_age=365 * 86400, samesite="lax", httponly=True)
    return response


# Pages a person opens in a browser, though they live under /api.
API_PAGES = frozenset({"/api/docs"})


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api") and request.url.path not in API_PAGES


def _handlers(web: FastAPI) -> None:
    @web.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, _exc: NotSignedIn) -> Response:
        if _is_api(request) or request.method not in ("GET", "HEAD"):
            return JSONResponse(
                {"detail": "authentication required"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={_quote(target)}", status_code=303)

    @web.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": exc.message}, status_code=403)
        return Page(request).render("error.html", status_code=403, status=403, message=exc.message)

    @web.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        return Page(request).render(
            "error.html", status_code=exc.status_code, status=exc.status_code, message=exc.detail
        )

    @web.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": exc.errors()}, status_code=422)
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return Page(request).render("error.html", status_code=422, status=422, message=problems)


def _quote(target: str) -> str:
    from urllib.parse import quote

    return quote(target, safe="")


def warn_if_no_users(monitor: App) -> None:
    """Say how to create the first user, since nobody can sign in until there is one."""
    if not accounts.list_users(monitor.sessions):
        logger.warning(
            "no dashboard users yet: create one with "
            "`monitor users add NAME --role admin` (password prompted)"
        )


def serve_in_thread(web: FastAPI, host: str, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    """Serve the dashboard from a daemon thread (next to the scheduler); stop with ``stop``."""
    warn_if_no_users(web.state.monitor)
    server = uvicorn.Server(
        uvicorn.Config(web, host=host, port=port, log_config=None, access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="web", daemon=True)
    thread.start()
    logger.info("dashboard served on http://%s:%d/", host, port)
    return server, thread


def stop(server: uvicorn.Server, thread: threading.Thread, timeout: float = 10.0) -> None:
    """Ask the server to finish its requests and wait for it."""
    server.should_exit = True
    thread.join(timeout)
