"""Runs in the web application: the runs page, a run's per-source detail, the run-in-progress
banner, data freshness on the dashboard, the runs API, and `dialtone serve --with-scheduler`.

Runs are real: ``run_once`` on a small CSV workspace (tests/test_runs.py), the second one
degraded because the carrier's file has gone (its data carried forward, marked stale).
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import delete

from dialtone.engine.config import load_config
from dialtone.engine.runs import run_once
from dialtone.engine.store import Store
from dialtone.engine.store.accounts import add_user, create_token
from dialtone.web.app import create_app
from tests.conftest import write_csv
from tests.storekit import Clock
from tests.test_runs import make_workspace
from tests.webkit import HOSTILE, PASSWORD, ROLES, build, login, record_run

SCHEDULE = "schedule: {cron: '15 3 * * 1-5'}\n"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Two runs (succeeded, then degraded), an app whose clock is three days on (the carrier's
    2-day max_age has passed), one user and one token per role."""
    tmp = tmp_path_factory.mktemp("web-runs")
    path = make_workspace(tmp, f"sqlite:///{tmp / 'store.db'}")
    config = load_config(path)
    first = run_once(config, actor="ada")
    (tmp / "carrier" / "lines.csv").unlink()
    # The HR export gains a column no entity has: the second run says so, escaped.
    write_csv(tmp / "hr", "people", ["id", "name", "status", "terminated_on", "email", HOSTILE], [
        ["P1", "Ada", "active", "", "ada@example.com", "x"],
        ["P2", "Bob", "terminated", "2025-01-01", "bob@example.com", "y"]])
    second = run_once(config, trigger="manual", actor="bob")
    assert (first.status, second.status) == ("succeeded", "degraded")
    later = Clock(dt.datetime.now(dt.UTC) + dt.timedelta(days=3))
    store = Store.from_config(config, clock=later)
    for role in ROLES:
        add_user(store, role, role, PASSWORD)
    tokens = {role: create_token(store, role) for role in ROLES}
    app = create_app(config, store=store, testing=True, key="test-secret", secure_cookies=False)
    clients = {}
    for role in ROLES:
        clients[role] = app.test_client()
        assert login(clients[role], role).status_code == 302
    yield {"app": app, "store": store, "tokens": tokens, "clients": clients, "config": config,
           "runs": (first, second)}
    store.close()


def page(site, path: str, role: str = "auditor") -> str:
    response = site["clients"][role].get(path)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def rows(html: str, table: str = "") -> list[str]:
    start = html.index(f'<table class="{table}"' if table else "<table")
    body = html[html.index("<tbody>", start):html.index("</tbody>", start)]
    return re.findall(r"<tr[^>]*>.*?</tr>", body, re.S)


def text(fragment: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", fragment).split())


@pytest.mark.parametrize("role", ROLES)
def test_every_role_sees_the_runs_newest_first(site, role):
    first, second = site["runs"]
    listed = rows(page(site, "/runs", role), "runs")
    assert len(listed) == 2
    newest, oldest = listed
    assert f'href="/runs/{second.run_id}"' in newest and f'href="/runs/{first.run_id}"' in oldest
    assert "degraded" in text(newest) and "succeeded" in text(oldest)
    assert 'class="problem"' in newest and 'class="problem"' not in oldest
    for row, outcome, actor in ((newest, second, "bob"), (oldest, first, "ada")):
        assert f'href="/evaluations/{outcome.evaluation_id}"' in row
        assert f'href="/snapshots#snapshot-{outcome.snapshot_id}"' in row
        assert f"manual {actor}" in text(row)
        findings = outcome.summary["findings"]
        p = outcome.summary["policies"]
        assert f"{findings} {p['alarm']} alarm, {p['ok']} ok, {p['skip']} skip, 0 error" in text(row)
    assert "1 ok, 1 stale or failed" in text(newest) and "1 source(s) failed" in text(newest)
    assert "2 ok" in text(oldest)


def test_a_run_shows_each_source_with_its_problem_highlighted(site):
    first, second = site["runs"]
    html = page(site, f"/runs/{second.run_id}")
    assert "Run 2:" in html and "degraded" in html
    assert f'href="/evaluations/{second.evaluation_id}"' in html
    sources = {re.search(r'<th scope="row">(\w+)</th>', r).group(1): r for r in rows(html, "sources")}
    carrier, hr = sources["carrier"], sources["hr"]
    assert 'class="problem"' in carrier and '<strong class="bad">stale</strong>' in carrier
    # The error, escaped like all collected text; the data it carried is from the first run.
    assert "no &lt;entity&gt;.csv or &lt;entity&gt;.jsonl files in" in carrier
    collected = {s["source"]: s["collected_at"] for s in first.sources}
    assert collected["carrier"][:19].replace("T", " ") in carrier
    assert "less than a minute" in carrier     # data age at the run: collected moments before
    # rows, rejects, unresolved, ambiguous for the carrier: nothing fresh, 1 unresolved reference.
    assert re.findall(r'<td class="num">([^<]*)</td>', carrier)[:4] == ["0", "0", "1", "0"]
    assert 'class="problem"' not in hr and re.findall(r'<td class="num">([^<]*)</td>', hr)[:4] == \
        ["2", "0", "0", "0"]
    assert re.search(r'<td class="num">\d+\.\d s</td>', hr)     # how long the source took
    ok = page(site, f"/runs/{first.run_id}")
    assert 'class="problem"' not in ok and "succeeded" in ok


def test_a_run_and_its_snapshot_show_what_a_source_could_not_give(site):
    first, second = site["runs"]
    warning = ("source &#39;hr&#39;: people.csv: ignored unknown column "
               "&#39;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&#39;.")
    assert second.summary["warnings"] == [
        f"source 'hr': people.csv: ignored unknown column '{HOSTILE}'."]
    html = page(site, f"/runs/{second.run_id}")
    assert "<dt>Warnings</dt>" in html and warning in html and HOSTILE not in html
    assert "<dt>Warnings</dt>" not in page(site, f"/runs/{first.run_id}")
    # The snapshots page: the source's warning and the carrier's stale data, row by row.
    snaps = page(site, "/snapshots")
    newest = re.search(rf'<tr id="snapshot-{second.snapshot_id}">.*?</tr>', snaps, re.S).group(0)
    oldest = re.search(rf'<tr id="snapshot-{first.snapshot_id}">.*?</tr>', snaps, re.S).group(0)
    assert "hr: people.csv: ignored unknown column &#39;&lt;script&gt;" in newest
    assert '<div class="bad">carrier stale: source &#39;carrier&#39;: no &lt;entity&gt;.csv' in newest
    assert HOSTILE not in snaps and "ignored" not in oldest and "stale" not in oldest


def test_a_run_that_does_not_exist_is_not_found(site):
    client = site["clients"]["auditor"]
    assert client.get("/runs/999").status_code == 404
    assert client.get(f"/runs/{2**64}").status_code == 404


def test_a_run_in_progress_shows_a_banner(site):
    from dialtone.engine.store.tables import run_lock, runs

    store = site["store"]
    run_id = record_run(store, lock=True)
    try:
        html = page(site, "/runs")
        banner = html[html.index('<p class="banner"'):html.index("</p>", html.index('<p class="banner"'))]
        assert f'Run <a href="/runs/{run_id}">{run_id}</a> is in progress on web-test:1' in banner
        assert "running" in text(rows(html, "runs")[0])
        detail = page(site, f"/runs/{run_id}")
        assert 'class="banner"' in detail and "None recorded yet" in detail
        assert 'class="banner"' not in page(site, "/runs/1")   # only on the run that holds the lock
    finally:
        with store.write() as conn:
            conn.execute(delete(run_lock))
            conn.execute(delete(runs).where(runs.c.id == run_id))
    assert 'class="banner"' not in page(site, "/runs")


def test_the_dashboard_shows_each_sources_freshness(site):
    html = page(site, "/")
    latest = site["runs"][1].snapshot_id
    assert f'href="/snapshots#snapshot-{latest}"' in html
    assert f'id="snapshot-{latest}"' in page(site, "/snapshots")
    sources = {re.search(r'<th scope="row">(\w+)</th>', r).group(1): r for r in rows(html, "freshness")}
    carrier, hr = sources["carrier"], sources["hr"]
    assert 'class="problem"' in carrier and '<strong class="bad">stale</strong>' in carrier
    assert "3 days" in carrier and "2 days" in carrier and "past its max age" in carrier
    assert "failing since" in carrier and "no &lt;entity&gt;.csv" in carrier
    assert 'class="problem"' not in hr and "collected" in hr and "none" in text(hr)
    # A source not collected whole: the page says its findings were not re-checked.
    banner = html[html.index('aria-label="Sources not collected whole"'):]
    assert "Not collected whole in the latest collect: carrier." in text(banner[:600])
    assert "not re-checked" in banner[:600]


def test_entities_too_old_in_the_latest_snapshot_are_listed(tmp_path):
    """A snapshot whose only carrier data is older than its max_age: the dashboard lists the
    entity (policies reading it report an error) and the source as failing."""
    app, store, _ = build(tmp_path)
    folder = app.extensions["dialtone.config"].data_dir / "snapshots" / "20261102T080000Z"
    folder.mkdir(parents=True)
    manifest = {
        "id": folder.name, "as_of": "2026-11-02", "created_at": "2026-11-02T08:00:00Z",
        "entities": {"lines": {"rows": 3, "sources": ["carrier"]}}, "files": {},
        "sources": {"carrier": {"collector": "csv", "status": "stale", "max_age_seconds": 172800,
                                "collected_at": "2026-10-28T08:00:00Z", "failed_at": "2026-10-30T08:00:00Z",
                                "error": f"source 'carrier': {HOSTILE}", "rows": {"lines": 3}, "rejects": 0}}}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    try:
        client = app.test_client()
        login(client, "auditor")
        html = client.get("/").get_data(as_text=True)
        note = html[html.index('aria-label="Data too old"'):]
        assert "lines data is 5 days old (source &#39;carrier&#39; was last collected " \
               "2026-10-28T08:00:00Z, max_age 2 days; it has failed since 2026-10-30T08:00:00Z" in note
        assert HOSTILE not in html and "past its max age" in html
    finally:
        store.close()


# -- API ----------------------------------------------------------------------------------------
def api(site, role: str | None, path: str, **kwargs):
    headers = {"Authorization": f"Bearer {site['tokens'][role]}"} if role else {}
    return site["app"].test_client().get(path, headers=headers, **kwargs)


@pytest.mark.parametrize("role", ROLES)
def test_the_runs_api_answers_every_role(site, role):
    first, second = site["runs"]
    listed = api(site, role, "/api/v1/runs")
    assert listed.status_code == 200
    assert [r["id"] for r in listed.json["items"]] == [second.run_id, first.run_id]
    assert listed.json["in_progress"] is None
    assert [r["id"] for r in api(site, role, "/api/v1/runs", query_string={"limit": 1}).json["items"]] == \
        [second.run_id]
    one = api(site, role, f"/api/v1/runs/{second.run_id}").json
    assert one["status"] == "degraded" and one["evaluation_id"] == second.evaluation_id
    carrier = {s["source"]: s for s in one["sources"]}["carrier"]
    assert carrier["status"] == "stale" and "no <entity>.csv" in carrier["error"]
    assert one["summary"]["findings"] == second.summary["findings"]


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/api/v1/runs/999", 404, "not_found"), (f"/api/v1/runs/{2**63}", 404, "not_found"),
    ("/api/v1/runs?limit=0", 400, "invalid_request"), ("/api/v1/runs?limit=x", 400, "invalid_request"),
    ("/api/v1/runs?limt=5", 400, "invalid_request")])
def test_the_runs_api_errors_have_the_one_shape(site, path, status, code):
    response = api(site, "auditor", path)
    assert response.status_code == status and response.json["error"]["code"] == code
    assert set(response.json["error"]) == {"status", "code", "message"}


def test_the_runs_api_needs_a_token(site):
    for path in ("/api/v1/runs", "/api/v1/runs/1"):
        assert api(site, None, path).status_code == 401
        assert site["clients"]["admin"].get(path).status_code == 401   # a page session is no token


# -- dialtone serve --with-scheduler -------------------------------------------------------------
@pytest.fixture
def no_waitress(monkeypatch):
    """Replaces waitress.serve: records what the server would have served, returns at once."""
    import waitress

    served = []

    def fake_serve(app, **options):
        from dialtone.engine.scheduler import JOB_ID

        scheduler = app.extensions.get("dialtone.scheduler")
        job = scheduler.get_job(JOB_ID) if scheduler else None
        served.append({"app": app, "options": options, "scheduler": scheduler,
                       "running": bool(scheduler and scheduler.running),
                       "job": job and (job.id, job.func_ref, job.next_run_time)})

    monkeypatch.setattr(waitress, "serve", fake_serve)
    monkeypatch.setenv("DIALTONE_SECRET_KEY", "serve-test-secret")
    return served


def test_serve_with_scheduler_needs_a_schedule(tmp_path, cli, runner, no_waitress):
    path = make_workspace(tmp_path, f"sqlite:///{tmp_path / 'store.db'}")
    result = runner.invoke(cli, ["--config", str(path), "serve", "--with-scheduler"])
    assert result.exit_code == 2, result.output
    assert "error: No schedule configured: add `schedule:" in result.output
    assert no_waitress == []   # nothing was served


def test_serve_with_scheduler_runs_the_schedule_in_the_process(tmp_path, cli, runner, no_waitress):
    from dialtone.engine.scheduler import JOB_ID

    path = make_workspace(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", SCHEDULE)
    result = runner.invoke(cli, ["--config", str(path), "serve", "--with-scheduler", "--port", "8099"])
    assert result.exit_code == 0, result.output
    (served,) = no_waitress
    assert served["running"] is True and served["options"]["port"] == 8099
    job_id, func_ref, next_run = served["job"]
    assert (job_id, func_ref) == (JOB_ID, "dialtone.engine.scheduler:scheduled_run")
    assert next_run.weekday() < 5 and (next_run.hour, next_run.minute) == (3, 15)
    assert served["scheduler"].running is False     # shut down when the server stopped
    assert "scheduler started (UTC): '15 3 * * 1-5'" in result.output
    assert "scheduler stopped" in result.output


def test_serve_without_the_option_runs_no_scheduler(tmp_path, cli, runner, no_waitress):
    path = make_workspace(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", SCHEDULE)
    result = runner.invoke(cli, ["--config", str(path), "serve"])
    assert result.exit_code == 0, result.output
    assert no_waitress[0]["scheduler"] is None and "scheduler" not in result.output


def test_the_runs_page_says_when_this_servers_schedule_runs_next(tmp_path, monkeypatch):
    from dialtone.web.cli.serve import build_server, stop_scheduler

    monkeypatch.setenv("DIALTONE_SECRET_KEY", "serve-test-secret")
    config = load_config(make_workspace(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", SCHEDULE))
    store = Store.from_config(config)
    said: list[str] = []
    app, scheduler = build_server(config, store, with_scheduler=True, say=said.append)
    try:
        app.config.update(TESTING=True, SESSION_COOKIE_SECURE=False)
        add_user(store, "auditor", "auditor", PASSWORD)
        client = app.test_client()
        assert login(client, "auditor").status_code == 302
        html = client.get("/runs").get_data(as_text=True)
        assert re.search(r"the next run is due \d{4}-\d\d-\d\d 03:15:00 UTC", html)
        assert "No runs yet" in html
    finally:
        stop_scheduler(scheduler, store, said.append)
        store.close()
    assert said[-1] == "scheduler stopped" and not scheduler.running
