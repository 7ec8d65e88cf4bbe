"""Local accounts and API tokens for the web application.

Passwords are hashed with Argon2id (argon2-cffi's defaults, re-hashed when
those change). Five failed logins lock an account for five minutes, doubling
for each further failure, so guessing is slow without locking users out for
long. API tokens are random, shown once, and stored only as SHA-256.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import insert, select, update

from ..errors import DialtoneError
from . import Store, iso
from .tables import api_tokens, users

ROLES = ("admin", "officer", "auditor")
MAX_FAILURES = 5
LOCK_MINUTES = 5
MIN_PASSWORD = 12

_hasher = PasswordHasher()


class AccountError(DialtoneError):
    pass


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str

    @property
    def can_act(self) -> bool:
        """Officers and admins change findings; auditors only read and export."""
        return self.role in ("admin", "officer")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")


def add_user(store: Store, username: str, role: str, password: str) -> User:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if not username.strip() or username != username.strip():
        raise AccountError("a username cannot be empty or start or end with spaces")
    _check_password(password)
    with store.write() as conn:
        if conn.execute(select(users.c.id).where(users.c.username == username)).first():
            raise AccountError(f"user {username} already exists")
        new_id = conn.execute(insert(users).values(
            username=username, role=role, password_hash=_hasher.hash(password), disabled=False,
            failed_logins=0, created_at=store.now_text())).inserted_primary_key[0]
    return User(new_id, username, role)


def set_password(store: Store, username: str, password: str) -> None:
    _check_password(password)
    with store.write() as conn:
        done = conn.execute(update(users).where(users.c.username == username).values(
            password_hash=_hasher.hash(password), failed_logins=0, locked_until=None))
        if not done.rowcount:
            raise AccountError(f"no user {username}")


def set_disabled(store: Store, username: str, disabled: bool = True) -> None:
    with store.write() as conn:
        done = conn.execute(update(users).where(users.c.username == username).values(disabled=disabled))
        if not done.rowcount:
            raise AccountError(f"no user {username}")
        if disabled:
            conn.execute(update(api_tokens).where(api_tokens.c.user_id.in_(
                select(users.c.id).where(users.c.username == username))).values(revoked=True))


def list_users(store: Store) -> list[dict]:
    with store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(users.c.id, users.c.username, users.c.role, users.c.disabled, users.c.created_at,
                   users.c.last_login_at, users.c.locked_until).order_by(users.c.username))]


def authenticate(store: Store, username: str, password: str) -> User:
    """The user, or AccountError with a message that does not reveal which part was wrong."""
    refused = AccountError("wrong username or password, or the account is locked or disabled")
    now = store.now()
    # Decide inside the transaction, raise after it: a failed attempt must be committed.
    with store.write() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
        if row is None:
            _hasher.hash(password)  # same work as a real check: no timing hint that the user is unknown
            ok = False
        elif row.locked_until and row.locked_until > iso(now):
            ok = False
        else:
            try:
                _hasher.verify(row.password_hash, password)
                ok = not row.disabled
            except (VerificationError, InvalidHashError):
                ok = False
                failures = row.failed_logins + 1
                values = {"failed_logins": failures}
                if failures >= MAX_FAILURES:
                    minutes = LOCK_MINUTES * 2 ** (failures - MAX_FAILURES)
                    values["locked_until"] = iso(now + timedelta(minutes=min(minutes, 24 * 60)))
                conn.execute(update(users).where(users.c.id == row.id).values(**values))
            else:
                if ok:
                    values = {"failed_logins": 0, "locked_until": None, "last_login_at": iso(now)}
                    if _hasher.check_needs_rehash(row.password_hash):
                        values["password_hash"] = _hasher.hash(password)
                    conn.execute(update(users).where(users.c.id == row.id).values(**values))
    if not ok:
        raise refused
    return User(row.id, row.username, row.role)


def get_user(store: Store, user_id: int) -> User | None:
    with store.read() as conn:
        row = conn.execute(select(users).where(users.c.id == user_id)).first()
    if row is None or row.disabled:
        return None
    return User(row.id, row.username, row.role)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(store: Store, username: str, label: str | None = None) -> str:
    token = "dt_" + secrets.token_urlsafe(32)
    with store.write() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
        if row is None or row.disabled:
            raise AccountError(f"no active user {username}")
        conn.execute(insert(api_tokens).values(user_id=row.id, token_sha256=_digest(token), label=label,
                                               created_at=store.now_text(), revoked=False))
    return token


def user_for_token(store: Store, token: str) -> User | None:
    # A read only: API requests must not queue behind an evaluation holding the write lock.
    with store.read() as conn:
        row = conn.execute(
            select(users.c.id, users.c.username, users.c.role)
            .join(api_tokens, api_tokens.c.user_id == users.c.id)
            .where(api_tokens.c.token_sha256 == _digest(token), api_tokens.c.revoked.is_(False),
                   users.c.disabled.is_(False))).first()
    return None if row is None else User(row.id, row.username, row.role)
