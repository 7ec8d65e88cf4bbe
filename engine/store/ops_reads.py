"""What the operations endpoints read (web/views/ops.py, web/metrics.py): the schema's revision
and the latest run, each one small query."""

from __future__ import annotations

from sqlalchemy import Connection, select

from . import Store
from .db import current_revision
from .tables import runs

#: Runs that got as far as recording their findings: the ones whose age /readyz checks.
COMPLETED = ("succeeded", "degraded")


def schema_revision(store: Store) -> str | None:
    """The store's migration revision (None: an empty database)."""
    with store.read() as conn:
        return current_revision(conn)


def last_run(conn: Connection, statuses: tuple[str, ...] | None = None):
    """The latest run (of ``statuses`` when given), or None: one row through ix_runs_started."""
    query = select(runs.c.status, runs.c.started_at, runs.c.finished_at).order_by(
        runs.c.started_at.desc(), runs.c.id.desc()).limit(1)
    if statuses is not None:
        query = query.where(runs.c.status.in_(statuses))
    return conn.execute(query).first()


def last_completed_run(store: Store):
    """The latest run that recorded its findings (status, started_at, finished_at), or None."""
    with store.read() as conn:
        return last_run(conn, COMPLETED)
