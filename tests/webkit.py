"""Helpers for web tests: an app over a small store with one user per role."""

from __future__ import annotations

import datetime as dt
import re

from dialtone.engine.config import load_config
from dialtone.engine.store.accounts import add_user, create_token
from dialtone.engine.store.sync import record_evaluation
from dialtone.web.app import create_app
from tests.storekit import PROVENANCE, Clock, evaluation, make_store, outcome, policy_set, snapshot

PASSWORD = "a long enough passphrase"
ROLES = ("admin", "officer", "auditor")
HOSTILE = "<script>alert('x')</script>"
ZERO = "cost.zero-usage-lines"
ORPHAN = "cost.orphan-lines"


DEMO_USERS = ("admin", "officer", "officer2", "auditor")
_demo_template = None


def demo_workspace(tmp_path_factory, name: str, users=DEMO_USERS):
    """A fresh copy of the demo workspace (`dialtone demo --scale 1 --seed 7`), built once per
    test session and copied for each caller (each may change its own store), with ``users``
    given PASSWORD. Returns its configuration and an open store."""
    import shutil

    from dialtone.engine.demo import run_demo
    from dialtone.engine.store import Store
    from dialtone.engine.store.accounts import set_password

    global _demo_template
    if _demo_template is None:
        template = tmp_path_factory.mktemp("demo-template")
        for _ in run_demo(template, scale=1, seed=7):
            pass
        _demo_template = template
    workdir = tmp_path_factory.mktemp(name)
    shutil.copytree(_demo_template, workdir, dirs_exist_ok=True)
    config = load_config(workdir / "dialtone.yaml")
    store = Store.from_config(config)
    for username in users:
        set_password(store, username, PASSWORD)
    return config, store


def build(tmp_path):
    (tmp_path / "dialtone.yaml").write_text("sources: {}\n", encoding="utf-8")
    config = load_config(tmp_path / "dialtone.yaml")
    clock = Clock(dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC))
    store = make_store(f"sqlite:///{tmp_path / 'store.db'}", clock)
    snap = snapshot(tmp_path, "S1", store.today())
    outs = [outcome(ZERO, ["L1", "L2", HOSTILE], reason=f"idle; named {HOSTILE}"), outcome(ORPHAN, ["L9"])]
    record_evaluation(store, evaluation(snap, outs), policy_set(ZERO, ORPHAN), provenance=PROVENANCE)
    for role in ROLES:
        add_user(store, role, role, PASSWORD)
    add_user(store, "officer2", "officer", PASSWORD)
    tokens = {role: create_token(store, role) for role in ROLES}
    record_run(store, evaluation_id=1, snapshot_id="S1")
    app = create_app(config, store=store, testing=True, key="test-secret", secure_cookies=False)
    return app, store, tokens


def record_run(store, *, status: str = "degraded", evaluation_id: int | None = None,
               snapshot_id: str | None = None, error: str | None = "1 source(s) failed",
               sources: list[dict] | None = None, lock: bool = False) -> int:
    """A run recorded as engine/runs.py records one (run 1 in ``build``: a carrier source that
    failed, its data carried forward, with a hostile error text); ``lock`` leaves it running."""
    import json

    from sqlalchemy import insert

    from dialtone.engine.runs import LOCK
    from dialtone.engine.store.tables import run_lock, run_sources, runs

    now = store.now_text()
    if sources is None:
        sources = [
            {"source": "carrier", "collector": "csv", "status": "stale", "rows": 0, "rejects": 0,
             "unresolved": 1, "ambiguous": 0, "seconds": 0.2, "collected_at": "2026-10-30T09:00:00Z",
             "error": f"source 'carrier': cannot read {HOSTILE}"},
            {"source": "hr", "collector": "csv", "status": "collected", "rows": 2, "rejects": 1,
             "unresolved": 0, "ambiguous": 2, "seconds": 1.5, "collected_at": "2026-11-02T08:59:00Z",
             "error": None}]
    summary = {"policies": {"alarm": 2, "ok": 5, "skip": 59, "error": 0}, "findings": 4,
               "changes": {"opened": 4, "resolved": 0}, "rows": {"lines": 3, "people": 2}}
    with store.write() as conn:
        run_id = conn.execute(insert(runs).values(
            trigger="scheduler", actor="scheduler", holder="web-test:1", started_at=now,
            finished_at=None if lock else now, status="running" if lock else status,
            snapshot_id=snapshot_id, evaluation_id=evaluation_id, error=None if lock else error,
            summary=None if lock else json.dumps(summary))).inserted_primary_key[0]
        if lock:
            conn.execute(insert(run_lock).values(name=LOCK, run_id=run_id, holder="web-test:1",
                                                 acquired_at=now, heartbeat_at=now))
        elif sources:
            conn.execute(insert(run_sources), [{"run_id": run_id, **s} for s in sources])
    return run_id


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client, username: str, password: str = PASSWORD):
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf(page.get_data(as_text=True))})


def opened_by_first_evaluation(store) -> int:
    """How many findings the demo's first evaluation opened: what its pages and counts must say
    (it moves with the packs and the generator, so tests read it rather than pin it)."""
    from sqlalchemy import func, select

    from dialtone.engine.store.tables import findings

    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(findings)
                            .where(findings.c.first_seen_evaluation == 1)).scalar()
