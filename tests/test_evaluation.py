"""Evaluation: statuses, isolation of failures, parameters, determinism, the sandbox."""

from __future__ import annotations

import datetime as dt
import functools
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dialtone.engine.backends import PolicyRunError, backends
from dialtone.engine.backends.duckdb import DuckDBBackend
from dialtone.engine.collect import collect
from dialtone.engine.config import EvaluationLimits
from dialtone.engine.errors import DialtoneError
from dialtone.engine.evaluation import evaluate
from dialtone.engine.policy.loader import LoadedPolicies, parse_policy
from dialtone.engine.snapshots import SnapshotStore

from .conftest import AS_OF, policy_text


def loaded(*texts: str) -> LoadedPolicies:
    policies = []
    for i, text in enumerate(texts):
        policies.append(parse_policy(text.replace("id: test.policy", f"id: test.p{i}"), f"p{i}.yaml"))
    return LoadedPolicies(tuple(policies), (), "test")


IDLE = policy_text(
    "status = 'active' AND days_since(coalesce((SELECT max(u.last_activity_on) FROM usage u "
    "WHERE u.line_id = lines.id), activated_on)) >= :idle_days",
    extra="""\
    params: {idle_days: {default: 90}}
    evidence: [number, owner.name]
    reason: "idle for {days_since((SELECT max(u.last_activity_on) FROM usage u
      WHERE u.line_id = lines.id))} days"
    savings: monthly_cost * 12
    """)


@pytest.fixture
def snapshot(config):
    return collect(config, as_of=AS_OF).snapshot


@pytest.fixture(params=backends.names())
def on(request):
    """``evaluate`` on each registered backend: the contract every backend keeps (Spark with the
    tests' shared local session settings; a backend without Spark or Java skips, CI fails)."""
    settings = None
    if request.param == "spark":
        from .sparkkit import SETTINGS, require_spark

        require_spark()
        settings = SETTINGS
    return functools.partial(evaluate, engine=request.param, engine_settings=settings)


def test_a_violating_resource_is_found_with_evidence_reason_and_savings(snapshot, on):
    result = on(snapshot, loaded(IDLE))
    (outcome,) = result.outcomes
    assert outcome.status == "alarm"
    assert outcome.evaluated == 3
    # L1 idle since 2026-01-15 (166 days); L2 used two days ago; L3 never used, activated 2024.
    assert [f["resource_id"] for f in outcome.findings] == ["L1", "L3"]
    l1 = outcome.findings[0]
    assert l1 == {
        "resource_type": "lines", "resource_id": "L1", "reason": "idle for 166 days",
        "savings": 480.0, "savings_key": "lines:L1", "currency": None,
        "evidence": {"number": "+15551230001", "owner.name": "Ada Lovelace"},
    }
    assert outcome.findings[1]["reason"] == "idle for unknown days"


def test_parameters_are_overridden_per_organisation(snapshot, on):
    result = on(snapshot, loaded(IDLE), overrides={"test.p0": {"idle_days": 1000}})
    assert result.outcomes[0].status == "ok"
    assert result.outcomes[0].params == {"idle_days": 1000}


@pytest.mark.parametrize(("override", "message"), [
    ({"idle_dayz": 5}, "has no parameter 'idle_dayz'. Did you mean 'idle_days'?"),
    ({"idle_days": "ninety"}, "expected a int like 90, got 'ninety'"),
])
def test_bad_overrides_are_reported_as_that_policy_s_error(snapshot, override, message):
    result = evaluate(snapshot, loaded(IDLE), overrides={"test.p0": override})
    assert result.outcomes[0].status == "error"
    assert message in result.outcomes[0].error


def test_a_policy_reading_an_entity_no_source_provides_is_skipped(snapshot, on):
    text = policy_text("product = 'zoom'", resource="licenses")
    (outcome,) = on(snapshot, loaded(text)).outcomes
    assert outcome.status == "skip"
    assert outcome.skip_reason == "no source provides licenses"
    assert outcome.error is None


def test_an_empty_table_is_data_not_a_skip(tmp_path):
    store = SnapshotStore(tmp_path)
    from dialtone.engine.estate.model import load_model

    schema = load_model().entity("licenses").arrow_schema
    snap = store.write({"licenses": schema.empty_table()}, as_of=AS_OF, sources={})
    (outcome,) = evaluate(snap, loaded(policy_text("product = 'zoom'", resource="licenses"))).outcomes
    assert (outcome.status, outcome.evaluated) == ("ok", 0)


def test_an_error_in_one_policy_never_stops_the_others(snapshot, on):
    broken = policy_text("statuz = 'active'")
    result = on(snapshot, loaded(broken, IDLE))
    statuses = {o.policy_id: o.status for o in result.outcomes}
    assert statuses == {"test.p0": "error", "test.p1": "alarm"}
    assert "unknown column 'statuz'" in result.outcomes[0].error


def test_a_runtime_error_is_that_policy_s_error(snapshot):
    # Valid SQL that fails at run time: a cast of text that is not a number.
    bad = policy_text("CAST(number AS INTEGER) > 0")
    result = evaluate(snapshot, loaded(bad, IDLE))
    assert [o.status for o in result.outcomes] == ["error", "alarm"]
    assert "Conversion Error" in result.outcomes[0].error


def test_invalid_policy_files_are_reported_and_the_rest_run(snapshot):
    good = loaded(IDLE)
    from dialtone.engine.errors import PolicyError, Problem

    failure = ("bad.yaml", PolicyError([Problem("boom", "bad.yaml", 3, 1)]))
    with_failure = LoadedPolicies(good.policies, (failure,), "v")
    result = evaluate(snapshot, with_failure)
    assert [(o.policy_id, o.status) for o in result.outcomes] == [
        ("invalid:bad.yaml", "error"), ("test.p0", "alarm")]


def test_unknown_policy_ids_are_a_usage_error(snapshot):
    with pytest.raises(DialtoneError, match="Unknown policy 'test.p9'"):
        evaluate(snapshot, loaded(IDLE), policy_ids=["test.p9"])


def test_same_inputs_give_byte_identical_json(snapshot, on):
    first = on(snapshot, loaded(IDLE, policy_text("kind = 'mobile'"))).to_json()
    second = on(snapshot, loaded(IDLE, policy_text("kind = 'mobile'"))).to_json()
    assert first == second
    doc = json.loads(first)
    assert set(doc) == {"snapshot", "policies_version", "engine", "results"}
    assert {"policy_id", "title", "category", "severity", "status", "evaluated", "error",
            "findings"} <= set(doc["results"][0])


def test_time_comes_from_the_snapshot_not_the_clock(config, on):
    early = collect(config, as_of=dt.date(2026, 2, 1)).snapshot
    late = collect(config, as_of=dt.date(2026, 6, 30)).snapshot
    found = {s.id: [f["resource_id"] for f in on(s, loaded(IDLE)).outcomes[0].findings]
             for s in (early, late)}
    assert found[early.id] == ["L3"]          # L1's January activity is recent on 1 February
    assert found[late.id] == ["L1", "L3"]


def test_columns_missing_from_an_old_snapshot_read_as_null(tmp_path):
    store = SnapshotStore(tmp_path)
    snap = store.write({"lines": pa.table({"id": ["L1"], "kind": ["mobile"], "status": ["active"]})},
                       as_of=AS_OF, sources={})
    # An older snapshot lacks most of today's columns.
    assert pq.read_schema(snap.parquet("lines")).names == ["id", "kind", "status"]
    text = policy_text("monthly_cost IS NULL AND srtp_enabled IS NULL")
    (outcome,) = evaluate(snap, loaded(text)).outcomes
    assert [f["resource_id"] for f in outcome.findings] == ["L1"]


# -- the sandbox --------------------------------------------------------------------------------
HOSTILE_SQL = [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/hostname')",
    "COPY (SELECT 1) TO '/tmp/dialtone-escape.csv'",
    "ATTACH '/tmp/dialtone-escape.db' AS x",
    "INSTALL httpfs",
    "SET enable_external_access = true",
    "SET lock_configuration = false",
]


@pytest.mark.parametrize("sql", HOSTILE_SQL)
def test_the_backend_refuses_file_access_even_when_handed_sql_directly(snapshot, sql):
    session = DuckDBBackend(EvaluationLimits()).open(snapshot)
    try:
        with pytest.raises(PolicyRunError):
            session._execute(sql)
        # The snapshot itself is still readable.
        assert session.count("lines") == 3
    finally:
        session.close()


# Security review 2026-12-07: allowed_paths lets DuckDB write the snapshot's own files as well as
# read them, and the shared in-memory database takes DDL, so SQL past a validator bug could
# overwrite a snapshot's evidence or redefine an entity for the policies after it.
def statements(snapshot) -> list[str]:
    lines = snapshot.path / snapshot.entities["lines"]["file"]
    return [f"COPY (SELECT 'forged' AS id) TO '{lines}' (FORMAT parquet, USE_TMP_FILE false)",
            "CREATE OR REPLACE VIEW lines AS SELECT 'forged' AS id",
            "CREATE MACRO lower(x) AS 'forged'",
            "SELECT 1 AS resource_id; COPY (SELECT 1) TO 'x.csv'"]


@pytest.mark.parametrize("which", range(4))
def test_the_backend_runs_only_a_single_select_as_a_policy(snapshot, which):
    from types import SimpleNamespace

    sql = statements(snapshot)[which]
    session = DuckDBBackend(EvaluationLimits()).open(snapshot)
    try:
        with pytest.raises(PolicyRunError, match="only a single SELECT runs as a policy"):
            session.run(SimpleNamespace(sql={"duckdb": sql}, params=()), {})
        assert session.count("lines") == 3
        assert session._execute("SELECT lower('A')") == [("a",)]
    finally:
        session.close()
    assert snapshot.verify() == []


def test_rejects_file_beside_the_parquet_files_is_not_readable(snapshot):
    session = DuckDBBackend(EvaluationLimits()).open(snapshot)
    try:
        (snapshot.path / "other.csv").write_text("a\n1\n")
        with pytest.raises(PolicyRunError, match="disabled by configuration"):
            session._execute(f"SELECT * FROM read_csv('{snapshot.path / 'other.csv'}')")
    finally:
        session.close()


@pytest.fixture
def big_snapshot(tmp_path):
    n = 100_000
    lines = pa.table({"id": [f"L{i}" for i in range(n)], "kind": ["mobile"] * n,
                      "status": ["active"] * n, "plan": [f"plan-{i}" * 8 for i in range(n)]})
    return SnapshotStore(tmp_path).write({"lines": lines}, as_of=AS_OF, sources={})


def test_a_policy_over_the_time_limit_is_stopped_and_the_others_run(big_snapshot):
    # Ten billion pairs: far beyond half a second.
    slow = policy_text("(SELECT count(*) FROM lines a JOIN lines b ON a.kind = b.kind "
                       "WHERE a.plan < b.plan) > 0")
    result = evaluate(big_snapshot, loaded(slow, policy_text("kind = 'fax'")),
                      limits=EvaluationLimits(timeout_seconds=0.5))
    assert [o.status for o in result.outcomes] == ["error", "ok"]
    assert "time limit of 0.5 s" in result.outcomes[0].error


def test_a_policy_over_the_memory_limit_is_stopped_and_the_others_run(big_snapshot):
    hungry = policy_text(
        "(SELECT count(DISTINCT a.plan || b.plan) FROM lines a JOIN lines b "
        "ON a.kind = b.kind WHERE a.id < 'L2') > 0")
    result = evaluate(big_snapshot, loaded(hungry, policy_text("kind = 'fax'")),
                      limits=EvaluationLimits(timeout_seconds=60, memory_limit="64MB", threads=1))
    assert [o.status for o in result.outcomes] == ["error", "ok"]
    assert "memory" in result.outcomes[0].error.lower()


def test_a_query_policy_reports_its_own_columns_as_evidence(snapshot):
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
    (outcome,) = evaluate(snapshot, policies).outcomes
    assert [(f["resource_id"], f["reason"], f["evidence"]) for f in outcome.findings] == [
        ("P1", "holds 1 line(s)", {"lines_held": 1}), ("P2", "holds 1 line(s)", {"lines_held": 1})]
    assert outcome.evaluated == 2


def test_an_entity_only_evidence_needs_reads_as_empty_instead_of_skipping(tmp_path):
    lines = pa.table({"id": ["L1"], "kind": ["mobile"], "status": ["active"],
                      "assigned_to": ["P1"]})
    snap = SnapshotStore(tmp_path).write({"lines": lines}, as_of=AS_OF, sources={})
    with_evidence = policy_text("status = 'active'", extra="evidence: [owner.name]\n")
    in_condition = policy_text("owner.status = 'terminated'")
    evidence_only, needs_people = evaluate(snap, loaded(with_evidence, in_condition)).outcomes
    assert evidence_only.status == "alarm"
    assert evidence_only.findings[0]["evidence"] == {"owner.name": None}
    assert (needs_people.status, needs_people.skip_reason) == ("skip", "no source provides people")


DISPUTE_POLICIES = ("cost.dispute-credit-missing", "cost.dispute-open-past-window")


def _dispute_rows(charges_by_reference: dict[str | None, int]) -> list[dict]:
    """``disputes`` rows as the built-in source writes them: one per disputed charge, ``id``
    ``<reference>/<n>``; a reference None stands for a dispute recorded without one (its own row)."""
    rows, n = [], 0
    for reference, charges in charges_by_reference.items():
        for _ in range(charges):
            n += 1
            rows.append({"id": f"{reference or 'NOREF'}/{n}", "reference": reference, "account_id": "A1",
                         "charge_id": f"C{n}", "charge_code": "PLAN", "status": "filed",
                         "opened_on": dt.date(2026, 1, 2), "filed_on": dt.date(2026, 1, 2),
                         "amount": 10.0, "currency": "USD"})
    return rows


def _with_disputes(tmp_path, rows: list[dict]):
    from dialtone.engine.estate.model import load_model

    model = load_model()

    def table(entity: str, rows: list[dict]) -> pa.Table:
        return pa.Table.from_pylist(rows, schema=model.entity(entity).arrow_schema)

    tables = {"disputes": table("disputes", rows), "charges": table("charges", []),
              "invoices": table("invoices", [])}
    return SnapshotStore(tmp_path).write(tables, as_of=AS_OF, sources={})


def test_evaluated_counts_disputes_not_their_charges(tmp_path, on):
    """A dispute of 3 charges and one of 1 are 4 rows of ``disputes`` and 2 disputes: the dispute
    policies (one finding per dispute) evaluated 2 resources, as many as they can find."""
    from dialtone.engine.policy.loader import load_policies

    snap = _with_disputes(tmp_path, _dispute_rows({"DSP-000001": 3, "DSP-000002": 1}))
    outcomes = {o.policy_id: o for o in on(snap, load_policies(), policy_ids=list(DISPUTE_POLICIES)).outcomes}
    assert {p: o.evaluated for p, o in outcomes.items()} == dict.fromkeys(DISPUTE_POLICIES, 2)
    # Both filed 179 days before the snapshot without a credit: found, one finding each.
    past_window = outcomes["cost.dispute-open-past-window"]
    assert sorted(f["resource_id"] for f in past_window.findings) == ["DSP-000001/1", "DSP-000002/4"]


def test_a_dispute_row_without_a_reference_is_a_dispute_of_its_own(tmp_path):
    """Rows of one reference are one dispute; rows with none are one each (as the policies read
    them). An empty ``disputes`` counts 0."""
    from dialtone.engine.policy.loader import load_policies

    snap = _with_disputes(tmp_path / "a", _dispute_rows({"DSP-000001": 2, None: 2}))
    outcomes = evaluate(snap, load_policies(), policy_ids=list(DISPUTE_POLICIES)).outcomes
    assert [o.evaluated for o in outcomes] == [3, 3]
    empty = _with_disputes(tmp_path / "b", [])
    assert [o.evaluated for o in evaluate(empty, load_policies(), policy_ids=list(DISPUTE_POLICIES)).outcomes
            ] == [0, 0]
