"""Users, signed-in sessions, API tokens and failed sign-ins: the rows behind monitor.accounts.

Secrets never reach the database: sessions and tokens are stored as SHA-256 of a random value,
passwords as argon2 hashes made by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from monitor.storage.models import ApiToken, LoginFailure, User, WebSession


@dataclass(frozen=True, slots=True)
class UserRow:
    """A user as the application sees it (the password hash included, for verification)."""

    id: int
    name: str
    role: str
    password_hash: str
    disabled: bool
    sources: tuple[str, ...]
    created_at: datetime
    sessions_valid_after: datetime
    last_login_at: datetime | None


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A signed-in session and its user."""

    id: int
    user: UserRow
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TokenRow:
    """An API token (never its secret) and whose it is."""

    id: int
    name: str
    user: UserRow
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _user(row: User) -> UserRow:
    return UserRow(
        row.id,
        row.name,
        row.role,
        row.password_hash,
        row.disabled,
        tuple(row.sources or ()),
        row.created_at,
        row.sessions_valid_after,
        row.last_login_at,
    )


def add_user(
    session: Session,
    name: str,
    role: str,
    password_hash: str,
    sources: tuple[str, ...],
    now: datetime,
) -> UserRow:
    """Insert a user; the caller checks the name is free (the unique index is the last word)."""
    row = User(
        name=name,
        role=role,
        password_hash=password_hash,
        sources=list(sources),
        created_at=now,
        sessions_valid_after=now,
    )
    session.add(row)
    session.flush()
    return _user(row)


def user_by_name(session: Session, name: str) -> UserRow | None:
    """The user with this name, if any."""
    row = session.scalars(select(User).where(User.name == name)).one_or_none()
    return _user(row) if row is not None else None


def user_by_id(session: Session, user_id: int) -> UserRow | None:
    """The user with this id, if any."""
    row = session.get(User, user_id)
    return _user(row) if row is not None else None


def list_users(session: Session) -> list[UserRow]:
    """Every user, by name."""
    return [_user(r) for r in session.scalars(select(User).order_by(User.name))]


def update_user(session: Session, user_id: int, **values: Any) -> None:
    """Change a user's columns (role, password_hash, disabled, sources, sessions_valid_after ...)."""
    session.execute(update(User).where(User.id == user_id).values(**values))


def add_session(
    session: Session,
    user_id: int,
    token_hash: str,
    csrf_token: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    """Record a new signed-in session."""
    session.add(
        WebSession(
            token_hash=token_hash,
            user_id=user_id,
            csrf_token=csrf_token,
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
        )
    )


def session_by_hash(session: Session, token_hash: str) -> SessionRow | None:
    """The session with this token hash and its user, if any (expired or not)."""
    found = session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == token_hash)
    ).first()
    if found is None:
        return None
    web, user = found
    return SessionRow(
        web.id, _user(user), web.csrf_token, web.created_at, web.last_seen_at, web.expires_at
    )


def touch_session(session: Session, session_id: int, now: datetime) -> None:
    """Note that the session was used now."""
    session.execute(update(WebSession).where(WebSession.id == session_id).values(last_seen_at=now))


def delete_session(session: Session, token_hash: str) -> None:
    """End one session."""
    session.execute(delete(WebSession).where(WebSession.token_hash == token_hash))


def delete_user_sessions(session: Session, user_id: int) -> int:
    """End every session of a user; how many there were."""
    result = session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


def purge_sessions(session: Session, now: datetime) -> int:
    """Delete sessions past their hard expiry; how many."""
    result = session.execute(delete(WebSession).where(WebSession.expires_at < now))
    return int(getattr(result, "rowcount", 0) or 0)


def add_token(
    session: Session, user_id: int, name: str, token_hash: str, created_by: str, now: datetime
) -> int:
    """Record a new API token; its id."""
    row = ApiToken(
        token_hash=token_hash, user_id=user_id, name=name, created_by=created_by, created_at=now
    )
    session.add(row)
    session.flush()
    return row.id


def _token(token: ApiToken, user: User) -> TokenRow:
    return TokenRow(
        token.id,
        token.name,
        _user(user),
        token.created_by,
        token.created_at,
        token.last_used_at,
        token.revoked_at,
    )


def token_by_hash(session: Session, token_hash: str) -> TokenRow | None:
    """The token with this hash and its user, if any (revoked or not)."""
    found = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_hash)
    ).first()
    return _token(*found) if found is not None else None


def list_tokens(session: Session) -> list[TokenRow]:
    """Every API token, newest first."""
    rows = session.execute(
        select(ApiToken, User).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id.desc())
    )
    return [_token(t, u) for t, u in rows]


def token_used(session: Session, token_id: int, now: datetime) -> None:
    """Note the token's last use."""
    session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))


def revoke_token(session: Session, token_id: int, now: datetime) -> bool:
    """Revoke a token; False when there is no such unrevoked token."""
    done = session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(getattr(done, "rowcount", 0))


@dataclass(frozen=True, slots=True)
class FailureRow:
    """Failed sign-ins counted for one key."""

    failures: int
    window_start: datetime
    locked_until: datetime | None


def failures(session: Session, key: str) -> FailureRow | None:
    """The failures counted for ``key`` ("user:NAME" or "ip:ADDRESS")."""
    row = session.get(LoginFailure, key)
    return FailureRow(row.failures, row.window_start, row.locked_until) if row else None


def save_failures(session: Session, key: str, value: FailureRow) -> None:
    """Store the failure count of a key (insert or replace)."""
    row = session.get(LoginFailure, key, with_for_update=True)
    if row is None:
        session.add(
            LoginFailure(
                key=key,
                failures=value.failures,
                window_start=value.window_start,
                locked_until=value.locked_until,
            )
        )
    else:
        row.failures, row.window_start = value.failures, value.window_start
        row.locked_until = value.locked_until
    session.flush()


def clear_failures(session: Session, key: str) -> None:
    """Forget a key's failures (after a successful sign-in)."""
    session.execute(delete(LoginFailure).where(LoginFailure.key == key))
