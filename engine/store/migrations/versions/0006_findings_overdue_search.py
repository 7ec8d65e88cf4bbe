"""Indexes for the overdue filter and the text search of the findings list.

- ``ix_findings_policy_status_due`` on (policy_id, status, due_on, id): the overdue
  findings of one policy and status are one index range (``due_on < today``), which a
  page reads when walking that policy's findings in id order finds too few of them; the
  dashboard counts the overdue findings of each policy from it without reading a row.
- Substring search over ``resource_id`` and ``reason`` (``queries.list_findings``):
  PostgreSQL gets trigram GIN indexes (``pg_trgm``, which LIKE '%text%' uses); SQLite an
  FTS5 table with the trigram tokenizer (case-sensitive, as the search is) over the same
  two columns, brought up to date after each evaluation (engine/store/search_index.py),
  and ``findings_fts_state``, the evaluation it reflects. Either is created only where
  the database offers it (PostgreSQL: the pg_trgm extension can be created; SQLite: 3.34
  or later with FTS5): without it the search stays correct and scans, as before.
- ``posture_counts``: the dashboard's counts per policy and status as an evaluation left
  them, written in the evaluation's transaction, so that the first dashboard after it does
  not count every finding again.

Revision ID: 0006
Revises: 0005
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    op.create_index("ix_findings_policy_status_due", "findings", ["policy_id", "status", "due_on", "id"])
    op.create_table(
        "posture_counts",
        sa.Column("evaluation_id", sa.Integer, sa.ForeignKey("evaluations.id"), primary_key=True,
                  autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("counts", sa.Text, nullable=False),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _postgresql_trigrams(bind)
    elif bind.dialect.name == "sqlite":
        _sqlite_fts(bind)


def _postgresql_trigrams(bind) -> None:
    try:
        with bind.begin_nested():       # a savepoint: a refusal must not abort the migration
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError as exc:
        log.warning("pg_trgm is not available (%s): the findings text search will scan", exc.orig)
        return
    for column in ("resource_id", "reason"):
        op.create_index(f"ix_findings_{column}_trgm", "findings", [column], postgresql_using="gin",
                        postgresql_ops={column: "gin_trgm_ops"})


def _sqlite_fts(bind) -> None:
    try:
        # The table keeps its own copy of what it indexed, so that a finding reworded since can
        # be taken out of it (engine/store/search_index.py). No positions (detail=none) and no
        # column sizes: a search looks its text up as the set of its trigrams and checks the
        # candidates with LIKE, which needs neither.
        bind.exec_driver_sql(
            "CREATE VIRTUAL TABLE findings_fts USING fts5(resource_id, reason, "
            "tokenize='trigram case_sensitive 1', detail=none, columnsize=0)")
    except sa.exc.OperationalError as exc:   # no FTS5, or a SQLite older than 3.34 (no trigrams)
        log.warning("SQLite FTS5 trigrams are not available (%s): the findings text search will scan",
                    exc.orig)
        return
    bind.exec_driver_sql("INSERT INTO findings_fts (rowid, resource_id, reason) "
                         "SELECT id, resource_id, reason FROM findings")
    # The evaluation the index reflects; searches use it only while that is the latest one.
    bind.exec_driver_sql("CREATE TABLE findings_fts_state (evaluation_id INTEGER)")
    bind.exec_driver_sql("INSERT INTO findings_fts_state (evaluation_id) SELECT MAX(id) FROM evaluations")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # The extension stays: other objects of the database may use it.
        bind.exec_driver_sql("DROP INDEX IF EXISTS ix_findings_reason_trgm")
        bind.exec_driver_sql("DROP INDEX IF EXISTS ix_findings_resource_id_trgm")
    elif bind.dialect.name == "sqlite":
        bind.exec_driver_sql("DROP TABLE IF EXISTS findings_fts_state")
        bind.exec_driver_sql("DROP TABLE IF EXISTS findings_fts")
    op.drop_table("posture_counts")
    op.drop_index("ix_findings_policy_status_due", table_name="findings")
