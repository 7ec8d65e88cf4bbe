"""Benchmark: evaluate the built-in policies on a large synthetic snapshot.

    python bench/evaluate.py --lines 1000000 [--seed 7] [--keep DIR [--reuse]] [--repeat 2]

The estate is generated and written as a snapshot in a child process, so the
peak RSS reported for evaluation is the evaluating process's own. Evaluation
runs through ``evaluate()`` (the sandboxed DuckDB backend, views over the
snapshot's Parquet files). The baseline runs the same compiled SQL with the
same bound parameters on a plain DuckDB connection, with plain views over the
same files, no sandbox and nothing but ``fetchall()``; engine/raw is the
engine's overhead. A third column loads the tables into DuckDB's memory first,
to show what materialising the snapshot would buy.

The packs as they were at ``--baseline-rev`` (default: the commit before the
packs were rewritten to decide on real-world data, issue 14) are evaluated on
the same snapshot in the same run, alternating with today's packs, so the
ratio of the two is measured on the same machine at the same moment.

The release at that revision (its engine and its packs, from ``git archive``)
is also run on the same snapshot in a child process: what a user's nightly
evaluation took then against what it takes now. Today's evaluations keep
compiled policies in a cache folder as ``dialtone run`` does, so the first is
cold (every policy compiled) and the next ones are a nightly run's.

``--keep DIR --reuse`` evaluates the snapshot kept in DIR by an earlier
``--keep DIR`` run with the same ``--lines`` and ``--seed`` instead of
generating a new one (the planted violations are kept beside it in
``bench-planted.json``); without a matching snapshot it generates one.

Each measurement is the best of ``--repeat`` runs, so the page cache and
DuckDB's Parquet metadata are warm for every contender alike.

``--profile N`` (default 15) runs each policy's compiled SQL once more on the
plain baseline connection with DuckDB's JSON profiling on (never on the
engine's sandboxed connection) and prints the N slowest policies with their
time, CPU time, rows and bytes scanned and Parquet row groups read of those
they could read, then the totals: where an evaluation's time goes. The
target line prints the machine's load average: on a shared 2-core machine
the wall time is only comparable between runs made at the same load.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import duckdb

#: The full built-in packs: at most 5 s per 1,000,000 lines (5 s at 1 M, 25 s at 5 M; issue 20).
TARGET_S_PER_MILLION = 5.0
#: Today's packs against the packs before they decided on real-world data (issue 14).
BASELINE_REV = "c9711d9"
TARGET_VS_BASELINE = 1.10
TARGET_OVERHEAD = 1.2
TARGET_RSS_GIB = 2.0
GIB = 1 << 30


def _peak_rss() -> int:
    """Peak resident set size of this process, in bytes (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def generate_snapshot(lines: int, seed: int, data_dir: str) -> dict:
    """In a child process: generate the estate and write it as a snapshot.

    Each entity is written as the snapshot's Parquet file (same codec, same writer) as soon as
    the generator has built it, into a scratch folder of the store; the store then moves the
    files into the new snapshot. The estate is never held in memory whole. ``generate_s`` is
    generating and writing the Parquet files, ``write_s`` the store's move, hashes and
    manifest."""
    import pyarrow.parquet as pq

    from dialtone.engine.snapshots import SNAPSHOT_COMPRESSION, SnapshotStore
    from dialtone.engine.synthetic import stream_estate

    store = SnapshotStore(Path(data_dir))
    scratch = store.scratch_dir("work")
    try:
        def write_parquet(name: str, table) -> None:
            pq.write_table(table, scratch / f"{name}.parquet", compression=SNAPSHOT_COMPRESSION)

        started = time.perf_counter()
        streamed = stream_estate(lines, write_parquet, seed=seed)
        generated = time.perf_counter() - started
        started = time.perf_counter()
        snapshot = store.write(
            {name: scratch / f"{name}.parquet" for name in streamed.entity_rows},
            as_of=streamed.as_of,
            sources={"synthetic": {"collector": "bench/evaluate.py", "lines": lines, "seed": seed}})
        written = time.perf_counter() - started
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    size = sum(f.stat().st_size for f in snapshot.path.iterdir())
    return {"snapshot": snapshot.id, "generate_s": generated, "write_s": written,
            "rows": dict(streamed.entity_rows), "bytes": size, "peak_rss": _peak_rss(),
            "planted": streamed.planted}


def planted_only(lines: int, seed: int) -> dict:
    """In a child process: the planted violations of the seeded estate, without writing it."""
    from dialtone.engine.synthetic import stream_estate

    return stream_estate(lines, lambda _name, _table: None, seed=seed).planted


PLANTED_FILE = "bench-planted.json"


def _reusable(data_dir: Path, lines: int, seed: int) -> dict | None:
    """The kept snapshot of an earlier run with the same lines and seed, if any."""
    from dialtone.engine.snapshots import SnapshotStore

    for snapshot in reversed(SnapshotStore(data_dir).list()):
        source = snapshot.manifest.get("sources", {}).get("synthetic", {})
        if source.get("lines") != lines or source.get("seed") != seed:
            continue
        rows = {name: info["rows"] for name, info in snapshot.entities.items()}
        size = sum(f.stat().st_size for f in snapshot.path.iterdir())
        planted = None
        kept = data_dir / PLANTED_FILE
        if kept.exists():
            info = json.loads(kept.read_text(encoding="utf-8"))
            if info.get("lines") == lines and info.get("seed") == seed:
                planted = info["planted"]
        if planted is None:
            with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
                planted = pool.submit(planted_only, lines, seed).result()
            _keep_planted(data_dir, lines, seed, planted)
        return {"snapshot": snapshot.id, "generate_s": 0.0, "write_s": 0.0, "rows": rows,
                "bytes": size, "peak_rss": 0, "planted": planted, "reused": True}
    return None


def _keep_planted(data_dir: Path, lines: int, seed: int, planted: dict) -> None:
    (data_dir / PLANTED_FILE).write_text(
        json.dumps({"lines": lines, "seed": seed, "planted": planted}, sort_keys=True),
        encoding="utf-8")


def _raw_connection(snapshot, into_memory: bool) -> tuple[duckdb.DuckDBPyConnection, float]:
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")  # the engine's session setting; results depend on it
    started = time.perf_counter()
    for name in snapshot.entities:
        path = str(snapshot.parquet(name)).replace("'", "''")
        kind = "TABLE" if into_memory else "VIEW"
        con.execute(f'CREATE {kind} "{name}" AS SELECT * FROM read_parquet(\'{path}\')')
    return con, time.perf_counter() - started


def _run_raw(con, compiled: dict, params: dict) -> dict[str, tuple[float, int]]:
    """Each policy's SQL (and its undecidable query, as the engine runs it) on a plain
    connection; the rows counted are the findings'."""
    from dialtone.engine.compiler import UNDECIDABLE_COLUMN

    out = {}
    for pid, c in compiled.items():
        started = time.perf_counter()
        cur = con.execute(c.sql["duckdb"], {k: params[pid][k] for k in c.params})
        rows = cur.fetchall()
        if c.inline_undecidable:
            flag = [d[0] for d in cur.description].index(UNDECIDABLE_COLUMN)
            rows = [r for r in rows if not r[flag]]
        if c.undecidable is not None:
            con.execute(c.undecidable.sql["duckdb"],
                        {k: params[pid][k] for k in c.undecidable.params}).fetchall()
        out[pid] = (time.perf_counter() - started, len(rows))
    return out


@dataclass
class Profile:
    """One policy's work as DuckDB's profiler counts it (its findings query and its
    undecidable query together)."""

    seconds: float = 0.0        # the profiler's query time
    cpu_seconds: float = 0.0    # thread time summed over DuckDB's threads
    rows_scanned: int = 0
    bytes_scanned: int = 0
    row_groups_scanned: int = 0
    row_groups_total: int = 0   # the row groups the scans could have read, before pruning

    def add(self, query: dict) -> None:
        self.seconds += query.get("total_time", 0.0)
        self.cpu_seconds += query.get("cpu_time", 0.0)
        self.rows_scanned += query.get("total_rows_scanned", 0)
        self.bytes_scanned += query.get("total_bytes_scanned", 0)
        self.row_groups_scanned += query.get("total_row_groups_scanned", 0)
        self.row_groups_total += query.get("total_row_groups_to_scan", 0)


def profile_policies(con, compiled: dict, params: dict) -> dict[str, Profile]:
    """Each policy's SQL once more on the plain baseline connection with DuckDB's JSON profiling
    on (never on the engine's sandboxed connection, whose configuration stays locked): its
    time, CPU time, rows and bytes scanned and Parquet row groups read of those it could read.
    A separate pass, so the profiler's own cost is in none of the timed runs."""
    folder = Path(tempfile.mkdtemp(prefix="dialtone-profile-"))
    out = folder / "profile.json"
    con.execute("PRAGMA enable_profiling = 'json'")
    con.execute(f"PRAGMA profiling_output = '{out}'")
    profiles = {}
    try:
        for pid, c in compiled.items():
            profile = profiles[pid] = Profile()
            queries = [c] + ([c.undecidable] if c.undecidable is not None else [])
            for q in queries:
                con.sql(q.sql["duckdb"], params={k: params[pid][k] for k in q.params}).fetchall()
                profile.add(json.loads(out.read_text(encoding="utf-8")).get("query", {}))
    finally:
        con.execute("PRAGMA disable_profiling")
        shutil.rmtree(folder, ignore_errors=True)
    return profiles


def print_profile(profiles: dict[str, Profile], top: int) -> None:
    """The ``top`` policies by time, then the totals."""
    mib = 1 << 20
    print(f"{'PROFILE (DuckDB, baseline connection)':<60} {'TIME s':>7} {'CPU s':>7} "
          f"{'ROWS SCANNED':>13} {'MiB SCANNED':>11} {'ROW GROUPS':>11}")
    ranked = sorted(profiles.items(), key=lambda kv: (-kv[1].seconds, kv[0]))
    for pid, p in ranked[:top]:
        print(f"{pid:<60} {p.seconds:>7.3f} {p.cpu_seconds:>7.3f} {p.rows_scanned:>13,} "
              f"{p.bytes_scanned / mib:>11,.1f} {p.row_groups_scanned:>5,}/{p.row_groups_total:<5,}")
    total = Profile()
    for p in profiles.values():
        total.add({"total_time": p.seconds, "cpu_time": p.cpu_seconds,
                   "total_rows_scanned": p.rows_scanned, "total_bytes_scanned": p.bytes_scanned,
                   "total_row_groups_scanned": p.row_groups_scanned,
                   "total_row_groups_to_scan": p.row_groups_total})
    share = sum(p.seconds for _, p in ranked[:top]) / total.seconds if total.seconds else 0.0
    print(f"{f'total ({len(profiles)} policies; top {top}: {share:.0%} of the time)':<60} "
          f"{total.seconds:>7.3f} {total.cpu_seconds:>7.3f} {total.rows_scanned:>13,} "
          f"{total.bytes_scanned / mib:>11,.1f} {total.row_groups_scanned:>5,}/{total.row_groups_total:<5,}")


def _best(runs: list[dict[str, tuple[float, int]]]) -> dict[str, tuple[float, int]]:
    return {pid: min((r[pid] for r in runs), key=lambda x: x[0]) for pid in runs[0]}


def _baseline_packs(rev: str):
    """The built-in packs as they were at ``rev``, read from git into a temporary folder."""
    import subprocess

    from dialtone.engine.policy.loader import load_policies

    repo = Path(__file__).resolve().parents[1]
    git = ["git", "-C", str(repo)]
    names = subprocess.run([*git, "ls-tree", "-r", "--name-only", rev, "--", "policies"],
                           capture_output=True, text=True, check=True).stdout.split()
    folder = Path(tempfile.mkdtemp(prefix="dialtone-baseline-"))
    for name in names:
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(subprocess.run([*git, "show", f"{rev}:{name}"], capture_output=True,
                                          check=True).stdout)
    loaded = load_policies([folder / "policies"])
    shutil.rmtree(folder, ignore_errors=True)
    return loaded


_RELEASE_RUN = """
import json, sys, time
from pathlib import Path
import dialtone.engine
root = Path(sys.argv[1]).resolve()
if not Path(dialtone.engine.__file__).resolve().is_relative_to(root):
    sys.exit(f"the release's code did not load (got {dialtone.engine.__file__})")
from dialtone.engine.evaluation import evaluate
from dialtone.engine.policy.loader import load_policies
from dialtone.engine.snapshots import SnapshotStore
snapshot = SnapshotStore(Path(sys.argv[2])).get(sys.argv[3])
loaded = load_policies()
times = []
for _ in range(int(sys.argv[4])):
    started = time.perf_counter()
    result = evaluate(snapshot, loaded)
    times.append(time.perf_counter() - started)
    result = None
print(json.dumps({"times": times, "policies": len(loaded.policies)}))
"""


def _release_times(rev: str, data_dir: Path, snapshot_id: str, repeat: int) -> dict:
    """The release at ``rev`` (its engine and its packs) evaluating the snapshot, in a child
    process importing that revision's code: ``{"times": [...], "policies": n}``."""
    import subprocess

    from revisions import revision_root

    with revision_root(rev, "dialtone-release-") as root:
        done = subprocess.run(
            [sys.executable, "-c", _RELEASE_RUN, str(root.parent), str(data_dir), snapshot_id,
             str(repeat)],
            capture_output=True, text=True, cwd=root.parent,
            env={**os.environ, "PYTHONPATH": str(root)})
    if done.returncode != 0:
        raise RuntimeError(f"the release {rev} could not evaluate: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def results_digest(result) -> str:
    """One hash of every policy's status and findings (resource, reason, savings, evidence), as
    the findings store digests a policy's results for replay: equal digests, identical results.
    A refactoring that must not change behaviour compares this before and after."""
    import hashlib

    from dialtone.engine.store.staging import result_digest

    digest = hashlib.sha256()
    for o in sorted(result.outcomes, key=lambda o: o.policy_id):
        part = (result_digest(o.policy_id, o.resource_type, o.evidence_names, o.rows)
                if o.rows is not None else "-")
        digest.update(f"{o.policy_id} {o.status} {o.undecidable_count} {part}\n".encode())
    return digest.hexdigest()


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="data directory to write the snapshot into and keep")
    parser.add_argument("--reuse", action="store_true",
                        help="with --keep: evaluate the snapshot kept there by an earlier run "
                             "with the same --lines and --seed instead of generating one")
    parser.add_argument("--skip-memory", action="store_true",
                        help="skip the tables-loaded-into-memory alternative (saves ~20 s)")
    parser.add_argument("--profile", type=int, default=15, metavar="N",
                        help="print DuckDB's profile of the N slowest policies (0: skip the pass)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per contender; the best counts")
    parser.add_argument("--baseline-rev", default=BASELINE_REV,
                        help="git revision whose built-in packs are the baseline ('' to skip)")
    parser.add_argument("--no-release", action="store_true",
                        help="skip running the release at --baseline-rev in a child process")
    args = parser.parse_args(argv)
    if args.reuse and not args.keep:
        parser.error("--reuse needs --keep DIR")

    tmp = None
    if args.keep:
        data_dir = args.keep
        data_dir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.mkdtemp(prefix="dialtone-bench-")
        data_dir = Path(tmp)
    try:
        return _bench(args, data_dir)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def _bench(args, data_dir: Path) -> int:
    from dialtone.engine.backends.duckdb import DuckDBBackend
    from dialtone.engine.compiler import SNAPSHOT_DATE, SNAPSHOT_TIMEZONE, compile_policy
    from dialtone.engine.config import EvaluationLimits
    from dialtone.engine.evaluation import evaluate, resolve_params
    from dialtone.engine.policy.loader import load_policies
    from dialtone.engine.snapshots import SnapshotStore

    print(f"dialtone bench: {args.lines:,} lines, seed {args.seed}, duckdb {duckdb.__version__}, "
          f"best of {args.repeat}")
    gen = _reusable(data_dir, args.lines, args.seed) if args.reuse else None
    total_rows = sum(gen["rows"].values()) if gen else 0
    if gen:
        print(f"reused      {total_rows:,} rows in 18 tables ({gen['rows']['usage']:,} usage, "
              f"{gen['rows']['calls']:,} calls)")
    else:
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            gen = pool.submit(generate_snapshot, args.lines, args.seed, str(data_dir)).result()
        if args.keep:
            _keep_planted(data_dir, args.lines, args.seed, gen["planted"])
        total_rows = sum(gen["rows"].values())
        print(f"generate    {gen['generate_s']:8.2f} s   {total_rows:,} rows in 18 tables "
              f"({gen['rows']['usage']:,} usage, {gen['rows']['calls']:,} calls); "
              f"generator peak RSS {gen['peak_rss'] / GIB:.2f} GiB")
    print(f"snapshot    {gen['write_s']:8.2f} s   {gen['snapshot']} "
          f"({gen['bytes'] / (1 << 20):,.0f} MiB Parquet) in {data_dir}")

    snapshot = SnapshotStore(data_dir).get(gen["snapshot"])
    loaded = load_policies()
    if loaded.failures:
        for file, err in loaded.failures:
            print(f"invalid policy {file}: {err}")
    base_rss = _peak_rss()

    started = time.perf_counter()
    session = DuckDBBackend(EvaluationLimits()).open(snapshot)
    open_s = time.perf_counter() - started
    session.close()

    baseline = _baseline_packs(args.baseline_rev) if args.baseline_rev else None
    engine_runs, totals, baseline_totals = [], [], []
    result = None
    # Compiled policies are kept between runs as `dialtone run` keeps them (<data_dir>/cache):
    # the first evaluation compiles every policy, the next ones are a nightly run's.
    cache_dir = Path(tempfile.mkdtemp(prefix="dialtone-bench-cache-"))
    for _ in range(args.repeat):
        # Free the previous run's findings before the clock starts, not inside it.
        result = None
        gc.collect()
        started = time.perf_counter()
        result = evaluate(snapshot, loaded, compile_cache=cache_dir)
        totals.append(time.perf_counter() - started)
        engine_runs.append({o.policy_id: (o.seconds, o.finding_count) for o in result.outcomes})
        if baseline is not None:     # alternating with today's packs: same machine, same moment
            gc.collect()
            started = time.perf_counter()
            evaluate(snapshot, baseline)
            baseline_totals.append(time.perf_counter() - started)
    shutil.rmtree(cache_dir, ignore_errors=True)
    engine_rss = _peak_rss()
    engine = _best(engine_runs)
    release = None
    if args.baseline_rev and not args.no_release:
        release = _release_times(args.baseline_rev, data_dir, snapshot.id, args.repeat)
    # Findings stay Arrow inside evaluate(); JSON-ready dicts are made for output only.
    started = time.perf_counter()
    for o in result.outcomes:
        _ = o.findings
    to_dicts_s = time.perf_counter() - started
    outcomes = {o.policy_id: o for o in result.outcomes}

    started = time.perf_counter()
    compiled = {p.id: compile_policy(p) for p in loaded.policies}
    compile_s = time.perf_counter() - started
    params = {p.id: {**resolve_params(p, {}), SNAPSHOT_DATE: snapshot.as_of,
                     SNAPSHOT_TIMEZONE: snapshot.timezone} for p in loaded.policies}
    con, _ = _raw_connection(snapshot, into_memory=False)
    raw = _best([_run_raw(con, compiled, params) for _ in range(args.repeat)])
    profiles = profile_policies(con, compiled, params) if args.profile else None
    started = time.perf_counter()
    for c in compiled.values():
        con.execute(f'SELECT count(*) FROM "{c.policy.resource}"').fetchall()
    count_s = time.perf_counter() - started
    con.close()
    raw_rss = _peak_rss()
    if args.skip_memory:
        mem, load_s, mem_rss = {pid: (float("nan"), 0) for pid in compiled}, float("nan"), 0
    else:
        con, load_s = _raw_connection(snapshot, into_memory=True)
        mem = _best([_run_raw(con, compiled, params) for _ in range(args.repeat)])
        con.close()
        mem_rss = _peak_rss()

    rows = {name: info["rows"] for name, info in snapshot.entities.items()}
    print()
    print(f"{'POLICY':<46} {'INPUT ROWS':>11} {'FOUND':>7} {'PLANTED':>8} {'ENGINE s':>9} "
          f"{'RAW s':>7} {'RATIO':>6} {'MEM s':>7} {'ROWS/s':>10}")
    for pid in sorted(engine):
        seconds, found = engine[pid]
        c = compiled.get(pid)
        if c is None:
            print(f"{pid:<46} {outcomes[pid].status}: {outcomes[pid].error}")
            continue
        read = sum(rows.get(t, 0) for t in c.tables)
        planted = gen["planted"].get(pid)
        ids = {f["resource_id"] for f in outcomes[pid].findings}
        flag = "" if planted is None or ids == set(planted) else " (not the planted set)"
        raw_s, raw_found = raw[pid]
        if raw_found != found:
            flag += f" (raw found {raw_found})"
        print(f"{pid:<46} {read:>11,} {found:>7,} "
              f"{'-' if planted is None else f'{len(planted):,}':>8} {seconds:>9.3f} {raw_s:>7.3f} "
              f"{seconds / raw_s:>5.2f}x {mem[pid][0]:>7.3f} {read / seconds:>10,.0f}{flag}")

    engine_total = sum(s for s, _ in engine.values())
    raw_total = sum(s for s, _ in raw.values())
    mem_total = sum(s for s, _ in mem.values())
    read_total = sum(sum(rows.get(t, 0) for t in compiled[p].tables) for p in engine if p in compiled)
    overhead = engine_total / raw_total
    scaled = "" if args.lines >= 1_000_000 else f" (measured at {args.lines:,})"
    print(f"{'total':<46} {read_total:>11,} {sum(f for _, f in engine.values()):>7,} {'':>8} "
          f"{engine_total:>9.3f} {raw_total:>7.3f} {overhead:>5.2f}x {mem_total:>7.3f} "
          f"{read_total / engine_total:>10,.0f}")
    print()
    print(f"{'PACK':<14} {'POLICIES':>8} {'FOUND':>9} {'ENGINE s':>9} {'RAW s':>7}")
    for pack in sorted({pid.split('.')[0] for pid in engine}):
        ids = [pid for pid in engine if pid.startswith(pack + ".")]
        print(f"{pack:<14} {len(ids):>8} {sum(engine[i][1] for i in ids):>9,} "
              f"{sum(engine[i][0] for i in ids):>9.3f} "
              f"{sum(raw[i][0] for i in ids if i in raw):>7.3f}")
    if profiles:
        print()
        print_profile(profiles, args.profile)
    print()
    print(f"session open (views + sandbox)           {open_s:8.3f} s")
    target_s = TARGET_S_PER_MILLION * max(1.0, args.lines / 1_000_000)
    target = f"target <= {target_s:g} s at {max(args.lines, 1_000_000):,} lines{scaled}"
    print(f"evaluate() wall time, best of {args.repeat}            {min(totals):8.3f} s   "
          f"{target}: {_verdict(min(totals) <= target_s)}; {min(totals) / target_s:.2f}x the target "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"  first run (compiles every policy)      {totals[0]:8.3f} s   "
          f"(later runs read the compiled policies from the cache)")
    if release is not None:
        best_release = min(release["times"])
        ratio = min(totals) / best_release
        print(f"  the release {args.baseline_rev:<12} evaluating        {best_release:8.3f} s   "
              f"(its engine and its {release['policies']} policies, in a child process)")
        print(f"  today / the release (nightly run)      {ratio:8.2f} x   "
              f"target <= {TARGET_VS_BASELINE:g}x: {_verdict(ratio <= TARGET_VS_BASELINE)}")
        print(f"  today / the release (first run, cold)  {totals[0] / best_release:8.2f} x   "
              f"(every policy compiled: after an upgrade or with an empty cache)")
    print(f"  policy time summed (outcome.seconds)   {engine_total:8.3f} s   "
          f"(query + Arrow result; policies run {EvaluationLimits().concurrency} at a time, "
          f"so their times overlap)")
    if baseline_totals:
        ratio = min(totals) / min(baseline_totals)
        print(f"  the packs at {args.baseline_rev:<12}               {min(baseline_totals):8.3f} s   "
              f"({len(baseline.policies)} policies, before they decided on real-world data)")
        print(f"  today's packs / those, on today's engine {ratio:6.2f} x   "
              f"(what the packs' extra decisions cost, apart from the engine's gains)")
    print(f"findings → JSON-ready dicts (output)     {to_dicts_s:8.3f} s   "
          f"(for --format json/csv; not part of evaluate())")
    print(f"policy time, raw DuckDB over Parquet     {raw_total:8.3f} s   "
          f"(the engine also compiles: {compile_s:.3f} s, and counts resources: ~{count_s:.3f} s)")
    end_to_end = min(totals) / raw_total
    print(f"engine overhead (evaluate() wall / raw)  {end_to_end:8.2f} x   "
          f"target <= {TARGET_OVERHEAD:g}x: {_verdict(end_to_end <= TARGET_OVERHEAD)} "
          f"(summed policy time / raw: {overhead:.2f}x)")
    print(f"peak RSS, evaluating process             {engine_rss / GIB:8.2f} GiB "
          f"target < {TARGET_RSS_GIB:g} GiB: {_verdict(engine_rss < TARGET_RSS_GIB * GIB)} "
          f"(before evaluating {base_rss / GIB:.2f} GiB)")
    print(f"peak RSS after the raw baseline          {raw_rss / GIB:8.2f} GiB")
    print(f"alternative: tables loaded into memory   {mem_total:8.3f} s   "
          f"+ {load_s:.2f} s to load; peak RSS {mem_rss / GIB:.2f} GiB")
    print(f"results digest                           {results_digest(result)[:16]} "
          f"(every policy's status and findings; equal digests, identical results)")
    mismatched = [p for p in engine if p in gen["planted"]
                  and {f["resource_id"] for f in outcomes[p].findings} != set(gen["planted"][p])]
    print(f"planted violations found exactly         {len(gen['planted']) - len(mismatched)} of "
          f"{len(gen['planted'])} policies" + (f"; differ: {', '.join(mismatched)}" if mismatched else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
