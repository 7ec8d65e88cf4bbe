"""Benchmark: does a snapshot laid out for pruning evaluate faster? (issue 20)

    python bench/layout.py --keep DIR [--lines 1000000] [--seed 7] [--repeat 2] [--regroup-only]

Takes the snapshot ``bench/evaluate.py --keep DIR`` kept for ``--lines``/``--seed``, copies it
beside itself and rewrites the copy's large files in the layout of bench/snapshot_layout.py
(sorted on ``SORT_KEYS``, row groups of ``ROW_GROUP_ROWS``; ``--regroup-only`` keeps the order
and only regroups). Then every built-in policy's compiled SQL runs on a plain DuckDB connection
over each of the two snapshots, alternately, ``--repeat`` times, and the bench prints each
run's wall and CPU time (CPU time, this process's threads summed, is the steadier figure on a
shared machine), the rows, bytes and row groups DuckDB scanned, the file sizes, and whether
the findings are identical (the evaluation digest of bench/evaluate.py on both).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time
from pathlib import Path

import duckdb

LARGE = ("usage", "calls", "recordings", "charges", "devices", "device_apps", "licenses",
         "lines", "people")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _run(snapshot, compiled: dict, params: dict) -> tuple[float, float]:
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    for name in snapshot.entities:
        path = str(snapshot.parquet(name)).replace("'", "''")
        con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM read_parquet(\'{path}\')')
    cpu, started = _cpu(), time.perf_counter()
    for pid, c in compiled.items():
        for q in [c] + ([c.undecidable] if c.undecidable is not None else []):
            con.sql(q.sql["duckdb"], params={k: params[pid][k] for k in q.params}).fetchall()
    wall, cpu = time.perf_counter() - started, _cpu() - cpu
    con.close()
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, required=True)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--regroup-only", action="store_true")
    args = parser.parse_args(argv)

    from evaluate import _raw_connection, _reusable, profile_policies, results_digest
    from snapshot_layout import rewrite_parquet  # bench/, beside this script

    from dialtone.engine.compiler import SNAPSHOT_DATE, SNAPSHOT_TIMEZONE, compile_policy
    from dialtone.engine.evaluation import evaluate, resolve_params
    from dialtone.engine.policy.loader import load_policies
    from dialtone.engine.snapshots import SnapshotStore

    kept = _reusable(args.keep, args.lines, args.seed)
    if kept is None:
        parser.error(f"no snapshot of {args.lines:,} lines (seed {args.seed}) kept in {args.keep}; "
                     "run bench/evaluate.py --keep first")
    before = SnapshotStore(args.keep).get(kept["snapshot"])
    copy_root = args.keep.with_name(args.keep.name + ("-regrouped" if args.regroup_only else "-laid-out"))
    shutil.rmtree(copy_root, ignore_errors=True)
    shutil.copytree(before.path, copy_root / "snapshots" / before.id)
    after = SnapshotStore(copy_root).get(before.id)
    started = time.perf_counter()
    for name in LARGE:
        if name in after.entities:
            rewrite_parquet("(regroup only)" if args.regroup_only else name, after.parquet(name),
                            temp_directory=copy_root)
    print(f"rewrote the copy in {time.perf_counter() - started:.1f} s: {copy_root}")
    for name in LARGE:
        if name in after.entities:
            print(f"  {name:<12} {before.parquet(name).stat().st_size / (1 << 20):8.1f} MiB -> "
                  f"{after.parquet(name).stat().st_size / (1 << 20):8.1f} MiB")

    loaded = load_policies()
    compiled = {p.id: compile_policy(p) for p in loaded.policies}
    params = {p.id: {**resolve_params(p, {}), SNAPSHOT_DATE: before.as_of,
                     SNAPSHOT_TIMEZONE: before.timezone} for p in loaded.policies}
    for _ in range(args.repeat):
        for label, snap in (("as written", before), ("laid out", after)):
            wall, cpu = _run(snap, compiled, params)
            print(f"{label:<11} wall {wall:7.2f} s   cpu {cpu:7.2f} s   "
                  f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)", flush=True)
    for label, snap in (("as written", before), ("laid out", after)):
        con, _ = _raw_connection(snap, into_memory=False)
        profiles = profile_policies(con, compiled, params).values()
        con.close()
        print(f"{label:<11} scanned {sum(p.rows_scanned for p in profiles):,} rows, "
              f"{sum(p.bytes_scanned for p in profiles) / (1 << 20):,.0f} MiB, "
              f"{sum(p.row_groups_scanned for p in profiles):,} of "
              f"{sum(p.row_groups_total for p in profiles):,} row groups; digest "
              f"{results_digest(evaluate(snap, loaded))[:16]}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
