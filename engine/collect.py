"""Collect: run each source's collector, validate its records, write a snapshot.

A collect either writes a whole new snapshot or nothing: any source that fails
aborts the run with its error and the previous snapshot stays the latest.
With ``only=[...]`` the named sources are collected again and the other
sources' rows are carried forward from the latest snapshot.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from .collector_api import RawReject, SourceData, check_settings, collectors
from .config import Config
from .errors import CollectError, ConfigError, DialtoneError, did_you_mean
from .estate.model import load_model
from .snapshots import SOURCE_COLUMN, Snapshot, SnapshotStore
from .validate import REJECT_SCHEMA, reject_duplicates, validate_batch


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
        try:
            data = cls(name, src.settings, config.base_dir).collect()
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
    per_entity: dict[str, list[pa.Table]] = {}
    reject_tables: list[pa.Table] = []
    sources_meta: dict[str, dict] = {}
    warnings: list[str] = []
    batch_index = 0
    for name, (data, meta) in collected.items():
        warnings += [f"{name}: {w}" for w in data.warnings]
        src_rejects = [_raw_rejects(name, data.rejects)]
        for batch in data.batches:
            entity = model.entity(batch.entity)
            result = validate_batch(con, entity, batch, name, batch_index)
            batch_index += 1
            per_entity.setdefault(entity.name, []).append(result.table)
            src_rejects.append(result.rejects)
        reject_tables += src_rejects
        sources_meta[name] = {**meta, "collected_at": now.strftime("%Y-%m-%dT%H:%M:%SZ")}

    final: dict[str, pa.Table] = {}
    for entity_name, tables in per_entity.items():
        good, dups = reject_duplicates(con, model.entity(entity_name), pa.concat_tables(tables))
        final[entity_name] = good
        reject_tables.append(dups)

    previous = store.latest()
    if only and previous is not None:
        _carry_forward(previous, names, final, sources_meta, model)

    rejects = pa.concat_tables(reject_tables) if reject_tables else REJECT_SCHEMA.empty_table()
    rejects = rejects.sort_by([("source", "ascending"), ("entity", "ascending"),
                               ("origin", "ascending"), ("row", "ascending"),
                               ("field", "ascending")])
    for name in names:
        sources_meta[name]["rows"] = {
            entity: n for entity, table in sorted(final.items())
            if (n := pc.sum(pc.equal(table.column(SOURCE_COLUMN), name)).as_py() or 0)}
        sources_meta[name]["rejects"] = pc.sum(pc.equal(rejects.column("source"), name)).as_py() or 0
    snapshot = store.write(final, as_of=as_of or now.date(), sources=sources_meta,
                           rejects=rejects, now=now, model=model)
    return CollectResult(
        snapshot=snapshot,
        rows={k: v.num_rows for k, v in sorted(final.items())},
        rejects=rejects.num_rows,
        warnings=warnings,
        by_source=sources_meta,
    )


def _carry_forward(previous: Snapshot, collected: list[str], final: dict[str, pa.Table],
                   sources_meta: dict[str, dict], model) -> None:
    """Keep the other sources' rows from the previous snapshot, marked as carried."""
    import pyarrow.parquet as pq

    for src, meta in previous.manifest["sources"].items():
        if src in collected:
            continue
        sources_meta[src] = {**meta, "carried_from": meta.get("carried_from", previous.id)}
    for entity_name, info in previous.entities.items():
        table = pq.read_table(previous.path / info["file"])
        if SOURCE_COLUMN not in table.column_names:
            continue
        mask = pc.invert(pc.is_in(table.column(SOURCE_COLUMN), pa.array(collected)))
        kept = table.filter(mask)
        if not kept.num_rows and entity_name in final:
            continue
        schema = model.entity(entity_name).arrow_schema.append(pa.field(SOURCE_COLUMN, pa.string()))
        kept = _conform(kept, schema)
        final[entity_name] = (pa.concat_tables([final[entity_name], kept])
                              if entity_name in final else kept)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Reorder/extend a table to ``schema``; fields it lacks become NULL."""
    cols = [table.column(f.name).cast(f.type) if f.name in table.column_names
            else pa.nulls(table.num_rows, f.type) for f in schema]
    return pa.table(cols, schema=schema)
