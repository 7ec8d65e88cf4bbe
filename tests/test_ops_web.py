"""/healthz, /readyz and /metrics for load balancers and monitoring, and the JSON request log
(web/views/ops.py, web/metrics.py, web/request_log.py; docs/operations.md)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import logging

import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, func, select

from dialtone.engine.config import OpsSettings, load_config
from dialtone.engine.store import Store
from dialtone.engine.store.accounts import add_user, create_token
from dialtone.engine.store.backup import upgrade_to
from dialtone.engine.store.db import MIGRATIONS, head_revision
from dialtone.engine.store.tables import findings
from dialtone.web.app import create_app
from dialtone.web.cli import cli
from dialtone.web.request_log import _HANDLER_NAME
from tests.webkit import PASSWORD, build, login

OPS = ("/healthz", "/readyz", "/metrics")


@pytest.fixture
def web(tmp_path):
    app, store, tokens = build(tmp_path)
    yield app, store, tokens
    store.close()


def with_ops(app, store, **ops):
    """Another application over the same store, with these ``ops:`` settings."""
    config = app.extensions["dialtone.config"]
    config = dataclasses.replace(config, ops=OpsSettings(**ops))
    return create_app(config, store=store, testing=True, key="test-secret", secure_cookies=False)


def statements(store: Store) -> list[str]:
    """Every SQL statement run on the store's engines from now on."""
    seen: list[str] = []
    for engine in {store.writer, store.reader}:
        event.listen(engine, "before_cursor_execute", lambda _c, _cur, sql, *_a: seen.append(sql))
    return seen


# -- public, sessionless, no store for /healthz ---------------------------------------------------
def test_the_ops_endpoints_are_public_set_no_cookie_and_declare_their_roles(web):
    app, _store, _tokens = web
    client = app.test_client()
    for path in OPS:
        response = client.get(path)
        assert response.status_code == 200, (path, response.get_data(as_text=True))
        assert "Set-Cookie" not in response.headers, path
        endpoint = app.url_map.bind("localhost").match(path)[0]
        assert app.view_functions[endpoint].allowed_roles == "public"
    # GET only: nothing here changes state, so CSRF has nothing to protect.
    assert client.post("/healthz").status_code == 405


def test_healthz_does_not_touch_the_store(web):
    app, store, _tokens = web
    client = app.test_client()
    login(client, "officer")          # a session cookie is sent along: still no store access
    seen = statements(store)
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert seen == []


# -- readiness ------------------------------------------------------------------------------------
def previous_revision() -> str:
    return ScriptDirectory(str(MIGRATIONS)).get_revision(head_revision()).down_revision


def test_readyz_fails_while_migrations_are_behind_and_passes_after_db_upgrade(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    (tmp_path / "dialtone.yaml").write_text("sources: {}\n", encoding="utf-8")
    config = load_config(tmp_path / "dialtone.yaml")
    old = Store(url, check=False)
    upgrade_to(old.writer, previous_revision())      # a store one migration behind this version
    app = create_app(config, store=old, testing=True, key="k", secure_cookies=False, schema_gate=True)
    client = app.test_client()

    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not ready" and body["failed"] == ["schema"]
    assert body["checks"]["store"] == {"ok": True}
    assert "run `dialtone db upgrade`" in body["checks"]["schema"]["detail"]
    assert client.get("/healthz").status_code == 200
    page = client.get("/login")
    assert page.status_code == 503 and page.headers["Retry-After"] == "30"
    assert "schema behind" in page.get_json()["error"]["message"]
    assert client.get("/metrics").status_code == 503

    monkeypatch.setenv("DIALTONE_DATABASE_URL", url)
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "dialtone.yaml"), "db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"-> {head_revision()}" in result.output

    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "ready"
    assert client.get("/login").status_code == 200
    old.close()


def test_readyz_tells_a_schema_newer_than_this_version_from_one_behind(tmp_path):
    from sqlalchemy import text

    (tmp_path / "dialtone.yaml").write_text("sources: {}\n", encoding="utf-8")
    store = Store(f"sqlite:///{tmp_path / 'new.db'}")
    with store.write() as conn:       # as a later version's migration would leave it
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    app = create_app(load_config(tmp_path / "dialtone.yaml"), store=store, testing=True, key="k",
                     secure_cookies=False, schema_gate=True)
    detail = app.test_client().get("/readyz").get_json()["checks"]["schema"]["detail"]
    assert detail == "schema 9999 is newer than this version of Dialtone: run the newer version"
    store.close()


def test_serve_without_wait_for_upgrade_still_refuses_an_old_schema(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = Store(url, check=False)
    upgrade_to(old.writer, previous_revision())
    old.close()
    (tmp_path / "dialtone.yaml").write_text("sources: {}\n", encoding="utf-8")
    monkeypatch.setenv("DIALTONE_DATABASE_URL", url)
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "dialtone.yaml"), "serve", "--port", "1"])
    assert result.exit_code == 2
    assert "run `dialtone db upgrade`" in result.output


def test_wait_for_upgrade_serves_the_web_application_only(tmp_path):
    (tmp_path / "dialtone.yaml").write_text("sources: {}\nschedule: {cron: '0 2 * * *'}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "dialtone.yaml"), "serve", "--port", "1",
                                      "--wait-for-upgrade", "--with-scheduler"])
    assert result.exit_code == 2
    assert "--wait-for-upgrade runs the web application only" in result.output


def test_readyz_checks_the_last_completed_runs_age_against_ops_max_run_age(web):
    app, store, _tokens = web        # run 1 (degraded) finished at the store's clock
    ready = with_ops(app, store, max_run_age=dt.timedelta(hours=36)).test_client()
    body = ready.get("/readyz").get_json()
    assert body["status"] == "ready"
    assert body["checks"]["last_run"] == {"ok": True, "age_seconds": 0, "max_age_seconds": 129600.0}

    store.clock.advance(hours=37)
    response = ready.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["failed"] == ["last_run"]
    assert body["checks"]["last_run"]["age_seconds"] == 37 * 3600
    assert "older than ops.max_run_age" in body["checks"]["last_run"]["detail"]
    # Not set: not checked, and said so.
    unset = app.test_client().get("/readyz").get_json()["checks"]["last_run"]
    assert unset["detail"].startswith("not checked")


def test_readyz_with_max_run_age_and_no_run_yet_is_not_ready(tmp_path):
    (tmp_path / "dialtone.yaml").write_text("sources: {}\nops: {max_run_age: 2d}\n", encoding="utf-8")
    config = load_config(tmp_path / "dialtone.yaml")
    assert config.ops.max_run_age == dt.timedelta(days=2)
    store = Store(f"sqlite:///{tmp_path / 'new.db'}")
    app = create_app(config, store=store, testing=True, key="k", secure_cookies=False)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["last_run"]["detail"] == "no completed run recorded yet"
    store.close()


def test_readyz_names_an_unreachable_store_without_its_url(tmp_path):
    (tmp_path / "dialtone.yaml").write_text("sources: {}\n", encoding="utf-8")
    config = load_config(tmp_path / "dialtone.yaml")
    # A PostgreSQL URL where nothing listens (port 1): connecting is refused at once.
    store = Store("postgresql+psycopg://opsuser:hunter2secret@127.0.0.1:1/dialtone", check=False)
    app = create_app(config, store=store, testing=True, key="k", secure_cookies=False, schema_gate=True)
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["failed"] == ["store"]
    assert client.get("/healthz").status_code == 200
    assert client.get("/login").status_code == 503
    for leaked in ("opsuser", "hunter2secret", "127.0.0.1"):
        assert leaked not in response.get_data(as_text=True)
    store.close()


# -- metrics --------------------------------------------------------------------------------------
def scrape(client, **headers) -> dict[str, list]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain; version=")
    families = text_string_to_metric_families(response.get_data(as_text=True))
    return {family.name: family.samples for family in families}


def value(samples, name: str, **labels) -> float:
    found = [s.value for s in samples
             if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, samples)
    return found[0]


def test_metrics_scrape_finds_the_run_findings_sources_and_outbox_series(web):
    app, store, _tokens = web
    client = app.test_client()
    login(client, "officer")
    assert client.get("/findings/1").status_code == 200
    metrics = scrape(client)

    assert value(metrics["dialtone_runs"], "dialtone_runs_total", status="degraded") == 1
    assert value(metrics["dialtone_runs"], "dialtone_runs_total", status="failed") == 0
    assert value(metrics["dialtone_last_run_status"], "dialtone_last_run_status", status="degraded") == 1
    assert value(metrics["dialtone_last_run_status"], "dialtone_last_run_status", status="succeeded") == 0
    assert value(metrics["dialtone_last_run_age_seconds"], "dialtone_last_run_age_seconds") == 0
    assert "dialtone_last_run_duration_seconds" in metrics

    # Findings by status and severity: the same totals as counting the table.
    with store.read() as conn:
        total = conn.execute(select(func.count()).select_from(findings)).scalar_one()
    series = metrics["dialtone_findings"]
    assert sum(s.value for s in series) == total == 4
    assert {s.labels["severity"] for s in series} <= {"critical", "high", "medium", "low", "info"}
    assert {s.labels["status"] for s in series} == {"open"}

    # Sources' age from their last good collect (hr 08:59, carrier three days before 09:00).
    assert value(metrics["dialtone_source_age_seconds"], "dialtone_source_age_seconds", source="hr") == 60
    assert value(metrics["dialtone_source_age_seconds"], "dialtone_source_age_seconds",
                 source="carrier") == 3 * 86400
    assert value(metrics["dialtone_outbox_messages"], "dialtone_outbox_messages", state="pending") == 0
    assert value(metrics["dialtone_disputes_open"], "dialtone_disputes_open", status="filed") == 0

    # Latency by endpoint name, never by raw path: no id in any label.
    latency = metrics["dialtone_http_request_duration_seconds"]
    counts = [s for s in latency if s.name == "dialtone_http_request_duration_seconds_count"]
    assert any(s.labels["endpoint"] == "pages.finding" and s.labels["status"] == "200"
               for s in counts), counts
    assert all("/" not in v for s in latency for v in s.labels.values() if v != "+Inf")


def test_metrics_figures_are_read_per_scrape_from_the_store(web):
    """Not kept in the process: a second application (another process, a replica) over the same
    store reports the run another one recorded."""
    from tests.webkit import record_run

    app, store, _tokens = web
    other = with_ops(app, store).test_client()
    assert value(scrape(other)["dialtone_runs"], "dialtone_runs_total", status="succeeded") == 0
    record_run(store, status="succeeded", error=None, sources=[])
    metrics = scrape(other)
    assert value(metrics["dialtone_runs"], "dialtone_runs_total", status="succeeded") == 1
    assert value(metrics["dialtone_last_run_status"], "dialtone_last_run_status", status="succeeded") == 1


def test_metrics_need_the_bearer_token_when_one_is_set(web, monkeypatch, tmp_path):
    app, store, tokens = web
    token_file = tmp_path / "metrics_token"
    token_file.write_text("s3cret-metrics-token\n", encoding="utf-8")
    client = with_ops(app, store, metrics_token_file=token_file).test_client()
    refused = client.get("/metrics")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    # An API token of a user is not the metrics token.
    assert client.get("/metrics", headers={"Authorization": f"Bearer {tokens['admin']}"}).status_code == 401
    assert "dialtone_findings" in scrape(client, Authorization="Bearer s3cret-metrics-token")
    # The environment variable wins over the file.
    monkeypatch.setenv("DIALTONE_METRICS_TOKEN", "from-the-environment")
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token"}).status_code == 401
    assert "dialtone_runs" in scrape(client, Authorization="Bearer from-the-environment")


def test_an_unreadable_metrics_token_file_closes_metrics_rather_than_opening_them(web, tmp_path):
    app, store, _tokens = web
    client = with_ops(app, store, metrics_token_file=tmp_path / "missing").test_client()
    response = client.get("/metrics")
    assert response.status_code == 503
    assert "dialtone_" not in response.get_data(as_text=True)


def test_ops_settings_are_checked_with_the_line(tmp_path):
    from dialtone.engine.errors import ConfigError

    (tmp_path / "dialtone.yaml").write_text("sources: {}\nops:\n  log_format: xml\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"dialtone.yaml:3: ops.log_format: 'xml' is not one of"):
        load_config(tmp_path / "dialtone.yaml")


# -- JSON request logs ----------------------------------------------------------------------------
@pytest.fixture
def json_log(web):
    """The application with ``ops.log_format: json``, its log lines captured."""
    app, store, tokens = web
    level = logging.getLogger().level
    json_app = with_ops(app, store, log_format="json")
    root = logging.getLogger()
    handler = next(h for h in root.handlers if h.get_name() == _HANDLER_NAME)
    stream = io.StringIO()
    handler.setStream(stream)
    yield json_app, store, tokens, stream
    root.removeHandler(handler)
    root.setLevel(level)


def test_json_logs_carry_one_line_per_request_and_no_secret_or_personal_data(json_log):
    app, store, tokens, stream = json_log
    user = add_user(store, "jane.doe@example.com", "officer", PASSWORD)
    token = create_token(store, "jane.doe@example.com")
    browser = app.test_client()
    login(browser, "jane.doe@example.com")
    cookie = browser.get_cookie("dialtone_session").value
    assert browser.get("/findings?q=secret-search-term&assignee=jane.doe@example.com").status_code == 200
    api = app.test_client()
    answer = api.get("/api/v1/findings?policy=x", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    requests = [line for line in lines if line.get("logger") == "dialtone.requests"]
    assert [(r["method"], r["endpoint"], r["path"], r["status"]) for r in requests] == [
        ("GET", "auth.login", "/login", 200), ("POST", "auth.login", "/login", 302),
        ("GET", "pages.findings", "/findings", 200), ("GET", "api.findings", "/api/v1/findings", 200)]
    assert requests[2]["user_id"] == user.id and requests[2]["role"] == "officer"
    assert requests[3]["user_id"] == user.id
    assert requests[0]["user_id"] is None
    assert all(isinstance(r["duration_ms"], float) and r["level"] == "INFO" for r in requests)
    assert all(dt.datetime.fromisoformat(r["time"]).utcoffset() == dt.timedelta(0) for r in requests)
    text = stream.getvalue()
    for secret in ("jane.doe", "example.com", PASSWORD, token, cookie, "secret-search-term", "policy=x",
                   *tokens.values()):
        assert secret not in text, secret


def test_the_default_log_format_writes_no_request_lines(web, capsys):
    app, _store, _tokens = web
    app.test_client().get("/healthz")
    assert capsys.readouterr().err == ""
