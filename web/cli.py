"""The ``dialtone`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from dialtone.engine.errors import DialtoneError, PolicyError
from dialtone.engine.policy.model import SEVERITIES


class UserError(click.ClickException):
    """A user error: one clear message, exit status 2, never a traceback."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def check_utf8(value: str, what: str) -> None:
    """UserError when ``value`` holds bytes that are not UTF-8.

    Python hands such bytes over as lone surrogates, which nothing downstream can encode (the
    history's hashes, the store, the terminal): refused here, once, with the bytes shown."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        try:
            shown = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:  # a surrogate that did not come from a byte
            shown = value.encode("utf-8", "backslashreplace").decode("utf-8")
        raise UserError(f"{what} is not valid UTF-8 text: '{shown}'") from None


class DialtoneGroup(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:  # the whole command line, before any command sees it
            for arg in args:
                check_utf8(arg, "an argument")
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DialtoneError as exc:
            raise UserError(str(exc)) from None


def _config(ctx: click.Context, required: bool = False):
    from dialtone.web.cli_store import context_config

    return context_config(ctx, required=required)


@click.group(cls=DialtoneGroup)
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Configuration file (default: $DIALTONE_CONFIG or ./dialtone.yaml).")
@click.version_option(package_name="dialtone")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Dialtone: policy-as-code compliance for communications estates."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config_path


# -- schema -------------------------------------------------------------------------------
@cli.command("schema")
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


# -- collect and snapshots ----------------------------------------------------------------
@cli.command("collect")
@click.option("--source", "sources", multiple=True, help="Collect only this source (repeatable).")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]),
              help="The snapshot's as-of date (default: today, UTC).")
@click.option("--accept-drop", "accept_drop", multiple=True, metavar="SOURCE",
              help="This source's rows fell far below the previous snapshot's and that is real: "
                   "use them this once (repeatable).")
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

    config = _config(ctx, required=True)
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


@cli.group("snapshots", cls=DialtoneGroup)
def snapshots_group() -> None:
    """List and inspect snapshots."""


@snapshots_group.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def snapshots_list(ctx: click.Context, fmt: str) -> None:
    from dialtone.engine.snapshots import SnapshotStore

    snaps = SnapshotStore(_config(ctx).data_dir).list()
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

    snap = SnapshotStore(_config(ctx).data_dir).get(snapshot_id)
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
    click.echo("  entities:")
    for name, e in sorted(m["entities"].items()):
        click.echo(f"    {name:<20} {e['rows']:>10} rows  sha256:{e['sha256'][:16]}…")
    bad = snap.verify()
    click.echo("  integrity: " + ("OK" if not bad else "MODIFIED: " + ", ".join(bad)))


# -- policies -----------------------------------------------------------------------------
def _load(ctx: click.Context, paths: tuple[str, ...]):
    from dialtone.engine.policy.loader import load_policies

    if paths:
        return load_policies([Path(p) for p in paths])
    return load_policies(_config(ctx).policy_paths)


@cli.group("policy", cls=DialtoneGroup)
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

    loaded = _load(ctx, paths)
    catalogue = _catalogue(ctx, paths)
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
    config = _config(ctx)
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


def _catalogue(ctx: click.Context, paths: tuple[str, ...]):
    from dialtone.engine.frameworks import load_catalogue

    roots = [Path(p) for p in paths] if paths else _config(ctx).policy_paths
    return load_catalogue(roots)


@policy_group.command("list")
@click.option("--framework", help="Only policies mapped to this framework.")
@click.option("--category", type=click.Choice(["cost", "retention", "regulatory", "security",
                                               "lifecycle"]))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def policy_list(ctx: click.Context, framework: str | None, category: str | None, fmt: str) -> None:
    """List the policies, optionally of one framework or category."""
    from dialtone.engine.errors import did_you_mean

    loaded = _load(ctx, ())
    if framework:
        known = _catalogue(ctx, ()).frameworks
        if framework not in known:
            raise UserError(f"Unknown framework '{framework}'.{did_you_mean(framework, known)}")
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
    from dialtone.engine.errors import did_you_mean

    loaded = _load(ctx, ())
    policy = loaded.by_id().get(policy_id)
    if policy is None:
        raise UserError(f"Unknown policy '{policy_id}'.{did_you_mean(policy_id, loaded.by_id())}")
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
    from dialtone.engine.errors import did_you_mean
    from dialtone.engine.replay import policy_history

    known = _load(ctx, ()).by_id()
    if policy_id not in known:
        raise DialtoneError(f"Unknown policy '{policy_id}'.{did_you_mean(policy_id, known)}")
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

    config = _config(ctx)
    snapshot = SnapshotStore(config.data_dir).get(snapshot_id)
    report = policy_diff(snapshot, _load(ctx, ()), config, base)
    click.echo(render(report, fmt), nl=False)
    if fail_on_new and report.new_at_or_above(fail_on_new):
        ctx.exit(1)


@policy_group.command("test")
@click.argument("paths", nargs=-1, type=click.Path())
@click.pass_context
def policy_test(ctx: click.Context, paths: tuple[str, ...]) -> None:
    """Run the policies' test files; exit 1 if any case fails."""
    from dialtone.engine.policy_tests import run_policy_tests

    loaded = _load(ctx, paths)
    report = run_policy_tests(loaded)
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        ctx.exit(1)


# -- frameworks ---------------------------------------------------------------------------
@cli.group("frameworks", cls=DialtoneGroup)
def frameworks_group() -> None:
    """The frameworks catalogue and its coverage by policies."""


@frameworks_group.command("list")
@click.pass_context
def frameworks_list(ctx: click.Context) -> None:
    """Each framework with its requirements: covered, out of scope, uncovered."""
    catalogue = _catalogue(ctx, ())
    cover = catalogue.coverage(_load(ctx, ()).policies)
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
    from dialtone.engine.errors import did_you_mean

    catalogue = _catalogue(ctx, ())
    fw = catalogue.frameworks.get(framework_id)
    if fw is None:
        raise UserError(f"Unknown framework '{framework_id}'."
                        f"{did_you_mean(framework_id, catalogue.frameworks)}")
    cover = catalogue.coverage(_load(ctx, ()).policies)
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


# -- evaluate -----------------------------------------------------------------------------
@cli.command("evaluate")
@click.option("--snapshot", "snapshot_id", help="Snapshot id (default: the latest).")
@click.option("--policy", "policy_ids", multiple=True, help="Only this policy (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "sarif", "junit", "ocsf"]),
              default="table")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to FILE.")
@click.option("--fail-on", type=click.Choice(SEVERITIES),
              help="Exit 1 when there are findings at or above this severity.")
@click.option("--dry-run", is_flag=True, help="Evaluate only: record nothing in the findings store.")
@click.option("--policies-at", "policies_rev", metavar="REV",
              help="Evaluate the policies as they were at this git revision (read from git; the work "
                   "tree is not touched).")
@click.option("--engine", type=click.Choice(["duckdb", "spark"]),
              help="The backend (default: the config's `engine`, else duckdb); spark: docs/scale-out.md.")
@click.pass_context
def evaluate_cmd(ctx, snapshot_id, policy_ids, fmt, output, fail_on, dry_run, policies_rev,
                 engine) -> None:
    """Evaluate policies against a snapshot and record the findings (unless --dry-run)."""
    from dialtone.engine.configured import evaluate_configured, unknown_param_warnings
    from dialtone.engine.snapshots import SnapshotStore

    config = _config(ctx)
    snapshot = SnapshotStore(config.data_dir).get(snapshot_id)
    provenance = None
    if policies_rev:
        import tempfile

        from dialtone.engine.replay import policies_at

        workdir = tempfile.TemporaryDirectory(prefix="dialtone-policies-")
        ctx.call_on_close(workdir.cleanup)
        loaded, commit = policies_at(policies_rev, config.policy_paths, Path(workdir.name))
        provenance = {"source": "git", "version": commit, "dirty": False, "content": loaded.version}
    else:
        loaded = _load(ctx, ())
    store = None
    if not dry_run:  # refuse an out-of-date store before spending time on evaluation
        from dialtone.engine.store import Store

        store = Store.from_config(config)
    for warning in unknown_param_warnings(config, loaded):
        click.echo(f"warning: {warning}", err=True)
    result = evaluate_configured(config, snapshot, loaded, policy_ids=list(policy_ids) or None,
                                 engine=engine)
    if store is not None:
        from dialtone.engine.configured import record_configured
        from dialtone.web.cli_store import default_actor, warn_exception_problems

        recorded = record_configured(config, store, result, loaded, actor=default_actor(),
                                     provenance=provenance)
        warn_exception_problems(recorded.exception_problems)
        click.echo(recorded.summary.line(), err=True)
    text = {"json": result.to_json, "csv": lambda: _csv(result),
            "table": lambda: _table(result),
            # SARIF 2.1.0, JUnit XML, OCSF 1.5.0 NDJSON: engine/formats/<fmt>.py, imported when chosen.
            **dict.fromkeys(("sarif", "junit", "ocsf"), lambda: __import__(
                "dialtone.engine.formats", fromlist=["render"]).render(fmt, result, loaded)),
            }[fmt]()
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
    if fail_on and result.findings_at_or_above(fail_on):
        ctx.exit(1)


def _csv(result) -> str:
    from dialtone.engine.csvsafe import rows_to_text

    return rows_to_text(
        ["policy_id", "severity", "category", "resource_type", "resource_id", "reason", "savings",
         "evidence"],
        ([o.policy_id, o.severity, o.category, f["resource_type"], f["resource_id"], f["reason"],
          f["savings"], json.dumps(f["evidence"], sort_keys=True)]
         for o in result.outcomes for f in o.findings))


def _table(result) -> str:
    out = [f"snapshot {result.snapshot.id} (as of {result.snapshot.as_of.isoformat()}), "
           f"engine {result.engine}", ""]
    out.append(f"{'STATUS':<6} {'SEVERITY':<9} {'POLICY':<46} {'FOUND':>7} {'UNDECIDED':>9} "
               f"{'OF':>9} {'TIME':>7}")
    for o in result.outcomes:
        out.append(f"{o.status:<6} {o.severity:<9} {o.policy_id:<46} {o.finding_count:>7} "
                   f"{o.undecidable_count or '':>9} {o.evaluated:>9} {o.seconds:>6.2f}s")
        if o.error or o.skip_reason:
            out.append(f"       {(o.error or o.skip_reason).splitlines()[0]}")
    from dialtone.engine.savings import evaluation_totals, format_totals

    total = sum(o.finding_count for o in result.outcomes)
    savings = evaluation_totals(result.outcomes)
    counts = {s: sum(1 for o in result.outcomes if o.status == s)
              for s in ("alarm", "ok", "skip", "error")}
    undecidable = sum(o.undecidable_count for o in result.outcomes)
    out += ["", f"{total} findings; " + ", ".join(f"{v} {k}" for k, v in counts.items())
            + (f"; {undecidable} resources undecidable (data missing)" if undecidable else "")
            + (f"; identified savings {format_totals(savings)} a year" if savings else "")]
    return "\n".join(out) + "\n"


# -- init ---------------------------------------------------------------------------------
@cli.command("init")
@click.argument("directory", type=click.Path(file_okay=False))
def init_cmd(directory: str) -> None:
    """Create a policy repository: config, a custom pack with a tested example policy, an
    override of a built-in policy, exceptions/, .gitignore and a CI workflow."""
    from dialtone.engine.scaffold import scaffold

    for path in scaffold(Path(directory)):
        click.echo(f"  wrote {path}")
    click.echo(f"Next: cd {directory} && git init && dialtone policy validate && dialtone policy test")


# -- demo ---------------------------------------------------------------------------------
@cli.command("demo")
@click.option("--scale", default=1, show_default=True, type=click.IntRange(1, 10000),
              help="Size multiplier (1 ≈ 500 lines).")
@click.option("--dir", "workdir", default="demo", show_default=True, type=click.Path(file_okay=False),
              help="Where to write the demo workspace.")
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Do not start the web UI afterwards.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port of the web UI.")
def demo_cmd(scale: int, workdir: str, seed: int, no_serve: bool, port: int) -> None:
    """Write a demo workspace, collect it, evaluate the built-in policies, summarise, and serve the UI."""
    from dialtone.engine.demo import run_demo

    for line in run_demo(Path(workdir), scale=scale, seed=seed):
        click.echo(line)
    if no_serve:
        return
    from waitress import serve

    from dialtone.engine.config import load_config
    from dialtone.web.app import create_app

    app = create_app(load_config(Path(workdir) / "dialtone.yaml"))
    click.echo(f"\nThe web UI is on http://127.0.0.1:{port}/ - log in with an account above "
               "(Ctrl-C to stop).")
    serve(app, host="127.0.0.1", port=port, threads=8, ident="dialtone")


def _register_store_commands() -> None:
    from dialtone.web import cli_evidence, cli_runs, cli_store, cli_web

    for group in (cli_store.db_group, cli_store.findings_group, cli_store.exceptions_group,
                  cli_store.audit_group, cli_evidence.export_group, cli_evidence.evidence_group,
                  cli_web.users_group, cli_web.tokens_group, cli_web.serve_cmd,
                  cli_runs.run_cmd, cli_runs.runs_group, cli_runs.scheduler_cmd,
                  cli_runs.collectors_group):
        cli.add_command(group)


_register_store_commands()


def main() -> None:
    cli(prog_name="dialtone")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

