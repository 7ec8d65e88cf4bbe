"""Failing sources go stale instead of stopping the collect; stale data turns policies to
error past max_age; references by e-mail, employee number, UPN or phone number resolve."""

from __future__ import annotations

import csv
import datetime as dt

import pyarrow.parquet as pq
import pytest

from dialtone.engine.collect import collect
from dialtone.engine.config import load_config
from dialtone.engine.errors import CollectError, ConfigError
from dialtone.engine.evaluation import evaluate
from dialtone.engine.freshness import parse_duration, stale_entities
from dialtone.engine.policy.loader import load_policies

from .conftest import AS_OF, write_csv

T0 = dt.datetime(2026, 6, 30, 2, 0, tzinfo=dt.UTC)


def workspace(tmp_path, carrier_max_age: str = "2d"):
    write_csv(tmp_path / "hr", "people", ["id", "name", "email", "employee_id", "upn", "status",
                                         "terminated_on"], [
        ["P1", "Ada", "ada@example.com", "E001", "ada@corp.example.com", "active", ""],
        ["P2", "Bob", "bob@example.com", "E002", "bob@corp.example.com", "terminated", "2026-01-01"],
        ["P3", "Cy", "shared@example.com", "E003", "", "active", ""],
        ["P4", "Di", "shared@example.com", "E004", "", "active", ""],
    ])
    write_csv(tmp_path / "carrier", "lines", ["id", "kind", "status", "number", "assigned_to",
                                              "monthly_cost"], [
        ["L1", "mobile", "active", "+15551230001", "E001", "40"],         # employee number
        ["L2", "mobile", "active", "+15551230002", "BOB@EXAMPLE.COM", "40"],  # e-mail, any case
        ["L3", "mobile", "active", "+15551230003", "P1", "40"],           # already an id
        ["L4", "mobile", "active", "+15551230004", "nobody@example.com", "40"],
        ["L5", "mobile", "active", "+15551230005", "shared@example.com", "40"],
    ])
    write_csv(tmp_path / "seats", "licenses", ["id", "product", "assigned_to", "monthly_cost",
                                              "status"], [
        ["Z1", "Zoom", "bob@corp.example.com", "15", "active"],            # UPN
        ["Z2", "Zoom", "ada@example.com", "15", "active"],
    ])
    (tmp_path / "dialtone.yaml").write_text(
        "sources:\n"
        "  hr: {collector: csv, path: ./hr}\n"
        f"  carrier: {{collector: csv, path: ./carrier, max_age: {carrier_max_age}}}\n"
        "  seats: {collector: csv, path: ./seats}\n", encoding="utf-8")
    return load_config(tmp_path / "dialtone.yaml")


def rows(snapshot, entity):
    return {r["id"]: r for r in pq.read_table(snapshot.parquet(entity)).to_pylist()}


def test_references_by_other_keys_resolve_to_ids_and_the_rest_is_reported(tmp_path):
    snap = collect(workspace(tmp_path), as_of=AS_OF, now=T0).snapshot
    lines = rows(snap, "lines")
    assert lines["L1"]["assigned_to"] == "P1"
    assert lines["L2"]["assigned_to"] == "P2"
    assert lines["L3"]["assigned_to"] == "P1"
    assert lines["L4"]["assigned_to"] == "nobody@example.com"      # kept as it was, reported
    assert lines["L5"]["assigned_to"] == "shared@example.com"
    assert rows(snap, "licenses")["Z1"]["assigned_to"] == "P2"
    carrier = snap.manifest["sources"]["carrier"]["identity"]
    assert carrier == {"resolved": 2, "unresolved": 1, "ambiguous": 1, "fields": {
        "lines.assigned_to": {"resolved": 2, "unresolved": 1, "ambiguous": 1}}}
    assert snap.manifest["sources"]["seats"]["identity"]["resolved"] == 2
    assert "identity" not in snap.manifest["sources"]["hr"]
    with (snap.path / "unresolved.csv").open(encoding="utf-8") as fh:
        report = list(csv.DictReader(fh))
    assert report == [
        {"source": "carrier", "entity": "lines", "field": "assigned_to",
         "value": "nobody@example.com", "status": "unresolved", "rows": "1", "candidates": ""},
        {"source": "carrier", "entity": "lines", "field": "assigned_to",
         "value": "shared@example.com", "status": "ambiguous", "rows": "1", "candidates": "P3;P4"},
    ]
    assert snap.manifest["unresolved"] == 2 and snap.verify() == []


def test_lines_are_named_by_any_spelling_of_their_number(tmp_path):
    """Calls and charges name their line by number, written as each source writes it: the
    E.164 form is what is compared, not the digits (+1 312… and (312)… differ in digits)."""
    write_csv(tmp_path / "carrier", "lines", ["id", "kind", "status", "number"], [
        ["DID-1", "did", "active", "(312) 555-0100"], ["ES-1", "mobile", "active", "+34 688 88 63 92"]])
    write_csv(tmp_path / "pbx", "calls", ["id", "started_at", "line_id"], [
        ["C1", "2026-06-01T10:00:00Z", "+1 312 555 0100"],
        ["C2", "2026-06-01T10:00:00Z", "(312) 555-0100"],           # national, no region: unresolved
        ["C3", "2026-06-01T10:00:00Z", "+1 312 555 0100 x123"],     # an extension behind it
        ["C4", "2026-06-01T10:00:00Z", "13125550100"],
        ["C5", "2026-06-01T10:00:00Z", "0034688886392"],
        ["C6", "2026-06-01T10:00:00Z", "34688886392"],
        ["C7", "2026-06-01T10:00:00Z", "+34688886392"],
        ["C8", "2026-06-01T10:00:00Z", "3125550100"],                # the same
        ["C9", "2026-06-01T10:00:00Z", "2001"],                      # an extension
        ["C10", "2026-06-01T10:00:00Z", "DID-1"],                    # the line's id
    ])
    write_csv(tmp_path / "pbx2", "calls", ["id", "started_at", "line_id"], [
        ["D1", "2026-06-01T10:00:00Z", "312-555-0100"]])           # national, read in the US
    (tmp_path / "dialtone.yaml").write_text(
        "sources:\n"
        "  carrier: {collector: csv, path: ./carrier, default_region: US}\n"
        "  pbx: {collector: csv, path: ./pbx}\n"
        "  pbx2: {collector: csv, path: ./pbx2, default_region: US}\n", encoding="utf-8")
    snap = collect(load_config(tmp_path / "dialtone.yaml"), as_of=AS_OF, now=T0).snapshot
    got = {k: v["line_id"] for k, v in rows(snap, "calls").items()}
    assert got == {"C1": "DID-1", "C2": "(312) 555-0100", "C3": "DID-1", "C4": "DID-1", "C5": "ES-1",
                   "C6": "ES-1", "C7": "ES-1", "C8": "3125550100", "C9": "2001", "C10": "DID-1",
                   "D1": "DID-1"}
    assert rows(snap, "lines")["DID-1"]["number"] == "+13125550100"
    pbx = snap.manifest["sources"]["pbx"]["identity"]["fields"]["calls.line_id"]
    assert pbx == {"resolved": 6, "unresolved": 3, "ambiguous": 0}


def test_identity_keys_are_configurable(tmp_path):
    config = workspace(tmp_path)
    text = (tmp_path / "dialtone.yaml").read_text() + "identity:\n  people: [employee_id]\n"
    (tmp_path / "dialtone.yaml").write_text(text)
    snap = collect(load_config(tmp_path / "dialtone.yaml"), as_of=AS_OF, now=T0).snapshot
    lines = rows(snap, "lines")
    assert lines["L1"]["assigned_to"] == "P1"                  # by employee number still
    assert lines["L2"]["assigned_to"] == "BOB@EXAMPLE.COM"     # e-mail is no longer a key
    assert config.identity_keys["people"] == ("employee_id", "email", "upn")
    (tmp_path / "dialtone.yaml").write_text(text.replace("[employee_id]", "[phone]"))
    with pytest.raises(ConfigError, match=r"identity\.people\.0"):
        load_config(tmp_path / "dialtone.yaml")


def test_a_failing_source_keeps_its_last_rows_marked_stale(tmp_path):
    config = workspace(tmp_path)
    first = collect(config, as_of=AS_OF, now=T0).snapshot
    (tmp_path / "carrier" / "lines.csv").unlink()
    (tmp_path / "carrier").rmdir()
    later = T0 + dt.timedelta(days=9)
    result = collect(config, as_of=later.date(), now=later)
    snap = result.snapshot
    assert set(result.failures) == {"carrier"} and "does not exist" in result.failures["carrier"]
    assert set(rows(snap, "lines")) == {"L1", "L2", "L3", "L4", "L5"}   # carried forward
    carrier = snap.manifest["sources"]["carrier"]
    assert carrier["status"] == "stale" and carrier["carried_from"] == first.id
    assert carrier["collected_at"] == "2026-06-30T02:00:00Z"
    assert carrier["failed_at"] == "2026-07-09T02:00:00Z"
    assert carrier["max_age_seconds"] == 2 * 86400
    assert snap.manifest["sources"]["hr"]["status"] == "collected"
    assert stale_entities(snap.manifest) == {"lines": (
        "lines data is 9 days old (source 'carrier' was last collected 2026-06-30T02:00:00Z, "
        "max_age 2 days; it has failed since 2026-07-09T02:00:00Z: " + result.failures["carrier"]
        + ")")}
    # A second failing day keeps the first failure time.
    again = collect(config, now=later + dt.timedelta(days=1)).snapshot
    assert again.manifest["sources"]["carrier"]["failed_at"] == "2026-07-09T02:00:00Z"


def test_a_policy_reading_stale_data_errors_instead_of_passing(tmp_path):
    config = workspace(tmp_path)
    collect(config, as_of=AS_OF, now=T0)
    (tmp_path / "carrier" / "lines.csv").unlink()
    later = T0 + dt.timedelta(days=9)
    snap = collect(config, as_of=later.date(), now=later).snapshot
    loaded = load_policies()
    result = evaluate(snap, loaded, policy_ids=["cost.leaver-lines", "cost.leaver-licenses"])
    by_id = {o.policy_id: o for o in result.outcomes}
    assert by_id["cost.leaver-lines"].status == "error"
    assert by_id["cost.leaver-lines"].error.startswith("lines data is 9 days old")
    assert by_id["cost.leaver-licenses"].status == "alarm"     # licences and people are fresh


def test_within_max_age_a_stale_source_still_counts(tmp_path):
    config = workspace(tmp_path, carrier_max_age="10d")
    collect(config, as_of=AS_OF, now=T0)
    (tmp_path / "carrier" / "lines.csv").unlink()
    later = T0 + dt.timedelta(days=9)
    snap = collect(config, now=later).snapshot
    assert snap.manifest["sources"]["carrier"]["status"] == "stale"
    assert stale_entities(snap.manifest) == {}


def test_when_no_source_can_be_read_nothing_is_written(tmp_path):
    config = workspace(tmp_path)
    first = collect(config, as_of=AS_OF, now=T0).snapshot
    for folder in ("hr", "carrier", "seats"):
        for f in (tmp_path / folder).iterdir():
            f.unlink()
        (tmp_path / folder).rmdir()
    with pytest.raises(CollectError, match="no source could be collected") as info:
        collect(config, now=T0 + dt.timedelta(days=1))
    assert "source 'hr'" in str(info.value) and "source 'seats'" in str(info.value)
    from dialtone.engine.snapshots import SnapshotStore

    assert SnapshotStore(config.data_dir).ids() == [first.id]


def test_a_source_that_never_worked_is_recorded_as_failed(tmp_path):
    config = workspace(tmp_path)
    (tmp_path / "seats" / "licenses.csv").unlink()
    (tmp_path / "seats").rmdir()
    snap = collect(config, as_of=AS_OF, now=T0).snapshot
    seats = snap.manifest["sources"]["seats"]
    assert seats["status"] == "failed" and seats["collected_at"] is None and seats["rows"] == {}
    assert "licenses" not in snap.entities


@pytest.mark.parametrize(("text", "seconds"), [("90m", 5400), ("36h", 129600), ("2d", 172800),
                                               ("1w", 604800), ("1.5d", 129600)])
def test_durations(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


def test_a_bad_max_age_is_a_clear_config_error(tmp_path):
    (tmp_path / "dialtone.yaml").write_text(
        "sources:\n  a: {collector: csv, path: ., max_age: 3 days}\n")
    with pytest.raises(ConfigError, match=r"dialtone.yaml:2: sources.a.max_age: '3 days' does not match"):
        load_config(tmp_path / "dialtone.yaml")


def test_duplicates_between_carried_and_fresh_rows_are_settled_as_a_full_collect_would(tmp_path):
    write_csv(tmp_path / "a", "lines", ["id", "kind", "status", "monthly_cost"], [
        ["L1", "mobile", "active", "10"], ["L2", "mobile", "active", "20"]])
    write_csv(tmp_path / "b", "lines", ["id", "kind", "status", "monthly_cost"], [
        ["L3", "mobile", "active", "30"]])
    (tmp_path / "dialtone.yaml").write_text(
        "sources:\n  a: {collector: csv, path: ./a}\n  b: {collector: csv, path: ./b}\n")
    config = load_config(tmp_path / "dialtone.yaml")
    first = collect(config, as_of=AS_OF, now=T0).snapshot
    write_csv(tmp_path / "b", "lines", ["id", "kind", "status", "monthly_cost"], [
        ["L3", "mobile", "active", "30"], ["L1", "landline", "active", "99"]])
    # b alone: its new L1 meets a's L1, carried forward; a comes first in the configuration.
    result = collect(config, only=["b"], as_of=AS_OF, now=T0 + dt.timedelta(hours=1))
    table = pq.read_table(result.snapshot.parquet("lines")).to_pylist()
    assert sorted((r["id"], r["_source"], r["monthly_cost"]) for r in table) == [
        ("L1", "a", 10.0), ("L2", "a", 20.0), ("L3", "b", 30.0)]
    with (result.snapshot.path / "rejects.csv").open(encoding="utf-8") as fh:
        (reject,) = list(csv.DictReader(fh))
    assert reject == {"source": "b", "entity": "lines", "origin": "collected now", "row": "",
                      "field": "id", "value": "L1",
                      "reason": "duplicate key (first seen in source 'a')"}
    # The same answer as collecting everything.
    full = collect(config, as_of=AS_OF, now=T0 + dt.timedelta(hours=2)).snapshot
    assert sorted((r["id"], r["_source"]) for r in pq.read_table(full.parquet("lines")).to_pylist()) \
        == [("L1", "a"), ("L2", "a"), ("L3", "b")]
    assert first.id != full.id
