"""Telegram Bot API: ``sendMessage`` to a chat, with an inline button for the acknowledgement
link, and ``getUpdates`` for the escalation engine's /ack command.

The bot token is part of every URL (``/bot<token>/method``), and httpx logs each request's URL at
INFO. So the client only ever sees ``/bot***/``; a transport wrapper puts the token in at the last
moment, on a copy of the request, and neither httpx's log lines nor its exceptions can carry it.
"""

from __future__ import annotations

import html
import logging
from typing import Any

import httpx

from crawlers.apis import redact
from monitor.channels.base import (
    ACK_LABEL,
    ChannelError,
    Message,
    PermanentChannelError,
    TransientChannelError,
    http_client,
    json_object,
    post,
    require_secret,
    status_error,
)

logger = logging.getLogger(__name__)
PLACEHOLDER = "/bot***/"
# Telegram's limit is 4096 characters after entities are parsed; keep room for subject and link.
MAX_TEXT = 3800


class _TokenTransport(httpx.BaseTransport):
    """Sends each request with the token in place of the placeholder, leaving the original as is."""

    def __init__(self, inner: httpx.BaseTransport, token: str):
        self.inner = inner
        self.token = token

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.replace(PLACEHOLDER.encode(), f"/bot{self.token}/".encode())
        real = httpx.Request(
            request.method,
            request.url.copy_with(raw_path=path),
            headers=request.headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        return self.inner.handle_request(real)

    def close(self) -> None:
        self.inner.close()


class TelegramChannel:
    """Messages to Telegram chats (recipient: the chat id) from the configured bot."""

    name = "telegram"

    def __init__(
        self,
        api_url: str,
        token: str | None,
        token_env: str = "TELEGRAM_BOT_TOKEN",
        transport: httpx.BaseTransport | None = None,
    ):
        self.base = api_url.rstrip("/") + PLACEHOLDER.rstrip("/")
        self.token = token
        self.token_env = token_env
        # The wrapper always sets a transport, so httpx reads no proxy from the environment.
        inner = transport or httpx.HTTPTransport()
        self.client = http_client(_TokenTransport(inner, token or ""))

    def send(self, recipient: str, message: Message) -> None:
        """Send the message to chat ``recipient``, with the acknowledgement button if linked."""
        payload = _payload(recipient, message)
        try:
            self._call("sendMessage", payload)
        except PermanentChannelError as exc:
            # Telegram refuses buttons to addresses it deems invalid (e.g. an intranet host):
            # the link is in the text as well, so the alert still goes out without the button.
            if "reply_markup" not in payload or "button" not in str(exc).lower():
                raise
            logger.warning("telegram: button refused (%s); sending without it", exc)
            del payload["reply_markup"]
            self._call("sendMessage", payload)
        logger.info("telegram: sent to chat %s", recipient)

    def get_updates(self, offset: int | None = None) -> list[dict[str, Any]]:
        """The bot's pending updates from ``offset`` on (no long polling: the caller schedules)."""
        payload: dict[str, Any] = {"timeout": 0, "allowed_updates": ["message"]}
        if offset is not None:
            payload["offset"] = offset
        result = self._call("getUpdates", payload)
        return [u for u in result if isinstance(u, dict)] if isinstance(result, list) else []

    def close(self) -> None:
        """Release the connections."""
        self.client.close()

    def _call(self, method: str, payload: dict[str, Any]) -> Any:
        token = require_secret(self.token, self.token_env, self.name, "bot token")
        response = post(self.client, self.name, f"{self.base}/{method}", token, json=payload)
        body = json_object(response)
        if response.is_success and body.get("ok") is True:
            return body.get("result")
        raise _error(method, payload.get("chat_id"), response, body, token)


def _payload(chat_id: str, message: Message) -> dict[str, Any]:
    """The sendMessage body: bold subject, the text, the link, all HTML-escaped."""
    text = message.text if len(message.text) <= MAX_TEXT else message.text[:MAX_TEXT] + "…"
    parts = [f"<b>{html.escape(message.subject)}</b>", html.escape(text)]
    if message.link and message.link not in message.text:
        link = html.escape(message.link)
        parts.append(f'{ACK_LABEL}: <a href="{link}">{link}</a>')
    payload: dict[str, Any] = {
        "chat_id": chat_id,
        "text": "\n\n".join(parts),
        "parse_mode": "HTML",
        "disable_web_page_preview": True,
    }
    if message.link:
        button = {"text": ACK_LABEL, "url": message.link}
        payload["reply_markup"] = {"inline_keyboard": [[button]]}
    return payload


def _error(
    method: str, chat: object, response: httpx.Response, body: dict[str, Any], token: str
) -> ChannelError:
    """What a refused call means: 429 wait, 401 a bad token, 400/403 this chat, 5xx later."""
    reason = body.get("description") or response.reason_phrase or "no description"
    description = redact(str(reason), token)  # an API or proxy may echo the URL
    params = body.get("parameters")
    params = params if isinstance(params, dict) else {}
    if response.is_success:  # HTTP 200 without ok: true, e.g. a proxy's page
        return TransientChannelError(f"telegram: {method}: not an answer of the API (HTTP 200)")
    if response.status_code == 401:
        return PermanentChannelError("telegram: the API refused the bot token (HTTP 401)")
    if "migrate_to_chat_id" in params:
        description += f"; the group moved to chat {params['migrate_to_chat_id']}"
    where = f" to chat {chat}" if chat is not None else ""
    retry_after = params.get("retry_after")
    wait = float(retry_after) if isinstance(retry_after, int | float) else None
    return status_error("telegram", response, f"{method}{where}: {description}", wait)
