"""A generic JSON webhook, signed so the receiver can trust it came from the monitor.

The body is ``{event, case_id, recipient, subject, text, link, key, sent_at}`` as UTF-8 JSON;
``X-Monitor-Signature: sha256=<hex>`` is the HMAC-SHA256 of those exact bytes with the shared
secret. ``X-Monitor-Timestamp`` repeats ``sent_at`` (Unix seconds); since ``sent_at`` is inside the
signed body, a receiver can refuse replays of old deliveries. ``Idempotency-Key`` carries the
message's key, so a receiver can drop a delivery the monitor retried after a lost answer.

The URL is the configured one; ``recipient`` (the person the notification is for) goes in the
body, so one endpoint can route notifications for several people.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from monitor.channels.base import (
    Message,
    PermanentChannelError,
    http_client,
    post,
    require_secret,
    status_error,
)

logger = logging.getLogger(__name__)
EVENT = "case.notification"


def sign(body: bytes, secret: str) -> str:
    """The X-Monitor-Signature value for ``body``: ``sha256=`` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class WebhookChannel:
    """JSON POSTs to the configured URL, signed with the shared secret."""

    name = "webhook"

    def __init__(
        self,
        url: str | None,
        secret: str | None,
        secret_env: str = "MONITOR_WEBHOOK_SECRET",
        transport: httpx.BaseTransport | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.url = url
        self.secret = secret
        self.secret_env = secret_env
        self.now = now
        self.client = http_client(transport)

    def send(self, recipient: str, message: Message) -> None:
        """POST the message once; 2xx is delivered, 429/5xx transient, other 4xx permanent."""
        if not self.url:
            raise PermanentChannelError("webhook: set notify.channels.webhook.url (it is not set)")
        secret = require_secret(self.secret, self.secret_env, self.name, "signing secret")
        sent = self.now().astimezone(UTC).replace(microsecond=0)
        body = self.body(recipient, message, sent)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Monitor-Signature": sign(body, secret),
            "X-Monitor-Timestamp": str(int(sent.timestamp())),
        }
        if message.key:
            headers["Idempotency-Key"] = message.key
        response = post(self.client, self.name, self.url, secret, content=body, headers=headers)
        if not response.is_success:
            # The host only: some receivers put their own secret in the URL's path or query.
            host = httpx.URL(self.url).host
            raise status_error(self.name, response, f"POST to {host} refused")
        logger.info("webhook: delivered for %s (HTTP %d)", recipient, response.status_code)

    def body(self, recipient: str, message: Message, sent: datetime) -> bytes:
        """The exact bytes that are signed and sent."""
        payload = {
            "event": EVENT,
            "case_id": message.case_id,
            "recipient": recipient,
            "subject": message.subject,
            "text": message.text,
            "link": message.link,
            "key": message.key,
            "sent_at": sent.isoformat().replace("+00:00", "Z"),
        }
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def close(self) -> None:
        """Release the connections."""
        self.client.close()
