"""``dialtone exceptions``: request, decide and list exceptions."""

from __future__ import annotations

import json

import click

from .common import (
    actor_option,
    audit_writer,
    bring_exceptions_up_to_date,
    open_store,
    warn_if_exceptions_lapsed,
)


@click.group("exceptions")
def exceptions_group() -> None:
    """Request, decide and list exceptions (accepted risk until an expiry date)."""


@exceptions_group.command("request")
@click.option("--policy", "policy_id", required=True)
@click.option("--resource", "resources", multiple=True, help="Resource id (repeatable).")
@click.option("--pattern", "patterns", multiple=True, help="Resource id pattern with * and ? (repeatable).")
@click.option("--justification", required=True)
@click.option("--expires", "expires_on", required=True, type=click.DateTime(["%Y-%m-%d"]),
              help="Last day the exception is in force (UTC, inclusive).")
@click.option("--ticket", help="Change or risk ticket reference.")
@actor_option
@click.pass_context
def exceptions_request(ctx, policy_id, resources, patterns, justification, expires_on, ticket,
                       actor) -> None:
    """Request an exception; someone other than the requester must approve it."""
    from dialtone.engine.store.exceptions import ExceptionSpec, request

    store = open_store(ctx, refresh=True)
    new_id = request(store, ExceptionSpec(
        policy_id=policy_id, justification=justification, expires_on=expires_on.date(),
        requested_by=actor, resources=resources, resource_patterns=patterns, ticket=ticket),
        audit=audit_writer(store))
    click.echo(f"exception {new_id} requested; it takes effect once someone else approves it")


def _decision(name: str, verb: str):
    @exceptions_group.command(name)
    @click.argument("exception_id", type=int)
    @click.option("--note", help="Why.")
    @actor_option
    @click.pass_context
    def command(ctx, exception_id: int, note: str | None, actor: str) -> None:
        from dialtone.engine.store.exceptions import decide

        store = open_store(ctx, refresh=True)
        decide(store, exception_id, name, actor, note, audit=audit_writer(store))
        click.echo(f"exception {exception_id} {verb}")

    command.__doc__ = {"approve": "Approve a requested exception (not your own).",
                       "reject": "Reject a requested exception (not your own).",
                       "revoke": "Revoke an approved exception; its findings reopen."}[name]
    return command


for _name, _verb in (("approve", "approved"), ("reject", "rejected"), ("revoke", "revoked")):
    _decision(_name, _verb)


@exceptions_group.command("list")
@click.option("--status", "view", default="all", show_default=True,
              type=click.Choice(["requested", "active", "expiring", "expired", "orphaned", "rejected",
                                 "revoked", "all"]))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def exceptions_list(ctx, view: str, fmt: str) -> None:
    """List exceptions; 'orphaned' are in force but match no finding."""
    from dialtone.engine.store.queries import list_exceptions

    store = open_store(ctx)
    warn_if_exceptions_lapsed(store)
    rows = list_exceptions(store, view)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, sort_keys=True, ensure_ascii=False))
        return
    click.echo(f"{'ID':>5} {'STATUS':<10} {'EXPIRES':<11} {'SOURCE':<11} {'POLICY':<40} COVERS")
    for r in rows:
        covers = ", ".join(r["selector"]["resources"] + r["selector"]["resource_patterns"])
        flag = " (orphaned)" if r["orphaned"] else ""
        click.echo(f"{r['id']:>5} {r['status']:<10} {r['expires_on']:<11} {r['source']:<11} "
                   f"{r['policy_id']:<40} {covers}{flag}")
    click.echo(f"{len(rows)} exception(s)")


@exceptions_group.command("refresh")
@click.pass_context
def exceptions_refresh(ctx) -> None:
    """Sync the repository's exception files, expire what is past its date (reopening its
    findings) and apply what is in force; for cron where no web server and no run does it."""
    from dialtone.engine.store.exceptions import lapsed_count

    store = open_store(ctx)
    lapsed = lapsed_count(store)
    bring_exceptions_up_to_date(ctx, store)
    click.echo(f"exceptions up to date as of {store.today().isoformat()} (UTC); "
               f"{lapsed} expired now")
