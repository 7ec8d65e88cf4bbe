"""Initial schema: evaluations, findings, the event chain, exceptions, audit log.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-26 23:54:09.658297
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('target', sa.String(length=300), nullable=False),
    sa.Column('origin', sa.String(length=200), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('chain_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.execute("INSERT INTO chain_head (id, seq, hash) VALUES (1, 0, '" + '0' * 64 + "')")
    op.create_table('evaluations',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('snapshot_id', sa.String(length=64), nullable=False),
    sa.Column('snapshot_sha256', sa.String(length=80), nullable=True),
    sa.Column('snapshot_as_of', sa.String(length=10), nullable=False),
    sa.Column('policies_version', sa.String(length=100), nullable=False),
    sa.Column('policies_source', sa.String(length=10), nullable=False),
    sa.Column('policies_dirty', sa.Boolean(), nullable=True),
    sa.Column('engine', sa.String(length=20), nullable=False),
    sa.Column('started_at', sa.String(length=32), nullable=False),
    sa.Column('finished_at', sa.String(length=32), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('events',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('finding_id', sa.Integer(), nullable=True),
    sa.Column('exception_id', sa.Integer(), nullable=True),
    sa.Column('evaluation_id', sa.Integer(), nullable=True),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_exception', ['exception_id'], unique=False)
        batch_op.create_index('ix_events_finding', ['finding_id'], unique=False)

    op.create_table('exceptions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=400), nullable=False),
    sa.Column('source', sa.String(length=12), nullable=False),
    sa.Column('policy_id', sa.String(length=200), nullable=False),
    sa.Column('selector', sa.Text(), nullable=False),
    sa.Column('justification', sa.Text(), nullable=False),
    sa.Column('ticket', sa.String(length=200), nullable=True),
    sa.Column('requested_by', sa.String(length=200), nullable=False),
    sa.Column('requested_at', sa.String(length=32), nullable=False),
    sa.Column('approver', sa.String(length=200), nullable=True),
    sa.Column('decided_at', sa.String(length=32), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('expires_on', sa.String(length=10), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('exceptions', schema=None) as batch_op:
        batch_op.create_index('ix_exceptions_policy_status', ['policy_id', 'status'], unique=False)

    op.create_table('findings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('policy_id', sa.String(length=200), nullable=False),
    sa.Column('resource_type', sa.String(length=50), nullable=False),
    sa.Column('resource_id', sa.String(length=300), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('evidence', sa.Text(), nullable=True),
    sa.Column('savings', sa.Float(), nullable=True),
    sa.Column('first_seen_evaluation', sa.Integer(), nullable=False),
    sa.Column('last_seen_evaluation', sa.Integer(), nullable=False),
    sa.Column('first_seen_at', sa.String(length=32), nullable=False),
    sa.Column('last_seen_at', sa.String(length=32), nullable=False),
    sa.Column('opened_at', sa.String(length=32), nullable=False),
    sa.Column('due_on', sa.String(length=10), nullable=True),
    sa.Column('resolved_at', sa.String(length=32), nullable=True),
    sa.Column('resolved_evaluation', sa.Integer(), nullable=True),
    sa.Column('assignee', sa.String(length=200), nullable=True),
    sa.Column('exception_id', sa.Integer(), nullable=True),
    sa.Column('review_note', sa.Text(), nullable=True),
    sa.Column('reopen_count', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('policy_id', 'resource_type', 'resource_id', name='uq_findings_identity')
    )
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.create_index('ix_findings_policy_status', ['policy_id', 'status'], unique=False)
        batch_op.create_index('ix_findings_status_due', ['status', 'due_on'], unique=False)

    op.create_table('policies',
    sa.Column('id', sa.String(length=200), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('resource_type', sa.String(length=50), nullable=False),
    sa.Column('policy_hash', sa.String(length=80), nullable=True),
    sa.Column('in_set', sa.Boolean(), nullable=False),
    sa.Column('last_run_evaluation', sa.Integer(), nullable=True),
    sa.Column('last_ok_evaluation', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('policy_requirements',
    sa.Column('policy_id', sa.String(length=200), nullable=False),
    sa.Column('framework', sa.String(length=100), nullable=False),
    sa.Column('requirement', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('policy_id', 'framework', 'requirement')
    )
    op.create_table('exception_targets',
    sa.Column('exception_id', sa.Integer(), nullable=False),
    sa.Column('resource_id', sa.String(length=300), nullable=True),
    sa.Column('pattern', sa.String(length=300), nullable=True),
    sa.ForeignKeyConstraint(['exception_id'], ['exceptions.id'], )
    )
    with op.batch_alter_table('exception_targets', schema=None) as batch_op:
        batch_op.create_index('ix_exception_targets', ['exception_id'], unique=False)

    op.create_table('policy_runs',
    sa.Column('evaluation_id', sa.Integer(), nullable=False),
    sa.Column('policy_id', sa.String(length=200), nullable=False),
    sa.Column('policy_hash', sa.String(length=80), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('evaluated', sa.Integer(), nullable=False),
    sa.Column('finding_count', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('skip_reason', sa.Text(), nullable=True),
    sa.Column('params', sa.Text(), nullable=True),
    sa.Column('sql', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['evaluation_id'], ['evaluations.id'], ),
    sa.PrimaryKeyConstraint('evaluation_id', 'policy_id')
    )


def downgrade() -> None:
    op.drop_table('policy_runs')
    with op.batch_alter_table('exception_targets', schema=None) as batch_op:
        batch_op.drop_index('ix_exception_targets')

    op.drop_table('exception_targets')
    op.drop_table('policy_requirements')
    op.drop_table('policies')
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.drop_index('ix_findings_status_due')
        batch_op.drop_index('ix_findings_policy_status')

    op.drop_table('findings')
    with op.batch_alter_table('exceptions', schema=None) as batch_op:
        batch_op.drop_index('ix_exceptions_policy_status')

    op.drop_table('exceptions')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_finding')
        batch_op.drop_index('ix_events_exception')

    op.drop_table('events')
    op.drop_table('evaluations')
    op.drop_table('chain_head')
    op.drop_table('audit_log')
