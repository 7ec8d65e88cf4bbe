"""The web application through Flask's test client: every route and role, CSRF, escaping,
security headers, redirects, login throttling, the officer workflow and the JSON API."""

from __future__ import annotations

import json
import re

import pytest

from tests.webkit import HOSTILE, PASSWORD, ROLES, build, csrf, login


@pytest.fixture
def web(tmp_path):
    """A fresh app for tests that change state."""
    app, store, tokens = build(tmp_path)
    yield {"app": app, "store": store, "tokens": tokens, "clients": {}}
    store.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One app for the read-only tests (logging in hashes passwords: slow on purpose)."""
    app, store, tokens = build(tmp_path_factory.mktemp("web"))
    yield {"app": app, "store": store, "tokens": tokens, "clients": {}}
    store.close()


def client_as(web, role: str | None):
    if role in web["clients"]:
        return web["clients"][role]
    client = web["app"].test_client()
    if role:
        assert login(client, role).status_code == 302
        web["clients"][role] = client
    return client


# Every page (GET) with the roles allowed to open it.
PAGES = {
    "/": ROLES, "/findings": ROLES, "/findings/1": ROLES, "/exceptions": ROLES, "/policies": ROLES,
    f"/policies/{'cost.zero-usage-lines'}": ROLES, "/evaluations": ROLES, "/evaluations/1": ROLES,
    "/snapshots": ROLES, "/evidence": ROLES, "/savings": ROLES, "/audit": ("admin", "auditor"),
    "/users": ("admin",),
    "/findings?format=csv": ROLES, "/findings?format=json": ROLES, "/runs": ROLES, "/runs/1": ROLES,
    "/savings.csv": ROLES, "/savings/findings": ROLES, "/notifications": ("admin", "officer"),
    "/disputes": ROLES,
    "/savings/chargeback.csv": ROLES,
}


def test_every_view_declares_who_may_use_it(shared):
    undeclared = [name for name, view in shared["app"].view_functions.items()
                  if name != "static" and getattr(view, "allowed_roles", None) is None]
    assert undeclared == []
    rules = {r.rule for r in shared["app"].url_map.iter_rules() if "GET" in r.methods}
    # /exceptions/<id> needs an exception: tests/test_web_people.py opens it for each role;
    # /notifications/<id> a message: tests/test_notify_web.py does; a dispute and its claim
    # package: tests/test_disputes_web.py; /healthz, /readyz and /metrics: tests/test_ops_web.py;
    # OpenID sign-in (public): tests/test_oidc*.py.
    covered = {p.split("?")[0] for p in PAGES} | {"/login", "/static/<path:filename>", "/exceptions/1",
                                                  "/oidc/login", "/oidc/callback",
                                                  "/notifications/1", "/disputes/<string:ref>",
                                                  "/disputes/<string:ref>/package/<string:fmt>",
                                                  "/healthz", "/readyz", "/metrics"}
    pages = {r for r in rules if not r.startswith("/api/")}
    normalized = {re.sub(r"<id:\w+>", "1", r).replace("<policy_id>", "cost.zero-usage-lines")
                  for r in pages}
    assert normalized <= covered, normalized - covered


@pytest.mark.parametrize("path", sorted(PAGES))
@pytest.mark.parametrize("role", (None, *ROLES))
def test_each_page_for_each_role(shared, path, role):
    response = client_as(shared, role).get(path)
    if role is None:
        assert response.status_code == 302 and "/login?next=" in response.headers["Location"]
    elif role in PAGES[path]:
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
    else:
        assert response.status_code == 403


POSTS = ["/findings/1/action", "/findings/bulk-assign", "/exceptions/1/decide"]


@pytest.mark.parametrize("path", POSTS)
def test_an_auditor_cannot_change_anything(shared, path):
    client = client_as(shared, "auditor")
    token = csrf(client.get("/findings").get_data(as_text=True))
    response = client.post(path, data={"csrf_token": token, "action": "comment", "text": "x",
                                       "decision": "approve", "finding": "1", "assignee": "x"})
    assert response.status_code == 403


@pytest.mark.parametrize("path", POSTS + ["/logout"])
def test_every_form_needs_its_csrf_token(shared, path):
    response = client_as(shared, "officer").post(path, data={"action": "comment", "text": "x"})
    assert response.status_code == 400 and b"security token" in response.data


def test_collected_data_is_escaped_everywhere(shared):
    client = client_as(shared, "officer")
    for path in ("/findings", "/findings/3", "/findings?q=script", "/runs/1"):
        html = client.get(path).get_data(as_text=True)
        assert HOSTILE not in html
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    csv_text = client.get("/findings?format=csv").get_data(as_text=True)
    assert HOSTILE in csv_text  # CSV is data, not HTML: kept, but never as a formula
    payload = json.loads(client.get("/findings?format=json").data)
    assert any(r["resource_id"] == HOSTILE for r in payload)


def test_security_headers_and_cookie_flags(tmp_path):
    from dialtone.web.app import create_app
    from tests.webkit import build as _build

    app, store, _ = _build(tmp_path)
    response = app.test_client().get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    production = create_app(app.extensions["dialtone.config"], store=store, key="k")
    cookie = production.test_client().get("/login").headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    store.close()


def test_a_first_serve_creates_a_private_secret_key_and_says_so(tmp_path, monkeypatch):
    import stat

    from dialtone.engine.config import load_config
    from dialtone.engine.store import Store
    from dialtone.web.cli.serve import build_server

    monkeypatch.delenv("DIALTONE_SECRET_KEY", raising=False)
    (tmp_path / "dialtone.yaml").write_text("sources: {}\n")
    config = load_config(tmp_path / "dialtone.yaml")
    store = Store.from_config(config)
    said: list[str] = []
    app, _ = build_server(config, store, say=said.append)
    key = config.data_dir / "secret_key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_text().strip()) == 64
    assert said == [f"created a secret key for web sessions in {key} (0600; keep it private, back it "
                    "up with the data folder; $DIALTONE_SECRET_KEY overrides it)"]
    assert app.config["SECRET_KEY"] == key.read_text().strip()
    said.clear()
    again, _ = build_server(config, store, say=said.append)   # the next serve keeps it
    assert said == [] and again.config["SECRET_KEY"] == app.config["SECRET_KEY"]
    monkeypatch.setenv("DIALTONE_SECRET_KEY", "from-the-environment")
    key.unlink()
    from_env, _ = build_server(config, store, say=said.append)
    assert said == [] and not key.exists() and from_env.config["SECRET_KEY"] == "from-the-environment"
    store.close()


def test_a_secret_key_must_be_configured(tmp_path, monkeypatch):
    from dialtone.engine.config import load_config
    from dialtone.web.app import WebConfigError, create_app

    monkeypatch.delenv("DIALTONE_SECRET_KEY", raising=False)
    (tmp_path / "dialtone.yaml").write_text("sources: {}\n")
    with pytest.raises(WebConfigError, match="no secret key"):
        create_app(load_config(tmp_path / "dialtone.yaml"))


@pytest.mark.parametrize(("target", "lands"), [
    ("/findings?severity=high", "/findings?severity=high"), ("//evil.example/x", "/"),
    ("https://evil.example/", "/"), ("/\\evil.example", "/"), ("javascript:alert(1)", "/")])
def test_next_redirects_stay_on_the_site(web, target, lands):
    client = web["app"].test_client()
    token = csrf(client.get("/login").get_data(as_text=True))
    response = client.post("/login", query_string={"next": target},
                           data={"username": "officer", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == lands


def test_repeated_failed_logins_lock_the_account(web):
    client = web["app"].test_client()
    for _ in range(5):
        assert login(client, "officer", "wrong password!!").status_code == 401
    refused = login(client, "officer")
    assert refused.status_code == 401 and b"locked" in refused.data
    web["store"].clock.advance(minutes=6)
    assert login(client, "officer").status_code == 302


def test_officers_comment_request_and_approve_not_their_own(web):
    ada = client_as(web, "officer")
    page = ada.get("/findings/1").get_data(as_text=True)
    token = csrf(page)
    ada.post("/findings/1/action", data={"csrf_token": token, "action": "comment", "text": "calling"})
    ada.post("/findings/1/action", data={"csrf_token": token, "action": "request_exception",
                                         "text": "panel line", "expires_on": "2026-11-30"})
    exceptions = ada.get("/exceptions?view=requested").get_data(as_text=True)
    assert "awaiting another officer" in exceptions and 'value="approve"' not in exceptions
    own = ada.post("/exceptions/1/decide", data={"csrf_token": token, "decision": "approve"},
                   follow_redirects=True)
    assert b"cannot approve it" in own.data
    bob = client_as(web, "officer2")
    token = csrf(bob.get("/exceptions").get_data(as_text=True))
    bob.post("/exceptions/1/decide", data={"csrf_token": token, "decision": "approve"})
    detail = bob.get("/findings/1").get_data(as_text=True)
    assert "excepted" in detail
    timeline = detail[detail.index("Remediation history"):]
    for kind in ("opened", "commented", "exception requested", "exception approved", "excepted"):
        assert kind in timeline
    assert "calling" in timeline
    audit = client_as(web, "admin").get("/audit").get_data(as_text=True)
    assert "exception_approve" in audit and "web:" in audit


def test_a_requested_exception_shows_on_the_findings_timeline_without_touching_its_chain(web):
    from dialtone.engine.store import queries

    ada = client_as(web, "officer")
    token = ada_token = csrf(ada.get("/findings/1").get_data(as_text=True))
    before = queries.finding_detail(web["store"], 1)["history"]
    ada.post("/findings/1/action", data={"csrf_token": token, "action": "comment", "text": "calling"})
    ada.post("/findings/1/action", data={"csrf_token": token, "action": "request_exception",
                                         "text": f"panel line {HOSTILE}", "expires_on": "2026-11-30",
                                         "ticket": "CHG-7"})
    # The request is recorded on the exception only: the finding's own chain has just the comment.
    history = queries.finding_detail(web["store"], 1)["history"]
    assert [e["kind"] for e in history] == [e["kind"] for e in before] + ["commented"]
    html = client_as(web, "auditor").get("/findings/1").get_data(as_text=True)
    timeline = html[html.index('<ol class="timeline">'):html.index("</ol>", html.index("timeline"))]
    assert re.findall(r'<span class="kind">([^<]+)</span>', timeline) == \
        ["opened", "commented", "exception requested"]
    pending = timeline[timeline.index('<li class="pending">'):]
    for text in ("officer", "panel line &lt;script&gt;", "expires on: 2026-11-30", "ticket: CHG-7",
                 "status: awaiting a decision", 'exception: <a href="/exceptions/1">1</a>'):
        assert text in pending, text
    assert HOSTILE not in html
    # Not on another resource's finding (same policy, other line).
    assert "exception requested" not in client_as(web, "auditor").get("/findings/2").get_data(as_text=True)

    # Rejected: still not in the finding's chain; the timeline says who refused it.
    bob = client_as(web, "officer2")
    token = csrf(bob.get("/exceptions").get_data(as_text=True))
    bob.post("/exceptions/1/decide", data={"csrf_token": token, "decision": "reject", "note": "use a ticket"})
    html = bob.get("/findings/1").get_data(as_text=True)
    assert "status: rejected by officer2 on 2026-11-02 (use a ticket)" in html
    assert [e["kind"] for e in queries.finding_detail(web["store"], 1)["history"]][-1] == "commented"

    # Approved, it applies: the history has the real chained events and no second request entry.
    ada.post("/findings/1/action", data={"csrf_token": ada_token, "action": "request_exception",
                                         "text": "panel line, again", "expires_on": "2026-11-30"})
    bob.post("/exceptions/2/decide", data={"csrf_token": token, "decision": "approve"})
    html = bob.get("/findings/1").get_data(as_text=True)
    timeline = html[html.index('<ol class="timeline">'):]
    kinds = re.findall(r'<span class="kind">([^<]+)</span>', timeline)
    assert kinds == ["opened", "commented", "exception requested", "exception requested",
                     "exception approved", "excepted"]
    assert timeline.count('<li class="pending">') == 1   # the rejected one; the approved is chained


def test_bulk_assign(web):
    client = client_as(web, "officer")
    token = csrf(client.get("/findings").get_data(as_text=True))
    refused = client.post("/findings/bulk-assign", data={"csrf_token": token, "finding": ["1", "2"],
                                                         "assignee": "carol"})    # not a user
    assert refused.status_code == 400 and "not someone findings can be assigned to" in refused.text
    client.post("/findings/bulk-assign", data={"csrf_token": token, "finding": ["1", "2"],
                                               "assignee": "officer2"})
    rows = json.loads(client.get("/findings?format=json&assignee=officer2").data)
    assert sorted(r["id"] for r in rows) == [1, 2] and {r["status"] for r in rows} == {"in_progress"}


# -- API ----------------------------------------------------------------------------------------
def api(web, role, method="get", path="/api/v1/findings", **kwargs):
    headers = {"Authorization": f"Bearer {web['tokens'][role]}"} if role else {}
    return getattr(web["app"].test_client(), method)(path, headers=headers, **kwargs)


def test_the_api_needs_a_token_and_checks_roles(web):
    anonymous = api(web, None)
    assert anonymous.status_code == 401 and anonymous.json["error"]["code"] == "unauthenticated"
    listed = api(web, "auditor", query_string={"limit": 2})
    assert listed.status_code == 200 and len(listed.json["items"]) == 2 and listed.json["next_after"] == 2
    rest = api(web, "auditor", query_string={"limit": 2, "after": 2})
    assert [r["id"] for r in rest.json["items"]] == [3, 4] and rest.json["next_after"] is None
    refused = api(web, "auditor", "post", "/api/v1/findings/1/comments", json={"text": "x"})
    assert refused.status_code == 403 and refused.json["error"]["code"] == "forbidden"
    done = api(web, "officer", "post", "/api/v1/findings/1/comments", json={"text": "from a script"})
    assert done.status_code == 201
    events = api(web, "auditor", path="/api/v1/findings/1/events").json["items"]
    assert events[-1]["kind"] == "commented" and events[-1]["actor"] == "officer"
    bad = api(web, "auditor", query_string={"severity": "urgent"})
    assert bad.status_code == 400 and "severity" in bad.json["error"]["message"]
    missing = api(web, "auditor", path="/api/v1/findings/999")
    assert missing.status_code == 404 and set(missing.json["error"]) == {"status", "code", "message"}
    session_only = client_as(web, "admin").get("/api/v1/findings")   # a page session is not a token
    assert session_only.status_code == 401


@pytest.mark.parametrize("path", ["/api/v1/exceptions", "/api/v1/policies", "/api/v1/evaluations",
                                  "/api/v1/evaluations/1", "/api/v1/snapshots", "/api/v1/findings/1",
                                  "/api/v1/runs", "/api/v1/runs/1"])
def test_every_read_endpoint_answers_every_role(shared, path):
    for role in ROLES:
        assert api(shared, role, path=path).status_code == 200
    assert api(shared, None, path=path).status_code == 401


def test_the_openapi_document_describes_every_api_route(shared):
    doc = shared["app"].test_client().get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    routes = {re.sub(r"<\w+:(\w+)>", r"{\1}", r.rule.removeprefix("/api/v1"))
              for r in shared["app"].url_map.iter_rules() if r.rule.startswith("/api/v1/")}
    assert routes - {"/openapi.json"} == set(doc["paths"])
