"""Collect: run each source's collector, validate its records, write a snapshot.

A collect either writes a whole new snapshot or nothing: any source that fails
aborts the run with its error and the previous snapshot stays the latest.
With ``only=[...]`` the named sources are collected again and the other
sources' rows are carried forward from the latest snapshot.

Streamed batches (large call detail records) are validated chunk by chunk and
their rows kept in Parquet files on disk until the snapshot is written, so a
collect's memory does not grow with the size of such a source.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .collector_api import RawBatch, RawReject, SourceData, check_settings, collectors
from .config import Config
from .errors import CollectError, ConfigError, DialtoneError, did_you_mean
from .estate.model import load_model
from .snapshots import SOURCE_COLUMN, Snapshot, SnapshotStore, iter_parquet
from .validate import REJECT_SCHEMA, find_duplicates, reject_duplicates, validate_batch

#: Where stateful collectors keep what they remember between runs, per source.
STATE_DIR = "collector-state"
#: Memory DuckDB may use while checking streamed entities; beyond it, it spills to disk.
STREAM_MEMORY_LIMIT = "512MB"
#: … and while looking for duplicate keys among all their rows (a hash table that would
#: otherwise grow with the number of rows).
DUPLICATES_MEMORY_LIMIT = "128MB"


def settings_fingerprint(settings: dict, secrets: tuple[str, ...]) -> str:
    """A hash of a source's settings, secrets left out, to tell when they changed."""
    public = {k: v for k, v in settings.items() if k not in secrets}
    return "sha256:" + hashlib.sha256(
        json.dumps(public, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class CollectResult:
    snapshot: Snapshot
    rows: dict[str, int]
    rejects: int
    warnings: list[str] = field(default_factory=list)
    by_source: dict[str, dict] = field(default_factory=dict)


def _raw_rejects(source: str, rejects: list[RawReject]) -> pa.Table:
    return pa.table({
        "source": [source] * len(rejects),
        "entity": [r.entity for r in rejects],
        "origin": [r.origin for r in rejects],
        "row": [r.row for r in rejects],
        "field": [r.field for r in rejects],
        "value": [r.value for r in rejects],
        "reason": [r.reason for r in rejects],
    }, schema=REJECT_SCHEMA)


def run_collectors(config: Config, names: list[str]) -> dict[str, tuple[SourceData, dict]]:
    out = {}
    for name in names:
        src = config.sources[name]
        cls = collectors.get(src.collector)
        check_settings(cls, name, src.settings)
        kwargs = {}
        if getattr(cls, "stateful", False):
            kwargs["state_dir"] = config.data_dir / STATE_DIR / name
        try:
            data = cls(name, src.settings, config.base_dir, **kwargs).collect()
        except DialtoneError:
            raise
        except OSError as exc:
            raise CollectError(f"source '{name}': {exc}") from None
        meta = {
            "collector": src.collector,
            "settings_fingerprint": settings_fingerprint(
                src.settings, tuple(getattr(cls, "secret_settings", ()))),
            "inputs": dict(sorted(data.inputs.items())),
        }
        out[name] = (data, meta)
    return out


def collect(config: Config, only: list[str] | None = None, as_of: dt.date | None = None,
            now: dt.datetime | None = None) -> CollectResult:
    if not config.sources:
        raise ConfigError("No sources configured: add a 'sources:' section to the configuration.")
    names = list(config.sources)
    if only:
        for n in only:
            if n not in config.sources:
                raise ConfigError(f"Unknown source '{n}'.{did_you_mean(n, config.sources)}"
                                  f" Configured: {', '.join(names)}.")
        names = [n for n in names if n in only]
    model = load_model()
    store = SnapshotStore(config.data_dir)
    now = now or dt.datetime.now(dt.UTC)
    collected = run_collectors(config, names)

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    streamed = {b.entity for data, _ in collected.values() for b in data.batches if b.chunks is not None}
    work = store.root / f".work-{uuid.uuid4().hex[:12]}"
    if streamed:
        (work / "duckdb").mkdir(parents=True)
        con.execute(f"SET temp_directory = '{work / 'duckdb'}'")
        con.execute(f"SET memory_limit = '{STREAM_MEMORY_LIMIT}'")
        con.execute("SET enable_progress_bar = false")
    try:
        return _collect(config, names, collected, con, store, model, streamed, work, only, as_of, now)
    finally:
        con.close()
        shutil.rmtree(work, ignore_errors=True)


def _collect(config, names, collected, con, store, model, streamed, work, only, as_of, now):
    per_entity: dict[str, list[pa.Table]] = {}
    streams: dict[str, _Streamed] = {}
    reject_tables: list[pa.Table] = []
    sources_meta: dict[str, dict] = {}
    warnings: list[str] = []
    batch_index = 0
    for name, (data, meta) in collected.items():
        src_rejects = [_raw_rejects(name, data.rejects)]
        for batch in data.batches:
            entity = model.entity(batch.entity)
            try:
                for table in batch.tables():
                    part = RawBatch(batch.entity, table, batch.origin, batch.options)
                    is_streamed = entity.name in streamed
                    result = validate_batch(con, entity, part, name, batch_index,
                                            with_origin=not is_streamed)
                    if is_streamed:
                        if entity.name not in streams:
                            streams[entity.name] = _Streamed(work, entity)
                        streams[entity.name].write(result.table, batch_index, batch.origin)
                    else:
                        per_entity.setdefault(entity.name, []).append(result.table)
                    src_rejects.append(result.rejects)
            except OSError as exc:
                raise CollectError(f"source '{name}': {exc}") from None
            batch_index += 1
        # A streamed collector may add rejects and warnings while its chunks are read.
        src_rejects[0] = _raw_rejects(name, data.rejects)
        warnings += [f"{name}: {w}" for w in data.warnings]
        reject_tables += src_rejects
        sources_meta[name] = {**meta, "collected_at": now.strftime("%Y-%m-%dT%H:%M:%SZ")}

    final: dict[str, pa.Table | Path] = {}
    for entity_name, tables in per_entity.items():
        good, dups = reject_duplicates(con, model.entity(entity_name), pa.concat_tables(tables))
        final[entity_name] = good
        reject_tables.append(dups)

    previous = store.latest()
    carry = previous if (only and previous is not None) else None
    for entity_name, stream in streams.items():
        final[entity_name], dups = stream.finish(con, carry, names)
        reject_tables.append(dups)
    if carry is not None:
        _carry_forward(carry, names, final, sources_meta, model, work)

    rejects = pa.concat_tables(reject_tables) if reject_tables else REJECT_SCHEMA.empty_table()
    rejects = rejects.sort_by([("source", "ascending"), ("entity", "ascending"),
                               ("origin", "ascending"), ("row", "ascending"),
                               ("field", "ascending")])
    counts = {entity: _source_counts(value) for entity, value in final.items()}
    for name in names:
        sources_meta[name]["rows"] = {
            entity: n for entity in sorted(final) if (n := counts[entity].get(name, 0))}
        sources_meta[name]["rejects"] = pc.sum(pc.equal(rejects.column("source"), name)).as_py() or 0
    snapshot = store.write(final, as_of=as_of or now.date(), sources=sources_meta,
                           rejects=rejects, now=now, model=model)
    return CollectResult(
        snapshot=snapshot,
        rows={k: sum(c.values()) for k, c in sorted(counts.items())},
        rejects=rejects.num_rows,
        warnings=warnings,
        by_source=sources_meta,
    )


#: Rows per piece when streaming Parquet files through memory.
STREAM_ROWS = 262_144


class _Streamed:
    """A streamed entity: validated rows go straight into its final Parquet file, and its
    keys, with where each row came from, into a second file for the duplicate check."""

    def __init__(self, work: Path, entity):
        self.entity = entity
        self.schema = entity.arrow_schema.append(pa.field(SOURCE_COLUMN, pa.string()))
        self.path = work / f"{entity.name}.parquet"
        self.keys_path = work / f"{entity.name}.keys.parquet"
        self.writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        self.keys_writer: pq.ParquetWriter | None = None
        self.origins: dict[int, str] = {}

    def write(self, table: pa.Table, batch_index: int, origin: str) -> None:
        if not table.num_rows:
            return
        self.origins[batch_index] = origin
        self.writer.write_table(table.select(self.schema.names))
        keys = table.select([*self.entity.key, SOURCE_COLUMN, "__batch", "__row"])
        if self.keys_writer is None:
            self.keys_writer = pq.ParquetWriter(self.keys_path, keys.schema, compression="lz4")
        self.keys_writer.write_table(keys)

    def finish(self, con, previous: Snapshot | None, collected: list[str]) -> tuple[Path, pa.Table]:
        """Close the file, leaving out later duplicates; add the rows carried from ``previous``."""
        if self.keys_writer is not None:
            self.keys_writer.close()
            con.execute(f"SET memory_limit = '{DUPLICATES_MEMORY_LIMIT}'")
            try:
                drop, dups = find_duplicates(con, self.entity, self.keys_path, self.origins)
            finally:
                con.execute(f"SET memory_limit = '{STREAM_MEMORY_LIMIT}'")
        else:
            drop, dups = pa.array([], pa.int64()), REJECT_SCHEMA.empty_table()
        carried = (_previous_rows(previous, self.entity.name, collected)
                   if previous is not None and self.entity.name in previous.entities else ())
        if not len(drop):
            for table in carried:
                self.writer.write_table(_conform(table, self.schema))
            self.writer.close()
            return self.path, dups
        self.writer.close()
        rewritten = self.path.with_suffix(".dedup.parquet")
        with pq.ParquetWriter(rewritten, self.schema, compression="zstd") as writer:
            offset = 0
            for table in iter_parquet(self.path, STREAM_ROWS):
                ordinals = pa.array(range(offset, offset + table.num_rows), pa.int64())
                offset += table.num_rows
                writer.write_table(table.filter(pc.invert(pc.is_in(ordinals, drop))))
            for table in carried:
                writer.write_table(_conform(table, self.schema))
        self.path.unlink()
        return rewritten, dups


def _previous_rows(previous: Snapshot, entity_name: str, collected: list[str]):
    """The previous snapshot's rows of an entity from sources not collected now, piece by piece."""
    path = previous.path / previous.entities[entity_name]["file"]
    if SOURCE_COLUMN not in pq.ParquetFile(path).schema_arrow.names:
        return
    for table in iter_parquet(path, STREAM_ROWS):
        kept = table.filter(pc.invert(pc.is_in(table.column(SOURCE_COLUMN), pa.array(collected))))
        if kept.num_rows:
            yield kept


def _source_counts(value: pa.Table | Path) -> dict[str, int]:
    """Rows per source of a final entity table (in memory or a Parquet file)."""
    tables = ([value] if isinstance(value, pa.Table) else
              iter_parquet(value, STREAM_ROWS, columns=[SOURCE_COLUMN]))
    counts: dict[str, int] = {}
    for table in tables:
        if SOURCE_COLUMN not in table.column_names:
            counts[""] = counts.get("", 0) + table.num_rows
            continue
        for item in pc.value_counts(table.column(SOURCE_COLUMN)).to_pylist():
            key = item["values"] or ""
            counts[key] = counts.get(key, 0) + item["counts"]
    return counts


def _carry_forward(previous: Snapshot, collected: list[str], final: dict[str, pa.Table | Path],
                   sources_meta: dict[str, dict], model, work: Path) -> None:
    """Keep the other sources' rows from the previous snapshot, marked as carried.

    Streamed entities (already files in ``final``) got theirs when written; an
    entity no collected source has is copied piece by piece, so a large entity
    from another source is never loaded whole.
    """
    for src, meta in previous.manifest["sources"].items():
        if src in collected:
            continue
        sources_meta[src] = {**meta, "carried_from": meta.get("carried_from", previous.id)}
    for entity_name in previous.entities:
        current = final.get(entity_name)
        if isinstance(current, Path):
            continue
        schema = model.entity(entity_name).arrow_schema.append(pa.field(SOURCE_COLUMN, pa.string()))
        pf = pq.ParquetFile(previous.path / previous.entities[entity_name]["file"])
        if SOURCE_COLUMN not in pf.schema_arrow.names:
            continue
        if current is not None and pf.metadata.num_rows <= STREAM_ROWS:
            kept = [_conform(t, schema) for t in _previous_rows(previous, entity_name, collected)]
            if kept:
                final[entity_name] = pa.concat_tables([current, *kept])
            continue
        path = work / f"{entity_name}.parquet"
        work.mkdir(parents=True, exist_ok=True)
        with pq.ParquetWriter(path, schema, compression="zstd") as writer:
            if current is not None:
                writer.write_table(_conform(current, schema))
            for kept in _previous_rows(previous, entity_name, collected):
                writer.write_table(_conform(kept, schema))
        final[entity_name] = path


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Reorder/extend a table to ``schema``; fields it lacks become NULL."""
    cols = [table.column(f.name).cast(f.type) if f.name in table.column_names
            else pa.nulls(table.num_rows, f.type) for f in schema]
    return pa.table(cols, schema=schema)
