"""Helpers for store tests: a store on SQLite or PostgreSQL, evaluations built from plain data."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, text

from dialtone.engine.estate.model import load_model
from dialtone.engine.evaluation import Evaluation, PolicyOutcome
from dialtone.engine.policy.loader import LoadedPolicies, load_policies
from dialtone.engine.snapshots import Snapshot
from dialtone.engine.store import Store

PG_ENV = "DIALTONE_TEST_DATABASE_URL"
PG_INSTALL = ("PostgreSQL store tests need a server: apt-get install -y postgresql, then "
              "eval \"$(.ci/postgres.sh)\" to start one and set " + PG_ENV)


class Clock:
    """A settable clock for the store."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += dt.timedelta(**delta)

    def set_day(self, day: dt.date) -> None:
        self.now = dt.datetime.combine(day, dt.time(9, 0), tzinfo=dt.UTC)


def reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def store_url(kind: str, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(PG_INSTALL)
    reset_postgres(url)
    return url


def snapshot(tmp_path: Path, snapshot_id: str, as_of: dt.date) -> Snapshot:
    folder = tmp_path / "snapshots" / snapshot_id
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"id": snapshot_id, "as_of": as_of.isoformat(), "entities": {}, "files": {}}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return Snapshot(snapshot_id, folder, manifest)


BUILTIN = load_policies()
POLICIES = {p.id: p for p in BUILTIN.policies}


def policy_set(*ids: str) -> LoadedPolicies:
    return LoadedPolicies(tuple(POLICIES[i] for i in sorted(ids)), (), "sha256:test-" + "-".join(ids))


def outcome(policy_id: str, resources: list[str] | None, status: str | None = None,
            reason: str = "found") -> PolicyOutcome:
    """An outcome of a built-in policy: the resources it found (None: skipped)."""
    p = POLICIES[policy_id]
    out = PolicyOutcome(policy_id, p.title, p.category, p.severity,
                        status=status or ("skip" if resources is None else
                                          "alarm" if resources else "ok"),
                        policy_hash=p.source_hash, resource_type=p.resource,
                        evidence_names=("days",), sql="SELECT 1")
    if resources:
        out.rows = pa.table({"resource_id": resources, "reason": [reason] * len(resources),
                             "savings": [12.5] * len(resources),
                             "savings_key": [f"{p.resource}:{r}" for r in resources],
                             "currency": ["USD"] * len(resources), "days": [100] * len(resources)})
        out.evaluated = len(resources) + 10
    return out


def evaluation(snap: Snapshot, outcomes: list[PolicyOutcome],
               gone: dict[str, list[str]] | None = None) -> Evaluation:
    """An evaluation of ``snap`` with these outcomes.

    The snapshot's estate holds every resource any evaluation in the same folder found, so a
    resource no longer found is one the policy saw fixed; the resources in ``gone`` (per
    resource type) are left out of it, as a resource that vanished from the sources is."""
    registry = snap.path.parent / "estate.json"
    known: dict[str, list[str]] = json.loads(registry.read_text()) if registry.exists() else {}
    for o in outcomes:
        if o.rows is not None and o.rows.num_rows:
            ids = known.setdefault(o.resource_type, [])
            ids += [r for r in o.rows.column("resource_id").to_pylist() if r not in ids]
    registry.write_text(json.dumps(known), encoding="utf-8")
    model = load_model()
    for resource_type, ids in known.items():
        present = [r for r in ids if r not in (gone or {}).get(resource_type, ())]
        key = model.entity(resource_type).key
        parts = [r.split("/", len(key) - 1) for r in present]
        table = pa.table({k: pa.array([p[i] for p in parts], pa.string()) for i, k in enumerate(key)})
        pq.write_table(table, snap.path / f"{resource_type}.parquet")
        snap.manifest.setdefault("entities", {})[resource_type] = {
            "file": f"{resource_type}.parquet", "rows": len(present), "sources": [], "sha256": ""}
    (snap.path / "manifest.json").write_text(json.dumps(snap.manifest), encoding="utf-8")
    return Evaluation(snap, "sha256:test", "duckdb", sorted(outcomes, key=lambda o: o.policy_id))


PROVENANCE = {"source": "content", "version": "sha256:test", "dirty": None}


def make_store(url: str, clock: Clock, **kwargs) -> Store:
    return Store(url, clock=clock, **kwargs)


def all_pages(store: Store, flt, limit: int, most: int = 500) -> list[int]:
    """The finding ids of every page of ``flt``, ``limit`` a page, each page after the last
    id of the one before (keyset paging as the list and the API do); fails if a page is
    longer than ``limit`` or paging does not end within ``most`` pages."""
    from dataclasses import replace

    from dialtone.engine.store.queries import list_findings

    after, out = None, []
    for _ in range(most):
        page = list_findings(store, replace(flt, limit=limit, after_id=after))
        assert len(page) <= limit
        if not page:
            return out
        out += [r["id"] for r in page]
        after = page[-1]["id"]
    raise AssertionError("paging did not end")
