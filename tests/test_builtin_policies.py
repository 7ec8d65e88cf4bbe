"""The built-in policies: all valid, all tested, all passing their own tests."""

from __future__ import annotations

import pytest

from dialtone.engine.compiler import compile_policy
from dialtone.engine.policy.loader import load_policies
from dialtone.engine.policy_tests import run_policy_tests

LOADED = load_policies()


def test_every_built_in_policy_file_loads():
    assert LOADED.failures == ()


@pytest.mark.parametrize("policy", LOADED.policies, ids=lambda p: p.id)
def test_every_built_in_policy_compiles_for_every_engine(policy):
    compiled = compile_policy(policy)
    assert set(compiled.sql) == {"duckdb", "spark"}
    assert policy.id.split(".")[0] == policy.path.split("/")[0], "a policy's id names its pack"


def test_the_first_set_spans_the_categories():
    categories = {p.category for p in LOADED.policies}
    assert len(LOADED.policies) >= 10
    assert {"cost", "retention", "regulatory", "security"} <= categories


def test_cost_policies_state_their_savings():
    missing = [p.id for p in LOADED.policies if p.category == "cost" and p.savings is None]
    assert not missing


def test_every_built_in_policy_has_passing_tests():
    report = run_policy_tests(LOADED)
    assert report.untested == []
    assert report.errors == []
    failed = [f"{c.policy_id}: {c.name}: {c.detail}" for c in report.cases if not c.ok]
    assert not failed
    tested = {c.policy_id for c in report.cases}
    assert tested == {p.id for p in LOADED.policies}
    # Each policy proves both directions: something found and something not found.
    assert all(sum(1 for c in report.cases if c.policy_id == p.id) >= 2 for p in LOADED.policies)
