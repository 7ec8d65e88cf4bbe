"""``dialtone policy``: validate, inspect, test and diff policies."""

from __future__ import annotations

import json
from pathlib import Path

import click

from dialtone.engine.policy.model import SEVERITIES

from .common import DialtoneGroup, configuration, configured_catalogue, configured_policies, unknown


@click.group("policy", cls=DialtoneGroup)
def policy_group() -> None:
    """Validate, inspect and test policies."""


@policy_group.command("validate")
@click.argument("paths", nargs=-1, type=click.Path())
@click.pass_context
def policy_validate(ctx: click.Context, paths: tuple[str, ...]) -> None:
    """Validate policies (default: the configured set); exit 1 if any is invalid.

    Checks structure, SQL and framework mappings, and lists the catalogue's
    requirements that no policy covers.
    """
    from dialtone.engine.compiler import compile_policy
    from dialtone.engine.errors import PolicyError

    loaded = configured_policies(ctx, paths)
    catalogue = configured_catalogue(ctx, paths)
    problems = [str(err) for _, err in loaded.failures]
    for policy in loaded.policies:
        found = catalogue.check_policy(policy)
        try:
            compile_policy(policy)
        except PolicyError as exc:
            found = exc.problems + found
        if found:
            problems.append(str(PolicyError(found)))
    for p in problems:
        click.echo(p, err=True)
    total = len(loaded.policies) + len(loaded.failures)
    click.echo(f"{total - len(problems)} of {total} policies valid")
    config = configuration(ctx)
    if config.exceptions_dir is not None:
        from dialtone.engine.policy.exceptions_file import load_exceptions

        specs, exc_problems = load_exceptions(config.exceptions_dir, loaded.by_id(),
                                              config.store.exception_max_days)
        for p in exc_problems:
            click.echo(f"{config.exceptions_dir.name}/{p}", err=True)
        click.echo(f"{len(specs)} repository exception(s) valid, {len(exc_problems)} problem(s)")
        problems += [str(p) for p in exc_problems]
    uncovered = catalogue.uncovered(loaded.policies)
    if uncovered:
        click.echo(f"{len(uncovered)} framework requirement(s) covered by no policy:")
        for fw, req in uncovered:
            click.echo(f"  {fw.id}: {req.id} ({req.citation}) {req.title}")
    if problems:
        ctx.exit(1)


@policy_group.command("list")
@click.option("--framework", help="Only policies mapped to this framework.")
@click.option("--category", type=click.Choice(["cost", "retention", "regulatory", "security",
                                               "lifecycle"]))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def policy_list(ctx: click.Context, framework: str | None, category: str | None, fmt: str) -> None:
    """List the policies, optionally of one framework or category."""
    loaded = configured_policies(ctx)
    if framework:
        known = configured_catalogue(ctx).frameworks
        if framework not in known:
            unknown("framework", framework, known)
    chosen = [p for p in loaded.policies
              if (not framework or framework in p.frameworks)
              and (not category or p.category == category)]
    if fmt == "json":
        click.echo(json.dumps([{
            "id": p.id, "title": p.title, "category": p.category, "severity": p.severity,
            "resource": p.resource, "frameworks": {k: list(v) for k, v in p.frameworks.items()},
            "params": {x.name: x.default for x in p.params}} for p in chosen], indent=2))
        return
    for p in chosen:
        refs = ", ".join(f"{k}:{'/'.join(v)}" for k, v in p.frameworks.items())
        click.echo(f"{p.id:<50} {p.category:<11} {p.severity:<9} {p.title}"
                   + (f"  [{refs}]" if refs else ""))
    click.echo(f"{len(chosen)} policies")


@policy_group.command("show")
@click.argument("policy_id")
@click.pass_context
def policy_show(ctx: click.Context, policy_id: str) -> None:
    """Print a policy, its compiled SQL for each engine and what it reads."""
    from dialtone.engine.compiler import compile_policy, render

    loaded = configured_policies(ctx)
    policy = loaded.by_id().get(policy_id)
    if policy is None:
        unknown("policy", policy_id, loaded.by_id())
    compiled = compile_policy(policy)
    click.echo(f"{policy.id}: {policy.title}")
    click.echo(f"  category {policy.category}, severity {policy.severity}, resource {policy.resource}")
    click.echo(f"  file     {policy.path}\n  version  {policy.source_hash}")
    if policy.description:
        click.echo(f"\n{policy.description}")
    if policy.params:
        click.echo("\nparameters:")
        for p in policy.params:
            click.echo(f"  :{p.name} = {p.default!r}  {p.description}")
    click.echo(f"\nreads: {', '.join(compiled.tables)}")
    click.echo(f"binds: {', '.join(':' + p for p in compiled.params) or 'nothing'}")
    for dialect in compiled.sql:
        click.echo(f"\n-- {dialect}\n{render(compiled.select, dialect, pretty=True)}")
    if policy.remediation:
        click.echo(f"\nremediation: {policy.remediation}")


@policy_group.command("history")
@click.argument("policy_id")
@click.pass_context
def policy_history_cmd(ctx: click.Context, policy_id: str) -> None:
    """The commits that changed a policy: commit, author, date, message (newest first)."""
    from dialtone.engine.replay import policy_history

    known = configured_policies(ctx).by_id()
    if policy_id not in known:
        unknown("policy", policy_id, known)
    rows = policy_history(Path(known[policy_id].abspath))
    for r in rows:
        click.echo(f"{r['commit'][:12]}  {r['date'][:10]}  {r['author']:<20}  {r['subject']}")
    if not rows:
        click.echo(f"{policy_id}: no commits yet (the file is not committed)")


@policy_group.command("diff")
@click.option("--base", default="HEAD", show_default=True, metavar="REV",
              help="Compare the working tree's policies with this git revision's.")
@click.option("--snapshot", "snapshot_id", help="Snapshot id (default: the latest).")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown"]), default="text",
              help="markdown: for a pull-request comment.")
@click.option("--fail-on-new", type=click.Choice(SEVERITIES),
              help="Exit 1 when the change opens a finding at or above this severity.")
@click.pass_context
def policy_diff_cmd(ctx, base: str, snapshot_id: str | None, fmt: str, fail_on_new: str | None) -> None:
    """Which findings a policy change would open and close, on the latest snapshot."""
    from dialtone.engine.policy_diff import policy_diff, render
    from dialtone.engine.snapshots import SnapshotStore

    config = configuration(ctx)
    snapshot = SnapshotStore(config.data_dir).get(snapshot_id)
    report = policy_diff(snapshot, configured_policies(ctx), config, base)
    click.echo(render(report, fmt), nl=False)
    if fail_on_new and report.new_at_or_above(fail_on_new):
        ctx.exit(1)


@policy_group.command("test")
@click.argument("paths", nargs=-1, type=click.Path())
@click.pass_context
def policy_test(ctx: click.Context, paths: tuple[str, ...]) -> None:
    """Run the policies' test files; exit 1 if any case fails."""
    from dialtone.engine.policy_tests import run_policy_tests

    loaded = configured_policies(ctx, paths)
    report = run_policy_tests(loaded)
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        ctx.exit(1)
