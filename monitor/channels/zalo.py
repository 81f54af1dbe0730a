"""Zalo Official Account API v3: a consultation message to a follower (recipient: user_id).

The OA access token travels in the ``access_token`` header. Zalo answers HTTP 200 for refusals
too, with ``{"error": <code>, "message": ...}``; the code says whether retrying can help.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from crawlers.apis import redact
from monitor.channels.base import (
    ChannelError,
    Message,
    PermanentChannelError,
    TransientChannelError,
    http_client,
    json_object,
    post,
    require_secret,
    status_error,
    with_link,
)

logger = logging.getLogger(__name__)
MAX_TEXT = 2000
TOKEN_INVALID = {-216: "invalid", -124: "expired"}
RATE_LIMITED = {-32}
# The OA may only write to followers who talked to it recently; the code for each case, as the
# Zalo docs list them. Permanent for this send: the person must follow / message the OA first.
NOT_REACHABLE = {-201, -213, -230}


class ZaloChannel:
    """Messages from the Official Account to a follower, by Zalo user id."""

    name = "zalo"

    def __init__(
        self,
        api_url: str,
        token: str | None,
        token_env: str = "ZALO_OA_ACCESS_TOKEN",
        transport: httpx.BaseTransport | None = None,
    ):
        self.api_url = api_url
        self.token = token
        self.token_env = token_env
        self.client = http_client(transport)

    def send(self, recipient: str, message: Message) -> None:
        """Send the subject, text and acknowledgement link (at most 2000 characters) to a user."""
        token = require_secret(self.token, self.token_env, self.name, "OA access token")
        payload = {"recipient": {"user_id": recipient}, "message": {"text": zalo_text(message)}}
        response = post(
            self.client,
            self.name,
            self.api_url,
            token,
            json=payload,
            headers={"access_token": token},
        )
        body = json_object(response)
        if not response.is_success:
            detail = redact(str(body.get("message") or response.reason_phrase), token)
            raise status_error(self.name, response, f"message to user {recipient}: {detail}")
        if body.get("error") != 0:
            raise self._refusal(recipient, body, token)
        logger.info("zalo: sent to user %s", recipient)

    def close(self) -> None:
        """Release the connections."""
        self.client.close()

    def _refusal(self, user: str, body: dict[str, Any], token: str) -> ChannelError:
        """What a non-zero Zalo error code means for this send."""
        code = body.get("error")
        said = redact(str(body.get("message") or "no message"), token)
        if not isinstance(code, int):
            return TransientChannelError(f"zalo: not an answer of the API: {said[:200]}")
        if code in TOKEN_INVALID:
            return PermanentChannelError(
                f"zalo: the OA access token is {TOKEN_INVALID[code]}: renew it and set "
                f"{self.token_env} ({said}, error {code})"
            )
        if code in RATE_LIMITED:
            return TransientChannelError(
                f"zalo: rate limit or quota reached ({said}, error {code})"
            )
        if code in NOT_REACHABLE:
            return PermanentChannelError(
                f"zalo: user {user} cannot be messaged by the OA: not a follower or no interaction "
                f"in the last 7 days ({said}, error {code})"
            )
        return PermanentChannelError(f"zalo: message to user {user} refused: {said} (error {code})")


def zalo_text(message: Message) -> str:
    """Subject, text and link within Zalo's 2000 characters; the text is cut, never the link."""
    head = f"{message.subject}\n\n"
    full = with_link(head + message.text, message.link)
    if len(full) <= MAX_TEXT:
        return full
    tail = with_link("", message.link)
    room = MAX_TEXT - len(head) - len(tail) - 1
    return head + message.text[: max(room, 0)].rstrip() + "…" + tail
