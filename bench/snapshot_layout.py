"""An experiment for issue 20, measured by bench/layout.py and not applied: a layout of a
snapshot's Parquet files meant to let policies read less of them. On the built-in packs it made
evaluation 12-13% slower (docs/architecture.md, "Where the time goes"), so the snapshot writer
does not use it; it stays here so that the measurement can be repeated.

Two things decide what a scan costs besides the data itself:

* **Row groups.** DuckDB reads a Parquet file one row group per thread and skips a row group
  whose min/max statistics exclude a filter. A file written as one 1,000,000-row group is read
  by one thread and never skipped; files are written in groups of ``ROW_GROUP_ROWS`` rows
  (DuckDB's own row-group size) with statistics.
* **Order.** Statistics only exclude something when a group covers a narrow range of the
  filtered column. The large entities are sorted on what policies filter them by
  (``SORT_KEYS``): usage by month, then line; calls and recordings by start time. A
  date-window policy then reads only the groups of its window. Charges keep their collected
  order: policies sum their floating-point amounts, and a sum's last digits depend on the
  order it adds in, so a new order would change evidence like ``itemised`` in its 12th digit.

The layout changes no value and no row, only their order in the file: every policy's SQL orders
its own result, so findings are identical whatever the order (the bench's digest checks it).

Two entry points: :func:`write_table` for a table held in memory, and
:func:`rewrite_parquet` for a file written in pieces (a streamed collect): it sorts the file
with DuckDB under a memory limit, spilling to a temporary folder, and keeps its Arrow schema.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

#: Rows per Parquet row group: DuckDB's row-group size, its unit of parallel scanning.
ROW_GROUP_ROWS = 122_880
#: The columns each large entity is sorted on, most significant first: the columns policies
#: filter it by (dates and periods), then its key, so the order is total (DuckDB's sort is not
#: stable) and a file rewritten twice is the same. Entities not listed keep the order they were
#: collected in.
SORT_KEYS: dict[str, tuple[str, ...]] = {
    "usage": ("period", "line_id"),
    "calls": ("started_at", "id"),
    "recordings": ("started_at", "id"),
    "device_apps": ("device_id", "app_id"),
}
#: The codec snapshot files are written with (engine/snapshots.py's SNAPSHOT_COMPRESSION).
COMPRESSION = "lz4"


def sort_keys(entity: str, columns: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The entity's sort keys that the file has (a source may not provide every field)."""
    present = set(columns)
    return tuple(k for k in SORT_KEYS.get(entity, ()) if k in present)


def lay_out(entity: str, table: pa.Table) -> pa.Table:
    """The table in its snapshot order (a stable sort: rows equal on the keys keep their
    order); unchanged for an entity without sort keys."""
    keys = sort_keys(entity, table.column_names)
    if not keys or table.num_rows < 2:
        return table
    return table.sort_by([(k, "ascending") for k in keys])


def write_table(entity: str, table: pa.Table, path: Path, compression: str = COMPRESSION,
                row_group_rows: int = ROW_GROUP_ROWS) -> None:
    """Write an entity's table as a snapshot file: sorted, in row groups of ``row_group_rows``,
    with statistics."""
    pq.write_table(lay_out(entity, table), path, compression=compression,
                   row_group_size=row_group_rows, write_statistics=True)


def rewrite_parquet(entity: str, path: Path, *, memory_limit: str = "1GB",
                    temp_directory: Path | None = None, compression: str = COMPRESSION,
                    row_group_rows: int = ROW_GROUP_ROWS) -> None:
    """Rewrite a Parquet file in its snapshot layout, in place (atomically: a sibling file
    renamed over it). DuckDB sorts under ``memory_limit``, spilling to ``temp_directory``, and
    the rows stream out in batches, so memory does not grow with the file; the file keeps its
    own Arrow schema. A file of an entity without sort keys is only regrouped."""
    import duckdb

    from .sqltext import ident, literal

    schema = pq.read_schema(path)
    keys = sort_keys(entity, schema.names)
    target = path.with_name(f".{path.name}.layout")
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"SET memory_limit = {literal(memory_limit)}")
        con.execute("SET TimeZone = 'UTC'")
        if temp_directory is not None:
            con.execute(f"SET temp_directory = {literal(str(temp_directory))}")
        sql = f"SELECT * FROM read_parquet({literal(str(path))})"
        if keys:
            sql += " ORDER BY " + ", ".join(ident(k) for k in keys)
        reader = con.sql(sql).to_arrow_reader(row_group_rows)
        with pq.ParquetWriter(target, schema, compression=compression,
                              write_statistics=True) as writer:
            # Whatever the size of DuckDB's batches, every group but the last is full.
            pending = pa.Table.from_batches([], schema=reader.schema)
            for batch in reader:
                pending = pa.concat_tables([pending, pa.Table.from_batches([batch])])
                full = pending.num_rows - pending.num_rows % row_group_rows
                if full:
                    writer.write_table(pending.slice(0, full).cast(schema),
                                       row_group_size=row_group_rows)
                    pending = pending.slice(full)
            if pending.num_rows:
                writer.write_table(pending.cast(schema), row_group_size=row_group_rows)
        os.replace(target, path)
    finally:
        con.close()
        target.unlink(missing_ok=True)

