"""``dialtone frameworks``: the frameworks catalogue and its coverage by policies."""

from __future__ import annotations

import click

from .common import DialtoneGroup, configured_catalogue, configured_policies, unknown


@click.group("frameworks", cls=DialtoneGroup)
def frameworks_group() -> None:
    """The frameworks catalogue and its coverage by policies."""


@frameworks_group.command("list")
@click.pass_context
def frameworks_list(ctx: click.Context) -> None:
    """Each framework with its requirements: covered, out of scope, uncovered."""
    catalogue = configured_catalogue(ctx)
    cover = catalogue.coverage(configured_policies(ctx).policies)
    click.echo(f"{'FRAMEWORK':<20} {'REQS':>5} {'COVERED':>8} {'OUT OF SCOPE':>13} {'UNCOVERED':>10}  TITLE")
    for fw in catalogue.frameworks.values():
        covered = sum(1 for r in fw.requirements if cover[fw.id, r.id])
        out = sum(1 for r in fw.requirements if not cover[fw.id, r.id] and r.out_of_scope)
        click.echo(f"{fw.id:<20} {len(fw.requirements):>5} {covered:>8} {out:>13} "
                   f"{len(fw.requirements) - covered - out:>10}  {fw.title}")


@frameworks_group.command("show")
@click.argument("framework_id")
@click.pass_context
def frameworks_show(ctx: click.Context, framework_id: str) -> None:
    """A framework's requirements and the policies that check each."""
    catalogue = configured_catalogue(ctx)
    fw = catalogue.frameworks.get(framework_id)
    if fw is None:
        unknown("framework", framework_id, catalogue.frameworks)
    cover = catalogue.coverage(configured_policies(ctx).policies)
    click.echo(f"{fw.title}\n  {fw.authority}; {fw.citation}\n")
    for r in fw.requirements:
        click.echo(f"{r.id}: {r.title} ({r.citation})\n  {r.summary}")
        ids = cover[fw.id, r.id]
        if ids:
            click.echo("  policies: " + ", ".join(ids))
        elif r.out_of_scope:
            click.echo(f"  out of scope: {r.out_of_scope}")
        else:
            click.echo("  UNCOVERED: no policy checks this yet")
