"""Snapshots: atomic writes, manifests with hashes, listing and lookup."""

from __future__ import annotations

import datetime as dt
import errno
import json

import pyarrow as pa
import pytest

from dialtone.engine.errors import SnapshotError
from dialtone.engine.snapshots import MANIFEST, SnapshotStore, sha256_file

from .conftest import AS_OF

NOW = dt.datetime(2026, 7, 1, 2, 0, tzinfo=dt.UTC)


def lines_table(n: int = 2) -> pa.Table:
    return pa.table({"id": [f"L{i}" for i in range(n)], "kind": ["mobile"] * n,
                     "status": ["active"] * n})


def test_manifest_records_as_of_sources_rows_and_file_hashes(tmp_path):
    store = SnapshotStore(tmp_path)
    snap = store.write({"lines": lines_table(3)}, as_of=AS_OF, now=NOW,
                       sources={"estate": {"collector": "csv", "settings_fingerprint": "sha256:x",
                                           "rows": {"lines": 3}, "rejects": 0}})
    m = json.loads((snap.path / MANIFEST).read_text())
    assert m["id"] == snap.id == "20260701T020000Z"
    assert m["as_of"] == "2026-06-30"
    assert m["entities"]["lines"]["rows"] == 3
    assert m["files"]["lines.parquet"] == sha256_file(snap.path / "lines.parquet")
    assert m["sources"]["estate"]["collector"] == "csv"
    assert snap.verify() == []


def test_tampering_with_a_file_is_detected(tmp_path):
    snap = SnapshotStore(tmp_path).write({"lines": lines_table()}, as_of=AS_OF, sources={})
    with (snap.path / "lines.parquet").open("ab") as fh:
        fh.write(b"x")
    assert snap.verify() == ["lines.parquet"]


def test_ids_are_unique_and_ordered_even_within_one_second(tmp_path):
    store = SnapshotStore(tmp_path)
    a = store.write({"lines": lines_table()}, as_of=AS_OF, sources={}, now=NOW)
    b = store.write({"lines": lines_table()}, as_of=AS_OF, sources={}, now=NOW)
    assert (a.id, b.id) == ("20260701T020000Z", "20260701T020000Z-2")
    assert store.ids() == [a.id, b.id]
    assert store.latest().id == b.id == store.get("latest").id


def test_two_collects_finishing_within_one_second_both_keep_their_snapshot(tmp_path, monkeypatch):
    # Security review 2026-12-07: both chose the id before writing; the second to finish then
    # failed on the rename ("Directory not empty") and its whole collect was lost.
    import dialtone.engine.snapshots as snapshots

    store = SnapshotStore(tmp_path)
    write_table = snapshots.pq.write_table
    inner: list = []

    def meanwhile(*args, **kwargs):
        if not inner:      # another process's collect finishes while this one writes its files
            inner.append(None)
            inner[0] = store.write({"lines": lines_table(1)}, as_of=AS_OF, sources={}, now=NOW)
        return write_table(*args, **kwargs)

    monkeypatch.setattr(snapshots.pq, "write_table", meanwhile)
    outer = store.write({"lines": lines_table(3)}, as_of=AS_OF, sources={}, now=NOW)
    assert (inner[0].id, outer.id) == ("20260701T020000Z", "20260701T020000Z-2")
    assert store.ids() == [inner[0].id, outer.id]
    assert outer.manifest["id"] == outer.id and outer.verify() == []
    assert outer.manifest["entities"]["lines"]["rows"] == 3
    assert sorted(p.name for p in store.root.iterdir()) == store.ids()


def test_a_failed_write_leaves_no_partial_snapshot(tmp_path, monkeypatch):
    store = SnapshotStore(tmp_path)
    good = store.write({"lines": lines_table()}, as_of=AS_OF, sources={}, now=NOW)

    import dialtone.engine.snapshots as snapshots

    def fail(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(snapshots.os, "rename", fail)
    with pytest.raises(SnapshotError, match="cannot write the snapshot in .*: No space left on "
                       "device; nothing was written and the latest snapshot is unchanged"):
        store.write({"lines": lines_table(5)}, as_of=AS_OF, sources={},
                    now=NOW + dt.timedelta(hours=1))
    assert store.ids() == [good.id]
    assert [p.name for p in store.root.iterdir()] == [good.id]  # the temp folder is gone


def test_unknown_snapshot_ids_get_a_helpful_error(tmp_path):
    store = SnapshotStore(tmp_path)
    with pytest.raises(SnapshotError, match="No snapshot yet"):
        store.get()
    snap = store.write({"lines": lines_table()}, as_of=AS_OF, sources={}, now=NOW)
    with pytest.raises(SnapshotError, match=f"Did you mean '{snap.id}'"):
        store.get(snap.id[:-1] + "X")
