"""What an evidence package covers, read from the store in one consistent transaction.

The period selects evaluations by their snapshot's as-of date (the estate's
date, inclusive). Policies are all, those mapped to ``--framework``, or those
named. Findings are those of the policies in scope that were seen or closed by
an evaluation in the period; each comes with its whole history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, or_, select

from ..errors import DialtoneError, did_you_mean
from ..store import Store, chain
from ..store.tables import (
    evaluations,
    events,
    exceptions,
    findings,
    policies,
    policy_requirements,
    policy_runs,
)


class EvidenceError(DialtoneError):
    pass


@dataclass(frozen=True)
class Scope:
    start: date
    end: date
    framework: str | None = None
    policy_ids: tuple[str, ...] = ()
    mask_pii: bool = False

    def as_dict(self) -> dict:
        return {"from": self.start.isoformat(), "to": self.end.isoformat(), "framework": self.framework,
                "policies": sorted(self.policy_ids), "mask_pii": self.mask_pii}


@dataclass
class EvidenceData:
    scope: Scope
    head_seq: int
    head_hash: str
    head_at: str | None
    policies: list[dict] = field(default_factory=list)
    requirements: list[dict] = field(default_factory=list)   # policy_id, framework, requirement
    evaluations: list[dict] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    exceptions: list[dict] = field(default_factory=list)
    skeleton: list[tuple[int, str, str]] = field(default_factory=list)


def _rows(conn, query) -> list[dict]:
    return [dict(r._mapping) for r in conn.execute(query)]


def gather(store: Store, scope: Scope) -> EvidenceData:
    if scope.end < scope.start:
        raise EvidenceError(f"--to {scope.end} is before --from {scope.start}")
    with store.read() as conn:
        seq, head = chain.head(conn)
        head_at = conn.execute(select(events.c.at).where(events.c.seq == seq)).scalar()
        known = {r.id for r in conn.execute(select(policies.c.id))}
        if scope.policy_ids:
            for pid in scope.policy_ids:
                if pid not in known:
                    raise EvidenceError(f"no policy '{pid}' has been evaluated.{did_you_mean(pid, known)}")
            in_scope = set(scope.policy_ids)
        elif scope.framework:
            in_scope = {r.policy_id for r in conn.execute(
                select(policy_requirements.c.policy_id)
                .where(policy_requirements.c.framework == scope.framework))}
            if not in_scope:
                frameworks = {r.framework for r in conn.execute(select(policy_requirements.c.framework))}
                raise EvidenceError(f"no evaluated policy maps to framework '{scope.framework}'."
                                    f"{did_you_mean(scope.framework, frameworks)}")
        else:
            in_scope = known
        ids = sorted(in_scope)
        data = EvidenceData(scope, seq, head, head_at)
        data.policies = _rows(conn, select(policies).where(policies.c.id.in_(ids)).order_by(policies.c.id))
        reqs = select(policy_requirements).where(policy_requirements.c.policy_id.in_(ids))
        if scope.framework:
            reqs = reqs.where(policy_requirements.c.framework == scope.framework)
        data.requirements = _rows(conn, reqs.order_by(policy_requirements.c.framework,
                                                      policy_requirements.c.requirement,
                                                      policy_requirements.c.policy_id))
        data.evaluations = _rows(conn, select(evaluations).where(
            evaluations.c.snapshot_as_of >= scope.start.isoformat(),
            evaluations.c.snapshot_as_of <= scope.end.isoformat()).order_by(evaluations.c.id))
        if not data.evaluations:
            raise EvidenceError(f"no evaluation of a snapshot as of {scope.start}..{scope.end} is "
                                "recorded; run `dialtone evaluate` (without --dry-run) first")
        eids = [e["id"] for e in data.evaluations]
        first, last = eids[0], eids[-1]
        data.runs = _rows(conn, select(policy_runs).where(policy_runs.c.evaluation_id.in_(eids),
                                                          policy_runs.c.policy_id.in_(ids))
                          .order_by(policy_runs.c.evaluation_id, policy_runs.c.policy_id))
        seen = and_(findings.c.policy_id.in_(ids), findings.c.first_seen_evaluation <= last,
                    or_(findings.c.last_seen_evaluation >= first,
                        findings.c.resolved_evaluation.between(first, last)))
        data.findings = _rows(conn, select(findings).where(seen).order_by(
            findings.c.policy_id, findings.c.resource_type, findings.c.resource_id))
        finding_ids = select(findings.c.id).where(seen)
        data.events = _rows(conn, select(events).where(events.c.finding_id.in_(finding_ids))
                            .order_by(events.c.seq))
        exception_ids = sorted({e["exception_id"] for e in data.events if e["exception_id"]})
        if exception_ids:
            data.events = sorted(data.events + _rows(conn, select(events).where(
                events.c.finding_id.is_(None), events.c.exception_id.in_(exception_ids))),
                key=lambda e: e["seq"])
            data.exceptions = _rows(conn, select(exceptions).where(exceptions.c.id.in_(exception_ids))
                                    .order_by(exceptions.c.id))
        data.skeleton = [tuple(r) for r in conn.execute(
            select(events.c.seq, events.c.prev_hash, events.c.hash).where(events.c.seq <= seq)
            .order_by(events.c.seq))]
    for e in data.events:
        e["data_text"] = e["data"]  # the exact text the event's hash covers
        e["data"] = json.loads(e["data"])
    for f in data.findings:
        f["evidence"] = json.loads(f["evidence"]) if f["evidence"] else {}
    for x in data.exceptions:
        x["selector"] = json.loads(x["selector"])
    return data
