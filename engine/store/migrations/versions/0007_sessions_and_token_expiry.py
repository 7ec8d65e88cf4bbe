"""Server-side web sessions, and API tokens that expire and record their last use.

- ``web_sessions``: one row per signed-in browser. The session cookie carries a random token
  whose SHA-256 is the row's id; a request is authenticated only while its row is neither
  ended (logout, password change, disable, role change) nor expired.
- ``api_tokens.expires_at``: tokens are refused from then on. Tokens that exist when the store
  is upgraded get the default lifetime (90 days) from the upgrade, so that scripts keep working
  and nothing lives for ever; ``dialtone tokens list`` shows when each expires.
- ``api_tokens.revoked_at``, ``last_used_at``, ``last_used_from``: when a token was revoked,
  and when and from which address it was last used.

Revision ID: 0007
Revises: 0006
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.String(32)
#: The lifetime given to tokens that predate expiry (accounts.DEFAULT_TOKEN_DAYS when written).
EXISTING_TOKEN_DAYS = 90


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("ended_at", TS),
        sa.Column("origin", sa.String(200), nullable=False),
    )
    op.create_index("ix_web_sessions_user", "web_sessions", ["user_id"])
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", TS))
        batch.add_column(sa.Column("revoked_at", TS))
        batch.add_column(sa.Column("last_used_at", TS))
        batch.add_column(sa.Column("last_used_from", sa.String(200)))
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=EXISTING_TOKEN_DAYS)
               ).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    tokens = sa.table("api_tokens", sa.column("expires_at", TS))
    op.execute(tokens.update().values(expires_at=expires))
    with op.batch_alter_table("api_tokens") as batch:
        batch.alter_column("expires_at", existing_type=TS, nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("last_used_from")
        batch.drop_column("last_used_at")
        batch.drop_column("revoked_at")
        batch.drop_column("expires_at")
    op.drop_index("ix_web_sessions_user", table_name="web_sessions")
    op.drop_table("web_sessions")
