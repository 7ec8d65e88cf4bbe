"""Connecting to the operational store and keeping its schema current.

SQLite (the default, a file in the data directory) runs in WAL mode so readers
never wait for the evaluation that is writing; writers take the lock at the
start of their transaction (``BEGIN IMMEDIATE``) and queue behind each other
for up to ``busy_timeout``. PostgreSQL is used through a URL in the config.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from ..errors import DialtoneError

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 120_000


class StoreError(DialtoneError):
    """The store cannot be used as it is (unreachable, out-of-date schema…)."""


def default_url(data_dir: Path) -> str:
    return f"sqlite:///{Path(data_dir) / 'dialtone.db'}"


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
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        return _sqlite_engine(url, immediate=True), _sqlite_engine(url, immediate=False)
    try:
        engine = create_engine(url, pool_pre_ping=True)
    except Exception as exc:  # a missing driver or a malformed URL
        raise StoreError(f"store.url: cannot use {parsed.render_as_string(hide_password=True)}: "
                         f"{exc}") from None
    return engine, engine


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
    """Turn a connection failure into one clear message."""
    try:
        yield
    except OperationalError as exc:
        shown = make_url(url).render_as_string(hide_password=True)
        raise StoreError(f"cannot open the store {shown}: {exc.orig}") from None


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
