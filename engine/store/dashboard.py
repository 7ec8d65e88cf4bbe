"""The posture dashboard's figures, computed set-based and cached until the history changes.

Every change to findings appends an event, so the chain head's sequence
number is a cheap, exact key: the figures are recomputed only after
something happened, and a dashboard over a million findings is served from
memory the rest of the time.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

from sqlalchemy import select, text

from . import Store
from .tables import evaluations

_cache: dict[tuple, tuple[object, dict]] = {}
_lock = threading.Lock()
_computing = threading.Lock()


def _head(store: Store) -> tuple[int, str]:
    from .queries import chain_position

    with store.read() as conn:
        return chain_position(conn)


def posture(store: Store, catalogue=None) -> dict:
    """The figures; ``catalogue`` is part of the key by identity (callers cache theirs)."""
    key = (store.url, _head(store), store.today().isoformat())
    with _lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] is catalogue:
        return hit[1]
    # One thread computes (a full pass over the findings); the others wait for its figures
    # instead of running the same scans side by side on the same cores.
    with _computing:
        with _lock:
            hit = _cache.get(key)
        if hit is not None and hit[0] is catalogue:
            return hit[1]
        figures = _compute(store, catalogue)
        with _lock:
            _cache.clear()
            _cache[key] = (catalogue, figures)
    return figures


def _compute(store: Store, catalogue) -> dict:
    today = store.today().isoformat()
    soon = (store.today() + timedelta(days=14)).isoformat()
    active = "f.status IN ('open', 'in_progress')"
    with store.read() as conn:
        by_status = dict(conn.execute(text("SELECT status, COUNT(*) FROM findings GROUP BY status")).all())
        by_severity = dict(conn.execute(text(f"""
            SELECT p.severity, COUNT(*) FROM findings f JOIN policies p ON p.id = f.policy_id
            WHERE {active} GROUP BY p.severity""")).all())
        by_category = dict(conn.execute(text(f"""
            SELECT p.category, COUNT(*) FROM findings f JOIN policies p ON p.id = f.policy_id
            WHERE {active} GROUP BY p.category""")).all())
        by_framework = dict(conn.execute(text(f"""
            SELECT r.framework, COUNT(DISTINCT f.id) FROM findings f
            JOIN policy_requirements r ON r.policy_id = f.policy_id
            WHERE {active} GROUP BY r.framework""")).all())
        overdue = conn.execute(text(f"SELECT COUNT(*) FROM findings f WHERE {active} AND f.due_on < :t"),
                               {"t": today}).scalar()
        savings = dict(conn.execute(text("""
            SELECT CASE WHEN status IN ('open', 'in_progress', 'excepted') THEN 'identified'
                        WHEN status = 'resolved' THEN 'realised' ELSE 'other' END, SUM(savings)
            FROM findings GROUP BY 1""")).all())
        trend = [{"evaluation": r.id, "as_of": r.snapshot_as_of, "at": r.started_at,
                  **json.loads(r.summary or "{}")}
                 for r in conn.execute(select(evaluations.c.id, evaluations.c.snapshot_as_of,
                                              evaluations.c.started_at, evaluations.c.summary)
                                       .order_by(evaluations.c.id.desc()).limit(30))][::-1]
        last_runs = dict(conn.execute(text("""
            SELECT r.policy_id, r.status FROM policy_runs r
            JOIN policies p ON p.id = r.policy_id AND r.evaluation_id = p.last_run_evaluation
            WHERE p.in_set""")).all())
        excepted_only = {r[0] for r in conn.execute(text("""
            SELECT policy_id FROM findings GROUP BY policy_id
            HAVING SUM(CASE WHEN status IN ('open', 'in_progress') THEN 1 ELSE 0 END) = 0
               AND SUM(CASE WHEN status = 'excepted' THEN 1 ELSE 0 END) > 0"""))}
        mapped: dict[tuple[str, str], list[str]] = {}
        for fw, req, pid in conn.execute(text(
                "SELECT framework, requirement, policy_id FROM policy_requirements")):
            mapped.setdefault((fw, req), []).append(pid)
        expiring = conn.execute(text(
            "SELECT COUNT(*) FROM exceptions e WHERE e.status = 'approved' AND e.expires_on >= :t "
            "AND e.expires_on <= :s"), {"t": today, "s": soon}).scalar()
        requested = conn.execute(text("SELECT COUNT(*) FROM exceptions WHERE status = 'requested'")).scalar()
    grid = []
    if catalogue is not None:
        for fw in catalogue.frameworks.values():
            for req in fw.requirements:
                pids = mapped.get((fw.id, req.id), [])
                states = [last_runs.get(p) for p in pids]
                if req.out_of_scope:
                    state = "out of scope"
                elif not pids:
                    state = "not covered"
                elif any(s is None for s in states) or any(s in ("error", "skip") for s in states):
                    state = "not evaluated"
                elif all(s == "ok" for s in states):
                    state = "satisfied"
                elif all(s == "ok" or p in excepted_only for p, s in zip(pids, states, strict=True)):
                    state = "excepted"
                else:
                    state = "not satisfied"
                grid.append({"framework": fw.id, "framework_title": fw.title, "requirement": req.id,
                             "title": req.title, "citation": req.citation, "state": state,
                             "policies": sorted(pids)})
    return {
        "by_status": by_status, "by_severity": by_severity, "by_category": by_category,
        "by_framework": by_framework, "overdue": overdue,
        "open": by_status.get("open", 0) + by_status.get("in_progress", 0),
        "savings_identified": savings.get("identified") or 0.0,
        "savings_realised": savings.get("realised") or 0.0,
        "trend": trend, "grid": grid, "exceptions_expiring": expiring, "exceptions_requested": requested,
    }
