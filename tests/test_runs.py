"""`dialtone run`, run records, the run lock, killed runs, the scheduler and progress output."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from dialtone.engine.config import load_config
from dialtone.engine.errors import ConfigError
from dialtone.engine.runs import RunLocked, current_lock, get_run, list_runs, run_once
from dialtone.engine.schedule import cron_trigger, next_times
from dialtone.engine.snapshots import SnapshotStore
from dialtone.engine.store import Store
from dialtone.engine.store.tables import evaluations
from dialtone.web.progress import TerminalProgress

from .conftest import write_csv
from .storekit import store_url

ROOT = Path(__file__).resolve().parents[1]


def make_workspace(tmp_path: Path, url: str, extra: str = "") -> Path:
    write_csv(tmp_path / "hr", "people", ["id", "name", "status", "terminated_on", "email"], [
        ["P1", "Ada", "active", "", "ada@example.com"],
        ["P2", "Bob", "terminated", "2025-01-01", "bob@example.com"]])
    write_csv(tmp_path / "carrier", "lines", ["id", "kind", "status", "number", "assigned_to",
                                              "monthly_cost"], [
        ["L1", "mobile", "active", "+15551230001", "ada@example.com", "40"],
        ["L2", "mobile", "active", "+15551230002", "bob@example.com", "40"],
        ["L3", "mobile", "active", "+15551230003", "who@example.com", "40"]])
    (tmp_path / "dialtone.yaml").write_text(textwrap.dedent(f"""\
        sources:
          hr: {{collector: csv, path: ./hr}}
          carrier: {{collector: csv, path: ./carrier, max_age: 2d}}
        store: {{url: "{url}"}}
        """) + extra, encoding="utf-8")
    return tmp_path / "dialtone.yaml"


def read(config_path: Path, query, *args):
    store = Store.from_config(load_config(config_path))
    try:
        return query(store, *args)
    finally:
        store.close()


@pytest.fixture
def stores():
    """Stores a test opens, closed at its end."""
    opened: list[Store] = []

    def open_store(config) -> Store:
        opened.append(Store.from_config(config))
        return opened[-1]

    yield open_store
    for store in opened:
        store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def kind(request):
    return request.param


@pytest.fixture
def config_path(tmp_path, kind):
    return make_workspace(tmp_path, store_url(kind, tmp_path))


def test_a_run_collects_evaluates_records_and_is_listed(config_path, cli, runner, stores):
    result = runner.invoke(cli, ["--config", str(config_path), "run"])
    assert result.exit_code == 0, result.output
    assert "run 1: succeeded" in result.output
    assert "source carrier [csv]: collected, 3 rows" in result.output
    assert "1 unresolved, 0 ambiguous references" in result.output
    config = load_config(config_path)
    store = stores(config)
    run = get_run(store, 1)
    assert run["status"] == "succeeded" and run["trigger"] == "manual"
    assert run["snapshot_id"] == SnapshotStore(config.data_dir).latest().id
    with store.read() as conn:
        assert conn.execute(select(evaluations.c.id)).scalars().all() == [run["evaluation_id"]]
    carrier = {s["source"]: s for s in run["sources"]}["carrier"]
    assert (carrier["status"], carrier["rows"], carrier["unresolved"]) == ("collected", 3, 1)
    assert run["summary"]["policies"]["alarm"] >= 1 and run["summary"]["findings"] >= 1
    assert current_lock(store) is None
    listed = runner.invoke(cli, ["--config", str(config_path), "runs", "list"])
    assert listed.exit_code == 0 and "succeeded" in listed.output and "2 ok" in listed.output
    shown = runner.invoke(cli, ["--config", str(config_path), "runs", "show", "1", "--format", "json"])
    assert json.loads(shown.output)["sources"][0]["source"] == "carrier"
    missing = runner.invoke(cli, ["--config", str(config_path), "runs", "show", "9"])
    assert missing.exit_code == 2 and "No run 9" in missing.output


def test_a_failing_source_makes_the_run_degraded_with_exit_3(config_path, cli, runner):
    assert runner.invoke(cli, ["--config", str(config_path), "run"]).exit_code == 0
    (config_path.parent / "carrier" / "lines.csv").unlink()
    result = runner.invoke(cli, ["--config", str(config_path), "run"])
    assert result.exit_code == 3, result.output
    assert "run 2: degraded (1 source(s) failed or incomplete: carrier)" in result.output
    assert "source carrier [csv]: stale, 0 rows" in result.output
    run = read(config_path, get_run, 2)
    carrier = {s["source"]: s for s in run["sources"]}["carrier"]
    assert carrier["status"] == "stale" and "no <entity>.csv" in carrier["error"]
    assert carrier["collected_at"] is not None


def test_a_sources_warnings_are_said_by_the_run_and_kept_with_the_snapshot(tmp_path, cli, runner):
    config_path = make_workspace(tmp_path, f"sqlite:///{tmp_path / 'store.db'}")
    write_csv(tmp_path / "hr", "people", ["id", "name", "status", "terminated_on", "email", "badge"],
              [["P1", "Ada", "active", "", "ada@example.com", "7"]])
    args = ["--config", str(config_path)]
    result = runner.invoke(cli, [*args, "run"])
    assert result.exit_code == 0, result.output
    said = "source 'hr': people.csv: ignored unknown column 'badge'."
    assert f"  warning: {said}" in result.output
    assert read(config_path, get_run, 1)["summary"]["warnings"] == [said]
    assert f"  warning: {said}" in runner.invoke(cli, [*args, "runs", "show", "1"]).output
    shown = runner.invoke(cli, [*args, "snapshots", "show", "latest"])
    assert "      warning: people.csv: ignored unknown column 'badge'." in shown.output
    # A source that fails on the next run: its data carried, marked stale, with the error.
    (tmp_path / "carrier" / "lines.csv").unlink()
    assert runner.invoke(cli, [*args, "run"]).exit_code == 3
    shown = runner.invoke(cli, [*args, "snapshots", "show", "latest"]).output
    carrier = shown[shown.index("    carrier [csv]"):shown.index("    hr [csv]")]
    assert "      stale: source 'carrier': no <entity>.csv or <entity>.jsonl files in" in carrier
    assert "warning: " not in carrier and "ignored unknown column 'badge'" in shown


def test_a_run_that_cannot_collect_anything_fails_with_exit_2(config_path, cli, runner):
    for folder in ("hr", "carrier"):
        for f in (config_path.parent / folder).iterdir():
            f.unlink()
    result = runner.invoke(cli, ["--config", str(config_path), "run"])
    assert result.exit_code == 2
    assert "run 1: failed" in result.output and "no source could be collected" in result.output
    assert "Traceback" not in result.output
    run = read(config_path, get_run, 1)
    assert run["status"] == "failed" and run["snapshot_id"] is None


def test_fail_on_gates_like_evaluate(config_path, cli, runner):
    result = runner.invoke(cli, ["--config", str(config_path), "run", "--fail-on", "info"])
    assert result.exit_code == 1


HOLD_LOCK = """
import sys, time
from dialtone.engine.config import load_config
from dialtone.engine.collector_api import SourceData, collectors

class Slow:
    config_schema = {"type": "object"}
    secret_settings = ()
    def __init__(self, source, settings, base_dir): pass
    def collect(self):
        print("collecting", flush=True)
        time.sleep(120)
        return SourceData()

collectors.register("slow", Slow)
from dialtone.engine.runs import run_once
run_once(load_config(sys.argv[1]), actor="holder")
"""


def _start_holder(tmp_path, config_path) -> subprocess.Popen:
    script = tmp_path / "hold.py"
    script.write_text(HOLD_LOCK)
    text = config_path.read_text().replace("hr: {collector: csv, path: ./hr}", "hr: {collector: slow}")
    slow = tmp_path / "slow.yaml"
    slow.write_text(text)
    proc = subprocess.Popen([sys.executable, str(script), str(slow)], stdout=subprocess.PIPE,
                            text=True, cwd=tmp_path)
    assert proc.stdout.readline().strip() == "collecting"
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait()
    proc.stdout.close()


def test_runs_never_overlap_and_the_second_is_recorded_as_skipped(tmp_path, config_path, cli,
                                                                   runner):
    holder = _start_holder(tmp_path, config_path)
    try:
        config = load_config(config_path)
        with pytest.raises(RunLocked, match=r"another run is in progress \(run 1 by .*:\d+"):
            run_once(config, actor="second")
        result = runner.invoke(cli, ["--config", str(config_path), "run"])
        assert result.exit_code == 4 and "another run is in progress" in result.output
        runs = read(config_path, list_runs)
        # (PostgreSQL's sequences do not give back the ids of rolled-back inserts.)
        assert [r["status"] for r in runs] == ["skipped", "skipped", "running"]
        assert runs[-1]["id"] == 1 and runs[0]["error"].startswith("another run is in progress")
    finally:
        _stop(holder)


def test_a_killed_run_is_recorded_as_failed_and_leaves_no_trace(tmp_path, config_path, stores):
    config = load_config(config_path)
    holder = _start_holder(tmp_path, config_path)
    holder.send_signal(signal.SIGKILL)
    _stop(holder)
    store = stores(config)
    assert current_lock(store)["run_id"] == 1          # the dead run's lock is still there
    outcome = run_once(config, actor="next")
    assert outcome.status == "succeeded" and outcome.run_id == 2
    first = get_run(store, 1)
    assert first["status"] == "failed" and first["error"].startswith("abandoned: the process")
    assert len(SnapshotStore(config.data_dir).ids()) == 1   # only the second run's snapshot


def test_an_interrupted_run_is_recorded_and_releases_the_lock(config_path, stores):
    config = load_config(config_path)

    def interrupt(stage, message):
        if stage == "evaluate":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_once(config, progress=interrupt)
    store = stores(config)
    run = get_run(store, 1)
    assert (run["status"], run["error"]) == ("failed", "interrupted")
    assert current_lock(store) is None
    assert run_once(config).status == "succeeded"


# -- the schedule and the scheduler ---------------------------------------------------------
def test_cron_weekdays_mean_what_cron_means():
    friday = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
    sundays = next_times("0 2 * * 0", 2, friday)
    assert [t.strftime("%a %d %H:%M") for t in sundays] == ["Sun 29 02:00", "Sun 06 02:00"]
    assert next_times("0 2 * * 7", 1, friday) == sundays[:1]
    weekdays = next_times("30 6 * * 1-5", 3, friday)
    assert [t.strftime("%a") for t in weekdays] == ["Fri", "Mon", "Tue"]
    assert all(t.tzinfo is not None and t.utcoffset() == dt.timedelta(0) for t in weekdays)


@pytest.mark.parametrize(("expr", "message"), [
    ("0 2 * *", "must have five fields"),
    ("0 25 * * *", r"schedule.cron: '0 25 \* \* \*': .*maximum value \(23\)"),
    ("0 2 1 * 1", "not both"),
    ("0 2 * * 9", "is not a day of the week"),
])
def test_bad_cron_expressions_are_clear_errors(expr, message):
    with pytest.raises(ConfigError, match=message):
        cron_trigger(expr)


def test_the_scheduled_job_has_explicit_defaults_and_a_stable_id(tmp_path):
    from dialtone.engine.scheduler import JOB_ID, build_scheduler

    path = make_workspace(tmp_path, f"sqlite:///{tmp_path / 's.db'}",
                          "schedule: {cron: '15 3 * * 1-5', misfire_grace_seconds: 900}\n")
    scheduler = build_scheduler(load_config(path))
    scheduler.start(paused=True)    # job defaults apply when the scheduler starts
    try:
        (job,) = scheduler.get_jobs()
    finally:
        scheduler.shutdown(wait=False)
    assert job.id == JOB_ID and job.coalesce is True and job.max_instances == 1
    assert job.misfire_grace_time == 900
    assert job.func_ref == "dialtone.engine.scheduler:scheduled_run"
    assert str(scheduler.timezone) == "UTC"
    assert str(job.trigger) == "cron[month='*', day='*', day_of_week='mon,tue,wed,thu,fri', " \
                               "hour='3', minute='15']"


def test_the_scheduler_needs_a_schedule(tmp_path, cli, runner):
    path = make_workspace(tmp_path, f"sqlite:///{tmp_path / 's.db'}")
    result = runner.invoke(cli, ["--config", str(path), "scheduler"])
    assert result.exit_code == 2 and "No schedule configured" in result.output


def test_scheduler_next_prints_utc_times(tmp_path, cli, runner):
    path = make_workspace(tmp_path, f"sqlite:///{tmp_path / 's.db'}", "schedule: {cron: '0 2 * * *'}\n")
    result = runner.invoke(cli, ["--config", str(path), "scheduler", "--next", "2"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == 2 and all(line.endswith(")") and " 02:00 UTC " in line for line in lines)


def test_the_scheduler_process_runs_and_stops_gracefully(tmp_path, stores):
    path = make_workspace(tmp_path, f"sqlite:///{tmp_path / 's.db'}",
                          "schedule: {cron: '0 2 * * *'}\n")
    proc = subprocess.Popen([sys.executable, "-m", "dialtone.web.cli", "--config", str(path),
                             "scheduler", "--run-at-start"], stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    store = stores(load_config(path))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                runs = list_runs(store)
            except Exception:  # the store is created by the scheduler's first run
                runs = []
            if runs and runs[0]["status"] != "running":
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "scheduler started (UTC): '0 2 * * *', next run" in err
    assert "scheduler stopped" in err
    assert [(r["trigger"], r["status"]) for r in runs] == [("scheduler", "succeeded")]
    assert current_lock(store) is None


# -- progress ---------------------------------------------------------------------------------
def test_progress_is_drawn_on_a_terminal_only():
    shown = io.StringIO()
    bar = TerminalProgress(shown, force=True, interval=0)
    bar.source("pbx", "reading", 1_234_567)
    bar.source("pbx", "done", 2_000_000)
    bar.done()
    text = shown.getvalue()
    assert "\rcollect: pbx reading, 1,234,567 rows read" in text
    assert "collect: pbx done, 2,000,000 rows read" in text and text.endswith("\r")
    quiet = io.StringIO()          # a StringIO is not a terminal
    bar = TerminalProgress(quiet)
    bar.source("pbx", "reading", 10)
    bar.stage("evaluate", "1/66 cost.x")
    bar.done()
    assert quiet.getvalue() == ""


def test_a_run_through_a_pipe_prints_no_progress(tmp_path):
    path = make_workspace(tmp_path, f"sqlite:///{tmp_path / 's.db'}")
    done = subprocess.run([sys.executable, "-m", "dialtone.web.cli", "--config", str(path), "run"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and "\r" not in done.stdout


# -- collectors list / show and third-party plugins ---------------------------------------------
PLUGIN = '''
from dialtone.engine.collector_api import RawBatch, SourceData
import pyarrow as pa


class TinyCollector:
    """A tiny third-party collector: one person."""

    config_schema = {"type": "object", "properties": {"name": {"type": "string"}},
                     "required": ["name"], "additionalProperties": False}
    secret_settings = ()

    def __init__(self, source, settings, base_dir):
        self.name = settings["name"]

    def collect(self):
        table = pa.table({"id": ["T1"], "name": [self.name], "status": ["active"],
                          "__row": pa.array([1], pa.int64())})
        return SourceData(batches=[RawBatch("people", table, "tiny")])
'''


def test_a_third_party_collector_needs_only_a_package_with_an_entry_point(tmp_path):
    site = tmp_path / "site"
    (site / "tiny_dialtone_plugin-0.1.dist-info").mkdir(parents=True)
    (site / "tiny_dialtone_plugin.py").write_text(PLUGIN)
    (site / "tiny_dialtone_plugin-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: tiny-dialtone-plugin\nVersion: 0.1\n")
    (site / "tiny_dialtone_plugin-0.1.dist-info" / "entry_points.txt").write_text(
        "[dialtone.collectors]\ntiny = tiny_dialtone_plugin:TinyCollector\n")
    (tmp_path / "dialtone.yaml").write_text("sources:\n  t: {collector: tiny, name: Grace}\n")
    env = {**os.environ, "PYTHONPATH": str(site)}

    def dialtone(*args):
        return subprocess.run([sys.executable, "-m", "dialtone.web.cli", *args], capture_output=True,
                              text=True, cwd=tmp_path, env=env)

    listed = dialtone("collectors", "list")
    assert "tiny         A tiny third-party collector: one person." in listed.stdout
    shown = dialtone("collectors", "show", "tiny")
    assert "name                   required  string" in shown.stdout
    collected = dialtone("collect")
    assert collected.returncode == 0, collected.stderr
    assert "source t [tiny]: 1 rows" in collected.stdout
    (tmp_path / "dialtone.yaml").write_text("sources:\n  t: {collector: tiny}\n")
    bad = dialtone("collect")
    assert bad.returncode == 2 and "sources.t: 'name' is a required property" in bad.stderr


def test_collectors_show_lists_settings_and_secrets(cli, runner):
    result = runner.invoke(cli, ["collectors", "show", "csv"])
    assert result.exit_code == 0 and "path" in result.output and "required" in result.output
    schema = json.loads(runner.invoke(cli, ["collectors", "show", "csv", "--format", "json"]).output)
    assert "path" in schema["properties"]
    unknown = runner.invoke(cli, ["collectors", "show", "cvs"])
    assert unknown.exit_code == 2 and "Did you mean 'csv'?" in unknown.output
