"""Read models for the pages, the JSON API and the CLI: policies, evaluations, an evaluation's
detail, the exception requests on a resource, the audit log. Findings and exceptions are in
``queries``, the posture in ``dashboard``.

Each read is one function that the page and the API both call; each returns plain dicts
(JSON columns parsed, booleans as booleans), so neither caller touches a table. None of them
writes.
"""

from __future__ import annotations

import json

from sqlalchemy import func, select, text

from . import Store
from .exceptions import target_match
from .lifecycle import NEEDS_WORK, sql_list
from .tables import audit_log, evaluations, findings, policy_runs, runs


def list_policies(store: Store) -> list[dict]:
    """Every policy the store has recorded, by id: its last run, its findings awaiting work
    (``open_count``) and the frameworks it is mapped to."""
    with store.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text(f"""
            SELECT p.id, p.title, p.category, p.severity, p.resource_type, p.policy_hash, p.in_set,
                   r.status AS last_status, r.finding_count AS last_finding_count,
                   r.evaluated AS last_evaluated, p.last_run_evaluation,
                   (SELECT COUNT(*) FROM findings f WHERE f.policy_id = p.id
                     AND f.status IN {sql_list(NEEDS_WORK)}) AS open_count
            FROM policies p LEFT JOIN policy_runs r
              ON r.policy_id = p.id AND r.evaluation_id = p.last_run_evaluation
            ORDER BY p.id"""))]
        frameworks: dict[str, list[str]] = {}
        for pid, fw in conn.execute(text(
                "SELECT DISTINCT policy_id, framework FROM policy_requirements ORDER BY 1, 2")):
            frameworks.setdefault(pid, []).append(fw)
    for r in rows:
        r["in_set"] = bool(r["in_set"])
        r["frameworks"] = frameworks.get(r["id"], [])
    return rows


def _evaluation_dict(row) -> dict:
    out = dict(row._mapping)
    out["summary"] = json.loads(out["summary"] or "{}")
    out["policies_dirty"] = None if out["policies_dirty"] is None else bool(out["policies_dirty"])
    return out


def list_evaluations(store: Store, limit: int = 200) -> list[dict]:
    """The latest ``limit`` evaluations, newest first, each with the run that recorded it
    (``run_id``; None for ``dialtone evaluate`` on its own)."""
    with store.read() as conn:
        rows = [_evaluation_dict(r) for r in conn.execute(
            select(evaluations).order_by(evaluations.c.id.desc()).limit(limit))]
        by_run = {e: r for r, e in conn.execute(select(runs.c.id, runs.c.evaluation_id).where(
            runs.c.evaluation_id.in_([r["id"] for r in rows])))} if rows else {}
    for r in rows:
        r["run_id"] = by_run.get(r["id"])
    return rows


def evaluation_detail(store: Store, evaluation_id: int) -> dict | None:
    """One evaluation with its policy runs (``runs``, by policy id) and the run that recorded it
    (``run_id``; None for ``dialtone evaluate`` on its own); None if there is none."""
    with store.read() as conn:
        row = conn.execute(select(evaluations).where(evaluations.c.id == evaluation_id)).first()
        if row is None:
            return None
        policy = [_run_dict(r) for r in conn.execute(
            select(policy_runs).where(policy_runs.c.evaluation_id == evaluation_id)
            .order_by(policy_runs.c.policy_id))]
        run_id = conn.execute(select(runs.c.id).where(runs.c.evaluation_id == evaluation_id)
                              .order_by(runs.c.id).limit(1)).scalar()
    return {**_evaluation_dict(row), "runs": policy, "run_id": run_id}


def _run_dict(row) -> dict:
    out = dict(row._mapping)
    out["params"] = json.loads(out["params"] or "{}")
    out["incomplete_inputs"] = json.loads(out["incomplete_inputs"] or "[]")
    return out


def policy_run(store: Store, policy_id: str, evaluation_id: int) -> dict | None:
    """A policy's run in one evaluation (the run that last saw a finding)."""
    with store.read() as conn:
        row = conn.execute(select(policy_runs).where(
            policy_runs.c.policy_id == policy_id, policy_runs.c.evaluation_id == evaluation_id)).first()
    return _run_dict(row) if row else None


def exception_requests(store: Store, policy_id: str, resource_id: str) -> list[dict]:
    """The exceptions requested in the product for this policy that cover ``resource_id``, by id,
    each with ``seq``: its ``exception_requested`` event in the chain (None if it has none).

    Requesting or rejecting an exception writes events on the exception, not on the finding;
    they join the finding's history only once the exception applies to it. Repository
    exceptions are left out: they arrive approved and reach the history when they apply."""
    with store.read() as conn:
        rows = conn.execute(text(f"""
            SELECT e.id, e.status, e.requested_by, e.requested_at, e.justification, e.ticket,
                   e.expires_on, e.approver, e.decided_at, e.decision_note,
                   (SELECT MIN(ev.seq) FROM events ev WHERE ev.exception_id = e.id
                     AND ev.kind = 'exception_requested') AS seq
            FROM exceptions e
            WHERE e.policy_id = :policy AND e.source = 'product' AND EXISTS (
                SELECT 1 FROM exception_targets t WHERE t.exception_id = e.id
                  AND {target_match(":resource")})
            ORDER BY e.id"""), {"policy": policy_id, "resource": resource_id})
        return [dict(r._mapping) for r in rows]


def existing_findings(store: Store, ids: list[int]) -> set[int]:
    """Which of ``ids`` name a finding."""
    with store.read() as conn:
        return {r[0] for r in conn.execute(select(findings.c.id).where(findings.c.id.in_(ids)))}


def audit_page(store: Store, limit: int, before: int | None = None) -> list[dict]:
    """Up to ``limit`` audit-log entries, newest first, older than entry ``before`` if given."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(audit_log.c.id < before)
    with store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def evidence_choices(store: Store) -> dict:
    """What an evidence export can be asked for: the frameworks policies are mapped to, and the
    first and last snapshot dates evaluated (``span``; Nones when nothing was)."""
    with store.read() as conn:
        frameworks = [r[0] for r in conn.execute(text(
            "SELECT DISTINCT framework FROM policy_requirements ORDER BY 1"))]
        span = conn.execute(select(func.min(evaluations.c.snapshot_as_of),
                                   func.max(evaluations.c.snapshot_as_of))).one()
    return {"frameworks": frameworks, "span": tuple(span)}
