"""Local accounts, web sessions and API tokens for the web application.

Passwords are hashed with Argon2id (argon2-cffi's defaults, re-hashed when
those change). Five failed logins lock an account for five minutes, doubling
for each further failure, so guessing is slow without locking users out for
long. Every login attempt runs one Argon2 verification, whether the user
exists, is locked or is disabled: how long a refusal takes says nothing about
the account.

A signed-in browser holds a random session token (in the signed cookie); the
server keeps its SHA-256 in ``web_sessions`` and accepts the cookie only while
that row is neither ended nor expired. Logout ends that one session; a password
change, disabling the account or changing its role ends all of the user's.

A session also ends after ``idle_timeout`` without a request: its last request's time is
written at most once a minute (so the timeout is exact to a minute), never waiting for the
store's write lock.

Accounts are local (a password) or made at an OpenID sign-in (``auth_source = 'oidc'``, found
again by the provider's subject: web/views/oidc.py). An OpenID account has no usable password.

API tokens are random, shown once, stored only as SHA-256, and expire; a read-only one is
refused on anything but GET and HEAD (web/security.py). Their last use (when, from which
address) is recorded, with an audit-log entry, at most once a minute, and never makes a
request wait for the store's write lock.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from ..errors import DialtoneError
from ..roles import ROLES as ROLES  # the roles, importable without the store
from . import Store, iso
from .chain import canonical_data
from .db import StoreError, write_without_waiting
from .tables import api_tokens, audit_log, users, web_sessions

MAX_FAILURES = 5
LOCK_MINUTES = 5
MIN_PASSWORD = 12
#: Longer passwords are refused (a login form sends at most this many characters).
MAX_PASSWORD = 1024
#: Usernames are stored in 200 characters.
MAX_USERNAME = 200
#: How long a web session lasts from login (the cookie's lifetime too).
SESSION_LIFETIME = timedelta(hours=8)
#: An API token's lifetime unless its creator says otherwise (configurable: web.token_lifetime).
DEFAULT_TOKEN_LIFETIME = timedelta(days=90)
#: A token's last use is written again only when the one recorded is older than this (or was
#: from another address): a script calling the API in a loop does not write on every request.
TOKEN_USE_WRITE_SECONDS = 60
#: How long recording a token's use may wait for the store's write lock before giving up.
TOKEN_USE_WAIT_MS = 100
#: A session's last request is written again only when the one recorded is older than this.
SESSION_SEEN_WRITE_SECONDS = 60
#: The default idle timeout (configurable: web.idle_timeout).
IDLE_TIMEOUT = timedelta(hours=1)

#: ``audit(conn, actor, action, target, data)``: engine.store.workflow.audit_writer's writer.
Audit = Callable[[Connection, str, str, str, dict], None]

_hasher = PasswordHasher()
log = logging.getLogger(__name__)


class AccountError(DialtoneError):
    pass


class TokenUnconfirmed(AccountError):
    """An OpenID account's API token whose account the provider has not confirmed (a sign-in, a
    group re-read) for longer than ``oidc.token_confirmation``."""


class SignInRefused(AccountError):
    """A refused sign-in: the message is the same for every cause; ``reason`` (for the audit
    log, never shown) says which."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    auth_source: str = "local"
    #: Signed in with a read-only API token: GET and HEAD only.
    read_only: bool = False
    #: The account's access scope (users.scope; None: everything) and, for an API token with a
    #: narrower one, the token's: both apply (engine/access.py, docs/access.md).
    scope: str | None = None
    token_scope: str | None = None

    def scope_names(self) -> tuple[str | None, str | None]:
        return (self.scope, self.token_scope)

    @property
    def can_act(self) -> bool:
        """Officers and admins change findings; auditors only read and export."""
        return self.role in ("admin", "officer")


@dataclass(frozen=True)
class IssuedToken:
    id: int
    token: str          # shown once, never stored
    expires_at: str


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"a password can have at most {MAX_PASSWORD} characters")


def _audit(audit: Audit | None, conn: Connection, actor: str, action: str, target: str,
           data: dict) -> None:
    if audit is not None:
        audit(conn, actor, action, target, data)


def _user_row(conn: Connection, username: str):
    row = conn.execute(select(users).where(users.c.username == username)).first()
    if row is None:
        raise AccountError(f"no user {username}")
    return row


def _end_sessions(conn: Connection, store: Store, user_id: int) -> int:
    # An ended session keeps no provider token (web/views/oidc.py).
    return conn.execute(update(web_sessions).where(web_sessions.c.user_id == user_id,
                                                   web_sessions.c.ended_at.is_(None))
                        .values(ended_at=store.now_text(), oidc_tokens=None)).rowcount


def add_user(store: Store, username: str, role: str, password: str, *, audit: Audit | None = None,
             actor: str = "") -> User:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if not username.strip() or username != username.strip():
        raise AccountError("a username cannot be empty or start or end with spaces")
    if len(username) > MAX_USERNAME:
        raise AccountError(f"a username can have at most {MAX_USERNAME} characters")
    _check_password(password)
    with store.write() as conn:
        if conn.execute(select(users.c.id).where(users.c.username == username)).first():
            raise AccountError(f"user {username} already exists")
        new_id = conn.execute(insert(users).values(
            username=username, role=role, password_hash=_hasher.hash(password), disabled=False,
            failed_logins=0, created_at=store.now_text())).inserted_primary_key[0]
        _audit(audit, conn, actor, "user_add", f"user:{username}", {"role": role})
    return User(new_id, username, role)


def set_password(store: Store, username: str, password: str, *, audit: Audit | None = None,
                 actor: str = "") -> int:
    """Set the password, unlock the account and end its web sessions; returns how many ended."""
    _check_password(password)
    with store.write() as conn:
        row = _user_row(conn, username)
        conn.execute(update(users).where(users.c.id == row.id).values(
            password_hash=_hasher.hash(password), failed_logins=0, locked_until=None))
        ended = _end_sessions(conn, store, row.id)
        _audit(audit, conn, actor, "user_passwd", f"user:{username}", {"sessions_ended": ended})
    return ended


def set_disabled(store: Store, username: str, disabled: bool = True, *, audit: Audit | None = None,
                 actor: str = "") -> None:
    """Disable an account (ending its sessions and revoking its API tokens), or enable it again
    (its revoked tokens stay revoked: create new ones)."""
    with store.write() as conn:
        row = _user_row(conn, username)
        conn.execute(update(users).where(users.c.id == row.id).values(disabled=disabled))
        data: dict = {}
        if disabled:
            data["sessions_ended"] = _end_sessions(conn, store, row.id)
            data["tokens_revoked"] = conn.execute(
                update(api_tokens).where(api_tokens.c.user_id == row.id, api_tokens.c.revoked.is_(False))
                .values(revoked=True, revoked_at=store.now_text())).rowcount
        _audit(audit, conn, actor, "user_disable" if disabled else "user_enable", f"user:{username}", data)


def set_role(store: Store, username: str, role: str, *, audit: Audit | None = None, actor: str = "") -> int:
    """Change an account's role and end its web sessions (the next login has the new role);
    returns how many sessions ended. Its API tokens act with the new role at once."""
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    with store.write() as conn:
        row = _user_row(conn, username)
        conn.execute(update(users).where(users.c.id == row.id).values(role=role))
        ended = _end_sessions(conn, store, row.id)
        _audit(audit, conn, actor, "user_role", f"user:{username}",
               {"from": row.role, "to": role, "sessions_ended": ended})
    return ended


def set_scope(store: Store, username: str, scope: str | None, *, audit: Audit | None = None,
              actor: str = "") -> None:
    """Limit an account to ``scope`` (None: everything), audited ``user_scope``. It applies at
    the account's next request, on pages and API tokens alike; a token scoped otherwise than the
    account's new scope reads what both allow (engine/access.py)."""
    with store.write() as conn:
        row = _user_row(conn, username)
        conn.execute(update(users).where(users.c.id == row.id).values(scope=scope))
        _audit(audit, conn, actor, "user_scope", f"user:{username}", {"from": row.scope, "to": scope})


def list_users(store: Store) -> list[dict]:
    with store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(users.c.id, users.c.username, users.c.role, users.c.disabled, users.c.created_at,
                   users.c.last_login_at, users.c.locked_until, users.c.auth_source, users.c.scope)
            .order_by(users.c.username))]


#: The roles that work findings: who a finding can be assigned to.
ASSIGNABLE_ROLES = ("admin", "officer")


def assignable_users(store: Store) -> list[str]:
    """The usernames a finding can be assigned to: accounts that are not disabled and whose role
    works findings, in name order (the pages' picker, and what an assignment is checked against)."""
    with store.read() as conn:
        return [r.username for r in conn.execute(
            select(users.c.username).where(users.c.role.in_(ASSIGNABLE_ROLES),
                                           users.c.disabled.is_(False)).order_by(users.c.username))]


def check_assignee(conn: Connection, name: str) -> str:
    """The account a finding can be assigned to under ``name``, as the account spells it (an
    exact match, else the one account matching it case-insensitively); AccountError, in plain
    words, for anybody else: an unknown name, a disabled account, a role that does not work
    findings.

    A workspace without any account (used from the command line only) has nobody to check
    against: the name is taken as given. The first account added turns the check on."""
    rows = conn.execute(select(users.c.username, users.c.role, users.c.disabled)).all()
    if not rows:
        return name
    exact = [r for r in rows if r.username == name]
    found = exact or [r for r in rows if r.username.casefold() == name.casefold()]
    assignable = sorted(r.username for r in rows if r.role in ASSIGNABLE_ROLES and not r.disabled)
    if len(found) == 1:
        row = found[0]
        if row.disabled:
            raise AccountError(f"{row.username}'s account is disabled: a finding cannot be assigned "
                               "to it.")
        if row.role not in ASSIGNABLE_ROLES:
            raise AccountError(f"{row.username} is an {row.role} and does not work findings: assign it "
                               "to an officer or an admin.")
        return row.username
    import difflib

    close = difflib.get_close_matches(name, assignable, n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    who = (f" It can be assigned to {_names(assignable)}." if assignable
           else " No officer or admin account is active.")
    raise AccountError(f"There is no officer or admin called {name!r}.{hint}{who}")


def _names(names: list[str], most: int = 8) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most:,} more" if len(names) > most else "")


@functools.cache
def _stand_in_hash() -> str:
    """A hash of a random password with the hasher's parameters: verified against when there is
    no account, so that an unknown username costs what a real one does."""
    return _hasher.hash(secrets.token_hex(16))


def _verifies(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate(store: Store, username: str, password: str, *, local_accounts: bool = True,
                 audit: Audit | None = None) -> User:
    """The user, or SignInRefused with a message that does not reveal which part was wrong.

    The password is verified (Argon2, the expensive part) in every case: an unknown user
    against a stand-in hash, a locked or disabled account against its own hash, whose result
    then does not count. With ``local_accounts`` off only administrators sign in with a password
    (the break-glass way in); accounts made at an OpenID sign-in never do. ``audit`` records the
    sign-in, or its failure with the reason (never the password)."""
    now = store.now()
    reason = ""
    # Decide inside the transaction, raise after it: a failed attempt must be committed.
    with store.write() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
        matches = _verifies(row.password_hash if row is not None else _stand_in_hash(), password)
        if row is None:
            ok, reason = False, "unknown user"
        elif row.locked_until and row.locked_until > iso(now):
            ok, reason = False, "locked"     # not counted as another failure, whatever the password
        elif row.auth_source != "local":
            ok, reason = False, "signs in through the OpenID provider"
        elif not matches:
            ok, reason = False, "wrong password"
            failures = row.failed_logins + 1
            values = {"failed_logins": failures}
            if failures >= MAX_FAILURES:
                minutes = LOCK_MINUTES * 2 ** (failures - MAX_FAILURES)
                values["locked_until"] = iso(now + timedelta(minutes=min(minutes, 24 * 60)))
            conn.execute(update(users).where(users.c.id == row.id).values(**values))
        elif row.disabled:
            ok, reason = False, "disabled"
        elif not local_accounts and row.role != "admin":
            ok, reason = False, "local accounts are turned off (oidc.local_accounts)"
        else:
            ok = True
            if ok:
                values = {"failed_logins": 0, "locked_until": None, "last_login_at": iso(now)}
                if _hasher.check_needs_rehash(row.password_hash):
                    values["password_hash"] = _hasher.hash(password)
                conn.execute(update(users).where(users.c.id == row.id).values(**values))
        if ok:
            _audit(audit, conn, row.username, "sign_in", f"user:{row.username}", {"method": "password"})
        else:
            _audit(audit, conn, username[:MAX_USERNAME], "sign_in_failed", f"user:{username[:MAX_USERNAME]}",
                   {"method": "password", "reason": reason})
    if not ok:
        raise SignInRefused("wrong username or password, or the account is locked or disabled", reason)
    return User(row.id, row.username, row.role, row.auth_source, scope=row.scope)


def get_user(store: Store, user_id: int) -> User | None:
    with store.read() as conn:
        row = conn.execute(select(users).where(users.c.id == user_id)).first()
    if row is None or row.disabled:
        return None
    return User(row.id, row.username, row.role, row.auth_source, scope=row.scope)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- web sessions ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class LiveSession:
    """A session that is neither ended, expired nor idle, of an active account."""
    user: User
    refreshed_at: str | None
    oidc_tokens: str | None     # encrypted (web/views/oidc.py), None for a password sign-in
    subject: str | None = None  # the account's OpenID subject ("<issuer> <sub>")


def start_session(store: Store, user: User, origin: str, lifetime: timedelta = SESSION_LIFETIME, *,
                  oidc_tokens: str | None = None) -> str:
    """A new session for ``user``; returns the token for the cookie (stored only as SHA-256).
    Sessions past their expiry are deleted on the way: the table holds the live ones and the
    recently ended."""
    token = secrets.token_urlsafe(32)
    now = store.now()
    with store.write() as conn:
        conn.execute(delete(web_sessions).where(web_sessions.c.expires_at < iso(now)))
        conn.execute(insert(web_sessions).values(
            id=_digest(token), user_id=user.id, created_at=iso(now), expires_at=iso(now + lifetime),
            origin=origin[:200], last_seen_at=iso(now),
            refreshed_at=iso(now) if oidc_tokens is not None else None, oidc_tokens=oidc_tokens))
    return token


def live_session(store: Store, token: str, idle_timeout: timedelta = IDLE_TIMEOUT) -> LiveSession | None:
    """The session if it is live: not ended, not expired, a request within ``idle_timeout``,
    the account not disabled. Records this request as its last (at most once a minute)."""
    now = store.now()
    with store.read() as conn:
        row = conn.execute(
            select(users.c.id, users.c.username, users.c.role, users.c.auth_source, users.c.scope,
                   web_sessions.c.last_seen_at, web_sessions.c.created_at, web_sessions.c.refreshed_at,
                   web_sessions.c.oidc_tokens, users.c.external_subject)
            .join(web_sessions, web_sessions.c.user_id == users.c.id)
            .where(web_sessions.c.id == _digest(token), web_sessions.c.ended_at.is_(None),
                   web_sessions.c.expires_at > iso(now), users.c.disabled.is_(False))).first()
    if row is None:
        return None
    seen = row.last_seen_at or row.created_at
    if seen <= iso(now - idle_timeout):
        end_session(store, token)
        return None
    if seen < iso(now - timedelta(seconds=SESSION_SEEN_WRITE_SECONDS)):
        try:
            with write_without_waiting(store, TOKEN_USE_WAIT_MS) as conn:
                conn.execute(update(web_sessions).where(web_sessions.c.id == _digest(token))
                             .values(last_seen_at=iso(now)))
        except (SQLAlchemyError, StoreError) as exc:
            log.info("a session's last request was not recorded (%s)", exc)
    return LiveSession(User(row.id, row.username, row.role, row.auth_source, scope=row.scope),
                       row.refreshed_at, row.oidc_tokens, row.external_subject)


def session_user(store: Store, token: str, idle_timeout: timedelta = IDLE_TIMEOUT) -> User | None:
    """The user of a live session (``live_session``)."""
    live = live_session(store, token, idle_timeout)
    return None if live is None else live.user


def claim_refresh(store: Store, token: str, seen_refreshed_at: str | None) -> bool:
    """Take the session's due group re-read for this request: True for the one request that moves
    ``refreshed_at`` on from the value it saw (a compare-and-set), False for the others running at
    the same time, which go on as they are instead of all calling the provider at once (a
    provider rotating refresh tokens would take the second use for a stolen token)."""
    same = (web_sessions.c.refreshed_at.is_(None) if seen_refreshed_at is None
            else web_sessions.c.refreshed_at == seen_refreshed_at)
    with store.write() as conn:
        return conn.execute(update(web_sessions).where(web_sessions.c.id == _digest(token), same,
                                                       web_sessions.c.ended_at.is_(None))
                            .values(refreshed_at=store.now_text())).rowcount == 1


def session_refreshed(store: Store, token: str, oidc_tokens: str | None) -> None:
    """Record that the session's groups were re-read now (and the provider's new tokens): the
    provider confirmed the account (its API tokens go on working)."""
    values: dict = {"refreshed_at": store.now_text()}
    if oidc_tokens is not None:
        values["oidc_tokens"] = oidc_tokens
    with store.write() as conn:
        conn.execute(update(web_sessions).where(web_sessions.c.id == _digest(token)).values(**values))
        conn.execute(update(users).where(users.c.id.in_(
            select(web_sessions.c.user_id).where(web_sessions.c.id == _digest(token))))
            .values(oidc_confirmed_at=store.now_text()))


def end_session(store: Store, token: str, *, audit: Audit | None = None, actor: str = "") -> None:
    """End one session (logout): its cookie is refused from now on, wherever it is replayed."""
    with store.write() as conn:
        ended = conn.execute(update(web_sessions).where(web_sessions.c.id == _digest(token),
                                                        web_sessions.c.ended_at.is_(None))
                             .values(ended_at=store.now_text(), oidc_tokens=None)).rowcount
        if ended and actor:
            _audit(audit, conn, actor, "sign_out", f"user:{actor}", {})


# -- accounts made at an OpenID sign-in -----------------------------------------------------------
def provision(store: Store, subject: str, username: str, role: str, *, audit: Audit | None = None,
              scope: str | None = None) -> User:
    """The account of the OpenID subject ``subject`` ("<issuer> <sub>"): made now with ``role``
    (audited ``user_provision``), or found and given ``role`` if its groups changed (audited
    ``user_role``, ending its other sessions as any role change does). A disabled account stays
    disabled (an administrator enables it again); a local account already holding the username
    is not taken over."""
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    username = username[:MAX_USERNAME]
    with store.write() as conn:
        row = conn.execute(select(users).where(users.c.external_subject == subject)).first()
        if row is None:
            if conn.execute(select(users.c.id).where(users.c.username == username)).first():
                raise SignInRefused(f"the username {username} is taken by another Dialtone account: an "
                                    "administrator must rename or remove it first",
                                    "username taken by another account")
            new_id = conn.execute(insert(users).values(
                username=username, role=role, password_hash=_stand_in_hash(), disabled=False,
                failed_logins=0, created_at=store.now_text(), last_login_at=store.now_text(),
                auth_source="oidc", external_subject=subject,
                oidc_confirmed_at=store.now_text())).inserted_primary_key[0]
            _audit(audit, conn, username, "user_provision", f"user:{username}",
                   {"role": role, "subject": subject})
            if scope is not None:
                conn.execute(update(users).where(users.c.id == new_id).values(scope=scope))
                _audit(audit, conn, username, "user_scope", f"user:{username}",
                       {"from": None, "to": scope, "by": "oidc groups"})
            return User(new_id, username, role, "oidc", scope=scope)
        if row.disabled:
            raise SignInRefused("your Dialtone account is disabled: ask an administrator", "disabled")
        values: dict = {"last_login_at": store.now_text(), "oidc_confirmed_at": store.now_text()}
        if row.role != role:
            values["role"] = role
            ended = _end_sessions(conn, store, row.id)
            _audit(audit, conn, row.username, "user_role", f"user:{row.username}",
                   {"from": row.role, "to": role, "sessions_ended": ended, "by": "oidc groups"})
        if row.scope != scope:
            values["scope"] = scope
            _audit(audit, conn, row.username, "user_scope", f"user:{row.username}",
                   {"from": row.scope, "to": scope, "by": "oidc groups"})
        conn.execute(update(users).where(users.c.id == row.id).values(**values))
    return User(row.id, row.username, role, "oidc", scope=scope)


def refresh_role(store: Store, user: User, role: str, *, audit: Audit | None = None,
                 scope: str | None = None) -> User:
    """At a session refresh: the role and scope the person's groups give now (audited when
    they changed)."""
    if role == user.role and scope == user.scope:
        return user
    with store.write() as conn:
        conn.execute(update(users).where(users.c.id == user.id).values(role=role, scope=scope))
        if role != user.role:
            _audit(audit, conn, user.username, "user_role", f"user:{user.username}",
                   {"from": user.role, "to": role, "by": "oidc groups"})
        if scope != user.scope:
            _audit(audit, conn, user.username, "user_scope", f"user:{user.username}",
                   {"from": user.scope, "to": scope, "by": "oidc groups"})
    return User(user.id, user.username, role, user.auth_source, scope=scope)


def deprovision(store: Store, user: User, reason: str, *, audit: Audit | None = None) -> dict:
    """The person lost every mapped group (or the provider refused them): disable the account,
    end its sessions and revoke its API tokens, audited ``user_deprovision``."""
    with store.write() as conn:
        conn.execute(update(users).where(users.c.id == user.id).values(disabled=True))
        data = {"reason": reason, "sessions_ended": _end_sessions(conn, store, user.id),
                "tokens_revoked": conn.execute(
                    update(api_tokens).where(api_tokens.c.user_id == user.id,
                                             api_tokens.c.revoked.is_(False))
                    .values(revoked=True, revoked_at=store.now_text())).rowcount}
        _audit(audit, conn, user.username, "user_deprovision", f"user:{user.username}", data)
    return data


def withdraw_confirmation(store: Store, user: User, reason: str, *, audit: Audit | None = None) -> dict:
    """The provider refused the person's tokens at a session refresh: a leaver, or a refresh token
    past the provider's own lifetime (the two answer alike). End the account's sessions and stop
    its API tokens until the person signs in through the provider again, audited
    ``user_unconfirmed``; the account stays enabled, so that sign-in restores it."""
    with store.write() as conn:
        conn.execute(update(users).where(users.c.id == user.id).values(oidc_confirmed_at=None))
        data = {"reason": reason, "sessions_ended": _end_sessions(conn, store, user.id)}
        _audit(audit, conn, user.username, "user_unconfirmed", f"user:{user.username}", data)
    return data


# -- API tokens -----------------------------------------------------------------------------------
def issue_token(store: Store, username: str, label: str | None = None, *,
                expires_at: datetime | None = None, lifetime: timedelta = DEFAULT_TOKEN_LIFETIME,
                read_only: bool = False, local_accounts: bool = True, scope: str | None = None,
                audit: Audit | None = None, actor: str = "") -> IssuedToken:
    """A new API token for an active user, expiring at ``expires_at``, else ``lifetime`` after
    it is created; ``read_only``: GET and HEAD only. With ``local_accounts`` off, a local
    account other than an administrator's gets none."""
    now = store.now()
    expires = expires_at if expires_at is not None else now + lifetime
    if expires <= now:
        raise AccountError(f"the expiry {iso(expires)} is not in the future")
    if label is not None and len(label) > 200:
        raise AccountError("a token label can have at most 200 characters")
    token = "dt_" + secrets.token_urlsafe(32)
    with store.write() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
        if row is None or row.disabled:
            raise AccountError(f"no active user {username}")
        if not local_accounts and row.auth_source == "local" and row.role != "admin":
            raise AccountError(f"{username} is a local account and local accounts are turned off "
                               "(oidc.local_accounts: false): only administrators' local accounts get "
                               "API tokens")
        if scope is not None and row.scope is not None and scope != row.scope:
            # A token reads at most what its user reads: with scopes named, not compared by
            # content, the only narrower one of a scoped user is their own.
            raise AccountError(f"{username} is limited to scope {row.scope}: a token of theirs can "
                               f"have that scope or none, not {scope}")
        token_id = conn.execute(insert(api_tokens).values(
            user_id=row.id, token_sha256=_digest(token), label=label, created_at=iso(now),
            revoked=False, expires_at=iso(expires), read_only=read_only,
            scope=scope)).inserted_primary_key[0]
        data = {"user": username, "label": label, "expires_at": iso(expires), "read_only": read_only}
        if scope is not None:
            data["scope"] = scope
        _audit(audit, conn, actor, "token_create", f"token:{token_id}", data)
    return IssuedToken(token_id, token, iso(expires))


def create_token(store: Store, username: str, label: str | None = None, *,
                 expires_at: datetime | None = None) -> str:
    """``issue_token``'s token alone."""
    return issue_token(store, username, label, expires_at=expires_at).token


def list_tokens(store: Store, username: str | None = None) -> list[dict]:
    """Every token (never its secret): id, user, label, created, expires, revoked, last use, and
    its state now (active, expired or revoked), oldest first."""
    now = store.now_text()
    query = (select(api_tokens.c.id, users.c.username.label("user"), api_tokens.c.label,
                    api_tokens.c.created_at, api_tokens.c.expires_at, api_tokens.c.revoked,
                    api_tokens.c.read_only, api_tokens.c.scope,
                    api_tokens.c.revoked_at, api_tokens.c.last_used_at, api_tokens.c.last_used_from)
             .join(users, users.c.id == api_tokens.c.user_id).order_by(api_tokens.c.id))
    if username is not None:
        query = query.where(users.c.username == username)
    with store.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for r in rows:
        r["state"] = "revoked" if r["revoked"] else ("expired" if r["expires_at"] <= now else "active")
    return rows


def revoke_token(store: Store, token_id: int, *, audit: Audit | None = None, actor: str = "") -> bool:
    """Revoke one token; False if it was revoked already."""
    with store.write() as conn:
        row = conn.execute(select(api_tokens.c.revoked, users.c.username)
                           .join(users, users.c.id == api_tokens.c.user_id)
                           .where(api_tokens.c.id == token_id)).first()
        if row is None:
            raise AccountError(f"no API token {token_id} (`dialtone tokens list` shows them)")
        if row.revoked:
            return False
        conn.execute(update(api_tokens).where(api_tokens.c.id == token_id)
                     .values(revoked=True, revoked_at=store.now_text()))
        _audit(audit, conn, actor, "token_revoke", f"token:{token_id}", {"user": row.username})
    return True


def user_for_token(store: Store, token: str, origin: str | None = None, *,
                   local_accounts: bool = True, confirmation: timedelta | None = None) -> User | None:
    """The user of a live token (not revoked, not expired, the account active); records the use
    from ``origin`` (and an audit-log entry ``token_use``) when the recorded one is older than a
    minute or from elsewhere. With ``local_accounts`` off, tokens of local accounts other than
    administrators' are refused. With ``confirmation``, an OpenID account's token is refused
    (TokenUnconfirmed) when the provider last confirmed the account longer ago than that."""
    now = store.now()
    # A read: API requests must not queue behind an evaluation holding the write lock.
    with store.read() as conn:
        row = conn.execute(
            select(users.c.id, users.c.username, users.c.role, users.c.auth_source, users.c.scope,
                   users.c.oidc_confirmed_at,
                   api_tokens.c.id.label("token_id"), api_tokens.c.read_only,
                   api_tokens.c.scope.label("token_scope"),
                   api_tokens.c.expires_at, api_tokens.c.last_used_at, api_tokens.c.last_used_from)
            .join(api_tokens, api_tokens.c.user_id == users.c.id)
            .where(api_tokens.c.token_sha256 == _digest(token), api_tokens.c.revoked.is_(False),
                   users.c.disabled.is_(False))).first()
    if row is None or row.expires_at <= iso(now):
        return None
    if not local_accounts and row.auth_source == "local" and row.role != "admin":
        return None
    if confirmation is not None and row.auth_source == "oidc" and (
            row.oidc_confirmed_at is None or row.oidc_confirmed_at <= iso(now - confirmation)):
        raise TokenUnconfirmed("sign in through your organisation to keep using this token: the "
                               "organisation's sign-in has not confirmed this account for longer than "
                               "oidc.token_confirmation")
    if origin is not None and (
            row.last_used_at is None or row.last_used_from != origin
            or row.last_used_at < iso(now - timedelta(seconds=TOKEN_USE_WRITE_SECONDS))):
        _record_use(store, row.token_id, row.username, iso(now), origin[:200])
    return User(row.id, row.username, row.role, row.auth_source, read_only=bool(row.read_only),
                scope=row.scope, token_scope=row.token_scope)


def _record_use(store: Store, token_id: int, username: str, at: str, origin: str) -> None:
    """Best effort: while another transaction holds the write lock (an evaluation recording),
    the use is not recorded and the request goes on; the next one tries again. The audit log
    gets an entry each time the use is recorded: at most once a minute per token and address."""
    try:
        with write_without_waiting(store, TOKEN_USE_WAIT_MS) as conn:
            conn.execute(update(api_tokens).where(api_tokens.c.id == token_id)
                         .values(last_used_at=at, last_used_from=origin))
            conn.execute(insert(audit_log).values(at=at, actor=username, action="token_use",
                                                  target=f"token:{token_id}", origin=f"api:{origin}",
                                                  data=canonical_data({})))
    except (SQLAlchemyError, StoreError) as exc:
        log.info("the use of API token %s was not recorded (%s)", token_id, exc)
