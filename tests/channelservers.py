"""Real local servers for the notification channels, all on 127.0.0.1: an SMTP server (aiosmtpd)
with STARTTLS on a throwaway certificate authority (trustme) and AUTH LOGIN/PLAIN, and an HTTP API
server that records each request and answers what the test queued (Telegram, Zalo, webhooks).

Each is a context manager; the escalation tests use the same classes to see what reached whom.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session


@dataclass
class Received:
    """One mail as the server got it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    login: str | None

    def message(self) -> EmailMessage:
        """The mail parsed with the modern policy (decoded headers, get_body)."""
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Handler:
    def __init__(self, mails: list[Received], refuse: dict[str, str]) -> None:
        self.mails = mails
        self.refuse = refuse

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTPServer, session: Session, envelope: Envelope
    ) -> str:
        data = envelope.original_content or b""
        login = session.auth_data.login.decode() if session.auth_data else None
        self.mails.append(Received(envelope.mail_from or "", list(envelope.rcpt_tos), data, login))
        return "250 OK"


class _Controller(Controller):
    """aiosmtpd's controller on a port the system picks (it pokes its own port once started)."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpServer:
    """SMTP on 127.0.0.1 that requires STARTTLS before AUTH and checks one user's password."""

    def __init__(
        self, user: str = "canbo", password: str = "s3cret-pass", exclude: Iterable[str] = ()
    ) -> None:
        self.user, self.password = user, password
        self.mails: list[Received] = []
        # Recipient address -> the reply refusing it, e.g. "550 5.1.1 no such user".
        self.refuse: dict[str, str] = {}
        self.auth_attempts: list[tuple[str, str]] = []  # (mechanism, login)
        ca = trustme.CA()
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
        # What the channel must be given to trust the server: a context trusting this CA only.
        self.client_context = ssl.create_default_context()
        ca.configure_trust(self.client_context)
        self.controller = _Controller(
            _Handler(self.mails, self.refuse),
            hostname="127.0.0.1",
            port=0,
            server_hostname="mail.test",  # not socket.getfqdn(): no DNS lookup
            tls_context=server_ctx,
            require_starttls=True,
            authenticator=self._authenticate,
            auth_required=True,
            auth_exclude_mechanism=list(exclude),
        )

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self.controller.port)

    def _authenticate(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = data.login.decode(), data.password.decode()
        self.auth_attempts.append((mechanism, login))
        ok = login == self.user and password == self.password
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


@dataclass
class Request:
    """One request as the API server got it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    # With a signing secret set on the server: whether X-Monitor-Signature matched the body.
    signature_ok: bool | None = None

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class Reply:
    """What the server answers."""

    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True, "result": {}})
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        """The body bytes (JSON unless given as bytes)."""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


class ApiServer:
    """An HTTP server on 127.0.0.1 recording every request; answers come from per-path queues
    (the last reply of a queue repeats), else ``default``."""

    def __init__(self, default: Reply | None = None, secret: str | None = None) -> None:
        self.default = default or Reply()
        self.secret = secret
        self.requests: list[Request] = []
        self.queues: dict[str, list[Reply]] = {}
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str = "") -> str:
        """The full URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def reply(self, path: str, status: int = 200, body: Any = None, **headers: str) -> None:
        """Queue an answer for ``path``; header names use underscores for dashes."""
        named = {k.replace("_", "-"): v for k, v in headers.items()}
        self.queues.setdefault(path, []).append(
            Reply(status, Reply().body if body is None else body, named)
        )

    def _answer(self, request: Request) -> Reply:
        with self.lock:
            self.requests.append(request)
            queue = self.queues.get(request.path)
            if not queue:
                return self.default
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def _verify(self, headers: dict[str, str], body: bytes) -> bool | None:
        if self.secret is None:
            return None
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, headers.get("X-Monitor-Signature", ""))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = dict(self.headers)
                ok = server._verify(headers, body)
                reply = server._answer(Request(self.command, self.path, headers, body, ok))
                data = reply.encoded()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve  # noqa: N815 - the stdlib's names

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> ApiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
