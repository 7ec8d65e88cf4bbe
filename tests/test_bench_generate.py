"""The evaluation bench's snapshot (bench/evaluate.py ``generate_snapshot``): written entity by
entity as the generator builds them, and the same files as the in-memory estate's snapshot."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from dialtone.engine.snapshots import SnapshotStore
from dialtone.engine.synthetic import generate_estate

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _bench_evaluate(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))  # the bench imports its sibling modules by name
    spec = importlib.util.spec_from_file_location("bench_evaluate_generate", BENCH / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve their annotations through sys.modules
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_the_bench_snapshot_is_streamed_and_equals_the_in_memory_estates(tmp_path, monkeypatch):
    from dialtone.engine.synthetic.builder import _Builder

    on_disk = []
    billing = _Builder.billing

    def spy(self):
        on_disk.extend(p.name for p in (tmp_path / "streamed").glob("snapshots/.work-*/*.parquet"))
        billing(self)

    monkeypatch.setattr(_Builder, "billing", spy)
    gen = _bench_evaluate(monkeypatch).generate_snapshot(300, 3, str(tmp_path / "streamed"))
    assert {"usage.parquet", "calls.parquet", "lines.parquet"} <= set(on_disk)
    assert "charges.parquet" not in on_disk

    estate = generate_estate(300, seed=3)
    expected = SnapshotStore(tmp_path / "held").write(estate.tables, as_of=estate.as_of, sources={})
    streamed = SnapshotStore(tmp_path / "streamed").get(gen["snapshot"])
    assert {n: e["sha256"] for n, e in streamed.entities.items()} == {
        n: e["sha256"] for n, e in expected.entities.items()}
    assert gen["rows"] == {name: t.num_rows for name, t in estate.tables.items()}
    assert gen["planted"] == estate.planted
    assert not list((tmp_path / "streamed" / "snapshots").glob(".work-*"))
