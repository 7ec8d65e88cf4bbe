"""``dialtone db``: the operational store's schema, backup and restore."""

from __future__ import annotations

from pathlib import Path

import click

from .common import configuration


@click.group("db")
def db_group() -> None:
    """The operational store: its schema, backup and restore."""


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


@db_group.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def db_backup(ctx: click.Context, path: Path) -> None:
    """Write the whole store to PATH (gzip JSON lines, 0600), restorable into SQLite or PostgreSQL.

    Taken in one snapshot: safe while the web application and runs are using the store.
    The file holds password hashes, token digests and every finding: keep it as private as
    the store."""
    from dialtone.engine.store import Store
    from dialtone.engine.store.backup import backup

    config = configuration(ctx)
    store = Store(config.store_url, check=False)
    ctx.call_on_close(store.close)
    summary = backup(store, path)
    click.echo(f"backed up {summary.rows:,} rows of {summary.tables} tables (schema "
               f"{summary.schema_revision}) to {summary.path}")


@db_group.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True,
              help="Delete every row of a store that is not empty before restoring into it (same schema "
                   "revision only).")
@click.pass_context
def db_restore(ctx: click.Context, path: Path, force: bool) -> None:
    """Load a backup written by `dialtone db backup` into the configured store.

    Into an empty database (created at the backup's schema revision, then upgraded to this
    version's), or with --force into one at the backup's revision. All or nothing: a restore that
    fails leaves the store as it was. Check it afterwards with `dialtone audit verify`."""
    from dialtone.engine.store import Store
    from dialtone.engine.store.backup import restore

    config = configuration(ctx)
    store = Store(config.store_url, check=False)
    ctx.call_on_close(store.close)
    summary = restore(store, path, force=force)
    click.echo(f"restored {summary.rows:,} rows of {summary.tables} tables (schema "
               f"{summary.schema_revision}) from {summary.path}; the store is now at the current schema")
