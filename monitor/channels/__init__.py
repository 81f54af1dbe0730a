"""Notification channels, built from ``notify.channels``: one adapter per way of reaching people,
each behind ``Channel`` (``send(recipient, message)``, one attempt, ``ChannelError`` on failure).

Secrets are read here, once, from the environment; a missing one does not stop start-up: the
channel is built and each send fails permanently, naming the variable to set.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable

import httpx

from monitor.channels.base import (
    Channel,
    ChannelError,
    Message,
    PermanentChannelError,
    TransientChannelError,
)
from monitor.channels.email import EmailChannel
from monitor.channels.telegram import TelegramChannel
from monitor.channels.webhook import WebhookChannel
from monitor.channels.zalo import ZaloChannel
from monitor.config_notify import NotifySettings

__all__ = [
    "Channel",
    "ChannelError",
    "EmailChannel",
    "Message",
    "PermanentChannelError",
    "TelegramChannel",
    "TransientChannelError",
    "WebhookChannel",
    "ZaloChannel",
    "build_channels",
]


def build_channels(
    notify: NotifySettings,
    secret: Callable[[str], str | None] = os.environ.get,
    *,
    transport: httpx.BaseTransport | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> dict[str, Channel]:
    """The configured channels by name; ``notify.enabled`` is the sender's to check, not this."""
    cfg = notify.channels
    channels: dict[str, Channel] = {}
    if cfg.email is not None:
        e = cfg.email
        channels["email"] = EmailChannel(
            e.host,
            e.port,
            e.sender,
            starttls=e.starttls,
            username=e.username,
            password=secret(e.password_env) if e.username else None,
            password_env=e.password_env,
            timeout=e.timeout,
            ssl_context=ssl_context,
        )
    if cfg.telegram is not None:
        t = cfg.telegram
        channels["telegram"] = TelegramChannel(
            t.api_url, secret(t.token_env), t.token_env, transport
        )
    if cfg.zalo is not None:
        z = cfg.zalo
        channels["zalo"] = ZaloChannel(z.api_url, secret(z.token_env), z.token_env, transport)
    if cfg.webhook is not None:
        w = cfg.webhook
        channels["webhook"] = WebhookChannel(w.url, secret(w.secret_env), w.secret_env, transport)
    return channels
