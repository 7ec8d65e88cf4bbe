"""``dialtone schema``, ``collect`` and ``snapshots``: the estate model, collecting it, its snapshots."""

from __future__ import annotations

import json

import click

from .common import DialtoneGroup, configuration


@click.command("schema")
@click.argument("entity", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def schema_cmd(entity: str | None, fmt: str) -> None:
    """Print the estate model, or one ENTITY's fields and relations."""
    from dialtone.engine.estate.model import load_model
    from dialtone.engine.estate.reference import entity_reference, model_reference

    model = load_model()
    if fmt == "json":
        data = model.entity(entity).schema if entity else {
            n: e.schema for n, e in model.entities.items()}
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(entity_reference(model.entity(entity)) if entity else model_reference(model))


@click.command("collect")
@click.option("--source", "sources", multiple=True, help="Collect only this source (repeatable).")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]),
              help="The snapshot's as-of date (default: today, UTC).")
@click.option("--accept-drop", "accept_drop", multiple=True, metavar="SOURCE",
              help="This source's rows fell far below the previous snapshot's, or it lost a "
                   "column it delivered, and that is real: use them this once (repeatable).")
@click.pass_context
def collect_cmd(ctx: click.Context, sources: tuple[str, ...], as_of,
                accept_drop: tuple[str, ...]) -> None:
    """Read every configured source and write a new snapshot.

    A source that cannot be read, or is not whole (a file changed while read or cut
    short, a key column missing, far fewer rows than before), keeps its previous rows,
    marked stale; the exit status is then 3.
    """
    from dialtone.engine.collect import collect
    from dialtone.web.progress import TerminalProgress

    config = configuration(ctx, required=True)
    bar = TerminalProgress()
    try:
        result = collect(config, only=list(sources) or None,
                         as_of=as_of.date() if as_of else None, progress=bar.source,
                         accept_drop=accept_drop)
    finally:
        bar.done()
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    snap = result.snapshot
    click.echo(f"snapshot {snap.id} (as of {snap.as_of.isoformat()})")
    for name, meta in result.by_source.items():
        carried = f", carried from {meta['carried_from']}" if meta.get("carried_from") else ""
        state = {"stale": " STALE", "failed": " FAILED"}.get(meta.get("status"), "")
        rows = sum(meta.get("rows", {}).values())
        click.echo(f"  source {name} [{meta['collector']}]{state}: {rows} rows, "
                   f"{meta.get('rejects', 0)} rejected{carried}")
        identity = meta.get("identity") or {}
        if identity.get("unresolved") or identity.get("ambiguous"):
            click.echo(f"    {identity['unresolved']} unresolved and {identity['ambiguous']} "
                       "ambiguous references")
    for entity, n in result.rows.items():
        click.echo(f"  {entity:<20} {n:>10} rows")
    if result.rejects:
        click.echo(f"{result.rejects} row(s) rejected: see {snap.path / 'rejects.csv'}")
    if snap.manifest.get("unresolved"):
        click.echo(f"{snap.manifest['unresolved']} reference(s) not resolved: see "
                   f"{snap.path / 'unresolved.csv'}")
    for error in result.failures.values():
        click.echo(f"error: {error} (its last good data was kept, marked stale)", err=True)
    if result.failures:
        ctx.exit(3)


@click.group("snapshots", cls=DialtoneGroup)
def snapshots_group() -> None:
    """List and inspect snapshots."""


@snapshots_group.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def snapshots_list(ctx: click.Context, fmt: str) -> None:
    from dialtone.engine.snapshots import SnapshotStore

    snaps = SnapshotStore(configuration(ctx).data_dir).list()
    if fmt == "json":
        click.echo(json.dumps([{"id": s.id, "as_of": s.manifest["as_of"],
                                "rows": sum(e["rows"] for e in s.entities.values()),
                                "rejects": s.manifest.get("rejects", 0),
                                "sources": sorted(s.manifest["sources"])} for s in snaps],
                              indent=2))
        return
    if not snaps:
        click.echo("no snapshots yet: run 'dialtone collect'")
        return
    click.echo(f"{'ID':<22} {'AS OF':<11} {'ROWS':>10} {'REJECTS':>8}  SOURCES")
    for s in snaps:
        rows = sum(e["rows"] for e in s.entities.values())
        click.echo(f"{s.id:<22} {s.manifest['as_of']:<11} {rows:>10} "
                   f"{s.manifest.get('rejects', 0):>8}  {', '.join(sorted(s.manifest['sources']))}")


@snapshots_group.command("show")
@click.argument("snapshot_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def snapshots_show(ctx: click.Context, snapshot_id: str, fmt: str) -> None:
    """Show a snapshot (ID or 'latest'); --format json prints its manifest."""
    from dialtone.engine.snapshots import SnapshotStore

    snap = SnapshotStore(configuration(ctx).data_dir).get(snapshot_id)
    if fmt == "json":
        click.echo(json.dumps(snap.manifest, indent=2, sort_keys=True))
        return
    m = snap.manifest
    click.echo(f"snapshot {snap.id}\n  as of:    {m['as_of']}\n  created:  {m['created_at']}\n"
               f"  path:     {snap.path}\n  rejects:  {m.get('rejects', 0)}")
    click.echo("  sources:")
    for name, src in sorted(m["sources"].items()):
        carried = f" (carried from {src['carried_from']})" if src.get("carried_from") else ""
        click.echo(f"    {name} [{src['collector']}] {src['settings_fingerprint'][:19]}…{carried}")
        for origin, digest in src.get("inputs", {}).items():
            click.echo(f"      {origin}  sha256:{digest[:16]}…")
        if src.get("status") in ("stale", "failed") and src.get("error"):
            click.echo(f"      {src['status']}: {src['error']}")
        for w in src.get("warnings", []):
            click.echo(f"      warning: {w}")
    click.echo("  entities:")
    for name, e in sorted(m["entities"].items()):
        click.echo(f"    {name:<20} {e['rows']:>10} rows  sha256:{e['sha256'][:16]}…")
    bad = snap.verify()
    click.echo("  integrity: " + ("OK" if not bad else "MODIFIED: " + ", ".join(bad)))
