"""The notification channels against real servers on 127.0.0.1: SMTP with STARTTLS and login,
and HTTP servers standing in for the Telegram Bot API, the Zalo OA API and a webhook receiver.
Each send is one attempt: a failure says whether and when to retry, and nothing sleeps."""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from monitor.channels import (
    ChannelError,
    EmailChannel,
    Message,
    TelegramChannel,
    WebhookChannel,
    ZaloChannel,
    build_channels,
)
from monitor.channels.email import build_email
from monitor.config_notify import NotifySettings
from tests.channelservers import ApiServer, Reply, SmtpServer
from tests.conftest import AppFactory

TOKEN = "123456:AAE-bot-token-secret"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
LINK = "http://127.0.0.1:8080/ack/42?sig=abc&exp=1700000000"
VI_SUBJECT = "Khẩn: sạt lở đất ở huyện Trà Bồng <cấp độ 3> & cảnh báo"
VI_TEXT = "Người dân phản ánh đường bị chia cắt; cần xác minh ngay."
MESSAGE = Message(
    subject=VI_SUBJECT,
    text=VI_TEXT,
    html='<html><body><p>Người dân phản ánh</p><img src="cid:chart-volume"></body></html>',
    link=LINK,
    images=(("chart-volume", PNG),),
    case_id=42,
    key="case-42/tier-1/round-0/duty/email",
)


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def refused(send: object) -> ChannelError:
    """The ChannelError a send raised."""
    assert callable(send)
    with pytest.raises(ChannelError) as info:
        send()
    return info.value


# -- email -----------------------------------------------------------------------------------


@pytest.fixture(params=["LOGIN", "PLAIN"])
def mechanism(request: pytest.FixtureRequest) -> str:
    """The one AUTH mechanism the server offers, so each is exercised."""
    return str(request.param)


@pytest.fixture
def smtp(mechanism: str) -> Iterator[SmtpServer]:
    """A STARTTLS + AUTH SMTP server on 127.0.0.1."""
    with SmtpServer(exclude={"LOGIN", "PLAIN"} - {mechanism}) as server:
        yield server


def mailer(smtp: SmtpServer, password: str | None = None, **kwargs: object) -> EmailChannel:
    options: dict[str, object] = {
        "username": smtp.user,
        "password": smtp.password if password is None else password,
        "ssl_context": smtp.client_context,
        "timeout": 5.0,
    }
    options.update(kwargs)
    sender = "Giám sát tin tức <giam-sat@tinh.gov.vn>"
    return EmailChannel("127.0.0.1", smtp.port, sender, **options)  # type: ignore[arg-type]


def test_email_starttls_login_and_a_full_message(smtp: SmtpServer, mechanism: str) -> None:
    mailer(smtp).send("truc-ban@tinh.gov.vn", MESSAGE)

    [mail] = smtp.mails
    assert mail.rcpt_tos == ["truc-ban@tinh.gov.vn"] and mail.login == smtp.user
    assert mail.mail_from == "giam-sat@tinh.gov.vn"
    assert smtp.auth_attempts == [(mechanism, smtp.user)]
    assert max(mail.data) < 128  # 7-bit clean: RFC 2047 subject, quoted-printable bodies
    parsed = mail.message()
    assert parsed["Subject"] == VI_SUBJECT and parsed["From"].addresses[0].display_name == (
        "Giám sát tin tức"
    )
    plain = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert plain is not None and html is not None
    assert VI_TEXT in plain.get_content() and LINK in plain.get_content()
    assert "Người dân phản ánh" in html.get_content()
    assert 'href="http://127.0.0.1:8080/ack/42?sig=abc&amp;exp=1700000000"' in html.get_content()
    [image] = [p for p in parsed.walk() if p.get_content_type() == "image/png"]
    assert image["Content-ID"] == "<chart-volume>" and image.get_payload(decode=True) == PNG
    related = [p for p in parsed.walk() if p.get_content_type() == "multipart/related"]
    assert len(related) == 1


def test_email_utf8_password_over_plain() -> None:
    with SmtpServer(password="mật-khẩu", exclude=["LOGIN"]) as smtp:
        mailer(smtp).send("a@tinh.gov.vn", MESSAGE)
    assert smtp.auth_attempts == [("PLAIN", smtp.user)] and len(smtp.mails) == 1


def test_email_idempotency_key_gives_a_stable_message_id(smtp: SmtpServer) -> None:
    channel = mailer(smtp)
    channel.send("a@tinh.gov.vn", MESSAGE)
    channel.send("a@tinh.gov.vn", MESSAGE)
    channel.send("a@tinh.gov.vn", Message("Không khoá", "văn bản"))
    ids = [m.message()["Message-ID"] for m in smtp.mails]
    assert ids[0] == ids[1] != ids[2] and ids[0].endswith("@tinh.gov.vn>")
    assert smtp.mails[2].message().get_content_type() == "text/plain"


def test_email_wrong_password_is_permanent_and_secret_free(smtp: SmtpServer) -> None:
    error = refused(
        lambda: mailer(smtp, password="wrong-password-9").send("a@tinh.gov.vn", MESSAGE)
    )
    assert not error.transient and "login refused" in str(error)
    assert "wrong-password-9" not in str(error) and smtp.mails == []


def test_email_missing_password_names_the_variable(smtp: SmtpServer) -> None:
    channel = mailer(smtp, password="", password_env="MONITOR_SMTP_PASSWORD")
    error = refused(lambda: channel.send("a@tinh.gov.vn", MESSAGE))
    assert not error.transient and "set MONITOR_SMTP_PASSWORD" in str(error)


def test_email_untrusted_certificate_is_permanent(smtp: SmtpServer) -> None:
    error = refused(
        lambda: mailer(smtp, ssl_context=ssl.create_default_context()).send(
            "a@tinh.gov.vn", MESSAGE
        )
    )
    assert not error.transient and "certificate" in str(error)


@pytest.mark.parametrize(
    ("reply", "transient"),
    [("550 5.1.1 <x@tinh.gov.vn>: no such user", False), ("450 4.2.1 mailbox busy", True)],
)
def test_email_refused_recipient(smtp: SmtpServer, reply: str, transient: bool) -> None:
    smtp.refuse["x@tinh.gov.vn"] = reply
    error = refused(lambda: mailer(smtp).send("x@tinh.gov.vn", MESSAGE))
    assert error.transient is transient and "x@tinh.gov.vn" in str(error)


def test_email_server_down_is_transient() -> None:
    channel = EmailChannel("127.0.0.1", closed_port(), "giam-sat@tinh.gov.vn", timeout=2.0)
    error = refused(lambda: channel.send("a@tinh.gov.vn", MESSAGE))
    assert error.transient and error.retry_after is None


def test_email_vietnamese_subjects_keep_every_space() -> None:
    words = [*VI_SUBJECT.split(), *VI_TEXT.split()]
    for n in range(3, 40):
        subject = " ".join(words[i % len(words)] for i in range(n))
        raw = build_email("a@tinh.gov.vn", "b@tinh.gov.vn", Message(subject, "x")).as_bytes()
        parsed = message_from_bytes(raw, policy=policy.default)
        assert parsed["Subject"] == subject


# -- Telegram --------------------------------------------------------------------------------

SEND = f"/bot{TOKEN}/sendMessage"


@pytest.fixture
def api() -> Iterator[ApiServer]:
    """An HTTP API server on 127.0.0.1 recording requests."""
    with ApiServer() as server:
        yield server


@pytest.fixture
def telegram(api: ApiServer) -> Iterator[TelegramChannel]:
    channel = TelegramChannel(api.url(), TOKEN)
    yield channel
    channel.close()


def test_telegram_send_message_with_the_ack_button(
    api: ApiServer, telegram: TelegramChannel
) -> None:
    telegram.send("-100123", MESSAGE)

    [request] = api.requests
    assert (request.method, request.path) == ("POST", SEND)
    body = request.json()
    assert body["chat_id"] == "-100123" and body["parse_mode"] == "HTML"
    assert body["disable_web_page_preview"] is True
    assert body["text"].startswith("<b>Khẩn: sạt lở đất ở huyện Trà Bồng &lt;cấp độ 3&gt; &amp;")
    assert VI_TEXT in body["text"] and "sig=abc&amp;exp=" in body["text"]
    assert body["reply_markup"] == {
        "inline_keyboard": [[{"text": "Đã nhận / Acknowledge", "url": LINK}]]
    }


def test_telegram_429_is_transient_with_retry_after(
    api: ApiServer, telegram: TelegramChannel
) -> None:
    api.reply(
        SEND,
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 5",
            "parameters": {"retry_after": 5},
        },
    )
    error = refused(lambda: telegram.send("-100123", MESSAGE))
    assert error.transient and error.retry_after == 5
    assert len(api.requests) == 1  # one attempt; waiting is the escalation engine's business


@pytest.mark.parametrize(
    ("status", "description"),
    [(400, "Bad Request: chat not found"), (403, "Forbidden: bot was blocked by the user")],
)
def test_telegram_refused_chat_is_permanent(
    api: ApiServer, telegram: TelegramChannel, status: int, description: str
) -> None:
    api.reply(SEND, status, {"ok": False, "error_code": status, "description": description})
    error = refused(lambda: telegram.send("42", MESSAGE))
    assert not error.transient and description in str(error) and "chat 42" in str(error)


def test_telegram_server_error_is_transient(api: ApiServer, telegram: TelegramChannel) -> None:
    api.reply(SEND, 502, b"<html>Bad Gateway</html>")
    assert refused(lambda: telegram.send("42", MESSAGE)).transient


def test_telegram_token_never_in_errors_or_logs(
    api: ApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # the CLI quiets it; other tests run it
    api.reply(SEND, 400, {"ok": False, "description": f"Bad Request: echo /bot{TOKEN}/"})
    api.reply(f"/bot{TOKEN}/getUpdates", 401, {"ok": False, "description": "Unauthorized"})
    channel = TelegramChannel(api.url(), TOKEN)
    down = TelegramChannel(f"http://127.0.0.1:{closed_port()}", TOKEN)
    errors = [
        refused(lambda: channel.send("42", MESSAGE)),
        refused(lambda: channel.get_updates(7)),
        refused(lambda: down.send("42", MESSAGE)),
    ]
    channel.close()
    down.close()
    assert [e.transient for e in errors] == [False, False, True]
    assert all(TOKEN not in str(e) for e in errors)
    assert "/bot***/sendMessage" in caplog.text  # httpx logged the request, token masked
    assert TOKEN not in caplog.text
    assert api.requests[0].path == SEND  # the server did get the real token


def test_telegram_missing_token_names_the_variable(api: ApiServer) -> None:
    channel = TelegramChannel(api.url(), None, "TELEGRAM_BOT_TOKEN")
    error = refused(lambda: channel.send("42", MESSAGE))
    channel.close()
    assert not error.transient and "set TELEGRAM_BOT_TOKEN" in str(error)
    assert api.requests == []


def test_telegram_refused_button_resends_without_it(
    api: ApiServer, telegram: TelegramChannel
) -> None:
    api.reply(SEND, 400, {"ok": False, "description": "Bad Request: BUTTON_URL_INVALID"})
    api.reply(SEND, 200, {"ok": True, "result": {"message_id": 1}})
    telegram.send("42", MESSAGE)
    first, second = (r.json() for r in api.requests)
    assert "reply_markup" in first and "reply_markup" not in second
    assert LINK.replace("&", "&amp;") in second["text"]


def test_telegram_get_updates(api: ApiServer, telegram: TelegramChannel) -> None:
    update = {"update_id": 8, "message": {"chat": {"id": 42}, "text": "/ack 17"}}
    api.reply(f"/bot{TOKEN}/getUpdates", 200, {"ok": True, "result": [update]})
    assert telegram.get_updates(8) == [update]
    assert api.requests[0].json()["offset"] == 8 and api.requests[0].json()["timeout"] == 0


# -- Zalo ------------------------------------------------------------------------------------


@pytest.fixture
def zalo(api: ApiServer) -> Iterator[ZaloChannel]:
    channel = ZaloChannel(api.url("/v3.0/oa/message/cs"), "zalo-oa-token")
    yield channel
    channel.close()


def test_zalo_message_to_a_follower(api: ApiServer, zalo: ZaloChannel) -> None:
    api.reply("/v3.0/oa/message/cs", 200, {"error": 0, "message": "Success", "data": {}})
    zalo.send("8412345", MESSAGE)
    [request] = api.requests
    assert request.headers["access_token"] == "zalo-oa-token"
    body = request.json()
    assert body["recipient"] == {"user_id": "8412345"}
    assert body["message"]["text"].startswith(VI_SUBJECT) and LINK in body["message"]["text"]


def test_zalo_long_text_is_cut_but_keeps_the_link(api: ApiServer, zalo: ZaloChannel) -> None:
    api.reply("/v3.0/oa/message/cs", 200, {"error": 0, "message": "Success"})
    zalo.send("1", Message("Tiêu đề", "Nội dung dài. " * 500, link=LINK))
    text = api.requests[0].json()["message"]["text"]
    assert len(text) <= 2000 and text.endswith(LINK)


@pytest.mark.parametrize(
    ("code", "said", "transient", "words"),
    [
        (-216, "Access token is invalid", False, "token is invalid"),
        (-124, "Access token has expired", False, "ZALO_OA_ACCESS_TOKEN"),
        (-32, "Request exceeds limit", True, "rate limit"),
        (-213, "User has not followed OA", False, "not a follower"),
        (-999, "Something else", False, "Something else"),
    ],
)
def test_zalo_error_codes(
    api: ApiServer, zalo: ZaloChannel, code: int, said: str, transient: bool, words: str
) -> None:
    api.reply("/v3.0/oa/message/cs", 200, {"error": code, "message": said})
    error = refused(lambda: zalo.send("8412345", MESSAGE))
    assert error.transient is transient and words in str(error) and str(code) in str(error)
    assert "zalo-oa-token" not in str(error)


# -- webhook ---------------------------------------------------------------------------------

SENT = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


@pytest.fixture
def receiver() -> Iterator[ApiServer]:
    """A webhook receiver that checks each signature with the shared secret."""
    with ApiServer(default=Reply(204, b""), secret="chia-se-bi-mat") as server:
        yield server


def hook(receiver: ApiServer, secret: str | None = "chia-se-bi-mat") -> WebhookChannel:
    return WebhookChannel(receiver.url("/hooks/monitor"), secret, now=lambda: SENT)


def test_webhook_signed_json(receiver: ApiServer) -> None:
    channel = hook(receiver)
    channel.send("duty-officer", MESSAGE)
    channel.close()
    [request] = receiver.requests
    assert request.signature_ok is True
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.headers["Idempotency-Key"] == MESSAGE.key
    assert request.headers["X-Monitor-Timestamp"] == str(int(SENT.timestamp()))
    assert request.json() == {
        "event": "case.notification",
        "case_id": 42,
        "recipient": "duty-officer",
        "subject": VI_SUBJECT,
        "text": VI_TEXT,
        "link": LINK,
        "key": MESSAGE.key,
        "sent_at": "2025-03-04T05:06:07Z",
    }


def test_webhook_wrong_secret_fails_verification(receiver: ApiServer) -> None:
    hook(receiver, secret="another-secret").send("duty-officer", MESSAGE)
    assert receiver.requests[0].signature_ok is False


@pytest.mark.parametrize(
    ("status", "headers", "transient", "retry_after"),
    [(503, {"Retry_After": "30"}, True, 30.0), (429, {}, True, None), (400, {}, False, None)],
)
def test_webhook_refusals(
    receiver: ApiServer,
    status: int,
    headers: dict[str, str],
    transient: bool,
    retry_after: float | None,
) -> None:
    receiver.reply("/hooks/monitor", status, b"{}", **headers)
    error = refused(lambda: hook(receiver).send("duty-officer", MESSAGE))
    assert (error.transient, error.retry_after) == (transient, retry_after)
    assert "chia-se-bi-mat" not in str(error)


def test_webhook_missing_secret_names_the_variable(receiver: ApiServer) -> None:
    error = refused(lambda: hook(receiver, secret=None).send("duty-officer", MESSAGE))
    assert not error.transient and "set MONITOR_WEBHOOK_SECRET" in str(error)
    assert receiver.requests == []


# -- building from settings ------------------------------------------------------------------


def test_build_channels_builds_only_the_configured_ones() -> None:
    assert build_channels(NotifySettings()) == {}
    notify = NotifySettings.model_validate(
        {"channels": {"telegram": {"token_env": "TG"}, "webhook": {"url": "http://h/x"}}}
    )
    asked: list[str] = []

    def secret(name: str) -> str | None:
        asked.append(name)
        return {"TG": TOKEN}.get(name)

    channels = build_channels(notify, secret)
    assert sorted(channels) == ["telegram", "webhook"]
    assert sorted(asked) == ["MONITOR_WEBHOOK_SECRET", "TG"]
    assert all(c.name == n for n, c in channels.items())
    error = refused(lambda: channels["webhook"].send("x", MESSAGE))
    assert "set MONITOR_WEBHOOK_SECRET" in str(error)
    for channel in channels.values():
        channel.close()  # type: ignore[attr-defined]


def test_build_channels_email_gets_the_tls_context(smtp: SmtpServer) -> None:
    notify = NotifySettings.model_validate(
        {"channels": {"email": {"port": smtp.port, "username": smtp.user, "sender": "m@t.vn"}}}
    )
    channels = build_channels(
        notify, {"MONITOR_SMTP_PASSWORD": smtp.password}.get, ssl_context=smtp.client_context
    )
    channels["email"].send("a@tinh.gov.vn", MESSAGE)
    assert len(smtp.mails) == 1


def test_app_channels_come_from_settings(make_app: AppFactory) -> None:
    app = make_app([], notify={"channels": {"zalo": {}, "webhook": {}}})
    assert sorted(app.channels) == ["webhook", "zalo"]
    for channel in app.channels.values():
        channel.close()
