"""Accounts, web sessions and API tokens (security review 2026-12-05: W-A3, W-A6, W-A7, W-T5).

Sessions are checked on the server: a session cookie copied before logout, a password change,
a role change or disabling the account is refused afterwards. Tokens expire, are listed without
their secret, are revoked one by one, and record their last use without making requests wait.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import threading
import time

import pytest
from argon2 import extract_parameters
from sqlalchemy import select, text

from dialtone.engine.store import accounts
from dialtone.engine.store.accounts import (
    AccountError,
    add_user,
    authenticate,
    create_token,
    issue_token,
    list_tokens,
    revoke_token,
    set_disabled,
    set_password,
    set_role,
)
from dialtone.engine.store.tables import api_tokens, audit_log
from dialtone.engine.store.workflow import audit_writer
from tests.storekit import Clock, make_store, store_url
from tests.webkit import PASSWORD, build, login

FAILED = "wrong username or password, or the account is locked or disabled"


@pytest.fixture
def web(tmp_path):
    app, store, tokens = build(tmp_path)
    yield app, store, tokens
    store.close()


def signed_in(app, username: str):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def replay(app, client):
    """A new browser holding a copy of ``client``'s session cookie (as an attacker would)."""
    other = app.test_client()
    other.set_cookie("dialtone_session", client.get_cookie("dialtone_session").value)
    return other


def is_signed_in(client) -> bool:
    response = client.get("/findings")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def logout(client):
    from tests.webkit import csrf

    token = csrf(client.get("/findings").get_data(as_text=True))
    return client.post("/logout", data={"csrf_token": token})


# -- W-A3: the same work for every refusal -------------------------------------------------------
class CountingHasher:
    """argon2's PasswordHasher, counting verifications and keeping the hashes verified against."""

    def __init__(self, real) -> None:
        self.real, self.verified = real, []

    def verify(self, stored, password):
        self.verified.append(stored)
        return self.real.verify(stored, password)

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_every_login_attempt_runs_one_argon2_verification_with_the_same_parameters(tmp_path, monkeypatch):
    store = make_store(f"sqlite:///{tmp_path / 'store.db'}", Clock(dt.datetime(2026, 11, 2, tzinfo=dt.UTC)))
    add_user(store, "locked", "officer", PASSWORD)
    add_user(store, "gone", "officer", PASSWORD)
    add_user(store, "ada", "officer", PASSWORD)
    set_disabled(store, "gone")
    for _ in range(accounts.MAX_FAILURES):
        with pytest.raises(AccountError):
            authenticate(store, "locked", "not the password at all")
    counting = CountingHasher(accounts._hasher)
    monkeypatch.setattr(accounts, "_hasher", counting)
    cases = [("nobody", PASSWORD), ("locked", "not the password at all"), ("locked", PASSWORD),
             ("gone", PASSWORD), ("ada", "not the password at all")]
    for username, password in cases:
        before = len(counting.verified)
        with pytest.raises(AccountError, match=re.escape(FAILED)):
            authenticate(store, username, password)
        assert len(counting.verified) == before + 1, username
    assert authenticate(store, "ada", PASSWORD).username == "ada"
    assert len(counting.verified) == len(cases) + 1
    # The stand-in hash for an unknown user costs what a real one does.
    parameters = [extract_parameters(h) for h in counting.verified]
    assert all(p == parameters[0] for p in parameters)
    store.close()


# -- W-A6, W-A7: sessions end on the server --------------------------------------------------------
def test_a_session_cookie_copied_before_logout_is_refused_after_it(web):
    app, _, _ = web
    browser = signed_in(app, "officer")
    stolen = replay(app, browser)
    assert is_signed_in(stolen)
    assert logout(browser).status_code == 302
    assert not is_signed_in(stolen)
    assert not is_signed_in(browser)


def test_logout_ends_only_that_browsers_session(web):
    app, _, _ = web
    laptop, phone = signed_in(app, "officer"), signed_in(app, "officer")
    logout(laptop)
    assert not is_signed_in(laptop)
    assert is_signed_in(phone)


def test_a_password_change_ends_every_session_of_the_account_but_not_others(web):
    app, store, tokens = web
    laptop, phone, other = signed_in(app, "officer"), signed_in(app, "officer"), signed_in(app, "auditor")
    stolen = replay(app, laptop)
    assert set_password(store, "officer", "a brand new passphrase") == 2
    for client in (laptop, phone, stolen):
        assert not is_signed_in(client)
    assert is_signed_in(other)
    assert login(app.test_client(), "officer").status_code == 401     # the old password
    assert login(app.test_client(), "officer", "a brand new passphrase").status_code == 302
    # API tokens are separate credentials: `dialtone tokens revoke` ends them (documented).
    api = app.test_client().get("/api/v1/findings", headers={"Authorization": f"Bearer {tokens['officer']}"})
    assert api.status_code == 200


def test_a_role_change_ends_the_sessions_and_the_next_login_has_the_new_role(web):
    app, store, _ = web
    browser = signed_in(app, "officer")
    assert set_role(store, "officer", "auditor") == 1
    assert not is_signed_in(browser)
    again = signed_in(app, "officer")
    assert b"officer (auditor)" in again.get("/findings").data


def test_disabling_ends_sessions_and_tokens_and_enabling_lets_the_user_log_in_again(web):
    app, store, tokens = web
    browser = signed_in(app, "officer")
    set_disabled(store, "officer")
    assert not is_signed_in(browser)
    assert login(app.test_client(), "officer").status_code == 401
    headers = {"Authorization": f"Bearer {tokens['officer']}"}
    assert app.test_client().get("/api/v1/findings", headers=headers).status_code == 401
    set_disabled(store, "officer", False)
    assert is_signed_in(signed_in(app, "officer"))
    assert app.test_client().get("/api/v1/findings", headers=headers).status_code == 401  # stays revoked


def test_a_session_ends_eight_hours_after_login_whatever_the_cookie_says(web):
    app, store, _ = web
    browser = signed_in(app, "officer")
    for _ in range(9):      # used every 53 minutes: never idle for the hour that ends a session
        store.clock.advance(minutes=53)
        assert is_signed_in(browser)
    store.clock.advance(hours=7, minutes=59 - 9 * 53)
    assert is_signed_in(browser)
    store.clock.advance(minutes=2)
    assert not is_signed_in(browser)


def test_a_cookie_from_before_server_side_sessions_is_not_accepted(web):
    app, _, _ = web
    client = app.test_client()
    with client.session_transaction() as session:   # what a signed cookie of the old scheme held
        session["uid"], session["role"] = 1, "admin"
    assert not is_signed_in(client)


# -- W-T5: tokens expire, are listed without secrets and revoked one by one ------------------------
def api_get(app, token: str, address: str = "127.0.0.1"):
    return app.test_client().get("/api/v1/findings", headers={"Authorization": f"Bearer {token}"},
                                 environ_base={"REMOTE_ADDR": address})


def test_an_expired_token_is_refused(web):
    app, store, _ = web
    token = create_token(store, "auditor", expires_at=store.now() + dt.timedelta(hours=1))
    assert api_get(app, token).status_code == 200
    store.clock.advance(minutes=61)
    refused = api_get(app, token)
    assert refused.status_code == 401 and refused.json["error"]["code"] == "unauthenticated"
    assert [t["state"] for t in list_tokens(store, "auditor") if t["expires_at"] < store.now_text()] == \
        ["expired"]


def test_a_token_must_expire_in_the_future(web):
    _, store, _ = web
    with pytest.raises(AccountError, match="not in the future"):
        issue_token(store, "auditor", expires_at=store.now())


def test_tokens_expire_after_the_default_lifetime(web):
    _, store, _ = web
    issued = issue_token(store, "auditor")
    expected = store.now() + accounts.DEFAULT_TOKEN_LIFETIME
    assert issued.expires_at == accounts.iso(expected)


def test_revoking_one_token_leaves_the_others(web):
    app, store, tokens = web
    second = issue_token(store, "auditor", "second")
    assert revoke_token(store, second.id) is True
    assert revoke_token(store, second.id) is False        # already revoked: said, not an error
    assert api_get(app, second.token).status_code == 401
    assert api_get(app, tokens["auditor"]).status_code == 200
    with pytest.raises(AccountError, match="no API token 999"):
        revoke_token(store, 999)


def test_the_last_use_is_recorded_at_most_once_a_minute_per_address(web, monkeypatch):
    app, store, tokens = web
    writes = []
    real = accounts._record_use
    monkeypatch.setattr(accounts, "_record_use", lambda *a: (writes.append(a[1:]), real(*a)))
    token_id = next(t["id"] for t in list_tokens(store, "auditor"))

    def last_use():
        return next((t["last_used_at"], t["last_used_from"]) for t in list_tokens(store, "auditor")
                    if t["id"] == token_id)

    assert last_use() == (None, None)
    api_get(app, tokens["auditor"], "10.0.0.7")
    first = store.now_text()
    assert last_use() == (first, "10.0.0.7")
    store.clock.advance(seconds=30)
    api_get(app, tokens["auditor"], "10.0.0.7")          # the same address within a minute: no write
    assert last_use() == (first, "10.0.0.7") and len(writes) == 1
    api_get(app, tokens["auditor"], "10.0.0.8")          # another address: written at once
    assert last_use() == (store.now_text(), "10.0.0.8")
    store.clock.advance(seconds=61)
    api_get(app, tokens["auditor"], "10.0.0.8")
    assert last_use() == (store.now_text(), "10.0.0.8") and len(writes) == 3


def test_recording_the_last_use_never_waits_for_the_write_lock(web, tmp_path):
    """While another transaction holds SQLite's write lock (an evaluation recording for
    seconds), an API request answers at once; its use is simply not recorded."""
    app, store, tokens = web
    holder = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        assert api_get(app, tokens["auditor"]).status_code == 200
        assert time.monotonic() - started < 5           # not the 120 s busy timeout
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert all(t["last_used_at"] is None for t in list_tokens(store, "auditor"))
    assert api_get(app, tokens["auditor"]).status_code == 200
    assert any(t["last_used_at"] for t in list_tokens(store, "auditor"))


# -- the commands ----------------------------------------------------------------------------------
@pytest.fixture
def workspace_cli(tmp_path, runner, cli, monkeypatch):
    (tmp_path / "dialtone.yaml").write_text("sources: {}\nweb:\n  token_lifetime: 7d\n", encoding="utf-8")
    monkeypatch.setenv("DIALTONE_CONFIG", str(tmp_path / "dialtone.yaml"))
    monkeypatch.setenv("DIALTONE_USER", "root-admin")

    def run(*args, stdin: str | None = None):
        return runner.invoke(cli, list(args), input=stdin)

    added = run("users", "add", "ada", "--role", "officer", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    return run, tmp_path


def test_tokens_create_list_and_revoke_from_the_command_line(workspace_cli):
    from dialtone.engine.config import load_config
    from dialtone.engine.store import Store

    run, folder = workspace_cli
    created = run("tokens", "create", "ada", "--label", "nightly export")
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    assert secret.startswith("dt_") and "token 1 for ada, expires" in created.stderr
    dated = run("tokens", "create", "ada", "--expires-on", "2099-01-31")
    assert dated.exit_code == 0 and "expires 2099-02-01T00:00:00" in dated.stderr   # through that day
    assert run("tokens", "create", "ada", "--expires-in", "12h", "--expires-on", "2099-01-31").exit_code == 2
    assert "not a duration" in run("tokens", "create", "ada", "--expires-in", "soon").output

    listed = run("tokens", "list")
    assert listed.exit_code == 0
    assert secret not in listed.output and secret[3:] not in listed.output
    assert accounts._digest(secret) not in listed.output
    rows = [line.split() for line in listed.output.splitlines()[1:]]
    assert [(r[0], r[1], r[2]) for r in rows] == [("1", "ada", "active"), ("2", "ada", "active")]
    store = Store.from_config(load_config(folder / "dialtone.yaml"))
    first = list_tokens(store)[0]
    lifetime = dt.datetime.fromisoformat(first["expires_at"]) - dt.datetime.fromisoformat(first["created_at"])
    assert lifetime == dt.timedelta(days=7)            # web.token_lifetime from the configuration

    assert run("tokens", "revoke", "1").output == "token 1 revoked\n"
    assert run("tokens", "revoke", "1").output == "token 1 was already revoked\n"
    missing = run("tokens", "revoke", "42")
    assert missing.exit_code == 2 and "no API token 42" in missing.output
    assert [r.split()[0] for r in run("tokens", "list", "--active").output.splitlines()[1:]] == ["2"]
    assert run("users", "disable", "ada").exit_code == 0
    assert run("users", "enable", "ada").exit_code == 0
    assert authenticate(store, "ada", PASSWORD).username == "ada"
    with store.read() as conn:
        logged = [(r.actor, r.action, r.target, r.origin.startswith("cli:"))
                  for r in conn.execute(select(audit_log).order_by(audit_log.c.id))]
    assert logged == [("root-admin", "user_add", "user:ada", True),
                      ("root-admin", "token_create", "token:1", True),
                      ("root-admin", "token_create", "token:2", True),
                      ("root-admin", "token_revoke", "token:1", True),
                      ("root-admin", "user_disable", "user:ada", True),
                      ("root-admin", "user_enable", "user:ada", True)]
    store.close()


def test_users_role_and_passwd_say_how_many_sessions_they_ended(workspace_cli):
    run, _ = workspace_cli
    changed = run("users", "role", "ada", "--role", "auditor")
    assert changed.exit_code == 0 and changed.output == "user ada is now auditor; 0 web session(s) ended\n"
    passwd = run("users", "passwd", "ada", "--password-stdin", stdin="another long passphrase\n")
    assert passwd.output == "password of ada changed; 0 web session(s) ended\n"


# -- migration 0007 on a store with accounts ---------------------------------------------------------
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_migration_0007_keeps_users_and_tokens_and_gives_tokens_an_expiry(kind, tmp_path):
    from alembic import command

    from dialtone.engine.store.db import StoreError, _alembic_config, head_revision, make_engines, upgrade

    url = store_url(kind, tmp_path)
    clock = Clock(dt.datetime.now(dt.UTC))
    writer, reader = make_engines(url)
    cfg = _alembic_config()
    with writer.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0006")
        # What a 0006 Dialtone wrote: a user, a live token and a revoked one.
        conn.execute(text("INSERT INTO users (id, username, role, password_hash, disabled, failed_logins, "
                          "created_at) VALUES (1, 'ada', 'officer', :h, false, 0, '2026-01-01T00:00:00Z')"),
                     {"h": accounts._hasher.hash(PASSWORD)})
        conn.execute(text("INSERT INTO api_tokens (id, user_id, token_sha256, label, created_at, revoked) "
                          "VALUES (1, 1, :live, 'cron', '2026-01-01T00:00:00Z', false), "
                          "(2, 1, :gone, NULL, '2026-01-01T00:00:00Z', true)"),
                     {"live": accounts._digest("dt_live"), "gone": accounts._digest("dt_gone")})
    with pytest.raises(StoreError, match="dialtone db upgrade"):
        make_store(url, clock)
    assert upgrade(writer) == ("0006", head_revision())
    store = make_store(url, clock)
    assert authenticate(store, "ada", PASSWORD).username == "ada"
    assert accounts.user_for_token(store, "dt_live").username == "ada"
    assert accounts.user_for_token(store, "dt_gone") is None
    tokens = {t["id"]: t for t in list_tokens(store)}
    assert {i: (t["label"], t["state"]) for i, t in tokens.items()} == {1: ("cron", "active"),
                                                                         2: (None, "revoked")}
    expires = dt.datetime.fromisoformat(tokens[1]["expires_at"])
    assert abs(expires - (clock.now + dt.timedelta(days=90))) < dt.timedelta(minutes=5)
    with store.read() as conn:
        unset = conn.execute(select(api_tokens.c.id).where(api_tokens.c.expires_at.is_(None))).all()
    assert unset == []
    # And back down to 0006, and up again, without losing them.
    store.close()
    with writer.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    assert upgrade(writer) == ("0006", head_revision())
    store = make_store(url, clock)
    assert [t["id"] for t in list_tokens(store)] == [1, 2]
    store.close()
    writer.dispose()
    reader.dispose()


def test_accounts_changes_write_the_audit_log_with_who_did_them(web):
    _, store, _ = web
    audit = audit_writer(store, "test:host")
    issued = issue_token(store, "auditor", "ci", audit=audit, actor="alice")
    revoke_token(store, issued.id, audit=audit, actor="alice")
    set_role(store, "officer2", "auditor", audit=audit, actor="alice")
    with store.read() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.actor == "alice")
                            .order_by(audit_log.c.id)).all()
    assert [(r.action, r.target) for r in rows] == [
        ("token_create", f"token:{issued.id}"), ("token_revoke", f"token:{issued.id}"),
        ("user_role", "user:officer2")]
    assert json.loads(rows[2].data) == {"from": "officer", "to": "auditor", "sessions_ended": 0}


def test_concurrent_logins_each_get_their_own_session(web):
    app, _, _ = web
    clients = [app.test_client() for _ in range(3)]
    errors: list[BaseException] = []

    def go(client):
        try:
            assert login(client, "auditor").status_code == 302
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    cookies = {c.get_cookie("dialtone_session").value for c in clients}
    assert len(cookies) == 3 and all(is_signed_in(c) for c in clients)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_sessions_and_token_use_on_each_database(kind, tmp_path):
    """The store functions behind the pages and the API, on SQLite and PostgreSQL (where recording
    a token's use sets a lock timeout instead of SQLite's busy timeout)."""
    from dialtone.engine.store.accounts import end_session, session_user, start_session, user_for_token

    store = make_store(store_url(kind, tmp_path), Clock(dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)))
    ada = add_user(store, "ada", "officer", PASSWORD)
    first, second = start_session(store, ada, "10.0.0.1"), start_session(store, ada, "10.0.0.2")
    assert session_user(store, first) == ada == session_user(store, second)
    end_session(store, first)
    assert session_user(store, first) is None and session_user(store, second) == ada
    set_password(store, "ada", "another long passphrase")
    assert session_user(store, second) is None
    token = create_token(store, "ada")
    assert user_for_token(store, token, origin="192.0.2.4") == ada
    assert [(t["last_used_at"], t["last_used_from"]) for t in list_tokens(store)] == \
        [(store.now_text(), "192.0.2.4")]
    store.close()
