"""Steps for an officer's estate: Graph, Asterisk CDRs and a carrier's exports, through `dialtone run`.

Every source goes through its real collector: the fake Microsoft 365 tenant of
msgraph_steps (tests/samples/msgraph/tenant.json) through ``msgraph``, an Asterisk
``Master.csv`` through ``asterisk``, and the carrier's, the recorder's and counsel's CSV
exports through ``csv`` mapped with ``columns:`` and ``values:``. The run is the CLI's
``dialtone run``, its snapshot dated on the day the scenario names (the exports are dated
around it; ``dialtone run`` itself always takes today). What is asserted is read back from
the findings store and from a dry-run evaluation of the same snapshot (the undecidable
resources per policy), as an officer reads them in the web application.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pytest_bdd import given, parsers, then, when
from sqlalchemy import select

from .msgraph_steps import CLIENT_ID, CLIENT_SECRET, SECRET_ENV, TENANT, FakeGraph
from .policy_steps import _invoke

#: The policies that call a line idle.
IDLE_POLICIES = ("cost.zero-usage-lines", "cost.idle-voice-numbers")
RESOURCE_ACCOUNT = "aa-main@fabrikam.example"
TEAMS_PHONE_HOLDER = "rosa.ortiz@fabrikam.example"


# -- the sources ------------------------------------------------------------------------------
def _export(world: dict, name: str, header: list[str], rows: list[list[str]]) -> Path:
    path = world["root"] / "exports" / name
    path.parent.mkdir(exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *rows])
    return path


def _source(world: dict, name: str, settings: dict) -> None:
    """One source of the officer's configuration (written as JSON, which YAML reads as it is)."""
    world.setdefault("officer_sources", {})[name] = settings
    # The organisation's time zone is its PBX's: the day a call or a deletion falls on.
    config = {"timezone": world.get("timezone", "UTC"), "sources": world["officer_sources"]}
    (world["root"] / "dialtone.yaml").write_text(json.dumps(config, indent=2) + "\n",
                                                 encoding="utf-8")


@given(parsers.parse('Fabrikam\'s Microsoft 365 tenant, read through Graph with the seat prices "{prices}"'))
def officer_tenant(httpserver, monkeypatch: pytest.MonkeyPatch, world: dict, prices: str) -> None:
    from dialtone.collectors.msgraph import GraphCollector

    monkeypatch.setattr(GraphCollector, "sleep", lambda seconds: None)
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    graph = FakeGraph(httpserver)
    _source(world, "m365", {
        "collector": "msgraph", "tenant_id": TENANT,
        "client_id": CLIENT_ID, "client_secret_env": SECRET_ENV,
        "graph_url": graph.graph_url, "token_url": graph.token_url,
        "license_prices": {k.strip(): float(v) for k, v in
                           (p.split(":") for p in prices.split(","))},
    })


def _asterisk_line(row: dict) -> str:
    """One cdr_csv.c record with uniqueid and userfield (18 columns), as the shipped cdr.conf
    writes it: strings quoted, numbers bare, an unset answer time empty."""
    def s(v: str) -> str:
        return '"' + v.replace('"', '""') + '"'

    inbound = row["dcontext"] == "from-pstn"
    channel = "PJSIP/carrier-0000a1f3" if inbound else f"PJSIP/{row['src']}-0000a1f3"
    dstchannel = f"PJSIP/{row['dst']}-0000a1f4" if len(row["dst"]) <= 6 else "PJSIP/carrier-0000a1f4"
    answer = row["answer"].strip()
    return ",".join([
        s(""), s(row["src"]), s(row["dst"]), s(row["dcontext"]), s(f'"{row["src"]}" <{row["src"]}>'),
        s(channel), s(dstchannel), s("Dial"), s(f"{dstchannel.rsplit('-', 1)[0]},30,tT"),
        s(row["start"]), s(answer) if answer else "", s(row["start"]), row["duration"],
        row["billsec"], s(row["disposition"]), s("DOCUMENTATION"), s(row["uniqueid"]), s(""),
    ]) + "\n"


@given(parsers.parse("the PBX's Asterisk Master.csv, in {timezone}, national numbers in {region}, "
                     "trunk calls arriving in {context}:"))
def officer_pbx(world: dict, timezone: str, region: str, context: str, datatable) -> None:
    header, *rows = datatable
    world["timezone"] = timezone
    path = world["root"] / "cdr-csv" / "Master.csv"
    path.parent.mkdir(exist_ok=True)
    path.write_text("".join(_asterisk_line(dict(zip(header, r, strict=True))) for r in rows),
                    encoding="utf-8")
    # Only the trunk's context says the direction: FreePBX's from-internal carries both internal
    # and outbound calls, which the parties then tell apart (docs/collectors/asterisk.md).
    _source(world, "pbx", {"collector": "asterisk", "path": "./cdr-csv/Master.csv",
                           "timezone": timezone, "default_region": region,
                           "direction_by_context": {context: "inbound"}})


def _words(text: str) -> dict[str, str]:
    return {k.strip(): v.strip() for k, v in (p.rsplit(":", 1) for p in text.split(","))}


@given(parsers.parse("the carrier's inventory export, national numbers in {region}, its descriptions "
                     'read as purposes "{purposes}":'))
def carrier_inventory(world: dict, region: str, purposes: str, datatable) -> None:
    header, *rows = datatable
    _export(world, "carrier-inventory.csv", header, rows)
    _source(world, "carrier_lines", {
        "collector": "csv", "path": "./exports/carrier-inventory.csv", "entity": "lines",
        "columns": {"Service ID": "id", "Service Number": "number", "Service Type": "kind",
                    "Line Status": "status", "Description": "purpose", "User": "assigned_to",
                    "Cost Center": "cost_center", "Monthly Charge": "monthly_cost",
                    "Currency": "currency", "E911 Location": "e911_location_id",
                    "Call Recording": "recorded", "PCI": "payment_line"},
        "default_region": region,
        "values": {"purpose": _words(purposes)},
    })
    world["inventory"] = {r[0]: dict(zip(header, r, strict=True)) for r in rows}


@given("the carrier's E911 locations export:")
def carrier_e911(world: dict, datatable) -> None:
    header, *rows = datatable
    _export(world, "carrier-e911.csv", header, rows)
    _source(world, "carrier_e911", {
        "collector": "csv", "path": "./exports/carrier-e911.csv", "entity": "e911_locations",
        "columns": {"Location ID": "id", "Street": "address", "Floor": "floor", "Room": "room",
                    "City": "city", "State": "region", "Country": "country", "Status": "validated",
                    "Dispatchable": "dispatchable"},
    })


def _months(first: str, last: str) -> list[str]:
    year, month = map(int, first.split("-"))
    out = []
    while f"{year:04d}-{month:02d}" <= last:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


@given(parsers.parse("the carrier's monthly usage for every month from {first} to {last}, "
                     "without last-activity dates:"))
def carrier_usage(world: dict, first: str, last: str, datatable) -> None:
    header, *rows = datatable
    months = _months(first, last)
    _export(world, "carrier-usage.csv", ["Bill Period", *header],
            [[m, *r] for m in months for r in rows])
    _source(world, "carrier_usage", {
        "collector": "csv", "path": "./exports/carrier-usage.csv", "entity": "usage",
        "columns": {"Service Number": "line_id", "Bill Period": "period",
                    "Voice Minutes": "voice_minutes", "Data MB": "data_mb", "Messages": "sms_count"},
        "default_region": "US",
    })


@given(parsers.parse("the call recorder's export, national numbers in {region}:"))
def recorder_export(world: dict, region: str, datatable) -> None:
    header, *rows = datatable
    _export(world, "recordings.csv", header, rows)
    _source(world, "recorder", {
        "collector": "csv", "path": "./exports/recordings.csv", "entity": "recordings",
        "columns": {"Recording ID": "id", "Call ID": "call_id", "Number": "line_id",
                    "Started (UTC)": "started_at", "Tag": "purpose",
                    "Card Data Redacted": "payment_data_redacted",
                    "Announcement": "consent_announced", "Deleted (UTC)": "deleted_at"},
        "datetime_format": "%Y-%m-%d %H:%M", "default_region": region,
    })


@given("counsel's register of legal holds:")
def legal_register(world: dict, datatable) -> None:
    header, *rows = datatable
    _export(world, "legal-holds.csv", header, rows)
    _source(world, "counsel", {
        "collector": "csv", "path": "./exports/legal-holds.csv", "entity": "legal_holds",
        "columns": {"Hold": "id", "Matter": "matter", "Custodians": "custodians",
                    "Start": "started_on", "Release": "released_on"},
        "date_format": "%m/%d/%Y", "list_separator": ";",
    })


# -- the run ----------------------------------------------------------------------------------
@when(parsers.parse("the officer runs Dialtone on {day}"))
def officer_runs(world: dict, monkeypatch: pytest.MonkeyPatch, day: str) -> None:
    from dialtone.engine import runs

    # `dialtone run` dates its snapshot today; the exports are dated around `day`.
    monkeypatch.setattr(runs, "run_once", functools.partial(runs.run_once,
                                                            as_of=dt.date.fromisoformat(day)))
    config = str(world["root"] / "dialtone.yaml")
    result = _invoke(world, "--config", config, "run", "--format", "json")
    world["run_exit"] = result.exit_code
    world["run"] = json.loads(result.stdout)
    dry = _invoke(world, "--config", config, "evaluate", "--dry-run", "--format", "json")
    assert dry.exit_code == 0, dry.output
    world["outcomes"] = {r["policy_id"]: r for r in json.loads(dry.stdout)["results"]}


def _store(world: dict):
    from dialtone.engine.config import load_config
    from dialtone.engine.store import Store

    return Store.from_config(load_config(world["root"] / "dialtone.yaml"))


def _open_findings(world: dict) -> list[dict]:
    from dialtone.engine.store.tables import findings

    store = _store(world)
    try:
        with store.read() as conn:
            return [dict(r._mapping) for r in conn.execute(
                select(findings).where(findings.c.status.in_(("open", "in_progress"))))]
    finally:
        store.close()


def _snapshot(world: dict, entity: str) -> list[dict]:
    snapshots = world["root"] / ".dialtone" / "snapshots"
    path = snapshots / world["run"]["snapshot"] / f"{entity}.parquet"
    return pq.read_table(path).to_pylist()


def _found(world: dict, resource_id: str) -> dict[str, str]:
    """Policy → reason, of the open findings on one resource."""
    return {f["policy_id"]: f["reason"] for f in _open_findings(world) if f["resource_id"] == resource_id}


def _undecided_by(world: dict, resource_id: str, category: str | None = None) -> list[str]:
    return sorted(pid for pid, o in world["outcomes"].items()
                  if resource_id in (o.get("undecidable") or [])
                  and (category is None or pid.startswith(category + ".")))


# -- what the officer reads -------------------------------------------------------------------
@then("every source was collected, and nothing was rejected but the two users Graph sent without an id "
      "or with a usage location that is no country")
def every_source_collected(world: dict) -> None:
    assert world["run_exit"] == 0, world["run"]
    statuses = {s["source"]: s["status"] for s in world["run"]["sources"]}
    assert set(statuses.values()) == {"collected"}, world["run"]["sources"]
    with (world["root"] / ".dialtone" / "snapshots" / world["run"]["snapshot"] / "rejects.csv").open(
            encoding="utf-8") as fh:
        rejects = sorted((r["source"], r["origin"], r["field"], r["value"]) for r in csv.DictReader(fh))
    assert rejects == [("m365", "GET /users", "country", "Narnia"), ("m365", "GET /users", "id", "")], rejects


@then(parsers.parse('no policy finds the lift line "{lift}" or the fire-alarm line "{alarm}", and '
                    "{policy_id} decides both"))
def life_safety_left_alone(world: dict, lift: str, alarm: str, policy_id: str) -> None:
    lines = {r["id"]: r for r in _snapshot(world, "lines")}
    assert (lines[lift]["purpose"], lines[alarm]["purpose"]) == ("lift", "alarm"), (lines[lift], lines[alarm])
    outcome = world["outcomes"][policy_id]
    assert outcome["status"] == "ok", outcome
    for line in (lift, alarm):
        assert _found(world, line) == {}, (line, _found(world, line))
        assert line not in (outcome.get("undecidable") or []), outcome


def _licence_of(world: dict, holder: str, sku: str) -> dict:
    (licence,) = [lic for lic in _snapshot(world, "licenses")
                  if lic["assigned_to"] == holder and lic["sku"] == sku]
    return licence


@then("no policy finds the Teams Phone resource account's licence, nor lists it as undecidable")
def resource_account_left_alone(world: dict) -> None:
    (account,) = [p for p in _snapshot(world, "people") if p["id"] == RESOURCE_ACCOUNT]
    assert account["kind"] == "resource_account", account
    licence = _licence_of(world, RESOURCE_ACCOUNT, "PHONESYSTEM_VIRTUALUSER")
    assert _found(world, licence["id"]) == {}, _found(world, licence["id"])
    assert _undecided_by(world, licence["id"]) == [], _undecided_by(world, licence["id"])


@then(parsers.parse("{policy_id} decides that Rosa Ortiz's Teams Phone licence is used: her DID took a "
                    "call this month"))
def teams_phone_seat_used(world: dict, policy_id: str) -> None:
    licence = _licence_of(world, TEAMS_PHONE_HOLDER, "MCOEV")
    outcome = world["outcomes"][policy_id]
    assert outcome["status"] in ("ok", "alarm"), outcome
    assert licence["id"] not in {f["resource_id"] for f in outcome["findings"]}, outcome
    assert licence["id"] not in (outcome.get("undecidable") or []), outcome


@then(parsers.parse('no policy calls the busy line "{line}" idle, nor lists it as undecidable for idleness'))
def busy_line_not_idle(world: dict, line: str) -> None:
    found = _found(world, line)
    assert not set(found) & set(IDLE_POLICIES), found
    assert not set(_undecided_by(world, line)) & set(IDLE_POLICIES), _undecided_by(world, line)
    usage = [u for u in _snapshot(world, "usage") if u["line_id"] == line]
    assert usage and all(u["last_activity_on"] is None for u in usage), usage


@then(parsers.parse('no policy reports the recording "{recording}", deleted before the hold on its line '
                    "began"))
def lawful_deletion(world: dict, recording: str) -> None:
    assert _found(world, recording) == {}, _found(world, recording)
    assert _undecided_by(world, recording) == [], _undecided_by(world, recording)


@then(parsers.parse('{policy_id} finds the recording "{recording}", deleted while the hold was in force'))
def deletion_under_hold(world: dict, policy_id: str, recording: str) -> None:
    assert policy_id in _found(world, recording), _found(world, recording)


@then(parsers.parse('{policy_id} finds the quality recording "{recording}"'))
def pci_recording(world: dict, policy_id: str, recording: str) -> None:
    (row,) = [r for r in _snapshot(world, "recordings") if r["id"] == recording]
    assert row["purpose"] == "quality", row
    assert policy_id in _found(world, recording), _found(world, recording)


@then(parsers.parse('the leaver\'s idle line "{line}" is claimed by {first} and {second}, and counted once'))
def claimed_twice(world: dict, line: str, first: str, second: str) -> None:
    claims = [f for f in _open_findings(world) if f["savings_key"] == f"lines:{line}"]
    assert sorted(f["policy_id"] for f in claims) == sorted([first, second]), claims
    world["twice_claimed"] = claims


@then("the identified savings on the posture page equal, per currency, the largest saving claimed "
      "on each billable object by the open findings, summed")
def savings_add_up(world: dict) -> None:
    from dialtone.engine.store.dashboard import posture

    # Worked out here from the findings, without the engine's SQL: per billable object (its
    # savings key, or else the resource itself) and currency, the largest claim; then per currency.
    largest: dict[tuple[str, str], float] = {}
    claimed: dict[str, float] = {}
    for f in _open_findings(world):
        if f["savings"] is None:
            continue
        key = (f["savings_key"] or f"{f['resource_type']}:{f['resource_id']}", f["currency"] or "(unknown)")
        largest[key] = max(largest.get(key, f["savings"]), f["savings"])
        claimed[key[1]] = claimed.get(key[1], 0.0) + f["savings"]
    expected: dict[str, float] = {}
    for (_, currency), amount in largest.items():
        expected[currency] = expected.get(currency, 0.0) + amount
    expected = {c: round(a, 2) for c, a in sorted(expected.items()) if a}

    store = _store(world)
    try:
        shown = posture(store)["savings_identified"]
    finally:
        store.close()
    assert expected, "the estate has savings to identify"
    assert shown == expected, (shown, expected, largest)
    # The leaver's idle line is one line's cost, not two: the plain sum of claims is larger.
    line_claim = max(f["savings"] for f in world["twice_claimed"])
    assert line_claim > 0 and round(claimed["USD"] - expected["USD"], 2) == line_claim, (claimed, expected)


@then(parsers.parse('{policy_id} finds the inbound call "{call}" from California, recorded as "{recording}" '
                    'without an announcement, and decides the announced call "{announced}"'))
def consent_call(world: dict, policy_id: str, call: str, recording: str, announced: str) -> None:
    calls = {c["id"]: c for c in _snapshot(world, "calls")}
    recordings = {r["call_id"]: r for r in _snapshot(world, "recordings") if r["call_id"]}
    assert (calls[call]["direction"], calls[call]["source_region"]) == ("inbound", "CA"), calls[call]
    assert (recordings[call]["id"], recordings[call]["consent_announced"]) == (recording, False)
    assert recordings[announced]["consent_announced"] is True, recordings[announced]
    outcome = world["outcomes"][policy_id]
    found = {f["resource_id"]: f["reason"] for f in outcome["findings"]}
    undecided = outcome.get("undecidable") or []
    # PBX call records name no recording: the recorder's call_id links the two.
    assert calls[call]["recording_id"] is None, calls[call]
    assert call in found, (call, "undecidable" if call in undecided else "not found")
    assert announced not in undecided, (announced, undecided)
    assert "the calling party is in CA" in found[call], found[call]
    assert announced not in found, found
