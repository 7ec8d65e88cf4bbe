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
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("auth_source", sa.String(10), nullable=False, server_default="local"))
        batch.add_column(sa.Column("external_subject", sa.String(600)))
    op.create_index("ux_users_external_subject", "users", ["external_subject"], unique=True)
    with op.batch_alter_table("web_sessions") as batch:
        batch.add_column(sa.Column("last_seen_at", TS))
        batch.add_column(sa.Column("refreshed_at", TS))
        batch.add_column(sa.Column("oidc_tokens", sa.Text))
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("read_only", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("read_only")
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_column("oidc_tokens")
        batch.drop_column("refreshed_at")
        batch.drop_column("last_seen_at")
    op.drop_index("ux_users_external_subject", table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("external_subject")
        batch.drop_column("auth_source")
