"""The Spark backend: views like DuckDB's, results like DuckDB's, and the sandbox."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dialtone.engine.backends import PolicyRunError, backends
from dialtone.engine.collect import collect
from dialtone.engine.config import EvaluationLimits, load_config
from dialtone.engine.errors import ConfigError, DialtoneError
from dialtone.engine.estate.model import load_model
from dialtone.engine.evaluation import evaluate
from dialtone.engine.policy.loader import LoadedPolicies, parse_policy
from dialtone.engine.snapshots import SnapshotStore

from .conftest import AS_OF, policy_text
from .sparkkit import SETTINGS, require_spark
from .test_evaluation import IDLE, loaded

require_spark()

from dialtone.engine.backends.spark import SparkBackend, check_settings  # noqa: E402


@pytest.fixture
def snapshot(config):
    return collect(config, as_of=AS_OF).snapshot


@pytest.fixture
def session(snapshot):
    s = SparkBackend(EvaluationLimits(), SETTINGS).open(snapshot)
    yield s
    s.close()


def both(snapshot, policies, **kw):
    duck = evaluate(snapshot, policies, engine="duckdb", **kw)
    spark = evaluate(snapshot, policies, engine="spark", engine_settings=SETTINGS, **kw)
    return duck, spark


def test_spark_is_registered_as_a_backend():
    assert "spark" in backends.names()
    assert backends.get("spark") is SparkBackend


def test_findings_reasons_evidence_savings_and_arrow_types_match_duckdb(snapshot):
    duck, spark = both(snapshot, loaded(IDLE))
    assert spark.engine == "spark"
    assert json.loads(spark.to_json())["results"] == json.loads(duck.to_json())["results"]
    (d,), (s,) = duck.outcomes, spark.outcomes
    assert [f["resource_id"] for f in s.findings] == ["L1", "L3"]
    assert s.findings[0]["reason"] == "idle for 166 days" and s.findings[0]["savings"] == 480.0
    assert s.rows.schema == d.rows.schema
    assert s.evaluated == d.evaluated == 3


def test_an_old_snapshot_reads_null_for_fields_it_lacks(tmp_path):
    snap = SnapshotStore(tmp_path).write(
        {"lines": pa.table({"id": ["L1"], "kind": ["mobile"], "status": ["active"]})},
        as_of=AS_OF, sources={})
    assert pq.read_schema(snap.parquet("lines")).names == ["id", "kind", "status"]
    text = policy_text("monthly_cost IS NULL AND srtp_enabled IS NULL",
                       extra="evidence: [features, status_since, owner.name]\n")
    duck, spark = both(snap, loaded(text))
    assert [f["resource_id"] for f in spark.outcomes[0].findings] == ["L1"]
    assert spark.outcomes[0].rows.schema == duck.outcomes[0].rows.schema
    assert spark.as_dict()["results"] == duck.as_dict()["results"]


def test_views_have_the_duckdb_views_columns_and_types(session):
    model = load_model()
    for name, entity in model.entities.items():
        df = session.spark.table(name)
        assert df.columns == [f.name for f in entity.fields], name
    # An entity no source provides is an empty, typed view.
    assert session.spark.table("recordings").count() == 0
    types = dict(session.spark.table("lines").dtypes)
    assert (types["features"], types["status_since"], types["monthly_cost"]) == (
        "array<string>", types["status_since"], "double")


def test_an_entity_only_evidence_needs_reads_as_empty_and_a_condition_entity_skips(tmp_path):
    lines = pa.table({"id": ["L1"], "kind": ["mobile"], "status": ["active"], "assigned_to": ["P1"]})
    snap = SnapshotStore(tmp_path).write({"lines": lines}, as_of=AS_OF, sources={})
    texts = (policy_text("status = 'active'", extra="evidence: [owner.name]\n"),
             policy_text("owner.status = 'terminated'"))
    duck, spark = both(snap, loaded(*texts))
    assert spark.as_dict()["results"] == duck.as_dict()["results"]
    assert [o.status for o in spark.outcomes] == ["alarm", "skip"]


def test_a_query_policy_and_its_parameters_run_the_same(snapshot):
    text = """\
id: test.query
title: People holding more than one line
category: cost
severity: low
resource: people
query: |
  SELECT p.id AS resource_id, count(*) AS lines_held
  FROM people p JOIN lines l ON l.assigned_to = p.id
  GROUP BY p.id HAVING count(*) >= :min_lines
params: {min_lines: {default: 1}}
evidence: [lines_held]
reason: "holds {lines_held} line(s)"
"""
    policies = LoadedPolicies((parse_policy(text, "q.yaml"),), (), "v")
    duck, spark = both(snapshot, policies, overrides={"test.query": {"min_lines": 1}})
    assert spark.as_dict()["results"] == duck.as_dict()["results"]
    assert spark.outcomes[0].finding_count == 2


def test_results_can_come_back_through_parquet_files(snapshot, tmp_path):
    settings = {**SETTINGS, "results_uri": str(tmp_path / "results")}
    duck = evaluate(snapshot, loaded(IDLE))
    spark = evaluate(snapshot, loaded(IDLE), engine="spark", engine_settings=settings)
    assert spark.as_dict()["results"] == duck.as_dict()["results"]
    assert spark.outcomes[0].rows.schema == duck.outcomes[0].rows.schema
    assert list((tmp_path / "results").iterdir()) == []  # read back, then removed


def test_a_policy_over_the_time_limit_is_stopped_and_the_others_run(tmp_path):
    n = 20_000
    lines = pa.table({"id": [f"L{i}" for i in range(n)], "kind": ["mobile"] * n,
                      "status": ["active"] * n, "plan": [f"plan-{i}" * 8 for i in range(n)]})
    snap = SnapshotStore(tmp_path).write({"lines": lines}, as_of=AS_OF, sources={})
    slow = policy_text("(SELECT count(*) FROM lines a JOIN lines b ON a.kind = b.kind "
                       "WHERE a.plan < b.plan) > 0")
    result = evaluate(snap, loaded(slow, policy_text("kind = 'fax'")), engine="spark",
                      engine_settings=SETTINGS, limits=EvaluationLimits(timeout_seconds=2))
    assert [o.status for o in result.outcomes] == ["error", "ok"]
    assert "time limit of 2 s" in result.outcomes[0].error


# -- the sandbox --------------------------------------------------------------------------------
HOSTILE_SQL = [
    # direct file queries
    "SELECT * FROM parquet.`/etc/passwd`",
    "SELECT * FROM text.`/etc/hostname`",
    "SELECT * FROM csv.`/etc/passwd`",
    "SELECT * FROM binaryFile.`/etc`",
    # functions that reach the JVM, the files or the clock
    "SELECT reflect('java.lang.System', 'getProperty', 'user.home')",
    "SELECT java_method('java.lang.System', 'getenv', 'HOME')",
    "SELECT input_file_name() FROM lines",
    "SELECT current_date()",
    "SELECT rand()",
    "SELECT * FROM range(3)",
    "SELECT explode(array(1, 2))",
    # text functions beside the allowed replace / locate (strpos) that the compiler never emits:
    # pattern extraction (a backtracking regex), and the other names of locate
    "SELECT regexp_extract('aaaa', '(a|a)*b', 0)",
    "SELECT regexp_extract_all('aaaa', 'a', 0)",
    "SELECT translate('abc', 'a', 'b')",
    "SELECT split('a,b', ',')",
    "SELECT split_part('a,b', ',', 1)",
    "SELECT instr('abc', 'b')",
    "SELECT position('b', 'abc')",
    # DDL, DML, commands, settings
    "CREATE TABLE escape USING parquet LOCATION '/etc'",
    "CREATE TEMPORARY VIEW escape USING text OPTIONS (path '/etc/passwd')",
    "CREATE TEMPORARY FUNCTION escape AS 'java.lang.String'",
    "INSERT OVERWRITE DIRECTORY '/tmp/dialtone-escape' USING csv SELECT 1",
    "ADD JAR /tmp/dialtone-escape.jar",
    "SET spark.sql.runSQLOnFiles=true",
    "RESET",
    "DROP VIEW lines",
    "CACHE TABLE lines",
    "SELECT 1; SELECT 2",
    # tables that are not the snapshot's views
    "SELECT * FROM global_temp.anything",
    "SELECT * FROM spark_catalog.default.lines",
]


@pytest.mark.parametrize("sql", HOSTILE_SQL)
def test_the_backend_refuses_files_functions_and_commands_even_when_handed_sql_directly(session, sql):
    with pytest.raises(PolicyRunError):
        session._execute(sql)
    # The snapshot itself is still there and readable; nothing was changed.
    assert session._execute("SELECT count(*) FROM lines")[0][0] == 3
    assert session.spark.conf.get("spark.sql.runSQLOnFiles") == "false"


def test_a_file_beside_the_parquet_files_is_not_readable(session, snapshot):
    (snapshot.path / "other.csv").write_text("a\n1\n")
    for fmt in ("csv", "text", "parquet"):
        with pytest.raises(PolicyRunError):
            session._execute(f"SELECT * FROM {fmt}.`{snapshot.path / 'other.csv'}`")
    with pytest.raises(PolicyRunError):
        session._execute(f"SELECT * FROM parquet.`{snapshot.parquet('lines')}`")


def test_the_catalog_holds_only_the_snapshots_views_and_the_session_is_locked_down(session):
    tables = session.spark.catalog.listTables()
    assert sorted(t.name for t in tables) == sorted(load_model().entities)
    assert all(t.isTemporary for t in tables)
    assert [d.name for d in session.spark.catalog.listDatabases()] == ["default"]
    conf = session.spark.conf
    assert conf.get("spark.sql.catalogImplementation") == "in-memory"
    assert conf.get("spark.sql.ansi.enabled") == "true"
    assert conf.get("spark.sql.session.timeZone") == "UTC"
    functions = {f.name for f in session.spark.catalog.listFunctions()}
    assert {"reflect", "java_method", "input_file_name", "current_date", "rand"}.isdisjoint(functions)


@pytest.mark.parametrize("key", ["spark.sql.legacy.sizeOfNull", "spark.sql.runSQLOnFiles",
                                 "spark.sql.catalogImplementation", "spark.sql.ansi.enabled",
                                 "spark.sql.extensions", "spark.sql.catalog.evil"])
def test_the_config_cannot_loosen_the_sandbox(key):
    with pytest.raises(DialtoneError, match="sets this itself"):
        check_settings({"conf": {key: "x"}})


def test_engine_spark_and_the_spark_section_in_the_config(workspace):
    (workspace / "dialtone.yaml").write_text(
        (workspace / "dialtone.yaml").read_text() + "engine: spark\nspark:\n  master: local[2]\n"
        "  conf: {spark.driver.memory: 2g}\n  snapshot_uri: s3a://bucket/dialtone/snapshots\n")
    config = load_config(workspace / "dialtone.yaml")
    assert config.engine == "spark"
    assert config.spark["master"] == "local[2]" and config.spark["conf"] == {"spark.driver.memory": "2g"}
    snap = collect(config, as_of=AS_OF).snapshot
    backend = SparkBackend(EvaluationLimits(), config.spark)
    assert backend.location(snap, "lines") == \
        f"s3a://bucket/dialtone/snapshots/{snap.id}/{snap.entities['lines']['file']}"
    (workspace / "dialtone.yaml").write_text("engine: spark\nspark: {conf: {sql.ansi.enabled: false}}\n")
    with pytest.raises(ConfigError, match="spark.conf"):
        load_config(workspace / "dialtone.yaml")


def test_cli_evaluate_engine_spark_gives_the_duckdb_json(workspace, runner, cli):
    cfg = str(workspace / "dialtone.yaml")
    (workspace / "dialtone.yaml").write_text(
        (workspace / "dialtone.yaml").read_text()
        + "spark:\n  master: local[2]\n  conf: {spark.driver.memory: 2g}\n")
    assert runner.invoke(cli, ["--config", cfg, "collect", "--as-of", AS_OF.isoformat()]).exit_code == 0
    outs = {}
    for engine in ("duckdb", "spark"):
        result = runner.invoke(cli, ["--config", cfg, "evaluate", "--dry-run", "--format", "json",
                                     "--engine", engine, "--policy", "cost.zero-usage-lines"])
        assert result.exit_code == 0, result.output
        outs[engine] = json.loads(result.stdout)
    assert outs["spark"].pop("engine") == "spark" and outs["duckdb"].pop("engine") == "duckdb"
    assert outs["spark"] == outs["duckdb"]
