"""``dialtone evaluate``: policies against a snapshot, the findings recorded and printed."""

from __future__ import annotations

import json
from pathlib import Path

import click

from dialtone.engine.policy.model import SEVERITIES

from .common import configuration, configured_policies, default_actor, warn_exception_problems


@click.command("evaluate")
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

    config = configuration(ctx)
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
        loaded = configured_policies(ctx)
    store = None
    if not dry_run:  # refuse an out-of-date store before spending time on evaluation
        from dialtone.engine.store import Store

        store = Store.from_config(config)
        from dialtone.engine.configured import check_not_older

        check_not_older(config, store, snapshot)   # before the time an evaluation takes
    for warning in unknown_param_warnings(config, loaded):
        click.echo(f"warning: {warning}", err=True)
    result = evaluate_configured(config, snapshot, loaded, policy_ids=list(policy_ids) or None,
                                 engine=engine)
    if store is not None:
        from dialtone.engine.configured import record_configured

        recorded = record_configured(config, store, result, loaded, actor=default_actor(),
                                     provenance=provenance)
        warn_exception_problems(recorded.exception_problems)
        click.echo(recorded.summary.line(), err=True)
        from dialtone.engine.savings import describe_recorded
        from dialtone.engine.store.reads import evaluation_detail

        # What the store holds after it, as the dashboard and the evaluation page show it.
        detail = evaluation_detail(store, recorded.summary.evaluation_id)
        click.echo(f"savings a year after it: {describe_recorded(detail['summary'])} "
                   "(each line, seat or charge counted once)", err=True)
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
            # Claimed by these findings alone; the store's figures (excepted findings left out)
            # are printed when the evaluation is recorded.
            + (f"; savings in these findings {format_totals(savings)} a year" if savings else "")]
    return "\n".join(out) + "\n"
