"""An OpenID group gives its members a scope (docs/sign-in.md, docs/access.md), against a real
OpenID provider (npm's oidc-provider, tests/oidckit.py)."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from dialtone.engine.config import load_config
from dialtone.engine.store.tables import audit_log, users
from dialtone.web.app import create_app
from tests.oidckit import CLIENT_SECRET, SECRET_ENV, OpenIdProvider, config_text, sign_in_at_provider
from tests.storekit import Clock, make_store

BASE = "http://localhost"
GROUPS = {"officers-uk": {"role": "officer", "scope": "uk"},
          "officers-eu": {"role": "officer", "scope": "eu"},
          "officers": {"role": "officer"},
          "auditors-eu": {"role": "auditor", "scope": "eu"}}
ACCESS = "access:\n  scopes:\n    uk: {legal_entities: [Example UK Ltd]}\n    eu: {cost_centers: [CC-EU]}\n"


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    op = OpenIdProvider(tmp_path_factory.mktemp("oidc-provider"), BASE)
    yield op
    op.stop()


@pytest.fixture
def site(tmp_path, monkeypatch, provider):
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    (tmp_path / "dialtone.yaml").write_text(config_text(provider.issuer, BASE, groups=GROUPS) + ACCESS,
                                            encoding="utf-8")
    config = load_config(tmp_path / "dialtone.yaml")
    clock = Clock(dt.datetime.now(dt.UTC).replace(microsecond=0))   # the provider dates by the real clock
    store = make_store(f"sqlite:///{tmp_path / 'store.db'}", clock)
    yield create_app(config, store=store, testing=True, key="oidc-test-secret", secure_cookies=False), store
    store.close()


def _sign_in(client, provider, login: str):
    start = client.get("/oidc/login").headers["Location"]
    parts = urlsplit(sign_in_at_provider(start, login, BASE))
    return client.get(f"{parts.path}?{parts.query}")


def _account(store, username: str):
    with store.read() as conn:
        return conn.execute(select(users).where(users.c.username == username)).first()


def test_a_group_with_a_scope_gives_it_to_its_members(site, provider):
    app, store = site
    provider.set_accounts({"uma": ["officers-uk", "auditors-eu"]})
    assert _sign_in(app.test_client(), provider, "uma").status_code == 302
    row = _account(store, "uma")
    assert (row.role, row.scope) == ("officer", "uk")    # the officers' group decides, not the auditors'
    with store.read() as conn:
        scoped = conn.execute(select(audit_log).where(audit_log.c.action == "user_scope")).all()
    assert [json.loads(r.data)["to"] for r in scoped] == ["uk"]


def test_a_group_without_a_scope_gives_everything(site, provider):
    app, store = site
    provider.set_accounts({"vic": ["officers-uk", "officers"]})
    assert _sign_in(app.test_client(), provider, "vic").status_code == 302
    assert _account(store, "vic").scope is None


def test_groups_giving_the_role_with_different_scopes_are_refused(site, provider):
    app, store = site
    provider.set_accounts({"otto": ["officers-uk", "officers-eu"]})
    response = _sign_in(app.test_client(), provider, "otto")
    assert response.status_code == 403
    assert "name different scopes (eu, uk)" in response.get_data(as_text=True)
    assert _account(store, "otto") is None


def test_groups_that_come_to_name_different_scopes_stop_the_session_and_the_tokens(site, provider):
    from dialtone.engine.store.accounts import issue_token

    app, store = site
    provider.set_accounts({"una": ["officers-uk"]})
    client = app.test_client()
    assert _sign_in(client, provider, "una").status_code == 302
    token = issue_token(store, "una", "script").token

    def api():
        return app.test_client().get("/api/v1/findings", headers={"Authorization": f"Bearer {token}"})

    assert api().status_code == 200
    provider.set_accounts({"una": ["officers-uk", "officers-eu"]})
    store.clock.advance(minutes=5)                       # the refresh interval
    response = client.get("/findings")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    # The stored scope (uk) no longer holds: the token stops rather than read with it.
    assert api().status_code == 401
    with store.read() as conn:
        stopped = conn.execute(select(audit_log).where(audit_log.c.action == "user_unconfirmed")).all()
    assert [json.loads(r.data)["sessions_ended"] for r in stopped] == [1]
