"""Signed, expiring acknowledgement links, so an officer can acknowledge a case from a phone.

A token is ``<case id>.<expiry, unix seconds>.<nonce>.<signature>``, every part URL-safe; the
signature is HMAC-SHA256 under the key in the environment variable ``notify.secret_env``, over
a purpose label and the other three parts. Nothing is stored: a token is valid while its
signature checks and it has not expired; acknowledging twice is refused by the case workflow.

    AckLinkError     the token cannot be used (403)
    ├── ForgedLink   malformed, or not signed with this key
    └── ExpiredLink  signed, but past its expiry
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from monitor.config import Settings
from monitor.errors import ConfigError

_PURPOSE = b"monitor-ack-v1\n"
# A key shorter than this is a placeholder, not a secret: links signed with it could be forged.
MIN_KEY_LENGTH = 16


class AckLinkError(Exception):
    """The acknowledgement token cannot be used."""


class ForgedLink(AckLinkError):
    """The token is malformed or was not signed with this key."""


class ExpiredLink(AckLinkError):
    """The token was signed with this key but has expired."""


def signing_key(settings: Settings, secret: Callable[[str], str | None] = os.environ.get) -> bytes:
    """The link-signing key from the environment; ConfigError naming the variable if unusable."""
    name = settings.notify.secret_env
    value = secret(name) or ""
    if len(value) < MIN_KEY_LENGTH:
        raise ConfigError(
            f"notify.secret_env: set {name} to a random key of at least {MIN_KEY_LENGTH} "
            "characters (it signs acknowledgement links)"
        )
    return value.encode()


def _signature(key: bytes, body: str) -> str:
    digest = hmac.new(key, _PURPOSE + body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(case_id: int, expires: datetime, key: bytes, nonce: str | None = None) -> str:
    """A token acknowledging ``case_id`` until ``expires``."""
    nonce = nonce or secrets.token_urlsafe(9)
    body = f"{case_id}.{int(expires.timestamp())}.{nonce}"
    return f"{body}.{_signature(key, body)}"


def verify(token: str, key: bytes, now: datetime) -> int:
    """The case id a token acknowledges; ForgedLink or ExpiredLink if it must be refused."""
    parts = token.strip().split(".")
    if len(parts) != 4 or not parts[0].isdigit() or not parts[1].isdigit():
        raise ForgedLink("malformed acknowledgement token")
    body = ".".join(parts[:3])
    if not hmac.compare_digest(parts[3], _signature(key, body)):
        raise ForgedLink("the acknowledgement token's signature does not match")
    if datetime.fromtimestamp(int(parts[1]), UTC) <= now:
        raise ExpiredLink("the acknowledgement link has expired")
    return int(parts[0])


def nonce_of(token: str) -> str:
    """The token's nonce (recorded in the audit trail to tell links apart)."""
    parts = token.split(".")
    return parts[2] if len(parts) == 4 else ""


def ack_url(
    settings: Settings,
    case_id: int,
    now: datetime,
    secret: Callable[[str], str | None] = os.environ.get,
) -> str:
    """The signed link acknowledging ``case_id``, valid for ``notify.ack_link_ttl``."""
    expires = now + timedelta(seconds=settings.notify.ack_link_ttl)
    token = sign(case_id, expires, signing_key(settings, secret))
    return f"{settings.notify.public_url.rstrip('/')}/ack?{urlencode({'t': token})}"
