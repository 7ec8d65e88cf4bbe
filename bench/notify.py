"""Benchmark: new findings routed into digests (issue target: 100,000 in under 10 s).

    python bench/notify.py [--findings 100000] [--url URL]

An evaluation opening N findings (ten built-in cost policies, on lines) is recorded in a
SQLite store (or ``--url``); then the notifications router reads its N ``opened`` events, joins
each finding's line to the snapshot (N lines and their owners, as Parquet) for its cost centre
and owner, matches two rules — a daily digest to each line's owner (falling back to the cost
centre's owner, then to a team address) and a digest of the high-severity ones to the team —
and writes the digests and their items to the outbox, in one transaction. That transaction is
the figure the target is about.

The baseline, measured in the same run, is the least any router must do: read the same N
events and write one outbox item per finding with a bare ``executemany``. The ratio shows what
matching rules and resolving recipients costs on top.

Then the digests are sent to an in-memory target (rendered, marked sent, and a ``notified``
event written in each finding's history), for information.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

from findings_sync import _outcomes, _snapshot  # noqa: E402  (the same findings as that bench)
from sqlalchemy import text  # noqa: E402

from dialtone.engine.config import Config  # noqa: E402
from dialtone.engine.evaluation import Evaluation  # noqa: E402
from dialtone.engine.notifier_api import Target, notifiers  # noqa: E402
from dialtone.engine.notify import delivery  # noqa: E402
from dialtone.engine.notify.routing import route_events  # noqa: E402
from dialtone.engine.notify_settings import NotifySettings, Rule, TargetSettings  # noqa: E402
from dialtone.engine.policy.loader import LoadedPolicies, load_policies  # noqa: E402
from dialtone.engine.store import Store  # noqa: E402
from dialtone.engine.store.sync import record_evaluation  # noqa: E402

TARGET_S = 10.0


class Sink(Target):
    addressed = True
    count = 0

    def send(self, message):
        Sink.count += 1
        return "ok"


def _estate(snapshot, ids: list[str]) -> None:
    """Every finding's line, with an owner for four in five and a cost centre for each."""
    n = len(ids)
    pq.write_table(pa.table({
        "id": ids, "assigned_to": [f"P{i % 5000:05d}" if i % 5 else None for i in range(n)],
        "cost_center": [f"CC-{i % 40:02d}" for i in range(n)], "vendor": ["Acme"] * n,
        "currency": ["USD"] * n}), snapshot.path / "lines.parquet")
    pq.write_table(pa.table({"id": [f"P{i:05d}" for i in range(5000)],
                             "email": [f"person{i}@example.com" for i in range(5000)]}),
                   snapshot.path / "people.parquet")
    for entity in ("lines", "people"):
        snapshot.manifest["entities"][entity] = {"file": f"{entity}.parquet", "rows": 0, "sources": [],
                                                 "sha256": ""}


def baseline(store: Store, evaluation_id: int) -> float:
    started = time.perf_counter()
    with store.write() as conn:
        conn.exec_driver_sql("CREATE TEMPORARY TABLE bare_items (message_id INTEGER, finding_id INTEGER, "
                             "kind VARCHAR(30))")
        rows = conn.execute(text("SELECT finding_id FROM events WHERE evaluation_id = :e AND kind = 'opened' "
                                 "ORDER BY seq"), {"e": evaluation_id}).all()
        conn.execute(text("INSERT INTO bare_items (message_id, finding_id, kind) VALUES (1, :f, 'new')"),
                     [{"f": r[0]} for r in rows])
        conn.exec_driver_sql("DROP TABLE bare_items")
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--findings", type=int, default=100_000)
    ap.add_argument("--url", help="store URL (default: a SQLite file in a temporary folder)")
    args = ap.parse_args()

    policies = [p for p in load_policies().policies if p.category == "cost" and p.resource == "lines"][:10]
    per = args.findings // len(policies)
    ids = [[f"L{k}{i:07d}" for i in range(per)] for k in range(len(policies))]
    total = per * len(policies)
    rules = (Rule(name="owners-daily", when=("new", "reopened"), targets=("sink",), delivery="digest",
                  period="day", recipients=("owner",), fallback="telecom@example.com"),
             Rule(name="team-high", when=("new",), targets=("sink",), delivery="digest", period="day",
                  match={"severity": ("high", "critical")}, recipients=("cost_center_owner",),
                  fallback="telecom@example.com"))
    settings = NotifySettings(targets={"sink": TargetSettings("sink", "bench-sink", "masked", {})},
                              rules=rules,
                              cost_center_owners={f"CC-{i:02d}": f"cc{i}@example.com" for i in range(20)})
    notifiers.register("bench-sink", Sink)

    with tempfile.TemporaryDirectory(prefix="dialtone-notify-bench-") as tmp:
        root = Path(tmp)
        store = Store(args.url or f"sqlite:///{root / 'store.db'}")
        snap = _snapshot(root, "S1", dt.date(2026, 11, 1))
        _estate(snap, [i for lst in ids for i in lst])
        ev = Evaluation(snap, "sha256:bench", "duckdb", _outcomes(policies, ids))
        recorded = record_evaluation(store, ev, LoadedPolicies(tuple(policies), (), "sha256:bench"),
                                     provenance={"source": "content", "version": "sha256:bench",
                                                 "dirty": None})
        eid = recorded.evaluation_id
        bare_s = baseline(store, eid)

        started = time.perf_counter()
        with store.write() as conn:
            summary = route_events(conn, settings, now=store.now_text(), snapshot=snap, evaluation_id=eid)
        route_s = time.perf_counter() - started

        with store.read() as conn:
            messages = conn.execute(text("SELECT count(*) FROM notify_outbox")).scalar()
            items = conn.execute(text("SELECT count(*) FROM notify_items")).scalar()

        config = Config(path=None, base_dir=root, data_dir=root, notifications=settings)
        store.clock = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(days=2)   # the digests' day is over
        started = time.perf_counter()
        sent = delivery.notify(store, config, snap)
        send_s = time.perf_counter() - started
        store.close()

    verdict = "ok" if route_s < TARGET_S else "MISSED"
    print(f"store: {'SQLite (WAL)' if not args.url else args.url.split(':')[0]}; {total:,} new findings "
          f"over {len(policies)} policies; 2 digest rules (owner, cost centre owner, fallback)")
    print(f"routed into digests        {route_s:8.2f} s  {total / route_s:>10,.0f} findings/s  "
          f"{messages:,} digest messages, {items:,} items  target < {TARGET_S:.0f} s: {verdict}")
    print(f"  baseline: read the events + bare executemany of one item each {bare_s:6.2f} s  "
          f"(routing / baseline = {route_s / bare_s:.2f}x)")
    print(f"digests sent (rendered, marked, {summary.digest_items:,} history events)  {send_s:8.2f} s  "
          f"{sent.sent:,} sent")
    print(json.dumps({"findings": total, "route_s": round(route_s, 3), "baseline_s": round(bare_s, 3),
                      "send_s": round(send_s, 3), "messages": messages, "items": items}))
    assert items == summary.digest_items and sent.sent == messages


if __name__ == "__main__":
    main()
