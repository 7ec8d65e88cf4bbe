"""Per policy run: the policy file's git blob id and a digest of its results (for replay).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("policy_runs") as batch:
        batch.add_column(sa.Column("policy_blob", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("result_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("policy_runs") as batch:
        batch.drop_column("result_sha256")
        batch.drop_column("policy_blob")
