"""``dialtone notify``: send the outbox, look at it, try a target."""

from __future__ import annotations

import json

import click

from .common import audit_writer, configuration, default_actor, open_store


@click.group("notify")
def notify_group() -> None:
    """Notifications: send the outbox, list it, send a test message to a target.

    Dead letters can be sent again (`retry`) or given up (`cancel`), here or on the
    Notifications page."""


def _latest_snapshot(config):
    from dialtone.engine.errors import DialtoneError
    from dialtone.engine.snapshots import SnapshotStore

    try:
        return SnapshotStore(config.data_dir).get(None)
    except DialtoneError:
        return None


@notify_group.command("send")
@click.option("--target", help="Only this target's messages (and tickets).")
@click.pass_context
def send_cmd(ctx: click.Context, target: str | None) -> None:
    """Route new events and what is due today, read the trackers' tickets, send what is due.

    `dialtone run` and the scheduler do the same after each run. Exit status 0 when every due
    message went out, 3 when some wait for a retry or became dead letters."""
    from dialtone.engine.notify.delivery import notify

    config = configuration(ctx, required=True)
    _known_target(config, target)
    store = open_store(ctx, refresh=True)
    summary = notify(store, config, _latest_snapshot(config), only_target=target)
    click.echo(summary.routed.line())
    click.echo(summary.line())
    for error in summary.errors:
        click.echo(f"warning: {error}", err=True)
    if summary.retrying or summary.dead:
        ctx.exit(3)


@notify_group.command("list")
@click.option("--status", type=click.Choice(("pending", "sent", "dead", "cancelled")))
@click.option("--target")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def list_cmd(ctx: click.Context, status: str | None, target: str | None, limit: int, fmt: str) -> None:
    """The outbox, newest first: what was sent, what waits, what failed for good."""
    from dialtone.engine.store.outbox_reads import outbox_page

    with open_store(ctx).read() as conn:
        rows = outbox_page(conn, status=status, target=target, limit=limit)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, sort_keys=True))
        return
    if not rows:
        click.echo("The outbox is empty" + (" for that filter." if status or target else "."))
        return
    click.echo(f"{'id':>6}  {'created':20}  {'target':12}  {'kind':18}  {'status':9}  {'tries':>5}  "
               "to / error")
    for r in rows:
        tail = r["last_error"] if r["status"] != "sent" and r["last_error"] else (r["recipient"] or "")
        click.echo(f"{r['id']:>6}  {r['created_at'][:19]:20}  {r['target'][:12]:12}  {r['kind'][:18]:18}  "
                   f"{r['status']:9}  {r['attempts']:>5}  {tail}")


@notify_group.command("retry")
@click.argument("message_id", type=int)
@click.pass_context
def retry_cmd(ctx: click.Context, message_id: int) -> None:
    """Send a dead letter again: back to pending, its attempts at 0 (after fixing what failed)."""
    _act(ctx, "retry", message_id)


@notify_group.command("cancel")
@click.argument("message_id", type=int)
@click.pass_context
def cancel_cmd(ctx: click.Context, message_id: int) -> None:
    """Never send this pending message or dead letter (it stays in the outbox, cancelled)."""
    _act(ctx, "cancel", message_id)


def _act(ctx: click.Context, action: str, message_id: int) -> None:
    from dialtone.engine.store import outbox_actions

    store = open_store(ctx)
    try:
        getattr(outbox_actions, action)(store, message_id, default_actor(), audit_writer(store))
    except outbox_actions.OutboxError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"message {message_id}: " + ("back to pending" if action == "retry" else "cancelled"))


@notify_group.command("test")
@click.argument("target")
@click.option("--to", "recipient", help="Address for an e-mail target (default: its `to`).")
@click.pass_context
def test_cmd(ctx: click.Context, target: str, recipient: str | None) -> None:
    """Send a sample message to TARGET (a ticket tracker is asked for a ticket instead, which
    checks the address and the credentials without opening one)."""
    from dialtone.engine.notify.testing import try_target

    config = configuration(ctx, required=True)
    _known_target(config, target)
    store = open_store(ctx)
    result = try_target(config, store, target, recipient)
    from dialtone.engine.store.workflow import record

    record(store, audit_writer(store), default_actor(), "notify_test", f"target:{target}",
           {"ok": result.ok, "detail": result.detail})
    if not result.ok:
        click.echo(f"error: {result.detail}", err=True)
        ctx.exit(2)
    click.echo(result.detail)


def _known_target(config, name: str | None) -> None:
    from dialtone.engine.errors import did_you_mean

    targets = config.notifications.targets
    if not targets:
        raise click.UsageError("No notification targets are configured (notifications.targets in "
                               "dialtone.yaml; see docs/notifications.md).")
    if name is not None and name not in targets:
        raise click.UsageError(f"No target named '{name}'.{did_you_mean(name, list(targets))} "
                               f"Targets: {', '.join(sorted(targets))}.")
