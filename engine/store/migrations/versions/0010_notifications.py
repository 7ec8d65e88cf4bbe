"""Notifications: the outbox, digests' findings, tickets on trackers, routing's cursor.

- ``notify_outbox``: one row per message, unique by ``dedupe_key`` (routing is idempotent),
  sent in ``id`` order per target, retried until ``not_before``, ``dead`` after the attempts.
- ``notify_items``: the findings each digest lists (indexed by finding, for its page).
- ``notify_tickets`` and ``notify_ticket_findings``: a ticket per finding or group on a
  tracker, its key, its state (open, claimed, closed), the last comment mirrored from it.
- ``notify_state``: routing's cursor in the history (the last event read).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TS = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "notify_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("rule", sa.String(200)),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("recipient", sa.String(320)),
        sa.Column("dedupe_key", sa.String(600), nullable=False, unique=True),
        sa.Column("finding_id", sa.Integer),
        sa.Column("ticket_id", sa.Integer),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("not_before", TS, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("sent_at", TS),
        sa.Column("ref", sa.String(400)),
    )
    op.create_index("ix_notify_outbox_due", "notify_outbox", ["status", "target", "id"])
    op.create_index("ix_notify_outbox_finding", "notify_outbox", ["finding_id"])
    op.create_table(
        "notify_items",
        sa.Column("message_id", sa.Integer, sa.ForeignKey("notify_outbox.id"), primary_key=True),
        sa.Column("finding_id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(30), primary_key=True),
    )
    op.create_index("ix_notify_items_finding", "notify_items", ["finding_id", "message_id"])
    op.create_table(
        "notify_tickets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("group_key", sa.String(600), nullable=False),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200)),
        sa.Column("url", sa.Text),
        sa.Column("remote_id", sa.String(200)),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("remote_status", sa.String(100)),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("claimed_at", TS),
        sa.Column("closed_at", TS),
        sa.Column("polled_at", TS),
        sa.Column("comment_cursor", sa.String(200)),
        sa.UniqueConstraint("target", "group_key", name="uq_notify_tickets_group"),
    )
    op.create_index("ix_notify_tickets_state", "notify_tickets", ["target", "state"])
    op.create_table(
        "notify_ticket_findings",
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("notify_tickets.id"), primary_key=True),
        sa.Column("finding_id", sa.Integer, primary_key=True),
    )
    op.create_index("ix_notify_ticket_findings_finding", "notify_ticket_findings", ["finding_id"])
    op.create_table(
        "notify_state",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notify_state")
    op.drop_index("ix_notify_ticket_findings_finding", "notify_ticket_findings")
    op.drop_table("notify_ticket_findings")
    op.drop_index("ix_notify_tickets_state", "notify_tickets")
    op.drop_table("notify_tickets")
    op.drop_index("ix_notify_items_finding", "notify_items")
    op.drop_table("notify_items")
    op.drop_index("ix_notify_outbox_finding", "notify_outbox")
    op.drop_index("ix_notify_outbox_due", "notify_outbox")
    op.drop_table("notify_outbox")
