"""One evaluate-and-record path: `evaluate`, `run`, `evidence replay` and `policy diff` evaluate
the same way from the configuration, and agree on the same estate."""

from __future__ import annotations

import sqlite3

import pytest

from dialtone.engine import configured
from dialtone.engine.config import load_config
from dialtone.engine.evaluation import evaluate as real_evaluate

from .test_replay import git, repo  # noqa: F401  (the fixture: a policy repository in git)

SPARK = """\
engine: spark
spark:
  master: local[1]
  conf: {spark.sql.shuffle.partitions: 2}
evaluation:
  timeout_seconds: 77
params:
  org.idle: {idle_days: 30}
  org.no-such-policy: {idle_days: 1}
"""


@pytest.fixture
def calls(monkeypatch):
    """Every evaluation the entry points start, with what they passed; run on DuckDB so no
    Spark session is started (the results do not depend on the engine: tests/test_spark_*)."""
    seen: list[dict] = []

    def spy(snapshot, loaded, **kwargs):
        seen.append(kwargs)
        result = real_evaluate(snapshot, loaded, **{**kwargs, "engine": "duckdb",
                                                    "engine_settings": None})
        result.engine = kwargs["engine"]  # recorded as asked, so a replay asks for it again
        return result

    monkeypatch.setattr(configured, "evaluate", spy)
    return seen


def _cli(runner, cli, *args, code=0):
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def test_every_entry_point_evaluates_with_the_configured_engine_settings_limits_and_params(
        repo, runner, cli, calls):  # noqa: F811
    config_file = repo / "dialtone.yaml"
    config_file.write_text(config_file.read_text() + SPARK)
    config = load_config(config_file)
    evaluated = _cli(runner, cli, "evaluate", "--format", "json")
    assert "params.org.no-such-policy: no such policy" in evaluated.stderr
    ran = _cli(runner, cli, "run")
    assert "params.org.no-such-policy: no such policy" in ran.output
    _cli(runner, cli, "evidence", "replay", "1")
    policy = repo / "policies" / "idle.yaml"
    policy.write_text(policy.read_text().replace("default: 90", "default: 1"))
    _cli(runner, cli, "policy", "diff")
    entry_points = ["evaluate", "run", "replay", "diff (base)", "diff (work tree)"]
    assert len(calls) == len(entry_points)
    for name, call in zip(entry_points, calls, strict=True):
        assert call["engine"] == "spark", name
        assert call["engine_settings"] == config.spark, name
        assert call["limits"] == config.limits and call["limits"].timeout_seconds == 77, name
        assert call["overrides"]["org.idle"] == {"idle_days": 30}, name
    trusted = {name: call["compile_cache"] for name, call in zip(entry_points, calls, strict=True)}
    assert trusted["evaluate"] == trusted["run"] == config.compile_cache_dir
    assert trusted["replay"] is None  # a replay compiles from the policy text


def test_run_evaluate_and_replay_agree_on_the_same_snapshot(repo, runner, cli):  # noqa: F811
    _cli(runner, cli, "run")                                   # evaluation 1, a new snapshot
    _cli(runner, cli, "evaluate", "--format", "json")          # evaluation 2, the same snapshot
    for evaluation in ("1", "2"):
        assert "results identical" in _cli(runner, cli, "evidence", "replay", evaluation).output
    db = sqlite3.connect(repo / ".dialtone" / "dialtone.db")
    snapshots = [s for (s,) in db.execute("SELECT snapshot_id FROM evaluations ORDER BY id")]
    runs = [db.execute("SELECT policy_id, status, finding_count, result_sha256, sql, params "
                       "FROM policy_runs WHERE evaluation_id = ? ORDER BY policy_id", (ev,)).fetchall()
            for ev in (1, 2)]
    db.close()
    assert snapshots[0] == snapshots[1]
    assert runs[0] == runs[1] and runs[0][0][2] > 0
