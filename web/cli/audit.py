"""``dialtone audit``: verify the remediation history; read the audit log."""

from __future__ import annotations

import click

from .common import open_store


@click.group("audit")
def audit_group() -> None:
    """Verify the remediation history; read the audit log."""


@audit_group.command("verify")
@click.pass_context
def audit_verify(ctx: click.Context) -> None:
    """Recompute the event chain and check every finding and dispute against its history; exit 1
    naming the first bad event and the findings or disputes that disagree."""
    from dialtone.engine.store import chain, dispute_state, history_state

    store = open_store(ctx, refresh=False)
    with store.read() as conn:
        report = chain.verify(conn)
        state = history_state.check(conn)
        claims = dispute_state.check(conn)
    if report.ok:
        click.echo(f"chain OK: {report.events} events; head #{report.head_seq} {report.head_hash}")
    elif report.first_bad_seq is None:
        click.echo(f"chain BROKEN: {report.problem}", err=True)
    else:
        click.echo(f"chain BROKEN at event {report.first_bad_seq}: {report.problem}", err=True)
    if state.empty_history:
        click.echo(f"findings BROKEN: the store holds {state.findings:,} findings but no history "
                   "(their events were removed)", err=True)
    elif state.disagreeing:
        ids = ", ".join(str(d.finding_id) for d in state.sample)
        click.echo(f"findings BROKEN: {state.disagreeing:,} of {state.findings:,} disagree with their "
                   f"history (the first: {ids})", err=True)
        for d in state.sample:
            click.echo(f"  {d}", err=True)
    else:
        click.echo(f"findings OK: {state.findings:,} agree with their history")
    if claims.count:
        click.echo(f"disputes BROKEN: {claims.count:,} of {claims.disputes:,} disagree with their "
                   "history", err=True)
        for line in claims.disagreeing:
            click.echo(f"  {line}", err=True)
    elif claims.disputes:
        click.echo(f"disputes OK: {claims.disputes:,} agree with their history")
    if not (report.ok and state.ok and claims.ok):
        ctx.exit(1)


@audit_group.command("log")
@click.option("--actor", "who", help="Only this actor.")
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True)
@click.pass_context
def audit_log_cmd(ctx: click.Context, who: str | None, limit: int) -> None:
    """Who did what, when and from where (newest first)."""
    from sqlalchemy import select

    from dialtone.engine.store.tables import audit_log

    store = open_store(ctx, refresh=False)
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if who:
        query = query.where(audit_log.c.actor == who)
    with store.read() as conn:
        for r in conn.execute(query):
            click.echo(f"{r.at} {r.actor} {r.action} {r.target} from {r.origin} {r.data}")
