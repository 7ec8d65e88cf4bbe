"""``dialtone db backup`` / ``restore``: a portable logical copy of the whole operational store.

Why a logical dump of our own rather than pg_dump or SQLite's backup API: one format, read and
written through SQLAlchemy, restores into *either* backend (a SQLite trial moved to PostgreSQL,
a PostgreSQL store copied to a laptop), needs no client tools of a matching major version in
the image, and is streamed both ways, so memory does not grow with the store. What a backup
is (docs/operations.md, "Backup and restore"):

- a gzip-compressed file of JSON lines (``.jsonl.gz``), written 0600 (it holds password hashes,
  token digests and every finding) under a temporary name and renamed when complete;
- line 1, the header: ``{"format": "dialtone-backup", "version": 1, "schema_revision": ...,
  "created_at": ..., "backend": ...}``;
- for each table, in foreign-key order: ``{"table": name, "columns": [...]}`` then one JSON
  array per row, in primary-key order;
- last, ``{"end": {"tables": n, "rows": n}}``: a file without it was cut short and is refused.

Everything is read in one snapshot (PostgreSQL: REPEATABLE READ; SQLite: one read transaction
under WAL), so a backup taken while a run records findings is consistent. Left out:
``alembic_version`` (the restore migrates to the backup's revision itself) and SQLite's
text-search index (``findings_fts*``), rebuilt from the findings after a restore.

Restore: into an empty database (created at the backup's schema revision, then upgraded to this
version's), or with ``force`` into one at the same revision whose rows are all deleted first.
Everything happens in one transaction, the schema's creation and migrations included (DDL is
transactional on PostgreSQL, and on SQLite, whose writer begins its transactions explicitly):
a restore that fails leaves the store as it was, an empty database empty.

A line of a backup holds at most ``MAX_LINE`` bytes (64 MiB) once decompressed: the restore
reads no more than that into memory for one line, so a file that decompresses to one endless
line (a gzip bomb) is refused, naming the line, instead of exhausting memory. The backup
refuses to write a row that would not fit, so every backup it writes can be restored.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, MetaData, Table, func, insert, select, text

from ..errors import DialtoneError
from ..private_files import PRIVATE_FILE_MODE
from . import Store
from .db import current_revision, reachable

FORMAT = "dialtone-backup"
VERSION = 1
#: Rows per INSERT batch and per fetch: bounded memory whatever the store's size.
BATCH = 1000
#: The longest line (bytes, decompressed) a backup may hold; docs/operations.md documents it.
MAX_LINE = 64 * 1024 * 1024


class BackupError(DialtoneError):
    """A backup that cannot be written or restored, with the file (and line) and why."""


@dataclass(frozen=True)
class Summary:
    path: Path
    schema_revision: str
    tables: int
    rows: int


def known_revision(revision: str) -> bool:
    """Whether this version's migrations include ``revision``."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from .db import MIGRATIONS

    try:
        return ScriptDirectory(str(MIGRATIONS)).get_revision(revision) is not None
    except CommandError:
        return False


def migrate(conn: Connection, revision: str) -> None:
    """Run the migrations up to ``revision`` on ``conn``, inside its transaction (alembic joins
    the transaction it finds open rather than committing its own)."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    from .db import MIGRATIONS

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


def upgrade_to(engine, revision: str) -> None:
    """Run the migrations up to ``revision`` (``head``: all of them), committed."""
    with engine.begin() as conn:
        migrate(conn, revision)


def _skipped(name: str) -> bool:
    # The schema's revision is restored by migrating; SQLite's own tables and the text-search
    # index (a virtual table and its shadow tables) are rebuilt, not copied.
    return name == "alembic_version" or name.startswith("sqlite_") or name.startswith("findings_fts")


def _tables(conn: Connection) -> list[Table]:
    """The store's tables as the database describes them (whatever its revision), parents first."""
    meta = MetaData()
    meta.reflect(conn, only=lambda name, _meta: not _skipped(name))
    return list(meta.sorted_tables)


def _order(table: Table):
    return list(table.primary_key.columns) or list(table.columns)


def backup(store: Store, path: Path, *, now: dt.datetime | None = None) -> Summary:
    """Write the whole store to ``path`` (which must not exist)."""
    path = Path(path)
    if path.exists():
        raise BackupError(f"{path}: already exists; choose another name or remove it first")
    partial = path.with_name(path.name + ".partial")
    # A new file only: never through a symbolic link planted under the temporary name, never
    # truncating a file that is there (another backup's, or anyone's).
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
    except FileExistsError:
        raise BackupError(f"{partial}: already exists (a backup still being written, or one that was "
                          "interrupted): remove it if no backup is running, then try again") from None
    except OSError as exc:
        raise BackupError(f"{path}: cannot write here: {exc.strerror}") from None
    os.fchmod(fd, PRIVATE_FILE_MODE)
    tables = rows = 0
    try:
        with os.fdopen(fd, "wb") as raw, gzip.open(raw, "wb") as out, \
                reachable(store.url), store.reader.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                revision = current_revision(conn)
                if revision is None:
                    raise BackupError("the store is empty (no schema): nothing to back up")
                _line(out, {"format": FORMAT, "version": VERSION, "schema_revision": revision,
                            "created_at": (now or store.now()).astimezone(dt.UTC).isoformat(),
                            "backend": conn.dialect.name})
                for table in _tables(conn):
                    names = [c.name for c in table.columns]
                    _line(out, {"table": table.name, "columns": names})
                    result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(
                        select(table).order_by(*_order(table)))
                    for row in result:
                        line = json.dumps(list(row), ensure_ascii=False, allow_nan=False,
                                          default=_unsupported(table.name)).encode("utf-8") + b"\n"
                        if len(line) > MAX_LINE:
                            raise BackupError(f"table {table.name}: a row of {len(line):,} bytes as JSON, "
                                              f"more than a backup line may hold ({MAX_LINE:,} bytes)")
                        out.write(line)
                        rows += 1
                    tables += 1
                _line(out, {"end": {"tables": tables, "rows": rows}})
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)   # ours: created above with O_EXCL
        raise
    return Summary(path, revision, tables, rows)


def _line(out: IO[bytes], value: dict) -> None:
    out.write(json.dumps(value, ensure_ascii=False).encode("utf-8") + b"\n")


def _unsupported(table: str):
    def default(value):
        raise BackupError(f"table {table}: a value of type {type(value).__name__} cannot be written "
                          "to a backup")
    return default


# -- restore ----------------------------------------------------------------------------------
class _Reader:
    """The backup's lines, decoded one at a time, each error naming the file and line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.number = 0
        try:
            self._file = gzip.open(path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise BackupError(f"{path}: cannot read: {exc.strerror}") from None

    def error(self, message: str) -> BackupError:
        return BackupError(f"{self.path}:{self.number}: {message}")

    def next(self):
        try:
            # At most MAX_LINE bytes (+1 to tell a line of exactly that length from a longer one).
            raw = self._file.readline(MAX_LINE + 1)
        except (OSError, EOFError) as exc:
            raise BackupError(f"{self.path}: not a readable gzip file ({exc}); nothing was "
                              "restored") from None
        if not raw:
            raise self.error("the file ends before its last line ({\"end\": ...}): it was cut "
                             "short; nothing was restored")
        self.number += 1
        if len(raw) > MAX_LINE:
            raise self.error(f"the line is longer than a backup line may be ({MAX_LINE:,} bytes "
                             "decompressed): not a backup Dialtone wrote; nothing was restored")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.error(f"not UTF-8 text ({exc.reason} at byte {exc.start + 1}); nothing was "
                             "restored") from None
        try:
            return json.loads(line)
        except ValueError as exc:
            raise self.error(f"not JSON ({exc.msg} at column {exc.colno}); nothing was restored") from None

    def close(self) -> None:
        self._file.close()


def read_header(path: Path) -> dict:
    """The backup's header, checked (format, version and a schema revision this version knows)."""
    reader = _Reader(path)
    try:
        return _header(reader)
    finally:
        reader.close()


def _header(reader: _Reader) -> dict:
    head = reader.next()
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise reader.error(f"not a Dialtone backup (expected a first line with \"format\": \"{FORMAT}\")")
    if head.get("version") != VERSION:
        raise reader.error(f"backup format version {head.get('version')!r}; this Dialtone reads version "
                           f"{VERSION}")
    revision = head.get("schema_revision")
    if not isinstance(revision, str) or not known_revision(revision):
        raise reader.error(f"schema revision {revision!r} is not one this version of Dialtone knows "
                           "(a backup from a newer version): restore it with that version")
    return head


#: Tables the migrations themselves give a row (the event chain's genesis head): a store whose
#: other tables are all empty holds no data.
SEEDED = frozenset({"chain_head"})


def row_counts(conn: Connection) -> dict[str, int]:
    """Rows per table (the tables a backup holds but those the migrations seed), for 'is this
    store empty'."""
    return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in _tables(conn) if t.name not in SEEDED}


def restore(store: Store, path: Path, *, force: bool = False) -> Summary:
    """Load the backup at ``path`` into ``store``; see the module's docstring."""
    from . import search_index

    path = Path(path)
    reader = _Reader(path)
    try:
        head = _header(reader)
        revision = head["schema_revision"]
        # One transaction from the schema's creation to the last migration: a failure anywhere
        # rolls back the tables it created too, and an empty database stays empty.
        with reachable(store.url), store.writer.begin() as conn:
            target = current_revision(conn)
            if target is None and _tables(conn):
                raise BackupError("the store holds tables Dialtone did not create; restore into an empty "
                                  "database")
            if target is not None and target != revision:
                raise BackupError(f"the store is at schema revision {target}, the backup at {revision}: "
                                  "restore into an empty database (it is created at the backup's "
                                  "revision and then upgraded)")
            if target is None:
                migrate(conn, revision)
            tables = {t.name: t for t in _tables(conn)}
            holding = {name: n for name, n in row_counts(conn).items() if n}
            if holding and not force:
                shown = ", ".join(f"{name} ({n:,})" for name, n in sorted(holding.items())[:5])
                raise BackupError(f"the store is not empty ({shown}{', ...' if len(holding) > 5 else ''}): "
                                  "restore into an empty database, or pass --force to delete every row "
                                  "first")
            # Also the rows the migrations seeded: the backup has its own.
            for table in reversed(list(tables.values())):
                conn.execute(table.delete())
            count_tables, count_rows = _load(reader, conn, tables)
            if conn.dialect.name == "postgresql":
                _reset_sequences(conn, tables.values())
            migrate(conn, "head")
        search_index.refresh(store)   # SQLite: rebuilt from the restored findings
    finally:
        reader.close()
    return Summary(path, revision, count_tables, count_rows)


def _load(reader: _Reader, conn: Connection, tables: dict[str, Table]) -> tuple[int, int]:
    seen: set[str] = set()
    rows = 0
    item = reader.next()
    while True:
        if not isinstance(item, dict):
            raise reader.error("expected a table's line ({\"table\": ..., \"columns\": [...]}) or the "
                               "end line")
        if "end" in item:
            end = item["end"]
            if not isinstance(end, dict) or end.get("rows") != rows or end.get("tables") != len(seen):
                raise reader.error(f"the end line says {end!r}, the file held {len(seen)} tables and "
                                   f"{rows} rows; nothing was restored")
            missing = sorted(set(tables) - seen)
            if missing:
                raise reader.error(f"tables missing from the backup: {', '.join(missing)}; nothing was "
                                   "restored")
            return len(seen), rows
        name, columns = item.get("table"), item.get("columns")
        if name not in tables:
            raise reader.error(f"table {name!r} is not in this store's schema; nothing was restored")
        if name in seen:
            raise reader.error(f"table {name!r} appears twice; nothing was restored")
        expected = [c.name for c in tables[name].columns]
        if not isinstance(columns, list) or sorted(columns) != sorted(expected):
            raise reader.error(f"table {name}: columns {columns!r}, the schema has {expected!r}; "
                               "nothing was restored")
        seen.add(name)
        item, loaded = _load_rows(reader, conn, tables[name], columns)
        rows += loaded


def _load_rows(reader: _Reader, conn: Connection, table: Table, columns: list[str]):
    """Insert the rows that follow a table's line, in batches; returns the next non-row line."""
    batch: list[dict] = []
    loaded = 0
    statement = insert(table)
    while True:
        item = reader.next()
        if not isinstance(item, list):
            if batch:
                conn.execute(statement, batch)
            return item, loaded
        if len(item) != len(columns):
            raise reader.error(f"table {table.name}: a row of {len(item)} values, expected {len(columns)}; "
                               "nothing was restored")
        batch.append(dict(zip(columns, item, strict=True)))
        loaded += 1
        if len(batch) >= BATCH:
            conn.execute(statement, batch)
            batch = []


def _reset_sequences(conn: Connection, tables) -> None:
    """PostgreSQL: each serial column's sequence continues after the highest restored id."""
    for table in tables:
        for column in table.primary_key.columns:
            sequence = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                    {"t": table.name, "c": column.name}).scalar()
            if sequence:
                conn.execute(text(f'SELECT setval(:s, COALESCE((SELECT MAX("{column.name}") FROM '
                                  f'"{table.name}"), 1), (SELECT MAX("{column.name}") FROM '
                                  f'"{table.name}") IS NOT NULL)'), {"s": sequence})


def iter_rows(path: Path) -> Iterator[tuple[str, list]]:
    """(table, row) for each row of a backup: for tests and inspection."""
    reader = _Reader(path)
    try:
        _header(reader)
        table = None
        while True:
            item = reader.next()
            if isinstance(item, dict) and "end" in item:
                return
            if isinstance(item, dict):
                table = item["table"]
            else:
                yield table, item
    finally:
        reader.close()
