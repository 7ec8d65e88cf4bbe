"""A collected text is read without the spaces around it, exactly as DuckDB's ``trim`` reads it.

Validation trims text in Arrow (it looks at a value's ends only; DuckDB's ``trim`` decodes the
whole value, a third of a streamed collect's validation). The two must agree on every value, or
one release's snapshot would differ from another's for the same file."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from dialtone.engine.collector_api import ROW_COLUMN, RawBatch
from dialtone.engine.estate.model import load_model
from dialtone.engine.validate import SPACES, validate_batch


def test_the_spaces_taken_off_are_those_duckdb_trim_takes_off():
    con = duckdb.connect()
    trimmed = con.execute(
        "SELECT list(i ORDER BY i) FROM range(1, 1114112) t(i) "
        "WHERE (i < 55296 OR i > 57343) AND trim(chr(i::INT) || 'a' || chr(i::INT)) = 'a'").fetchone()[0]
    assert [chr(i) for i in trimmed] == sorted(SPACES)


def _usage(rows: list[dict]) -> pa.Table:
    for i, row in enumerate(rows):
        row[ROW_COLUMN] = i + 2
    return pa.Table.from_pylist(rows)


def test_values_padded_with_unicode_spaces_are_read_as_the_value():
    entity = load_model().entity("usage")
    nbsp, ideographic, thin = "\u00a0", "\u3000", "\u2009"
    table = _usage([
        {"line_id": f"{nbsp}L-1{ideographic}", "period": " 2026-05 ", "voice_minutes": f"{thin}12.5 ",
         "sms_count": f" 7{nbsp}"},
        {"line_id": "L-2", "period": "2026-05", "voice_minutes": "3", "sms_count": "1"},
    ])
    out = validate_batch(duckdb.connect(), entity, RawBatch("usage", table, "usage.csv"), "carrier")
    assert out.rejects.num_rows == 0
    assert out.table.column("line_id").to_pylist() == ["L-1", "L-2"]
    assert out.table.column("period").to_pylist() == ["2026-05", "2026-05"]
    assert out.table.column("voice_minutes").to_pylist() == [12.5, 3.0]
    assert out.table.column("sms_count").to_pylist() == [7, 1]


def test_a_value_of_spaces_alone_is_missing_and_a_tab_is_not_a_space():
    entity = load_model().entity("usage")
    table = _usage([
        {"line_id": "\u00a0 \u3000", "period": "2026-05", "voice_minutes": "1", "sms_count": "1"},
        {"line_id": "\tL-3 ", "period": "2026-05", "voice_minutes": "4", "sms_count": "1"},
    ])
    out = validate_batch(duckdb.connect(), entity, RawBatch("usage", table, "usage.csv"), "carrier")
    assert [(r["row"], r["field"], r["reason"]) for r in out.rejects.to_pylist()] == [
        (2, "line_id", "required field is missing")]
    assert out.table.column("line_id").to_pylist() == ["\tL-3"]
