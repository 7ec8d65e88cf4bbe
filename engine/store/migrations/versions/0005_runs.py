"""Runs (collect + evaluate + record), per-source results, and the run lock.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("holder", sa.String(300), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("snapshot_id", sa.String(64)),
        sa.Column("evaluation_id", sa.Integer, sa.ForeignKey("evaluations.id")),
        sa.Column("error", sa.Text),
        sa.Column("summary", sa.Text),
    )
    op.create_index("ix_runs_started", "runs", ["started_at"])
    op.create_table(
        "run_sources",
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("source", sa.String(200), primary_key=True),
        sa.Column("collector", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("rejects", sa.Integer, nullable=False),
        sa.Column("unresolved", sa.Integer, nullable=False),
        sa.Column("ambiguous", sa.Integer, nullable=False),
        sa.Column("seconds", sa.Float),
        sa.Column("collected_at", TS),
        sa.Column("error", sa.Text),
    )
    op.create_table(
        "run_lock",
        sa.Column("name", sa.String(20), primary_key=True),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("holder", sa.String(300), nullable=False),
        sa.Column("acquired_at", TS, nullable=False),
        sa.Column("heartbeat_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("run_lock")
    op.drop_table("run_sources")
    op.drop_index("ix_runs_started", table_name="runs")
    op.drop_table("runs")
