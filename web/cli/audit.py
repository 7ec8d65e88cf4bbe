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


#: Entries the plain listing shows unless --limit says otherwise (exports have no limit).
TEXT_LIMIT = 100
COLUMNS = ("id", "at", "actor", "action", "target", "origin", "data")


@audit_group.command("log")
@click.option("--actor", "who", help="Only this actor.")
@click.option("--action", help="Only this action (sign_in, sign_in_failed, sign_out, user_role, "
                               "user_provision, user_deprovision, token_create, token_use, …).")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help="Only entries from this day (UTC) on.")
@click.option("--limit", type=click.IntRange(1), default=None,
              help=f"At most this many entries (default: {TEXT_LIMIT} for text, all for csv and json).")
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "json"]), default="text",
              show_default=True,
              help="csv: one row per entry (formula-like cells prefixed with '); json: an array of "
                   "entries, data parsed. Both are written as they are read: any size.")
@click.pass_context
def audit_log_cmd(ctx: click.Context, who: str | None, action: str | None, since, limit: int | None,
                  fmt: str) -> None:
    """Who did what, when and from where (newest first): sign-ins and their failures, sign-outs,
    accounts and roles, API tokens, and every action on findings, exceptions and disputes."""
    import contextlib
    import json
    import sys

    from sqlalchemy import select

    from dialtone.engine.csvsafe import write_rows
    from dialtone.engine.store.tables import audit_log

    store = open_store(ctx, refresh=False)
    query = select(audit_log).order_by(audit_log.c.id.desc())
    if who:
        query = query.where(audit_log.c.actor == who)
    if action:
        query = query.where(audit_log.c.action == action)
    if since is not None:
        query = query.where(audit_log.c.at >= since.strftime("%Y-%m-%d"))
    if limit is None and fmt == "text":
        limit = TEXT_LIMIT
    if limit is not None:
        query = query.limit(limit)
    with store.read() as conn:
        rows = conn.execution_options(yield_per=1000).execute(query)
        if fmt == "text":
            for r in rows:
                click.echo(f"{r.at} {r.actor} {r.action} {r.target} from {r.origin} {r.data}")
        elif fmt == "csv":
            write_rows(sys.stdout, COLUMNS, (r._mapping for r in rows))
        else:
            out = sys.stdout
            out.write("[")
            for n, r in enumerate(rows):
                entry = dict(r._mapping)
                with contextlib.suppress(ValueError):   # text written by an old version stays text
                    entry["data"] = json.loads(entry["data"])
                out.write(("," if n else "") + "\n" + json.dumps(entry, ensure_ascii=False))
            out.write("\n]\n")
