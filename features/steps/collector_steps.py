"""Steps for collecting call detail records (the asterisk collector) through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from pytest_bdd import given, parsers, then, when

from .policy_steps import _invoke


def _line(row: dict) -> str:
    """A cdr_csv.c line (18 columns): strings quoted, numbers bare, an unset time empty."""
    def s(v: str) -> str:
        return '"' + v.replace('"', '""') + '"'

    answer = row["answer"].strip()
    return ",".join([
        s(""), s(row["src"]), s(row["dst"]), s("from-internal"), s(f"<{row['src']}>"),
        s(f"SIP/{row['src']}-00000001"), s(""), s("Dial"), s(""), s(row["start"]),
        s(answer) if answer else "", s(row["start"]), row["duration"], row["billsec"],
        s(row["disposition"]), s("DOCUMENTATION"), s(row["uniqueid"]), s(""),
    ]) + "\n"


def _master(world: dict) -> Path:
    return world["root"] / "cdr-csv" / "Master.csv"


@given(parsers.parse('an Asterisk source "{name}" in {timezone} whose Master.csv has the calls:'))
def asterisk_source(world: dict, name: str, timezone: str, datatable) -> None:
    (world["root"] / "dialtone.yaml").write_text(
        f"sources:\n  {name}:\n    collector: asterisk\n    path: ./cdr-csv/Master.csv\n"
        f"    timezone: {timezone}\n", encoding="utf-8")
    header, *rows = datatable
    _master(world).parent.mkdir(exist_ok=True)
    _master(world).write_text("".join(_line(dict(zip(header, r, strict=True))) for r in rows),
                              encoding="utf-8")


@when("Asterisk appends the calls:")
def asterisk_appends(world: dict, datatable) -> None:
    header, *rows = datatable
    world["size_before"] = _master(world).stat().st_size
    with _master(world).open("a", encoding="utf-8") as fh:
        fh.write("".join(_line(dict(zip(header, r, strict=True))) for r in rows))


@when("I collect the sources")
def collect_sources(world: dict) -> None:
    result = _invoke(world, "--config", str(world["root"] / "dialtone.yaml"), "collect",
                     "--as-of", "2026-06-30")
    assert result.exit_code == 0, result.output
    snapshots = world["root"] / ".dialtone" / "snapshots"
    world["snapshot"] = sorted(p for p in snapshots.iterdir() if not p.name.startswith("."))[-1]


def _calls(world: dict) -> list[dict]:
    return pq.read_table(world["snapshot"] / "calls.parquet").to_pylist()


def _manifest(world: dict) -> dict:
    return json.loads((world["snapshot"] / "manifest.json").read_text(encoding="utf-8"))


@then(parsers.parse('the snapshot has {n:d} calls from "{source}" and no rejects'))
def snapshot_has_calls(world: dict, n: int, source: str) -> None:
    calls = _calls(world)
    assert len(calls) == n and {c["_source"] for c in calls} == {source}
    assert len({c["id"] for c in calls}) == n
    assert _manifest(world)["rejects"] == 0


@then("the run read only the appended bytes of Master.csv")
def read_only_appended(world: dict) -> None:
    (inputs,) = [s["inputs"] for s in _manifest(world)["sources"].values()]
    assert list(inputs) == [f"Master.csv bytes {world['size_before']}-{_master(world).stat().st_size}"]


@then(parsers.parse('call "{call_id}" started at "{when}" UTC'))
def call_started_at(world: dict, call_id: str, when: str) -> None:
    (call,) = [c for c in _calls(world) if c["id"] == call_id]
    assert call["started_at"].isoformat() == when


@then(parsers.parse('call "{call_id}" has {n:d} billable seconds'))
def call_billable(world: dict, call_id: str, n: int) -> None:
    (call,) = [c for c in _calls(world) if c["id"] == call_id]
    assert call["billable_s"] == n
