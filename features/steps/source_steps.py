"""Steps for source health: stale sources, max_age, identity resolution, `dialtone run`."""

from __future__ import annotations

import csv
import datetime as dt
import json

import pyarrow.parquet as pq
from pytest_bdd import given, parsers, then, when

from .policy_steps import _invoke


def _write(folder, entity: str, datatable) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{entity}.csv").open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(datatable)


def _config(world: dict):
    return world["root"] / "dialtone.yaml"


@given(parsers.parse('an HR source "{name}" with the people:'))
def hr_source(world: dict, name: str, datatable) -> None:
    _write(world["root"] / name, "people", datatable)
    world["sources"] = [f"  {name}: {{collector: csv, path: ./{name}}}"]


@given(parsers.parse('a carrier source "{name}" with max_age "{age}" whose export has the lines:'))
def carrier_source(world: dict, name: str, age: str, datatable) -> None:
    _write(world["root"] / name, "lines", datatable)
    world["carrier"] = name
    world["sources"].append(f"  {name}: {{collector: csv, path: ./{name}, max_age: {age}}}")
    _config(world).write_text("sources:\n" + "\n".join(world["sources"]) + "\n", encoding="utf-8")


@given(parsers.parse('a seats source "{name}" whose export has the licenses:'))
def seats_source(world: dict, name: str, datatable) -> None:
    _write(world["root"] / name, "licenses", datatable)
    world["sources"].append(f"  {name}: {{collector: csv, path: ./{name}}}")
    _config(world).write_text("sources:\n" + "\n".join(world["sources"]) + "\n", encoding="utf-8")


@given(parsers.parse("the sources were last collected {days:d} days ago"))
def collected_days_ago(world: dict, days: int) -> None:
    from dialtone.engine.collect import collect
    from dialtone.engine.config import load_config

    collect(load_config(_config(world)), now=dt.datetime.now(dt.UTC) - dt.timedelta(days=days))


@when("the carrier export disappears")
def carrier_disappears(world: dict) -> None:
    (world["root"] / world["carrier"] / "lines.csv").unlink()


@when("I run Dialtone")
def run_dialtone(world: dict) -> None:
    result = _invoke(world, "--config", str(_config(world)), "run", "--format", "json")
    world["run_exit"] = result.exit_code
    world["run"] = json.loads(result.stdout)


@then(parsers.parse("the run exits with status {code:d}"))
def run_exit(world: dict, code: int) -> None:
    assert world["run_exit"] == code, world["run"]


def _latest_snapshot(world: dict):
    from dialtone.engine.snapshots import SnapshotStore

    return SnapshotStore(world["root"] / ".dialtone").get(world["run"]["snapshot"])


@then(parsers.parse('line "{a}" is assigned to "{pa}" and line "{b}" to "{pb}"'))
def lines_assigned(world: dict, a: str, pa: str, b: str, pb: str) -> None:
    rows = {r["id"]: r for r in pq.read_table(_latest_snapshot(world).parquet("lines")).to_pylist()}
    assert (rows[a]["assigned_to"], rows[b]["assigned_to"]) == (pa, pb)


@then(parsers.parse('the run reports {n:d} unresolved reference from source "{source}"'))
def run_reports_unresolved(world: dict, n: int, source: str) -> None:
    (entry,) = [s for s in world["run"]["sources"] if s["source"] == source]
    assert entry["unresolved"] == n and entry["ambiguous"] == 0


@then(parsers.parse("the snapshot's unresolved references list \"{value}\" in {ref} from \"{source}\""))
def unresolved_listed(world: dict, value: str, ref: str, source: str) -> None:
    entity, field = ref.split(".")
    with (_latest_snapshot(world).path / "unresolved.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["source"], r["entity"], r["field"], r["value"], r["status"]) for r in rows] == [
        (source, entity, field, value, "unresolved")]


@then(parsers.parse('source "{source}" is stale in the run, with an error naming its folder'))
def source_stale(world: dict, source: str) -> None:
    (entry,) = [s for s in world["run"]["sources"] if s["source"] == source]
    assert entry["status"] == "stale"
    assert str(world["root"] / source) in entry["error"]


def _policy(world: dict, policy_id: str) -> dict:
    result = _invoke(world, "--config", str(_config(world)), "evaluate", "--dry-run", "--format",
                     "json", "--policy", policy_id)
    (outcome,) = json.loads(result.stdout)["results"]
    return outcome


@then(parsers.parse('policy "{policy_id}" is in error because "{reason}"'))
def policy_in_error(world: dict, policy_id: str, reason: str) -> None:
    outcome = _policy(world, policy_id)
    assert outcome["status"] == "error" and outcome["error"].startswith(reason), outcome


@then(parsers.parse('policy "{policy_id}", reading only fresh data, raises an alarm'))
def policy_alarm(world: dict, policy_id: str) -> None:
    assert _policy(world, policy_id)["status"] == "alarm"
