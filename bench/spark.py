"""Benchmark: the full built-in packs on DuckDB and on Spark (local[2]), same snapshot.

    python bench/spark.py [--lines 1000000 5000000] [--seed 7] [--driver-memory 8g]

For each size the synthetic estate is generated and written as a snapshot in a
child process; then the same process evaluates it with ``evaluate()`` on DuckDB
and on Spark (one local SparkSession, started before the clock runs), checks
that the two results are identical finding for finding, and prints both times
and the ratio. See docs/scale-out.md for the figures and the expected crossover.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate import generate_snapshot  # noqa: E402  (bench/evaluate.py, the same generator)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args(argv)

    from dialtone.engine.backends.spark import root_session
    from dialtone.engine.evaluation import evaluate
    from dialtone.engine.policy.loader import load_policies
    from dialtone.engine.snapshots import SnapshotStore

    settings = {"master": args.master, "conf": {"spark.driver.memory": args.driver_memory,
                                                "spark.sql.shuffle.partitions": "8"}}
    ok = True
    with tempfile.TemporaryDirectory(prefix="dialtone-bench-spark-") as root:
        # Every estate is generated first, each in a process of its own that exits before the
        # next: the generator's largest stages take 8.3 GiB at 5 M lines (docs/runs.md), and it
        # must not share the machine with a Spark driver that has already grown.
        generated = {}
        for lines in args.lines:
            folder = Path(root) / str(lines)
            with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                generated[lines] = (folder, pool.submit(generate_snapshot, lines, args.seed,
                                                        str(folder)).result())
        started = time.perf_counter()
        root_session(settings)
        print(f"spark start {time.perf_counter() - started:8.2f} s   {args.master}, "
              f"driver {args.driver_memory}")
        loaded = load_policies()
        for lines, (folder, gen) in generated.items():
            snapshot = SnapshotStore(folder).get(gen["snapshot"])
            print(f"\n{lines:,} lines: {sum(gen['rows'].values()):,} rows, "
                  f"{gen['bytes'] / 2**20:,.0f} MiB Parquet (generated in "
                  f"{gen['generate_s'] + gen['write_s']:.1f} s)")
            times = {}
            digests = {}
            for engine in ("duckdb", "spark"):
                started = time.perf_counter()
                result = evaluate(snapshot, loaded, engine=engine,
                                  engine_settings=settings if engine == "spark" else None)
                times[engine] = time.perf_counter() - started
                errors = [o.policy_id for o in result.outcomes if o.status == "error"]
                print(f"  {engine:<7} {times[engine]:8.2f} s   "
                      f"{sum(o.finding_count for o in result.outcomes):,} findings"
                      + (f"; errors: {', '.join(errors)}" if errors else ""))
                # Only a digest of each result is kept: two million findings as Python dicts
                # would crowd out the next engine.
                digests[engine] = hashlib.sha256(json.dumps(
                    result.as_dict()["results"], sort_keys=True, default=str).encode()).hexdigest()
                del result
            same = digests["duckdb"] == digests["spark"]
            ok &= same
            print(f"  spark / duckdb = {times['spark'] / times['duckdb']:.1f}x; "
                  f"findings {'identical' if same else 'DIFFER'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
