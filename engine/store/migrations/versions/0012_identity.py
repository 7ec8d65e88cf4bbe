"""Sign-in through an OpenID provider, idle sessions, read-only API tokens.

- ``users.auth_source`` (local | oidc) and ``users.external_subject`` ("<issuer> <sub>",
  unique): accounts made at an OpenID sign-in are found again by the provider's subject, never
  by a username someone could choose. Existing accounts are local.
- ``web_sessions.last_seen_at``: the idle timeout counts from it; ``refreshed_at`` and
  ``oidc_tokens`` (the provider's tokens, encrypted with a key derived from the application's
  secret key) let a session re-read the person's groups from the provider.
- ``api_tokens.read_only``: such a token is refused on anything but GET and HEAD. Existing
  tokens keep full use.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TS = sa.String(32)


def upgrade() -> None:
    # Plain ADD COLUMNs (with a default where NOT NULL): SQLite adds them in place, where a batch
    # would copy the users table, which the other tables' foreign keys forbid dropping.
    op.add_column("users", sa.Column("auth_source", sa.String(10), nullable=False, server_default="local"))
    op.add_column("users", sa.Column("external_subject", sa.String(600)))
    op.create_index("ux_users_external_subject", "users", ["external_subject"], unique=True)
    op.add_column("web_sessions", sa.Column("last_seen_at", TS))
    op.add_column("web_sessions", sa.Column("refreshed_at", TS))
    op.add_column("web_sessions", sa.Column("oidc_tokens", sa.Text))
    op.add_column("api_tokens", sa.Column("read_only", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    # Plain DROP COLUMNs (SQLite 3.35 and later, PostgreSQL), for the reason upgrade adds them so.
    op.drop_column("api_tokens", "read_only")
    op.drop_column("web_sessions", "oidc_tokens")
    op.drop_column("web_sessions", "refreshed_at")
    op.drop_column("web_sessions", "last_seen_at")
    op.drop_index("ux_users_external_subject", table_name="users")
    op.drop_column("users", "external_subject")
    op.drop_column("users", "auth_source")
