"""``dialtone db``: the operational store's schema."""

from __future__ import annotations

import click

from .common import configuration


@click.group("db")
def db_group() -> None:
    """The operational store's schema."""


@db_group.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Create the store or bring its schema up to date (runs the migrations)."""
    from dialtone.engine.store import Store
    from dialtone.engine.store.db import reachable, upgrade

    config = configuration(ctx)
    store = Store(config.store_url, check=False)
    with reachable(config.store_url):
        before, after = upgrade(store.writer)
    click.echo(f"store schema: {before or 'empty'} -> {after}" if before != after
               else f"store schema already at {after}")


@db_group.command("status")
@click.pass_context
def db_status(ctx: click.Context) -> None:
    """Show the store's location and schema revision."""
    from sqlalchemy.engine import make_url

    from dialtone.engine.store import Store
    from dialtone.engine.store.db import current_revision, head_revision, reachable

    config = configuration(ctx)
    store = Store(config.store_url, check=False)
    with reachable(config.store_url), store.reader.connect() as conn:
        revision = current_revision(conn)
    click.echo(f"store: {make_url(config.store_url).render_as_string(hide_password=True)}")
    click.echo(f"schema: {revision or 'empty'} (this version needs {head_revision()})")
