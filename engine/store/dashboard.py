"""The posture dashboard's figures, counted set-based and kept current policy by policy.

Every finding belongs to one policy, and every figure over findings is a sum, over
policies, of what is counted per (policy, status): findings, their savings and, of the
open and in-progress ones, how many are overdue. Those counts are kept in memory (on the
store object, ``Store.memo``) with the
position they were read at: the event chain head (sequence and hash) and the latest
evaluation; the overdue counts also with the date (overdue depends on it).

- Nothing moved: the figures are served from memory.
- Only events were appended (a human action, an exception decided, applied or expired):
  every such change to a finding appends an event naming it, so only the policies of the
  findings those events name are counted again.
- An evaluation was recorded (it changes findings in bulk, savings and reasons without
  events): it left its counts in ``posture_counts`` in its own transaction
  (``record_counts``, called by ``sync.record_evaluation``), with the chain head at its end;
  they are read, and the policies touched by events since are counted again.
- A new day: the overdue findings are counted again, one index range per (policy, status)
  of ``ix_findings_policy_status_due``, without reading a row.
- Anything else (no counts recorded for the latest evaluation, a chain that is not the one
  read, e.g. another database at the same URL): everything is counted again, in one pass.

The remaining figures (trend, requirement grid, exceptions) come from small tables and are
read each time the figures are rebuilt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Connection, bindparam, func, insert, select, text

from ..access import EVERYTHING, Access
from . import Store
from .lifecycle import EXCEPTED, NEEDS_WORK, sql_list
from .tables import evaluations, posture_counts

#: More events than this since the counts were read: count everything again (one pass).
MAX_EVENTS_INCREMENTAL = 20_000
#: Scalar subqueries per statement when counting overdue findings (SQLite: 500 terms at most).
_PAIRS_PER_QUERY = 200


@dataclass
class _Counts:
    seq: int
    hash: str
    evaluation: int | None
    #: policy -> status -> (findings, sum of their savings or None)
    groups: dict[str, dict[str, tuple[int, float | None]]]
    #: policy -> overdue findings, as of ``today``
    today: str | None = None
    overdue: dict[str, int] = field(default_factory=dict)


def _position(conn: Connection) -> tuple[int, str, int | None]:
    from .queries import chain_position

    seq, head = chain_position(conn)
    return seq, head, conn.execute(select(func.max(evaluations.c.id))).scalar()


def posture(store: Store, catalogue=None, access: Access = EVERYTHING) -> dict:
    """The figures; ``catalogue`` is part of the key by identity (callers cache theirs).

    A restricted ``access`` (a scoped account) gets its scope's figures, counted in SQL with the
    scope's predicate on every read (not kept in memory: the counts kept are the estate's); the
    trend, which evaluations recorded for the whole estate, is left out (``scoped``)."""
    today = store.today().isoformat()
    if access.restricted:
        with store.read() as conn:
            groups = _groups(conn, access=access)
            counts = _Counts(0, "", None, groups, today, _overdue_scoped(conn, today, access))
            return _figures(conn, store, counts, catalogue, access)
    with store.read() as conn:
        position = _position(conn)
    key = (*position, today)
    memo = store.memo
    with memo.lock:
        hit = memo.posture
    if hit is not None and hit[0] == key and hit[1] is catalogue:
        return hit[2]
    # One thread counts; the others wait for its figures instead of running the same scans
    # side by side on the same cores.
    with memo.counting:
        with memo.lock:
            hit = memo.posture
        if hit is not None and hit[0] == key and hit[1] is catalogue:
            return hit[2]
        with store.read() as conn:
            counts = _current_counts(conn, memo.counts, position, today)
            figures = _figures(conn, store, counts, catalogue)
        with memo.lock:
            memo.counts = counts
            memo.posture = (key, catalogue, figures)
    return figures


def record_counts(conn: Connection, evaluation_id: int) -> dict:
    """Called by ``sync.record_evaluation`` at the end of its transaction: the counts as the
    evaluation leaves the findings, with the chain head they correspond to (one pass).
    Returns the posture they add up to: open findings, identified and realised savings."""
    from .queries import chain_position

    seq, head = chain_position(conn)
    groups = _groups(conn)
    counts = {pid: {status: list(v) for status, v in statuses.items()} for pid, statuses in groups.items()}
    conn.execute(posture_counts.delete())
    conn.execute(insert(posture_counts).values(evaluation_id=evaluation_id, seq=seq, hash=head,
                                               counts=json.dumps(counts, sort_keys=True)))
    totals = _totals(conn, groups)
    return {"open_after": totals.pop("open"), **totals}


def _totals(conn: Connection, groups: dict, access: Access = EVERYTHING) -> dict:
    """Open (and in progress) findings over every policy; identified, excepted and realised
    savings per currency, each billable object counted once (engine/store/claims.py)."""
    from .claims import savings_by_state

    money = savings_by_state(conn, access)
    return {"open": sum(n for statuses in groups.values()
                        for status, (n, _) in statuses.items() if status in NEEDS_WORK),
            "savings_identified": money["identified"], "savings_realised": money["realised"],
            "savings_excepted": money["excepted"]}


def _stored(conn: Connection, evaluation: int | None) -> _Counts | None:
    if evaluation is None:
        return None
    row = conn.execute(select(posture_counts).where(posture_counts.c.evaluation_id == evaluation)).first()
    if row is None:
        return None
    groups = {pid: {status: (n, savings) for status, (n, savings) in statuses.items()}
              for pid, statuses in json.loads(row.counts).items()}
    return _Counts(row.seq, row.hash, evaluation, groups)


def _current_counts(conn: Connection, old: _Counts | None, position: tuple, today: str) -> _Counts:
    """The counts as of ``position`` (read before them: they may be newer, never older), from
    ``old`` (the counts kept in memory, if any) where it can."""
    seq, head, evaluation = position
    base, touched = None, None
    if old is not None and old.evaluation == evaluation:
        touched = _touched_since(conn, old.seq, old.hash, seq, head)
        base = old if touched is not None else None
    if base is None:
        stored = _stored(conn, evaluation)
        if stored is not None:
            touched = _touched_since(conn, stored.seq, stored.hash, seq, head)
            base = stored if touched is not None else None
    if base is None:
        counts, touched = _Counts(seq, head, evaluation, _groups(conn)), []
    else:
        counts = _Counts(seq, head, evaluation, dict(base.groups), base.today, dict(base.overdue))
        if touched:
            for pid in touched:
                counts.groups.pop(pid, None)
            counts.groups.update(_groups(conn, touched))
    if counts.today != today:
        counts.today, counts.overdue = today, _overdue(conn, today, sorted(counts.groups))
    elif touched:
        counts.overdue.update(_overdue(conn, today, touched))
    return counts


def _touched_since(conn: Connection, seq_then: int, hash_then: str, seq: int, head: str) -> list[str] | None:
    """The policies whose findings the events appended after ``seq_then`` name; None when the
    chain read then is not a prefix of this one (or too much happened): count everything."""
    if seq < seq_then or seq - seq_then > MAX_EVENTS_INCREMENTAL:
        return None
    if seq == seq_then:
        return [] if head == hash_then else None
    if seq_then == 0:
        return None
    same_chain = conn.execute(text("SELECT hash FROM events WHERE seq = :s"), {"s": seq_then}).scalar()
    if same_chain != hash_then:
        return None
    return [r[0] for r in conn.execute(text(
        "SELECT DISTINCT f.policy_id FROM events e JOIN findings f ON f.id = e.finding_id "
        "WHERE e.seq > :a AND e.seq <= :b"), {"a": seq_then, "b": seq})]


def _groups(conn: Connection, policy_ids: list[str] | None = None, *, access: Access = EVERYTHING) -> dict:
    """(findings, savings) per policy and status, for ``policy_ids`` or every policy; of the
    findings ``access`` allows."""
    sql = "SELECT policy_id, status, COUNT(*), SUM(savings) FROM findings {where} GROUP BY policy_id, status"
    params: dict = {}
    if access.restricted:
        query = text(sql.format(where="WHERE " + access.sql("findings", conn.dialect)))
    elif policy_ids is None:
        query = text(sql.format(where=""))
    else:
        query = text(sql.format(where="WHERE policy_id IN :pids")).bindparams(
            bindparam("pids", expanding=True))
        params["pids"] = list(policy_ids)
    out: dict[str, dict[str, tuple[int, float | None]]] = {}
    for pid, status, n, savings in conn.execute(query, params):
        out.setdefault(pid, {})[status] = (n, savings)
    return out


def _overdue(conn: Connection, today: str, policy_ids: list[str]) -> dict[str, int]:
    """Overdue findings per policy: per (policy, open or in progress), the count of one range
    of ``ix_findings_policy_status_due`` (due_on < today), read from the index alone."""
    out = dict.fromkeys(policy_ids, 0)
    pairs = [(pid, status) for pid in policy_ids for status in NEEDS_WORK]
    for start in range(0, len(pairs), _PAIRS_PER_QUERY):
        part = pairs[start:start + _PAIRS_PER_QUERY]
        params: dict = {"t": today}
        terms = []
        for i, (pid, status) in enumerate(part):
            params[f"p{i}"], params[f"s{i}"] = pid, status
            terms.append(f"SELECT {i} AS k, (SELECT COUNT(*) FROM findings WHERE policy_id = :p{i} "
                         f"AND status = :s{i} AND due_on < :t) AS n")
        for k, n in conn.execute(text(" UNION ALL ".join(terms)), params):
            out[part[k][0]] += n
    return out


def _overdue_scoped(conn: Connection, today: str, access: Access) -> dict[str, int]:
    """Overdue findings per policy, of those ``access`` allows: one grouped read."""
    return dict(conn.execute(text(
        f"SELECT policy_id, COUNT(*) FROM findings WHERE status IN {sql_list(NEEDS_WORK)} "
        f"AND due_on < :t AND {access.sql('findings', conn.dialect)} GROUP BY policy_id"),
        {"t": today}).all())


def _figures(conn: Connection, store: Store, counts: _Counts, catalogue, access: Access = EVERYTHING) -> dict:
    today = counts.today
    soon = (store.today() + timedelta(days=14)).isoformat()
    policy_info = {r.id: (r.severity, r.category) for r in conn.execute(text(
        "SELECT id, severity, category FROM policies"))}
    frameworks: dict[str, set[str]] = {}
    mapped: dict[tuple[str, str], list[str]] = {}
    for fw, req, pid in conn.execute(text(
            "SELECT framework, requirement, policy_id FROM policy_requirements")):
        mapped.setdefault((fw, req), []).append(pid)
        frameworks.setdefault(fw, set()).add(pid)

    by_status: dict[str, int] = {}
    by_severity: dict[str, int] = {}
    by_category: dict[str, int] = {}
    active: dict[str, int] = {}
    excepted_only = set()
    for pid, statuses in counts.groups.items():
        for status, (n, _) in statuses.items():
            by_status[status] = by_status.get(status, 0) + n
        n_active = sum(statuses.get(s, (0, None))[0] for s in NEEDS_WORK)
        if n_active and pid in policy_info:
            severity, category = policy_info[pid]
            by_severity[severity] = by_severity.get(severity, 0) + n_active
            by_category[category] = by_category.get(category, 0) + n_active
        if n_active:
            active[pid] = n_active
        elif any(statuses.get(s, (0,))[0] > 0 for s in EXCEPTED):
            excepted_only.add(pid)
    overdue = sum(counts.overdue.values())
    by_framework = {fw: sum(active.get(p, 0) for p in pids) for fw, pids in frameworks.items()}
    by_framework = {fw: n for fw, n in by_framework.items() if n}

    trend = [{"evaluation": r.id, "as_of": r.snapshot_as_of, "at": r.started_at,
              **json.loads(r.summary or "{}")}
             for r in conn.execute(select(evaluations.c.id, evaluations.c.snapshot_as_of,
                                          evaluations.c.started_at, evaluations.c.summary)
                                   .order_by(evaluations.c.id.desc()).limit(30))][::-1]
    evaluated = bool(trend)
    if access.restricted:
        trend = []   # the evaluations' recorded figures are the whole estate's
    last_runs = dict(conn.execute(text("""
        SELECT r.policy_id, r.status FROM policy_runs r
        JOIN policies p ON p.id = r.policy_id AND r.evaluation_id = p.last_run_evaluation
        WHERE p.in_set""")).all())
    from .queries import visible_exceptions_sql

    visible = visible_exceptions_sql(conn, access)
    expiring = conn.execute(text(
        "SELECT COUNT(*) FROM exceptions e WHERE e.status = 'approved' AND e.expires_on >= :t "
        f"AND e.expires_on <= :s AND {visible}"), {"t": today, "s": soon}).scalar()
    requested = conn.execute(text(
        f"SELECT COUNT(*) FROM exceptions e WHERE e.status = 'requested' AND {visible}")).scalar()
    grid = []
    if catalogue is not None:
        for fw in catalogue.frameworks.values():
            for req in fw.requirements:
                pids = mapped.get((fw.id, req.id), [])
                states = [last_runs.get(p) for p in pids]
                if access.restricted:
                    # The runs found something somewhere; within the scope a policy with no
                    # finding awaiting work (nor excepted) is as good as an OK run.
                    states = ["ok" if s == "alarm" and not active.get(p) and p not in excepted_only
                              else s for p, s in zip(pids, states, strict=True)]
                if req.out_of_scope:
                    state = "out of scope"
                elif not evaluated:
                    # Before any evaluation nothing is known, covered or not (the policies are
                    # registered by the first evaluation): say so rather than "not covered".
                    state = "not evaluated"
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
        "by_status": dict(sorted(by_status.items())), "by_severity": dict(sorted(by_severity.items())),
        "by_category": dict(sorted(by_category.items())), "by_framework": dict(sorted(by_framework.items())),
        "overdue": overdue, **_totals(conn, counts.groups, access),
        "evaluated": evaluated, "trend": trend, "grid": grid, "scoped": access.restricted,
        "exceptions_expiring": expiring, "exceptions_requested": requested,
    }
