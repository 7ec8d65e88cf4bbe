"""Benchmark: the nightly run end to end — a CSV estate → `dialtone run` (collect, evaluate, record).

    python bench/nightly.py [--lines 1000000] [--seed 7] [--keep DIR [--reuse]] [--no-again]

1. The demo's synthetic estate of ``--lines`` lines is written as canonical CSV files (the
   ``dialtone demo`` workspace, entity by entity) in a child process, outside what is measured.
2. ``run_once`` (what `dialtone run` does) runs on it in a fresh child process with an empty
   data directory; a sampler thread reads the child's resident memory every 50 ms, so each
   phase (collect, evaluate, record) is printed with its time and its peak memory. The whole
   run's peak is the child's own (``wait4``).
3. Unless ``--no-again``: the next night, ``run_once`` again on the same files into the store the
   first run filled: every finding is seen again rather than opened, as on most nights.
4. The baseline, in the same run: the least a collect must do with the same files — DuckDB
   reading every CSV file and writing it as Parquet, nothing else (no validation, no
   normalisation, no identity resolution, no de-duplication). collect / baseline is what the
   collect's checks cost on top of a bare conversion.

Targets (issue 20): the whole run ≤ 60 s with a peak ≤ 3 GiB at 1,000,000 lines on a 2-core
machine. ``--keep DIR --reuse`` keeps the CSV estate in DIR between runs (it is regenerated
when ``--lines``/``--seed`` differ).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

TARGET_SECONDS = 60.0
TARGET_PEAK = 3 << 30
GIB = 1 << 30


def _rss() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _cpu() -> float:
    """CPU seconds of this process, all its threads (a busy machine stretches wall time, not this)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_generate(folder: Path, lines: int, seed: int) -> dict:
    from dialtone.engine.demo import CONFIG_TEXT, write_estate_csv

    written = write_estate_csv(folder / "estate", lines, seed)
    (folder / "dialtone.yaml").write_text(CONFIG_TEXT, encoding="utf-8")
    return {"rows": written.rows, "as_of": written.as_of.isoformat()}


def child_run(folder: Path, as_of: str) -> dict:
    import datetime as dt

    from dialtone.engine.config import load_config
    from dialtone.engine.runs import run_once

    phases: dict[str, dict] = {}
    current = {"name": "start"}
    started = time.perf_counter()
    phases["start"] = {"began": started, "cpu0": _cpu(), "peak": _rss()}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            p = phases[current["name"]]
            p["peak"] = max(p["peak"], _rss())

    def progress(stage: str, _message: str) -> None:
        if stage != current["name"] and stage not in phases:
            phases[stage] = {"began": time.perf_counter(), "cpu0": _cpu(), "peak": _rss()}
            current["name"] = stage

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    config = load_config(folder / "dialtone.yaml")
    outcome = run_once(config, actor="bench", progress=progress, as_of=dt.date.fromisoformat(as_of))
    ended, cpu_end = time.perf_counter(), _cpu()
    stop.set()
    sampler.join()
    names = list(phases)
    out = {}
    for i, name in enumerate(names):
        end = phases[names[i + 1]]["began"] if i + 1 < len(names) else ended
        cpu = phases[names[i + 1]]["cpu0"] if i + 1 < len(names) else cpu_end
        out[name] = {"seconds": end - phases[name]["began"], "cpu": cpu - phases[name]["cpu0"],
                     "peak": phases[name]["peak"]}
    return {"status": outcome.status, "error": outcome.error, "phases": out, "seconds": ended - started,
            "cpu": cpu_end - phases["start"]["cpu0"],
            "rows": sum(outcome.collected.rows.values()) if outcome.collected else 0,
            "findings": (sum(o.finding_count for o in outcome.evaluation.outcomes)
                         if outcome.evaluation else 0)}


def child_baseline(folder: Path) -> dict:
    import duckdb

    out = Path(tempfile.mkdtemp(prefix="bench-nightly-", dir=folder))
    started, cpu0 = time.perf_counter(), _cpu()
    con = duckdb.connect()
    try:
        for path in sorted((folder / "estate").glob("*.csv")):
            source = str(path).replace("'", "''")
            target = str(out / f"{path.stem}.parquet").replace("'", "''")
            con.execute(f"COPY (SELECT * FROM read_csv('{source}', all_varchar = true)) "
                        f"TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
    finally:
        con.close()
        seconds, cpu = time.perf_counter() - started, _cpu() - cpu0
        shutil.rmtree(out, ignore_errors=True)
    return {"seconds": seconds, "cpu": cpu}


def run_child(kind: str, folder: Path, *extra: str) -> dict:
    """Run one step in a child process; its own peak resident memory comes back with it."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([sys.executable, __file__, "--child", kind, "--folder", str(folder), *extra],
                                stdout=out)
        _, status, usage = os.wait4(proc.pid, 0)
        out.seek(0)
        text = out.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the {kind} step failed (exit {os.waitstatus_to_exitcode(status)})")
    result = json.loads(text.strip().splitlines()[-1])
    result["peak_rss"] = usage.ru_maxrss * 1024
    return result


def _report(title: str, run: dict) -> None:
    if run["status"] not in ("succeeded",):
        print(f"the run ended {run['status']}: {run['error']}")
    print(f"dialtone run ({title}): {run['rows']:,} rows collected, {run['findings']:,} findings, "
          f"status {run['status']}")
    for name, p in run["phases"].items():
        if name == "start":
            continue
        print(f"  {name:<10} {p['seconds']:7.1f} s   CPU {p['cpu']:6.1f} s   peak {p['peak'] / GIB:5.2f} GiB")
    verdict_time = "ok" if run["seconds"] <= TARGET_SECONDS else "MISSED"
    verdict_peak = "ok" if run["peak_rss"] <= TARGET_PEAK else "MISSED"
    print(f"  whole run  {run['seconds']:7.1f} s   CPU {run['cpu']:6.1f} s   "
          f"peak {run['peak_rss'] / GIB:5.2f} GiB   target ≤ {TARGET_SECONDS:.0f} s: {verdict_time}, "
          f"≤ {TARGET_PEAK / GIB:.0f} GiB: {verdict_peak}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", type=Path, help="keep the CSV estate in this folder")
    ap.add_argument("--reuse", action="store_true", help="reuse the CSV estate kept in --keep")
    ap.add_argument("--again", action=argparse.BooleanOptionalAction, default=True,
                    help="run a second time on the same files into the filled store (default: yes)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--as-of", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        result = {"generate": lambda: child_generate(args.folder, args.lines, args.seed),
                  "run": lambda: child_run(args.folder, args.as_of),
                  "baseline": lambda: child_baseline(args.folder)}[args.child]()
        print(json.dumps(result))
        return

    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-nightly-"))
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / "bench-nightly.json"
    wanted = {"lines": args.lines, "seed": args.seed}
    try:
        kept = json.loads(marker.read_text()) if args.reuse and marker.exists() else None
        if kept and {k: kept.get(k) for k in wanted} == wanted:
            generated = kept
            print(f"estate: {args.lines:,} lines kept in {folder} ({kept['rows']:,} rows)")
        else:
            shutil.rmtree(folder / "estate", ignore_errors=True)
            t0 = time.perf_counter()
            generated = {**run_child("generate", folder, "--lines", str(args.lines),
                                     "--seed", str(args.seed)), **wanted}
            marker.write_text(json.dumps(generated))
            print(f"estate: {args.lines:,} lines, {generated['rows']:,} rows of CSV written in "
                  f"{time.perf_counter() - t0:.1f} s, generator peak {generated['peak_rss'] / GIB:.2f} GiB "
                  "(not measured)")
        size = sum(p.stat().st_size for p in (folder / "estate").glob("*.csv"))
        print(f"CSV: {size / 1e9:.2f} GB in {len(list((folder / 'estate').glob('*.csv')))} files; "
              f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
        shutil.rmtree(folder / ".dialtone", ignore_errors=True)
        run = run_child("run", folder, "--as-of", generated["as_of"])
        # The next night: the same files again, into the store the first run filled (every
        # finding is seen again rather than opened), which is what a nightly run mostly is.
        again = run_child("run", folder, "--as-of", generated["as_of"]) if args.again else None
        base = run_child("baseline", folder)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    _report("first run, empty store", run)
    if again is not None:
        _report("next run, same files, store filled by the first", again)
    collect = run["phases"].get("collect", {}).get("seconds", 0.0)
    collect_cpu = run["phases"].get("collect", {}).get("cpu", 0.0)
    print(f"baseline: DuckDB CSV → Parquet of the same files, nothing else: {base['seconds']:.1f} s, "
          f"CPU {base['cpu']:.1f} s, peak {base['peak_rss'] / GIB:.2f} GiB   (collect / baseline = "
          f"{collect / base['seconds']:.2f}x, CPU {collect_cpu / base['cpu']:.2f}x)")


if __name__ == "__main__":
    main()
