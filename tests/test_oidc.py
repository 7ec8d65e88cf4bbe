"""OpenID Connect sign-in against a real provider (npm's oidc-provider, tests/oidckit.py), and
the ID-token checks against crafted answers from a local stand-in provider (pytest-httpserver)
signed with a test key: state replay, nonce replay, another issuer, an expired token,
``alg=none`` and a key the provider never published are all refused, and audited."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import socket
import threading
from urllib.parse import urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from sqlalchemy import select

from dialtone.engine.config import load_config
from dialtone.engine.store.accounts import add_user, issue_token
from dialtone.engine.store.tables import api_tokens, audit_log, users
from dialtone.web.app import create_app
from tests.oidckit import (
    CLIENT_ID,
    CLIENT_SECRET,
    SECRET_ENV,
    OpenIdProvider,
    config_text,
    query,
    sign_in_at_provider,
)
from tests.storekit import Clock, make_store
from tests.webkit import PASSWORD, csrf

BASE = "http://localhost"     # Flask's test client


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    op = OpenIdProvider(tmp_path_factory.mktemp("oidc-provider"), BASE)
    yield op
    op.stop()


def workspace(tmp_path, monkeypatch, issuer: str, web: dict | None = None, **oidc):
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    text = config_text(issuer, BASE, **oidc) + (f"web: {json.dumps(web)}\n" if web else "")
    (tmp_path / "dialtone.yaml").write_text(text, encoding="utf-8")
    config = load_config(tmp_path / "dialtone.yaml")
    # The provider dates its tokens by the real clock: the store's starts there and is moved by hand.
    clock = Clock(dt.datetime.now(dt.UTC).replace(microsecond=0))
    store = make_store(f"sqlite:///{tmp_path / 'store.db'}", clock)
    add_user(store, "root", "admin", PASSWORD)
    add_user(store, "olivia", "officer", PASSWORD)
    app = create_app(config, store=store, testing=True, key="oidc-test-secret", secure_cookies=False)
    return app, store


@pytest.fixture
def site(tmp_path, monkeypatch, provider):
    app, store = workspace(tmp_path, monkeypatch, provider.issuer)
    yield app, store
    store.close()


def start(client) -> str:
    response = client.get("/oidc/login")
    assert response.status_code == 302
    return response.headers["Location"]


def callback(client, url: str):
    parts = urlsplit(url)
    return client.get(f"{parts.path}?{parts.query}")


def sign_in(client, provider, login: str):
    return callback(client, sign_in_at_provider(start(client), login, BASE))


def audit_rows(store, action: str) -> list:
    with store.read() as conn:
        return list(conn.execute(select(audit_log).where(audit_log.c.action == action)
                                 .order_by(audit_log.c.id)))


def account(store, username: str):
    with store.read() as conn:
        return conn.execute(select(users).where(users.c.username == username)).first()


def test_the_login_page_offers_the_provider(site):
    app, _ = site
    page = app.test_client().get("/login").get_data(as_text=True)
    assert 'href="/oidc/login"' in page and "Sign in with your organisation" in page


def test_a_user_in_a_mapped_group_is_provisioned_with_its_role(site, provider):
    app, store = site
    provider.set_accounts({"ada": ["dialtone-officers", "unrelated"]})
    client = app.test_client()
    response = sign_in(client, provider, "ada")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    page = client.get("/findings").get_data(as_text=True)
    assert "ada (officer)" in page
    row = account(store, "ada")
    assert (row.role, row.auth_source, row.external_subject) == ("officer", "oidc", f"{provider.issuer} ada")
    assert [r.actor for r in audit_rows(store, "user_provision")] == ["ada"]
    signed = audit_rows(store, "sign_in")[-1]
    assert signed.actor == "ada" and json.loads(signed.data)["method"] == "oidc"
    # An OpenID account has no password that works.
    other = app.test_client()
    token = csrf(other.get("/login").get_data(as_text=True))
    login = other.post("/login", data={"username": "ada", "password": PASSWORD, "csrf_token": token})
    assert login.status_code == 401


def test_with_several_mapped_groups_the_highest_role_wins(site, provider):
    app, store = site
    provider.set_accounts({"grace": ["dialtone-auditors", "dialtone-admins", "dialtone-officers"]})
    assert sign_in(app.test_client(), provider, "grace").status_code == 302
    assert account(store, "grace").role == "admin"


def test_a_user_in_no_mapped_group_is_refused_with_a_clear_page_and_no_account(site, provider):
    app, store = site
    provider.set_accounts({"mallory": ["sales"]})
    client = app.test_client()
    response = sign_in(client, provider, "mallory")
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "Sign-in refused" in page
    assert "none of your groups gives access to Dialtone" in page
    assert account(store, "mallory") is None
    failed = audit_rows(store, "sign_in_failed")[-1]
    assert failed.actor == "mallory" and json.loads(failed.data)["reason"] == "no mapped group"
    assert client.get("/findings").status_code == 302


def test_a_replayed_state_is_refused(site, provider, caplog):
    caplog.set_level(logging.INFO)
    app, store = site
    provider.set_accounts({"ada": ["dialtone-officers"]})
    client = app.test_client()
    answer = sign_in_at_provider(start(client), "ada", BASE)
    assert callback(client, answer).status_code == 302
    # The same answer again, in the same browser and in another one: no sign-in under way.
    for browser in (client, app.test_client()):
        response = callback(browser, answer)
        assert response.status_code == 400
        assert "used already" in response.get_data(as_text=True)
    # With no sign-in under way nobody is to account for it: logged, not audited (anyone can send
    # it, and the audit log must not grow with each).
    assert audit_rows(store, "sign_in_failed") == []
    assert [r.getMessage() for r in caplog.records if "without a sign-in under way" in r.getMessage()] \
        == ["OpenID callback without a sign-in under way from 127.0.0.1"] * 2
    # A forged state with a sign-in under way is refused, and audited.
    other = app.test_client()
    state = query(start(other))["state"]
    assert callback(other, f"{BASE}/oidc/callback?code=x&state={state}x").status_code == 400
    reasons = [json.loads(r.data)["reason"] for r in audit_rows(store, "sign_in_failed")]
    assert reasons == ["state missing, unknown or replayed"]


def test_a_removed_group_loses_access_at_the_next_request_after_the_refresh(site, provider):
    app, store = site
    provider.set_accounts({"ada": ["dialtone-officers"]})
    client = app.test_client()
    assert sign_in(client, provider, "ada").status_code == 302
    token = issue_token(store, "ada", "script").token
    provider.set_accounts({"ada": ["sales"]})
    # Within the refresh interval (5 minutes) the groups are not read again.
    store.clock.advance(minutes=4)
    assert client.get("/findings").status_code == 200
    store.clock.advance(minutes=1)
    response = client.get("/findings")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    row = account(store, "ada")
    assert row.disabled
    with store.read() as conn:
        assert conn.execute(select(api_tokens.c.revoked)).scalars().all() == [True]
    assert app.test_client().get("/api/v1/findings", headers={"Authorization": f"Bearer {token}"}
                                 ).status_code == 401
    gone = audit_rows(store, "user_deprovision")
    assert [json.loads(r.data)["tokens_revoked"] for r in gone] == [1]
    # Signing in again is refused while the account is disabled.
    provider.set_accounts({"ada": ["dialtone-officers"]})
    assert sign_in(app.test_client(), provider, "ada").status_code == 403


def test_a_changed_group_changes_the_role_at_the_refresh_and_is_audited(site, provider):
    app, store = site
    provider.set_accounts({"ada": ["dialtone-officers"]})
    client = app.test_client()
    assert sign_in(client, provider, "ada").status_code == 302
    provider.set_accounts({"ada": ["dialtone-auditors"]})
    store.clock.advance(minutes=5)
    page = client.get("/findings").get_data(as_text=True)
    assert "ada (auditor)" in page
    change = audit_rows(store, "user_role")[-1]
    assert json.loads(change.data)["from"] == "officer" and json.loads(change.data)["to"] == "auditor"


def test_logging_out_ends_the_session_and_signs_out_at_the_provider(site, provider):
    app, store = site
    provider.set_accounts({"ada": ["dialtone-officers"]})
    client = app.test_client()
    assert sign_in(client, provider, "ada").status_code == 302
    cookie = client.get_cookie("dialtone_session").value
    token = csrf(client.get("/findings").get_data(as_text=True))
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    target = response.headers["Location"]
    assert target.startswith(provider.issuer + "/session/end?")
    params = query(target)
    assert params["post_logout_redirect_uri"] == f"{BASE}/login"
    assert params["id_token_hint"].count(".") == 2
    replay = app.test_client()
    replay.set_cookie("dialtone_session", cookie)
    assert replay.get("/findings").status_code == 302
    assert [r.actor for r in audit_rows(store, "sign_out")] == ["ada"]
    from dialtone.engine.store.tables import web_sessions

    with store.read() as conn:    # the provider's tokens are erased with the session
        assert conn.execute(select(web_sessions.c.oidc_tokens)).scalars().all() == [None]


def test_local_accounts_off_leaves_administrators_a_break_glass_password(tmp_path, monkeypatch, provider):
    app, store = workspace(tmp_path, monkeypatch, provider.issuer, local_accounts=False)
    officer_token = issue_token(store, "olivia", "old").token
    page = app.test_client().get("/login").get_data(as_text=True)
    assert "break-glass" in page

    def password_login(username: str):
        client = app.test_client()
        token = csrf(client.get("/login").get_data(as_text=True))
        return client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})

    assert password_login("olivia").status_code == 401
    assert password_login("root").status_code == 302
    reasons = [json.loads(r.data)["reason"] for r in audit_rows(store, "sign_in_failed")]
    assert reasons == ["local accounts are turned off (oidc.local_accounts)"]
    headers = {"Authorization": f"Bearer {officer_token}"}
    assert app.test_client().get("/api/v1/findings", headers=headers).status_code == 401
    from dialtone.engine.store.accounts import AccountError

    with pytest.raises(AccountError, match="local accounts are turned off"):
        issue_token(store, "olivia", local_accounts=False)
    assert issue_token(store, "root", local_accounts=False).token
    store.close()


# -- crafted answers from a stand-in provider ------------------------------------------------------
KEY = RSAKey.generate_key(2048, parameters={"kid": "test-key"})
STRANGER = RSAKey.generate_key(2048, parameters={"kid": "test-key"})   # same kid, never published


@pytest.fixture
def standin(tmp_path, monkeypatch, httpserver):
    issuer = httpserver.url_for("/").rstrip("/")
    httpserver.expect_request("/.well-known/openid-configuration").respond_with_json({
        "issuer": issuer, "authorization_endpoint": issuer + "/auth", "token_endpoint": issuer + "/token",
        "jwks_uri": issuer + "/jwks", "userinfo_endpoint": issuer + "/userinfo",
        "id_token_signing_alg_values_supported": ["RS256"]})
    httpserver.expect_request("/jwks").respond_with_json({"keys": [KEY.as_dict(private=False)]})
    # Like Entra ID's: userinfo without the groups (they are in the ID token only).
    httpserver.expect_request("/userinfo").respond_with_json({"sub": "u-1"})
    app, store = workspace(tmp_path, monkeypatch, issuer)
    yield app, store, issuer, httpserver
    store.close()


def id_token(issuer: str, nonce: str, *, now: dt.datetime, key=KEY, alg="RS256", **overrides) -> str:
    issued = int(now.timestamp())
    claims = {"iss": issuer, "sub": "u-1", "aud": CLIENT_ID, "iat": issued, "exp": issued + 300,
              "nonce": nonce, "preferred_username": "eve", "groups": ["dialtone-officers"], **overrides}
    if alg == "none":
        def b64(part: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
        return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    return jwt.encode({"alg": alg, "kid": key.kid}, claims, key)


def answer_with(server, token: str, **more) -> None:
    server.clear_handler_errors()
    server.handlers[:] = [h for h in server.handlers if h.matcher.uri != "/token"]
    server.expect_request("/token", method="POST").respond_with_json(
        {"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": token, **more})


def crafted_sign_in(standin, make_token):
    app, store, issuer, server = standin
    client = app.test_client()
    params = query(start(client))
    answer_with(server, make_token(issuer, params["nonce"], store.clock()))
    return client, callback(client, f"{BASE}/oidc/callback?code=c&state={params['state']}")


def last_reason(store) -> str:
    return json.loads(audit_rows(store, "sign_in_failed")[-1].data)["reason"]


def test_a_well_formed_token_from_the_standin_is_accepted(standin):
    """The control: the refusals below are for what each test changes, nothing else."""
    _, store, _, _ = standin
    client, response = crafted_sign_in(standin, lambda iss, nonce, now: id_token(iss, nonce, now=now))
    assert response.status_code == 302
    assert "eve (officer)" in client.get("/findings").get_data(as_text=True)


def hs256_with_the_client_secret(iss, nonce, now):
    issued = int(now.timestamp())
    claims = {"iss": iss, "sub": "u", "aud": CLIENT_ID, "nonce": nonce, "iat": issued, "exp": issued + 300}
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(CLIENT_SECRET))


CRAFTED = {
    "another issuer": (lambda iss, n, now: id_token("https://idp.elsewhere.example", n, now=now),
                       "ID token claims"),
    "expired": (lambda iss, n, now: id_token(iss, n, now=now - dt.timedelta(minutes=10)), "ID token claims"),
    "alg none": (lambda iss, n, now: id_token(iss, n, now=now, alg="none"), "ID token algorithm 'none'"),
    "HS256 with the client secret": (hs256_with_the_client_secret, "ID token algorithm 'HS256'"),
    "a key never published": (lambda iss, n, now: id_token(iss, n, now=now, key=STRANGER),
                              "ID token signature"),
    "another audience": (lambda iss, n, now: id_token(iss, n, now=now, aud="someone-else"),
                         "ID token claims"),
    "another nonce": (lambda iss, n, now: id_token(iss, "not-the-nonce-sent", now=now), "ID token claims"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_a_crafted_id_token_is_refused(standin, case):
    make, reason = CRAFTED[case]
    _, store, _, _ = standin
    client, response = crafted_sign_in(standin, make)
    assert response.status_code == 400, case
    assert "Sign-in refused" in response.get_data(as_text=True)
    assert last_reason(store).startswith(reason), last_reason(store)
    assert client.get("/findings").status_code == 302
    assert account(store, "eve") is None


def test_an_expired_token_within_the_clock_skew_is_accepted(standin):
    client, response = crafted_sign_in(
        standin, lambda iss, n, now: id_token(iss, n, now=now - dt.timedelta(seconds=330)))
    assert response.status_code == 302      # expired 30 s ago: within the 60 s of skew


@pytest.mark.parametrize("status", [307, 308])
def test_a_token_endpoint_redirect_is_not_followed_with_the_code_and_client_secret(standin, status):
    # Security review 2026-12-07: a 307/308 from the token endpoint made requests post the code,
    # the PKCE verifier and the client secret again to wherever it pointed, and sign in with the
    # ID token found there.
    app, store, issuer, server = standin
    client = app.test_client()
    params = query(start(client))
    elsewhere = server.url_for("/elsewhere/token").replace("localhost", "127.0.0.1")
    server.expect_request("/elsewhere/token").respond_with_json(
        {"access_token": "at", "token_type": "Bearer", "expires_in": 300,
         "id_token": id_token(issuer, params["nonce"], now=store.clock())})
    server.handlers[:] = [h for h in server.handlers if h.matcher.uri != "/token"]
    server.expect_request("/token", method="POST").respond_with_data(
        "", status=status, headers={"Location": elsewhere})
    response = callback(client, f"{BASE}/oidc/callback?code=c&state={params['state']}")
    assert response.status_code == 400
    assert "/elsewhere/token" not in [r.path for r, _ in server.log]
    assert "code exchange failed" in last_reason(store)
    assert client.get("/findings").status_code == 302


@pytest.mark.parametrize(("uri", "answer", "reason"), [
    ("/.well-known/openid-configuration", "<html>a sign-in page</html>", "discovery is not a JSON object"),
    ("/.well-known/openid-configuration", [1], "discovery is not a JSON object"),
    ("/jwks", "<html>", "jwks is not a JSON object"),
    ("/jwks", {"keys": "none"}, "jwks holds no key set"),
    ("/userinfo", ["x"], "userinfo is not a JSON object"),
    ("/userinfo", "<html>", "userinfo is not a JSON object"),
])
def test_a_provider_answer_that_is_no_json_object_refuses_the_sign_in_not_a_server_error(
        standin, uri, answer, reason):
    # Security review 2026-12-07: each of these was an HTTP 500 (ValueError, AttributeError), e.g.
    # an issuer whose discovery URL answers with an HTML page.
    app, store, issuer, server = standin
    if isinstance(answer, str):
        serve(server, uri, data=answer)
    else:
        serve(server, uri, json=answer)
    client = app.test_client()
    response = client.get("/oidc/login")
    if response.status_code == 302:
        params = query(response.headers["Location"])
        answer_with(server, id_token(issuer, params["nonce"], now=store.clock()))
        response = callback(client, f"{BASE}/oidc/callback?code=c&state={params['state']}")
    assert response.status_code == 503
    assert "sign-in provider" in response.get_data(as_text=True)
    assert last_reason(store) == reason


def test_a_replayed_nonce_is_refused(standin):
    """An ID token captured from one sign-in, sent back for a later one: its nonce was that
    sign-in's, used once."""
    app, store, issuer, server = standin
    first = app.test_client()
    params = query(start(first))
    captured = id_token(issuer, params["nonce"], now=store.clock())
    answer_with(server, captured)
    assert callback(first, f"{BASE}/oidc/callback?code=c&state={params['state']}").status_code == 302
    again = app.test_client()
    later = query(start(again))
    assert later["nonce"] != params["nonce"]
    answer_with(server, captured)
    response = callback(again, f"{BASE}/oidc/callback?code=c&state={later['state']}")
    assert response.status_code == 400
    assert "nonce" in last_reason(store)


def test_a_provider_that_is_not_the_configured_issuer_is_refused(tmp_path, monkeypatch, httpserver):
    httpserver.expect_request("/.well-known/openid-configuration").respond_with_json(
        {"issuer": "https://idp.elsewhere.example", "authorization_endpoint": "x", "token_endpoint": "x",
         "jwks_uri": "x"})
    app, store = workspace(tmp_path, monkeypatch, httpserver.url_for("/").rstrip("/"))
    response = app.test_client().get("/oidc/login")
    assert response.status_code == 503
    assert "not the one configured" in response.get_data(as_text=True)
    store.close()


def test_the_client_secret_is_never_in_the_configuration_object(tmp_path, monkeypatch, provider):
    app, store = workspace(tmp_path, monkeypatch, provider.issuer)
    config = app.extensions["dialtone.config"]
    assert CLIENT_SECRET not in repr(config)
    monkeypatch.delenv(SECRET_ENV)
    from dialtone.engine.errors import ConfigError

    with pytest.raises(ConfigError, match=f"oidc.client_secret_env: the environment variable {SECRET_ENV}"):
        create_app(config, store=store, testing=True, key="k", secure_cookies=False)
    store.close()



def test_groups_missing_from_userinfo_are_re_read_from_a_refreshed_id_token(standin):
    """Entra ID's userinfo carries no groups: at the refresh the server uses the refresh token
    and reads the new ID token's; a group removed there deprovisions the account."""
    app, store, issuer, server = standin
    client = app.test_client()
    params = query(start(client))
    answer_with(server, id_token(issuer, params["nonce"], now=store.clock()), refresh_token="rt-1")
    assert callback(client, f"{BASE}/oidc/callback?code=c&state={params['state']}").status_code == 302
    store.clock.advance(minutes=5)
    answer_with(server, id_token(issuer, "", now=store.clock(), groups=["dialtone-auditors"]))
    assert "eve (auditor)" in client.get("/findings").get_data(as_text=True)
    grants = [req.get_data(as_text=True) for req, _ in server.log if req.path == "/token"]
    assert "grant_type=refresh_token" in grants[-1] and "refresh_token=rt-1" in grants[-1]
    store.clock.advance(minutes=5)
    answer_with(server, id_token(issuer, "", now=store.clock(), groups=[]))
    assert client.get("/findings").status_code == 302
    assert account(store, "eve").disabled


def test_without_a_refresh_token_a_session_that_cannot_re_read_its_groups_ends(standin):
    app, store, issuer, server = standin
    client = app.test_client()
    params = query(start(client))
    answer_with(server, id_token(issuer, params["nonce"], now=store.clock()))
    assert callback(client, f"{BASE}/oidc/callback?code=c&state={params['state']}").status_code == 302
    store.clock.advance(minutes=5)
    assert client.get("/findings").status_code == 302
    assert not account(store, "eve").disabled          # not deprovisioned: signs in again
    assert [r.actor for r in audit_rows(store, "sign_out")] == ["eve"]


# -- review fixes (session 11) ---------------------------------------------------------------------
def serve(server, uri: str, **respond) -> None:
    """``uri`` answers as ``respond`` says from now on (respond_with_json's or _data's arguments)."""
    server.handlers[:] = [h for h in server.handlers if h.matcher.uri != uri]
    request = server.expect_request(uri)
    if "json" in respond:
        request.respond_with_json(respond["json"], status=respond.get("status", 200))
    else:
        request.respond_with_data(respond.get("data", ""), status=respond.get("status", 200))


def signed_in_with_refresh(standin):
    """Eve signed in through the stand-in, holding a refresh token (rt-1)."""
    app, store, issuer, server = standin
    client = app.test_client()
    params = query(start(client))
    answer_with(server, id_token(issuer, params["nonce"], now=store.clock()), refresh_token="rt-1")
    assert callback(client, f"{BASE}/oidc/callback?code=c&state={params['state']}").status_code == 302
    return client


def bearer(app, token: str):
    return app.test_client().get("/api/v1/findings", headers={"Authorization": f"Bearer {token}"})


def token_grants(server) -> int:
    return sum(1 for req, _ in server.log if req.path == "/token" and b"refresh_token" in req.get_data())


@pytest.fixture
def blackhole():
    """A TCP port that accepts connections (the kernel's backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def finishes(call, seconds: float = 20):
    """``call()``'s result, asserting it returned within ``seconds`` (a hang fails, not blocks)."""
    out: list = []
    worker = threading.Thread(target=lambda: out.append(call()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still waiting after {seconds} s: no timeout on the provider call"
    return out[0]


def test_a_provider_that_never_answers_times_out_the_sign_in_and_the_refresh(tmp_path, monkeypatch,
                                                                            httpserver, blackhole):
    issuer = httpserver.url_for("/").rstrip("/")
    httpserver.expect_request("/.well-known/openid-configuration").respond_with_json({
        "issuer": issuer, "authorization_endpoint": issuer + "/auth", "token_endpoint": blackhole + "/token",
        "jwks_uri": issuer + "/jwks", "userinfo_endpoint": issuer + "/userinfo"})
    app, store = workspace(tmp_path, monkeypatch, issuer, timeout_seconds=1)
    client = app.test_client()
    state = query(start(client))["state"]
    response = finishes(lambda: callback(client, f"{BASE}/oidc/callback?code=c&state={state}"))
    assert response.status_code == 400 and "start again" in response.get_data(as_text=True)
    assert last_reason(store).startswith("code exchange failed")
    # A session whose groups are due for a re-read, with only a refresh token: the refresh grant
    # times out, the session ends, the account stays (the provider did not refuse anybody).
    from dialtone.engine.store import accounts
    from dialtone.web.views.oidc import seal

    with app.test_request_context():
        user = accounts.provision(store, f"{issuer} u-1", "eve", "officer")
        sid = accounts.start_session(store, user, "t", oidc_tokens=seal({"refresh_token": "rt-1"}))
    with client.session_transaction() as cookie:
        cookie.update(sid=sid, role="officer", who="eve")
    store.clock.advance(minutes=5)
    response = finishes(lambda: client.get("/findings"))
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert not account(store, "eve").disabled
    assert [r.actor for r in audit_rows(store, "sign_out")] == ["eve"]
    store.close()


def test_a_refresh_token_refused_with_invalid_grant_stops_the_account_until_it_signs_in_again(standin):
    # A leaver and a refresh token past the provider's own lifetime answer alike: every session
    # ends and the API tokens stop at once; only a new sign-in through the provider restores them.
    app, store, issuer, server = standin
    client = signed_in_with_refresh(standin)
    token = issue_token(store, "eve", "script").token
    assert bearer(app, token).status_code == 200
    store.clock.advance(minutes=5)
    serve(server, "/token", json={"error": "invalid_grant", "error_description": "grant revoked"}, status=400)
    response = client.get("/findings")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert not account(store, "eve").disabled
    refused = bearer(app, token)
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "token_unconfirmed"
    gone = [json.loads(r.data) for r in audit_rows(store, "user_unconfirmed")]
    assert gone == [{"reason": "refused by the provider at session refresh: refresh token refused: "
                               "invalid_grant", "sessions_ended": 1}]
    assert audit_rows(store, "user_deprovision") == []
    signed_in_with_refresh(standin)                       # the person signs in again
    assert bearer(app, token).status_code == 200


def test_userinfo_refusing_a_fresh_access_token_stops_the_account(standin):
    app, store, issuer, server = standin
    client = signed_in_with_refresh(standin)
    token = issue_token(store, "eve", "script").token
    store.clock.advance(minutes=5)
    answer_with(server, id_token(issuer, "", now=store.clock()))
    serve(server, "/userinfo", json={"error": "invalid_token"}, status=401)
    assert client.get("/findings").status_code == 302
    assert not account(store, "eve").disabled and bearer(app, token).status_code == 401
    reason = json.loads(audit_rows(store, "user_unconfirmed")[-1].data)["reason"]
    assert reason.endswith("userinfo refused a fresh access token")


def test_userinfo_forbidding_a_fresh_access_token_only_ends_the_session(standin):
    """403 insufficient_scope: the provider's configuration, not a leaver."""
    app, store, issuer, server = standin
    client = signed_in_with_refresh(standin)
    store.clock.advance(minutes=5)
    answer_with(server, id_token(issuer, "", now=store.clock()))
    serve(server, "/userinfo", json={"error": "insufficient_scope"}, status=403)
    assert client.get("/findings").status_code == 302
    assert not account(store, "eve").disabled


@pytest.mark.parametrize("answer", [{"data": "upstream down", "status": 503},
                                   {"json": {"error": "server_error"}, "status": 500}])
def test_a_failing_provider_ends_the_session_but_keeps_the_account_and_its_tokens(standin, answer):
    app, store, issuer, server = standin
    client = signed_in_with_refresh(standin)
    token = issue_token(store, "eve", "script").token
    store.clock.advance(minutes=5)
    serve(server, "/token", **answer)
    assert client.get("/findings").status_code == 302
    assert not account(store, "eve").disabled
    assert audit_rows(store, "user_deprovision") == []
    assert bearer(app, token).status_code == 200


def test_a_refreshed_id_token_for_another_subject_ends_the_session(standin):
    app, store, issuer, server = standin
    client = signed_in_with_refresh(standin)
    store.clock.advance(minutes=5)
    answer_with(server, id_token(issuer, "", now=store.clock(), sub="u-2"))
    assert client.get("/findings").status_code == 302
    assert not account(store, "eve").disabled
    with store.read() as conn:
        assert conn.execute(select(users.c.external_subject)
                            .where(users.c.username == "eve")).scalar() == f"{issuer} u-1"


def test_an_oidc_accounts_token_stops_when_the_provider_has_not_confirmed_it(standin):
    app, store, issuer, server = standin
    client = signed_in_with_refresh(standin)
    token = issue_token(store, "eve", "script").token
    local = issue_token(store, "olivia", "local").token
    # A session re-read 5 minutes after the sign-in confirms the account then.
    store.clock.advance(minutes=5)
    answer_with(server, id_token(issuer, "", now=store.clock()))
    assert client.get("/findings").status_code == 200
    store.clock.advance(hours=24, minutes=-3)      # 24 h 2 min after the sign-in, 23 h 57 after the re-read
    assert bearer(app, token).status_code == 200
    store.clock.advance(minutes=3)                 # 24 h after the re-read
    refused = bearer(app, token)
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "token_unconfirmed"
    assert "sign in through your organisation to keep using this token" in \
        refused.get_json()["error"]["message"]
    assert bearer(app, local).status_code == 200     # local accounts' tokens are not the provider's
    # Signing in again confirms the account: the same token works again.
    params = query(start(app.test_client()))
    fresh = app.test_client()
    params = query(start(fresh))
    answer_with(server, id_token(issuer, params["nonce"], now=store.clock()))
    assert callback(fresh, f"{BASE}/oidc/callback?code=c&state={params['state']}").status_code == 302
    assert bearer(app, token).status_code == 200


def test_token_confirmation_is_a_setting(tmp_path, monkeypatch, httpserver):
    issuer = httpserver.url_for("/").rstrip("/")
    app, store = workspace(tmp_path, monkeypatch, issuer, token_confirmation="2h")
    assert app.extensions["dialtone.config"].oidc.token_confirmation == dt.timedelta(hours=2)
    store.close()


def test_a_state_with_non_ascii_characters_is_refused_not_a_server_error(standin):
    app, store, _, _ = standin
    client = app.test_client()
    start(client)
    response = client.get("/oidc/callback?code=c&state=%C3%A9")
    assert response.status_code == 400
    assert last_reason(store) == "state missing, unknown or replayed"


@pytest.mark.parametrize("path", ["/oidc/callback?state=x", "/oidc/login"])
def test_the_openid_sign_in_is_rate_limited_per_address(standin, path):
    app, store, _, _ = standin
    client = app.test_client()
    answers = [client.get(path).status_code for _ in range(31)]   # web.sign_in_limit_per_address: 30/min
    assert 429 not in answers[:30] and answers[30] == 429
    assert audit_rows(store, "sign_in_failed") == []


def test_only_one_of_concurrent_requests_re_reads_and_static_files_none(standin):
    app, store, issuer, server = standin
    client = signed_in_with_refresh(standin)
    store.clock.advance(minutes=5)
    answer_with(server, id_token(issuer, "", now=store.clock()))
    with client.get("/static/dialtone.css") as sheet:
        assert sheet.status_code == 200
    assert token_grants(server) == 0
    # Two requests that both found the re-read due: only the first to claim it calls the provider.
    from dialtone.engine.store import accounts

    with client.session_transaction() as cookie:
        sid = cookie["sid"]
    seen = accounts.live_session(store, sid).refreshed_at
    assert accounts.claim_refresh(store, sid, seen) is True
    assert accounts.claim_refresh(store, sid, seen) is False
    assert client.get("/findings").status_code == 200      # the claim moved refreshed_at: not due
    assert token_grants(server) == 0
    store.clock.advance(minutes=5)
    assert client.get("/findings").status_code == 200
    assert token_grants(server) == 1


def test_logging_out_after_the_default_idle_timeout_still_signs_out_at_the_provider(tmp_path, monkeypatch,
                                                                                   provider):
    """Log out reads ``web.idle_timeout`` when it asks whether the session is still live (for the
    provider's sign-out), as every request does. The request's own last-seen write would hide a
    logout that did not: here the store is busy (an evaluation holds the write lock), so that
    best-effort write is skipped and the session was last seen 90 minutes ago when Log out asks."""
    from contextlib import contextmanager

    from dialtone.engine.store import StoreError, accounts
    from dialtone.engine.store.tables import web_sessions

    app, store = workspace(tmp_path, monkeypatch, provider.issuer, web={"idle_timeout": "3h"})
    provider.set_accounts({"ada": ["dialtone-officers"]})
    client = app.test_client()
    assert sign_in(client, provider, "ada").status_code == 302
    token = csrf(client.get("/findings").get_data(as_text=True))
    with store.read() as conn:
        signed_in_at = conn.execute(select(web_sessions.c.last_seen_at)).scalar_one()

    @contextmanager
    def busy(*args, **kwargs):
        raise StoreError("the store is busy")
        yield

    monkeypatch.setattr(accounts, "write_without_waiting", busy)
    store.clock.advance(minutes=90)      # idle past the default hour, within the configured 3
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"].startswith(provider.issuer + "/session/end?")
    with store.read() as conn:           # the last-seen write was indeed skipped
        assert conn.execute(select(web_sessions.c.last_seen_at)).scalar_one() == signed_in_at
    assert [r.actor for r in audit_rows(store, "sign_out")] == ["ada"]
    store.close()


# -- loose ends (session 12) -----------------------------------------------------------------------
def sign_in_with_next(standin, target: str) -> tuple[str, object]:
    """Eve's sign-in started at /oidc/login?next=<target> once the login page was shown (its CSRF
    token is in the cookie too): the Set-Cookie header that carried the sign-in under way, and
    the callback's answer."""
    app, store, issuer, server = standin
    client = app.test_client()
    client.get("/login")
    started = client.get("/oidc/login", query_string={"next": target})
    assert started.status_code == 302
    cookie = started.headers["Set-Cookie"]
    params = query(started.headers["Location"])
    answer_with(server, id_token(issuer, params["nonce"], now=store.clock()))
    return cookie, callback(client, f"{BASE}/oidc/callback?code=c&state={params['state']}")


def random_path(length: int) -> str:
    """A same-site path of ``length`` characters that does not compress (the cookie is zlib'd)."""
    import secrets

    return "/findings?q=" + secrets.token_urlsafe(length)[:length - len("/findings?q=")]


@pytest.mark.parametrize("target", [random_path(10_000),
                                    # 1,000 characters, 12,000 bytes in the cookie's JSON (\ud83c\udf00...)
                                    "/findings?q=" + "".join(chr(0x1F300 + i % 300) for i in range(988))],
                         ids=["10,000 characters", "1,000 emoji"])
def test_an_over_long_next_still_signs_in_and_lands_on_the_default_page(standin, target):
    cookie, response = sign_in_with_next(standin, target)
    assert len(cookie.encode()) < 4096, len(cookie.encode())   # a browser keeps it
    assert response.status_code == 302 and response.headers["Location"] == "/"


@pytest.mark.parametrize(("target", "lands"), [
    (random_path(2000), "the same"),              # the longest kept (web/security.py NEXT_LONGEST)
    ("/findings?severity=high", "the same"), ("//evil.example/x", "/"), ("https://evil.example/", "/"),
    ("/\\evil.example", "/"), ("/findings\r\nSet-Cookie: x=1", "/")],
    ids=["2,000 characters", "a filter", "protocol-relative", "another site", "backslash", "CRLF"])
def test_a_next_within_the_bound_is_followed_and_an_unsafe_one_is_not(standin, target, lands):
    cookie, response = sign_in_with_next(standin, target)
    assert len(cookie.encode()) < 4096, len(cookie.encode())
    assert response.status_code == 302
    assert response.headers["Location"] == (target if lands == "the same" else lands)


# Google (docs/sign-in.md, "Google"): its ID tokens carry no groups, but a Google Workspace account's
# carry ``hd``, the account's domain; there is no end-session endpoint and no refresh token.
ADA = {"sub": "110169484474386276334", "email": "ada@example.com", "email_verified": True,
       "hd": "example.com"}
PERSONAL = {"sub": "104857399112374665210", "email": "bob@gmail.com", "email_verified": True}


@pytest.fixture
def google(tmp_path, monkeypatch, httpserver):
    issuer = httpserver.url_for("/").rstrip("/")
    httpserver.expect_request("/.well-known/openid-configuration").respond_with_json({
        "issuer": issuer, "authorization_endpoint": issuer + "/o/oauth2/v2/auth",
        "token_endpoint": issuer + "/token", "jwks_uri": issuer + "/jwks",
        "userinfo_endpoint": issuer + "/userinfo", "id_token_signing_alg_values_supported": ["RS256"]})
    httpserver.expect_request("/jwks").respond_with_json({"keys": [KEY.as_dict(private=False)]})
    app, store = workspace(tmp_path, monkeypatch, issuer, scopes=["openid", "profile", "email"],
                           groups_claim="hd", groups={"example.com": {"role": "auditor"}})
    yield app, store, issuer, httpserver
    store.close()


def google_sign_in(google, person: dict):
    """``person`` signs in: Google's ID token (no groups, no preferred_username) and userinfo."""
    app, store, issuer, server = google
    client = app.test_client()
    params = query(start(client))
    issued = int(store.clock().timestamp())
    claims = {"iss": issuer, "aud": CLIENT_ID, "azp": CLIENT_ID, "iat": issued, "exp": issued + 3600,
              "nonce": params["nonce"], **person}
    answer_with(server, jwt.encode({"alg": "RS256", "kid": KEY.kid}, claims, KEY), expires_in=3599)
    serve(server, "/userinfo", json=person)
    return client, callback(client, f"{BASE}/oidc/callback?code=c&state={params['state']}")


def test_a_google_workspace_domain_gives_its_role_through_the_hd_claim_and_a_personal_account_none(google):
    app, store, issuer, server = google
    client, response = google_sign_in(google, ADA)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    row = account(store, "ada@example.com")            # no preferred_username: the e-mail address
    assert (row.role, row.external_subject) == ("auditor", f"{issuer} {ADA['sub']}")
    assert json.loads(audit_rows(store, "sign_in")[-1].data)["groups"] == ["example.com"]
    # A personal Google account has no hd: refused, no account made.
    _, refused = google_sign_in(google, PERSONAL)
    assert refused.status_code == 403
    assert "none of your groups gives access to Dialtone" in refused.get_data(as_text=True)
    assert account(store, "bob@gmail.com") is None and last_reason(store) == "no mapped group"


def test_a_google_session_lasts_while_googles_userinfo_answers_with_hd(google):
    """No refresh token: each refresh reads hd from userinfo with the sign-in's access token. Once
    Google refuses that (it expires after an hour) the session ends; the account stays."""
    app, store, issuer, server = google
    client, response = google_sign_in(google, ADA)
    assert response.status_code == 302
    for _ in range(11):                  # 55 minutes of 5-minute refreshes, all answered with hd
        store.clock.advance(minutes=5)
        assert "ada@example.com (auditor)" in client.get("/findings").get_data(as_text=True)
    assert sum(1 for req, _ in server.log if req.path == "/userinfo") == 12     # the sign-in's, and 11
    assert token_grants(server) == 0
    store.clock.advance(minutes=5)
    serve(server, "/userinfo", json={"error": "invalid_token"}, status=401)   # the hour is up
    ended = client.get("/findings")
    assert ended.status_code == 302 and ended.headers["Location"].startswith("/login")
    assert not account(store, "ada@example.com").disabled
    assert [r.actor for r in audit_rows(store, "sign_out")] == ["ada@example.com"]
    assert audit_rows(store, "user_unconfirmed") == [] and audit_rows(store, "user_deprovision") == []
    # Userinfo without hd at a refresh ends the session the same way.
    client, _ = google_sign_in(google, ADA)
    serve(server, "/userinfo", json={k: v for k, v in ADA.items() if k != "hd"})
    store.clock.advance(minutes=5)
    assert client.get("/findings").status_code == 302
    assert not account(store, "ada@example.com").disabled


def test_logging_out_of_a_google_session_ends_the_dialtone_session_only(google):
    app, store, _, _ = google
    client, _ = google_sign_in(google, ADA)
    token = csrf(client.get("/findings").get_data(as_text=True))
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/findings").status_code == 302
    assert [r.actor for r in audit_rows(store, "sign_out")] == ["ada@example.com"]
