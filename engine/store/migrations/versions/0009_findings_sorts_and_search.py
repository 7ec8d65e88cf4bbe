"""The findings list sorted, its new findings, and its search case-insensitive over the evidence.

- ``ix_findings_policy_status_savings`` and ``ix_findings_policy_status_first_seen`` on
  (policy_id, status, column, id): a page sorted by savings or first seen reads one ordered
  range per (policy, status) from its cursor on (``queries._sorted_page_ids``), as the due
  date sort does through ``ix_findings_policy_status_due`` (0006).
- ``ix_findings_first_seen_evaluation`` on (first_seen_evaluation, id): the findings an
  evaluation opened (``opened_in``, "new since the last evaluation") without reading the rest.
- The text search is case-insensitive and also looks in the evidence: SQLite's
  ``findings_fts`` is built again with the case-insensitive trigram tokenizer over
  ``resource_id``, ``reason`` and ``evidence`` (engine/store/search_index.py); PostgreSQL
  gets a trigram GIN index on ``evidence`` beside those of 0006 (pg_trgm answers ``~*``).

Revision ID: 0009
Revises: 0008
"""

import logging

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

OLD_FTS = ("CREATE VIRTUAL TABLE findings_fts USING fts5(resource_id, reason, "
           "tokenize='trigram case_sensitive 1', detail=none, columnsize=0)")
NEW_FTS = ("CREATE VIRTUAL TABLE findings_fts USING fts5(resource_id, reason, evidence, "
           "tokenize='trigram case_sensitive 0', detail=none, columnsize=0)")


def upgrade() -> None:
    op.create_index("ix_findings_policy_status_savings", "findings", ["policy_id", "status", "savings", "id"])
    op.create_index("ix_findings_policy_status_first_seen", "findings",
                    ["policy_id", "status", "first_seen_at", "id"])
    op.create_index("ix_findings_first_seen_evaluation", "findings", ["first_seen_evaluation", "id"])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        found = bind.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").first()
        if found is None:
            log.warning("pg_trgm is not available: the findings text search will scan")
            return
        op.create_index("ix_findings_evidence_trgm", "findings", ["evidence"], postgresql_using="gin",
                        postgresql_ops={"evidence": "gin_trgm_ops"})
    elif bind.dialect.name == "sqlite":
        _rebuild_fts(bind, NEW_FTS, "resource_id, reason, evidence")


def _rebuild_fts(bind, create: str, columns: str) -> None:
    exists = bind.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'findings_fts_state'").first()
    if exists is None:          # no FTS5 trigrams here (0006 said so): the search scans
        return
    bind.exec_driver_sql("DROP TABLE IF EXISTS findings_fts")
    bind.exec_driver_sql(create)
    bind.exec_driver_sql(f"INSERT INTO findings_fts (rowid, {columns}) SELECT id, {columns} FROM findings")
    # Built from the findings as they are now: it reflects the latest evaluation.
    bind.exec_driver_sql("UPDATE findings_fts_state SET evaluation_id = (SELECT MAX(id) FROM evaluations)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql("DROP INDEX IF EXISTS ix_findings_evidence_trgm")
    elif bind.dialect.name == "sqlite":
        _rebuild_fts(bind, OLD_FTS, "resource_id, reason")
    op.drop_index("ix_findings_first_seen_evaluation", table_name="findings")
    op.drop_index("ix_findings_policy_status_first_seen", table_name="findings")
    op.drop_index("ix_findings_policy_status_savings", table_name="findings")
