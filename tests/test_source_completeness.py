"""Missing data is never a fix: faults in a source end in a failed source or a degraded run,
with zero findings resolved by it and the previous snapshot's rows carried forward.

Each fault is tried on a synthetic estate collected once as a baseline, then broken the way
real exports break: emptied, a key column renamed, cut short mid-line or at a line end,
changed, replaced or moved away while it is read, the disk full, the process killed.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from dialtone.collectors.csv_files import CsvCollector
from dialtone.engine.completeness import Completeness, check_counts
from dialtone.engine.config import load_config
from dialtone.engine.demo import write_canonical_csv
from dialtone.engine.errors import ConfigError
from dialtone.engine.runs import get_run, run_once
from dialtone.engine.snapshots import SnapshotStore
from dialtone.engine.store import Store
from dialtone.engine.store.tables import events, findings
from dialtone.engine.synthetic import generate_estate

from .conftest import write_csv

ESTATE = generate_estate(200, seed=11)


@pytest.fixture(scope="module")
def collected_once(tmp_path_factory) -> tuple[Path, dict]:
    """A workspace collected, evaluated and recorded once (the baseline every fault breaks):
    two sources, people from HR and everything else from one export folder."""
    root = tmp_path_factory.mktemp("baseline")
    write_canonical_csv({k: v for k, v in ESTATE.tables.items() if k != "people"}, root / "estate")
    write_canonical_csv({"people": ESTATE.tables["people"]}, root / "hr")
    (root / "dialtone.yaml").write_text(
        "sources:\n  hr: {collector: csv, path: ./hr}\n  estate: {collector: csv, path: ./estate}\n",
        encoding="utf-8")
    first = run(root)
    assert first.status == "succeeded", first.error
    found = open_findings(root)
    assert len(found) > 100      # the estate has findings for the fault to hide
    return root, {"snapshot": first.snapshot_id, "open": found}


@pytest.fixture
def workspace(collected_once, tmp_path: Path) -> Path:
    """A copy of the baseline workspace of one's own to break."""
    shutil.copytree(collected_once[0], tmp_path / "ws")
    return tmp_path / "ws"


@pytest.fixture
def baseline(collected_once, workspace) -> dict:
    return collected_once[1]


def run(workspace: Path, **kwargs):
    return run_once(load_config(workspace / "dialtone.yaml"), as_of=ESTATE.as_of, **kwargs)


def open_findings(workspace: Path) -> set[tuple[str, str]]:
    store = Store.from_config(load_config(workspace / "dialtone.yaml"))
    try:
        with store.read() as conn:
            return {(r.policy_id, r.resource_id) for r in conn.execute(
                select(findings.c.policy_id, findings.c.resource_id).where(
                    findings.c.status.in_(("open", "in_progress", "excepted"))))}
    finally:
        store.close()


def assert_nothing_resolved_and_rows_carried(workspace: Path, baseline, outcome, reason: str):
    """The fault's run is degraded, names the source and why, resolves nothing, and its
    snapshot holds the previous snapshot's rows, marked stale."""
    assert outcome.status == "degraded", outcome.error
    assert "estate" in outcome.collected.failures
    assert reason in outcome.collected.failures["estate"]
    assert outcome.recorded.changes.get("resolved", 0) == 0
    assert open_findings(workspace) == baseline["open"]
    meta = outcome.collected.snapshot.manifest["sources"]["estate"]
    assert meta["status"] == "stale" and reason in meta["error"]
    store = SnapshotStore(load_config(workspace / "dialtone.yaml").data_dir)
    before, after = store.get(baseline["snapshot"]), outcome.collected.snapshot
    for entity, info in before.entities.items():
        assert pq.read_metadata(after.parquet(entity)).num_rows == info["rows"], entity


def test_an_emptied_export_is_a_failed_source(workspace, baseline):
    (workspace / "estate" / "rates.csv").write_bytes(b"")
    outcome = run(workspace)
    assert_nothing_resolved_and_rows_carried(
        workspace, baseline, outcome, "rates: no rows, where the previous snapshot had")
    assert "--accept-drop estate" in outcome.collected.failures["estate"]


def test_when_the_only_source_is_incomplete_the_run_fails_and_the_latest_snapshot_stays(
        workspace, baseline):
    (workspace / "hr" / "people.csv").write_bytes(b"")
    (workspace / "estate" / "lines.csv").write_bytes(b"")
    outcome = run(workspace)
    assert outcome.status == "failed"
    assert "no source could be collected" in outcome.error and "people: no rows" in outcome.error
    assert SnapshotStore(load_config(workspace / "dialtone.yaml").data_dir).ids() == [
        baseline["snapshot"]]
    assert open_findings(workspace) == baseline["open"]


def test_a_renamed_key_column_is_a_failed_source(workspace, baseline):
    path = workspace / "estate" / "devices.csv"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"id"', '"device_id"', 1), encoding="utf-8")
    outcome = run(workspace)
    assert_nothing_resolved_and_rows_carried(
        workspace, baseline, outcome, "devices.csv: the column(s) id of devices are missing")


def test_a_file_cut_short_mid_line_is_a_failed_source(workspace, baseline):
    path = workspace / "estate" / "calls.csv"
    os.truncate(path, int(path.stat().st_size * 0.6))
    outcome = run(workspace)
    assert_nothing_resolved_and_rows_carried(
        workspace, baseline, outcome, "calls.csv: the last line has no line break")


def test_a_file_cut_short_at_a_line_end_fails_the_row_count_band(workspace, baseline):
    path = workspace / "estate" / "usage.csv"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[: len(lines) // 2]))
    outcome = run(workspace)
    assert_nothing_resolved_and_rows_carried(workspace, baseline, outcome, "max_drop 20%")
    assert "usage: " in outcome.collected.failures["estate"]


@pytest.mark.parametrize("change", ["append", "replace", "truncate"])
def test_a_file_changed_while_it_is_read_is_a_failed_source(workspace, baseline, monkeypatch, change):
    original = CsvCollector._read_csv

    def read_and_change(self, data, path, entity):
        if path.name == "lines.csv":
            if change == "append":
                with path.open("ab") as fh:
                    fh.write(path.read_bytes().splitlines(keepends=True)[-1])
            elif change == "replace":
                copy = path.with_name(".lines.copy")
                shutil.copy(path, copy)
                os.replace(copy, path)
            else:
                os.truncate(path, path.stat().st_size // 2)
        return original(self, data, path, entity)

    monkeypatch.setattr(CsvCollector, "_read_csv", read_and_change)
    outcome = run(workspace)
    expected = {"append": "changed size while it was read", "replace": "was replaced while it was read",
                "truncate": "changed size while it was read"}[change]
    assert_nothing_resolved_and_rows_carried(workspace, baseline, outcome, expected)


def test_a_folder_moved_away_while_it_is_read_is_a_failed_source(workspace, baseline, monkeypatch):
    original = CsvCollector._read_csv

    def read_then_move(self, data, path, entity):
        table = original(self, data, path, entity)
        if path.name == "calls.csv":
            (workspace / "estate").rename(workspace / "estate.gone")
        return table

    monkeypatch.setattr(CsvCollector, "_read_csv", read_then_move)
    outcome = run(workspace)
    assert outcome.status == "degraded"
    assert_nothing_resolved_and_rows_carried(workspace, baseline, outcome, "estate")
    assert "disappeared while it was read" in outcome.collected.failures["estate"] or \
        "No such file" in outcome.collected.failures["estate"]


def test_a_real_drop_passes_once_accepted_and_vanished_resources_are_not_resolved(workspace, baseline):
    path = workspace / "estate" / "lines.csv"
    rows = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(rows[: len(rows) // 2]))
    refused = run(workspace)
    assert refused.status == "degraded" and "lines: " in refused.collected.failures["estate"]

    accepted = run(workspace, accept_drop=["estate"])
    assert accepted.status == "succeeded", accepted.error
    meta = accepted.collected.snapshot.manifest["sources"]["estate"]
    assert meta["status"] == "collected" and meta["accepted_drop"][0].startswith("lines: ")
    # Findings about lines that left the snapshot are not fixes: they stay open, noted once.
    gone = {(p, r) for p, r in baseline["open"]
            if p.startswith("cost.") and r.startswith("L-") and r not in _line_ids(path)}
    assert gone and gone <= open_findings(workspace)
    assert accepted.recorded.changes["not_rechecked"] >= len(gone)
    notes = _recheck_notes(workspace)
    assert all(notes[f].endswith("is no longer in the collected data") for f in gone)
    again = run(workspace)
    assert again.recorded.events == 0 or "not_rechecked" not in _event_kinds_of(workspace, again)


def test_a_column_the_export_delivered_before_and_lost_is_a_failed_source(workspace, baseline):
    """The carrier's export renames `cost_center` to "Cost Centre": the column is ignored (with a
    warning), and every active line read as having no cost centre - hundreds of false
    cost.orphan-lines findings. A column the source delivered in the previous snapshot and no
    longer does fails the source, like a renamed key column."""
    path = workspace / "estate" / "lines.csv"
    text = path.read_text(encoding="utf-8")
    header, rest = text.split("\n", 1)
    path.write_text(header.replace('"cost_center"', '"Cost Centre"').replace(
        "cost_center", "Cost Centre") + "\n" + rest, encoding="utf-8")
    assert_nothing_resolved_and_rows_carried(
        workspace, baseline, run(workspace),
        "lines: the column(s) cost_center it delivered before are missing")


def test_a_column_the_export_still_has_but_left_empty_is_a_failed_source(workspace, baseline):
    """The export keeps the `cost_center` header but writes no value in it (a report whose field
    was unmapped upstream): the same flood of orphan lines as a renamed column. A column that
    held values before and is empty on every row now fails the source."""
    changed = _rewrite(workspace / "estate" / "lines.csv",
                       lambda row: bool(row["cost_center"]) and row.update(cost_center="") is None)
    assert changed > 5
    assert_nothing_resolved_and_rows_carried(
        workspace, baseline, run(workspace),
        f"lines: the column cost_center is empty on every row, where the previous snapshot had "
        f"{changed:,} values")


def test_a_mapping_the_user_takes_out_of_the_settings_is_no_lost_column(tmp_path):
    """The columns check compares an export with itself: a column the user stops mapping
    (``columns:`` edited, so the source's settings changed) passes; the same export losing
    the column under unchanged settings fails as above."""
    from dialtone.engine.collect import collect

    (tmp_path / "lines.csv").write_text(
        "Service ID,Line Status,Type,Cost Centre\nS1,active,mobile,CC-1\nS2,active,mobile,CC-2\n",
        encoding="utf-8")
    mapping = "{'Service ID': id, 'Line Status': status, 'Type': kind, 'Cost Centre': cost_center}"
    config = tmp_path / "dialtone.yaml"
    config.write_text(f"sources:\n  carrier: {{collector: csv, path: ./lines.csv, entity: lines, "
                      f"columns: {mapping}}}\n", encoding="utf-8")
    first = collect(load_config(config))
    assert first.snapshot.manifest["sources"]["carrier"]["columns"] == {
        "lines": ["cost_center", "id", "kind", "status"]}
    config.write_text(config.read_text(encoding="utf-8").replace(", 'Cost Centre': cost_center", ""),
                      encoding="utf-8")
    second = collect(load_config(config))
    assert second.failures == {}
    assert second.snapshot.manifest["sources"]["carrier"]["columns"] == {"lines": ["id", "kind", "status"]}


def test_an_export_that_drops_a_column_leaves_the_findings_it_decided_open_not_fixed(workspace, baseline):
    """HR's export loses its termination-date column: the source fails (a column it delivered
    before is missing). Accepted as real, every row loads (the field is optional), the leaver
    policies cannot age the leavers (undecidable), and their findings stay open, noted once
    as not re-checked - no leaver line counted as a realised saving."""
    import csv

    path = workspace / "hr" / "people.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    header = [c for c in rows[0] if c != "terminated_on"]
    full = path.read_bytes()
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    leavers = {(p, r) for p, r in baseline["open"] if p == "cost.leaver-lines"}
    assert leavers
    refused = run(workspace)
    assert refused.status == "degraded"
    assert "people: the column(s) terminated_on it delivered before are missing" in \
        refused.collected.failures["hr"]
    assert open_findings(workspace) == baseline["open"]
    dropped = run(workspace, accept_drop=["hr"])
    assert dropped.status == "succeeded", dropped.error
    assert leavers <= open_findings(workspace)
    assert dropped.recorded.changes["not_rechecked"] >= len(leavers)
    notes = _recheck_notes(workspace)
    assert all("undecidable" in notes[f] for f in leavers)
    again = run(workspace)
    assert "not_rechecked" not in _event_kinds_of(workspace, again)
    # The column back: the same findings are seen again, not reopened as new.
    path.write_bytes(full)
    restored = run(workspace)
    assert leavers <= open_findings(workspace)
    assert restored.recorded.changes.get("reopened", 0) == 0
    assert not set(_recheck_notes(workspace)) & leavers


def _rewrite(path: Path, change) -> int:
    """Rewrite a CSV file's rows through ``change`` (a row dict -> True when it changed it);
    returns how many rows it changed."""
    import csv

    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header, rows = reader.fieldnames, list(reader)
    changed = sum(bool(change(row)) for row in rows)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, header)
        writer.writeheader()
        writer.writerows(rows)
    return changed


def _us_date(field: str):
    def change(row: dict) -> bool:
        if not row[field]:
            return False
        year, month, day = row[field].split("-")
        row[field] = f"{month}/{day}/{year}"
        return True
    return change


def test_rows_the_export_lists_but_cannot_be_read_keep_their_previous_rows_not_fixed(workspace, baseline):
    """HR's export writes the leavers' termination dates as 03/31/2026: those rows are rejected
    (a few per cent, inside the row-count band) and were dropped, so every leaver line's finding
    was resolved as fixed. The rows the export still lists keep their previous snapshot's
    version, marked in the manifest and a warning; nothing is resolved."""
    leavers = {(p, r) for p, r in baseline["open"] if p == "cost.leaver-lines"}
    assert leavers
    changed = _rewrite(workspace / "hr" / "people.csv", _us_date("terminated_on"))
    assert changed
    outcome = run(workspace)
    assert outcome.status == "succeeded", outcome.error
    assert outcome.collected.rejects == changed
    assert outcome.recorded.changes.get("resolved", 0) == 0
    assert open_findings(workspace) == baseline["open"]
    meta = outcome.collected.snapshot.manifest["sources"]["hr"]
    store = SnapshotStore(load_config(workspace / "dialtone.yaml").data_dir)
    read_at = store.get(baseline["snapshot"]).manifest["sources"]["hr"]["collected_at"]
    assert meta["kept_rows"] == {"people": {"rows": changed, "since": read_at}}
    assert any(f"{changed} people row(s)" in w and read_at in w for w in meta["warnings"])
    assert pq.read_metadata(outcome.collected.snapshot.parquet("people")).num_rows == \
        store.get(baseline["snapshot"]).entities["people"]["rows"]


def test_a_kept_row_takes_what_was_read_cleanly_now_and_only_the_unread_fields_from_before(
        workspace, baseline):
    """Review: an active person is now terminated, with a termination date in a format the source
    does not read. Kept whole from the previous snapshot, the row said "active" and the lines
    they hold looked clean; the row now says terminated (read cleanly) with the date as last
    read (none), so cost.leaver-lines cannot age it: undecidable, not clean."""
    import csv

    path = workspace / "hr" / "people.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    lines = pq.read_table(SnapshotStore(load_config(workspace / "dialtone.yaml").data_dir)
                          .get(baseline["snapshot"]).parquet("lines"), columns=["assigned_to", "status"])
    holders = {h for h, st in zip(lines.column("assigned_to").to_pylist(),
                                  lines.column("status").to_pylist(), strict=True) if st == "active"}
    person = next(r for r in rows if r["status"] == "active" and r["id"] in holders
                  and (r["kind"] or "person") == "person")

    def leave(row: dict) -> bool:
        if row["id"] != person["id"]:
            return False
        row.update(status="terminated", terminated_on="31/03/2025")
        return True
    assert _rewrite(path, leave) == 1
    outcome = run(workspace)
    assert outcome.status == "succeeded", outcome.error
    people = pq.read_table(outcome.collected.snapshot.parquet("people")).to_pylist()
    (kept,) = [p for p in people if p["id"] == person["id"]]
    assert (kept["status"], kept["terminated_on"], kept["name"]) == ("terminated", None, person["name"])
    leaver_run = next(o for o in outcome.evaluation.outcomes if o.policy_id == "cost.leaver-lines")
    their_lines = {i for i, h in zip(pq.read_table(outcome.collected.snapshot.parquet("lines"))
                                     .column("id").to_pylist(), pq.read_table(
        outcome.collected.snapshot.parquet("lines")).column("assigned_to").to_pylist(), strict=True)
        if h == person["id"]}
    assert their_lines & set(leaver_run.undecidable.to_pylist())


def test_kept_rows_older_than_the_source_s_max_age_are_left_out(workspace, baseline):
    """Kept rows do not stay forever: once the values they keep were last read longer ago than
    the source's max_age, they are left out of the snapshot and a warning says so."""
    import datetime as dt

    from dialtone.engine.collect import collect

    config_path = workspace / "dialtone.yaml"
    config_path.write_text(config_path.read_text(encoding="utf-8").replace(
        "hr: {collector: csv, path: ./hr}", "hr: {collector: csv, path: ./hr, max_age: 2d}"),
        encoding="utf-8")
    assert "max_age: 2d" in config_path.read_text(encoding="utf-8")
    changed = _rewrite(workspace / "hr" / "people.csv", _us_date("terminated_on"))
    store = SnapshotStore(load_config(config_path).data_dir)
    read_at = dt.datetime.strptime(store.get(baseline["snapshot"]).manifest["sources"]["hr"]
                                   ["collected_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    soon = collect(load_config(config_path), now=read_at + dt.timedelta(days=1))
    assert soon.snapshot.manifest["sources"]["hr"]["kept_rows"]["people"]["rows"] == changed
    late = collect(load_config(config_path), now=read_at + dt.timedelta(days=3))
    meta = late.snapshot.manifest["sources"]["hr"]
    assert "kept_rows" not in meta
    assert any("older than the source's max_age" in w for w in meta["warnings"])
    assert pq.read_metadata(late.snapshot.parquet("people")).num_rows == \
        store.get(baseline["snapshot"]).entities["people"]["rows"] - changed


def test_kept_rows_join_an_entity_carried_piece_by_piece(workspace, baseline, monkeypatch):
    """Review: with a source carried forward (here: only HR collected), an entity whose previous
    rows are many is written to a file piece by piece; the kept rows are added to that file
    (the collect crashed on it)."""
    from dialtone.engine import collect as collect_module

    monkeypatch.setattr(collect_module, "STREAM_ROWS", 10)
    changed = _rewrite(workspace / "hr" / "people.csv", _us_date("terminated_on"))
    result = collect_module.collect(load_config(workspace / "dialtone.yaml"), only=["hr"])
    assert result.snapshot.manifest["sources"]["hr"]["kept_rows"]["people"]["rows"] == changed
    store = SnapshotStore(load_config(workspace / "dialtone.yaml").data_dir)
    assert pq.read_metadata(result.snapshot.parquet("people")).num_rows == \
        store.get(baseline["snapshot"]).entities["people"]["rows"]


def test_a_sparse_column_emptied_because_its_rows_left_is_no_lost_column(workspace, baseline):
    """Review: the carrier stops listing its cancelled lines (fewer rows, within the band): the
    cancellation date column is then empty on every row, and that is true, not a broken export.
    Only a column filled on most rows before fails when it empties."""
    import csv

    path = workspace / "estate" / "lines.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header, rows = reader.fieldnames, list(reader)
    kept = [r for r in rows if not r["cancelled_on"]]
    assert 5 < len(rows) - len(kept) < 0.2 * len(rows)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, header)
        writer.writeheader()
        writer.writerows(kept)
    outcome = run(workspace)
    assert outcome.status == "succeeded", outcome.error


def test_an_entity_file_emptied_to_nothing_declares_no_lost_columns(tmp_path):
    """Review: a header-only file (no rows) later written as an empty file is not a source that
    lost its columns; there are no rows whose fields would read empty."""
    from dialtone.engine.collect import collect

    folder = tmp_path / "estate"
    write_canonical_csv({"lines": ESTATE.tables["lines"].slice(0, 20),
                         "legal_holds": ESTATE.tables["legal_holds"].slice(0, 0)}, folder)
    config = tmp_path / "dialtone.yaml"
    config.write_text("sources:\n  estate: {collector: csv, path: ./estate}\n", encoding="utf-8")
    assert "legal_holds" in collect(load_config(config)).snapshot.manifest["sources"]["estate"]["columns"]
    (folder / "legal_holds.csv").write_bytes(b"")
    assert collect(load_config(config)).failures == {}


def test_a_row_read_cleanly_again_replaces_the_kept_one_and_new_unreadable_rows_are_not_invented(
        workspace, baseline):
    """Kept rows are only those the previous snapshot had: a new person whose row cannot be
    read is a reject and nothing more; once the dates read again, nothing is kept."""
    import csv

    path = workspace / "hr" / "people.csv"
    full = path.read_bytes()
    with path.open("a", newline="", encoding="utf-8") as fh:
        header = next(csv.reader(full.decode().splitlines()))
        row = dict.fromkeys(header, "")
        row.update(id="P-NEW-1", name="New Starter", kind="person", status="active",
                   hired_on="not a date")
        csv.DictWriter(fh, header).writerow(row)
    outcome = run(workspace)
    assert outcome.status == "succeeded", outcome.error
    assert "kept_rows" not in outcome.collected.snapshot.manifest["sources"]["hr"]
    people = pq.read_table(outcome.collected.snapshot.parquet("people"), columns=["id"])
    assert "P-NEW-1" not in people.column("id").to_pylist()
    path.write_bytes(full)
    _rewrite(path, _us_date("terminated_on"))
    assert "kept_rows" in run(workspace).collected.snapshot.manifest["sources"]["hr"]
    path.write_bytes(full)
    clean = run(workspace)
    assert "kept_rows" not in clean.collected.snapshot.manifest["sources"]["hr"]
    assert open_findings(workspace) == baseline["open"]


def test_unreadable_rows_of_a_streamed_entity_keep_their_previous_rows(workspace, baseline, monkeypatch):
    """The same for an entity streamed from a large file (calls here, written to disk piece by
    piece): calls the export lists with an unreadable start time keep their previous rows."""
    from dialtone.collectors import csv_files

    monkeypatch.setattr(csv_files, "STREAM_ABOVE_BYTES", 0)
    run(workspace)    # the baseline again, this time with calls streamed
    counter = iter(range(1_000_000))
    changed = _rewrite(workspace / "estate" / "calls.csv",
                       lambda row: next(counter) % 7 == 0 and row.update(started_at="yesterday") is None)
    assert changed
    outcome = run(workspace)
    assert outcome.status == "succeeded", outcome.error
    assert outcome.collected.snapshot.manifest["sources"]["estate"]["kept_rows"]["calls"]["rows"] == changed
    assert outcome.recorded.changes.get("resolved", 0) == 0
    assert open_findings(workspace) == baseline["open"]
    store = SnapshotStore(load_config(workspace / "dialtone.yaml").data_dir)
    assert pq.read_metadata(outcome.collected.snapshot.parquet("calls")).num_rows == \
        store.get(baseline["snapshot"]).entities["calls"]["rows"]


def _line_ids(path: Path) -> set[str]:
    import csv

    with path.open(newline="", encoding="utf-8") as fh:
        return {row["id"] for row in csv.DictReader(fh)}


def _recheck_notes(workspace: Path) -> dict[tuple[str, str], str]:
    store = Store.from_config(load_config(workspace / "dialtone.yaml"))
    try:
        with store.read() as conn:
            return {(r.policy_id, r.resource_id): r.recheck_note for r in conn.execute(
                select(findings.c.policy_id, findings.c.resource_id, findings.c.recheck_note)
                .where(findings.c.recheck_note.is_not(None)))}
    finally:
        store.close()


def _event_kinds_of(workspace: Path, outcome) -> set[str]:
    store = Store.from_config(load_config(workspace / "dialtone.yaml"))
    try:
        with store.read() as conn:
            return {r.kind for r in conn.execute(
                select(events.c.kind).where(events.c.evaluation_id == outcome.evaluation_id))}
    finally:
        store.close()


# -- two sources: a fresh one cannot resolve what a stale one fed -----------------------------
def test_a_finding_fed_by_a_stale_source_is_not_resolved_until_it_is_re_checked(tmp_path):
    write_csv(tmp_path / "hr", "people", ["id", "name", "status", "terminated_on"], [
        ["P1", "Ada", "active", ""], ["P2", "Bob", "terminated", "2026-01-01"]])
    write_csv(tmp_path / "carrier", "lines", ["id", "kind", "status", "assigned_to", "monthly_cost"], [
        ["L1", "mobile", "active", "P1", "40"], ["L2", "mobile", "active", "P2", "40"]])
    (tmp_path / "dialtone.yaml").write_text(textwrap.dedent("""\
        sources:
          hr: {collector: csv, path: ./hr}
          carrier: {collector: csv, path: ./carrier}
        """), encoding="utf-8")
    config = load_config(tmp_path / "dialtone.yaml")
    leaver = "cost.leaver-lines"
    assert run_once(config, as_of=ESTATE.as_of).status == "succeeded"
    assert (leaver, "L2") in open_findings(tmp_path)

    # Bob is back (fresh HR data) while the carrier export is emptied (stale lines).
    write_csv(tmp_path / "hr", "people", ["id", "name", "status", "terminated_on"], [
        ["P1", "Ada", "active", ""], ["P2", "Bob", "active", ""]])
    (tmp_path / "carrier" / "lines.csv").write_bytes(b"")
    held = run_once(config, as_of=ESTATE.as_of)
    assert held.status == "degraded"
    assert (leaver, "L2") in open_findings(tmp_path)
    outcome = next(o for o in held.evaluation.outcomes if o.policy_id == leaver)
    assert outcome.incomplete_inputs and "source 'carrier' failed" in outcome.incomplete_inputs[0]
    note = _recheck_notes(tmp_path)[(leaver, "L2")]
    assert note.startswith("not re-checked: lines: source 'carrier' failed")

    write_csv(tmp_path / "carrier", "lines", ["id", "kind", "status", "assigned_to", "monthly_cost"], [
        ["L1", "mobile", "active", "P1", "40"], ["L2", "mobile", "active", "P2", "40"]])
    rechecked = run_once(config, as_of=ESTATE.as_of)
    assert rechecked.status == "succeeded"
    assert rechecked.recorded.changes["resolved"] >= 1
    assert (leaver, "L2") not in open_findings(tmp_path)
    assert (leaver, "L2") not in _recheck_notes(tmp_path)


# -- the band itself ---------------------------------------------------------------------------
def test_the_band_fails_emptied_shrunk_and_too_small_entities_and_tolerates_churn():
    rules = Completeness.from_setting(
        {"max_drop": "20%", "entities": {"calls": {"max_drop": "60%"}, "lines": {"min_rows": 10}}},
        "sources.s.completeness")
    before = {"people": 100, "calls": 1000, "lines": 12, "contracts": 3}
    assert check_counts({"people": 81, "calls": 401, "lines": 10, "contracts": 3}, before, rules) == []
    problems = check_counts({"people": 79, "calls": 399, "lines": 9, "contracts": 0}, before, rules)
    assert problems == [
        "calls: 399 rows, 601 fewer than the previous snapshot's 1,000 (60% drop; max_drop 60%)",
        "contracts: no rows, where the previous snapshot had 3",
        "lines: 9 rows, fewer than min_rows 10",
        "people: 79 rows, 21 fewer than the previous snapshot's 100 (21% drop; max_drop 20%)",
    ]
    # A drop of five rows or fewer is churn, whatever its share; a first collect has no band.
    assert check_counts({"people": 5}, {"people": 10}, Completeness()) == []
    assert check_counts({"people": 4}, {"people": 10}, Completeness()) != []
    assert check_counts({"people": 1}, None, Completeness()) == []


def test_completeness_settings_are_checked_when_the_configuration_is_read(tmp_path):
    (tmp_path / "dialtone.yaml").write_text(textwrap.dedent("""\
        sources:
          estate:
            collector: csv
            path: ./estate
            completeness: {entities: {line: {max_drop: 10%}}}
        """), encoding="utf-8")
    with pytest.raises(ConfigError, match="no entity 'line'. Did you mean 'lines'"):
        load_config(tmp_path / "dialtone.yaml")
    (tmp_path / "dialtone.yaml").write_text(textwrap.dedent("""\
        sources:
          estate: {collector: csv, path: ./estate, completeness: {max_drop: ten}}
        """), encoding="utf-8")
    with pytest.raises(ConfigError, match="max_drop"):
        load_config(tmp_path / "dialtone.yaml")


# -- the process: disk full, kill -9 ----------------------------------------------------------
def _cli(workspace: Path, *args: str, preexec=None, script: str | None = None):
    env = {**os.environ, "DIALTONE_CONFIG": str(workspace / "dialtone.yaml"), "NO_COLOR": "1"}
    command = ([sys.executable, "-c", script] if script
               else [sys.executable, "-m", "dialtone.web.cli", *args])
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300,
                          preexec_fn=preexec, cwd=workspace)


def test_a_full_disk_ends_the_run_with_a_clear_message_and_exit_2(workspace, baseline):
    before = SnapshotStore(load_config(workspace / "dialtone.yaml").data_dir).ids()

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # EFBIG instead of a kill, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    done = _cli(workspace, "run", preexec=small_files)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    # Whichever file hit the limit first (the store, or the snapshot), the message says so.
    assert "disk I/O error" in done.stderr or "File too large" in done.stderr, done.stderr
    # A snapshot is there whole or not at all; no finding changed.
    snapshots = SnapshotStore(load_config(workspace / "dialtone.yaml").data_dir)
    assert all(not snapshots.get(i).verify() for i in snapshots.ids() if i not in before)
    assert open_findings(workspace) == baseline["open"]


def test_a_full_disk_while_the_snapshot_is_written_fails_the_run_and_changes_nothing(
        workspace, baseline, monkeypatch):
    import errno

    import dialtone.engine.snapshots as snapshots

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    before = SnapshotStore(load_config(workspace / "dialtone.yaml").data_dir).ids()
    monkeypatch.setattr(snapshots.pq, "write_table", full)
    outcome = run(workspace)
    assert outcome.status == "failed"
    assert outcome.error.startswith("cannot write the snapshot in ") and outcome.error.endswith(
        "No space left on device; nothing was written and the latest snapshot is unchanged")
    snapshots_now = SnapshotStore(load_config(workspace / "dialtone.yaml").data_dir)
    assert snapshots_now.ids() == before
    assert not [p for p in snapshots_now.root.iterdir() if p.name.startswith(".")]
    assert open_findings(workspace) == baseline["open"]


def test_a_collect_killed_with_sigkill_leaves_nothing_that_a_later_run_keeps(workspace, baseline):
    config = load_config(workspace / "dialtone.yaml")
    killer = textwrap.dedent("""\
        import os, signal
        import dialtone.engine.collect as collect
        from dialtone.web.cli import main
        def die(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)
        collect.validate_batch = die
        import sys
        sys.argv = ["dialtone", "run"]
        main()
        """)
    done = _cli(workspace, script=killer)
    assert done.returncode == -signal.SIGKILL
    snapshots = SnapshotStore(config.data_dir)
    left = [p.name for p in snapshots.root.iterdir() if p.name.startswith(".work-")]
    assert left, "the killed collect left its working folder"
    assert snapshots.ids() == [baseline["snapshot"]]

    after = run(workspace)
    assert after.status == "succeeded", after.error
    assert not [p for p in snapshots.root.iterdir() if p.name.startswith(".")]
    killed = get_run(Store.from_config(config), 2)
    assert killed["status"] == "failed" and "nothing it half-did was kept" in killed["error"]
    assert after.recorded.changes.get("resolved", 0) == 0
    assert open_findings(workspace) == baseline["open"]
    store = Store.from_config(config)
    try:
        with store.read() as conn:
            evaluated = {r.evaluation_id for r in conn.execute(select(events.c.evaluation_id))}
            assert conn.execute(select(func.count()).select_from(findings)).scalar() >= len(
                baseline["open"])
    finally:
        store.close()
    assert evaluated <= {1, after.evaluation_id, None}


def test_the_data_directory_a_collect_creates_is_private(tmp_path):
    """Snapshots and collector state hold the estate's personal data: 0700 whatever the umask."""
    import stat

    write_csv(tmp_path / "estate", "lines", ["id", "kind", "status"], [["L1", "mobile", "active"]])
    (tmp_path / "dialtone.yaml").write_text(
        "sources:\n  e: {collector: csv, path: ./estate}\n", encoding="utf-8")
    old = os.umask(0o022)
    try:
        from dialtone.engine.collect import collect

        snap = collect(load_config(tmp_path / "dialtone.yaml")).snapshot
    finally:
        os.umask(old)
    for folder in (tmp_path / ".dialtone", snap.path.parent, snap.path):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
