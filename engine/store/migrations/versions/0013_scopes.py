"""Scoped access (docs/access.md).

- ``findings.legal_entity`` and ``findings.cost_center``: the legal entity and cost centre of the
  finding's resource (engine/resource_attributes.py), filled when an evaluation records it, so a
  scoped reader's filter is a plain indexed predicate. Existing findings get them at the next
  evaluation that sees them again; until then they are NULL, which is outside every restricted
  scope (a scoped reader sees fewer findings for one evaluation, never another entity's).
- ``users.scope`` and ``api_tokens.scope``: the name of a scope of ``access.scopes``, NULL for
  everything (a token: its user's).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs, nullable: SQLite adds them in place (see 0012).
    op.add_column("findings", sa.Column("legal_entity", sa.String(200)))
    op.add_column("findings", sa.Column("cost_center", sa.String(200)))
    op.create_index("ix_findings_legal_entity", "findings", ["legal_entity", "id"])
    op.create_index("ix_findings_cost_center", "findings", ["cost_center", "id"])
    op.add_column("users", sa.Column("scope", sa.String(100)))
    op.add_column("api_tokens", sa.Column("scope", sa.String(100)))


def downgrade() -> None:
    op.drop_column("api_tokens", "scope")
    op.drop_column("users", "scope")
    op.drop_index("ix_findings_cost_center", table_name="findings")
    op.drop_index("ix_findings_legal_entity", table_name="findings")
    op.drop_column("findings", "cost_center")
    op.drop_column("findings", "legal_entity")
