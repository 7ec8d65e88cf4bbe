"""Provenance in git: evaluating the policies at a revision, replaying a recorded evaluation,
a policy's history, and the blob id recorded per policy run."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import MINIMAL_CONFIG, policy_text

IDLE = """\
status = 'active' AND days_since((SELECT max(u.last_activity_on) FROM usage u WHERE u.line_id = id))
  > :idle_days
"""
PARAMS = "params:\n  idle_days:\n    default: {days}\n"


def git(repo, *args) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=Policy Author",
                           "-c", "user.email=author@example.com", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(workspace, runner, cli, monkeypatch):
    """A policy repository in git: config, one policy (idle > 90 days), an estate, collected."""
    monkeypatch.chdir(workspace)
    (workspace / "dialtone.yaml").write_text(MINIMAL_CONFIG + "policies: [./policies]\n")
    (workspace / "policies").mkdir()
    policy = workspace / "policies" / "idle.yaml"
    policy.write_text(policy_text(IDLE, extra=PARAMS.format(days=90)).replace("test.policy", "org.idle"))
    (workspace / ".gitignore").write_text(".dialtone/\n")
    git(workspace, "init", "-q")
    git(workspace, "add", ".")
    git(workspace, "commit", "-qm", "Idle lines after 90 days")
    result = runner.invoke(cli, ["collect", "--as-of", "2026-06-30"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return workspace


def _found(runner, cli, *args) -> list[str]:
    result = runner.invoke(cli, ["evaluate", "--format", "json", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (outcome,) = json.loads(result.stdout)["results"]
    return [f["resource_id"] for f in outcome["findings"]]


def test_policies_at_a_revision_are_read_from_git_without_touching_the_work_tree(repo, runner, cli):
    policy = repo / "policies" / "idle.yaml"
    before = policy.read_text()
    tightened = before.replace("default: 90", "default: 1")
    policy.write_text(tightened)
    git(repo, "commit", "-qam", "Idle lines after 1 day")
    assert _found(runner, cli) == ["L1", "L2"]                       # the working tree: 1 day
    assert _found(runner, cli, "--policies-at", "HEAD~1") == ["L1"]   # as it was: 90 days
    assert policy.read_text() == tightened and not git(repo, "status", "--porcelain")
    bad = runner.invoke(cli, ["evaluate", "--policies-at", "no-such-rev"])
    assert bad.exit_code == 2 and "git rev-parse" in bad.output and "Traceback" not in bad.output


def test_a_recorded_evaluation_replays_identically_and_a_changed_snapshot_is_caught(repo, runner, cli):
    _found(runner, cli)
    (repo / "policies" / "idle.yaml").write_text("broken: [\n")   # the work tree no longer matters
    result = runner.invoke(cli, ["evidence", "replay", "1"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "1 policies replayed, results identical" in result.output
    (snapshot,) = (repo / ".dialtone" / "snapshots").iterdir()
    (snapshot / "lines.parquet").write_bytes(b"PAR1 tampered")
    tampered = runner.invoke(cli, ["evidence", "replay", "1"])
    assert tampered.exit_code == 2 and "was modified: lines.parquet" in tampered.output


def test_replay_compiles_from_the_policy_text_never_from_the_compiled_policy_cache(repo, runner, cli):
    _found(runner, cli)
    entries = list((repo / ".dialtone" / "cache" / "compiled").glob("*.json"))
    assert entries
    for entry in entries:  # a cache edited to find nothing: replay must not rest on it
        data = json.loads(entry.read_text())
        data["compiled"]["sql"]["duckdb"] = f"SELECT * FROM ({data['compiled']['sql']['duckdb']}) WHERE false"
        entry.write_text(json.dumps(data))
    from dialtone.engine.compiler import cache

    cache._folders.clear()  # replay runs in a later process: nothing of the folder in memory
    result = runner.invoke(cli, ["evidence", "replay", "1"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "1 policies replayed, results identical" in result.output


def test_replay_reports_different_results(repo, runner, cli):
    _found(runner, cli)
    import sqlite3

    db = sqlite3.connect(repo / ".dialtone" / "dialtone.db")
    with db:
        db.execute("UPDATE policy_runs SET result_sha256 = 'x' WHERE evaluation_id = 1")
    db.close()
    result = runner.invoke(cli, ["evidence", "replay", "1"])
    assert result.exit_code == 1 and "org.idle: same count, different findings or evidence" in result.output


def test_the_evaluation_records_the_commit_and_each_policy_files_blob(repo, runner, cli):
    _found(runner, cli)
    import sqlite3

    db = sqlite3.connect(repo / ".dialtone" / "dialtone.db")
    version, source, dirty = db.execute(
        "SELECT policies_version, policies_source, policies_dirty FROM evaluations").fetchone()
    (blob,) = db.execute("SELECT policy_blob FROM policy_runs WHERE policy_id = 'org.idle'").fetchone()
    db.close()
    assert (version, source, dirty) == (git(repo, "rev-parse", "HEAD"), "git", 0)
    assert blob == git(repo, "hash-object", "policies/idle.yaml")
    shown = runner.invoke(cli, ["findings", "show", "1"], catch_exceptions=False)
    assert f"git blob {blob[:12]}" in shown.output and f"commit {version[:12]}" in shown.output


def test_policy_history_lists_the_commits_that_changed_it(repo, runner, cli):
    policy = repo / "policies" / "idle.yaml"
    policy.write_text(policy.read_text().replace("default: 90", "default: 60"))
    git(repo, "commit", "-qam", "Idle lines after 60 days")
    result = runner.invoke(cli, ["policy", "history", "org.idle"], catch_exceptions=False)
    lines = result.output.splitlines()
    assert len(lines) == 2 and "Policy Author" in lines[0]
    assert lines[0].endswith("Idle lines after 60 days") and lines[1].endswith("Idle lines after 90 days")


def test_policy_diff_lists_the_findings_a_tightened_threshold_opens_and_nothing_else(repo, runner, cli):
    other = repo / "policies" / "suspended.yaml"
    other.write_text(policy_text("status = 'active'").replace("test.policy", "org.active"))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "Second policy")
    policy = repo / "policies" / "idle.yaml"
    policy.write_text(policy.read_text().replace("default: 90", "default: 1"))   # uncommitted
    result = runner.invoke(cli, ["policy", "diff"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "1 new, 0 closed" in lines[0]
    assert "org.idle (modified, medium): +1 new, -0 closed" in result.output
    (changed,) = [ln.strip() for ln in lines if ln.strip().startswith(("+ ", "- "))]
    assert changed.startswith("+ L2: ")
    assert "org.active" not in result.output and "L1" not in result.output
    md = runner.invoke(cli, ["policy", "diff", "--format", "markdown", "--fail-on-new", "medium"])
    assert md.exit_code == 1
    assert "| `org.idle` | modified | medium | 1 | 0 |" in md.output
    assert runner.invoke(cli, ["policy", "diff", "--fail-on-new", "high"]).exit_code == 0


def test_policy_diff_refuses_invalid_policies_with_their_positions(repo, runner, cli):
    (repo / "policies" / "idle.yaml").write_text("id: org.idle\ntitle: [\n")
    result = runner.invoke(cli, ["policy", "diff"])
    assert result.exit_code == 2 and "fix the invalid policies first" in result.output
    assert "idle.yaml:" in result.output
