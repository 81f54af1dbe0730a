"""Users, roles, sign-in with throttling, browser sessions and API tokens.

Roles rise viewer < analyst < admin: viewers read, analysts act on cases, submit items and correct
analyses, administrators also manage users, tokens and sources. Passwords are hashed with argon2
(argon2-cffi's defaults, RFC 9106's second recommended profile); session and API token secrets are
random and stored only as SHA-256, so a copy of the database signs nobody in.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from monitor.config import WebSettings
from monitor.storage import db, users
from monitor.storage.db import Sessions
from monitor.storage.users import FailureRow, UserRow

logger = logging.getLogger(__name__)
ROLES = ("viewer", "analyst", "admin")
MIN_PASSWORD = 10
TOKEN_PREFIX = "mon_"
# A session's last use is written at most this often, so reading pages does not write each time.
TOUCH_EVERY = timedelta(minutes=1)
# One address may fail this many times the per-user limit (an office behind one NAT address).
ADDRESS_FACTOR = 4
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
_hasher = PasswordHasher()
# Verified against when the user does not exist, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class AccountError(ValueError):
    """A user, role or password that cannot be accepted; the message says why (vi, then en)."""


class LoginRefused(Exception):
    """Wrong name or password, or a disabled user: the page says only that sign-in failed."""


class LoginThrottled(LoginRefused):
    """Too many failures: sign-in is refused until ``until`` whatever the password."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"too many failed sign-ins; try again after {until:%H:%M} UTC")
        self.until = until


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is making a request, and how they proved it."""

    user_id: int
    name: str
    role: str
    sources: tuple[str, ...]  # department scope; empty: every source
    csrf: str | None  # the session's CSRF token (None for API tokens, which carry no cookie)
    via: str  # "session" | "token"

    def can(self, role: str) -> bool:
        """Whether this principal has ``role`` or a higher one."""
        return ROLES.index(self.role) >= ROLES.index(role)

    @property
    def scope(self) -> tuple[str, ...] | None:
        """The sources this principal may see, None for all."""
        return self.sources or None


def _now() -> datetime:
    return datetime.now(UTC)


def digest(secret: str) -> str:
    """The SHA-256 (hex) under which a session or token secret is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def check_role(role: str) -> str:
    """``role`` if it is one; AccountError otherwise."""
    if role not in ROLES:
        raise AccountError(f"vai trò không hợp lệ / unknown role {role!r}: {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    """``password`` if long enough; AccountError otherwise."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(
            f"mật khẩu cần ít nhất {MIN_PASSWORD} ký tự / "
            f"the password needs at least {MIN_PASSWORD} characters"
        )
    return password


def add_user(
    sessions: Sessions,
    name: str,
    role: str,
    password: str,
    sources: tuple[str, ...] = (),
    now: datetime | None = None,
) -> UserRow:
    """Create a user; AccountError for a bad or taken name, role or short password."""
    if not _NAME.match(name):
        raise AccountError(
            f"tên đăng nhập không hợp lệ / bad user name {name!r}: letters, digits, . _ @ -"
        )
    check_role(role)
    hashed = _hasher.hash(check_password(password))
    with db.transaction(sessions) as session:
        if users.user_by_name(session, name) is not None:
            raise AccountError(f"đã có người dùng / user already exists: {name}")
        return users.add_user(session, name, role, hashed, sources, now or _now())


def _existing(session: db.Session, name: str) -> UserRow:
    found = users.user_by_name(session, name)
    if found is None:
        raise AccountError(f"không có người dùng / no such user: {name}")
    return found


def set_password(sessions: Sessions, name: str, password: str, now: datetime | None = None) -> None:
    """Change a password; every session of the user ends."""
    hashed = _hasher.hash(check_password(password))
    with db.transaction(sessions) as session:
        user = _existing(session, name)
        users.update_user(
            session, user.id, password_hash=hashed, sessions_valid_after=now or _now()
        )
        users.delete_user_sessions(session, user.id)


def set_disabled(sessions: Sessions, name: str, disabled: bool) -> None:
    """Disable (every session ends, tokens stop working) or re-enable a user."""
    with db.transaction(sessions) as session:
        user = _existing(session, name)
        users.update_user(session, user.id, disabled=disabled)
        if disabled:
            users.delete_user_sessions(session, user.id)


def set_role(sessions: Sessions, name: str, role: str) -> None:
    """Change a user's role."""
    check_role(role)
    with db.transaction(sessions) as session:
        users.update_user(session, _existing(session, name).id, role=role)


def list_users(sessions: Sessions) -> list[UserRow]:
    """Every user, by name."""
    with sessions() as session:
        return users.list_users(session)


def authenticate(
    sessions: Sessions, policy: WebSettings, name: str, password: str, address: str, now: datetime
) -> UserRow:
    """The user whose name and password these are; LoginRefused or LoginThrottled otherwise."""
    keys = (f"user:{name[:100]}", f"ip:{address}")
    limits = (policy.login_max_failures, policy.login_max_failures * ADDRESS_FACTOR)
    with db.transaction(sessions) as session:
        for key in keys:
            _refuse_if_locked(users.failures(session, key), now)
        user = users.user_by_name(session, name)
    if (
        _verifies(user.password_hash if user else _DUMMY_HASH, password)
        and user
        and not user.disabled
    ):
        with db.transaction(sessions) as session:
            for key in keys:
                users.clear_failures(session, key)
            users.update_user(session, user.id, last_login_at=now)
        return user
    with db.transaction(sessions) as session:
        for key, limit in zip(keys, limits, strict=True):
            _count_failure(session, key, limit, policy, now)
    logger.warning("failed sign-in for %r from %s", name[:100], address)
    raise LoginRefused("wrong user name or password")


def _verifies(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _refuse_if_locked(row: FailureRow | None, now: datetime) -> None:
    if row is not None and row.locked_until is not None and row.locked_until > now:
        raise LoginThrottled(row.locked_until)


def _count_failure(
    session: db.Session, key: str, limit: int, policy: WebSettings, now: datetime
) -> None:
    row = users.failures(session, key)
    window = timedelta(seconds=policy.login_window)
    if row is None or now - row.window_start > window:
        row = FailureRow(0, now, None)
    count = row.failures + 1
    locked = now + timedelta(seconds=policy.login_lockout) if count >= limit else None
    if locked is not None:
        logger.warning("sign-in locked for %s until %s after %d failures", key, locked, count)
    users.save_failures(session, key, FailureRow(count, row.window_start, locked))


def start_session(
    sessions: Sessions, policy: WebSettings, user: UserRow, now: datetime
) -> tuple[str, str]:
    """A new session for ``user``: (the cookie's secret, the session's CSRF token)."""
    secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = now + timedelta(seconds=policy.session_max)
    with db.transaction(sessions) as session:
        users.purge_sessions(session, now)
        users.add_session(session, user.id, digest(secret), csrf, now, expires)
    return secret, csrf


def resolve_session(
    sessions: Sessions, policy: WebSettings, secret: str, now: datetime
) -> Principal | None:
    """Who holds this session cookie; None when it is unknown, expired, idle too long or void."""
    if not secret:
        return None
    with sessions() as session:
        found = users.session_by_hash(session, digest(secret))
    if found is None:
        return None
    user = found.user
    idle = now - found.last_seen_at > timedelta(seconds=policy.session_idle)
    void = found.created_at < user.sessions_valid_after or user.disabled
    if found.expires_at <= now or idle or void:
        end_session(sessions, secret)
        return None
    if now - found.last_seen_at > TOUCH_EVERY:
        with db.transaction(sessions) as session:
            users.touch_session(session, found.id, now)
    return Principal(user.id, user.name, user.role, user.sources, found.csrf_token, "session")


def end_session(sessions: Sessions, secret: str) -> None:
    """Sign a session out."""
    with db.transaction(sessions) as session:
        users.delete_session(session, digest(secret))


def create_token(
    sessions: Sessions, user_name: str, name: str, created_by: str, now: datetime | None = None
) -> tuple[int, str]:
    """A new API token acting as ``user_name``: (its id, the secret, shown this once only)."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.transaction(sessions) as session:
        user = _existing(session, user_name)
        token_id = users.add_token(
            session, user.id, name[:100] or "token", digest(secret), created_by, now or _now()
        )
    return token_id, secret


def revoke_token(sessions: Sessions, token_id: int, now: datetime | None = None) -> bool:
    """Revoke a token; False if there is no such token or it was revoked already."""
    with db.transaction(sessions) as session:
        return users.revoke_token(session, token_id, now or _now())


def list_tokens(sessions: Sessions) -> list[users.TokenRow]:
    """Every API token (never the secrets), newest first."""
    with sessions() as session:
        return users.list_tokens(session)


def resolve_token(sessions: Sessions, secret: str, now: datetime) -> Principal | None:
    """Who this API token acts as; None when unknown, revoked or its user disabled."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    with sessions() as session:
        found = users.token_by_hash(session, digest(secret))
    if found is None or found.revoked_at is not None or found.user.disabled:
        return None
    if found.last_used_at is None or now - found.last_used_at > TOUCH_EVERY:
        with db.transaction(sessions) as session:
            users.token_used(session, found.id, now)
    user = found.user
    return Principal(user.id, user.name, user.role, user.sources, None, "token")
