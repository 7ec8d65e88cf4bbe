"""Billing disputes: disputes, their disputed charges, and the credits matched to them.

- ``disputes``: one per claim to a carrier, its state, amounts, window and deadline, and a
  pending write-off request (deny, withdraw, accept a partial credit) awaiting a second person.
- ``dispute_items``: the disputed charges, each from a finding.
- ``dispute_credits``: credit lines of later bills matched to a dispute, and on what basis.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TS = sa.String(32)
DATE = sa.String(10)
ID = sa.String(300)


def upgrade() -> None:
    op.create_table(
        "disputes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("reference", sa.String(40), nullable=False, unique=True),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("vendor", sa.String(200)),
        sa.Column("currency", sa.String(3)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("claimed_total", sa.Float, nullable=False),
        sa.Column("credited_total", sa.Float, nullable=False),
        sa.Column("bill_date", DATE),
        sa.Column("window_days", sa.Integer, nullable=False),
        sa.Column("deadline", DATE),
        sa.Column("carrier_reference", sa.String(200)),
        sa.Column("note", sa.Text),
        sa.Column("snapshot_id", sa.String(64)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("filed_at", TS),
        sa.Column("acknowledged_at", TS),
        sa.Column("closed_at", TS),
        sa.Column("writeoff_action", sa.String(20)),
        sa.Column("writeoff_note", sa.Text),
        sa.Column("writeoff_requested_by", sa.String(200)),
        sa.Column("writeoff_requested_at", TS),
        sa.Column("writeoff_approved_by", sa.String(200)),
    )
    op.create_index("ix_disputes_status", "disputes", ["status", "id"])
    op.create_index("ix_disputes_account", "disputes", ["account_id", "status"])
    op.create_table(
        "dispute_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dispute_id", sa.Integer, sa.ForeignKey("disputes.id"), nullable=False),
        sa.Column("finding_id", sa.Integer),
        sa.Column("policy_id", sa.String(200)),
        sa.Column("charge_id", ID),
        sa.Column("invoice_id", ID),
        sa.Column("invoice_number", sa.String(200)),
        sa.Column("bill_date", DATE),
        sa.Column("line_id", ID),
        sa.Column("charge_code", sa.String(200)),
        sa.Column("description", sa.Text),
        sa.Column("billed_amount", sa.Float),
        sa.Column("contracted_amount", sa.Float),
        sa.Column("claimed_amount", sa.Float, nullable=False),
        sa.Column("credited_amount", sa.Float, nullable=False),
        sa.Column("reason", sa.Text),
    )
    op.create_index("ix_dispute_items_dispute", "dispute_items", ["dispute_id", "id"])
    op.create_index("ix_dispute_items_finding", "dispute_items", ["finding_id"])
    op.create_index("ix_dispute_items_charge", "dispute_items", ["charge_id"])
    op.create_table(
        "dispute_credits",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dispute_id", sa.Integer, sa.ForeignKey("disputes.id"), nullable=False),
        sa.Column("item_id", sa.Integer),
        sa.Column("snapshot_id", sa.String(64), nullable=False),
        sa.Column("charge_id", ID, nullable=False, unique=True),
        sa.Column("invoice_id", ID),
        sa.Column("invoice_number", sa.String(200)),
        sa.Column("bill_date", DATE),
        sa.Column("amount", sa.Float, nullable=False),
        sa.Column("currency", sa.String(3)),
        sa.Column("basis", sa.String(30), nullable=False),
        sa.Column("matched_at", TS, nullable=False),
    )
    op.create_index("ix_dispute_credits_dispute", "dispute_credits", ["dispute_id", "id"])


def downgrade() -> None:
    op.drop_table("dispute_credits")
    op.drop_table("dispute_items")
    op.drop_table("disputes")
