"""Runs: collect, evaluate and record the findings, once, under a lock in the database.

``run_once`` is what ``dialtone run`` and every scheduled run do. A run holds
the one row of ``run_lock`` from start to end, so two schedulers, or a
scheduler and a manual run, never overlap; the loser is recorded as
``skipped``. The holder beats a heartbeat into the lock while it works. A run
whose process died (killed, machine restarted) leaves its lock behind: the next
run, or the scheduler starting, sees the holder is gone and records that run as
``failed``. Nothing a dead run half-did is visible: a snapshot appears whole or
not at all, and findings are recorded in one transaction.

Each run records, per source, rows, rejects, unresolved and ambiguous
references, seconds, the data's age and the error; and, for the evaluation,
policy statuses and finding changes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import threading
import typing as t
from dataclasses import dataclass, field

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from .config import Config
from .errors import DialtoneError
from .store import Store, iso
from .store.tables import run_lock, run_sources, runs

log = logging.getLogger(__name__)

LOCK = "run"
#: How often a running run beats its heartbeat into the lock.
HEARTBEAT_SECONDS = 30.0
#: A holder on another machine that has not beaten for this long is taken to be gone.
LOCK_STALE_SECONDS = 600.0
#: Statuses a run ends with.
STATUSES = ("running", "succeeded", "degraded", "failed", "skipped")


class RunLocked(DialtoneError):
    """Another run holds the lock."""


@dataclass
class RunOutcome:
    run_id: int
    status: str
    error: str | None = None
    snapshot_id: str | None = None
    evaluation_id: int | None = None
    sources: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    evaluation: t.Any = None   # engine.evaluation.Evaluation, when the run got that far
    collected: t.Any = None    # engine.collect.CollectResult, when the run got that far
    recorded: t.Any = None     # engine.store.sync.RecordSummary
    notified: t.Any = None     # engine.notify.delivery.DeliverySummary, when targets are configured


#: Progress callback of a run: (stage, message). Stages: collect, evaluate, record.
RunProgress = t.Callable[[str, str], None]


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _holder_gone(holder: str, heartbeat_at: str, now: dt.datetime) -> bool:
    """Whether the lock's holder is gone: its heartbeat is older than the stale limit (on any
    machine: a live process with that PID on this one may be another process that reused the
    PID, e.g. in a restarted container), or, on this machine, no process has its PID."""
    beat = dt.datetime.strptime(heartbeat_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    if (now - beat).total_seconds() > LOCK_STALE_SECONDS:
        return True
    host, _, pid = holder.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
    return False


def recover_abandoned(store: Store) -> list[int]:
    """Record as failed the runs whose process is gone, and free the lock they left.

    Returns the ids of those runs. Runs still marked running without a lock
    (their process died between taking the lock and recording) are closed too.
    """
    now = store.now()
    closed: list[int] = []
    with store.write() as conn:
        lock = conn.execute(select(run_lock).where(run_lock.c.name == LOCK)).first()
        live = None
        if lock is not None:
            if _holder_gone(lock.holder, lock.heartbeat_at, now):
                conn.execute(delete(run_lock).where(run_lock.c.name == LOCK))
            else:
                live = lock.run_id
        stuck = conn.execute(select(runs.c.id, runs.c.holder, runs.c.snapshot_id).where(
            runs.c.status == "running")).all()
        for run_id, holder, snapshot_id in stuck:
            if run_id == live:
                continue
            kept = (f"its snapshot {snapshot_id} was written whole; no evaluation of it was "
                    "recorded" if snapshot_id else "nothing it half-did was kept")
            conn.execute(update(runs).where(runs.c.id == run_id).values(
                status="failed", finished_at=iso(now),
                error=f"abandoned: the process that ran it ({holder}) stopped before it finished; "
                      f"{kept}"))
            closed.append(run_id)
    return closed


def unlock(store: Store, actor: str, origin: str) -> int | None:
    """Release the run lock by hand (its holder is known to be gone) and record the run it
    held as failed; the release goes to the audit log. Returns that run's id (None: no lock)."""
    from .store.workflow import audit_writer

    now = store.now()
    with store.write() as conn:
        lock = conn.execute(select(run_lock).where(run_lock.c.name == LOCK)).first()
        if lock is None:
            return None
        conn.execute(delete(run_lock).where(run_lock.c.name == LOCK))
        conn.execute(update(runs).where(runs.c.id == lock.run_id, runs.c.status == "running").values(
            status="failed", finished_at=iso(now),
            error=f"the run lock it held ({lock.holder}, last heartbeat {lock.heartbeat_at}) was "
                  f"released by {actor} with `dialtone runs unlock`"))
        audit_writer(store, origin)(conn, actor, "runs.unlock", f"run:{lock.run_id}",
                                    {"holder": lock.holder, "heartbeat_at": lock.heartbeat_at})
    return lock.run_id


def _acquire(store: Store, trigger: str, actor: str) -> int:
    """Start a run and take the lock, or record a skipped run and raise RunLocked."""
    recover_abandoned(store)
    now = store.now_text()
    me = holder_id()
    try:
        with store.write() as conn:
            run_id = conn.execute(insert(runs).values(
                trigger=trigger, actor=actor, holder=me, started_at=now, status="running",
            )).inserted_primary_key[0]
            conn.execute(insert(run_lock).values(name=LOCK, run_id=run_id, holder=me,
                                                 acquired_at=now, heartbeat_at=now))
        return run_id
    except IntegrityError:
        pass
    with store.read() as conn:
        lock = conn.execute(select(run_lock).where(run_lock.c.name == LOCK)).first()
    held = (f"run {lock.run_id} by {lock.holder}, started {lock.acquired_at}" if lock is not None
            else "another run")
    message = f"another run is in progress ({held}); not started"
    with store.write() as conn:
        conn.execute(insert(runs).values(trigger=trigger, actor=actor, holder=me, started_at=now,
                                         finished_at=now, status="skipped", error=message))
    raise RunLocked(message)


class _Heartbeat(threading.Thread):
    def __init__(self, store: Store, run_id: int, every: float):
        super().__init__(name="dialtone-run-heartbeat", daemon=True)
        self.store, self.run_id, self.every = store, run_id, every
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.every):
            try:
                with self.store.write() as conn:
                    conn.execute(update(run_lock).where(
                        run_lock.c.name == LOCK, run_lock.c.run_id == self.run_id).values(
                        heartbeat_at=self.store.now_text()))
            except Exception:  # a missed beat is harmless; the next one may succeed
                continue

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)


def _finish(store: Store, run_id: int, outcome: RunOutcome) -> None:
    with store.write() as conn:
        conn.execute(update(runs).where(runs.c.id == run_id).values(
            status=outcome.status, finished_at=store.now_text(), error=outcome.error,
            snapshot_id=outcome.snapshot_id, evaluation_id=outcome.evaluation_id,
            summary=json.dumps(outcome.summary, sort_keys=True)))
        if outcome.sources:
            conn.execute(insert(run_sources), [{"run_id": run_id, **s} for s in outcome.sources])
        conn.execute(delete(run_lock).where(run_lock.c.name == LOCK, run_lock.c.run_id == run_id))


def read_trackers_before_run(config: Config, store: Store):
    """Tickets closed on their trackers since the last run become fix claims before this run
    evaluates, so that its evaluation confirms or refutes them."""
    if not config.notifications.targets:
        return None
    from .notify.delivery import DeliverySummary, read_trackers

    try:
        return read_trackers(store, config)
    except DialtoneError as exc:
        log.warning("reading the trackers before the run: %s", exc)
        return DeliverySummary(errors=[str(exc)])


def notify_after_run(config: Config, store: Store, outcome: RunOutcome):
    """Send the notifications the run calls for (its findings, its failure or stale sources,
    what is due today), after the run is recorded: a target that is down never fails the run;
    its messages wait in the outbox for the next one."""
    if not config.notifications.targets:
        return None
    from .notify.delivery import DeliverySummary, notify
    from .snapshots import SnapshotStore

    snapshot = outcome.collected.snapshot if outcome.collected is not None else None
    try:
        if snapshot is None:
            snapshot = SnapshotStore(config.data_dir).get(None)
    except DialtoneError:
        snapshot = None
    try:
        return notify(store, config, snapshot)
    except Exception as exc:  # the run is recorded: notifications failing never undo or crash it
        log.warning("notifications after run %s: %s", outcome.run_id, exc,
                    exc_info=not isinstance(exc, DialtoneError))
        return DeliverySummary(errors=[str(exc)])


def source_rows(result) -> list[dict]:
    """Per-source rows for ``run_sources`` from a CollectResult."""
    out = []
    for name, meta in sorted(result.by_source.items()):
        identity = meta.get("identity") or {}
        out.append({
            "source": name, "collector": meta.get("collector", ""),
            "status": meta.get("status", "collected"),
            "rows": sum((meta.get("rows") or {}).values()) if meta.get("status") == "collected"
            else 0,
            "rejects": meta.get("rejects", 0) if meta.get("status") == "collected" else 0,
            "unresolved": identity.get("unresolved", 0), "ambiguous": identity.get("ambiguous", 0),
            "seconds": round(result.seconds[name], 3) if name in result.seconds else None,
            "collected_at": meta.get("collected_at"),
            "error": result.failures.get(name) or meta.get("error"),
        })
    return out


def source_warnings(by_source: dict[str, dict]) -> list[str]:
    """The collector warnings each source of a snapshot carries (its manifest's
    ``sources.<name>.warnings``; a carried source's are those of the collect that read it),
    one line each, named by source."""
    return [f"source '{name}': {w}" for name, meta in sorted(by_source.items())
            for w in meta.get("warnings", [])]


def run_once(config: Config, *, trigger: str = "manual", actor: str = "system",
             store: Store | None = None, progress: RunProgress | None = None,
             heartbeat_seconds: float = HEARTBEAT_SECONDS,
             as_of: dt.date | None = None, accept_drop: t.Collection[str] = ()) -> RunOutcome:
    """Collect every source, evaluate the policies and record the findings, once.

    Raises RunLocked (after recording a skipped run) when another run is in
    progress. A user error (configuration, no source readable) ends the run as
    ``failed`` with the message; an interrupt ends it as ``failed`` and is
    raised again. ``as_of`` sets the snapshot's date (default: today, UTC);
    ``accept_drop`` names sources whose large drop in rows is real (engine/collect.py).
    """
    own_store = store is None
    store = store or Store.from_config(config)
    try:
        run_id = _acquire(store, trigger, actor)
        beat = _Heartbeat(store, run_id, heartbeat_seconds)
        beat.start()
        outcome = RunOutcome(run_id, "running")
        trackers = read_trackers_before_run(config, store)
        try:
            _run(config, store, actor, outcome, progress or (lambda stage, message: None), as_of,
                 accept_drop)
        except DialtoneError as exc:
            outcome.status, outcome.error = "failed", str(exc)
        except BaseException as exc:  # interrupted or crashed: record it, then let it go on
            outcome.status = "failed"
            outcome.error = ("interrupted" if isinstance(exc, KeyboardInterrupt | SystemExit)
                             else f"{type(exc).__name__}: {exc}")
            beat.stop()
            _finish(store, run_id, outcome)
            raise
        beat.stop()
        _finish(store, run_id, outcome)
        outcome.notified = notify_after_run(config, store, outcome)
        if outcome.notified is not None and trackers is not None:
            outcome.notified.claimed += trackers.claimed
            outcome.notified.comments += trackers.comments
            outcome.notified.errors[:0] = trackers.errors
        return outcome
    finally:
        if own_store:
            store.close()


def match_credits_in_run(config: Config, store: Store, snapshot, actor: str) -> dict:
    """Credits on the new snapshot's bills matched to the disputes with the carrier, before the
    policies are evaluated (engine/disputes/credits.py). A failure is logged and reported in the
    run's summary; it never fails the run nor loses the snapshot, and the next run matches the
    credits (matching is idempotent)."""
    from .disputes.credits import match_credits

    try:
        report = match_credits(store, snapshot, config.disputes, actor=actor)
    except Exception as exc:  # the snapshot is written: a matching failure must not undo the run
        log.warning("matching credits to disputes on snapshot %s: %s", snapshot.id, exc,
                    exc_info=not isinstance(exc, DialtoneError))
        # A database error's text carries its SQL and parameters: the summary says only what.
        why = str(exc) if isinstance(exc, DialtoneError) else type(exc).__name__
        return {"recorded": 0, "error": f"credits were not matched to disputes: {why}",
                "text": "not matched (see the warning)"}
    return {"recorded": report.recorded, "unmatched": report.unmatched, "text": str(report)}


def _run(config: Config, store: Store, actor: str, outcome: RunOutcome,
         progress: RunProgress, as_of: dt.date | None, accept_drop: t.Collection[str]) -> None:
    from .collect import collect
    from .configured import evaluate_configured, record_configured, unknown_param_warnings
    from .policy.loader import load_policies

    def on_source(source: str, event: str, rows: int) -> None:
        progress("collect", f"{source}: {event}" + (f", {rows:,} rows" if rows else ""))

    result = collect(config, progress=on_source, as_of=as_of, accept_drop=accept_drop)
    outcome.collected = result
    outcome.snapshot_id = result.snapshot.id
    # Recorded now, so that if the process dies before the end the run says what it left.
    with store.write() as conn:
        conn.execute(update(runs).where(runs.c.id == outcome.run_id).values(
            snapshot_id=result.snapshot.id))
    outcome.sources = source_rows(result)
    credits = match_credits_in_run(config, store, result.snapshot, actor)
    progress("collect", f"credits: {credits['text']}")
    loaded = load_policies(config.policy_paths)
    total = len(loaded.policies)
    # What a source could not give (a field refused, a report missing) is said with the run, not
    # only in the snapshot's manifest: the findings that depend on it read "unknown".
    warnings = source_warnings(result.by_source) + unknown_param_warnings(config, loaded)
    evaluation = evaluate_configured(
        config, result.snapshot, loaded,
        progress=lambda done, policy_id: progress("evaluate", f"{done}/{total} {policy_id}"))
    outcome.evaluation = evaluation
    progress("record", "recording findings")
    recorded = record_configured(config, store, evaluation, loaded, actor=actor)
    summary, problems = recorded.summary, recorded.exception_problems
    outcome.evaluation_id = summary.evaluation_id
    outcome.recorded = summary
    statuses = {s: sum(1 for o in evaluation.outcomes if o.status == s)
                for s in ("alarm", "ok", "skip", "error")}
    outcome.summary = {
        "policies": statuses,
        "findings": sum(o.finding_count for o in evaluation.outcomes),
        "changes": summary.changes,
        "rows": result.rows,
        "exception_files_invalid": len(problems),
        "warnings": warnings,
        "credits": credits,
    }
    degraded = ([f"{len(result.failures)} source(s) failed or incomplete: "
                 + ", ".join(sorted(result.failures))] if result.failures else [])
    if statuses["error"]:
        degraded.append(f"{statuses['error']} policy(ies) in error")
    outcome.status = "degraded" if degraded else "succeeded"
    outcome.error = "; ".join(degraded) or None


# -- reading runs back ---------------------------------------------------------------------
def list_runs(store: Store, limit: int = 50) -> list[dict]:
    with store.read() as conn:
        rows = conn.execute(select(runs).order_by(runs.c.id.desc()).limit(limit)).mappings().all()
        sources = _sources(conn, [r["id"] for r in rows])
    return [_run_dict(r, sources.get(r["id"], [])) for r in rows]


def get_run(store: Store, run_id: int) -> dict | None:
    with store.read() as conn:
        row = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().first()
        if row is None:
            return None
        return _run_dict(row, _sources(conn, [run_id]).get(run_id, []))


def current_lock(store: Store) -> dict | None:
    with store.read() as conn:
        row = conn.execute(select(run_lock).where(run_lock.c.name == LOCK)).mappings().first()
    return dict(row) if row else None


def _sources(conn, ids: list[int]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    if not ids:
        return out
    for row in conn.execute(select(run_sources).where(run_sources.c.run_id.in_(ids))
                            .order_by(run_sources.c.run_id, run_sources.c.source)).mappings():
        out.setdefault(row["run_id"], []).append(dict(row))
    return out


def _run_dict(row, sources: list[dict]) -> dict:
    out = dict(row)
    out["summary"] = json.loads(row["summary"]) if row["summary"] else {}
    out["sources"] = sources
    return out
