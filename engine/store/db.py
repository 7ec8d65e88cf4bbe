"""Connecting to the operational store and keeping its schema current.

SQLite (the default, a file in the data directory) runs in WAL mode so readers
never wait for the evaluation that is writing; writers take the lock at the
start of their transaction (``BEGIN IMMEDIATE``) and queue behind each other
for up to ``busy_timeout``. PostgreSQL is used through a URL in the config.

A SQLite store holds password hashes, token digests and every finding: its file (and the
``-wal`` and ``-shm`` files SQLite makes beside it, which take the file's mode) is created
readable by its owner only, and so is any folder created for it, whatever the umask; the
files of an older store are made so when it is opened.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from ..errors import DialtoneError

# Also used by the snapshots, the collectors' state and the evidence masks (private_files.py).
from ..private_files import PRIVATE_FILE_MODE, create_private_file
from ..private_files import make_private_dir as make_private_dir

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 120_000


class StoreError(DialtoneError):
    """The store cannot be used as it is (unreachable, out-of-date schema…)."""


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def make_engines(url: str) -> tuple[Engine, Engine]:
    """(writer, reader) engines for ``url``; on SQLite the writer begins IMMEDIATE."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"store.url: not a database URL: {url!r}") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            make_private_dir(Path(parsed.database).parent)
            create_private_file(Path(parsed.database))
            _restrict_store_files(Path(parsed.database))
        return _sqlite_engine(url, immediate=True), _sqlite_engine(url, immediate=False)
    try:
        engine = create_engine(url, pool_pre_ping=True)
    except Exception as exc:  # a missing driver or a malformed URL
        raise StoreError(f"store.url: cannot use {parsed.render_as_string(hide_password=True)}: "
                         f"{exc}") from None
    return engine, engine


def _restrict_store_files(database: Path) -> None:
    """A store created before its files were private (0644 under the usual umask) becomes so:
    its own files, not the folder it is in, which may be shared with other things."""
    for path in (database, database.with_name(database.name + "-wal"),
                 database.with_name(database.name + "-shm")):
        try:
            info = path.stat()
            if info.st_mode & 0o077 and info.st_uid == os.getuid():
                os.chmod(path, PRIVATE_FILE_MODE)
        except OSError:
            continue    # not there, or not ours to change: SQLite says so if it matters


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        # Let SQLAlchemy's "begin" event, not the driver, decide how transactions start.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        # LIKE patterns of exceptions must match case-sensitively, as on PostgreSQL.
        cur.execute("PRAGMA case_sensitive_like=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def is_empty(conn: Connection) -> bool:
    return not inspect(conn).get_table_names()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Run pending migrations; returns (revision before, revision after)."""
    cfg = _alembic_config()
    with engine.begin() as conn:
        before = current_revision(conn)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return before, head_revision()


@contextmanager
def reachable(url: str) -> Iterator[None]:
    """Turn a failure of the database into one clear message for the operator: that the store
    cannot be opened (no statement: connecting failed), or that a statement failed.

    The message names the store (without its password). The web application shows neither to
    its users (web/app.py): they get a generic message and the server log gets this one."""
    try:
        yield
    except OperationalError as exc:
        shown = make_url(url).render_as_string(hide_password=True)
        if exc.statement is None:
            raise StoreError(f"cannot open the store {shown}: {exc.orig}") from None
        raise StoreError(f"the store {shown} could not do what was asked: {exc.orig}") from None


class _Writable(Protocol):
    url: str
    writer: Engine


@contextmanager
def write_without_waiting(store: _Writable, wait_ms: int) -> Iterator[Connection]:
    """A write transaction that waits at most ``wait_ms`` for the write lock, then fails with
    StoreError instead of queueing (for bookkeeping a request can do without, such as
    recording when an API token was last used, while an evaluation holds the lock)."""
    with reachable(store.url), store.writer.connect() as conn:
        if conn.dialect.name == "sqlite":
            # Before BEGIN IMMEDIATE takes the lock: set on the driver's connection, outside any
            # transaction, and put back before the connection returns to the pool.
            raw = conn.connection.driver_connection
            raw.execute(f"PRAGMA busy_timeout={int(wait_ms)}")
            try:
                with conn.begin():
                    yield conn
            finally:
                raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        else:
            with conn.begin():
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(wait_ms)}ms'")
                yield conn


def check_schema(engine: Engine, url: str, *, create_if_empty: bool) -> None:
    """Refuse an out-of-date schema; a brand-new, empty database is created at head."""
    with reachable(url):
        with engine.connect() as conn:
            revision = current_revision(conn)
            empty = revision is None and is_empty(conn)
        head = head_revision()
        if revision == head:
            return
        if empty and create_if_empty:
            upgrade(engine)
            return
        shown = make_url(url).render_as_string(hide_password=True)
        if revision is None:
            raise StoreError(f"the store {shown} holds tables Dialtone did not create; "
                             "point store.url at an empty database")
        raise StoreError(f"the store {shown} is at schema revision {revision}, this version of "
                         f"Dialtone needs {head}: run `dialtone db upgrade`")
