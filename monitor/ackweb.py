"""A minimal WSGI app for acknowledgement links: GET /ack?t=... asks, POST /ack acknowledges.

A GET only shows the case and a button, because mail scanners and link previews fetch every
link in a message; only the POST (a person pressing the button) acknowledges, with channel
"email-link". A forged or expired token gets a 403 page; a case acknowledged before says so.
``monitor run`` serves it with wsgiref on web.host:web.port; the dashboard will mount it.
"""

from __future__ import annotations

import html
import logging
import os
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from monitor import acklinks, cases
from monitor.bootstrap import App
from monitor.errors import ConfigError
from monitor.storage import db

logger = logging.getLogger(__name__)
Clock = Callable[[], datetime]
StartResponse = Callable[..., Any]
MAX_FORM = 4096
ACTOR = "ack-link"

_PAGE = """<!doctype html><html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}}
button{{font-size:1.2rem;padding:.6rem 1.2rem}}</style></head><body>{body}</body></html>"""


def _now() -> datetime:
    return datetime.now(UTC)


def page(title: str, body: str) -> bytes:
    """A small HTML page; ``body`` is already escaped."""
    return _PAGE.format(title=html.escape(title), body=body).encode()


class AckApp:
    """The WSGI callable; ``clock`` and ``secret`` are injectable for tests."""

    def __init__(
        self, app: App, clock: Clock = _now, secret: Callable[[str], str | None] = os.environ.get
    ):
        self.app, self.clock, self.secret = app, clock, secret

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Answer one request."""
        method = environ.get("REQUEST_METHOD", "GET")
        if environ.get("PATH_INFO", "") != "/ack":
            return self._reply(
                start_response, "404 Not Found", "Không tìm thấy", "<p>Không tìm thấy trang.</p>"
            )
        if method not in ("GET", "POST"):
            return self._reply(
                start_response,
                "405 Method Not Allowed",
                "Không hỗ trợ",
                "<p>Không hỗ trợ.</p>",
                [("Allow", "GET, POST")],
            )
        if method == "GET":
            token = _first(parse_qs(environ.get("QUERY_STRING", "")), "t")
        else:
            token = _form_token(environ)
        try:
            case_id = self._verify(token)
        except acklinks.AckLinkError as exc:
            return self._refused(start_response, exc)
        try:
            if method == "GET":
                return self._confirm(start_response, token, case_id)
            return self._acknowledge(start_response, token, case_id)
        except KeyError:
            no_case = f"<p>Không có sự vụ #{case_id}.</p>"
            return self._reply(start_response, "404 Not Found", "Không có sự vụ", no_case)

    def _verify(self, token: str) -> int:
        try:
            key = acklinks.signing_key(self.app.settings, self.secret)
        except ConfigError:
            logger.error(
                "acknowledgement links cannot be checked: %s is not set",
                self.app.settings.notify.secret_env,
            )
            raise acklinks.ForgedLink("no signing key") from None
        return acklinks.verify(token, key, self.clock())

    def _refused(
        self, start_response: StartResponse, exc: acklinks.AckLinkError
    ) -> Iterable[bytes]:
        why = (
            "Liên kết đã hết hạn."
            if isinstance(exc, acklinks.ExpiredLink)
            else "Liên kết không hợp lệ."
        )
        logger.warning("acknowledgement link refused: %s", exc)
        return self._reply(
            start_response,
            "403 Forbidden",
            "Liên kết không dùng được",
            f"<h1>{why}</h1><p>Hãy xác nhận sự vụ trên hệ thống hoặc qua Telegram.</p>",
        )

    def _confirm(self, start_response: StartResponse, token: str, case_id: int) -> Iterable[bytes]:
        found = cases.show(self.app.sessions, case_id, self.clock()).case
        title = html.escape(found.title)
        body = (
            f"<h1>Sự vụ #{case_id}</h1><p>{title}</p><p>Mức độ: {html.escape(found.severity)}</p>"
            f"<form method='post' action='ack'><input type='hidden' name='t' value='{html.escape(token, quote=True)}'>"
            "<button type='submit'>Xác nhận đã nhận sự vụ</button></form>"
        )
        return self._reply(start_response, "200 OK", f"Sự vụ #{case_id}", body)

    def _acknowledge(
        self, start_response: StartResponse, token: str, case_id: int
    ) -> Iterable[bytes]:
        try:
            with db.transaction(self.app.sessions) as session:
                cases.transition(
                    session, case_id, "ack", actor=ACTOR, channel="email-link",
                    note=f"link {acklinks.nonce_of(token)}", now=self.clock(),
                )  # fmt: skip
        except cases.IllegalTransition:
            body = f"<h1>Sự vụ #{case_id} đã được nhận trước đó.</h1>"
            return self._reply(start_response, "200 OK", "Đã nhận trước đó", body)
        logger.info("case %d acknowledged from a link", case_id)
        return self._reply(
            start_response,
            "200 OK",
            "Đã nhận",
            f"<h1>Đã nhận sự vụ #{case_id}.</h1><p>Cảm ơn. Cảnh báo cho sự vụ này dừng lại.</p>",
        )

    def _reply(
        self,
        start_response: StartResponse,
        status: str,
        title: str,
        body: str,
        headers: list[tuple[str, str]] | None = None,
    ) -> Iterable[bytes]:
        content = page(title, body)
        start_response(status, [
            ("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(content))),
            ("Cache-Control", "no-store"), ("Referrer-Policy", "no-referrer"),
            ("X-Robots-Tag", "noindex"), *(headers or []),
        ])  # fmt: skip
        return [content]


def _first(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name)
    return values[0] if values else ""


def _form_token(environ: dict[str, Any]) -> str:
    try:
        length = min(int(environ.get("CONTENT_LENGTH") or 0), MAX_FORM)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length).decode("utf-8", "replace") if length > 0 else ""
    return _first(parse_qs(body), "t")


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        logger.info("ack web: " + format, *args)


def start_server(
    app: App, host: str, port: int, clock: Clock = _now
) -> tuple[WSGIServer, threading.Thread]:
    """Serve the acknowledgement pages in a daemon thread; stop with ``server.shutdown()``."""
    server = make_server(host, port, AckApp(app, clock), handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.5,), name="ack-web", daemon=True)
    thread.start()
    logger.info("acknowledgement links served on http://%s:%d/ack", host, server.server_port)
    return server, thread
