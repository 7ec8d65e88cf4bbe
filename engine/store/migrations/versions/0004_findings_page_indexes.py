"""Indexes that keep a page of findings cheap at any depth: by (policy, status, id) and by assignee.

A page of findings is read as one ordered range per (policy, status) starting after
the previous page's last id (``queries.list_findings``). SQLite indexes end with the
rowid, so (policy_id, status) already served that there; PostgreSQL needs the id in
the index itself. The one-assignee queue gets a partial index on assignee (most
findings have none), ordered by id too.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_findings_policy_status_id", "findings", ["policy_id", "status", "id"])
    op.drop_index("ix_findings_policy_status", table_name="findings")
    op.create_index("ix_findings_assignee", "findings", ["assignee", "id"],
                    sqlite_where=sa.text("assignee IS NOT NULL"),
                    postgresql_where=sa.text("assignee IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_findings_assignee", table_name="findings")
    op.create_index("ix_findings_policy_status", "findings", ["policy_id", "status"])
    op.drop_index("ix_findings_policy_status_id", table_name="findings")
