"""The same inputs collected twice give the same snapshot files, byte for byte.

A snapshot's manifest holds the SHA-256 of every file it wrote, and evidence and replays name
snapshots by those hashes: the content must depend on the inputs only, never on the order in
which DuckDB's threads handed rows back. Files are streamed in small blocks here so that every
entity is read as many Arrow batches, as a large estate is."""

from __future__ import annotations

import json

import dialtone.collectors.csv_files as csv_files
from dialtone.engine.collect import collect
from dialtone.engine.config import load_config
from dialtone.engine.demo import write_canonical_csv
from dialtone.engine.synthetic import generate_estate

from .conftest import AS_OF


def test_collecting_the_same_files_twice_writes_the_same_snapshot_files(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_files, "STREAM_ABOVE_BYTES", 0)
    monkeypatch.setattr(csv_files, "CSV_BLOCK_BYTES", 64 << 10)
    estate = generate_estate(3000, seed=5)
    write_canonical_csv(estate.tables, tmp_path / "inputs")
    hashes = []
    for attempt in ("first", "second", "third"):
        workspace = tmp_path / attempt
        workspace.mkdir()
        (workspace / "dialtone.yaml").write_text(
            f"sources:\n  estate:\n    collector: csv\n    path: {tmp_path / 'inputs'}\n", encoding="utf-8")
        snapshot = collect(load_config(workspace / "dialtone.yaml"), as_of=AS_OF).snapshot
        files = json.loads((snapshot.path / "manifest.json").read_text())["files"]
        hashes.append(files)
    assert len(hashes[0]) > 15
    assert hashes[1] == hashes[0]
    assert hashes[2] == hashes[0]
