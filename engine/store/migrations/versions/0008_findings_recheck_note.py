"""Findings that an evaluation could not re-check; what policies could not decide; whose
money a saving claims.

- ``findings.recheck_note``: why the latest evaluation did not resolve a finding it
  no longer reported (the policy read rows carried forward from a failed source, or the
  resource is not in the snapshot); cleared when the policy sees the resource again or
  resolves it.
- ``policy_runs.incomplete_inputs``: per policy run, the inputs (as a JSON list of
  reasons) that were partly carried forward from a failed source.
- ``policy_runs.undecidable``: per policy run, the resources in its scope whose data was
  missing, so it could decide neither way.
- ``findings.savings_key`` and ``findings.currency``: the billable object a finding's
  saving claims (a line, a licence, a charge) and the saving's currency, so one object's
  money is counted once, and never across currencies.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("findings", sa.Column("recheck_note", sa.Text))
    op.add_column("findings", sa.Column("savings_key", sa.String(400)))
    op.add_column("findings", sa.Column("currency", sa.String(3)))
    op.add_column("policy_runs", sa.Column("incomplete_inputs", sa.Text))
    op.add_column("policy_runs", sa.Column("undecidable", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("policy_runs") as batch:
        batch.drop_column("undecidable")
        batch.drop_column("incomplete_inputs")
    with op.batch_alter_table("findings") as batch:
        batch.drop_column("currency")
        batch.drop_column("savings_key")
        batch.drop_column("recheck_note")
