"""``dialtone disputes``: open disputes from findings, work them with the carrier, write off what
will not come back (approved by a second person), build the claim package, match credits."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .common import UserError, actor_option, audit_writer, configuration, open_store


@click.group("disputes")
def disputes_group() -> None:
    """Billing disputes with carriers: open from findings, file, track, write off, claim package.

    A dispute is opened as a draft from findings on charges or invoices (one per billing account
    and currency), filed with the carrier inside its dispute window, acknowledged, and closed by
    credits matched on later bills or by a write-off that someone else approves (docs/disputes.md)."""


def _latest(ctx: click.Context):
    from dialtone.engine.snapshots import SnapshotStore

    return SnapshotStore(configuration(ctx).data_dir).get(None)


def _money(amount: float | None, currency: str | None) -> str:
    return f"{currency or '???'} {amount or 0:,.2f}"


@disputes_group.command("open")
@click.argument("finding_ids", nargs=-1, required=True, type=int)
@click.option("--note", help="Why, or anything the next person should know (kept in the history).")
@actor_option
@click.pass_context
def open_cmd(ctx: click.Context, finding_ids: tuple[int, ...], note: str | None, actor: str) -> None:
    """Open draft disputes from FINDING_IDS: one per billing account and currency.

    What is claimed per charge is what the bill got wrong (the amount above the contracted
    rate, or the whole charge for a late fee or a charge billed in error). A finding on a
    charge another chosen finding already claims is merged into that claim (money counted
    once). All or nothing: a finding that cannot be disputed stops the request, saying why."""
    from dialtone.engine.disputes.build import open_from_findings, plan
    from dialtone.engine.store import disputes as sd

    config = configuration(ctx)
    store = open_store(ctx, refresh=True)
    snapshot = _latest(ctx)
    ids = list(dict.fromkeys(finding_ids))
    plans = plan(store, snapshot, ids, config.disputes)
    opened = open_from_findings(store, snapshot, ids, config.disputes, actor, audit_writer(store), note)
    merged = {(p.account_id, p.currency): p.merged for p in plans}
    for dispute_id in opened:
        d = sd.get(store, dispute_id)
        click.echo(f"{d['reference']}  account {d['account_id']}  claims "
                   f"{_money(d['claimed_total'], d['currency'])} on {len(d['items'])} charge(s)  "
                   f"file by {d['deadline'] or 'unknown (no bill date)'}")
        for finding, kept in sorted(merged.get((d["account_id"], d["currency"]), {}).items()):
            click.echo(f"  finding {finding}: same charge as finding {kept}, claimed once")
    click.echo(f"{len(opened)} dispute(s) opened as drafts; file each with the carrier, then "
               "`dialtone disputes file ID`")


@disputes_group.command("list")
@click.option("--status", "statuses", multiple=True, type=click.Choice(
    ["draft", "filed", "acknowledged", "credited", "partially_credited", "accepted", "denied",
     "withdrawn"]),
    help="Only disputes in this state (repeatable).")
@click.option("--account", help="Only this billing account's disputes.")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 100000))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def list_cmd(ctx: click.Context, statuses: tuple[str, ...], account: str | None, limit: int,
             fmt: str) -> None:
    """Disputes, newest first, with what each claims and what was credited."""
    from dialtone.engine.store.disputes import list_disputes

    rows = list_disputes(open_store(ctx), status=statuses or None, account_id=account, limit=limit)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, sort_keys=True, default=str, ensure_ascii=False))
        return
    if not rows:
        click.echo("No disputes" + (" match." if statuses or account else " yet."))
        return
    click.echo(f"{'REFERENCE':<11} {'STATUS':<18} {'ACCOUNT':<14} {'CLAIMED':>16} {'CREDITED':>16} "
               f"{'DEADLINE':<10} CARRIER REF")
    for r in rows:
        status = r["status"] + (f" ({r['writeoff_action']}?)" if r["writeoff_action"] else "")
        click.echo(f"{r['reference']:<11} {status:<18} {r['account_id']:<14} "
                   f"{_money(r['claimed_total'], r['currency']):>16} "
                   f"{_money(r['credited_total'], r['currency']):>16} {r['deadline'] or '':<10} "
                   f"{r['carrier_reference'] or ''}")
    click.echo(f"{len(rows)} dispute(s)")


@disputes_group.command("show")
@click.argument("dispute")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def show_cmd(ctx: click.Context, dispute: str, fmt: str) -> None:
    """One dispute (DSP-000001 or 1): its charges, credits and history."""
    from dialtone.engine.store import disputes as sd

    store = open_store(ctx)
    dispute_id = sd.parse_id(dispute)
    d = {**sd.get(store, dispute_id), "history": sd.history(store, dispute_id)}
    if fmt == "json":
        click.echo(json.dumps(d, indent=2, sort_keys=True, default=str, ensure_ascii=False))
        return
    click.echo(f"{d['reference']}: {d['status'].replace('_', ' ')}, account {d['account_id']}"
               f"{' (' + d['vendor'] + ')' if d['vendor'] else ''}")
    click.echo(f"  claimed {_money(d['claimed_total'], d['currency'])}, credited "
               f"{_money(d['credited_total'], d['currency'])}")
    click.echo(f"  bill date {d['bill_date'] or 'unknown'}, window {d['window_days']} days, file by "
               f"{d['deadline'] or 'unknown'}; carrier reference {d['carrier_reference'] or 'none yet'}")
    if d["writeoff_action"]:
        click.echo(f"  awaiting approval: {d['writeoff_action']} requested by "
                   f"{d['writeoff_requested_by']} ({d['writeoff_note']})")
    click.echo("charges:")
    for i in d["items"]:
        click.echo(f"  finding {i['finding_id']}  {i['invoice_number'] or '-'} {i['bill_date'] or '-'}  "
                   f"{i['charge_code'] or '-'}  billed {i['billed_amount']}  contracted "
                   f"{i['contracted_amount']}  claimed {i['claimed_amount']:.2f}  credited "
                   f"{i['credited_amount']:.2f}")
    if d["credits"]:
        click.echo("credits:")
        for c in d["credits"]:
            click.echo(f"  {c['invoice_number'] or c['invoice_id'] or '-'} {c['bill_date'] or '-'}  "
                       f"{_money(c['amount'], c['currency'])}  charge {c['charge_id']}  by {c['basis']}")
    click.echo("history:")
    for e in d["history"]:
        extra = {k: v for k, v in e["data"].items() if k != "dispute" and v not in (None, "", [], {})}
        click.echo(f"  {e['at']}  {e['actor']}  {e['kind']}  {json.dumps(extra, default=str)}")


@disputes_group.command("file")
@click.argument("dispute")
@click.option("--carrier-reference", help="The carrier's own reference for the claim, if it gave one.")
@actor_option
@click.pass_context
def file_cmd(ctx: click.Context, dispute: str, carrier_reference: str | None, actor: str) -> None:
    """Record that the dispute was filed with the carrier (today)."""
    from dialtone.engine.store import disputes as sd

    store = open_store(ctx, refresh=True)
    dispute_id = sd.parse_id(dispute)
    in_time = sd.file(store, dispute_id, actor, audit_writer(store), carrier_reference=carrier_reference)
    d = sd.get(store, dispute_id)
    click.echo(f"{d['reference']} filed")
    if not in_time:
        click.echo(f"warning: {d['reference']} was filed after its deadline ({d['deadline']}, "
                   f"{d['window_days']} days from the bill of {d['bill_date']}): the carrier may refuse "
                   "it; the lateness is recorded in the history", err=True)


@disputes_group.command("acknowledge")
@click.argument("dispute")
@click.option("--carrier-reference", help="The carrier's reference, if it gave one now.")
@actor_option
@click.pass_context
def acknowledge_cmd(ctx: click.Context, dispute: str, carrier_reference: str | None, actor: str) -> None:
    """Record that the carrier accepted the claim for review (a credit is expected)."""
    from dialtone.engine.store import disputes as sd

    store = open_store(ctx, refresh=True)
    dispute_id = sd.parse_id(dispute)
    sd.acknowledge(store, dispute_id, actor, audit_writer(store), carrier_reference=carrier_reference)
    click.echo(f"{sd.reference_of(dispute_id)} acknowledged")


@disputes_group.command("reference")
@click.argument("dispute")
@click.argument("carrier_reference")
@actor_option
@click.pass_context
def reference_cmd(ctx: click.Context, dispute: str, carrier_reference: str, actor: str) -> None:
    """Set the carrier's reference (credits that echo it are matched by it)."""
    from dialtone.engine.store import disputes as sd

    store = open_store(ctx, refresh=True)
    dispute_id = sd.parse_id(dispute)
    sd.set_reference(store, dispute_id, carrier_reference, actor, audit_writer(store))
    click.echo(f"{sd.reference_of(dispute_id)}: carrier reference {carrier_reference.strip()}")


_WRITEOFF_HELP = {
    "withdraw": "Withdraw the dispute: a draft at once, a filed one once someone else approves.",
    "deny": "Record that the carrier denied the claim (written off once someone else approves).",
    "accept": "Accept a partial credit as final (the rest written off once someone else approves).",
}


def _writeoff(action: str) -> click.Command:
    @disputes_group.command(action, help=_WRITEOFF_HELP[action])
    @click.argument("dispute")
    @click.option("--note", required=True, help="Why (kept in the history; the approver reads it).")
    @actor_option
    @click.pass_context
    def command(ctx: click.Context, dispute: str, note: str, actor: str) -> None:
        from dialtone.engine.store import disputes as sd

        store = open_store(ctx, refresh=True)
        dispute_id = sd.parse_id(dispute)
        done = sd.request_writeoff(store, dispute_id, action, note, actor, audit_writer(store))
        ref = sd.reference_of(dispute_id)
        if done:
            click.echo(f"{ref} withdrawn (a draft: nothing was claimed from the carrier)")
        else:
            click.echo(f"{ref}: {action} requested; someone other than {actor} approves or rejects it "
                       f"(`dialtone disputes approve {ref}`)")

    return command


for _action in ("withdraw", "deny", "accept"):
    _writeoff(_action)


def _decision(name: str) -> click.Command:
    @disputes_group.command(name, help=f"{name.capitalize()} a dispute's pending write-off (not your own).")
    @click.argument("dispute")
    @click.option("--note", default="", help="Why.")
    @actor_option
    @click.pass_context
    def command(ctx: click.Context, dispute: str, note: str, actor: str) -> None:
        from dialtone.engine.store import disputes as sd

        store = open_store(ctx, refresh=True)
        dispute_id = sd.parse_id(dispute)
        sd.decide_writeoff(store, dispute_id, name == "approve", actor, audit_writer(store), note)
        d = sd.get(store, dispute_id)
        click.echo(f"{d['reference']}: write-off {'approved' if name == 'approve' else 'rejected'}; "
                   f"now {d['status'].replace('_', ' ')}")

    return command


for _name in ("approve", "reject"):
    _decision(_name)


@disputes_group.command("package")
@click.argument("dispute")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the claim package into (created if missing).")
@click.pass_context
def package_cmd(ctx: click.Context, dispute: str, out: Path) -> None:
    """Write the claim package for the carrier: the disputed charges as CSV and a printable page."""
    from dialtone.engine.disputes.package import write_package
    from dialtone.engine.snapshots import SnapshotStore
    from dialtone.engine.store.disputes import parse_id

    store = open_store(ctx)
    try:
        written = write_package(store, parse_id(dispute), out,
                                snapshots=SnapshotStore(configuration(ctx).data_dir))
    except OSError as exc:
        raise UserError(f"cannot write the claim package into {out}: {exc.strerror or exc}") from None
    for path in written:
        click.echo(str(path))


@disputes_group.command("match")
@click.pass_context
def match_cmd(ctx: click.Context) -> None:
    """Match credits on the latest snapshot's bills to disputes with the carrier."""
    try:
        from dialtone.engine.disputes.credits import match_credits
    except ImportError:
        raise UserError("credit matching is not available in this installation "
                        "(dialtone.engine.disputes.credits is missing)") from None
    store = open_store(ctx, refresh=True)
    result = match_credits(store, _latest(ctx), configuration(ctx).disputes)
    click.echo(str(result))
