"""What collector tests read back from a collect: an entity's rows and the rejects."""

from __future__ import annotations

import csv

import pyarrow.parquet as pq


def rows(result, entity: str) -> list[dict]:
    """The rows of ``entity`` in the snapshot a collect wrote."""
    return pq.read_table(result.snapshot.parquet(entity)).to_pylist()


def rejects(result) -> list[dict]:
    """The snapshot's rejects.csv as dicts (empty when nothing was rejected)."""
    path = result.snapshot.path / "rejects.csv"
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
