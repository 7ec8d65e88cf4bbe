"""Steps for "Missing data is never a fix": exports broken as real ones break."""

from __future__ import annotations

import csv
import os
import shutil

from pytest_bdd import given, parsers, then, when
from sqlalchemy import select

from .source_steps import _config, run_dialtone

LEAVER = "cost.leaver-lines"


def _lines(world: dict):
    return world["root"] / world["carrier"] / "lines.csv"


def _findings(world: dict) -> dict[str, dict]:
    from dialtone.engine.config import load_config
    from dialtone.engine.store import Store
    from dialtone.engine.store.tables import findings

    store = Store.from_config(load_config(_config(world)))
    try:
        with store.read() as conn:
            return {r.resource_id: dict(r._mapping) for r in conn.execute(
                select(findings).where(findings.c.policy_id == LEAVER))}
    finally:
        store.close()


def _history(world: dict, line: str) -> list[dict]:
    import json

    from dialtone.engine.config import load_config
    from dialtone.engine.store import Store
    from dialtone.engine.store.tables import events

    finding = _findings(world)[line]
    store = Store.from_config(load_config(_config(world)))
    try:
        with store.read() as conn:
            return [{"kind": r.kind, "data": json.loads(r.data)} for r in conn.execute(
                select(events).where(events.c.finding_id == finding["id"]).order_by(events.c.seq))]
    finally:
        store.close()


def _open_leavers(world: dict) -> list[str]:
    return sorted(r for r, f in _findings(world).items()
                  if f["status"] in ("open", "in_progress", "excepted"))


@given(parsers.parse('Dialtone has run once and found the leaver lines "{lines}"'))
def ran_once(world: dict, lines: str) -> None:
    shutil.copy(_lines(world), world["root"] / "lines.backup")
    run_dialtone(world)
    assert world["run_exit"] == 0, world["run"]
    assert _open_leavers(world) == [x.strip() for x in lines.split(",")]


@when("the carrier export is emptied")
def emptied(world: dict) -> None:
    _lines(world).write_bytes(b"")


@when("the carrier export is restored")
def restored(world: dict) -> None:
    shutil.copy(world["root"] / "lines.backup", _lines(world))


@when(parsers.parse('the carrier export\'s "{old}" column is renamed "{new}"'))
def renamed(world: dict, old: str, new: str) -> None:
    path = _lines(world)
    header, *rest = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text(",".join(new if h == old else h for h in header.rstrip("\r\n").split(","))
                    + "\n" + "".join(rest), encoding="utf-8")


@when("the carrier export is cut short in the middle of its last line")
def cut_short(world: dict) -> None:
    path = _lines(world)
    os.truncate(path, path.stat().st_size - 8)


@when(parsers.parse('line "{line}" leaves the carrier export'))
def line_leaves(world: dict, line: str) -> None:
    path = _lines(world)
    with path.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.reader(fh) if r[0] != line]
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)


@when(parsers.parse('"{person}" is active again in HR'))
def active_again(world: dict, person: str) -> None:
    path = world["root"] / "hr" / "people.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    status, left = rows[0].index("status"), rows[0].index("terminated_on")
    for row in rows[1:]:
        if row[0] == person:
            row[status], row[left] = "active", ""
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)


@then(parsers.parse('source "{source}" failed in the run because "{reason}"'))
def source_failed(world: dict, source: str, reason: str) -> None:
    (entry,) = [s for s in world["run"]["sources"] if s["source"] == source]
    assert entry["status"] == "stale", entry
    assert reason in entry["error"], entry["error"]


@then("the run resolved no finding")
def resolved_none(world: dict) -> None:
    assert world["run"]["summary"]["changes"].get("resolved", 0) == 0, world["run"]


@then(parsers.parse('the leaver lines "{lines}" are still open'))
def still_open(world: dict, lines: str) -> None:
    assert _open_leavers(world) == [x.strip() for x in lines.split(",")]


@then(parsers.parse('the history of the leaver line "{line}" ends with "{kind}" because "{why}"'))
def history_ends_because(world: dict, line: str, kind: str, why: str) -> None:
    last = _history(world, line)[-1]
    assert last["kind"] == kind and why in last["data"]["why"], last


@then(parsers.parse('the history of the leaver line "{line}" ends with "{kind}"'))
def history_ends(world: dict, line: str, kind: str) -> None:
    assert _history(world, line)[-1]["kind"] == kind
