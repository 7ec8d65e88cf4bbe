"""DuckDB and Spark agree finding for finding: every built-in policy, demo and random estates."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dialtone.engine.evaluation import evaluate
from dialtone.engine.policy.loader import load_policies
from dialtone.engine.snapshots import SnapshotStore
from dialtone.engine.synthetic import MIN_LINES, generate_estate

from .sparkkit import SETTINGS, require_spark

require_spark()


def compare(snapshot, policies):
    duck = evaluate(snapshot, policies, engine="duckdb")
    spark = evaluate(snapshot, policies, engine="spark", engine_settings=SETTINGS)
    for d, s in zip(duck.outcomes, spark.outcomes, strict=True):
        assert s.as_dict() == d.as_dict(), d.policy_id
        if d.rows is not None:
            assert s.rows.schema == d.rows.schema, d.policy_id
    return duck, spark


def test_every_builtin_policy_on_the_demo_estate(tmp_path):
    estate = generate_estate(MIN_LINES, seed=7)
    snap = SnapshotStore(tmp_path).write(estate.tables, as_of=estate.as_of, sources={})
    policies = load_policies()
    _, spark = compare(snap, policies)
    assert len(spark.outcomes) == len(policies.policies) == len(estate.planted)
    for o in spark.outcomes:  # the demo plants a violation for every policy: Spark finds it
        assert o.status == "alarm", (o.policy_id, o.error)
        assert set(estate.planted[o.policy_id]) <= {f["resource_id"] for f in o.findings}


def _degrade(table: pa.Table, rng: np.random.Generator, share: float, required: set) -> pa.Table:
    """NULL out a random share of every optional column's values."""
    cols = []
    for name in table.column_names:
        col = table.column(name)
        if name in required or name == "_source" or not len(col):
            cols.append(col)
            continue
        mask = pa.array(rng.random(len(col)) < share)
        cols.append(pa.compute.if_else(mask, pa.scalar(None, col.type), col))
    return pa.table(cols, names=table.column_names)


@settings(max_examples=2, deadline=None, derandomize=bool(os.environ.get("CI")),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), lines=st.integers(MIN_LINES, 260),
       share=st.sampled_from([0.0, 0.05, 0.3]))
def test_every_builtin_policy_on_random_estates(tmp_path_factory, seed, lines, share):
    from dialtone.engine.estate.model import load_model

    model = load_model()
    estate = generate_estate(lines, seed=seed)
    rng = np.random.default_rng(seed)
    tables = {name: _degrade(t, rng, share, {f.name for f in model.entities[name].fields
                                             if f.required} | set(model.entities[name].key))
              for name, t in estate.tables.items()}
    snap = SnapshotStore(tmp_path_factory.mktemp("estate")).write(
        tables, as_of=estate.as_of, sources={})
    compare(snap, load_policies())


@pytest.fixture(autouse=True)
def _quiet_numpy():
    with np.errstate(all="ignore"):
        yield
