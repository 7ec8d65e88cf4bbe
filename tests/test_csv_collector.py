"""The csv collector and the collect run: canonical folders, mapped exports, rejects."""

from __future__ import annotations

import csv
import datetime as dt
import json

import pyarrow.parquet as pq
import pytest

from dialtone.engine.collect import collect
from dialtone.engine.config import load_config
from dialtone.engine.errors import CollectError, ConfigError, DialtoneError

from .conftest import AS_OF, write_csv


def rejects(snapshot) -> list[dict]:
    path = snapshot.path / "rejects.csv"
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def rows(snapshot, entity: str) -> list[dict]:
    return pq.read_table(snapshot.parquet(entity)).to_pylist()


def configure(tmp_path, sources: str):
    (tmp_path / "dialtone.yaml").write_text("sources:\n" + sources, encoding="utf-8")
    return load_config(tmp_path / "dialtone.yaml")


def test_a_canonical_folder_is_collected_with_no_mapping(config):
    result = collect(config, as_of=AS_OF)
    assert result.rows == {"lines": 3, "people": 2, "usage": 7}
    assert result.rejects == 0
    l1 = rows(result.snapshot, "lines")[0]
    assert l1["id"] == "L1" and l1["monthly_cost"] == 40.0
    assert l1["activated_on"] == dt.date(2024, 1, 10)
    assert l1["purpose"] is None                         # empty cell → NULL
    assert l1["_source"] == "estate"
    src = result.snapshot.manifest["sources"]["estate"]
    assert src["collector"] == "csv"
    assert src["rows"] == {"lines": 3, "people": 2, "usage": 7}
    assert set(src["inputs"]) == {"lines.csv", "people.csv", "usage.csv"}


def test_bad_rows_go_to_the_rejects_with_row_field_and_reason(tmp_path):
    write_csv(tmp_path / "estate", "lines", ["id", "kind", "status", "number", "monthly_cost",
                                            "activated_on", "features"], [
        ["L1", "mobile", "active", "+15551230001", "40", "2024-01-10", "intl;hotspot"],
        ["L2", "mobile", "actve", "+15551230002", "35", "2024-01-10", ""],
        ["L3", "fax", "active", "12345", "abc", "2024-13-01", ""],
        ["", "mobile", "active", "", "", "", ""],
        ["L1", "mobile", "active", "", "", "", ""],
    ])
    config = configure(tmp_path, "  estate: {collector: csv, path: ./estate}\n")
    result = collect(config, as_of=AS_OF)
    assert result.rows == {"lines": 1}
    got = [(r["origin"], r["row"], r["field"], r["reason"]) for r in rejects(result.snapshot)]
    assert got == [
        ("lines.csv", "3", "status",
         "expected one of: active, suspended, cancelled, or a synonym of one; got 'actve'"),
        ("lines.csv", "4", "activated_on", "expected a date (%Y-%m-%d)"),
        ("lines.csv", "4", "monthly_cost", "expected a number"),
        ("lines.csv", "4", "number", "does not match the expected format ^\\+[1-9][0-9]{1,14}$"),
        ("lines.csv", "5", "id", "required field is missing"),
        ("lines.csv", "6", "id", "duplicate key (first seen in lines.csv row 2)"),
    ]
    assert result.snapshot.manifest["sources"]["estate"]["rejects"] == 6
    assert rows(result.snapshot, "lines")[0]["features"] == ["intl", "hotspot"]


def test_a_mapped_export_with_its_own_formats(tmp_path):
    export = tmp_path / "exports" / "wireless.csv"
    export.parent.mkdir()
    export.write_bytes(
        "Wireless Number;Line Status;Type;Monthly Charge;Activated;Owner;Extra\n"
        "+441632960001;active;mobile;1.234,50;31/12/2025;Zoë Müller;x\n"
        "+441632960002;suspended;mobile;12,00;01/02/2026;;y\n".encode("latin-1"))
    config = configure(tmp_path, """\
  carrier:
    collector: csv
    path: ./exports/wireless.csv
    entity: lines
    columns:
      Wireless Number: id
      Line Status: status
      Type: kind
      Monthly Charge: monthly_cost
      Activated: activated_on
    delimiter: ";"
    encoding: latin-1
    date_format: "%d/%m/%Y"
    decimal: ","
    thousands: "."
""")
    result = collect(config, as_of=AS_OF)
    assert result.rejects == 0
    got = rows(result.snapshot, "lines")
    assert [(r["id"], r["monthly_cost"], r["activated_on"]) for r in got] == [
        ("+441632960001", 1234.5, dt.date(2025, 12, 31)),
        ("+441632960002", 12.0, dt.date(2026, 2, 1)),
    ]


def test_jsonl_lists_are_arrays_and_bad_lines_are_rejected(tmp_path):
    folder = tmp_path / "estate"
    folder.mkdir()
    (folder / "people.jsonl").write_text("\n".join([
        json.dumps({"id": "P1", "status": "active", "regulatory_scopes": ["finra_bd", "mifid"],
                    "hired_on": "2020-01-01"}),
        "not json",
        json.dumps({"id": "P2", "status": "active", "regulatory_scopes": ["nope"]}),
        json.dumps(["a list"]),
    ]) + "\n")
    config = configure(tmp_path, "  estate: {collector: csv, path: ./estate}\n")
    result = collect(config, as_of=AS_OF)
    assert rows(result.snapshot, "people")[0]["regulatory_scopes"] == ["finra_bd", "mifid"]
    got = [(r["row"], r["field"], r["reason"].split(":")[0]) for r in rejects(result.snapshot)]
    assert got == [("2", "", "invalid JSON"), ("3", "regulatory_scopes", "unknown value(s) nope; expected"),
                   ("4", "", "expected a JSON object")]


def test_datetimes_are_normalised_to_utc(tmp_path):
    write_csv(tmp_path / "estate", "calls", ["id", "started_at"], [
        ["C1", "2026-03-01T10:00:00+02:00"], ["C2", "2026-03-01 10:00:00"], ["C3", "yesterday"]])
    config = configure(tmp_path, "  estate: {collector: csv, path: ./estate}\n")
    result = collect(config, as_of=AS_OF)
    got = {r["id"]: r["started_at"] for r in rows(result.snapshot, "calls")}
    assert got == {"C1": dt.datetime(2026, 3, 1, 8, 0), "C2": dt.datetime(2026, 3, 1, 10, 0)}
    assert [r["reason"] for r in rejects(result.snapshot)] == ["expected an ISO 8601 date-time"]


def test_a_short_row_is_rejected_with_its_line(tmp_path):
    folder = tmp_path / "estate"
    folder.mkdir()
    (folder / "people.csv").write_text("id,name,status\nP1,Ada,active\nP2,Bob\nP3,Cy,active\n")
    config = configure(tmp_path, "  estate: {collector: csv, path: ./estate}\n")
    result = collect(config, as_of=AS_OF)
    assert [r["id"] for r in rows(result.snapshot, "people")] == ["P1", "P3"]
    (bad,) = rejects(result.snapshot)
    assert (bad["row"], bad["reason"]) == ("3", "expected 3 columns, found 2")


def test_unknown_headers_are_ignored_with_a_warning(tmp_path):
    write_csv(tmp_path / "estate", "people", ["id", "status", "nmae"], [["P1", "active", "Ada"]])
    config = configure(tmp_path, "  estate: {collector: csv, path: ./estate}\n")
    result = collect(config, as_of=AS_OF)
    assert result.warnings == ["estate: people.csv: ignored unknown column 'nmae'. Did you mean 'name'?"]


def test_a_failed_collect_leaves_the_previous_snapshot_untouched(config, workspace):
    first = collect(config, as_of=AS_OF).snapshot
    # The mapping now names a header the file does not have.
    (workspace / "estate" / "lines.csv").write_text("id;kind\nL1;mobile\n")
    (workspace / "dialtone.yaml").write_text(
        "sources:\n  estate: {collector: csv, path: ./estate, delimiter: ',', encoding: nope}\n")
    with pytest.raises(ConfigError, match="unknown encoding 'nope'"):
        collect(load_config(workspace / "dialtone.yaml"), as_of=AS_OF)
    (workspace / "dialtone.yaml").write_text(
        "sources:\n  estate: {collector: csv, path: ./missing}\n")
    with pytest.raises(CollectError, match="does not exist"):
        collect(load_config(workspace / "dialtone.yaml"), as_of=AS_OF)
    from dialtone.engine.snapshots import SnapshotStore

    store = SnapshotStore(config.data_dir)
    assert store.ids() == [first.id]
    assert store.latest().verify() == []


@pytest.mark.parametrize(("sources", "message"), [
    ("  x: {collector: cvs, path: .}\n", "Unknown collector 'cvs'. Did you mean 'csv'?"),
    ("  x: {collector: csv}\n", "sources.x: 'path' is a required property"),
    ("  x: {collector: csv, path: ., delimter: ';'}\n", "Additional properties are not allowed"),
    ("  x: {collector: csv, path: ./f.csv, entity: line}\n", "Did you mean 'lines'?"),
])
def test_configuration_mistakes_are_clear(tmp_path, sources, message):
    (tmp_path / "f.csv").write_text("id\n")
    with pytest.raises(DialtoneError) as info:
        collect(configure(tmp_path, sources), as_of=AS_OF)
    assert message in str(info.value)


@pytest.mark.parametrize(("sources", "line", "message"), [
    ("  x: {collector: cvs, path: .}\n", "  x: {collector: cvs, path: .}",
     "sources.x.collector: Unknown collector 'cvs'. Did you mean 'csv'?"),
    ("  x:\n    collector: csv\n    path: .\n    delimter: ';'\n", "    collector: csv",
     "sources.x: Additional properties are not allowed ('delimter' was unexpected)"),
    ("  x:\n    collector: csv\n    path: .\n    encoding: 5\n", "    encoding: 5",
     "sources.x.encoding: 5 is not of type 'string'"),
])
def test_source_settings_are_checked_when_the_configuration_is_read(tmp_path, sources, line,
                                                                     message):
    text = "# sources\nsources:\n" + sources
    (tmp_path / "dialtone.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "dialtone.yaml")
    where, _, said = str(info.value).partition(": ")
    assert where == f"{tmp_path / 'dialtone.yaml'}:{text.splitlines().index(line) + 1}"
    assert said.startswith(message)


def test_collecting_one_source_carries_the_others_forward(tmp_path):
    write_csv(tmp_path / "a", "lines", ["id", "kind", "status"], [["L1", "mobile", "active"]])
    write_csv(tmp_path / "b", "people", ["id", "status"], [["P1", "active"]])
    config = configure(tmp_path, "  a: {collector: csv, path: ./a}\n  b: {collector: csv, path: ./b}\n")
    first = collect(config, as_of=AS_OF).snapshot
    write_csv(tmp_path / "b", "people", ["id", "status"], [["P1", "active"], ["P2", "leave"]])
    second = collect(config, only=["b"], as_of=AS_OF).snapshot
    assert second.entities["lines"]["rows"] == 1
    assert second.entities["people"]["rows"] == 2
    assert second.manifest["sources"]["a"]["carried_from"] == first.id
    assert "carried_from" not in second.manifest["sources"]["b"]


def test_email_addresses_are_checked(tmp_path):
    write_csv(tmp_path / "estate", "people", ["id", "status", "email"], [
        ["P1", "active", "ada@example.com"], ["P2", "active", "not-an-email"]])
    config = configure(tmp_path, "  estate: {collector: csv, path: ./estate}\n")
    result = collect(config, as_of=AS_OF)
    assert [r["id"] for r in rows(result.snapshot, "people")] == ["P1"]
    assert [(r["field"], r["reason"]) for r in rejects(result.snapshot)] == [
        ("email", "expected an e-mail address")]
