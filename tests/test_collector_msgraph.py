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

from dialtone.collectors.msgraph import GraphCollector
from dialtone.engine.collect import collect
from dialtone.engine.config import load_config
from dialtone.engine.errors import CollectError, ConfigError
from dialtone.web.cli import cli
from features.steps.msgraph_steps import CLIENT_ID, CLIENT_SECRET, SCOPE, SECRET_ENV, FakeGraph, load_tenant

from .conftest import AS_OF

ROSA, TOM, MEI, IVAN, DESK = (f"11111111-aaaa-4bbb-8ccc-00000000000{i}" for i in (1, 2, 3, 5, 6))
E5, MCOEV, EMS = (f"0c9f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a0{i}" for i in (1, 2, 3))
IPHONE, IPAD, LAPTOP, PIXEL = (f"d0000000-0000-4000-8000-00000000000{i}" for i in (1, 2, 3, 4))


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """Waits the collector asked for, instead of sleeping."""
    got: list[float] = []
    monkeypatch.setattr(GraphCollector, "sleep", got.append)
    return got


@pytest.fixture
def secret_env(monkeypatch) -> None:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)


def setup(tmp_path: Path, graph: FakeGraph, extra: str = "") -> Path:
    path = tmp_path / "dialtone.yaml"
    path.write_text(graph.config(extra=extra), encoding="utf-8")
    return path


def run(tmp_path: Path, graph: FakeGraph, extra: str = ""):
    return collect(load_config(setup(tmp_path, graph, extra)), as_of=AS_OF)


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


def test_a_tenant_read_end_to_end(tmp_path, httpserver, waits, secret_env):
    graph = FakeGraph(httpserver, page_size=2, throttle={"users": "3"})
    result = run(tmp_path, graph)

    assert result.rows == {"device_apps": 4, "devices": 4, "licenses": 5, "people": 4, "subscriptions": 3}
    # Three pages of users after one 429 that asked for 3 seconds; $top and $select were sent.
    assert waits == [3] and graph.pages("users") == 4
    users_query = [q for p, q in graph.calls if p == "users"][0]
    assert users_query["$top"] == "999" and "employeeLeaveDateTime" in users_query["$select"].split(",")
    assert graph.token_forms == [{"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                  "client_secret": CLIENT_SECRET, "scope": SCOPE}]

    people = rows(result, "people")
    rosa = people["rosa.ortiz@fabrikam.example"]
    assert rosa == {**rosa, "name": "Rosa Ortiz", "email": "rosa.ortiz@fabrikam.example",
                    "upn": "rosa.ortiz@fabrikam.example", "employee_id": "E1001", "department": "Trading",
                    "cost_center": "CC-410", "country": "US", "role": "Equity Trader", "status": "active",
                    "hired_on": dt.date(2019, 3, 1), "terminated_on": None}
    # Left (employeeLeaveDateTime passed); a leave date still to come; a disabled account.
    tom = people["tom.baker@fabrikam.example"]
    assert (tom["status"], tom["terminated_on"]) == ("terminated", dt.date(2026, 5, 29))
    mei = people["mei.chen@fabrikam.example"]
    assert (mei["status"], mei["terminated_on"], mei["email"]) == ("active", dt.date(2099, 12, 31), None)
    assert people["svc.frontdesk@fabrikam.example"]["status"] == "terminated"

    subs = rows(result, "subscriptions")
    assert subs[E5] == {**subs[E5], "product": "teams", "sku": "SPE_E5", "prepaid_units": 25,
                        "consumed_units": 3, "unit_cost": 57.0, "currency": "USD"}
    assert (subs[EMS]["product"], subs[EMS]["unit_cost"]) == ("microsoft365", None)

    licenses = rows(result, "licenses")
    assert sorted(licenses) == sorted([f"{ROSA}:{E5}", f"{ROSA}:{MCOEV}", f"{TOM}:{E5}", f"{MEI}:{EMS}",
                                       f"{DESK}:{E5}"])
    assert licenses[f"{ROSA}:{MCOEV}"] == {
        **licenses[f"{ROSA}:{MCOEV}"], "product": "teams", "sku": "MCOEV", "subscription_id": MCOEV,
        "assigned_to": "rosa.ortiz@fabrikam.example", "monthly_cost": 8.0, "currency": "USD",
        "status": "active"}
    assert licenses[f"{TOM}:{E5}"]["status"] == "disabled"
    assert licenses[f"{MEI}:{EMS}"]["monthly_cost"] is None
    assert any("no price in license_prices for SKU(s) EMSPREMIUM" in w for w in result.warnings)

    devices = rows(result, "devices")
    assert devices[IPHONE] == {
        **devices[IPHONE], "kind": "smartphone", "serial": "F2LXK0AAHG7F", "imei": "352099001761481",
        "model": "iPhone 15", "os": "iOS", "os_version": "17.5.1",
        "assigned_to": "rosa.ortiz@fabrikam.example", "ownership": "company", "status": "in_use",
        "mdm_enrolled": True, "compliance_state": "compliant",
        "encrypted": True, "last_check_in_at": dt.datetime(2026, 6, 29, 21, 14, 3, 512000)}
    ipad = devices[IPAD]
    assert (ipad["kind"], ipad["ownership"], ipad["imei"], ipad["encrypted"], ipad["last_check_in_at"]) == (
        "tablet", "personal", None, False, dt.datetime(2026, 4, 2, 13, 0))      # -04:00 → UTC
    laptop = devices[LAPTOP]
    assert (laptop["kind"], laptop["ownership"], laptop["assigned_to"], laptop["last_check_in_at"]) == (
        None, None, None, None)                                                # 0001-01-01: never
    assert devices[PIXEL]["kind"] == "smartphone"

    apps = rows(result, "device_apps")
    assert sorted(apps) == [(IPHONE, "Microsoft Teams"), (IPHONE, "WhatsApp"), (LAPTOP, "Microsoft Edge"),
                            (PIXEL, "WhatsApp")]
    assert apps[LAPTOP, "Microsoft Edge"]["version"] == "125.0.2535.85; 126.0.2592.56"
    # An app on no device is not asked for.
    unused = "a1f0000000000000000000000000000000000000000000000000000000000005"
    assert not [p for p, _ in graph.calls if unused in p]

    assert rejects(result) == [
        ("people", "GET /users", "4", "id", "", "a Graph user without an id"),
        ("people", "GET /users", "5", "country", "USA", "does not match the expected format ^[A-Z]{2}$"),
    ]
    manifest = result.snapshot.manifest["sources"]["m365"]
    assert set(manifest["inputs"]) == {
        "GET /subscribedSkus", "GET /users", "GET /deviceManagement/managedDevices",
        "GET /deviceManagement/detectedApps", "GET /deviceManagement/detectedApps/{id}/managedDevices"}
    assert manifest["rejects"] == 2


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
    result = run(tmp_path, graph, extra="    devices: false\n    apps: false\n")
    assert result.rows["people"] == 4 and now[0] == 100
    assert len(graph.tokens) == 2


def test_a_token_refused_by_graph_is_replaced_once(tmp_path, httpserver, monkeypatch, secret_env):
    graph = FakeGraph(httpserver, throttle={"users": "5"})
    # While the collector waits out the 429, Graph stops accepting the token (revoked, or expired
    # sooner than expires_in said): the next request gets a 401 and the collector asks for a new one.
    monkeypatch.setattr(GraphCollector, "sleep", lambda s: graph.revoke())
    result = run(tmp_path, graph, extra="    devices: false\n    apps: false\n")
    assert result.rows["people"] == 4 and len(graph.tokens) == 2
    statuses = [q for p, q in graph.calls if p == "users"]
    assert len(statuses) == 5      # 429, 401, then three pages


def test_person_id_from_employee_id_falls_back_to_the_upn(tmp_path, httpserver, waits, secret_env):
    graph = FakeGraph(httpserver)
    result = run(tmp_path, graph, extra="    person_id: employeeId\n    devices: false\n    apps: false\n")
    people = rows(result, "people")
    assert sorted(people) == ["E1001", "E1002", "mei.chen@fabrikam.example", "svc.frontdesk@fabrikam.example"]
    assert rows(result, "licenses")[f"{ROSA}:{E5}"]["assigned_to"] == "E1001"
    assert any("2 user(s) without an employeeId: their people.id is their userPrincipalName" in w
               for w in result.warnings)


def test_person_id_from_the_graph_id(tmp_path, httpserver, waits, secret_env):
    graph = FakeGraph(httpserver)
    result = run(tmp_path, graph, extra="    person_id: id\n    licenses: false\n    devices: false\n"
                                        "    apps: false\n")
    assert sorted(rows(result, "people")) == [ROSA, TOM, MEI, DESK]
    assert result.rows == {"people": 4}
    assert {p for p, _ in graph.calls} == {"users"}          # nothing else was read


def test_without_permission_for_leave_dates_the_users_are_read_without_them(tmp_path, httpserver, waits,
                                                                           secret_env):
    graph = FakeGraph(httpserver, deny_leave_date=True)
    result = run(tmp_path, graph, extra="    devices: false\n    apps: false\n")
    people = rows(result, "people")
    assert all(p["terminated_on"] is None for p in people.values())
    assert people["tom.baker@fabrikam.example"]["status"] == "terminated"     # accountEnabled: false
    assert any("User-LifeCycleInfo.Read.All" in w for w in result.warnings)
    selects = [q["$select"] for p, q in graph.calls if p == "users"]
    assert "employeeLeaveDateTime" in selects[0]
    assert all("employeeLeaveDateTime" not in s for s in selects[1:])


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
    graph = FakeGraph(httpserver, data=data)
    result = run(tmp_path, graph, extra="    apps: false\n")
    assert rejects(result) == [
        ("devices", "GET /deviceManagement/managedDevices", "4", "imei", "Imei value",
         "does not match the expected format ^[0-9]{14,16}$"),
        ("people", "GET /users", "1", "hired_on", "first of March", "expected a date (%Y-%m-%d)"),
        ("people", "GET /users", "3", "status", "", "required field is missing"),
        ("people", "GET /users", "4", "id", "", "a Graph user without an id"),
        ("people", "GET /users", "5", "country", "USA", "does not match the expected format ^[A-Z]{2}$"),
        ("people", "GET /users", "7", "", '"not an object"', "expected a JSON object"),
    ]
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
])
def test_settings_are_checked(tmp_path, httpserver, secret_env, extra, message):
    graph = FakeGraph(httpserver)
    with pytest.raises(ConfigError, match=message):
        run(tmp_path, graph, extra=extra)
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
