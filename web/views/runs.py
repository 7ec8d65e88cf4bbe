"""Runs (collect + evaluate + record, by `dialtone run` or the scheduler): what each collected
from every source and what it found. Thin views over ``engine.runs``."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, current_app, render_template

from dialtone.engine.freshness import describe_age
from dialtone.engine.runs import HEARTBEAT_SECONDS, current_lock, get_run, list_runs

from ..display import moment
from ..security import READ, roles
from .scope import caller

bp = Blueprint("runs", __name__)
#: Runs on the page: a nightly schedule's last three months or so (`dialtone runs list --limit`
#: reaches further back).
LIMIT = 100
#: Source statuses that mean this run did not get fresh data from the source.
PROBLEMS = ("stale", "failed")


def _store():
    return current_app.extensions["dialtone.store"]


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else describe_age(seconds)


def _between(start: str | None, end: dt.datetime | None) -> float | None:
    begun = moment(start)
    if begun is None or end is None:
        return None
    return max(0.0, (end - begun).total_seconds())


def _snapshots() -> set[str]:
    """Ids of the snapshots still kept (an old run's may have been pruned: no link then)."""
    from dialtone.engine.snapshots import SnapshotStore

    return set(SnapshotStore(current_app.extensions["dialtone.config"].data_dir).ids())


def _lock(now: dt.datetime) -> dict | None:
    lock = current_lock(_store())
    if lock is None:
        return None
    quiet = _between(lock["heartbeat_at"], now)
    # The holder beats every HEARTBEAT_SECONDS; several missed beats suggest its process is gone
    # (the next run, or a scheduler starting, records it as failed and frees the lock).
    return {**lock, "heartbeat_age": describe_age(quiet or 0),
            "silent": quiet is not None and quiet > 4 * HEARTBEAT_SECONDS}


def _next_scheduled() -> dt.datetime | None:
    """When this process's scheduler (``dialtone serve --with-scheduler``) runs next, if it has one."""
    from dialtone.engine.scheduler import JOB_ID

    scheduler = current_app.extensions.get("dialtone.scheduler")
    if scheduler is None or not scheduler.running:
        return None
    job = scheduler.get_job(JOB_ID)
    return job.next_run_time if job is not None else None


def _present(run: dict, now: dt.datetime, kept: set[str]) -> dict:
    """A run with what the pages show about it: its length, and each source's data age as of
    the end of the run (how old the data this run evaluated was; now, while it runs)."""
    ended = moment(run["finished_at"])
    until = ended or now
    sources = []
    for s in run["sources"]:
        age = _between(s["collected_at"], until)
        sources.append({**s, "problem": s["status"] in PROBLEMS,
                        "age": describe_age(age) if age is not None else None,
                        "took": duration(s["seconds"])})
    bad = sum(1 for s in sources if s["problem"])
    return {**run, "sources": sources, "problems": bad,
            "took": duration(_between(run["started_at"], ended)) if ended else "",
            "snapshot_kept": run["snapshot_id"] in kept}


def _scoped(run: dict) -> dict:
    """A run as the caller reads it: an account limited to a scope does not get the counts the
    run recorded for the whole estate (docs/access.md)."""
    return {**run, "summary": {}} if caller().restricted else run


@bp.route("/runs")
@roles(*READ)
def runs_page() -> str:
    now = _store().now()
    kept = _snapshots()
    rows = [_present(_scoped(r), now, kept) for r in list_runs(_store(), LIMIT)]
    return render_template("runs.html", rows=rows, lock=_lock(now), limit=LIMIT,
                           next_run=_next_scheduled())


@bp.route("/runs/<id:run_id>")      # 1 to 2^63 - 1 (fields.IdConverter): a larger id names nothing
@roles(*READ)
def run_page(run_id: int) -> str:
    run = get_run(_store(), run_id)
    if run is None:
        abort(404)
    now = _store().now()
    lock = _lock(now)
    return render_template("run.html", run=_present(_scoped(run), now, _snapshots()),
                           lock=lock if lock and lock["run_id"] == run_id else None)
