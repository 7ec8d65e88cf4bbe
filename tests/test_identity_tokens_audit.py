"""Read-only API tokens, the idle timeout of page sessions, and the audit log of sign-ins,
sign-outs and token use, exported as CSV and JSON from the command line."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import select

from dialtone.engine.store.accounts import issue_token, list_tokens
from dialtone.engine.store.tables import audit_log
from tests.webkit import PASSWORD, build, csrf, login


@pytest.fixture
def web(tmp_path):
    app, store, tokens = build(tmp_path)
    yield app, store, tokens
    store.close()


def actions(store, action: str) -> list:
    with store.read() as conn:
        query = select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.id)
        return list(conn.execute(query))


# -- read-only tokens ------------------------------------------------------------------------------
def test_a_read_only_token_reads_and_is_refused_on_any_write(web):
    app, store, _ = web
    token = issue_token(store, "officer", "dashboards", read_only=True).token
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    assert client.get("/api/v1/findings", headers=headers).status_code == 200
    assert client.head("/api/v1/findings", headers=headers).status_code == 200
    for path, body in (("/api/v1/findings/1/comments", {"text": "hello"}),
                       ("/api/v1/findings/1/assignment", {"assignee": "officer"})):
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 403, path
        assert response.get_json() == {"error": {
            "status": 403, "code": "read_only_token",
            "message": "this API token is read-only: it can only read (GET and HEAD)"}}
    assert client.post("/api/v1/disputes", json={}, headers=headers).status_code == 403
    # The same user's full token writes.
    full = issue_token(store, "officer").token
    response = client.post("/api/v1/findings/1/comments", json={"text": "hello"},
                           headers={"Authorization": f"Bearer {full}"})
    assert response.status_code in (200, 201)
    assert [t["read_only"] for t in list_tokens(store, "officer")] == [False, True, False]


def test_token_use_is_audited_at_most_once_a_minute(web):
    app, store, _ = web
    token = issue_token(store, "auditor", "loop").token
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(5):
        assert client.get("/api/v1/findings", headers=headers).status_code == 200
    assert len(actions(store, "token_use")) == 1
    store.clock.advance(seconds=61)
    assert client.get("/api/v1/findings", headers=headers).status_code == 200
    used = actions(store, "token_use")
    assert [(u.actor, u.target) for u in used] == [("auditor", used[0].target)] * 2
    assert used[0].origin.startswith("api:")


# -- the idle timeout -------------------------------------------------------------------------------
def test_a_session_idle_for_the_idle_timeout_ends(web):
    app, store, _ = web
    client = app.test_client()
    assert login(client, "officer").status_code == 302
    store.clock.advance(minutes=59)
    assert client.get("/findings").status_code == 200      # used within the hour: goes on
    store.clock.advance(minutes=59)
    assert client.get("/findings").status_code == 200
    store.clock.advance(minutes=60)
    response = client.get("/findings")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_the_idle_timeout_and_lifetime_are_settings(tmp_path):
    from dialtone.engine.config import load_config

    (tmp_path / "dialtone.yaml").write_text("web:\n  idle_timeout: 15m\n  session_lifetime: 2h\n",
                                            encoding="utf-8")
    web_settings = load_config(tmp_path / "dialtone.yaml").web
    assert (web_settings.idle_timeout.total_seconds(), web_settings.session_lifetime.total_seconds()) == \
        (900, 7200)


# -- the audit log of sign-ins ---------------------------------------------------------------------
def test_sign_ins_failures_and_sign_outs_are_audited_without_the_password(web):
    app, store, _ = web
    client = app.test_client()
    token = csrf(client.get("/login").get_data(as_text=True))
    wrong = "not the password, really"
    assert client.post("/login", data={"username": "officer", "password": wrong,
                                       "csrf_token": token}).status_code == 401
    assert login(client, "officer").status_code == 302
    token = csrf(client.get("/findings").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    failed, = actions(store, "sign_in_failed")
    assert (failed.actor, json.loads(failed.data)) == ("officer", {"method": "password",
                                                                   "reason": "wrong password"})
    assert [r.actor for r in actions(store, "sign_in")] == ["officer"]
    assert [r.actor for r in actions(store, "sign_out")] == ["officer"]
    with store.read() as conn:
        everything = " ".join(r.data for r in conn.execute(select(audit_log)))
    assert wrong not in everything and PASSWORD not in everything


# -- the command line --------------------------------------------------------------------------------
def cli_run(runner, cli, workspace, *args, input=None):
    result = runner.invoke(cli, ["--config", str(workspace / "dialtone.yaml"), *args], input=input,
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_tokens_create_read_only_and_the_audit_log_exports(runner, cli, workspace):
    cli_run(runner, cli, workspace, "users", "add", "ada", "--role", "officer", "--password-stdin",
            input=PASSWORD + "\n")
    created = cli_run(runner, cli, workspace, "tokens", "create", "ada", "--read-only",
                      "--label", "dashboards")
    assert "read-only token 1 for ada" in created.stderr
    listing = cli_run(runner, cli, workspace, "tokens", "list").stdout
    assert "read-only" in listing.splitlines()[1]
    text = cli_run(runner, cli, workspace, "audit", "log").stdout
    assert "token_create token:1" in text and "user_add user:ada" in text
    rows = list(csv.DictReader(io.StringIO(cli_run(runner, cli, workspace, "audit", "log", "--format",
                                                   "csv").stdout, newline="")))
    assert [r["action"] for r in rows] == ["token_create", "user_add"]
    assert json.loads(rows[0]["data"])["read_only"] is True
    doc = json.loads(cli_run(runner, cli, workspace, "audit", "log", "--format", "json",
                             "--action", "token_create").stdout)
    assert [(e["action"], e["target"], e["data"]["read_only"]) for e in doc] == \
        [("token_create", "token:1", True)]
    assert json.loads(cli_run(runner, cli, workspace, "audit", "log", "--format", "json",
                              "--since", "2999-01-01").stdout) == []


# -- migration 0012 on a store with accounts --------------------------------------------------------
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_migration_0012_keeps_accounts_local_tokens_full_and_sessions_live(kind, tmp_path):
    import datetime as dt

    from alembic import command
    from sqlalchemy import text

    from dialtone.engine.store import accounts
    from dialtone.engine.store.db import _alembic_config, head_revision, make_engines, upgrade
    from tests.storekit import Clock, make_store, store_url

    url = store_url(kind, tmp_path)
    clock = Clock(dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC))
    writer, reader = make_engines(url)
    cfg = _alembic_config()
    with writer.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0011")
        # What a 0011 Dialtone wrote: a user, a token, a live web session.
        conn.execute(text("INSERT INTO users (id, username, role, password_hash, disabled, failed_logins, "
                          "created_at) VALUES (1, 'ada', 'officer', :h, false, 0, '2026-01-01T00:00:00Z')"),
                     {"h": accounts._hasher.hash(PASSWORD)})
        conn.execute(text("INSERT INTO api_tokens (id, user_id, token_sha256, label, created_at, revoked, "
                          "expires_at) VALUES (1, 1, :t, 'cron', '2026-01-01T00:00:00Z', false, "
                          "'2027-01-01T00:00:00Z')"), {"t": accounts._digest("dt_live")})
        conn.execute(text("INSERT INTO web_sessions (id, user_id, created_at, expires_at, origin) VALUES "
                          "(:s, 1, '2026-12-01T08:30:00.000000Z', '2026-12-01T16:30:00.000000Z', 'x')"),
                     {"s": accounts._digest("cookie")})
    assert upgrade(writer) == ("0011", head_revision())
    store = make_store(url, clock)
    user = accounts.authenticate(store, "ada", PASSWORD)
    assert user.auth_source == "local"
    token_user = accounts.user_for_token(store, "dt_live", "10.0.0.1")
    assert token_user.username == "ada" and not token_user.read_only
    # The idle timeout counts from the session's start when it has no last request yet.
    assert accounts.session_user(store, "cookie") == user
    store.close()
    with writer.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0011")
    assert upgrade(writer) == ("0011", head_revision())
    writer.dispose()
    reader.dispose()
