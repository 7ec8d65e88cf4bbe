"""Benchmark: record evaluations in the findings store (issue targets on SQLite).

    python bench/findings_sync.py [--findings 1000000] [--changed 0.01] [--url URL]

1. A first evaluation with N new findings (spread over ten built-in policies,
   three evidence fields each) is recorded: every finding is inserted, opened
   and chained into the history. Target: under 60 s at N = 1,000,000.
2. A re-evaluation in which ``--changed`` of the findings changed (half of them
   resolved, the same number new) is recorded. Target: under 10 s. Every reason
   is reworded too ("no activity for N days" moves on), as a daily evaluation
   rewords the day-counting reasons of many built-in policies.

Each time is split: the findings and their history recorded (one transaction;
what the targets are about), then, after its commit, the SQLite text-search
index brought up to date (searches scan meanwhile; engine/store/search_index.py).

The baseline, measured in the same run on the same kind of database file, is
the least any store must do for step 1: a bare ``executemany`` of the same N
rows into a table with the same identity index and nothing else. The ratio
shows what the lifecycle (classification, events, hashing, the audit chain)
costs on top of merely writing the findings down.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from dialtone.engine.evaluation import Evaluation, PolicyOutcome
from dialtone.engine.policy.loader import LoadedPolicies, load_policies
from dialtone.engine.snapshots import Snapshot
from dialtone.engine.store import Store, search_index
from dialtone.engine.store.chain import verify
from dialtone.engine.store.sync import record_evaluation

TARGET_FIRST_S = 60.0
TARGET_RESYNC_S = 10.0


def _snapshot(root: Path, snapshot_id: str, as_of: dt.date) -> Snapshot:
    folder = root / snapshot_id
    folder.mkdir(parents=True)
    manifest = {"id": snapshot_id, "as_of": as_of.isoformat(), "entities": {}, "files": {}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return Snapshot(snapshot_id, folder, manifest)


def _outcomes(policies, ids_per_policy: list[list[str]]) -> list[PolicyOutcome]:
    outs = []
    for policy, ids in zip(policies, ids_per_policy, strict=True):
        n = len(ids)
        out = PolicyOutcome(policy.id, policy.title, policy.category, policy.severity, "alarm",
                            evaluated=n * 3, policy_hash=policy.source_hash,
                            resource_type=policy.resource, evidence_names=("days", "cost", "owner"),
                            sql="SELECT …")
        out.rows = pa.table({
            "resource_id": ids, "reason": [f"no activity for {100 + i % 200} days" for i in range(n)],
            "savings": [float(i % 97) for i in range(n)],
            "savings_key": [f"{policy.resource}:{i}" for i in ids], "currency": ["USD"] * n,
            "days": [100 + i % 200 for i in range(n)],
            "cost": [12.5 + i % 30 for i in range(n)], "owner": [f"P{i % 5000:05d}" for i in range(n)]})
        outs.append(out)
    return outs


def _events(store: Store) -> int:
    from sqlalchemy import func, select

    from dialtone.engine.store.tables import events

    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(events)).scalar()


def baseline(path: Path, ids_per_policy, policies) -> float:
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("CREATE TABLE f (policy_id TEXT, resource_type TEXT, resource_id TEXT, reason TEXT, "
                "evidence TEXT, savings REAL, UNIQUE (policy_id, resource_type, resource_id))")
    started = time.perf_counter()
    with con:
        for policy, ids in zip(policies, ids_per_policy, strict=True):
            con.executemany("INSERT INTO f VALUES (?, ?, ?, ?, ?, ?)", (
                (policy.id, policy.resource, rid, f"no activity for {100 + i % 200} days",
                 json.dumps({"days": 100 + i % 200, "cost": 12.5 + i % 30, "owner": f"P{i % 5000:05d}"}),
                 float(i % 97)) for i, rid in enumerate(ids)))
    took = time.perf_counter() - started
    con.close()
    return took


#: Seconds spent bringing the SQLite search index up to date after each recorded evaluation
#: (``search_index.refresh``, called by ``record_evaluation`` after its commit).
index_seconds: list[float] = []


def _timed_refresh(refresh):
    def timed(store):
        started = time.perf_counter()
        try:
            return refresh(store)
        finally:
            index_seconds.append(time.perf_counter() - started)
    return timed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--findings", type=int, default=1_000_000)
    ap.add_argument("--changed", type=float, default=0.01)
    ap.add_argument("--url", help="store URL (default: a SQLite file in a temporary folder)")
    args = ap.parse_args()

    loaded = load_policies()
    policies = [p for p in loaded.policies if p.category == "cost"][:10]
    per = args.findings // len(policies)
    ids = [[f"R{k}-{i:07d}" for i in range(per)] for k in range(len(policies))]
    total = per * len(policies)
    changed_each = max(1, int(per * args.changed / 2))
    ids2 = [lst[changed_each:] + [f"N{k}-{i:07d}" for i in range(changed_each)]
            for k, lst in enumerate(ids)]
    policy_set = LoadedPolicies(tuple(policies), (), "sha256:bench")
    provenance = {"source": "content", "version": "sha256:bench", "dirty": None}

    search_index.refresh = _timed_refresh(search_index.refresh)
    with tempfile.TemporaryDirectory(prefix="dialtone-sync-bench-") as tmp:
        root = Path(tmp)
        raw_s = baseline(root / "baseline.db", ids, policies)
        url = args.url or f"sqlite:///{root / 'store.db'}"
        store = Store(url)
        snap1 = _snapshot(root, "S1", dt.date(2026, 11, 1))
        ev1 = Evaluation(snap1, "sha256:bench", "duckdb", _outcomes(policies, ids))
        started = time.perf_counter()
        first = record_evaluation(store, ev1, policy_set, provenance=provenance)
        first_s = time.perf_counter() - started
        events_1 = _events(store)

        snap2 = _snapshot(root, "S2", dt.date(2026, 11, 2))
        ev2 = Evaluation(snap2, "sha256:bench", "duckdb", _outcomes(policies, ids2))
        started = time.perf_counter()
        second = record_evaluation(store, ev2, policy_set, provenance=provenance)
        second_s = time.perf_counter() - started
        events_2 = _events(store) - events_1

        started = time.perf_counter()
        third = record_evaluation(store, ev2, policy_set, provenance=provenance)
        unchanged_s = time.perf_counter() - started

        started = time.perf_counter()
        with store.read() as conn:
            report = verify(conn)
        verify_s = time.perf_counter() - started
        size = sum(f.stat().st_size for f in root.glob("store.db*"))
        store.close()

    def verdict(took: float, target: float) -> str:
        return f"target < {target:.0f} s: {'ok' if took < target else 'MISSED'}"

    print(f"store: {'SQLite (WAL)' if not args.url else args.url.split(':')[0]}; {total:,} findings over "
          f"{len(policies)} policies")
    first_ix, second_ix, unchanged_ix = index_seconds
    first_rec, second_rec = first_s - first_ix, second_s - second_ix
    unchanged_rec = unchanged_s - unchanged_ix
    print("times: findings and history recorded (committed, the target) + search index brought up "
          "to date after the commit")
    print(f"first sync, {total:,} new findings   {first_rec:8.2f} s  {total / first_rec:>10,.0f} findings/s  "
          f"{events_1:,} events  {verdict(first_rec, TARGET_FIRST_S)}  + index {first_ix:.2f} s")
    print(f"  baseline: bare executemany of the same rows {raw_s:6.2f} s  "
          f"(first sync / baseline = {first_rec / raw_s:.2f}x)")
    print(f"re-sync, {args.changed:.0%} changed ({dict(sorted(second.changes.items()))}; "
          f"every reason reworded)")
    print(f"                                     {second_rec:8.2f} s  {events_2:,} events  "
          f"{verdict(second_rec, TARGET_RESYNC_S)}  (re-sync / baseline = {second_rec / raw_s:.2f}x)  "
          f"+ index {second_ix:.2f} s")
    print(f"re-sync, unchanged                   {unchanged_rec:8.2f} s  {third.events} events  "
          f"+ index {unchanged_ix:.2f} s")
    print(f"audit verify, {report.events:,} events     {verify_s:8.2f} s  chain "
          + ("OK" if report.ok else f"BROKEN: {report.problem}"))
    print(f"store size on disk                   {size / 2**20:8.0f} MiB")
    assert first.changes.get("opened") == total


if __name__ == "__main__":
    main()
