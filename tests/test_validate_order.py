"""Validated rows come out in the order the source gave them, whatever DuckDB's threads do.

The snapshot's content (and so its hash and every replay) must not depend on thread timing.
A batch of a few small Arrow chunks, as the X12 reader hands a bill's charges over, is where
DuckDB was seen to return the pieces of a scanned Arrow table swapped (one run in ten)."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from dialtone.engine.collector_api import ROW_COLUMN, RawBatch
from dialtone.engine.estate.model import load_model
from dialtone.engine.validate import reject_duplicates, validate_batch


def _chunked_charges(sizes: list[int]) -> pa.Table:
    """A bill's charges as the X12 reader hands them over: text, a chunk per invoice."""
    batches, row = [], 10
    for c, size in enumerate(sizes):
        rows = []
        for i in range(size):
            row += 2
            rows.append({
                "id": f"acme:800100{c}:INV-{c}:{row}", "invoice_id": f"acme:800100{c}:INV-{c}",
                "line_id": f"+1312555{c:02d}{i:02d}", "charge_code": "MRC01", "charge_type": "recurring",
                "description": "Business line monthly", "quantity": "1", "unit_rate": "45.00",
                "amount": "45.00",
                # every fifth charge fails a check: good rows and rejects are both in play
                "currency": "usd!" if i % 5 == 0 else "USD",
                "period_start": "2024-06-01", "period_end": "2024-06-30",
                "source_position": f"bill.edi:segment {row}", ROW_COLUMN: row})
        batches.append(pa.RecordBatch.from_pylist(rows))
    return pa.Table.from_batches(batches)


def test_good_rows_and_rejects_keep_the_batch_order_over_many_runs():
    entity = load_model().entity("charges")
    table = _chunked_charges([13, 9, 17])
    good = [r for r in table.to_pylist() if r["currency"] == "USD"]
    con = duckdb.connect()
    for _ in range(60):
        out = validate_batch(con, entity, RawBatch("charges", table, "bill.edi"), "carrier")
        assert out.table.column("__row").to_pylist() == [r[ROW_COLUMN] for r in good]
        assert out.table.column("id").to_pylist() == [r["id"] for r in good]
        assert out.rejects.column("row").to_pylist() == [
            r[ROW_COLUMN] for r in table.to_pylist() if r["currency"] != "USD"]



def test_validated_rows_are_one_chunk_per_column():
    # The Parquet writer's pages follow the Arrow chunks it is given, and the chunks DuckDB
    # returns vary with its threads: one chunk per column keeps the snapshot's bytes the same.
    entity = load_model().entity("charges")
    table = _chunked_charges([1300, 900, 1700])
    con = duckdb.connect()
    for _ in range(20):
        out = validate_batch(con, entity, RawBatch("charges", table, "bill.edi"), "carrier")
        assert {out.table.column(c).num_chunks for c in out.table.column_names} == {1}
        assert {out.rejects.column(c).num_chunks for c in out.rejects.column_names} == {1}


def test_a_collector_column_named_like_the_engine_s_own_does_not_order_the_rows():
    entity = load_model().entity("charges")
    table = _chunked_charges([5])
    table = table.append_column("__ordinal", pa.array([10, 9, 8, 7, 6], pa.int64()))
    out = validate_batch(duckdb.connect(), entity, RawBatch("charges", table, "bill.edi"), "carrier")
    assert out.table.column("__row").to_pylist() == [
        r[ROW_COLUMN] for r in table.to_pylist() if r["currency"] == "USD"]


def test_the_first_of_two_copies_numbered_alike_is_the_one_kept():
    # A collector may number each table it builds from 1 again within one batch: the copy that
    # came first in the batch is kept, every time.
    entity = load_model().entity("lines")
    rows = pa.table({
        "id": ["L1", "L2", "L1", "L3"], "kind": ["mobile"] * 4, "status": ["active"] * 4,
        "number": ["+15550000001", "+15550000002", "+15550000009", "+15550000003"],
        ROW_COLUMN: pa.array([1, 2, 1, 2], pa.int64())})
    con = duckdb.connect()
    for _ in range(30):
        validated = validate_batch(con, entity, RawBatch("lines", rows, "api"), "carrier")
        good, dups = reject_duplicates(con, entity, validated.table)
        assert good.column("number").to_pylist() == ["+15550000001", "+15550000002", "+15550000003"]
        assert dups.column("value").to_pylist() == ["L1"]


def test_a_batch_that_names_a_column_twice_is_a_clear_error():
    from dialtone.engine.errors import CollectError

    entity = load_model().entity("charges")
    table = _chunked_charges([3])
    table = table.append_column("amount", pa.array(["2.00"] * 3))
    with pytest.raises(CollectError, match="bill.edi: charges column\\(s\\) amount given twice"):
        validate_batch(duckdb.connect(), entity, RawBatch("charges", table, "bill.edi"), "carrier")
