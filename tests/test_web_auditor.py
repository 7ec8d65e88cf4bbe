"""The auditor's side of issue 17, through the CLI and Flask's test client: the audit period (by
when evaluations ran, or by snapshot date; presets), refusals in the auditor's words that keep the
form, package names with the period and the framework, requirement titles in index.html and
OSCAL, the audit log as text with links, the policies search, a policy page that is fast and
readable, and the users page's values for people."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from pathlib import Path

import pytest

from tests.webkit import build, csrf, login

# -- presets: whole quarters and years behind today, or up to today ---------------------------------


@pytest.mark.parametrize(("today", "name", "expected"), [
    (dt.date(2026, 12, 6), "last-quarter", (dt.date(2026, 7, 1), dt.date(2026, 9, 30))),
    (dt.date(2026, 12, 6), "this-quarter", (dt.date(2026, 10, 1), dt.date(2026, 12, 6))),
    (dt.date(2026, 12, 6), "year-to-date", (dt.date(2026, 1, 1), dt.date(2026, 12, 6))),
    (dt.date(2026, 12, 6), "last-year", (dt.date(2025, 1, 1), dt.date(2025, 12, 31))),
    (dt.date(2026, 1, 15), "last-quarter", (dt.date(2025, 10, 1), dt.date(2025, 12, 31))),
    (dt.date(2026, 4, 1), "last-quarter", (dt.date(2026, 1, 1), dt.date(2026, 3, 31))),
    (dt.date(2026, 4, 1), "this-quarter", (dt.date(2026, 4, 1), dt.date(2026, 4, 1))),
])
def test_presets_are_the_periods_auditors_ask_for(today, name, expected):
    from dialtone.engine.evidence.scope import preset_period

    assert preset_period(name, today) == expected


def test_periods_are_said_as_people_write_dates():
    from dialtone.engine.evidence.scope import say_period, say_span

    assert say_period(dt.date(2026, 10, 1), dt.date(2026, 12, 31)) == "1 Oct and 31 Dec 2026"
    assert say_period(dt.date(2025, 10, 1), dt.date(2026, 3, 31), "to") == "1 Oct 2025 to 31 Mar 2026"
    assert say_span(dt.date(2026, 11, 2), dt.date(2026, 11, 2)) == "on 2 Nov 2026"


def test_the_file_name_carries_the_framework_and_the_period():
    from dialtone.engine.evidence.scope import SNAPSHOT, Scope

    q4 = (dt.date(2026, 10, 1), dt.date(2026, 12, 31))
    assert Scope(*q4, "finra-4511").file_name() == "dialtone-evidence-finra-4511-2026-10-01-to-2026-12-31.zip"
    assert Scope(*q4).file_name() == "dialtone-evidence-all-frameworks-2026-10-01-to-2026-12-31.zip"
    assert Scope(*q4, "sec-17a-4").file_name() != Scope(*q4, "finra-4511").file_name()
    assert Scope(*q4, by=SNAPSHOT).file_name().endswith("-by-snapshot-date.zip")
    assert "/" not in Scope(*q4, "../../etc").file_name()


# -- the CLI on the demo estate: a snapshot dated in the past, evaluated today -------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from click.testing import CliRunner

    from dialtone.engine.demo import run_demo
    from dialtone.web.cli import cli

    root = tmp_path_factory.mktemp("auditor")
    list(run_demo(root / "demo"))
    runner = CliRunner()
    cfg = str(root / "demo" / "dialtone.yaml")
    from dialtone.engine.config import load_config
    from dialtone.engine.store import Store, reads

    store = Store.from_config(load_config(Path(cfg)))
    evaluations = reads.list_evaluations(store)
    store.close()
    snapshot = json.loads(runner.invoke(cli, ["--config", cfg, "snapshots", "list", "--format", "json"],
                                        catch_exceptions=False).stdout)[0]
    ran = dt.date.fromisoformat(evaluations[0]["started_at"][:10])
    return {"root": root, "cfg": cfg, "runner": runner, "cli": cli, "ran": ran,
            "as_of": dt.date.fromisoformat(snapshot["as_of"])}


def invoke(demo, *args: str):
    return demo["runner"].invoke(demo["cli"], ["--config", demo["cfg"], "export", "evidence", *args],
                                 catch_exceptions=False)


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def test_the_default_period_is_when_evaluations_ran_and_this_quarter_holds_todays(demo, monkeypatch):
    # The snapshot is dated months ago; by snapshot date this quarter would hold nothing. By the day
    # the evaluation ran (today), it holds it: the dates the control operated.
    monkeypatch.chdir(demo["root"])
    result = invoke(demo, "--period", "this-quarter")
    assert result.exit_code == 0, result.output
    quarter_start = dt.date(demo["ran"].year, 3 * ((demo["ran"].month - 1) // 3) + 1, 1)
    name = f"dialtone-evidence-all-frameworks-{quarter_start}-to-{demo['ran']}.zip"
    assert f"wrote {name}" in result.output
    assert "by when the evaluations ran" in result.output
    files = members(demo["root"] / name)
    manifest = json.loads(files["manifest.json"])
    assert manifest["period"] == {"from": str(quarter_start), "to": str(demo["ran"]), "by": "run"}
    assert manifest["counts"]["evaluations"] == 1 and manifest["counts"]["findings"] > 100
    index = files["index.html"].decode()
    assert "by when the evaluations ran" in index
    oscal = json.loads(files["oscal/assessment-results.json"])
    props = {p["name"]: p["value"] for p in oscal["assessment-results"]["metadata"]["props"]}
    assert props["period-by"] == "run"
    verify = demo["runner"].invoke(demo["cli"], ["evidence", "verify", str(demo["root"] / name)])
    assert verify.exit_code == 0 and "OK:" in verify.output


def test_by_snapshot_date_is_an_option_and_two_exports_do_not_collide(demo, monkeypatch):
    monkeypatch.chdir(demo["root"])
    day = str(demo["as_of"])
    by_date = invoke(demo, "--by", "snapshot", "--from", day, "--to", day, "--framework", "finra-4511")
    assert by_date.exit_code == 0, by_date.output
    name = f"dialtone-evidence-finra-4511-{day}-to-{day}-by-snapshot-date.zip"
    manifest = json.loads(members(demo["root"] / name)["manifest.json"])
    assert manifest["period"]["by"] == "snapshot" and manifest["scope"]["framework"] == "finra-4511"
    other = invoke(demo, "--by", "snapshot", "--from", day, "--to", day, "--framework", "sec-17a-4")
    assert other.exit_code == 0, other.output
    assert (demo["root"] / f"dialtone-evidence-sec-17a-4-{day}-to-{day}-by-snapshot-date.zip").exists()
    assert (demo["root"] / name).exists()


def test_a_period_without_an_evaluation_is_refused_in_the_auditors_words(demo):
    result = invoke(demo, "--from", "1999-01-01", "--to", "1999-03-31", "-o", str(demo["root"] / "x.zip"))
    assert result.exit_code == 2
    said = f"{demo['ran'].day} {demo['ran'].strftime('%b')} {demo['ran'].year}"
    assert (f"No evaluation ran between 1 Jan and 31 Mar 1999. Evaluations on record ran on {said}."
            in result.output)
    assert "dialtone evaluate" not in result.output and "--" not in result.output
    backwards = invoke(demo, "--from", "2026-03-31", "--to", "2026-01-01", "-o", str(demo["root"] / "x.zip"))
    assert backwards.exit_code == 2
    assert "The period ends on 1 Jan 2026, before it starts (31 Mar 2026)." in backwards.output
    assert not (demo["root"] / "x.zip").exists()


def test_the_cli_wants_a_preset_or_two_dates(demo):
    both = invoke(demo, "--period", "last-quarter", "--from", "2026-01-01", "--to", "2026-03-31")
    assert both.exit_code == 2 and "not both" in both.output
    neither = invoke(demo, "--from", "2026-01-01")
    assert neither.exit_code == 2 and "--period" in neither.output


def test_requirement_titles_and_file_links_in_index_html_and_oscal(demo):
    out = demo["root"] / "titled.zip"
    result = invoke(demo, "--period", "year-to-date", "--framework", "finra-4511", "-o", str(out))
    assert result.exit_code == 0, result.output
    files = members(out)
    index = files["index.html"].decode()
    from dialtone.engine.frameworks import load_catalogue

    finra = load_catalogue().frameworks["finra-4511"]
    reqs = _requirements(files)
    assert reqs
    for rid in reqs:
        title = finra.requirement(rid).title
        assert title and title != rid
        assert _escaped(title) in index
    assert _escaped(finra.title) in index
    # Every link in index.html names a file in the package.
    links = set(re.findall(r'href="([^"#]+)"', index))
    assert {"findings.json", "manifest.json", "events/events.jsonl"} <= links
    assert links <= set(files)
    ar = json.loads(files["oscal/assessment-results.json"])["assessment-results"]
    targets = [f["target"] for r in ar["results"] for f in r.get("findings", [])]
    assert targets and all(t["title"] != t["target-id"] for t in targets)
    assert {t["title"] for t in targets} <= {finra.requirement(rid).title for rid in reqs}
    assert finra.title in ar["results"][0]["reviewed-controls"]["description"]


def _requirements(files: dict[str, bytes]) -> set[str]:
    ar = json.loads(files["oscal/assessment-results.json"])["assessment-results"]
    selected = ar["results"][0]["reviewed-controls"]["control-selections"][0]["include-controls"]
    return {c["control-id"].removeprefix("finra-4511_") for c in selected}


def _escaped(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


# -- the evidence page --------------------------------------------------------------------------


@pytest.fixture
def web(tmp_path):
    """The small web store: one evaluation that ran on 2 Nov 2026 (the store's clock) of a
    snapshot dated the same day."""
    app, store, _ = build(tmp_path)
    yield app, store
    store.close()


def _client(app, role: str):
    client = app.test_client()
    login(client, role)
    return client


def test_the_evidence_form_shows_the_periods_on_record_and_the_presets(web):
    app, _ = web
    page = _client(app, "auditor").get("/evidence").get_data(as_text=True)
    assert "Evaluations on record ran on 2 Nov 2026" in page
    assert "Last quarter: 1 Jul to 30 Sep 2026" in page and "Year to date: 1 Jan to 2 Nov 2026" in page
    assert 'name="from" type="date" value="2026-11-02"' in page
    assert re.search(r'value="run"\s+checked', page)
    assert "evidence.signing_key" not in page


def test_a_refused_period_keeps_the_form_and_says_why(web):
    app, _ = web
    auditor = _client(app, "auditor")
    token = csrf(auditor.get("/evidence").get_data(as_text=True))
    response = auditor.post("/evidence", data={
        "csrf_token": token, "period": "dates", "from": "2026-01-01", "to": "2026-03-31", "by": "run",
        "framework": "tem-practice", "mask_pii": "1"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert ("No evaluation ran between 1 Jan and 31 Mar 2026. Evaluations on record ran on 2 Nov 2026."
            in page)
    assert 'value="2026-01-01"' in page and 'value="2026-03-31"' in page
    assert re.search(r'value="tem-practice"\s+selected', page)
    assert re.search(r'name="mask_pii" value="1"\s+checked', page)
    assert "dialtone evaluate" not in page and "--to" not in page and "--from" not in page
    by_date = auditor.post("/evidence", data={
        "csrf_token": token, "period": "last-year", "by": "snapshot"})
    assert by_date.status_code == 400
    page = by_date.get_data(as_text=True)
    assert "No evaluation covers a snapshot dated between 1 Jan and 31 Dec 2025." in page
    assert re.search(r'value="last-year"\s+selected', page) and re.search(r'value="snapshot"\s+checked', page)
    for bad, said in (({"from": "2026-13-01", "to": ""}, "Give the first and the last day of the period."),
                      ({"period": "forever"}, "Choose a period from the list"),
                      ({"by": "whenever"}, "Choose whether the period is when the evaluations ran")):
        response = auditor.post("/evidence", data={"csrf_token": token, "period": "dates", "by": "run",
                                                   **bad})
        assert response.status_code == 400 and said in response.get_data(as_text=True)


def test_a_preset_downloads_a_package_named_for_its_period_and_framework(web):
    app, store = web
    auditor = _client(app, "auditor")
    token = csrf(auditor.get("/evidence").get_data(as_text=True))
    response = auditor.post("/evidence", data={"csrf_token": token, "period": "this-quarter", "by": "run",
                                               "framework": "tem-practice"})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert ("filename=dialtone-evidence-tem-practice-2026-10-01-to-2026-11-02.zip"
            in response.headers["Content-Disposition"])
    body = response.get_data()
    response.close()   # the download streams from an open file
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(body)).read("manifest.json"))
    assert manifest["period"] == {"from": "2026-10-01", "to": "2026-11-02", "by": "run"}
    snap = auditor.post("/evidence", data={"csrf_token": token, "period": "dates", "from": "2026-11-01",
                                           "to": "2026-11-30", "by": "snapshot"})
    snap.close()
    assert snap.status_code == 200
    assert "2026-11-01-to-2026-11-30-by-snapshot-date.zip" in snap.headers["Content-Disposition"]


# -- the audit log ------------------------------------------------------------------------------


@pytest.fixture
def logged(web):
    from dialtone.engine.store import workflow
    from dialtone.engine.store.accounts import add_user

    app, store = web
    audit = workflow.audit_writer(store, "test")
    workflow.comment(store, 1, "called the owner", "officer", audit)
    workflow.record(store, audit, "auditor", "evidence_export", "export:abc",
                    {"from": "2026-10-01", "to": "2026-12-31", "policies": ["a", "b"], "mask_pii": False})
    add_user(store, "carol", "officer", "a long enough passphrase", actor="admin", audit=audit)
    workflow.record(store, audit, "officer", "exception_request", "exception:7", {"policy": "p"})
    return app, store


def test_the_audit_log_reads_as_text_with_links(logged):
    app, _ = logged
    page = _client(app, "auditor").get("/audit").get_data(as_text=True)
    body = page[page.index("<tbody>"):page.index("</tbody>")]
    assert "2026-11-02 09:00:00 UTC" in body and ".000000Z" not in body
    assert '<a href="/findings/1">finding 1</a>' in body
    assert '<a href="/exceptions/7">exception 7</a>' in body
    assert "from: 2026-10-01; mask_pii: no; policies: a, b; to: 2026-12-31" in body   # keys as stored
    assert "{&#34;" not in body and '{"' not in body
    # Users are an administrator's page: an auditor sees the name, not a link.
    assert "user carol" in body and "/users" not in body
    admin = _client(app, "admin").get("/audit").get_data(as_text=True)
    assert '<a href="/users#user-carol">user carol</a>' in admin


def test_the_audit_log_filters_by_action_and_person_and_is_read_only(logged):
    app, _ = logged
    auditor = _client(app, "auditor")
    page = auditor.get("/audit?action=evidence_export").get_data(as_text=True)
    body = page[page.index("<tbody>"):page.index("</tbody>")]
    assert "evidence export" in body and "finding 1" not in body
    page = auditor.get("/audit?actor=officer").get_data(as_text=True)
    body = page[page.index("<tbody>"):page.index("</tbody>")]
    assert "finding 1" in body and "evidence export" not in body
    assert "No entry matches this filter." in auditor.get("/audit?actor=nobody").get_data(as_text=True)
    assert auditor.post("/audit").status_code == 405
    assert _client(app, "officer").get("/audit").status_code == 403


# -- policies -----------------------------------------------------------------------------------


def test_the_policies_list_searches_by_id_title_framework_and_category(web):
    app, _ = web
    auditor = _client(app, "auditor")
    everything = auditor.get("/policies").get_data(as_text=True)
    assert "cost.zero-usage-lines" in everything and "cost.orphan-lines" in everything
    for query in ("zero-usage", "ZERO-USAGE"):
        page = auditor.get(f"/policies?q={query}").get_data(as_text=True)
        assert "cost.zero-usage-lines" in page and "cost.orphan-lines" not in page
        assert "1 of 2 policies match" in page and f'value="{query}"' in page
    nothing = auditor.get("/policies?q=no-such-thing").get_data(as_text=True)
    assert "No policy matches" in nothing


def test_a_policy_page_is_pretty_and_fast_on_the_second_view(web, monkeypatch):
    from dialtone.engine import replay
    from dialtone.engine.policy import loader
    from dialtone.web.views.pages import catalog

    app, _ = web
    catalog._sets.clear()
    catalog._histories.clear()
    calls = {"load": 0, "history": 0}
    real_load, real_history = loader.load_policies, replay.policy_history

    def counting_load(*args, **kwargs):
        calls["load"] += 1
        return real_load(*args, **kwargs)

    def counting_history(*args, **kwargs):
        calls["history"] += 1
        return real_history(*args, **kwargs)

    monkeypatch.setattr(loader, "load_policies", counting_load)
    monkeypatch.setattr(replay, "policy_history", counting_history)
    auditor = _client(app, "auditor")
    first = auditor.get("/policies/cost.zero-usage-lines").get_data(as_text=True)
    second = auditor.get("/policies/cost.zero-usage-lines").get_data(as_text=True)
    assert first == second
    assert calls["load"] == 1 and calls["history"] <= 1
    sql = re.search(r'<pre class="sql"[^>]*>(.*?)</pre>', first, re.S).group(1)
    assert sql.startswith("SELECT\n") and "\nFROM" in sql and "\nORDER BY\n" in sql and sql.count("\n") > 10
    assert "Telecom" in first or "telecom" in first  # the framework's title, not only its id


# -- users ---------------------------------------------------------------------------------------


def test_the_users_page_shows_moments_for_people(web):
    app, _ = web
    page = _client(app, "admin").get("/users").get_data(as_text=True)
    assert "2026-11-02 09:00:00 UTC" in page and "T09:00:00" not in page
    assert 'id="user-auditor"' in page and "never" in page
