"""Email over SMTP: STARTTLS, login, and a message with a plain-text part and an HTML alternative
whose inline images (charts) travel as ``multipart/related`` parts referenced by Content-ID.

One connection per send: notifications are rare and a kept-open SMTP session would time out
between them. Vietnamese subjects are RFC 2047 encoded and bodies quoted-printable UTF-8, so the
message is 7-bit clean for any relay.
"""

from __future__ import annotations

import base64
import hashlib
import html
import logging
import smtplib
import ssl
from datetime import datetime
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from monitor.channels.base import (
    ACK_LABEL,
    ChannelError,
    Message,
    PermanentChannelError,
    TransientChannelError,
    require_secret,
    with_link,
)

logger = logging.getLogger(__name__)


class EmailChannel:
    """Mail through the configured SMTP server (recipient: an email address)."""

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        starttls: bool = True,
        username: str | None = None,
        password: str | None = None,
        password_env: str = "MONITOR_SMTP_PASSWORD",
        timeout: float = 20.0,
        ssl_context: ssl.SSLContext | None = None,
    ):
        self.host, self.port, self.sender = host, port, sender
        self.starttls, self.username, self.timeout = starttls, username, timeout
        self.password, self.password_env = password, password_env
        self.ssl_context = ssl_context

    def send(self, recipient: str, message: Message) -> None:
        """Connect, secure, log in and hand the message over for ``recipient``; one attempt."""
        password = None
        if self.username:
            password = require_secret(self.password, self.password_env, self.name, "SMTP password")
        try:
            self._deliver(build_email(self.sender, recipient, message), password)
        except Exception as exc:  # smtplib raises many types; smtp_error maps each
            raise smtp_error(exc, self.host, self.port, recipient, password) from None
        logger.info("email: sent to %s", recipient)

    def _deliver(self, mail: EmailMessage, password: str | None) -> None:
        # Not ``with SMTP``: its QUIT on the way out of a failed exchange can replace the real
        # error with the server's answer to that QUIT.
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            smtp.ehlo()
            if self.starttls:
                smtp.starttls(context=self.ssl_context or ssl.create_default_context())
                smtp.ehlo()
            if self.username and password is not None:
                login(smtp, self.username, password)
            smtp.send_message(mail)
            smtp.quit()
        finally:
            smtp.close()

    def close(self) -> None:
        """Nothing to release: each send has its own connection."""


def login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """Log in; smtplib sends only ASCII credentials, so others go as UTF-8 AUTH PLAIN (RFC 4616)."""
    if (user + password).isascii():
        smtp.login(user, password)
        return
    if "PLAIN" not in smtp.esmtp_features.get("auth", "").upper().split():
        raise smtplib.SMTPNotSupportedError("AUTH PLAIN, needed for non-ASCII credentials")
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode("ascii")
    code, said = smtp.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, said)


def build_email(sender: str, recipient: str, message: Message) -> EmailMessage:
    """The message: plain text, and the HTML alternative with its inline images when given."""
    mail = EmailMessage()
    subject = " ".join(message.subject.split())  # one line: no header injection
    if subject.isascii():
        mail["Subject"] = subject
    else:
        # The modern policy's folding drops the space at a fold between two encoded words (46
        # of 300 random Vietnamese subjects lost one on Python 3.11); the legacy encoder keeps
        # spaces inside the encoded words, and set_raw emits its lines as they are.
        mail.set_raw("Subject", Header(subject, "utf-8", header_name="Subject").encode())
    mail["From"] = sender
    mail["To"] = recipient
    mail["Date"] = format_datetime(datetime.now().astimezone())
    mail["Message-ID"] = _message_id(sender, message.key)
    mail.set_content(with_link(message.text, message.link), cte="quoted-printable")
    if message.html is None:
        return mail
    mail.add_alternative(
        html_with_link(message.html, message.link), subtype="html", cte="quoted-printable"
    )
    html_part = mail.get_body(preferencelist=("html",))
    assert isinstance(html_part, EmailMessage)  # the alternative just added
    for cid, png in message.images:
        html_part.add_related(png, "image", "png", cid=f"<{cid.strip('<>')}>")
    return mail


def html_with_link(body: str, link: str | None) -> str:
    """The HTML with the acknowledgement link as a paragraph before ``</body>``, unless present."""
    if not link or link in body or html.escape(link) in body:
        return body
    anchor = f'<p><a href="{html.escape(link)}">{html.escape(ACK_LABEL)}</a></p>'
    at = body.lower().rfind("</body>")
    return body + anchor if at < 0 else body[:at] + anchor + body[at:]


def _message_id(sender: str, key: str | None) -> str:
    """A Message-ID; from the idempotency key when given, so a resent mail is the same mail."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"  # also "Name <a@b>"
    if not key:
        return make_msgid(domain=domain)
    return f"<{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}@{domain}>"


def smtp_error(
    exc: Exception, host: str, port: int, recipient: str, password: str | None
) -> ChannelError:
    """What a failed SMTP exchange means: auth and 5xx refusals permanent, the rest transient."""
    where = f"email: {host}:{port}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return PermanentChannelError(f"{where}: login refused ({_reply(exc, password)})")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentChannelError(f"{where}: the server does not offer it: {exc}")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, said = next(iter(exc.recipients.values()), (550, b"refused"))
        return _by_code(code, f"{where}: recipient {recipient} refused ({code} {_text(said)})")
    if isinstance(exc, smtplib.SMTPResponseException):
        return _by_code(exc.smtp_code, f"{where}: {_reply(exc, password)}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentChannelError(f"{where}: the server's certificate is not trusted ({exc})")
    if isinstance(exc, OSError | smtplib.SMTPException):
        return TransientChannelError(f"{where}: {type(exc).__name__}: {exc}")
    if isinstance(exc, ValueError):  # an address or header the message cannot carry
        return PermanentChannelError(f"{where}: cannot send to {recipient!r}: {exc}")
    return TransientChannelError(f"{where}: {type(exc).__name__}: {exc}")


def _by_code(code: int, message: str) -> ChannelError:
    """5xx refusals are final; 4xx ones (greylisting, a full mailbox) may pass later."""
    return PermanentChannelError(message) if code >= 500 else TransientChannelError(message)


def _reply(exc: smtplib.SMTPResponseException, password: str | None) -> str:
    text = f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return text.replace(password, "***") if password else text


def _text(said: bytes | str) -> str:
    return said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
