"""Collect: run each source's collector, validate its records, write a snapshot.

A snapshot is written whole or not at all. A source that fails while it is read
(a file gone, a service down) does not stop the others: its rows are carried
forward from the latest snapshot, marked stale with the error and since when it
has been failing, and policies that read only such data turn to ``error`` once
it is older than the source's ``max_age`` (engine/freshness.py). A collect
writes nothing when a setting is invalid or when no source could be read.
With ``only=[...]`` the named sources are collected again and the other
sources' rows are carried forward from the latest snapshot.

References to people, lines and devices made by other keys (e-mail, employee
number, phone number, IMEI) are resolved to ids before the snapshot is written
(engine/identity.py); what cannot be resolved is reported, never dropped.

The store's disputes are written into the snapshot's ``disputes`` entity by the built-in
source ``dialtone-disputes`` (engine/disputes/snapshot_source.py), so that policies judge
them from the snapshot alone; it is read afresh on every collect, never carried forward, and a
store that is absent, empty or unreadable never stops a collect.

Streamed batches (large call detail records) are validated chunk by chunk and
their rows kept in Parquet files on disk until the snapshot is written, so a
collect's memory does not grow with the size of such a source.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import logging
import queue
import shutil
import threading
import time
import traceback
import typing as t
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import completeness
from .collector_api import RawBatch, RawReject, SourceData, check_settings, collectors
from .config import Config
from .errors import CollectError, ConfigError, DialtoneError, did_you_mean
from .estate.model import load_model
from .identity import IdentityReport, resolve_references
from .snapshots import (
    SNAPSHOT_COMPRESSION,
    SOURCE_COLUMN,
    Snapshot,
    SnapshotStore,
    clean_abandoned,
    iter_parquet,
    new_scratch_dir,
)
from .sqltext import ident, literal
from .validate import (
    REJECT_SCHEMA,
    failed_fields_sql,
    find_duplicates,
    reject_duplicates,
    validate_batch,
)

log = logging.getLogger(__name__)

#: Where stateful collectors keep what they remember between runs, per source.
STATE_DIR = "collector-state"
#: Memory DuckDB may use while looking for duplicate keys among all of a streamed entity's rows
#: (a hash table that would otherwise grow with the number of rows); the rest of the collect
#: has ``collect.memory_limit``.
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
    #: Sources that failed this time, with why; their last good rows were carried forward.
    failures: dict[str, str] = field(default_factory=dict)
    #: Per source: seconds its collector and validation took.
    seconds: dict[str, float] = field(default_factory=dict)
    #: Unresolved and ambiguous references, per source (see engine/identity.py).
    identity: dict[str, dict] = field(default_factory=dict)


#: Progress callback: (source, what happened, rows so far). See ``collect``.
Progress = t.Callable[[str, str, int], None]


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


def _failure(name: str, exc: BaseException) -> str:
    text = str(exc)
    return text if text.startswith(f"source '{name}'") else f"source '{name}': {text}"


def _unexpected(name: str, exc: Exception) -> str:
    """The failure of a source whose collector broke in a way nobody foresaw (a bug, or a
    service's answer it does not handle): where it broke to the log, one line to the run. Both
    name the error's type only: its text, unforeseen too, may hold a URL with its credentials,
    the run's record and the manifest are shown to every role, and secrets are never logged."""
    log.error("source '%s': the collector failed unexpectedly (%s), at:\n%s", name, type(exc).__name__,
              "".join(traceback.format_tb(exc.__traceback__)).rstrip())
    return (f"source '{name}': the collector failed unexpectedly ({type(exc).__name__}); the log "
            "has the details")


def source_meta(config: Config, name: str) -> dict:
    """What the manifest records of a source before it is read: collector and settings."""
    src = config.sources[name]
    cls = collectors.get(src.collector)
    meta = {
        "collector": src.collector,
        "settings_fingerprint": settings_fingerprint(
            src.settings, tuple(getattr(cls, "secret_settings", ()))),
    }
    if src.max_age is not None:
        meta["max_age_seconds"] = int(src.max_age.total_seconds())
    return meta


def run_collectors(config: Config, names: list[str], failures: dict[str, str],
                   progress: Progress | None = None,
                   seconds: dict[str, float] | None = None) -> dict[str, tuple[SourceData, dict]]:
    """Run each source's collector. Invalid settings stop everything before any source is
    read; a source that fails while collecting is recorded in ``failures`` and skipped."""
    for name in names:
        src = config.sources[name]
        check_settings(collectors.get(src.collector), name, src.settings)
    out = {}
    for name in names:
        src = config.sources[name]
        cls = collectors.get(src.collector)
        kwargs = {}
        if getattr(cls, "stateful", False):
            from .store.db import make_private_dir

            make_private_dir(config.data_dir / STATE_DIR)   # what a collector keeps is private too
            kwargs["state_dir"] = config.data_dir / STATE_DIR / name
        if progress:
            progress(name, "reading", 0)
        started = time.perf_counter()
        try:
            data = cls(name, src.settings, config.base_dir, **kwargs).collect()
        except ConfigError:
            raise  # a mistake in the configuration stops the collect: it will not fix itself
        except (DialtoneError, OSError) as exc:
            failures[name] = _failure(name, exc)
            if progress:
                progress(name, "failed", 0)
            continue
        except MemoryError:
            raise
        except Exception as exc:   # one collector's defect must not cost every other source
            failures[name] = _unexpected(name, exc)
            if progress:
                progress(name, "failed", 0)
            continue
        finally:
            if seconds is not None:
                seconds[name] = time.perf_counter() - started
        meta = {**source_meta(config, name), "inputs": dict(sorted(data.inputs.items()))}
        out[name] = (data, meta)
    return out


def collect(config: Config, only: list[str] | None = None, as_of: dt.date | None = None,
            now: dt.datetime | None = None, progress: Progress | None = None,
            accept_drop: t.Collection[str] = ()) -> CollectResult:
    """Collect the configured sources (or ``only`` these) into a new snapshot.

    A source that fails, or that is not whole (engine/completeness.py: files
    changed while read, a last line cut short, a key column missing, far fewer
    rows than the previous snapshot had), keeps its rows from the latest
    snapshot, marked stale with the reason; the collect fails (and writes
    nothing) only when no source could be read, or when a setting is invalid.
    The sources named in ``accept_drop`` pass the row-count band this once (a
    real, large drop). ``progress`` is told, per source, when it starts, how
    many rows have been read and when it ends.
    """
    names = _selected_sources(config, only, accept_drop)
    return _Collect(config, names, as_of, now, progress, set(accept_drop)).run()


def _selected_sources(config: Config, only: list[str] | None,
                      accept_drop: t.Collection[str]) -> list[str]:
    """The sources to collect now, in the configuration's order; unknown names are an error."""
    if not config.sources:
        raise ConfigError("No sources configured: add a 'sources:' section to the configuration.")
    names = list(config.sources)
    if only:
        for n in only:
            if n not in config.sources:
                raise ConfigError(f"Unknown source '{n}'.{did_you_mean(n, config.sources)}"
                                  f" Configured: {', '.join(names)}.")
        names = [n for n in names if n in only]
    for n in accept_drop:
        if n not in config.sources:
            raise ConfigError(f"--accept-drop: unknown source '{n}'.{did_you_mean(n, config.sources)}")
    return names


class _Collect:
    """One collect, phase by phase: ``read`` the sources, ``validate`` their rows,
    ``deduplicate`` keys, ``carry_forward`` the rows of sources not read now,
    ``resolve_identities``, ``write`` the snapshot. ``run`` calls them in that order.

    What the phases share lives on the object: the DuckDB connection and the scratch
    folder (both gone when ``run`` returns), the previous snapshot, the validated rows
    per entity (``per_entity`` in memory, ``streams`` on disk, then ``final``), the
    rejects, and the manifest's entry per source (``sources_meta``).
    """

    def __init__(self, config: Config, names: list[str], as_of: dt.date | None,
                 now: dt.datetime | None, progress: Progress | None, accept_drop: set[str]):
        self.config = config
        self.names = names
        self.spill: Path | None = None
        self.as_of = as_of
        self.progress = progress
        self.accept_drop = accept_drop
        self.model = load_model()
        self.store = SnapshotStore(config.data_dir)
        self.store.clean_abandoned()
        self.now = now or dt.datetime.now(dt.UTC)
        self.failures: dict[str, str] = {}
        self.seconds: dict[str, float] = {}
        self.previous: Snapshot | None = None
        self.per_entity: dict[str, list[pa.Table]] = {}
        self.streams: dict[str, _Streamed] = {}
        self.reject_tables: list[pa.Table] = []
        #: Per (source, entity): the rows the source listed but could not read whole
        #: (validate.Validated.unread).
        self.unread: dict[tuple[str, str], list[pa.Table]] = {}
        self.sources_meta: dict[str, dict] = {}
        self.warnings: list[str] = []
        self.batch_index = 0
        #: The sources read now (the others' rows, if any, are carried forward).
        self.fresh: list[str] = []
        #: The sources whose rows the previous snapshot gives: configured, not read now.
        self.keep: set[str] = set()
        #: Each entity's rows for the snapshot: a table, or a Parquet file in ``work``.
        self.final: dict[str, pa.Table | Path] = {}
        #: The built-in source ``dialtone-disputes`` (engine/disputes/snapshot_source.py).
        self.builtin: tuple[SourceData, dict] | None = None

    def run(self) -> CollectResult:
        collected = self.read()
        self.con = self.work = None
        try:
            self._open(collected)
            self.previous = self.store.latest()
            self.validate(collected)
            self.deduplicate()
            self.carry_forward()
            self.keep_unreadable_rows()
            identity = self.resolve_identities()
            return self.write(identity)
        finally:
            for stream in self.streams.values():
                stream.close()
            if self.con is not None:
                self.con.close()
            if self.work is not None:
                shutil.rmtree(self.work, ignore_errors=True)
            if self.spill is not None:
                shutil.rmtree(self.spill, ignore_errors=True)

    def _open(self, collected: dict[str, tuple[SourceData, dict]]) -> None:
        """The DuckDB connection under ``collect.memory_limit``, and the folder it spills to
        (its own, in ``collect.temp_directory`` or the working folder)."""
        self.con = con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        self.streamed = {b.entity for data, _ in collected.values() for b in data.batches
                         if b.chunks is not None}
        self.work = work = self.store.scratch_dir("work")
        settings = self.config.collect
        if settings.temp_directory is not None:
            try:
                settings.temp_directory.mkdir(parents=True, exist_ok=True)
                clean_abandoned(settings.temp_directory)
                self.spill = new_scratch_dir(settings.temp_directory, "spill")
            except OSError as exc:
                raise ConfigError(f"collect.temp_directory: cannot use {settings.temp_directory}: "
                                  f"{exc.strerror or exc}") from None
        else:
            self.spill = work / "duckdb"
            self.spill.mkdir(parents=True)
        con.execute(f"SET temp_directory = {literal(str(self.spill))}")
        con.execute(f"SET memory_limit = {literal(settings.memory_limit)}")

    def read(self) -> dict[str, tuple[SourceData, dict]]:
        """Run each source's collector (a streamed batch is read later, as it is validated),
        and read the store's disputes (the built-in source ``dialtone-disputes``)."""
        from .disputes import snapshot_source

        collected = run_collectors(self.config, self.names, self.failures, self.progress, self.seconds)
        # No settings: the fingerprint only says which built-in this is, like a source's.
        self.builtin = snapshot_source.read(
            self.config, self.now, settings_fingerprint({"builtin": snapshot_source.SOURCE}, ()))
        return collected

    def validate(self, collected: dict[str, tuple[SourceData, dict]]) -> None:
        """Validate each source's batches; a source that fails half-way is taken back out.
        Fails the collect when no source could be read; otherwise notes which sources' rows
        the previous snapshot is to give (``keep``)."""
        for name, (data, meta) in collected.items():
            self._validate_source(name, data, meta)
        self.fresh = [n for n in self.names if n not in self.failures]
        if not self.fresh:
            raise CollectError("no source could be collected, so no snapshot was written (the "
                               "latest one is unchanged):\n  " + "\n  ".join(self.failures.values()))
        previous = self.previous
        self.keep = ((set(previous.manifest["sources"]) & set(self.config.sources)) - set(self.fresh)
                     if previous else set())
        self._validate_builtin()

    def _validate_builtin(self) -> None:
        """The store's disputes, validated like a source's rows; never carried forward (the
        store is read on every collect) and never a reason for the collect to fail."""
        if self.builtin is None:
            return
        from .disputes.snapshot_source import SOURCE

        data, meta = self.builtin
        if meta.get("status") != "failed":
            self._validate_source(SOURCE, data, meta)
            if SOURCE not in self.failures:
                self.fresh.append(SOURCE)
                return
            error = self.failures.pop(SOURCE)
            meta = {**meta, "status": "failed", "error": error, "collected_at": None, "rows": {},
                    "rejects": 0, "failed_at": self.now.strftime("%Y-%m-%dT%H:%M:%SZ")}
            data = SourceData(warnings=[error])
        self.sources_meta[SOURCE] = meta
        self.warnings += data.warnings

    def _validate_source(self, name: str, data: SourceData, meta: dict) -> None:
        """Validate one source's batches chunk by chunk, its rows kept in memory or, for a
        streamed entity, on disk; check it is whole (completeness.py)."""
        streamed = self.streamed
        per_entity, streams, progress = self.per_entity, self.streams, self.progress
        src_rejects = [_raw_rejects(name, data.rejects)]
        # Where this source's rows start, to take them back out if it fails half-way.
        marks = ({e: len(ts) for e, ts in per_entity.items()},
                 {e: s.rows for e, s in streams.items()})
        read = 0
        valid: dict[str, int] = {}
        listed: dict[str, int] = {}     # rows read, valid or not
        filled: dict[str, dict[str, int]] = {}   # values written per declared column
        unread: dict[str, list[pa.Table]] = {}
        started = time.perf_counter()
        try:
            for batch in data.batches:
                entity = self.model.entity(batch.entity)
                # Closed however the loop ends (a read-ahead thread stopped, a collector's files
                # and spill files let go), not whenever the generator is collected.
                with closing(batch.tables() if batch.chunks is None
                             else _read_ahead(batch.tables())) as tables:
                    for table in _validation_pieces(tables):
                        _require_key_columns(entity, table, batch.origin)
                        part = RawBatch(batch.entity, table, batch.origin, batch.options)
                        is_streamed = entity.name in streamed
                        result = validate_batch(self.con, entity, part, name, self.batch_index,
                                                with_origin=not is_streamed)
                        if is_streamed:
                            if entity.name not in streams:
                                streams[entity.name] = _Streamed(self.work, entity)
                            streams[entity.name].write(result.table, self.batch_index, batch.origin)
                        else:
                            per_entity.setdefault(entity.name, []).append(result.table)
                        src_rejects.append(result.rejects)
                        if result.unread is not None:
                            unread.setdefault(entity.name, []).append(result.unread)
                        valid[entity.name] = valid.get(entity.name, 0) + result.table.num_rows
                        listed[entity.name] = listed.get(entity.name, 0) + table.num_rows
                        counts = filled.setdefault(entity.name, {})
                        for f in data.columns.get(entity.name, ()):
                            if f in table.column_names:
                                counts[f] = counts.get(f, 0) + _written(table.column(f))
                        read += table.num_rows
                        if progress:
                            progress(name, "reading", read)
                self.batch_index += 1
            # The source's last pieces are encoded in the writers' threads: wait for them here,
            # before the source counts as collected (a failed write ends the collect, see flush).
            for stream in streams.values():
                stream.flush()
            completeness.unchanged(data.watched)
            if name in self.config.sources:   # the store's disputes have no band to keep
                # An entity without rows now (an empty file, no header) declares no columns.
                declared = {e: c for e, c in data.columns.items() if listed.get(e)}
                meta["filled"] = {e: dict(sorted(c.items())) for e, c in sorted(filled.items()) if c}
                meta.update(_check_band(name, valid, declared, meta["settings_fingerprint"],
                                        self.previous, self.config.sources[name].completeness,
                                        name in self.accept_drop, meta["filled"]))
        except (ConfigError, WorkingFileError, MemoryError):
            raise
        except Exception as exc:
            # A collector that breaks unforeseen half-way through its stream (Exception beyond
            # DialtoneError and OSError) fails its own source, as a CollectError does.
            if isinstance(exc, (DialtoneError, OSError)):
                _raise_if_disk_full(exc)
            # The source's pieces still being written finish first: their error (the working
            # file is unusable) ends the collect, it is not this source's.
            for stream in streams.values():
                stream.flush()
            self.failures[name] = (_failure(name, exc) if isinstance(exc, (DialtoneError, OSError))
                                   else _unexpected(name, exc))
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
            for e, tables in per_entity.items():
                del tables[marks[0].get(e, 0):]
            for e, stream in streams.items():
                stream.discard(name, marks[1].get(e, 0))
            if progress:
                progress(name, "failed", read)
            return
        # A streamed collector may add rejects, warnings and input digests while its chunks are
        # read.
        meta["inputs"] = dict(sorted({**meta.get("inputs", {}), **data.inputs}.items()))
        src_rejects[0] = _raw_rejects(name, data.rejects)
        self.warnings += [f"{name}: {w}" for w in data.warnings]
        self.reject_tables += src_rejects
        for entity_name, rows in unread.items():
            self.unread[(name, entity_name)] = rows
        self.sources_meta[name] = {**meta, "status": "collected",
                                   "collected_at": self.now.strftime("%Y-%m-%dT%H:%M:%SZ")}
        if data.columns:
            self.sources_meta[name]["columns"] = {e: sorted(c) for e, c in sorted(data.columns.items())}
        if data.warnings:
            # What the source could not give (a field or report refused, a value unreadable) stays
            # with the snapshot for whoever audits it later, not only on the collect's screen.
            self.sources_meta[name]["warnings"] = list(data.warnings)
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
        if progress:
            progress(name, "done", read)

    def deduplicate(self) -> None:
        """Later rows with a key seen before become rejects. A streamed entity's file is
        closed here, with the rows of the kept sources carried from the previous snapshot."""
        for entity_name, tables in self.per_entity.items():
            if not tables:
                continue
            good, dups = reject_duplicates(self.con, self.model.entity(entity_name),
                                           pa.concat_tables(tables))
            self.final[entity_name] = good
            self.reject_tables.append(dups)
        carry = self.previous if self.keep else None
        for entity_name, stream in self.streams.items():
            kept = (lambda keys, failed, e=entity_name: self._kept(e, keys, failed)) \
                if any(e == entity_name for _, e in self.unread) else None
            self.final[entity_name], dups = stream.finish(self.con, carry, self.keep,
                                                               self.config.collect.memory_limit,
                                                               kept)
            self.reject_tables.append(dups)

    def carry_forward(self) -> None:
        """The rows of the sources not read now (failed, or not asked for) from the previous
        snapshot, and a manifest entry for every source; carried rows that share a key with
        rows read now become rejects as in a full collect."""
        if self.keep:
            carry = self.previous
            _carry_forward(carry, self.keep, self.final, self.sources_meta, self.model, self.work,
                           self.failures, self.now)
            self.reject_tables += _drop_carried_duplicates(
                self.con, self.final, self.model, self.fresh, list(self.config.sources), carry.id,
                self.work)
        for name in self.failures:
            if name not in self.sources_meta:  # never collected: nothing to carry
                self.sources_meta[name] = {
                    **source_meta(self.config, name), "status": "failed",
                    "error": self.failures[name],
                    "failed_at": self.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "collected_at": None, "rows": {}, "rejects": 0}
        for name, meta in self.sources_meta.items():  # today's limits apply to carried rows too
            limit = self.config.sources[name].max_age if name in self.config.sources else None
            meta.pop("max_age_seconds", None)
            if limit is not None:
                meta["max_age_seconds"] = int(limit.total_seconds())

    def keep_unreadable_rows(self) -> None:
        """A row the source still lists but could not read whole this time (rejected, its key
        read cleanly) is kept when the previous snapshot had it from the same source and no row
        read now has its key: what it read cleanly now, and for the fields it could not read,
        their values as last read (``_kept_rows``). Dropped, it would make every finding about
        it look fixed (an HR export whose leavers' dates changed format resolved their lines'
        findings) and its charges look like charges for a line not in the inventory. Streamed
        entities get theirs as their file is closed (``deduplicate``); the manifest counts them
        (``kept_rows``) and a warning says since when their unread fields are stale."""
        for entity_name in sorted({e for _, e in self.unread}):
            if entity_name in self.streams:
                continue
            for table in self._kept(entity_name, self.final.get(entity_name)):
                self.final[entity_name] = _appended(self.final.get(entity_name), table, self.work,
                                                    entity_name)

    def _kept(self, entity_name: str, now: pa.Table | Path | None,
              exclude: t.Collection[str] = ()) -> list[pa.Table]:
        """The kept rows of ``entity_name``, one table per source, noted in the manifest; ``now``:
        the rows (or a Parquet file of the keys) read now, whose keys are not kept; ``exclude``:
        sources whose rows in ``now`` are dropped (failed half-way)."""
        previous = self.previous
        if previous is None or entity_name not in previous.entities:
            return []
        out = []
        for (source, name), tables in sorted(self.unread.items()):
            if name != entity_name:
                continue
            before = previous.manifest["sources"].get(source) or {}
            since = ((before.get("kept_rows") or {}).get(entity_name) or {}).get("since") \
                or before.get("collected_at")
            limit = self.config.sources[source].max_age if source in self.config.sources else None
            kept = _kept_rows(self.con, previous, self.model.entity(entity_name), source,
                              pa.concat_tables(tables), now, exclude)
            if not kept.num_rows:
                continue
            meta = self.sources_meta[source]
            if limit is not None and since and _parse_utc(since) + limit < self.now:
                warning = (f"{kept.num_rows:,} {entity_name} row(s) it lists could not be read "
                           f"this time (see the rejects), and their fields as last read ({since}) "
                           "are older than the source's max_age: they are left out")
            else:
                out.append(kept)
                meta.setdefault("kept_rows", {})[entity_name] = {"rows": kept.num_rows,
                                                                 "since": since}
                warning = (f"{kept.num_rows:,} {entity_name} row(s) it lists could not be read "
                           f"whole this time (see the rejects): the fields that could not be read "
                           f"keep their values as last read (at the earliest {since}), so nothing "
                           "they showed looks fixed, and a change in those very fields is not "
                           "seen until the rejects are fixed")
            meta["warnings"] = [*meta.get("warnings", []), warning]
            self.warnings.append(f"{source}: {warning}")
        return out

    def resolve_identities(self) -> IdentityReport:
        """References by e-mail, employee number, phone number or IMEI resolved to ids
        (engine/identity.py); what is left is reported per source in the manifest."""
        identity = resolve_references(self.con, self.final, self.model, self.config.identity_keys,
                                      self.work)
        for name, meta in self.sources_meta.items():
            if name in identity.by_source:
                meta["identity"] = identity.by_source[name]
            else:
                meta.pop("identity", None)
        return identity

    def write(self, identity: IdentityReport) -> CollectResult:
        """Count each source's rows and rejects into the manifest and write the snapshot."""
        final, sources_meta = self.final, self.sources_meta
        reject_tables = self.reject_tables
        rejects = pa.concat_tables(reject_tables) if reject_tables else REJECT_SCHEMA.empty_table()
        rejects = rejects.sort_by([("source", "ascending"), ("entity", "ascending"),
                                   ("origin", "ascending"), ("row", "ascending"),
                                   ("field", "ascending")])
        counts = {entity: _source_counts(value) for entity, value in final.items()}
        for name in self.fresh:
            sources_meta[name]["rows"] = {
                entity: n for entity in sorted(final) if (n := counts[entity].get(name, 0))}
            sources_meta[name]["rejects"] = pc.sum(
                pc.equal(rejects.column("source"), name)).as_py() or 0
        snapshot = self.store.write(final, as_of=self.as_of or self.now.date(), sources=sources_meta,
                                    rejects=rejects, now=self.now, model=self.model,
                                    unresolved=identity.report, timezone=self.config.timezone)
        return CollectResult(
            snapshot=snapshot,
            rows={k: sum(c.values()) for k, c in sorted(counts.items())},
            rejects=rejects.num_rows,
            warnings=self.warnings,
            by_source=sources_meta,
            failures=self.failures,
            seconds=self.seconds,
            identity=identity.by_source,
        )


#: Streamed chunks are validated in pieces of about this size (Arrow bytes): DuckDB scans an
#: Arrow table with one thread per record batch, and each validation has a fixed cost, so
#: pieces of several chunks validate about twice as fast as the reader's small blocks
#: (16 MB: most of the gain; 32 MB saved a few per cent more and held about 100 MB more).
VALIDATE_PIECE_BYTES = 16 << 20


def _validation_pieces(tables: t.Iterable[pa.Table]) -> t.Iterator[pa.Table]:
    """Consecutive tables of the same columns joined into pieces of about
    ``VALIDATE_PIECE_BYTES`` (their record batches kept apart, nothing copied), and a table
    much larger than that cut into such pieces (slices, nothing copied): validating holds a
    few copies of its piece, so a collector that hands over one large table must not make
    that a few copies of the whole source."""
    group: list[pa.Table] = []
    size = 0
    for table in tables:
        if _too_large(table):
            if group:
                yield group[0] if len(group) == 1 else pa.concat_tables(group)
                group, size = [], 0
            rows = max(1, table.num_rows * VALIDATE_PIECE_BYTES // table.nbytes)
            for start in range(0, table.num_rows, rows):
                yield table.slice(start, rows)
            continue
        if group and (size >= VALIDATE_PIECE_BYTES or table.schema != group[0].schema):
            yield group[0] if len(group) == 1 else pa.concat_tables(group)
            group, size = [], 0
        group.append(table)
        size += table.nbytes
    if group:
        yield group[0] if len(group) == 1 else pa.concat_tables(group)


def _too_large(table: pa.Table) -> bool:
    return VALIDATE_PIECE_BYTES > 0 and table.num_rows > 1 and table.nbytes > 2 * VALIDATE_PIECE_BYTES


#: Chunks a streamed batch's reader may have ready ahead of the validation.
READ_AHEAD = 2


def _read_ahead(tables: t.Iterable[pa.Table], depth: int = READ_AHEAD) -> t.Iterator[pa.Table]:
    """``tables`` read in a thread of their own, up to ``depth`` ahead, in their order.

    Reading a streamed batch (parsing its file, putting numbers in E.164) and validating and
    writing what was read take turns otherwise, each leaving a core idle. The reader's error
    is raised here, where its table would have come; when the consumer stops early the reader
    stops after the chunk in hand, and it has always finished before this generator does."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(message: tuple[str, t.Any]) -> bool:
        while not stop.is_set():
            try:
                slots.put(message, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        chunks = None
        try:
            chunks = iter(tables)
            for table in chunks:
                if not put(("table", table)):
                    return
            put(("end", None))
        except BaseException as exc:  # handed to the consumer, which raises it
            put(("error", exc))
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    reader = threading.Thread(target=read, name="collect-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        reader.join()


def _require_key_columns(entity, table: pa.Table, origin: str) -> None:
    """A batch without its entity's key or required columns is not this entity's data (a
    renamed header): the source fails rather than every row becoming a reject."""
    if not table.num_rows:
        return
    missing = completeness.missing_key_columns(
        table.column_names, entity.key, tuple(f.name for f in entity.fields if f.required))
    if missing:
        present = [c for c in table.column_names if not c.startswith("__")]
        raise CollectError(
            f"{origin}: the column(s) {', '.join(missing)} of {entity.name} are missing"
            f" (found: {', '.join(present) or 'none'}); the source was not used")


def _written(column: pa.ChunkedArray) -> int:
    """How many cells of a raw column hold something (read or not: a value that failed its
    check was still written)."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return pc.sum(pc.greater(pc.utf8_length(column), 0)).as_py() or 0
    if pa.types.is_list(column.type):
        return pc.sum(pc.greater(pc.list_value_length(column), 0)).as_py() or 0
    return len(column) - column.null_count


def _check_band(name: str, valid: dict[str, int], columns: dict[str, set[str]], fingerprint: str,
                previous: Snapshot | None, rules: completeness.Completeness, accepted: bool,
                filled: dict[str, dict[str, int]] | None = None) -> dict:
    """Fail the source when its row counts fall outside the band of the previous snapshot's, or
    a column it delivered then is missing or empty now (unless its settings changed since: a
    mapping taken out of ``columns:`` is the user's choice); with ``accepted`` the drop passes
    and is recorded in the manifest instead."""
    before = (previous.manifest["sources"].get(name) if previous is not None else None) or {}
    problems = completeness.check_counts(valid, before.get("rows") or None, rules)
    if before.get("settings_fingerprint") == fingerprint:
        problems += completeness.check_columns(columns, before.get("columns"), filled,
                                               before.get("filled"), before.get("rows"))
    if not problems:
        return {}
    if accepted:
        return {"accepted_drop": problems}
    raise CollectError(
        f"source '{name}' looks incomplete: {'; '.join(problems)}. Its previous rows were "
        f"kept. If the drop is real, collect again with --accept-drop {name}")


#: errno values that mean the disk (or a file size limit) is full: not a source's fault.
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class WorkingFileError(CollectError):
    """The collect's own working files cannot be written: no source's fault, the collect ends."""


def _raise_if_disk_full(exc: BaseException) -> None:
    if isinstance(exc, OSError) and (exc.errno in _DISK_FULL
                                     or "No space left on device" in str(exc)):
        raise WorkingFileError(f"cannot write the collect's working files: {exc.strerror or exc}; "
                               "nothing was written and the latest snapshot is unchanged") from None


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
        self.writer = pq.ParquetWriter(self.path, self.schema, compression=SNAPSHOT_COMPRESSION)
        self.keys_writer: pq.ParquetWriter | None = None
        self.origins: dict[int, str] = {}
        self.rows = 0
        #: Rows of sources that failed half-way: [start, end) ordinals, and the sources.
        self.discarded: list[tuple[int, int]] = []
        self.failed: set[str] = set()
        self._encoder: ThreadPoolExecutor | None = None
        self._pending: Future | None = None

    def write(self, table: pa.Table, batch_index: int, origin: str) -> None:
        """Queue ``table`` for writing: it is encoded in a thread of the entity's own while the
        next piece is validated (one piece at a time, in order; 12% off a 200,000-line collect,
        where encoding one piece after validating it left a core idle)."""
        if not table.num_rows:
            return
        self.flush()
        self.origins[batch_index] = origin
        self.rows += table.num_rows
        if self._encoder is None:
            self._encoder = ThreadPoolExecutor(1, thread_name_prefix=f"write-{self.entity.name}")
        self._pending = self._encoder.submit(self._write, table)

    def _write(self, table: pa.Table) -> None:
        self.writer.write_table(table.select(self.schema.names))
        keys = table.select([*self.entity.key, SOURCE_COLUMN, "__batch", "__row"])
        if self.keys_writer is None:
            self.keys_writer = pq.ParquetWriter(self.keys_path, keys.schema, compression="lz4")
        self.keys_writer.write_table(keys)

    def flush(self) -> None:
        """Wait for the piece being written. Its error ends the collect (WorkingFileError): the
        file is shared by every source writing the entity, and after a failed write nobody
        knows which of its rows are in it."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        try:
            pending.result()
        except Exception as exc:   # noqa: BLE001 - whatever it was, the file cannot be trusted
            _raise_if_disk_full(exc)
            raise WorkingFileError(
                f"cannot write the collect's working file for {self.entity.name}: "
                f"{getattr(exc, 'strerror', None) or exc}; nothing was written and the latest "
                "snapshot is unchanged") from None

    def close(self) -> None:
        """Stop the writer's thread (the collect ends, or failed): nothing is left writing."""
        if self._encoder is not None:
            self._encoder.shutdown(wait=True)
            self._encoder = None
        self._pending = None

    def discard(self, source: str, start: int) -> None:
        """Take back the rows ``source`` wrote since ordinal ``start`` (it failed half-way)."""
        if self.rows > start:
            self.discarded.append((start, self.rows))
        self.failed.add(source)

    def finish(self, con, previous: Snapshot | None, keep: set[str], memory_limit: str,
               kept: t.Callable[[Path | None, set[str]], list[pa.Table]] | None = None
               ) -> tuple[Path, pa.Table]:
        """Close the file, leaving out later duplicates and the rows of sources that failed;
        add the rows of the ``keep`` sources carried from ``previous`` (``memory_limit``: the
        collect's, put back after the duplicate check), and the rows ``kept`` gives (rows the
        sources list but could not read whole, given the keys file and the failed sources)."""
        self.flush()
        self.close()
        if self.keys_writer is not None:
            self.keys_writer.close()
            con.execute(f"SET memory_limit = '{DUPLICATES_MEMORY_LIMIT}'")
            try:
                drop, dups = find_duplicates(con, self.entity, self.keys_path, self.origins,
                                             exclude_sources=sorted(self.failed))
            finally:
                con.execute(f"SET memory_limit = {literal(memory_limit)}")
        else:
            drop, dups = pa.array([], pa.int64()), REJECT_SCHEMA.empty_table()
        if self.discarded:
            drop = pc.unique(pa.concat_arrays(
                [drop, *(pa.array(range(a, b), pa.int64()) for a, b in self.discarded)]))
        carried = (_previous_rows(previous, self.entity.name, keep)
                   if previous is not None and self.entity.name in previous.entities else ())
        if kept is not None:
            extra = kept(self.keys_path if self.keys_writer is not None else None, self.failed)
            carried = [*extra, *carried]
        if not len(drop):
            for table in carried:
                self.writer.write_table(_conform(table, self.schema))
            self.writer.close()
            return self.path, dups
        self.writer.close()
        rewritten = self.path.with_suffix(".dedup.parquet")
        with pq.ParquetWriter(rewritten, self.schema, compression=SNAPSHOT_COMPRESSION) as writer:
            offset = 0
            for table in iter_parquet(self.path, STREAM_ROWS):
                ordinals = pa.array(range(offset, offset + table.num_rows), pa.int64())
                offset += table.num_rows
                writer.write_table(table.filter(pc.invert(pc.is_in(ordinals, drop))))
            for table in carried:
                writer.write_table(_conform(table, self.schema))
        self.path.unlink()
        return rewritten, dups


def _previous_rows(previous: Snapshot, entity_name: str, keep: set[str]):
    """The previous snapshot's rows of an entity from the ``keep`` sources, piece by piece."""
    path = previous.path / previous.entities[entity_name]["file"]
    if SOURCE_COLUMN not in pq.ParquetFile(path).schema_arrow.names:
        return
    for table in iter_parquet(path, STREAM_ROWS):
        kept = table.filter(pc.is_in(table.column(SOURCE_COLUMN), pa.array(sorted(keep), pa.string())))
        if kept.num_rows:
            yield kept


def _kept_rows(con, previous: Snapshot, entity, source: str, unread: pa.Table,
               now: pa.Table | Path | None, exclude: t.Collection[str] = ()) -> pa.Table:
    """The rows ``source`` lists but could not read whole (``unread``, see validate.Validated)
    whose key the previous snapshot had from ``source`` and no row read now (``now``) has: each
    field read cleanly now takes its new value (a person now terminated is terminated), each
    field that failed keeps the previous snapshot's. In the previous file's order."""
    schema = entity.arrow_schema.append(pa.field(SOURCE_COLUMN, pa.string()))
    path = previous.path / previous.entities[entity.name]["file"]
    had = set(pq.ParquetFile(path).schema_arrow.names)
    if SOURCE_COLUMN not in had:
        return schema.empty_table()
    key = ", ".join(ident(k) for k in entity.key)
    fields = []
    for f in entity.fields:
        if f.name in entity.key:
            fields.append(f"p.{ident(f.name)}")
            continue
        old = f"p.{ident(f.name)}" if f.name in had else f"CAST(NULL AS {f.sql_type})"
        fields.append(f"CASE WHEN list_contains(u.__failed, {literal(f.name)}) THEN {old} "
                      f"ELSE u.{ident(f.name)} END AS {ident(f.name)}")
    con.register("unread_rows", unread.append_column(
        "__n", pa.array(range(unread.num_rows), pa.int64())))
    registered = isinstance(now, pa.Table)
    if registered:
        con.register("read_now", now)
    if now is None:
        read_now = ""
    else:
        rel = "read_now" if registered else f"read_parquet({literal(str(now))})"
        if exclude:
            rel = (f"(SELECT * FROM {rel} WHERE {SOURCE_COLUMN} NOT IN "
                   f"({', '.join(literal(x) for x in sorted(exclude))}))")
        read_now = f" ANTI JOIN {rel} USING ({key})"
    try:
        rows = con.sql(
            f"SELECT {', '.join(fields)}, p.{SOURCE_COLUMN} FROM read_parquet({literal(str(path))}, "
            f"file_row_number = true) p JOIN (SELECT *, {failed_fields_sql('__problems')} "
            f"AS __failed FROM unread_rows "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY __n) = 1) u USING ({key})"
            f"{read_now} WHERE p.{SOURCE_COLUMN} = {literal(source)} ORDER BY p.file_row_number"
        ).to_arrow_table()
    finally:
        con.unregister("unread_rows")
        if registered:
            con.unregister("read_now")
    return _conform(rows, schema)


def _appended(current: pa.Table | Path | None, rows: pa.Table, work: Path,
              name: str) -> pa.Table | Path:
    """``rows`` after an entity's rows for the snapshot: a table, or a Parquet file (an entity
    carried piece by piece from a large previous snapshot) rewritten with them."""
    if current is None:
        return rows
    if isinstance(current, pa.Table):
        return pa.concat_tables([current, _conform(rows, current.schema)])
    schema = pq.ParquetFile(current).schema_arrow
    rewritten = work / f"{name}.kept-{uuid.uuid4().hex[:8]}.parquet"
    with pq.ParquetWriter(rewritten, schema, compression=SNAPSHOT_COMPRESSION) as writer:
        for table in iter_parquet(current, STREAM_ROWS):
            writer.write_table(table)
        writer.write_table(_conform(rows, schema))
    current.unlink()
    return rewritten


def _parse_utc(text: str) -> dt.datetime:
    """A manifest's ``collected_at`` (``2026-12-07T07:12:40Z``) as an aware datetime."""
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


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


def _carry_forward(previous: Snapshot, keep: set[str], final: dict[str, pa.Table | Path],
                   sources_meta: dict[str, dict], model, work: Path, failures: dict[str, str],
                   now: dt.datetime) -> None:
    """Keep the ``keep`` sources' rows from the previous snapshot, marked as carried; those
    that failed now are marked stale, with the error and since when they have been failing.

    Streamed entities (already files in ``final``) got theirs when written; an
    entity no collected source has is copied piece by piece, so a large entity
    from another source is never loaded whole.
    """
    for src, meta in previous.manifest["sources"].items():
        if src not in keep:
            continue
        entry = {**meta, "carried_from": meta.get("carried_from", previous.id)}
        if src in failures:
            entry.update(status="stale", error=failures[src],
                         failed_at=meta.get("failed_at") or now.strftime("%Y-%m-%dT%H:%M:%SZ"))
        elif entry.get("status") != "stale":
            entry["status"] = "carried"
        sources_meta[src] = entry
    for entity_name in previous.entities:
        current = final.get(entity_name)
        if isinstance(current, Path):
            continue
        schema = model.entity(entity_name).arrow_schema.append(pa.field(SOURCE_COLUMN, pa.string()))
        pf = pq.ParquetFile(previous.path / previous.entities[entity_name]["file"])
        if SOURCE_COLUMN not in pf.schema_arrow.names:
            continue
        if current is not None and pf.metadata.num_rows <= STREAM_ROWS:
            kept = [_conform(t, schema) for t in _previous_rows(previous, entity_name, keep)]
            if kept:
                final[entity_name] = pa.concat_tables([current, *kept])
            continue
        path = work / f"{entity_name}.parquet"
        work.mkdir(parents=True, exist_ok=True)
        with pq.ParquetWriter(path, schema, compression=SNAPSHOT_COMPRESSION) as writer:
            if current is not None:
                writer.write_table(_conform(current, schema))
            for kept in _previous_rows(previous, entity_name, keep):
                writer.write_table(_conform(kept, schema))
        final[entity_name] = path


def _drop_carried_duplicates(con, final: dict[str, pa.Table | Path], model, fresh: list[str],
                             order: list[str], carried_from: str, work: Path) -> list[pa.Table]:
    """Rows collected now and rows carried forward that share a key: as in a full collect,
    the row of the source that comes first in the configuration stays and the other becomes
    a reject, so collecting one source alone gives what collecting all would."""
    out: list[pa.Table] = []
    positions = pa.table({"__src": pa.array(order, pa.string()),
                          "__pos": pa.array(range(len(order)), pa.int64())})
    con.register("source_positions", positions)
    fresh_list = ", ".join("'" + n.replace("'", "''") + "'" for n in fresh)
    try:
        for entity_name, value in final.items():
            entity = model.entity(entity_name)
            keys = [f'"{k}"' for k in entity.key]
            key = ", ".join(keys)
            if isinstance(value, pa.Table):
                con.register("carried_check", value.append_column(
                    "__ordinal", pa.array(range(value.num_rows), pa.int64())))
                rel = "carried_check"
            else:
                rel = (f"(SELECT *, file_row_number AS __ordinal FROM read_parquet("
                       f"'{str(value).replace(chr(39), chr(39) * 2)}', file_row_number = true))")
            try:
                dup = con.sql(
                    f"WITH r AS (SELECT {key}, __ordinal, {SOURCE_COLUMN} AS source, "
                    f"{SOURCE_COLUMN} IN ({fresh_list}) AS fresh, coalesce(p.__pos, 1e9) AS pos "
                    f"FROM {rel} LEFT JOIN source_positions p ON p.__src = {SOURCE_COLUMN}), "
                    f"mixed AS (SELECT {key} FROM r GROUP BY {key} HAVING bool_or(fresh) "
                    f"AND NOT bool_and(fresh)), "
                    f"ranked AS (SELECT r.*, row_number() OVER w AS n, first(source) OVER w AS kept "
                    f"FROM r SEMI JOIN mixed USING ({key}) WINDOW w AS (PARTITION BY {key} "
                    f"ORDER BY pos, __ordinal)) "
                    f"SELECT __ordinal, source, fresh, kept, concat_ws('/', "
                    f"{', '.join(f'CAST({k} AS VARCHAR)' for k in keys)}) AS value "
                    f"FROM ranked WHERE n > 1 ORDER BY __ordinal").to_arrow_table()
            finally:
                if isinstance(value, pa.Table):
                    con.unregister("carried_check")
            if not dup.num_rows:
                continue
            n = dup.num_rows
            out.append(pa.table({
                "source": dup.column("source"), "entity": pa.array([entity_name] * n),
                "origin": pc.if_else(dup.column("fresh"), pa.scalar("collected now", pa.string()),
                                     pa.scalar(f"carried from {carried_from}", pa.string())),
                "row": pa.nulls(n, pa.int64()),
                "field": pa.array([", ".join(entity.key)] * n),
                "value": dup.column("value"),
                "reason": pc.binary_join_element_wise(
                    "duplicate key (first seen in source '", dup.column("kept"), "')", ""),
            }, schema=REJECT_SCHEMA))
            drop = dup.column("__ordinal").combine_chunks()
            if isinstance(value, pa.Table):
                ordinals = pa.array(range(value.num_rows), pa.int64())
                final[entity_name] = value.filter(pc.invert(pc.is_in(ordinals, drop)))
                continue
            rewritten = work / f"{entity_name}.undup-{uuid.uuid4().hex[:8]}.parquet"
            schema = pq.ParquetFile(value).schema_arrow
            with pq.ParquetWriter(rewritten, schema, compression=SNAPSHOT_COMPRESSION) as writer:
                offset = 0
                for table in iter_parquet(value, STREAM_ROWS):
                    ordinals = pa.array(range(offset, offset + table.num_rows), pa.int64())
                    offset += table.num_rows
                    writer.write_table(table.filter(pc.invert(pc.is_in(ordinals, drop))))
            value.unlink()
            final[entity_name] = rewritten
    finally:
        con.unregister("source_positions")
    return out


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Reorder/extend a table to ``schema``; fields it lacks become NULL."""
    cols = [table.column(f.name).cast(f.type) if f.name in table.column_names
            else pa.nulls(table.num_rows, f.type) for f in schema]
    return pa.table(cols, schema=schema)
