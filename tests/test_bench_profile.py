"""The evaluation bench's profile (bench/evaluate.py): each policy's time, CPU time, rows and
bytes scanned and row groups read, as DuckDB's profiler counts them on the plain baseline
connection, and the slowest N printed with the totals."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from dialtone.engine.compiler import SNAPSHOT_DATE, SNAPSHOT_TIMEZONE, compile_policy
from dialtone.engine.evaluation import resolve_params
from dialtone.engine.policy.loader import load_policies
from dialtone.engine.snapshots import SnapshotStore
from dialtone.engine.synthetic import generate_estate

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))  # the bench imports its sibling modules by name
    try:
        spec = importlib.util.spec_from_file_location("bench_evaluate", BENCH / "evaluate.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses resolve their annotations through it
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("bench_evaluate", None)
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def profiled(bench, tmp_path_factory):
    estate = generate_estate(300, seed=3)
    snapshot = SnapshotStore(tmp_path_factory.mktemp("data")).write(
        estate.tables, as_of=estate.as_of, sources={"synthetic": {"lines": 300, "seed": 3}})
    by_id = load_policies().by_id()
    policies = [by_id["cost.zero-usage-lines"], by_id["cost.duplicate-charges"],
                by_id["security.unencrypted-devices"]]
    compiled = {p.id: compile_policy(p) for p in policies}
    params = {p.id: {**resolve_params(p, {}), SNAPSHOT_DATE: snapshot.as_of,
                     SNAPSHOT_TIMEZONE: snapshot.timezone} for p in policies}
    con, _ = bench._raw_connection(snapshot, into_memory=False)
    try:
        yield snapshot, bench.profile_policies(con, compiled, params), con
    finally:
        con.close()


def test_each_policy_gets_its_scans_counted(profiled):
    snapshot, profiles, _ = profiled
    assert set(profiles) == {"cost.zero-usage-lines", "cost.duplicate-charges",
                             "security.unencrypted-devices"}
    usage_rows = snapshot.entities["usage"]["rows"]
    # The idle-line policy reads the usage at least once (and lines, calls, people).
    assert profiles["cost.zero-usage-lines"].rows_scanned >= usage_rows
    for p in profiles.values():
        assert p.seconds > 0 and p.cpu_seconds > 0
        assert p.bytes_scanned > 0
        assert 0 < p.row_groups_scanned <= p.row_groups_total


def test_the_profile_pass_leaves_the_connection_unprofiled(profiled, tmp_path):
    _, _, con = profiled
    assert con.execute("SELECT current_setting('enable_profiling')").fetchone()[0] in ("", None)


def test_the_slowest_are_printed_first_with_the_totals(bench, profiled, capsys):
    _, profiles, _ = profiled
    bench.print_profile(profiles, top=2)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("PROFILE (DuckDB, baseline connection)")
    body = out[1:3]
    slowest = sorted(profiles, key=lambda pid: -profiles[pid].seconds)[:2]
    assert [line.split()[0] for line in body] == slowest
    assert out[3].startswith("total (3 policies; top 2: ")
    total_rows = sum(p.rows_scanned for p in profiles.values())
    assert f"{total_rows:,}" in out[3]
