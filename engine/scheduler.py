"""``dialtone scheduler``: runs on the configured schedule, in a process of its own.

APScheduler 3 with a ``BackgroundScheduler`` in UTC and explicit job defaults
(coalesce missed runs into one, one instance at a time, a misfire grace time
from the configuration: APScheduler's own default is one second). The job is a
module-level function with a stable id, so it can be named by reference and is
never duplicated. Overlap with another scheduler or a manual ``dialtone run`` is
prevented by the run lock in the database (engine/runs.py), not by APScheduler,
whose ``max_instances`` only sees its own process.

Stopping: the first SIGTERM or SIGINT stops scheduling and lets a run in
progress finish; a second one abandons it: the run is recorded as failed
("abandoned at shutdown"), the lock is freed and the process exits. Nothing
half-done is kept (snapshots and findings are written atomically).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import threading
import typing as t

from apscheduler.schedulers.background import BackgroundScheduler

from .config import Config, load_config
from .errors import ConfigError
from .schedule import cron_trigger

JOB_ID = "dialtone-run"
log = logging.getLogger("dialtone.scheduler")


def scheduled_run(config_path: str) -> None:
    """The scheduled job: one run, logged; never raises into the scheduler."""
    from .runs import RunLocked, run_once

    try:
        outcome = run_once(load_config(config_path, required=True), trigger="scheduler",
                           actor="scheduler")
    except RunLocked as exc:
        log.warning("scheduled run skipped: %s", exc)
        return
    except Exception as exc:  # logged and recorded; the next scheduled run will try again
        log.error("scheduled run failed: %s", exc)
        return
    log.info("run %s %s%s", outcome.run_id, outcome.status,
             f": {outcome.error}" if outcome.error else "")


def build_scheduler(config: Config) -> BackgroundScheduler:
    """A scheduler (not started) with the run job from the configuration."""
    if config.schedule is None:
        raise ConfigError("No schedule configured: add `schedule: {cron: \"0 2 * * *\"}` to the "
                          "configuration (five-field cron, UTC); docs/runs.md.")
    if config.path is None:
        raise ConfigError("The scheduler needs a configuration file (--config or $DIALTONE_CONFIG).")
    schedule = config.schedule
    scheduler = BackgroundScheduler(timezone=dt.UTC, job_defaults={
        "coalesce": True, "max_instances": 1,
        "misfire_grace_time": schedule.misfire_grace_seconds})
    scheduler.add_job(f"{__name__}:scheduled_run",
                      cron_trigger(schedule.cron, jitter=schedule.jitter_seconds),
                      args=[str(config.path.resolve())], id=JOB_ID,
                      name="collect, evaluate, record", replace_existing=True)
    return scheduler


def run_scheduler(config: Config, *, run_at_start: bool = False,
                  say: t.Callable[[str], None] = print,
                  stop: threading.Event | None = None) -> int:
    """Run until SIGTERM/SIGINT (or ``stop`` is set); returns the exit status."""
    from .runs import current_lock, holder_id, recover_abandoned
    from .store import Store

    scheduler = build_scheduler(config)
    store = Store.from_config(config)
    for run_id in recover_abandoned(store):
        say(f"run {run_id} was abandoned by a process that is gone: recorded as failed")
    stop = stop or threading.Event()
    signals = {"count": 0}

    def on_signal(signum, _frame) -> None:
        signals["count"] += 1
        if signals["count"] == 1:
            say("stopping: no new runs; a run in progress will finish (signal again to abandon it)")
            stop.set()
            return
        lock = current_lock(store)
        if lock is not None and lock["holder"] == holder_id():
            abandon_run(store, lock["run_id"])
            say(f"run {lock['run_id']} abandoned at shutdown: recorded as failed")
        os._exit(1)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        scheduler.start()
        job = scheduler.get_job(JOB_ID)
        say(f"scheduler started (UTC): '{config.schedule.cron}', next run "
            f"{job.next_run_time.isoformat() if job.next_run_time else 'never'}")
        if run_at_start:
            job.modify(next_run_time=dt.datetime.now(dt.UTC))
        while not stop.wait(0.5):
            pass
        scheduler.shutdown(wait=True)
        say("scheduler stopped")
        return 0
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        store.close()


def abandon_run(store, run_id: int) -> None:
    """Record the run this process holds as abandoned at shutdown, and free its lock."""
    from sqlalchemy import delete, update

    from .runs import LOCK
    from .store.tables import run_lock, runs

    with store.write() as conn:
        conn.execute(update(runs).where(runs.c.id == run_id).values(
            status="failed", finished_at=store.now_text(),
            error="abandoned at shutdown; nothing it half-did was kept"))
        conn.execute(delete(run_lock).where(run_lock.c.name == LOCK, run_lock.c.run_id == run_id))
