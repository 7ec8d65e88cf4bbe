"""The snapshot layout (engine/snapshot_layout.py): large entities sorted on what policies filter
by, in DuckDB-sized row groups with statistics, so a date-window scan skips the other groups."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dialtone.engine.snapshot_layout import (
    SORT_KEYS,
    lay_out,
    rewrite_parquet,
    sort_keys,
    write_table,
)


def _usage(lines: int = 50, months: int = 12) -> pa.Table:
    """Usage as a collector gives it: line by line, each line's months in turn."""
    periods = [f"2025-{m:02d}" if m <= 12 else f"2026-{m - 12:02d}" for m in range(1, months + 1)]
    rows = [(f"L-{n:04d}", p, float(n % 7), None if n % 5 == 0 else dt.date(2025, 1, 1))
            for n in range(lines, 0, -1) for p in periods]
    return pa.table({
        "line_id": [r[0] for r in rows],
        "period": [r[1] for r in rows],
        "voice_minutes": [r[2] for r in rows],
        "last_activity_on": pa.array([r[3] for r in rows], pa.date32()),
    })


def _groups(path, column: str) -> list[tuple]:
    meta = pq.ParquetFile(path).metadata
    at = meta.schema.names.index(column)
    return [(meta.row_group(i).num_rows, meta.row_group(i).column(at).statistics.min,
             meta.row_group(i).column(at).statistics.max) for i in range(meta.num_row_groups)]


def test_usage_is_sorted_by_month_then_line_in_groups_with_statistics(tmp_path):
    table = _usage()
    path = tmp_path / "usage.parquet"
    write_table("usage", table, path, row_group_rows=100)

    written = pq.read_table(path)
    assert written.schema == table.schema
    assert written.num_rows == table.num_rows
    keys = list(zip(written.column("period").to_pylist(), written.column("line_id").to_pylist(),
                    strict=True))
    assert keys == sorted(keys)
    groups = _groups(path, "period")
    assert [n for n, _, _ in groups] == [100] * 6
    # 50 lines a month in groups of 100: each group spans two months at most.
    assert all(hi <= f"{lo[:5]}{int(lo[5:]) + 1:02d}" for _, lo, hi in groups)


def test_the_layout_changes_the_order_only():
    table = _usage(lines=7, months=3)
    laid = lay_out("usage", table)
    rows = lambda t: sorted(json.dumps(r, default=str) for r in t.to_pylist())  # noqa: E731
    assert laid.schema == table.schema
    assert rows(laid) == rows(table)
    assert laid.column("period").to_pylist() == sorted(table.column("period").to_pylist())


def test_an_entity_without_sort_keys_keeps_its_order():
    table = pa.table({"id": ["b", "a", "c"], "name": ["x", "y", "z"]})
    assert lay_out("people", table) is table
    assert sort_keys("people", table.column_names) == ()


def test_sort_keys_the_file_lacks_are_left_out():
    assert sort_keys("usage", ["line_id", "voice_minutes"]) == ("line_id",)
    assert sort_keys("calls", ["id", "line_id", "started_at"]) == SORT_KEYS["calls"]


def test_rewrite_parquet_sorts_a_streamed_file_in_place_and_keeps_its_schema(tmp_path):
    table = _usage(lines=40, months=6)
    path = tmp_path / "usage.parquet"
    # A streamed collect writes a file piece by piece, in small groups, in collection order.
    with pq.ParquetWriter(path, table.schema, compression="lz4") as writer:
        for start in range(0, table.num_rows, 33):
            writer.write_table(table.slice(start, 33))

    rewrite_parquet("usage", path, memory_limit="64MB", temp_directory=tmp_path,
                    row_group_rows=50)

    written = pq.read_table(path)
    assert written.schema == table.schema
    assert written.equals(lay_out("usage", table))
    assert [n for n, _, _ in _groups(path, "period")] == [50] * 4 + [40]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["usage.parquet"]  # nothing left over


def test_rewrite_parquet_regroups_an_entity_without_keys_in_its_order(tmp_path):
    table = pa.table({"id": [f"P-{n:03d}" for n in range(250, 0, -1)]})
    path = tmp_path / "people.parquet"
    pq.write_table(table, path)
    rewrite_parquet("people", path, row_group_rows=100)
    assert pq.read_table(path).equals(table)
    assert pq.ParquetFile(path).metadata.num_row_groups == 3


def test_a_date_window_reads_only_the_groups_of_its_months(tmp_path):
    path = tmp_path / "usage.parquet"
    write_table("usage", _usage(lines=100, months=12), path, row_group_rows=100)
    con = duckdb.connect()
    profile = tmp_path / "profile.json"
    con.execute("PRAGMA enable_profiling = 'json'")
    con.execute(f"PRAGMA profiling_output = '{profile}'")
    count = con.sql(f"SELECT count(*) FROM read_parquet('{path}') "
                    "WHERE period BETWEEN '2025-10' AND '2025-12'").fetchall()[0][0]
    query = json.loads(profile.read_text())["query"]
    assert count == 300
    assert query["total_row_groups_to_scan"] == 12
    assert query["total_row_groups_scanned"] == 3


@pytest.mark.parametrize("entity", sorted(SORT_KEYS))
def test_every_sort_key_is_a_field_of_its_entity(entity):
    from dialtone.engine.estate.model import load_model

    fields = {f.name for f in load_model().entities[entity].fields}
    assert set(SORT_KEYS[entity]) <= fields
