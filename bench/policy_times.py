"""Benchmark: each built-in policy's query time against the same policy at a baseline revision.

    python bench/policy_times.py --lines 1000000 [--keep DIR [--reuse]] [--baseline-rev REV]
                                 [--pack cost] [--repeat 3]

Both sets of packs run on the same snapshot, in the same process, with the same engine,
alternating policy by policy (today's, then the baseline's), each the best of ``--repeat``
runs of its SQL and, where the policy has one, its separate undecidable query. It prints
per policy and per pack the two times and their ratio, and the whole packs' ratio against
its target: what a pack rewrite costs, apart from everything else that changed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from evaluate import (  # noqa: E402
    BASELINE_REV,
    TARGET_VS_BASELINE,
    _baseline_packs,
    _reusable,
    _verdict,
    generate_snapshot,
)


def _time(session, compiled, bound: dict, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        session.run(compiled, {k: bound[k] for k in compiled.params})
        if compiled.undecidable is not None:
            session.run(compiled.undecidable, {k: bound[k] for k in compiled.undecidable.params})
        best = min(best, time.perf_counter() - started)
    return best


def main(argv: list[str] | None = None) -> int:
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from dialtone.engine.backends.duckdb import DuckDBBackend
    from dialtone.engine.compiler import SNAPSHOT_DATE, SNAPSHOT_TIMEZONE, compile_policy
    from dialtone.engine.config import EvaluationLimits
    from dialtone.engine.evaluation import resolve_params
    from dialtone.engine.policy.loader import load_policies
    from dialtone.engine.snapshots import SnapshotStore

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, required=True, help="data directory of the snapshot")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--baseline-rev", default=BASELINE_REV)
    parser.add_argument("--pack", help="only this pack (cost, retention, …)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    args.keep.mkdir(parents=True, exist_ok=True)
    gen = _reusable(args.keep, args.lines, args.seed) if args.reuse else None
    if gen is None:
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            gen = pool.submit(generate_snapshot, args.lines, args.seed, str(args.keep)).result()
    snapshot = SnapshotStore(args.keep).get(gen["snapshot"])
    today, baseline = load_policies(), _baseline_packs(args.baseline_rev)
    old = baseline.by_id()
    session = DuckDBBackend(EvaluationLimits(concurrency=1)).open(snapshot)
    rows = []
    for policy in today.policies:
        if args.pack and not policy.id.startswith(args.pack + "."):
            continue
        pairs = [(policy, "today")] + ([(old[policy.id], "baseline")] if policy.id in old else [])
        times = {}
        for p, which in pairs:
            compiled = compile_policy(p)
            bound = {**resolve_params(p, {}), SNAPSHOT_DATE: snapshot.as_of,
                     SNAPSHOT_TIMEZONE: snapshot.timezone}
            times[which] = _time(session, compiled, bound, args.repeat)
        rows.append((policy.id, times.get("baseline"), times["today"]))
    session.close()

    print(f"policy times: {args.lines:,} lines, baseline {args.baseline_rev}, best of {args.repeat}")
    print(f"{'POLICY':<60} {'BASELINE s':>10} {'TODAY s':>8} {'RATIO':>6}")
    for pid, before, now in rows:
        ratio = f"{now / before:5.2f}x" if before else "  new"
        print(f"{pid:<60} {before or 0:>10.3f} {now:>8.3f} {ratio:>6}")
    print()
    for pack in sorted({pid.split(".")[0] for pid, _, _ in rows}):
        mine = [(b or 0, n) for pid, b, n in rows if pid.startswith(pack + ".")]
        before, now = sum(b for b, _ in mine), sum(n for _, n in mine)
        print(f"pack {pack:<12} baseline {before:8.3f} s   today {now:8.3f} s   "
              f"{now / before if before else float('nan'):5.2f}x")
    before = sum(b or 0 for _, b, _ in rows)
    now = sum(n for _, _, n in rows)
    print(f"all            baseline {before:8.3f} s   today {now:8.3f} s   {now / before:5.2f}x   "
          f"target <= {TARGET_VS_BASELINE:g}x: {_verdict(now / before <= TARGET_VS_BASELINE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
