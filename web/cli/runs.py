"""``dialtone run``, ``runs`` and ``scheduler``: running the whole job."""

from __future__ import annotations

import json

import click

from .common import configuration, default_actor, open_store

#: `dialtone run` exit statuses (docs/runs.md).
EXIT_OK, EXIT_FINDINGS, EXIT_FAILED, EXIT_DEGRADED, EXIT_LOCKED = 0, 1, 2, 3, 4


@click.command("run")
@click.option("--fail-on", type=click.Choice(("critical", "high", "medium", "low", "info")),
              help="Exit 1 when there are findings at or above this severity.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--accept-drop", "accept_drop", multiple=True, metavar="SOURCE",
              help="This source's rows fell far below the previous snapshot's, or it lost a "
                   "column it delivered, and that is real: use them this once (repeatable).")
@click.pass_context
def run_cmd(ctx: click.Context, fail_on: str | None, fmt: str, accept_drop: tuple[str, ...]) -> None:
    """Collect every source, evaluate the policies and record the findings, once (for cron or CI).

    Exit status: 0 done; 1 findings at or above --fail-on; 2 the run failed (a
    configuration error, no source could be read, the disk is full); 3 done but
    degraded (a source failed or was incomplete and its data was carried forward,
    so findings it fed were not re-checked; or a policy errored); 4 another run
    is in progress.
    """
    from dialtone.engine.runs import RunLocked, run_once
    from dialtone.web.progress import TerminalProgress

    config = configuration(ctx, required=True)
    bar = TerminalProgress()
    try:
        outcome = run_once(config, trigger="manual", actor=default_actor(), progress=bar.stage,
                           accept_drop=accept_drop)
    except RunLocked as exc:
        bar.done()
        click.echo(f"error: {exc}", err=True)
        ctx.exit(EXIT_LOCKED)
    bar.done()
    if fmt == "json":
        click.echo(json.dumps(_outcome_dict(outcome), indent=2, sort_keys=True, default=str))
    else:
        for line in _outcome_lines(outcome, _recorded_savings(ctx, outcome.evaluation_id)):
            click.echo(line)
    if outcome.status == "failed":
        if fmt == "text":
            click.echo(f"error: {outcome.error}", err=True)
        ctx.exit(EXIT_FAILED)
    if outcome.status == "degraded":
        ctx.exit(EXIT_DEGRADED)
    if fail_on and outcome.evaluation is not None and outcome.evaluation.findings_at_or_above(fail_on):
        ctx.exit(EXIT_FINDINGS)


def _outcome_dict(outcome) -> dict:
    return {"run": outcome.run_id, "status": outcome.status, "error": outcome.error,
            "snapshot": outcome.snapshot_id, "evaluation": outcome.evaluation_id,
            "sources": outcome.sources, "summary": outcome.summary,
            "notifications": None if outcome.notified is None else {
                "sent": outcome.notified.sent, "retrying": outcome.notified.retrying,
                "dead": outcome.notified.dead, "errors": outcome.notified.errors}}


def _recorded_savings(ctx: click.Context, evaluation_id: int | None) -> str | None:
    """The savings the run's evaluation left in the store, as the dashboard and the evaluation
    page show them (engine/savings.py ``describe_recorded``)."""
    if evaluation_id is None:
        return None
    from dialtone.engine.savings import describe_recorded
    from dialtone.engine.store.reads import evaluation_detail

    detail = evaluation_detail(open_store(ctx), evaluation_id)
    return describe_recorded(detail["summary"]) if detail else None


def _outcome_lines(outcome, savings: str | None = None) -> list[str]:
    out = [f"run {outcome.run_id}: {outcome.status}"
           + (f" ({outcome.error})" if outcome.error and outcome.status != "failed" else "")]
    if outcome.snapshot_id:
        out.append(f"  snapshot {outcome.snapshot_id}")
    out += [f"  {line}" for line in _source_lines(outcome.sources)]
    s = outcome.summary
    if s.get("policies"):
        p = s["policies"]
        changes = ", ".join(f"{v} {k}" for k, v in sorted(s.get("changes", {}).items()) if v)
        out.append(f"  evaluation {outcome.evaluation_id}: {s['findings']:,} findings; "
                   f"{p['alarm']} alarm, {p['ok']} ok, {p['skip']} skip, {p['error']} error"
                   + (f"; {changes}" if changes else ""))
    credits = s.get("credits") or {}
    if credits.get("recorded") or credits.get("unmatched"):
        out.append(f"  credits: {credits['text']}")
    if credits.get("error"):
        out.append(f"  warning: {credits['error']}")
    if savings:
        out.append(f"  savings a year: {savings} (each line, seat or charge counted once)")
    out += [f"  warning: {w}" for w in s.get("warnings", [])]
    if outcome.notified is not None:
        out.append(f"  {outcome.notified.line()}")
        out += [f"  warning: {e}" for e in outcome.notified.errors]
    return out


def _source_lines(sources: list[dict]) -> list[str]:
    out = []
    for s in sources:
        extra = [f"{s['rejects']} rejected"] if s["rejects"] else []
        if s["unresolved"] or s["ambiguous"]:
            extra.append(f"{s['unresolved']} unresolved, {s['ambiguous']} ambiguous references")
        if s["status"] != "collected" and s.get("collected_at"):
            extra.append(f"data from {s['collected_at']}")
        secs = f" in {s['seconds']:.1f}s" if s.get("seconds") is not None else ""
        out.append(f"source {s['source']} [{s['collector']}]: {s['status']}, {s['rows']:,} rows"
                   f"{secs}" + (f"; {', '.join(extra)}" if extra else ""))
        if s.get("error"):
            out.append(f"  {s['error']}")
    return out


@click.group("runs")
def runs_group() -> None:
    """Runs of `dialtone run` and of the scheduler: what each collected and found."""


@runs_group.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10000))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def runs_list(ctx: click.Context, limit: int, fmt: str) -> None:
    from dialtone.engine.runs import list_runs

    rows = list_runs(open_store(ctx, refresh=False), limit)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, sort_keys=True, default=str))
        return
    if not rows:
        click.echo("no runs yet: `dialtone run`, or `dialtone scheduler` with a schedule")
        return
    click.echo(f"{'RUN':>5}  {'STARTED':<20} {'TRIGGER':<9} {'STATUS':<9} {'SOURCES':<16} "
               f"{'FINDINGS':>8}  SNAPSHOT")
    for r in rows:
        bad = sum(1 for s in r["sources"] if s["status"] in ("stale", "failed"))
        sources = f"{len(r['sources']) - bad} ok" + (f", {bad} stale" if bad else "")
        findings = r["summary"].get("findings", "")
        click.echo(f"{r['id']:>5}  {r['started_at'][:19]:<20} {r['trigger']:<9} "
                   f"{r['status']:<9} {sources if r['sources'] else '-':<16} {findings!s:>8}  "
                   f"{r['snapshot_id'] or '-'}")


@runs_group.command("unlock")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def runs_unlock(ctx: click.Context, yes: bool) -> None:
    """Release the run lock left by a run whose process is gone (recorded in the audit log).

    A lock whose holder has not beaten its heartbeat for 10 minutes is released by the
    next run anyway; use this when you know the holder is gone sooner, and never while
    it may still be running."""
    import socket

    from dialtone.engine.runs import current_lock, unlock

    store = open_store(ctx, refresh=False)
    lock = current_lock(store)
    if lock is None:
        click.echo("the run lock is free")
        return
    click.echo(f"run {lock['run_id']} holds the lock ({lock['holder']}, since {lock['acquired_at']}, "
               f"last heartbeat {lock['heartbeat_at']})")
    if not yes:
        click.confirm("Release it and record that run as failed?", abort=True)
    run_id = unlock(store, default_actor(), f"cli:{socket.gethostname()}")
    click.echo(f"released; run {run_id} recorded as failed" if run_id else "the run lock is free")


@runs_group.command("show")
@click.argument("run_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def runs_show(ctx: click.Context, run_id: int, fmt: str) -> None:
    from dialtone.engine.errors import DialtoneError
    from dialtone.engine.runs import get_run

    run = get_run(open_store(ctx, refresh=False), run_id)
    if run is None:
        raise DialtoneError(f"No run {run_id}: see `dialtone runs list`.")
    if fmt == "json":
        click.echo(json.dumps(run, indent=2, sort_keys=True, default=str))
        return
    click.echo(f"run {run['id']}: {run['status']}\n  trigger:  {run['trigger']} by {run['actor']} "
               f"on {run['holder']}\n  started:  {run['started_at']}\n  finished: "
               f"{run['finished_at'] or '-'}")
    if run["error"]:
        click.echo(f"  note:     {run['error']}")
    if run["snapshot_id"]:
        click.echo(f"  snapshot: {run['snapshot_id']}")
    if run["evaluation_id"]:
        click.echo(f"  evaluation: {run['evaluation_id']}")
    for line in _source_lines(run["sources"]):
        click.echo(f"  {line}")
    s = run["summary"]
    if s.get("policies"):
        p = s["policies"]
        click.echo(f"  policies: {p['alarm']} alarm, {p['ok']} ok, {p['skip']} skip, "
                   f"{p['error']} error; {s['findings']} findings")
        if s.get("changes"):
            click.echo("  changes:  " + ", ".join(f"{v} {k}" for k, v in sorted(s["changes"].items())))
    for w in s.get("warnings", []):
        click.echo(f"  warning: {w}")


@click.command("scheduler")
@click.option("--run-at-start", is_flag=True, help="Run once right away, then on the schedule.")
@click.option("--next", "show_next", type=click.IntRange(1, 100), metavar="N",
              help="Print the next N run times and exit.")
@click.pass_context
def scheduler_cmd(ctx: click.Context, run_at_start: bool, show_next: int | None) -> None:
    """Run on the configuration's `schedule:` (cron, UTC) until stopped (SIGTERM/Ctrl-C)."""
    import datetime as dt

    from dialtone.engine.errors import ConfigError
    from dialtone.engine.schedule import next_times
    from dialtone.engine.scheduler import run_scheduler

    config = configuration(ctx, required=True)
    if show_next:
        if config.schedule is None:
            raise ConfigError("No schedule configured: add `schedule: {cron: \"0 2 * * *\"}`.")
        for moment in next_times(config.schedule.cron, show_next, dt.datetime.now(dt.UTC)):
            click.echo(moment.strftime("%Y-%m-%d %H:%M %Z (%a)"))
        return
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    ctx.exit(run_scheduler(config, run_at_start=run_at_start,
                           say=lambda text: click.echo(text, err=True)))
