"""``dialtone db``, ``findings``, ``exceptions`` and ``audit``: the findings store from the CLI."""

from __future__ import annotations

import getpass
import json
import os
import socket

import click

from dialtone.engine.policy.model import CATEGORIES, SEVERITIES

ACTOR_ENV = "DIALTONE_USER"
FINDING_STATUSES = ("open", "in_progress", "excepted", "resolved", "retired", "false_positive",
                    "not_applicable")


def context_config(ctx: click.Context, required: bool = False):
    """The configuration named by ``--config`` (or found the usual way) for a command."""
    from dialtone.engine.config import load_config

    return load_config(ctx.obj.get("config"), required=required)


_config = context_config


def default_actor() -> str:
    from dialtone.web.cli import check_utf8

    actor = os.environ.get(ACTOR_ENV) or getpass.getuser()
    check_utf8(actor, f"${ACTOR_ENV} or the login name")
    return actor


actor_option = click.option(
    "--actor", default=default_actor, show_default=f"${ACTOR_ENV} or your login name",
    help="Who is acting (recorded in the history and the audit log).")


def repository_exceptions(config, loaded, *, warn: bool = True):
    """Valid repository exceptions, or None when any file is invalid (nothing is synced then)."""
    from dialtone.engine.policy.exceptions_file import load_exceptions

    specs, problems = load_exceptions(config.exceptions_dir, loaded.by_id(),
                                      config.store.exception_max_days)
    if problems:
        if warn:
            warn_exception_problems(problems)
        return None
    return specs


def warn_exception_problems(problems) -> None:
    """Say which repository exception files are invalid (none is synced until they are fixed)."""
    if problems:
        for p in problems:
            click.echo(f"warning: {p}", err=True)
        click.echo("warning: repository exceptions not synced until these are fixed", err=True)


def open_store(ctx: click.Context, *, refresh: bool = True):
    """The configured store, with exceptions synced and expired as of now."""
    from dialtone.engine.policy.loader import load_policies
    from dialtone.engine.store import Store
    from dialtone.engine.store.exceptions import refresh_exceptions

    config = _config(ctx)
    store = Store.from_config(config)
    ctx.call_on_close(store.close)
    if refresh:
        repo = repository_exceptions(config, load_policies(config.policy_paths))
        with store.write() as conn:
            refresh_exceptions(conn, store, repository=repo)
    return store


def _audit(store):
    from dialtone.engine.store.workflow import audit_writer

    return audit_writer(store, f"cli:{socket.gethostname()}")


# -- db -----------------------------------------------------------------------------------
@click.group("db")
def db_group() -> None:
    """The operational store's schema."""


@db_group.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Create the store or bring its schema up to date (runs the migrations)."""
    from dialtone.engine.store import Store
    from dialtone.engine.store.db import reachable, upgrade

    config = _config(ctx)
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

    config = _config(ctx)
    store = Store(config.store_url, check=False)
    with reachable(config.store_url), store.reader.connect() as conn:
        revision = current_revision(conn)
    click.echo(f"store: {make_url(config.store_url).render_as_string(hide_password=True)}")
    click.echo(f"schema: {revision or 'empty'} (this version needs {head_revision()})")


# -- findings -----------------------------------------------------------------------------
@click.group("findings")
def findings_group() -> None:
    """Findings across evaluations, their status and remediation history."""


@findings_group.command("list")
@click.option("--status", multiple=True, type=click.Choice(FINDING_STATUSES + ("active",)),
              help="Repeatable; 'active' = open, in_progress, excepted. Default: active.")
@click.option("--policy", multiple=True, help="Policy id (repeatable).")
@click.option("--severity", multiple=True, type=click.Choice(SEVERITIES))
@click.option("--category", multiple=True, type=click.Choice(CATEGORIES))
@click.option("--framework", help="Only policies mapped to this framework.")
@click.option("--overdue", is_flag=True, help="Only open/in-progress findings past their due date.")
@click.option("--assignee")
@click.option("--search", help="Text in the resource id or the reason.")
@click.option("--all", "all_statuses", is_flag=True, help="Every status.")
@click.option("--limit", type=click.IntRange(1), help="At most N findings.")
@click.option("--after", type=int, help="Only findings with an id above this (keyset paging).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table")
@click.pass_context
def findings_list(ctx, status, policy, severity, category, framework, overdue, assignee, search,
                  all_statuses, limit, after, fmt) -> None:
    """List findings (default: the active ones)."""
    from dialtone.engine.store.queries import FindingFilter, list_findings

    statuses: tuple[str, ...] = ()
    if not all_statuses:
        wanted = set(status or ("active",))
        if "active" in wanted:
            wanted |= {"open", "in_progress", "excepted"}
        statuses = tuple(sorted(wanted - {"active"}))
    store = open_store(ctx)
    rows = list_findings(store, FindingFilter(
        status=statuses, policy=policy, severity=severity, category=category, framework=framework,
        overdue=overdue, assignee=assignee, search=search, limit=limit, after_id=after))
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, sort_keys=True, ensure_ascii=False))
    elif fmt == "csv":
        from dialtone.engine.csvsafe import rows_to_text

        fields = ["id", "policy_id", "severity", "category", "resource_type", "resource_id", "status",
                  "reason", "savings", "due_on", "overdue", "assignee", "first_seen_at", "last_seen_at"]
        click.echo(rows_to_text(fields, rows), nl=False)
    else:
        click.echo(f"{'ID':>7} {'STATUS':<14} {'SEVERITY':<9} {'DUE':<11} {'POLICY':<44} RESOURCE")
        for r in rows:
            due = (r["due_on"] or "") + ("!" if r["overdue"] else "")
            click.echo(f"{r['id']:>7} {r['status']:<14} {r['severity']:<9} {due:<11} "
                       f"{r['policy_id']:<44} {r['resource_type']}:{r['resource_id']}")
        click.echo(f"{len(rows)} finding(s); '!' = overdue")


@findings_group.command("show")
@click.argument("finding_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def findings_show(ctx, finding_id: int, fmt: str) -> None:
    """A finding with its evidence and its full remediation history."""
    from dialtone.engine.store.queries import finding_detail
    from dialtone.engine.store.workflow import WorkflowError

    detail = finding_detail(open_store(ctx), finding_id)
    if detail is None:
        raise WorkflowError(f"no finding {finding_id}")
    if fmt == "json":
        click.echo(json.dumps(detail, indent=2, sort_keys=True, ensure_ascii=False))
        return
    d = detail
    click.echo(f"finding {d['id']}: {d['policy_id']} on {d['resource_type']} {d['resource_id']}")
    click.echo(f"  {d['title']} [{d['severity']}, {d['category']}]")
    click.echo(f"  status: {d['status']}" + (f" (assigned to {d['assignee']})" if d["assignee"] else "")
               + (f", exception {d['exception_id']}" if d["exception_id"] else ""))
    click.echo(f"  due: {d['due_on']}" + ("  OVERDUE" if d["overdue"] else ""))
    click.echo(f"  reason: {d['reason']}")
    if d["savings"]:
        click.echo(f"  savings: {d['savings']:,.2f} a year")
    click.echo(f"  evidence: {json.dumps(d['evidence'], sort_keys=True, ensure_ascii=False)}")
    click.echo(f"  seen: {d['first_seen_at']} .. {d['last_seen_at']} "
               f"(evaluations {d['first_seen_evaluation']}..{d['last_seen_evaluation']})")
    pv = d.get("policy_version")
    if pv:
        where = (f"commit {pv['policies_version'][:12]}" + (" (uncommitted changes)" if pv["dirty"] else "")
                 if pv["policies_source"] == "git" else f"policy set {pv['policies_version'][:19]}…")
        click.echo(f"  policy version: {pv['policy_hash'][:19]}… (git blob {(pv['git_blob'] or '-')[:12]}), "
                   f"{where}, evaluation {pv['evaluation']}")
    if d["frameworks"]:
        click.echo("  frameworks: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in d["frameworks"].items()))
    click.echo("  history:")
    for e in d["history"]:
        data = ", ".join(f"{k}={v}" for k, v in sorted(e["data"].items()) if v not in (None, "", []))
        click.echo(f"    #{e['seq']} {e['at']} {e['actor']}: {e['kind']}" + (f" ({data})" if data else ""))


@findings_group.command("assign")
@click.argument("finding_id", type=int)
@click.argument("assignee")
@actor_option
@click.pass_context
def findings_assign(ctx, finding_id: int, assignee: str, actor: str) -> None:
    """Assign a finding (an open finding becomes in_progress)."""
    from dialtone.engine.store.workflow import assign

    store = open_store(ctx)
    assign(store, finding_id, assignee, actor, _audit(store))
    click.echo(f"finding {finding_id} assigned to {assignee}")


@findings_group.command("comment")
@click.argument("finding_id", type=int)
@click.argument("text")
@actor_option
@click.pass_context
def findings_comment(ctx, finding_id: int, text: str, actor: str) -> None:
    """Add a comment to a finding's history."""
    from dialtone.engine.store.workflow import comment

    store = open_store(ctx)
    comment(store, finding_id, text, actor, _audit(store))
    click.echo(f"comment added to finding {finding_id}")


@findings_group.command("resolve-manual")
@click.argument("finding_id", type=int)
@click.option("--note", required=True, help="How it was fixed.")
@actor_option
@click.pass_context
def findings_resolve(ctx, finding_id: int, note: str, actor: str) -> None:
    """Mark a finding resolved by hand; the next evaluation reopens it if it still violates."""
    from dialtone.engine.store.workflow import resolve_manual

    store = open_store(ctx)
    resolve_manual(store, finding_id, note, actor, _audit(store))
    click.echo(f"finding {finding_id} resolved")


@findings_group.command("reopen")
@click.argument("finding_id", type=int)
@click.option("--note", default="", help="Why.")
@actor_option
@click.pass_context
def findings_reopen(ctx, finding_id: int, note: str, actor: str) -> None:
    """Reopen a resolved, false-positive or not-applicable finding."""
    from dialtone.engine.store.workflow import reopen

    store = open_store(ctx)
    reopen(store, finding_id, note, actor, _audit(store))
    click.echo(f"finding {finding_id} reopened")


@findings_group.command("review")
@click.argument("finding_id", type=int)
@click.option("--outcome", required=True, type=click.Choice(["false_positive", "not_applicable"]))
@click.option("--justification", required=True)
@actor_option
@click.pass_context
def findings_review(ctx, finding_id: int, outcome: str, justification: str, actor: str) -> None:
    """Close a finding as a false positive or not applicable (a reviewed outcome, not an exception)."""
    from dialtone.engine.store.workflow import review

    store = open_store(ctx)
    review(store, finding_id, outcome, justification, actor, _audit(store))
    click.echo(f"finding {finding_id} marked {outcome}")


# -- exceptions ---------------------------------------------------------------------------
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

    store = open_store(ctx)
    new_id = request(store, ExceptionSpec(
        policy_id=policy_id, justification=justification, expires_on=expires_on.date(),
        requested_by=actor, resources=resources, resource_patterns=patterns, ticket=ticket),
        audit=_audit(store))
    click.echo(f"exception {new_id} requested; it takes effect once someone else approves it")


def _decision(name: str, verb: str):
    @exceptions_group.command(name)
    @click.argument("exception_id", type=int)
    @click.option("--note", help="Why.")
    @actor_option
    @click.pass_context
    def command(ctx, exception_id: int, note: str | None, actor: str) -> None:
        from dialtone.engine.store.exceptions import decide

        store = open_store(ctx)
        decide(store, exception_id, name, actor, note, audit=_audit(store))
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

    rows = list_exceptions(open_store(ctx), view)
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


# -- audit --------------------------------------------------------------------------------
@click.group("audit")
def audit_group() -> None:
    """Verify the remediation history; read the audit log."""


@audit_group.command("verify")
@click.pass_context
def audit_verify(ctx: click.Context) -> None:
    """Recompute the event chain and check every finding against its history; exit 1 naming the
    first bad event and the findings whose status, assignee or exception disagree."""
    from dialtone.engine.store import chain, history_state

    store = open_store(ctx, refresh=False)
    with store.read() as conn:
        report = chain.verify(conn)
        state = history_state.check(conn)
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
    if not (report.ok and state.ok):
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
