"""Read models over the store: filtered finding lists, a finding with its history, exceptions."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, and_, exists, or_, select, text

from . import Store
from .exceptions import ACTIVE_SQL, orphaned_sql, refresh_exceptions
from .tables import chain_head, evaluations, events, findings, policies, policy_requirements, policy_runs

OVERDUE_STATUSES = ("open", "in_progress")

_refreshed: dict[str, tuple[tuple[int, str], str]] = {}
_refresh_lock = threading.Lock()


def chain_position(conn: Connection) -> tuple[int, str]:
    """The event chain head (sequence number, hash): it moves whenever findings or exceptions
    change, and the hash tells two databases apart that happen to be at the same length."""
    return tuple(conn.execute(select(chain_head.c.seq, chain_head.c.hash)
                              .where(chain_head.c.id == 1)).one())


def refresh_exceptions_if_changed(store: Store) -> bool:
    """``exceptions.refresh_exceptions`` (the one expiry rule), skipped when it cannot do anything.

    What it does depends only on today's date, the exceptions and the findings, and every
    change to those appends an event to the chain. So once it has run, it is run again only
    when the date or the chain head has moved: a page view then costs one read of the head
    instead of a write transaction, which would queue behind every other writer (an
    evaluation holds the write lock for as long as it records). Returns whether it ran.
    """
    today = store.today().isoformat()
    with store.read() as conn:
        if _refreshed.get(store.url) == (chain_position(conn), today):
            return False
    with _refresh_lock:  # one thread refreshes; the others then find the head recorded
        with store.read() as conn:
            if _refreshed.get(store.url) == (chain_position(conn), today):
                return False
        with store.write() as conn:
            refresh_exceptions(conn, store)
            head = chain_position(conn)  # in the same transaction: includes its own events, no one else's
        _refreshed[store.url] = (head, today)
    return True


@dataclass(frozen=True)
class FindingFilter:
    status: tuple[str, ...] = ()
    policy: tuple[str, ...] = ()
    severity: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    framework: str | None = None
    overdue: bool = False
    assignee: str | None = None
    search: str | None = None
    limit: int | None = None
    after_id: int | None = None


def _finding_dict(row, today: str) -> dict:
    return {
        "id": row.id, "policy_id": row.policy_id, "title": row.title, "severity": row.severity,
        "category": row.category, "resource_type": row.resource_type, "resource_id": row.resource_id,
        "status": row.status, "reason": row.reason,
        "evidence": json.loads(row.evidence) if row.evidence else {}, "savings": row.savings,
        "first_seen_at": row.first_seen_at, "last_seen_at": row.last_seen_at,
        "first_seen_evaluation": row.first_seen_evaluation,
        "last_seen_evaluation": row.last_seen_evaluation, "opened_at": row.opened_at,
        "due_on": row.due_on,
        "overdue": bool(row.status in OVERDUE_STATUSES and row.due_on and row.due_on < today),
        "assignee": row.assignee, "exception_id": row.exception_id, "resolved_at": row.resolved_at,
        "review_note": row.review_note, "reopen_count": row.reopen_count,
    }


def _columns():
    return (findings, policies.c.title, policies.c.severity, policies.c.category)


def list_findings(store: Store, flt: FindingFilter) -> list[dict]:
    """Findings matching ``flt`` in id order; a page (``limit``) costs about the same wherever it is.

    A page is read set-based through the index on (policy_id, status, id): one ordered
    range per (policy, status) the filter allows, each cut at ``limit`` rows after
    ``after_id``, merged by id. Every range starts where the page starts, so the first
    page, a page a million rows deep and a filter on a rare severity each read a few
    thousand index entries at most, whatever the planner knows about the data (SQLite
    keeps no statistics unless ANALYZE runs; left to itself it reads every active
    finding through the status index and sorts them to return fifty).
    """
    today = store.today().isoformat()
    with store.read() as conn:
        if flt.limit and not flt.assignee and _needs_ranges(flt):
            ids = _page_ids(conn, flt, today)
            if not ids:
                return []
            query = (select(*_columns()).join(policies, policies.c.id == findings.c.policy_id)
                     .where(findings.c.id.in_(ids)).order_by(findings.c.id))
        else:  # everything (a download), one assignee's (its own index), or no status/policy filter
            query = (select(*_columns()).join(policies, policies.c.id == findings.c.policy_id)
                     .where(*_policy_conds(flt), *_row_conds(flt, today)).order_by(findings.c.id))
            if flt.status:
                query = query.where(findings.c.status.in_(flt.status))
            if flt.limit:
                query = query.limit(flt.limit)
        return [_finding_dict(r, today) for r in conn.execute(query)]


def _policy_conds(flt: FindingFilter) -> list:
    """The filters that select policies (applied to the policies table)."""
    conds = []
    if flt.policy:
        conds.append(policies.c.id.in_(flt.policy))
    if flt.severity:
        conds.append(policies.c.severity.in_(flt.severity))
    if flt.category:
        conds.append(policies.c.category.in_(flt.category))
    if flt.framework:
        conds.append(exists().where(and_(policy_requirements.c.policy_id == policies.c.id,
                                         policy_requirements.c.framework == flt.framework)))
    return conds


def _row_conds(flt: FindingFilter, today: str) -> list:
    """The filters on the finding's own columns, besides status and policy."""
    conds = []
    if flt.overdue:
        conds += [findings.c.status.in_(OVERDUE_STATUSES), findings.c.due_on < today]
    if flt.assignee:
        conds.append(findings.c.assignee == flt.assignee)
    if flt.search:
        like = "%" + flt.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conds.append(or_(findings.c.resource_id.like(like, escape="\\"),
                         findings.c.reason.like(like, escape="\\")))
    if flt.after_id is not None:
        conds.append(findings.c.id > flt.after_id)  # keyset pagination
    return conds


#: Ranges per statement (SQLite allows 500 terms in a compound SELECT).
_BRANCHES_PER_QUERY = 100


def _needs_ranges(flt: FindingFilter) -> bool:
    """Whether the filter restricts status or policy: without either, every finding is a candidate
    and the plain walk along the primary key is already the cheapest plan."""
    return bool(flt.status or flt.policy or flt.severity or flt.category or flt.framework or flt.overdue)


def _page_ids(conn: Connection, flt: FindingFilter, today: str) -> list[int]:
    from heapq import merge

    from . import STATUSES

    pids = [r[0] for r in conn.execute(select(policies.c.id).where(*_policy_conds(flt))
                                       .order_by(policies.c.id))]
    statuses = [s for s in (flt.status or STATUSES) if not flt.overdue or s in OVERDUE_STATUSES]
    # Plain SQL: building a hundred SQLAlchemy selects per page would cost more than running them.
    params: dict = {"n": flt.limit}
    extra = ""
    if flt.after_id is not None:
        extra += " AND id > :after"
        params["after"] = flt.after_id
    if flt.overdue:
        extra += " AND due_on < :today"
        params["today"] = today
    if flt.search:
        extra += " AND (resource_id LIKE :like ESCAPE :esc OR reason LIKE :like ESCAPE :esc)"
        params["like"] = "%" + flt.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params["esc"] = "\\"
    pairs = [(pid, status) for pid in pids for status in statuses]
    runs = []
    for start in range(0, len(pairs), _BRANCHES_PER_QUERY):
        part = pairs[start:start + _BRANCHES_PER_QUERY]
        branches = []
        for i, (pid, status) in enumerate(part):
            params[f"p{i}"], params[f"s{i}"] = pid, status
            branches.append(f"SELECT id FROM (SELECT id FROM findings WHERE policy_id = :p{i} "
                            f"AND status = :s{i}{extra} ORDER BY id LIMIT :n) AS b{i}")
        sql = f"SELECT id FROM ({' UNION ALL '.join(branches)}) AS u ORDER BY id LIMIT :n"
        runs.append([r[0] for r in conn.execute(text(sql), params)])
    return list(merge(*runs))[:flt.limit]


def resource_findings(store: Store, resource_type: str, resource_id: str, *, exclude: int | None = None,
                      limit: int = 20) -> list[dict]:
    """The other findings on the same resource (uses the identity index)."""
    today = store.today().isoformat()
    query = (select(*_columns()).join(policies, policies.c.id == findings.c.policy_id)
             .where(findings.c.resource_type == resource_type, findings.c.resource_id == resource_id)
             .order_by(findings.c.id).limit(limit))
    if exclude is not None:
        query = query.where(findings.c.id != exclude)
    with store.read() as conn:
        return [_finding_dict(r, today) for r in conn.execute(query)]


def _event_dict(row) -> dict:
    return {"seq": row.seq, "at": row.at, "actor": row.actor, "kind": row.kind,
            "finding_id": row.finding_id, "exception_id": row.exception_id,
            "evaluation_id": row.evaluation_id, "data": json.loads(row.data), "hash": row.hash}


def finding_detail(store: Store, finding_id: int) -> dict | None:
    today = store.today().isoformat()
    with store.read() as conn:
        row = conn.execute(select(*_columns()).join(policies, policies.c.id == findings.c.policy_id)
                           .where(findings.c.id == finding_id)).first()
        if row is None:
            return None
        detail = _finding_dict(row, today)
        history = conn.execute(select(events).where(events.c.finding_id == finding_id)
                               .order_by(events.c.seq)).all()
        exception_ids = {e.exception_id for e in history if e.exception_id is not None}
        trail = conn.execute(select(events).where(events.c.exception_id.in_(exception_ids),
                                                  events.c.finding_id.is_(None))
                             .order_by(events.c.seq)).all() if exception_ids else []
        detail["history"] = [_event_dict(e) for e in sorted([*history, *trail], key=lambda e: e.seq)]
        detail["frameworks"] = _frameworks(conn, row.policy_id)
        detail["policy_version"] = _policy_version(conn, row.policy_id, row.last_seen_evaluation)
    return detail


def _policy_version(conn: Connection, policy_id: str, evaluation_id: int) -> dict | None:
    """Which policy text found it: the run of its last sighting."""
    row = conn.execute(
        select(policy_runs.c.policy_hash, policy_runs.c.policy_blob, evaluations.c.policies_version,
               evaluations.c.policies_source, evaluations.c.policies_dirty)
        .join(evaluations, evaluations.c.id == policy_runs.c.evaluation_id)
        .where(policy_runs.c.policy_id == policy_id, policy_runs.c.evaluation_id == evaluation_id)).first()
    if row is None:
        return None
    return {"evaluation": evaluation_id, "policy_hash": row.policy_hash, "git_blob": row.policy_blob,
            "policies_version": row.policies_version, "policies_source": row.policies_source,
            "dirty": row.policies_dirty}


def _frameworks(conn: Connection, policy_id: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in conn.execute(select(policy_requirements).where(policy_requirements.c.policy_id == policy_id)
                          .order_by(policy_requirements.c.framework, policy_requirements.c.requirement)):
        out.setdefault(r.framework, []).append(r.requirement)
    return out


EXCEPTION_VIEWS = ("requested", "active", "expiring", "expired", "orphaned", "rejected", "revoked", "all")


def list_exceptions(store: Store, view: str = "all", expiring_days: int = 14) -> list[dict]:
    today = store.today()
    params = {"today": today.isoformat(), "soon": (today + timedelta(days=expiring_days)).isoformat()}
    where = {
        "requested": "e.status = 'requested'",
        "active": ACTIVE_SQL,
        "expiring": f"{ACTIVE_SQL} AND e.expires_on <= :soon",
        "expired": "e.status = 'expired'",
        "rejected": "e.status = 'rejected'",
        "revoked": "e.status = 'revoked'",
        "orphaned": f"e.id IN ({orphaned_sql()})",
        "all": "1 = 1",
    }[view]
    with store.read() as conn:
        orphans = {r.id for r in conn.execute(text(orphaned_sql()), params)}
        rows = conn.execute(text(f"""
            SELECT e.*, (SELECT COUNT(*) FROM findings f WHERE f.exception_id = e.id
                         AND f.status = 'excepted') AS excepted_findings
            FROM exceptions e WHERE {where} ORDER BY e.id"""), params).all()
        return [{
            "id": r.id, "source": r.source, "key": r.key, "policy_id": r.policy_id,
            "selector": json.loads(r.selector), "justification": r.justification, "ticket": r.ticket,
            "requested_by": r.requested_by, "requested_at": r.requested_at, "approver": r.approver,
            "decided_at": r.decided_at, "status": r.status, "expires_on": r.expires_on,
            "in_force": r.status == "approved" and r.expires_on >= params["today"],
            "orphaned": r.id in orphans, "excepted_findings": r.excepted_findings,
        } for r in rows]
