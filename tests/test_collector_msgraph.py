"""The msgraph collector against a loopback tenant that behaves like Microsoft Graph."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import json
import logging
import re
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from dialtone.collectors.msgraph import GraphCollector, _device_kind, _teams_only
from dialtone.engine.collect import collect
from dialtone.engine.config import load_config
from dialtone.engine.errors import CollectError, ConfigError
from dialtone.web.cli import cli
from features.steps.msgraph_steps import (
    CLIENT_ID,
    CLIENT_SECRET,
    SCOPE,
    SECRET_ENV,
    TEAMS_REPORT,
    TEAMS_REPORT_FILE,
    FakeGraph,
    load_tenant,
)

from .conftest import AS_OF

ROSA, TOM, MEI, IVAN, DESK, AA, ROOM, GUEST = (f"11111111-aaaa-4bbb-8ccc-00000000000{i}"
                                              for i in (1, 2, 3, 5, 6, 7, 8, 9))
E5, MCOEV, EMS, VIRTUAL_USER, ROOMS_PRO = (f"0c9f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a0{i}" for i in (1, 2, 3, 4, 5))
IPHONE, IPAD, LAPTOP, PIXEL, CCX = (f"d0000000-0000-4000-8000-00000000000{i}" for i in (1, 2, 3, 4, 5))
NO_DEVICES = "    devices: false\n    apps: false\n"


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """Waits the collector asked for, instead of sleeping."""
    got: list[float] = []
    monkeypatch.setattr(GraphCollector, "sleep", got.append)
    return got


@pytest.fixture
def secret_env(monkeypatch) -> None:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)


def setup(tmp_path: Path, graph: FakeGraph, extra: str = "", **config) -> Path:
    path = tmp_path / "dialtone.yaml"
    path.write_text(graph.config(extra=extra, **config), encoding="utf-8")
    return path


def run(tmp_path: Path, graph: FakeGraph, extra: str = "", **config):
    return collect(load_config(setup(tmp_path, graph, extra, **config)), as_of=AS_OF)


def rows(result, entity: str) -> dict[str, dict]:
    table = pq.read_table(result.snapshot.parquet(entity)).to_pylist()
    key = "id" if "id" in table[0] else "device_id"
    return {r[key] if key == "id" else (r["device_id"], r["app_id"]): r for r in table}


def rejects(result) -> list[tuple]:
    path = result.snapshot.path / "rejects.csv"
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return [(r["entity"], r["origin"], r["row"], r["field"], r["value"], r["reason"])
                for r in csv.DictReader(fh)]


def engine_rejects(result) -> list[tuple]:
    """The engine's own rejects without value and reason, whose wording is the engine's."""
    return [r[:4] for r in rejects(result)]


def test_a_tenant_read_end_to_end(tmp_path, httpserver, waits, secret_env):
    graph = FakeGraph(httpserver, page_size=2, throttle={"users": "3"})
    result = run(tmp_path, graph)

    assert result.rows == {"device_apps": 4, "devices": 5, "licenses": 7, "people": 7, "subscriptions": 5}
    # Five pages of users after one 429 that asked for 3 seconds; $top, $select and $expand were sent
    # (with the manager expanded, Graph serves 100 users a page at most: the collector asks for that).
    assert waits == [3] and graph.pages("users") == 6
    users_query = [q for p, q in graph.calls if p == "users"][0]
    assert (users_query["$top"], users_query["$expand"]) == ("100", "manager($select=id)")
    assert {"employeeLeaveDateTime", "signInActivity", "assignedPlans", "userType"} <= set(
        users_query["$select"].split(","))
    assert graph.token_forms == [{"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                  "client_secret": CLIENT_SECRET, "scope": SCOPE}]

    people = rows(result, "people")
    rosa = people["rosa.ortiz@fabrikam.example"]
    assert rosa == {**rosa, "name": "Rosa Ortiz", "kind": "person", "email": "rosa.ortiz@fabrikam.example",
                    "upn": "rosa.ortiz@fabrikam.example", "employee_id": "E1001", "department": "Trading",
                    "cost_center": "CC-410", "country": "US", "role": "Equity Trader", "status": "active",
                    "hired_on": dt.date(2019, 3, 1), "terminated_on": None}
    # Left (employeeLeaveDateTime passed); a leave date still to come; a disabled account.
    tom = people["tom.baker@fabrikam.example"]
    assert (tom["status"], tom["terminated_on"]) == ("terminated", dt.date(2026, 5, 29))
    mei = people["mei.chen@fabrikam.example"]
    assert (mei["status"], mei["terminated_on"], mei["email"]) == ("active", dt.date(2099, 12, 31), None)
    # A disabled account Graph cannot tell from a person's (a shared mailbox) is a leaver...
    assert (people["svc.frontdesk@fabrikam.example"]["kind"],
            people["svc.frontdesk@fabrikam.example"]["status"]) == ("person", "terminated")
    # ...but a disabled Teams Phone resource account, or a room, is no leaver; a disabled guest is.
    kinds = {p["upn"]: (p["kind"], p["status"]) for p in people.values()}
    assert kinds["aa-main@fabrikam.example"] == ("resource_account", "active")
    assert kinds["room.boardroom@fabrikam.example"] == ("room", "active")
    assert kinds["lena_contoso.example#EXT#@fabrikam.example"] == ("guest", "terminated")

    subs = rows(result, "subscriptions")
    assert subs[E5] == {**subs[E5], "product": "teams", "sku": "SPE_E5", "prepaid_units": 25,
                        "consumed_units": 3, "unit_cost": 57.0, "currency": "USD",
                        "renews_on": dt.date(2026, 9, 30)}          # the earlier of its two terms
    assert (subs[EMS]["product"], subs[EMS]["unit_cost"]) == ("microsoft365", None)
    # A lapsed subscription (Warning) and a trial renew nothing; Rooms Pro has no subscription listed.
    assert {k: v["renews_on"] for k, v in subs.items()} == {
        E5: dt.date(2026, 9, 30), MCOEV: dt.date(2026, 11, 1), EMS: None,
        VIRTUAL_USER: dt.date(2027, 3, 1), ROOMS_PRO: None}

    licenses = rows(result, "licenses")
    assert sorted(licenses) == sorted([f"{ROSA}:{E5}", f"{ROSA}:{MCOEV}", f"{TOM}:{E5}", f"{MEI}:{EMS}",
                                       f"{DESK}:{E5}", f"{AA}:{VIRTUAL_USER}", f"{ROOM}:{ROOMS_PRO}"])
    assert licenses[f"{ROSA}:{MCOEV}"] == {
        **licenses[f"{ROSA}:{MCOEV}"], "product": "teams", "sku": "MCOEV", "subscription_id": MCOEV,
        "assigned_to": "rosa.ortiz@fabrikam.example", "monthly_cost": 8.0, "currency": "USD",
        "status": "active", "assigned_on": dt.date(2024, 5, 6), "last_active_on": dt.date(2026, 6, 29)}
    # E5's earliest plan date; the latest of the successful sign-in (29 June) and Teams use (26 June).
    assert (licenses[f"{ROSA}:{E5}"]["assigned_on"], licenses[f"{ROSA}:{E5}"]["last_active_on"]) == (
        dt.date(2019, 3, 1), dt.date(2026, 6, 29))
    # Tom's Exchange plan is switched off and deleted, his Teams plan was given at 08:00 +02:00; his
    # last sign-in attempt (1 June) failed (no success recorded since Graph records them): his last
    # use is Teams', 20 May.
    tom_e5 = licenses[f"{TOM}:{E5}"]
    assert (tom_e5["status"], tom_e5["assigned_on"], tom_e5["last_active_on"]) == (
        "disabled", dt.date(2022, 6, 1), dt.date(2026, 5, 20))
    # Teams use is not EMS use: Mei's licence is active on her sign-in day.
    assert (licenses[f"{MEI}:{EMS}"]["monthly_cost"], licenses[f"{MEI}:{EMS}"]["last_active_on"]) == (
        None, dt.date(2026, 6, 15))
    # A sign-in attempt from before December 2023 is the last trace Graph has of the front desk.
    assert licenses[f"{DESK}:{E5}"]["last_active_on"] == dt.date(2023, 5, 2)
    # The resource account's licence works while its sign-in is blocked; it never signs in.
    assert {k: licenses[f"{AA}:{VIRTUAL_USER}"][k] for k in ("status", "assigned_on", "last_active_on")} == {
        "status": "active", "assigned_on": dt.date(2025, 1, 10), "last_active_on": None}
    assert licenses[f"{ROOM}:{ROOMS_PRO}"]["last_active_on"] == dt.date(2026, 6, 29)
    assert any("no price in license_prices for SKU(s) EMSPREMIUM" in w for w in result.warnings)
    # The report came through its pre-authenticated link, and no credential went with it.
    assert len(graph.downloads) == 1 and "Authorization" not in graph.downloads[0]

    devices = rows(result, "devices")
    assert devices[IPHONE] == {
        **devices[IPHONE], "kind": "smartphone", "serial": "F2LXK0AAHG7F", "imei": "352099001761481",
        "model": "iPhone 15", "os": "iOS", "os_version": "17.5.1",
        "assigned_to": "rosa.ortiz@fabrikam.example", "line_id": "+1 312 555 0101", "ownership": "company",
        "status": "in_use", "mdm_enrolled": True, "compliance_state": "compliant", "encrypted": True,
        "enrolled_on": dt.date(2024, 2, 12), "last_check_in_at": dt.datetime(2026, 6, 29, 21, 14, 3, 512000)}
    ipad = devices[IPAD]
    assert (ipad["kind"], ipad["ownership"], ipad["imei"], ipad["encrypted"], ipad["line_id"],
            ipad["enrolled_on"], ipad["last_check_in_at"]) == (
        "tablet", "personal", None, False, None, dt.date(2023, 10, 2),   # 22:30 -04:00 → UTC
        dt.datetime(2026, 4, 2, 13, 0))
    laptop = devices[LAPTOP]
    assert (laptop["kind"], laptop["ownership"], laptop["assigned_to"], laptop["last_check_in_at"]) == (
        "computer", None, None, None)                                          # 0001-01-01: never
    assert (devices[PIXEL]["kind"], devices[PIXEL]["enrolled_on"]) == ("smartphone", None)
    assert (devices[CCX]["kind"], devices[CCX]["model"]) == ("desk_phone", "CCX 500")

    apps = rows(result, "device_apps")
    assert sorted(apps) == [(IPHONE, "Microsoft Teams"), (IPHONE, "WhatsApp"), (LAPTOP, "Microsoft Edge"),
                            (PIXEL, "WhatsApp")]
    assert apps[LAPTOP, "Microsoft Edge"]["version"] == "125.0.2535.85; 126.0.2592.56"
    # An app on no device is not asked for.
    unused = "a1f0000000000000000000000000000000000000000000000000000000000005"
    assert not [p for p, _ in graph.calls if unused in p]

    assert engine_rejects(result) == [
        ("people", "GET /users", "4", "id"),              # the collector's: a Graph user without an id
        ("people", "GET /users", "5", "country"),         # the engine's: usageLocation Narnia
    ]
    assert rejects(result)[0][4:] == ("", "a Graph user without an id")
    manifest = result.snapshot.manifest["sources"]["m365"]
    assert set(manifest["inputs"]) == {
        "GET /subscribedSkus", "GET /directory/subscriptions", "GET /users",
        "GET /reports/getTeamsUserActivityUserDetail",
        "GET /deviceManagement/managedDevices", "GET /deviceManagement/detectedApps",
        "GET /deviceManagement/detectedApps/{id}/managedDevices"}
    assert manifest["rejects"] == 2


def test_what_the_collector_emits_is_what_it_declares_it_fills(tmp_path, httpserver, waits, secret_env):
    """``fills`` feeds the generated coverage tables: it must name exactly the columns written."""
    from dialtone.collectors.msgraph import GraphCollector as Collector

    collector = Collector("m365", {**load_config(setup(tmp_path, FakeGraph(httpserver))).sources[
        "m365"].settings}, tmp_path)
    data = collector.collect()
    emitted: dict[str, set[str]] = {}
    for batch in data.batches:
        emitted.setdefault(batch.entity, set()).update(c for c in batch.table.column_names if c != "__row")
    assert emitted == {entity: set(fields) for entity, fields in Collector.fills.items()}


def test_the_secret_is_never_in_the_snapshot_the_logs_or_the_output(tmp_path, httpserver, waits, secret_env,
                                                                    caplog):
    graph = FakeGraph(httpserver, throttle={"subscribedSkus": "1"})
    caplog.set_level(logging.DEBUG)
    result = CliRunner().invoke(cli, ["--config", str(setup(tmp_path, graph)), "collect",
                                      "--as-of", "2026-06-30"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    snapshot = next((tmp_path / ".dialtone" / "snapshots").glob("2*"))
    files = [f for f in snapshot.rglob("*") if f.is_file()]
    assert files and all(CLIENT_SECRET.encode() not in f.read_bytes() for f in files)
    for text in (result.output, caplog.text, (snapshot / "manifest.json").read_text(encoding="utf-8")):
        assert CLIENT_SECRET not in text
        assert not any(token in text for token in graph.tokens)
    assert "HTTP 429, retrying in 1.0 s" in caplog.text


def test_the_settings_fingerprint_leaves_the_secret_settings_out(tmp_path, httpserver, waits, monkeypatch):
    assert GraphCollector.secret_settings == ("client_secret_env", "client_secret_file")
    graph = FakeGraph(httpserver)
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    first = run(tmp_path, graph, extra="    devices: false\n    apps: false\n")
    (tmp_path / "secret.txt").write_text(CLIENT_SECRET + "\n", encoding="utf-8")
    text = graph.config(extra="    devices: false\n    apps: false\n").replace(
        f"client_secret_env: {SECRET_ENV}", "client_secret_file: secret.txt")
    (tmp_path / "dialtone.yaml").write_text(text, encoding="utf-8")
    second = collect(load_config(tmp_path / "dialtone.yaml"), as_of=AS_OF)
    fingerprints = [r.snapshot.manifest["sources"]["m365"]["settings_fingerprint"] for r in (first, second)]
    assert fingerprints[0] == fingerprints[1]
    assert "secret.txt" not in json.dumps(second.snapshot.manifest)


def test_a_missing_environment_variable_is_a_clear_error_without_traceback(tmp_path, httpserver, monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    graph = FakeGraph(httpserver)
    result = CliRunner().invoke(cli, ["--config", str(setup(tmp_path, graph)), "collect"])
    assert result.exit_code == 2
    assert result.output.strip() == (f"error: sources.m365.client_secret_env: the environment variable "
                                     f"{SECRET_ENV} is not set or empty.")
    assert "Traceback" not in result.output and not graph.token_forms and not graph.calls


def test_a_wrong_secret_names_the_token_url_and_the_oauth_error(tmp_path, httpserver, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "not-the-secret")
    graph = FakeGraph(httpserver)
    with pytest.raises(CollectError) as err:
        run(tmp_path, graph)
    url = graph.token_url.replace("{tenant_id}", "fabrikam.example")
    assert (f"source 'm365': token request to {url} refused: invalid_client: AADSTS7000215: Invalid "
            "client secret provided. Ensure the secret being sent in the request is the client secret "
            "value.") in str(err.value)
    assert "not-the-secret" not in str(err.value)
    assert not (tmp_path / ".dialtone" / "snapshots").exists() or not any(
        p for p in (tmp_path / ".dialtone" / "snapshots").iterdir() if not p.name.startswith("."))


def test_an_expired_token_is_replaced_during_a_long_collect(tmp_path, httpserver, monkeypatch, secret_env):
    # Tokens live 120 s; a 100 s wait for a throttled page brings the next request within the
    # last minute of the token's life, so the collector fetches a new one before sending it.
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    monkeypatch.setattr(GraphCollector, "sleep", sleep)
    monkeypatch.setattr(GraphCollector, "clock", lambda: now[0])
    graph = FakeGraph(httpserver, expires_in=120, throttle={"users": "100"})
    result = run(tmp_path, graph, extra=NO_DEVICES)
    assert result.rows["people"] == 7 and now[0] == 100
    assert len(graph.tokens) == 2


def test_a_token_refused_by_graph_is_replaced_once(tmp_path, httpserver, monkeypatch, secret_env):
    graph = FakeGraph(httpserver, throttle={"users": "5"})
    # While the collector waits out the 429, Graph stops accepting the token (revoked, or expired
    # sooner than expires_in said): the next request gets a 401 and the collector asks for a new one.
    monkeypatch.setattr(GraphCollector, "sleep", lambda s: graph.revoke())
    result = run(tmp_path, graph, extra=NO_DEVICES)
    assert result.rows["people"] == 7 and len(graph.tokens) == 2
    statuses = [q for p, q in graph.calls if p == "users"]
    assert len(statuses) == 7      # 429, 401, then five pages


def test_person_id_from_employee_id_falls_back_to_the_upn(tmp_path, httpserver, waits, secret_env):
    graph = FakeGraph(httpserver)
    result = run(tmp_path, graph, extra="    person_id: employeeId\n    devices: false\n    apps: false\n")
    people = rows(result, "people")
    assert sorted(people) == ["E1001", "E1002", "aa-main@fabrikam.example",
                              "lena_contoso.example#EXT#@fabrikam.example", "mei.chen@fabrikam.example",
                              "room.boardroom@fabrikam.example", "svc.frontdesk@fabrikam.example"]
    assert rows(result, "licenses")[f"{ROSA}:{E5}"]["assigned_to"] == "E1001"
    assert any("5 user(s) without an employeeId: their people.id is their userPrincipalName" in w
               for w in result.warnings)


def test_person_id_from_the_graph_id(tmp_path, httpserver, waits, secret_env):
    graph = FakeGraph(httpserver)
    result = run(tmp_path, graph, extra="    person_id: id\n    licenses: false\n    devices: false\n"
                                        "    apps: false\n")
    people = rows(result, "people")
    assert sorted(people) == [ROSA, TOM, MEI, DESK, AA, ROOM, GUEST]
    assert result.rows == {"people": 7}
    assert {p for p, _ in graph.calls} == {"users"}          # nothing else was read
    # Without the SKUs, a resource account cannot be told from a person: only guests are.
    assert (people[AA]["kind"], people[AA]["status"], people[GUEST]["kind"]) == (
        "person", "terminated", "guest")


def test_without_permission_for_leave_dates_the_users_are_read_without_them(tmp_path, httpserver, waits,
                                                                           secret_env):
    graph = FakeGraph(httpserver, deny_leave_date=True)
    result = run(tmp_path, graph, extra=NO_DEVICES)
    people = rows(result, "people")
    assert all(p["terminated_on"] is None for p in people.values())
    assert people["tom.baker@fabrikam.example"]["status"] == "terminated"     # accountEnabled: false
    assert any("Graph refused employeeLeaveDateTime (Authorization_RequestDenied; it needs "
               "User-LifeCycleInfo.Read.All)" in w for w in result.warnings)
    # The refused page, one user with each optional field and one with the manager to find which
    # Graph refuses, then every page without it: the sign-in dates and the managers are still read.
    selects = [q["$select"] for p, q in graph.calls if p == "users"]
    assert selects[1:4] == ["id,employeeLeaveDateTime", "id,signInActivity", "id"]
    assert all("employeeLeaveDateTime" not in s and "signInActivity" in s for s in selects[4:])
    assert people["tom.baker@fabrikam.example"]["manager_id"] == "rosa.ortiz@fabrikam.example"
    assert rows(result, "licenses")[f"{ROSA}:{E5}"]["last_active_on"] == dt.date(2026, 6, 29)


def test_a_tenant_without_entra_p1_is_read_without_sign_in_dates(tmp_path, httpserver, waits, secret_env):
    graph = FakeGraph(httpserver, deny_sign_in=True)
    result = run(tmp_path, graph, extra=NO_DEVICES)
    assert [w for w in result.warnings if "signInActivity" in w] == [
        "m365: GET /users: Graph refused signInActivity "
        "(Authentication_RequestFromNonPremiumTenantOrB2CTenant; it needs Microsoft Entra ID P1 or P2 "
        "on the tenant and AuditLog.Read.All): licences' last_active_on has no sign-in date, so only "
        "Teams-only licences have one (their Teams activity)"]
    licenses = rows(result, "licenses")
    # A Teams-only licence (Teams Phone) keeps its Teams activity: Teams is all it is used for.
    assert licenses[f"{ROSA}:{MCOEV}"]["last_active_on"] == dt.date(2026, 6, 26)
    # E5 carries Exchange too: someone who lives in Outlook and never opens Teams has an old (or no)
    # Teams date, so without a sign-in date the suite's last use is unknown, never the Teams date
    # (cost.unused-licenses would claim a whole E5 seat of a daily Outlook user as unused).
    assert licenses[f"{ROSA}:{E5}"]["last_active_on"] is None
    assert licenses[f"{TOM}:{E5}"]["last_active_on"] is None
    assert licenses[f"{MEI}:{EMS}"]["last_active_on"] is None
    assert licenses[f"{DESK}:{E5}"]["last_active_on"] is None
    # The leave date is still read, and so are the assignment dates.
    assert rows(result, "people")["tom.baker@fabrikam.example"]["terminated_on"] == dt.date(2026, 5, 29)
    assert licenses[f"{ROSA}:{MCOEV}"]["assigned_on"] == dt.date(2024, 5, 6)


def test_both_optional_fields_refused(tmp_path, httpserver, waits, secret_env):
    graph = FakeGraph(httpserver, deny_sign_in=True, deny_leave_date=True)
    result = run(tmp_path, graph, extra=NO_DEVICES)
    assert result.rows["people"] == 7
    assert sum("Graph refused" in w for w in result.warnings) == 2
    assert all(p["terminated_on"] is None for p in rows(result, "people").values())


def test_users_refused_outright_name_the_permission(tmp_path, httpserver, waits, secret_env):
    graph = FakeGraph(httpserver, deny=("users",))
    with pytest.raises(CollectError, match=r"GET http://localhost:\d+/v1.0/users: HTTP 403 FORBIDDEN: "
                                           r"Authorization_RequestDenied: .* needs the application "
                                           r"permission User.Read.All"):
        run(tmp_path, graph, extra=NO_DEVICES)


def test_subscriptions_refused_leave_renewals_empty(tmp_path, httpserver, waits, secret_env):
    graph = FakeGraph(httpserver, deny=("directory/subscriptions",))
    result = run(tmp_path, graph, extra=NO_DEVICES)
    subs = rows(result, "subscriptions").values()
    assert all(s["renews_on"] is None for s in subs)
    # prepaidUnits.enabled counts a trial's seats with the bought ones: without the subscriptions
    # no one can tell them apart, so the seats bought are unknown, not the enabled count.
    assert all(s["prepaid_units"] is None for s in subs)
    assert all(s["consumed_units"] is not None for s in subs)
    assert any("GET /directory/subscriptions: Graph refused the tenant's subscriptions (it needs "
               "Organization.Read.All): subscriptions' renews_on and prepaid_units are empty" in w
               for w in result.warnings)
    assert result.rows["subscriptions"] == 5


def test_trial_seats_are_not_seats_bought(tmp_path, httpserver, waits, secret_env):
    # 25 E5 seats enabled: 15 bought, and a 10-seat trial of the same SKU next to them.
    data = copy.deepcopy(load_tenant())
    data["directory/subscriptions"][1]["isTrial"] = True
    graph = FakeGraph(httpserver, data=data)
    result = run(tmp_path, graph, extra=NO_DEVICES)
    subs = rows(result, "subscriptions")
    assert (subs[E5]["prepaid_units"], subs[E5]["consumed_units"], subs[E5]["renews_on"]) == (
        15, 3, dt.date(2027, 1, 31))
    assert "totalLicenses" in [q for p, q in graph.calls if p == "directory/subscriptions"][0]["$select"]


def test_seats_bought_are_those_of_the_paid_enabled_subscriptions(tmp_path, httpserver, waits, secret_env):
    result = run(tmp_path, FakeGraph(httpserver), extra=NO_DEVICES)
    subs = rows(result, "subscriptions")
    assert {k: v["prepaid_units"] for k, v in subs.items()} == {
        E5: 25,               # two paid subscriptions, 15 + 10
        MCOEV: 10,            # the lapsed (Warning) subscription's 5 seats are not enabled ones
        EMS: 0,               # its 5 enabled seats are all a trial's: none bought
        VIRTUAL_USER: 25,
        ROOMS_PRO: None}      # 2 seats enabled, no subscription listed: bought or trial, unknown
    assert ("m365: GET /subscribedSkus: the tenant's enabled subscriptions do not account for the "
            "enabled seats of Microsoft_Teams_Rooms_Pro (2 enabled, 0 in its enabled subscriptions): the "
            "seats bought cannot be told from a trial's, so prepaid_units is empty (unknown)"
            in result.warnings)


def test_a_subscription_that_does_not_say_whether_it_is_a_trial(tmp_path, httpserver, waits, secret_env):
    data = copy.deepcopy(load_tenant())
    del data["directory/subscriptions"][1]["isTrial"]            # an E5 subscription
    data["directory/subscriptions"][3]["totalLicenses"] = None   # an MCOEV one
    result = run(tmp_path, FakeGraph(httpserver, data=data), extra=NO_DEVICES)
    subs = rows(result, "subscriptions")
    assert (subs[E5]["prepaid_units"], subs[MCOEV]["prepaid_units"], subs[EMS]["prepaid_units"]) == (
        None, None, 0)
    assert "m365: GET /directory/subscriptions: an enabled subscription of SPE_E5, MCOEV without isTrial " \
           "or totalLicenses: the seats bought cannot be told from a trial's, so prepaid_units is empty " \
           "(unknown)" in result.warnings


def test_the_teams_report_refused_leaves_sign_ins_alone(tmp_path, httpserver, waits, secret_env):
    graph = FakeGraph(httpserver, deny=(TEAMS_REPORT,))
    result = run(tmp_path, graph, extra=NO_DEVICES)
    assert "m365: GET /reports/getTeamsUserActivityUserDetail: Graph refused the Teams activity report " \
           "(Authorization_RequestDenied; it needs Reports.Read.All): Teams licences' last_active_on has " \
           "no Teams activity date" in result.warnings
    licenses = rows(result, "licenses")
    assert licenses[f"{ROSA}:{E5}"]["last_active_on"] == dt.date(2026, 6, 29)     # the sign-in
    assert licenses[f"{TOM}:{E5}"]["last_active_on"] == dt.date(2023, 4, 30)      # an old attempt
    assert licenses[f"{ROOM}:{ROOMS_PRO}"]["last_active_on"] is None
    assert not graph.downloads
    assert "GET /reports/getTeamsUserActivityUserDetail" not in result.snapshot.manifest["sources"][
        "m365"]["inputs"]


def test_a_concealed_teams_report_ties_no_activity_to_anyone(tmp_path, httpserver, waits, secret_env):
    # A tenant that hides user names in usage reports: zero ids and hashed names.
    text = TEAMS_REPORT_FILE.read_bytes().decode("utf-8-sig")
    header, *lines = text.splitlines()
    concealed = [",".join(["2026-06-28", "Fabrikam", "", "00000000-0000-0000-0000-000000000000",
                           f"{i:032X}"] + line.split(",")[5:]) for i, line in enumerate(lines)]
    graph = FakeGraph(httpserver, teams_report="\r\n".join([header, *concealed]).encode())
    result = run(tmp_path, graph, extra=NO_DEVICES)
    # Five users concealed (the deleted user's row does not count).
    assert any("5 user(s) concealed in the report" in w for w in result.warnings)
    assert rows(result, "licenses")[f"{ROOM}:{ROOMS_PRO}"]["last_active_on"] is None


def test_a_report_without_its_columns_is_an_error(tmp_path, httpserver, waits, secret_env):
    graph = FakeGraph(httpserver, teams_report=b"Report Refresh Date,User Principal Name\r\n")
    with pytest.raises(CollectError, match=r"GET /reports/getTeamsUserActivityUserDetail: the report has "
                                           r"no column\(s\) User Id, Last Activity Date"):
        run(tmp_path, graph, extra=NO_DEVICES)


def test_teams_activity_false_reads_no_report(tmp_path, httpserver, waits, secret_env):
    graph = FakeGraph(httpserver)
    result = run(tmp_path, graph, extra=NO_DEVICES + "    teams_activity: false\n")
    assert not [p for p, _ in graph.calls if p.startswith("reports/")] and not graph.downloads
    assert rows(result, "licenses")[f"{TOM}:{E5}"]["last_active_on"] == dt.date(2023, 4, 30)


def test_a_licence_left_on_a_lapsed_subscription_costs_nothing(tmp_path, httpserver, waits, secret_env):
    # The tenant moved from EMS E5 to another SKU: the EMS subscription expired, its grace period
    # passed (Suspended: every unit suspended, none enabled or in warning), and Mei still holds
    # the licence. Microsoft bills a suspended subscription no more: her seat saves nothing.
    data = copy.deepcopy(load_tenant())
    data["subscribedSkus"][2].update(capabilityStatus="Suspended", prepaidUnits={
        "enabled": 0, "suspended": 5, "warning": 0, "lockedOut": 0})
    del data["directory/subscriptions"][4]                 # its trial subscription, gone
    result = run(tmp_path, FakeGraph(httpserver, data=data), extra=NO_DEVICES,
                 prices="{SPE_E5: 57.00, MCOEV: 8.00, EMSPREMIUM: 16.40}")
    licenses = rows(result, "licenses")
    assert (licenses[f"{MEI}:{EMS}"]["monthly_cost"], licenses[f"{MEI}:{EMS}"]["status"]) == (0.0, "active")
    # Seats in their grace period (Warning) still work and are still the tenant's: priced.
    assert licenses[f"{ROSA}:{MCOEV}"]["monthly_cost"] == 8.0
    assert rows(result, "subscriptions")[EMS]["prepaid_units"] == 0


@pytest.mark.parametrize(("part", "plans", "teams_only"), [
    ("MCOEV", ["MCOEV"], True),                                          # Teams Phone Standard
    ("MCOMEETADV", ["MCOMEETADV"], True),                                # Audio Conferencing
    ("MCOTEAMS_ESSENTIALS", ["MCOEV", "MCOPSTN1", "TEAMS1"], True),      # Teams Phone with Calling Plan
    ("Microsoft_Teams_Premium", ["TEAMSPRO_MGMT", "TEAMSPRO_CUST", "MCO_VIRTUAL_APPT", "MICROSOFT_ECDN",
                                 "QUEUES_APP", "EXCHANGE_S_FOUNDATION"], True),
    ("Microsoft_Teams_Rooms_Pro", ["TEAMS1", "MCOEV", "INTUNE_A", "AAD_PREMIUM"], True),   # a room's use
    ("SPE_E5", ["TEAMS1", "MCOEV", "EXCHANGE_S_ENTERPRISE", "OFFICESUBSCRIPTION"], False),
    ("ENTERPRISEPACK", ["TEAMS1", "MCOSTANDARD", "EXCHANGE_S_ENTERPRISE", "SHAREPOINTENTERPRISE"], False),
    ("Office_365_E3_(no_Teams)", ["EXCHANGE_S_ENTERPRISE", "SHAREPOINTENTERPRISE"], False),
    ("TEAMS_ESSENTIALS_AAD", ["TEAMS1", "ONEDRIVE_BASIC_P2"], False),    # OneDrive use is no Teams use
    ("SOME_NEW_SKU", ["TEAMS1", "NEW_PLAN_NOBODY_KNOWS"], False),        # unknown: not Teams-only
    ("NO_PLANS", [], False),
])
def test_only_a_teams_only_sku_is_judged_by_teams_activity(part, plans, teams_only):
    assert _teams_only(part, plans) is teams_only


def test_a_suite_licence_without_a_sign_in_date_has_no_last_use(tmp_path, httpserver, waits, secret_env):
    # Signed in, the suite takes the later of the sign-in and Teams; without a sign-in date (the
    # account's record is empty) the Teams date alone is no last use of Exchange, SharePoint, Office.
    data = copy.deepcopy(load_tenant())
    rosa = data["users"][0]
    rosa["signInActivity"] = {"lastSignInDateTime": None, "lastNonInteractiveSignInDateTime": None,
                              "lastSuccessfulSignInDateTime": None}
    graph = FakeGraph(httpserver, data=data)
    licenses = rows(run(tmp_path, graph, extra=NO_DEVICES), "licenses")
    assert licenses[f"{ROSA}:{E5}"]["last_active_on"] is None
    assert licenses[f"{ROSA}:{MCOEV}"]["last_active_on"] == dt.date(2026, 6, 26)
    assert licenses[f"{TOM}:{E5}"]["last_active_on"] == dt.date(2026, 5, 20)   # an old sign-in, then Teams


def test_a_plan_two_licences_carry_dates_neither(tmp_path, httpserver, waits, secret_env):
    data = copy.deepcopy(load_tenant())
    rosa = data["users"][0]
    rosa["assignedLicenses"].append({"skuId": ROOMS_PRO, "disabledPlans": []})
    graph = FakeGraph(httpserver, data=data)
    result = run(tmp_path, graph, extra=NO_DEVICES)
    licenses = rows(result, "licenses")
    # Teams (in E5 and Rooms Pro) and Teams Phone (in MCOEV and Rooms Pro) cannot say which licence
    # they came with: E5 keeps its Exchange plan's date, MCOEV has none, and Rooms Pro's own plan
    # (Intune) is not among Rosa's assigned plans.
    assert licenses[f"{ROSA}:{E5}"]["assigned_on"] == dt.date(2019, 3, 1)
    assert licenses[f"{ROSA}:{MCOEV}"]["assigned_on"] is None
    assert licenses[f"{ROSA}:{ROOMS_PRO}"]["assigned_on"] is None
    # Whoever holds a room's SKU is taken for a room: the licences decide.
    assert rows(result, "people")["rosa.ortiz@fabrikam.example"]["kind"] == "room"


MEI_UPN, ROSA_UPN = "mei.chen@fabrikam.example", "rosa.ortiz@fabrikam.example"
CONTACT = "c0c0c0c0-0000-4000-8000-000000000001"


def unresolved(result) -> list[tuple]:
    path = result.snapshot.path / "unresolved.csv"
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return [(r["source"], r["entity"], r["field"], r["value"].lstrip("'"), r["status"])
                for r in csv.DictReader(fh)]


@pytest.mark.parametrize(("person_id", "rosa", "rosas_manager", "toms_manager"), [
    ("userPrincipalName", ROSA_UPN, MEI_UPN, ROSA_UPN),
    ("id", ROSA, MEI, ROSA),
    ("employeeId", "E1001", MEI_UPN, "E1001"),     # Mei has no employeeId: her id is her UPN
])
def test_each_user_gets_their_manager_as_a_people_id(tmp_path, httpserver, waits, secret_env, person_id,
                                                     rosa, rosas_manager, toms_manager):
    graph = FakeGraph(httpserver)
    result = run(tmp_path, graph, extra=f"    person_id: {person_id}\n" + NO_DEVICES)
    people = {p["upn"]: p for p in rows(result, "people").values()}
    # Rosa's manager comes two pages after her: named once every user is read.
    assert people[ROSA_UPN]["manager_id"] == rosas_manager
    assert people["tom.baker@fabrikam.example"]["manager_id"] == toms_manager
    assert [p["manager_id"] for u, p in people.items() if u not in (ROSA_UPN, "tom.baker@fabrikam.example")] \
        == [None] * 5
    assert people[ROSA_UPN]["id"] == rosa
    assert not unresolved(result) and not any("manager" in w for w in result.warnings)
    # A "to the manager" notification of Tom's licence has someone to go to.
    from dialtone.engine.resource_attributes import connect, create_view

    con = connect(result.snapshot)
    create_view(con, result.snapshot, "attrs", types=("licenses",))
    assert con.execute("SELECT manager_email FROM attrs WHERE resource_id = ?", [f"{TOM}:{E5}"]).fetchall() \
        == [(ROSA_UPN,)]


def test_expanded_pages_of_100_are_read_to_the_end(tmp_path, httpserver, waits, secret_env):
    # 250 users whose managers are on other pages; Graph serves 999 users a page, but only 100
    # once the manager is expanded, and throttles the first request.
    template = load_tenant()["users"][0]
    ids = [f"22222222-aaaa-4bbb-8ccc-{i:012d}" for i in range(250)]
    users = [{**template, "id": ids[i], "userPrincipalName": f"user{i}@fabrikam.example", "employeeId": None,
              "manager": {"@odata.type": "#microsoft.graph.user", "id": ids[(i + 120) % 250]}}
             for i in range(250)]
    graph = FakeGraph(httpserver, data={**load_tenant(), "users": users}, page_size=999,
                      throttle={"users": "2"})
    result = run(tmp_path, graph, extra="    licenses: false\n" + NO_DEVICES)
    people = rows(result, "people")
    assert len(people) == 250 and result.rows == {"people": 250}
    assert all(people[f"user{i}@fabrikam.example"]["manager_id"] == f"user{(i + 120) % 250}@fabrikam.example"
               for i in range(250))
    # One 429, then three pages of 100, 100 and 50 users.
    assert waits == [2] and graph.pages("users") == 4
    assert {q["$top"] for p, q in graph.calls if p == "users"} == {"100"}


def test_a_manager_that_is_an_org_contact_is_reported_not_invented(tmp_path, httpserver, waits, secret_env):
    data = copy.deepcopy(load_tenant())
    data["users"][2]["manager"] = {"@odata.type": "#microsoft.graph.orgContact", "id": CONTACT}   # Mei
    graph = FakeGraph(httpserver, data=data)
    result = run(tmp_path, graph, extra=NO_DEVICES)
    manifest = result.snapshot.manifest["sources"]["m365"]
    assert manifest["status"] == "collected" and result.rows["people"] == 7
    # The contact is no person: its id is kept and reported unresolved, never resolved to someone.
    assert rows(result, "people")[MEI_UPN]["manager_id"] == CONTACT
    assert unresolved(result) == [("m365", "people", "manager_id", CONTACT, "unresolved")]
    assert manifest["identity"]["fields"]["people.manager_id"]["unresolved"] == 1
    assert any("1 user(s) whose manager is an organisational contact, not a user" in w
               for w in result.warnings)
    from dialtone.engine.resource_attributes import connect, create_view

    con = connect(result.snapshot)
    create_view(con, result.snapshot, "attrs", types=("licenses",))
    assert con.execute("SELECT manager_email FROM attrs WHERE resource_id = ?", [f"{MEI}:{EMS}"]).fetchall() \
        == [(None,)]


def test_a_manager_without_a_people_id_is_reported_not_invented(tmp_path, httpserver, waits, secret_env):
    # By mail, Mei (no mail) has no people.id: Rosa's manager cannot be named by one.
    graph = FakeGraph(httpserver)
    result = run(tmp_path, graph, extra="    person_id: mail\n" + NO_DEVICES)
    people = rows(result, "people")
    assert people[ROSA_UPN]["manager_id"] == MEI
    assert people["tom.baker@fabrikam.example"]["manager_id"] == ROSA_UPN
    assert ("m365", "people", "manager_id", MEI, "unresolved") in unresolved(result)
    assert any("1 user(s) whose manager is no user read here with a mail" in w for w in result.warnings)


@pytest.mark.parametrize(("status", "code"), [(400, "Request_UnsupportedQuery"),
                                              (403, "Authorization_RequestDenied")])
def test_a_refused_manager_expansion_still_collects_the_people(tmp_path, httpserver, waits, secret_env,
                                                               status, code):
    graph = FakeGraph(httpserver, deny_expand=status)
    result = run(tmp_path, graph, extra=NO_DEVICES)
    people = rows(result, "people")
    assert result.rows["people"] == 7 and result.snapshot.manifest["sources"]["m365"]["status"] == "collected"
    assert all(p["manager_id"] is None for p in people.values())
    assert people["tom.baker@fabrikam.example"]["terminated_on"] == dt.date(2026, 5, 29)
    assert [w for w in result.warnings if "manager" in w] == [
        f"m365: GET /users: Graph refused to expand the users' manager ({code}): people's manager_id "
        "is empty (unknown)"]
    # ...and stays with the snapshot, for whoever audits it later.
    assert [w for w in result.snapshot.manifest["sources"]["m365"]["warnings"] if "manager" in w] == [
        f"GET /users: Graph refused to expand the users' manager ({code}): people's manager_id "
        "is empty (unknown)"]
    # The refused page, the probe of the manager alone, then every page without $expand at 999 a page.
    queries = [q for p, q in graph.calls if p == "users"]
    assert queries[0]["$expand"] == "manager($select=id)"
    probe = [q for q in queries if q.get("$top") == "1"]
    assert probe[-1] == {"$select": "id", "$expand": "manager($select=id)", "$top": "1"}
    assert queries[-1]["$top"] == "999" and "$expand" not in queries[-1]
    # Five pages of nine users without it; on a 403, the optional fields were probed too.
    assert sum("$expand" not in q for q in queries) == 5 + (2 if status == 403 else 0)


def test_manager_false_reads_no_manager(tmp_path, httpserver, waits, secret_env):
    graph = FakeGraph(httpserver)
    result = run(tmp_path, graph, extra=NO_DEVICES + "    manager: false\n")
    assert all("$expand" not in q and q["$top"] == "999" for p, q in graph.calls if p == "users")
    assert all(p["manager_id"] is None for p in rows(result, "people").values())


def test_an_intune_phone_number_is_resolved_to_the_line_with_that_number(tmp_path, httpserver, waits,
                                                                         secret_env):
    graph = FakeGraph(httpserver)
    (tmp_path / "estate").mkdir()
    (tmp_path / "estate" / "lines.csv").write_text(
        "id,kind,number,status\nL-ROSA,mobile,+13125550101,active\nL-DESK,did,+13125550199,active\n",
        encoding="utf-8")
    extra = "    apps: false\n  carrier:\n    collector: csv\n    path: estate\n"
    result = run(tmp_path, graph, extra=extra)
    devices = rows(result, "devices")
    assert devices[IPHONE]["line_id"] == "L-ROSA"             # "+1 312 555 0101": the same digits
    assert devices[PIXEL]["line_id"] == "+65 9123 4567"       # no such line: kept, and reported
    with (result.snapshot.path / "unresolved.csv").open(encoding="utf-8") as fh:
        report = [(r["source"], r["field"], r["value"].lstrip("'"), r["status"]) for r in csv.DictReader(fh)]
    assert report == [("m365", "line_id", "+65 9123 4567", "unresolved")]


@pytest.mark.parametrize(("os_name", "model", "maker", "kind"), [
    ("Windows", "Latitude 7440", "Dell Inc.", "computer"),
    ("macOS", "MacBook Pro", "Apple", "computer"),
    ("Linux", "ThinkPad X1", "Lenovo", "computer"),
    ("Android", "CCX 600", "Poly", "desk_phone"),
    ("Android", "MP56", "Yealink", "desk_phone"),
    ("AndroidAOSP", "C470HD", "AudioCodes", "desk_phone"),
    ("Android", "ThinkSmart View", "LENOVO", "desk_phone"),
    ("Android", "Lenovo Tab M10", "Lenovo", "smartphone"),     # a Lenovo that is no Teams device
    # Teams Rooms on Android bars, boards and touch consoles, and Teams displays (Microsoft's
    # certified lists), which run their maker's Android 9-12 and were read as smartphones.
    ("Android", "Rally Bar", "Logitech", "desk_phone"),
    ("AndroidAOSP", "Tap IP", "Logitech", "desk_phone"),
    ("Android", "Neat Pad", "Neat", "desk_phone"),
    ("Android", "Neat Frame", "Neat", "desk_phone"),
    ("Android", "PanaCast 50 VBS", "Jabra", "desk_phone"),
    ("Android", "Expand 5T", "EPOS", "desk_phone"),
    ("Android", "DTEN Bar", "DTEN", "desk_phone"),
    ("Android", "Room Bar", "Cisco Systems, Inc.", "desk_phone"),
    ("Android", "Board Pro 55", "Cisco", "desk_phone"),
    ("Android", "Room Navigator", "Cisco", "desk_phone"),
    ("Android", "Desk Pro", "Cisco", "desk_phone"),
    ("Android", "ThinkSmart View Plus", "Lenovo", "desk_phone"),
    # Cisco also sells Android handsets: only its Teams room and desk lines are desk phones.
    ("Android", "Wireless Phone 860", "Cisco", "smartphone"),
    ("Android", "SM-T870", "samsung", "tablet"),
    ("iPadOS", "iPad Air", "Apple", "tablet"),
    ("iOS", "iPhone 15", "Apple", "smartphone"),
    ("Android", "Pixel 8", "Google", "smartphone"),
    ("Unknown", None, None, None),
])
def test_device_kinds(os_name, model, maker, kind):
    assert _device_kind(os_name, model, maker) == kind


def test_a_device_only_exchange_manages_is_not_enrolled_in_mdm(tmp_path, httpserver, waits, secret_env):
    # managedDevices lists the phones the Exchange connector found too (managementAgent eas:
    # "managed by Exchange server", no MDM enrolment): they were all read as enrolled, so their
    # lines counted as lines with a managed device. An agent Graph does not document is unknown.
    data = copy.deepcopy(load_tenant())
    agents = {IPHONE: "eas", IPAD: "easMdm", LAPTOP: "configurationManagerClient", PIXEL: "someNewAgent"}
    for device in data["deviceManagement/managedDevices"]:
        if device["id"] in agents:
            device["managementAgent"] = agents[device["id"]]
        else:
            device.pop("managementAgent")
    result = run(tmp_path, FakeGraph(httpserver, data=data), extra="    apps: false\n")
    enrolled = {k: d["mdm_enrolled"] for k, d in rows(result, "devices").items()}
    assert enrolled == {IPHONE: False, IPAD: True, LAPTOP: True, PIXEL: None, CCX: None}
    assert ("m365: GET /deviceManagement/managedDevices: 2 device(s) with no managementAgent or one Graph "
            "does not document (someNewAgent): their mdm_enrolled is empty (unknown)") in result.warnings


def test_a_refused_intune_call_names_the_permission_and_writes_nothing(tmp_path, httpserver, waits,
                                                                       secret_env):
    graph = FakeGraph(httpserver, deny=("deviceManagement/managedDevices",))
    with pytest.raises(CollectError) as err:
        run(tmp_path, graph)
    assert (
        f"source 'm365': GET {graph.graph_url}/deviceManagement/managedDevices: HTTP 403 FORBIDDEN: "
        "Authorization_RequestDenied: Insufficient privileges to complete the operation. The app "
        "registration needs the application permission DeviceManagementManagedDevices.Read.All, with "
        "admin consent.") in str(err.value)
    assert not (tmp_path / ".dialtone" / "snapshots").exists() or not any(
        p for p in (tmp_path / ".dialtone" / "snapshots").iterdir() if not p.name.startswith("."))


def test_malformed_records_become_rejects_with_their_reason(tmp_path, httpserver, waits, secret_env):
    data = copy.deepcopy(load_tenant())
    data["users"][0]["employeeHireDate"] = "first of March"
    data["users"][2]["accountEnabled"] = None
    data["users"].append("not an object")
    data["deviceManagement/managedDevices"][3]["imei"] = "Imei value"
    data["deviceManagement/managedDevices"][0]["enrolledDateTime"] = "last spring"
    graph = FakeGraph(httpserver, data=data)
    result = run(tmp_path, graph, extra="    apps: false\n")
    assert engine_rejects(result) == [
        ("devices", "GET /deviceManagement/managedDevices", "1", "enrolled_on"),
        ("devices", "GET /deviceManagement/managedDevices", "4", "imei"),
        ("people", "GET /users", "1", "hired_on"),
        ("people", "GET /users", "3", "status"),
        ("people", "GET /users", "4", "id"),
        ("people", "GET /users", "5", "country"),
        ("people", "GET /users", "10", ""),
    ]
    # The collector's own rejects, and the values the engine was given as Graph sent them.
    got = {(r[2], r[3]): r[4:] for r in rejects(result)}
    assert got["4", "id"] == ("", "a Graph user without an id")
    assert got["10", ""] == ('"not an object"', "expected a JSON object")
    assert (got["1", "hired_on"][0], got["1", "enrolled_on"][0]) == ("first of March", "last spring")
    # Mei's licence stays, its status unknown as her account's state is.
    assert rows(result, "licenses")[f"{MEI}:{EMS}"]["status"] is None


def test_a_response_that_is_not_a_graph_collection_is_an_error(tmp_path, httpserver, waits, secret_env):
    graph = FakeGraph(httpserver, data={**load_tenant(), "users": []})
    graph.data.pop("subscribedSkus")
    with pytest.raises(CollectError, match=r"GET http://localhost:\d+/v1.0/subscribedSkus: HTTP 404 NOT "
                                           r"FOUND: Request_ResourceNotFound: Resource not found for the "
                                           r"segment 'subscribedSkus'."):
        run(tmp_path, graph)


@pytest.mark.parametrize(("extra", "message"), [
    ("    person_id: nickname\n", "sources.m365.person_id: 'nickname' is not one of"),
    ("    licence_prices: {}\n", "Additional properties are not allowed .'licence_prices' was unexpected"),
    ("    license_prices: {SPE_E5: -1}\n", "sources.m365.license_prices.SPE_E5: -1 is less than the minimum"),
    ("    currency: usd\n", "sources.m365.currency: 'usd' does not match"),
    ("    teams_activity: maybe\n", "sources.m365.teams_activity: 'maybe' is not of type 'boolean'"),
    ("    manager: sometimes\n", "sources.m365.manager: 'sometimes' is not of type 'boolean'"),
])
def test_settings_are_checked(tmp_path, httpserver, secret_env, extra, message):
    graph = FakeGraph(httpserver)
    with pytest.raises(ConfigError, match=message):
        run(tmp_path, graph, extra=extra, prices=None if "license_prices" in extra else "{SPE_E5: 1}")
    assert not graph.calls


def test_the_documented_configurations_are_valid(tmp_path):
    from dialtone.collectors import msgraph
    from dialtone.engine.collector_api import check_settings

    page = (Path(__file__).parents[1] / "docs" / "collectors" / "msgraph.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", page, re.S)
    blocks.append(textwrap.dedent(msgraph.__doc__.split("::\n\n")[1].split("\n\n")[0]))
    assert len(blocks) == 2
    for block in blocks:
        (tmp_path / "dialtone.yaml").write_text(block, encoding="utf-8")
        (source,) = load_config(tmp_path / "dialtone.yaml").sources.values()
        check_settings(GraphCollector, source.name, source.settings)
        collector = GraphCollector(source.name, source.settings, tmp_path)
        assert collector.token_url == ("https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/"
                                       "token")
        assert collector.prices == {"SPE_E5": 57.0, "MCOEV": 8.0}
