"""``dialtone findings``: findings across evaluations, their status and remediation history."""

from __future__ import annotations

import json

import click

from dialtone.engine.policy.model import CATEGORIES, SEVERITIES
from dialtone.engine.store.lifecycle import STANDING
from dialtone.engine.store.lifecycle import STATUSES as FINDING_STATUSES
from dialtone.engine.store.queries import SORTS

from .common import actor_option, audit_writer, open_store, warn_if_exceptions_lapsed


@click.group("findings")
def findings_group() -> None:
    """Findings across evaluations, their status and remediation history."""


@findings_group.command("list")
@click.option("--status", multiple=True, type=click.Choice(FINDING_STATUSES + ("active",)),
              help="Repeatable; 'active' = open, in_progress, excepted. Default: active.")
@click.option("--policy", multiple=True, help="Part of a policy id, any case (repeatable): 'leaver'.")
@click.option("--severity", multiple=True, type=click.Choice(SEVERITIES))
@click.option("--category", multiple=True, type=click.Choice(CATEGORIES))
@click.option("--framework", help="Only policies mapped to this framework.")
@click.option("--overdue", is_flag=True, help="Only open/in-progress findings past their due date.")
@click.option("--assignee")
@click.option("--search", help="Text in the resource id, reason or evidence: any case, from the start of a "
              "word when it starts with a letter or digit.")
@click.option("--opened-in", type=click.IntRange(1), help="Only findings first seen by this evaluation.")
@click.option("--sort", type=click.Choice(SORTS), default="id", show_default=True,
              help="Order (ties by id; empty due dates and savings last).")
@click.option("--desc", is_flag=True, help="Descending order (with --sort severity: critical first).")
@click.option("--all", "all_statuses", is_flag=True, help="Every status.")
@click.option("--limit", type=click.IntRange(1), help="At most N findings.")
@click.option("--after", type=int, help="Only findings with an id above this (keyset paging).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table")
@click.pass_context
def findings_list(ctx, status, policy, severity, category, framework, overdue, assignee, search,
                  opened_in, sort, desc, all_statuses, limit, after, fmt) -> None:
    """List findings (default: the active ones)."""
    from dialtone.engine.store.queries import FindingFilter, list_findings

    if after is not None and (sort != "id" or desc):
        raise click.UsageError("--after pages the id order only; with --sort, narrow the filter or "
                               "use the web page or the API (after_key)")

    statuses: tuple[str, ...] = ()
    if not all_statuses:
        wanted = set(status or ("active",))
        if "active" in wanted:
            wanted |= set(STANDING)
        statuses = tuple(sorted(wanted - {"active"}))
    store = open_store(ctx)
    warn_if_exceptions_lapsed(store)
    rows = list_findings(store, FindingFilter(
        status=statuses, policy=policy, severity=severity, category=category, framework=framework,
        overdue=overdue, assignee=assignee, search=search, limit=limit, after_id=after, opened_in=opened_in,
        sort=sort, descending=desc))
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

    store = open_store(ctx)
    warn_if_exceptions_lapsed(store)
    detail = finding_detail(store, finding_id)
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

    store = open_store(ctx, refresh=True)
    assigned = assign(store, finding_id, assignee, actor, audit_writer(store))
    click.echo(f"finding {finding_id} assigned to {assigned}")


@findings_group.command("comment")
@click.argument("finding_id", type=int)
@click.argument("text")
@actor_option
@click.pass_context
def findings_comment(ctx, finding_id: int, text: str, actor: str) -> None:
    """Add a comment to a finding's history."""
    from dialtone.engine.store.workflow import comment

    store = open_store(ctx, refresh=True)
    comment(store, finding_id, text, actor, audit_writer(store))
    click.echo(f"comment added to finding {finding_id}")


@findings_group.command("resolve-manual")
@click.argument("finding_id", type=int)
@click.option("--note", required=True, help="How it was fixed.")
@actor_option
@click.pass_context
def findings_resolve(ctx, finding_id: int, note: str, actor: str) -> None:
    """Mark a finding resolved by hand; the next evaluation reopens it if it still violates."""
    from dialtone.engine.store.workflow import resolve_manual

    store = open_store(ctx, refresh=True)
    resolve_manual(store, finding_id, note, actor, audit_writer(store))
    click.echo(f"finding {finding_id} resolved")


@findings_group.command("reopen")
@click.argument("finding_id", type=int)
@click.option("--note", default="", help="Why.")
@actor_option
@click.pass_context
def findings_reopen(ctx, finding_id: int, note: str, actor: str) -> None:
    """Reopen a resolved, false-positive or not-applicable finding."""
    from dialtone.engine.store.workflow import reopen

    store = open_store(ctx, refresh=True)
    reopen(store, finding_id, note, actor, audit_writer(store))
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

    store = open_store(ctx, refresh=True)
    review(store, finding_id, outcome, justification, actor, audit_writer(store))
    click.echo(f"finding {finding_id} marked {outcome}")
