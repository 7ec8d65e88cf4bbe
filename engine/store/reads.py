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

from ..access import EVERYTHING, Access
from . import Store
from .exceptions import coverage_sql, target_match
from .lifecycle import NEEDS_WORK, sql_list
from .tables import audit_log, evaluations, findings, policy_runs, runs


def list_policies(store: Store, access: Access = EVERYTHING) -> list[dict]:
    """Every policy the store has recorded, by id: its last run, its findings awaiting work
    (``open_count``, of those ``access`` allows) and the frameworks it is mapped to. For a
    restricted ``access`` the last run's counts (the whole estate's) are left out (None)."""
    with store.read() as conn:
        # For a restricted caller the last run's alarm is the scope's: ``ok`` when none of the
        # findings that run reported is in the scope (reported_in_sql: the rule of the
        # evaluation pages and of a scoped evidence package).
        status = "r.status" if not access.restricted else f"""CASE WHEN r.status = 'alarm'
                AND NOT EXISTS (SELECT 1 FROM findings s WHERE s.policy_id = p.id
                    AND {reported_in_sql("s", "p.last_run_evaluation")}
                    AND {access.sql("s", conn.dialect)}) THEN 'ok' ELSE r.status END"""
        rows = [dict(r._mapping) for r in conn.execute(text(f"""
            SELECT p.id, p.title, p.category, p.severity, p.resource_type, p.policy_hash, p.in_set,
                   {status} AS last_status, r.finding_count AS last_finding_count,
                   r.evaluated AS last_evaluated, p.last_run_evaluation,
                   (SELECT COUNT(*) FROM findings f WHERE f.policy_id = p.id
                     AND f.status IN {sql_list(NEEDS_WORK)} AND {access.sql("f", conn.dialect)})
                     AS open_count
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
        if access.restricted:
            r["last_finding_count"] = r["last_evaluated"] = None
    return rows


#: What an evaluation records for the whole estate: counts and savings, not a scoped caller's.
ESTATE_FIGURES = ("finding_count", "evaluated", "undecidable", "result_sha256")


def scoped_evaluation(detail: dict, access: Access, store: Store | None = None) -> dict:
    """An evaluation as a restricted ``access`` reads it: without the figures it recorded for the
    whole estate (its summary's counts and savings, its runs' finding counts), and each policy
    run's ``alarm`` the scope's (``ok`` when none of the findings it reported is in the scope;
    ``store`` reads them, needed for a detail with ``runs``)."""
    if not access.restricted:
        return detail
    out = {**detail, "summary": {}}
    if "runs" in out:
        alarmed = _alarmed_in_scope(store, detail["id"], access) if any(
            r["status"] == "alarm" for r in out["runs"]) else set()
        out["runs"] = [{**r, **dict.fromkeys(ESTATE_FIGURES),
                        "status": "ok" if r["status"] == "alarm" and r["policy_id"] not in alarmed
                        else r["status"]} for r in out["runs"]]
    return out


#: What ends and what starts again a finding's being reported by the evaluations: its events
#: that carry an evaluation. An evaluation that could not re-check a finding (``not_rechecked``:
#: its source failed, or its resource left the data) did not find it either; the next that
#: finds it records ``seen_again``. A finding a person reopened (an event of no evaluation) that
#: the next evaluation finds again is ``seen_again`` there, not ``reopened``.
ENDED, RESTARTED = ("resolved", "retired", "not_rechecked"), ("opened", "reopened", "seen_again")


def reported_in_sql(alias: str, evaluation: str) -> str:
    """SQL: finding ``alias`` was reported by the evaluation ``evaluation`` (an SQL expression):
    between its first and its last evaluation, except from an evaluation that resolved, retired
    or could not re-check it until one found it again — a reopened finding keeps its first
    evaluation, so the range alone also covers the evaluations that did not find it."""
    ended = ", ".join(f"'{k}'" for k in ENDED)
    restarted = ", ".join(f"'{k}'" for k in RESTARTED)
    return f"""{alias}.first_seen_evaluation <= {evaluation}
        AND {alias}.last_seen_evaluation >= {evaluation}
        AND NOT EXISTS (SELECT 1 FROM events v WHERE v.finding_id = {alias}.id
            AND v.kind IN ({ended}) AND v.evaluation_id <= {evaluation}
            AND NOT EXISTS (SELECT 1 FROM events w WHERE w.finding_id = {alias}.id
                AND w.kind IN ({restarted}) AND w.evaluation_id > v.evaluation_id
                AND w.evaluation_id <= {evaluation}))"""


def _alarmed_in_scope(store: Store | None, evaluation_id: int, access: Access) -> set[str]:
    """The policies that reported one of ``access``'s findings in evaluation ``evaluation_id``."""
    if store is None:
        raise ValueError("a scoped evaluation with its runs needs the store")
    with store.read() as conn:
        return {r[0] for r in conn.execute(text(f"""
            SELECT DISTINCT f.policy_id FROM findings f
            WHERE {reported_in_sql("f", ":e")} AND {access.sql("f", conn.dialect)}"""),
            {"e": evaluation_id})}


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


def exception_requests(store: Store, policy_id: str, resource_id: str,
                       access: Access = EVERYTHING) -> list[dict]:
    """The exceptions requested in the product for this policy that cover ``resource_id``, by id,
    each with ``seq``: its ``exception_requested`` event in the chain (None if it has none).

    Requesting or rejecting an exception writes events on the exception, not on the finding;
    they join the finding's history only once the exception applies to it. Repository
    exceptions are left out: they arrive approved and reach the history when they apply."""
    from .queries import visible_exceptions_sql

    with store.read() as conn:
        visible = visible_exceptions_sql(conn, access)
        rows = conn.execute(text(f"""
            SELECT e.id, e.status, e.requested_by, e.requested_at, e.justification, e.ticket,
                   e.expires_on, e.approver, e.decided_at, e.decision_note,
                   (SELECT MIN(ev.seq) FROM events ev WHERE ev.exception_id = e.id
                     AND ev.kind = 'exception_requested') AS seq
            FROM exceptions e
            WHERE e.policy_id = :policy AND e.source = 'product' AND EXISTS (
                SELECT 1 FROM exception_targets t WHERE t.exception_id = e.id
                  AND {target_match(":resource")}) AND {visible}
            ORDER BY e.id"""), {"policy": policy_id, "resource": resource_id})
        return [dict(r._mapping) for r in rows]


def existing_findings(store: Store, ids: list[int], access: Access = EVERYTHING) -> set[int]:
    """Which of ``ids`` name a finding ``access`` allows."""
    with store.read() as conn:
        return {r[0] for r in conn.execute(select(findings.c.id).where(findings.c.id.in_(ids),
                                                                       access.predicate(findings)))}


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



def evaluation_spans(conn) -> dict:
    """On an open read connection: the first and last day evaluations ran (``run``, UTC) and the
    first and last snapshot date they evaluated (``snapshot``), each a pair of dates; None when no
    evaluation is recorded. Two MIN/MAX reads (the evidence form, and a refused export's message)."""
    from datetime import date

    ran = conn.execute(select(func.min(evaluations.c.started_at), func.max(evaluations.c.started_at))).one()
    dated = conn.execute(select(func.min(evaluations.c.snapshot_as_of),
                                func.max(evaluations.c.snapshot_as_of))).one()
    if ran[0] is None:
        return {"run": None, "snapshot": None}
    return {"run": (date.fromisoformat(ran[0][:10]), date.fromisoformat(ran[1][:10])),
            "snapshot": (date.fromisoformat(str(dated[0])[:10]), date.fromisoformat(str(dated[1])[:10]))}


def evidence_periods(store: Store) -> dict:
    """What the evidence form offers: the frameworks policies are mapped to, the days evaluations
    ran (``ran``) and the snapshot dates they evaluated (``dated``), each a (first, last) pair of
    dates or None when nothing was evaluated, and ``today`` for the presets."""
    with store.read() as conn:
        frameworks = [r[0] for r in conn.execute(text(
            "SELECT DISTINCT framework FROM policy_requirements ORDER BY 1"))]
        spans = evaluation_spans(conn)
    return {"frameworks": frameworks, "ran": spans["run"], "dated": spans["snapshot"], "today": store.today()}


def audit_entries(store: Store, limit: int, before: int | None = None, action: str | None = None,
                  actor: str | None = None) -> list[dict]:
    """Up to ``limit`` audit-log entries, newest first, older than entry ``before`` if given, only
    of ``action`` and by ``actor`` when given; ``data`` parsed (the text kept when it is not JSON),
    ``target_kind``/``target_id`` split from ``finding:65``-style targets for links."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(audit_log.c.id < before)
    if action:
        query = query.where(audit_log.c.action == action)
    if actor:
        query = query.where(audit_log.c.actor == actor)
    with store.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for r in rows:
        try:
            parsed = json.loads(r["data"]) if r["data"] else None
        except ValueError:
            parsed = r["data"]   # written by hand or by an old version: shown as it is
        r["data"] = parsed
        kind, _, ident = r["target"].partition(":")
        r["target_kind"], r["target_id"] = (kind, ident) if ident else (None, r["target"])
    return rows


def audit_actions(store: Store) -> list[str]:
    """The actions the audit log holds, for its filter (the log is as long as people's actions,
    not as the estate)."""
    with store.read() as conn:
        query = select(audit_log.c.action).distinct().order_by(audit_log.c.action)
        return [r[0] for r in conn.execute(query)]


#: Findings an exception's page lists at most (the count says how many there are in all).
EXCEPTION_FINDINGS_SHOWN = 200


def _covered_sql(exception_ids: list[int]) -> str:
    """SQL of the pairs ``covered (exception_id, finding_id)``, each once: the findings of each
    exception's policy that its targets name, whatever their status (``coverage_sql``, the
    matching the store applies exceptions by)."""
    ids = ", ".join(str(int(i)) for i in exception_ids)
    return coverage_sql(f"e.id IN ({ids})", distinct=True)


def exception_findings(store: Store, exception_id: int,
                       limit: int = EXCEPTION_FINDINGS_SHOWN, access: Access = EVERYTHING) -> dict | None:
    """An exception and the findings it covers, for deciding on it or auditing it; None if
    there is no such exception.

    ``findings``: the findings of its policy that its resources or patterns name, up to
    ``limit`` by id, each with its status, reason and evidence (``under_it``: excepted under
    this exception now); ``would_cover``: how many of them await work (open, in progress),
    which approving it would except; ``total``: how many it names in all, whatever their
    status. For a scoped caller (``access``) only the findings in its scope, and of the
    resources its ``selector`` names only those (``queries.scope_selectors``)."""
    from .queries import scope_selectors, visible_exceptions_sql

    with store.read() as conn:
        row = conn.execute(text(f"SELECT * FROM exceptions e WHERE e.id = :e AND "
                                f"{visible_exceptions_sql(conn, access)}"), {"e": exception_id}).first()
        if row is None:
            return None
        covered = _covered_sql([exception_id])
        scope = access.sql("f", conn.dialect)
        rows = conn.execute(text(f"""{covered}
            SELECT f.id, f.resource_type, f.resource_id, f.status, f.reason, f.evidence,
                   f.exception_id, f.assignee, f.due_on
            FROM covered c JOIN findings f ON f.id = c.finding_id WHERE {scope}
            ORDER BY f.id LIMIT :limit"""),
            {"limit": limit}).all()
        counts = conn.execute(text(f"""{covered}
            SELECT COUNT(*) AS total,
                   COALESCE(SUM(CASE WHEN f.status IN {sql_list(NEEDS_WORK)} THEN 1 ELSE 0 END), 0) AS open,
                   COALESCE(SUM(CASE WHEN {scope} THEN 0 ELSE 1 END), 0) AS outside
            FROM covered c JOIN findings f ON f.id = c.finding_id""")).one()
        detail = dict(row._mapping)
        detail["selector"] = json.loads(detail["selector"])
        scope_selectors(conn, [detail], access)
    detail["findings"] = [{**dict(r._mapping), "evidence": json.loads(r.evidence) if r.evidence else {},
                           "under_it": r.exception_id == exception_id} for r in rows]
    detail["total"], detail["would_cover"] = counts.total, counts.open
    # Findings it covers that ``access`` does not allow: a scoped officer cannot decide on it.
    detail["outside_scope"] = counts.outside
    if access.restricted and counts.outside:
        # The totals would tell of findings outside the scope: the caller's own are listed.
        detail["total"] = len(rows)
    return detail


def exceptions_would_cover(store: Store, exception_ids: list[int],
                           access: Access = EVERYTHING) -> dict[int, int]:
    """For each of these exceptions, how many findings awaiting work (open, in progress) of its
    policy it names: what approving it would except. One grouped read for the lot."""
    if not exception_ids:
        return {}
    with store.read() as conn:
        rows = conn.execute(text(f"""{_covered_sql(exception_ids)}
            SELECT c.exception_id, COUNT(*) AS n
            FROM covered c JOIN findings f ON f.id = c.finding_id
            WHERE f.status IN {sql_list(NEEDS_WORK)} AND {access.sql("f", conn.dialect)}
            GROUP BY c.exception_id""")).all()
    found = {r.exception_id: r.n for r in rows}
    return {i: found.get(i, 0) for i in exception_ids}
