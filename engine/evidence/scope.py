"""What an evidence package covers, read from the store in one consistent transaction.

The period (two dates, inclusive) selects evaluations either by when they ran (``RUN``, the
default: the dates the control operated, which is what an auditor's period means) or by their
snapshot's as-of date (``SNAPSHOT``: the estate's date). Policies are all, those mapped to a
framework, or those named. Findings are those of the policies in scope that were seen or closed
by an evaluation in the period; each comes with its whole history.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import and_, or_, select, text

from ..access import EVERYTHING, Access
from ..errors import DialtoneError, did_you_mean
from ..store import Store, chain, reads
from ..store.disputes import WITHHELD, unseen_events
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


#: How a period selects evaluations: by the day they ran (UTC), or by their snapshot's as-of date.
RUN = "run"
SNAPSHOT = "snapshot"
PERIOD_KINDS = {RUN: "when the evaluations ran", SNAPSHOT: "the snapshots' as-of dates"}

#: The periods an auditor usually asks for, relative to today (the store's clock).
PRESETS = {"last-quarter": "Last quarter", "this-quarter": "This quarter", "year-to-date": "Year to date",
           "last-year": "Last year"}

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def preset_period(name: str, today: date) -> tuple[date, date]:
    """The dates of a preset: a whole calendar quarter or year behind ``today``, or from the start
    of this quarter or year to ``today`` (a period does not reach into the future)."""
    quarter_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    if name == "last-quarter":
        end = quarter_start - timedelta(days=1)
        return date(end.year, end.month - 2, 1), end
    if name == "this-quarter":
        return quarter_start, today
    if name == "year-to-date":
        return date(today.year, 1, 1), today
    if name == "last-year":
        return date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)
    raise EvidenceError(f"'{name}' is not a period this tool knows; choose one of "
                        f"{', '.join(PRESETS)}.{did_you_mean(name, PRESETS)}")


def say_date(day: date, year: bool = True) -> str:
    """``1 Oct 2026``: a date as people write it (no ambiguity between 10/01 and 01/10)."""
    return f"{day.day} {_MONTHS[day.month - 1]}" + (f" {day.year}" if year else "")


def say_period(start: date, end: date, joiner: str = "and") -> str:
    """``1 Oct and 31 Dec 2026`` (the year once when both dates share it)."""
    same = start.year == end.year
    return f"{say_date(start, year=not same)} {joiner} {say_date(end)}"


def say_span(first: date, last: date, single: str = "on ") -> str:
    """``from 1 Oct to 2 Nov 2026``, or ``on 2 Nov 2026`` for a single day (``single``: the word
    before a single day)."""
    return f"{single}{say_date(first)}" if first == last else f"from {say_period(first, last, joiner='to')}"


@dataclass(frozen=True)
class Scope:
    start: date
    end: date
    framework: str | None = None
    policy_ids: tuple[str, ...] = ()
    mask_pii: bool = False
    by: str = RUN
    #: The exporter's access scope (engine/access.py): the package holds its findings alone, and
    #: none of the figures evaluations recorded for the whole estate.
    access: Access = EVERYTHING

    def as_dict(self) -> dict:
        out = {"from": self.start.isoformat(), "to": self.end.isoformat(), "by": self.by,
               "framework": self.framework, "policies": sorted(self.policy_ids), "mask_pii": self.mask_pii}
        if self.access.restricted:
            out["access_scopes"] = self.access.names()
        return out

    def file_name(self) -> str:
        """``dialtone-evidence-finra-4511-2026-10-01-to-2026-12-31.zip``: the period and the framework
        (or the policies) in the name, so that two exports do not overwrite each other."""
        if self.framework:
            what = self.framework
        elif len(self.policy_ids) == 1:
            what = self.policy_ids[0]
        elif self.policy_ids:
            what = f"{len(self.policy_ids)}-policies"
        else:
            what = "all-frameworks"
        what = re.sub(r"[^A-Za-z0-9._-]+", "-", what).strip(".-")[:80] or "selection"
        kind = "-by-snapshot-date" if self.by == SNAPSHOT else ""
        masked = "-masked" if self.mask_pii else ""
        return f"dialtone-evidence-{what}-{self.start}-to-{self.end}{kind}{masked}.zip"


def _in_period(scope: Scope):
    if scope.by == SNAPSHOT:
        return and_(evaluations.c.snapshot_as_of >= scope.start.isoformat(),
                    evaluations.c.snapshot_as_of <= scope.end.isoformat())
    # started_at is ISO text in UTC, so the day's bounds compare as text (and use the column's order).
    return and_(evaluations.c.started_at >= f"{scope.start.isoformat()}T00:00:00",
                evaluations.c.started_at < f"{(scope.end + timedelta(days=1)).isoformat()}T00:00:00")


def nothing_in_period(scope: Scope, on_record: dict) -> str:
    """Why a period holds no evaluation, and which periods would: in the auditor's words."""
    span = on_record.get(scope.by)
    if scope.by == SNAPSHOT:
        said = f"No evaluation covers a snapshot dated between {say_period(scope.start, scope.end)}."
        known = f" The snapshots evaluated are dated {say_span(*span, single='')}." if span else ""
    else:
        said = f"No evaluation ran between {say_period(scope.start, scope.end)}."
        known = f" Evaluations on record ran {say_span(*span)}." if span else ""
    return said + (known or " No evaluation has been recorded yet.")


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


def _scoped_status(run: dict, scoped: dict[str, list[dict]],
                   history: dict[int, list[tuple[int, str]]]) -> str:
    """A policy run's status as the scope saw it: ``alarm`` only when the run reported one of the
    scope's findings, else ``ok``; an error or a skip stays what it was. The whole estate's
    alarm is not the scope's: a requirement whose findings all belong to another entity is
    satisfied within this one. ``scoped``: the scope's findings by policy id; ``history``: each
    finding's (evaluation, kind) events in order."""
    if run["status"] != "alarm":
        return run["status"]
    eid = run["evaluation_id"]
    found = any(_reported_in(f, eid, history.get(f["id"], [])) for f in scoped.get(run["policy_id"], ()))
    return "alarm" if found else "ok"


def _reported_in(finding: dict, eid: int, history: list[tuple[int, str]]) -> bool:
    """Whether evaluation ``eid`` reported ``finding``: as store.reads.reported_in_sql says."""
    from ..store.reads import ENDED, RESTARTED

    if not finding["first_seen_evaluation"] <= eid <= finding["last_seen_evaluation"]:
        return False
    latest = None
    for evaluation_id, kind in history:
        if evaluation_id is not None and evaluation_id <= eid and (kind in ENDED or kind in RESTARTED):
            latest = kind
    return latest not in ENDED


def last_reported(finding: dict, eids: list[int], history: list[tuple[int, str]],
                  alarmed: set[tuple[int, str]]) -> int | None:
    """The last of the evaluations ``eids`` (ascending) that reported ``finding`` (``_reported_in``,
    the one rule) in a run of its policy that said ``alarm`` (``alarmed``: (evaluation, policy)
    pairs, as the package states the runs); None when none did. Walks back from the finding's
    last evaluation: its last evaluation of the period is, nearly always, the answer."""
    for eid in reversed(eids):
        if eid > finding["last_seen_evaluation"]:
            continue
        if eid < finding["first_seen_evaluation"]:
            return None
        if (eid, finding["policy_id"]) in alarmed and _reported_in(finding, eid, history):
            return eid
    return None


def gather(store: Store, scope: Scope) -> EvidenceData:
    if scope.by not in PERIOD_KINDS:
        raise EvidenceError(f"a period is chosen by {' or '.join(PERIOD_KINDS)}, not '{scope.by}'")
    if scope.end < scope.start:
        raise EvidenceError(f"The period ends on {say_date(scope.end)}, before it starts "
                            f"({say_date(scope.start)}).")
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
        data.evaluations = _rows(conn, select(evaluations).where(_in_period(scope))
                                 .order_by(evaluations.c.id))
        if not data.evaluations:
            raise EvidenceError(nothing_in_period(scope, reads.evaluation_spans(conn)))
        eids = [e["id"] for e in data.evaluations]
        first, last = eids[0], eids[-1]
        data.runs = _rows(conn, select(policy_runs).where(policy_runs.c.evaluation_id.in_(eids),
                                                          policy_runs.c.policy_id.in_(ids))
                          .order_by(policy_runs.c.evaluation_id, policy_runs.c.policy_id))
        seen = and_(findings.c.policy_id.in_(ids), findings.c.first_seen_evaluation <= last,
                    or_(findings.c.last_seen_evaluation >= first,
                        findings.c.resolved_evaluation.between(first, last)),
                    scope.access.predicate(findings))
        data.findings = _rows(conn, select(findings).where(seen).order_by(
            findings.c.policy_id, findings.c.resource_type, findings.c.resource_id))
        finding_ids = select(findings.c.id).where(seen)
        data.events = _rows(conn, select(events).where(events.c.finding_id.in_(finding_ids))
                            .order_by(events.c.seq))
        exception_ids = sorted({e["exception_id"] for e in data.events if e["exception_id"]})
        if exception_ids and scope.access.restricted:
            # The exceptions' own events and texts only where the scope allows all they cover.
            from ..store.queries import visible_exceptions_sql

            allowed = {r[0] for r in conn.execute(text(
                f"SELECT e.id FROM exceptions e WHERE {visible_exceptions_sql(conn, scope.access)}"))}
            exception_ids = [i for i in exception_ids if i in allowed]
        if exception_ids:
            data.events = sorted(data.events + _rows(conn, select(events).where(
                events.c.finding_id.is_(None), events.c.exception_id.in_(exception_ids))),
                key=lambda e: e["seq"])
            data.exceptions = _rows(conn, select(exceptions).where(exceptions.c.id.in_(exception_ids))
                                    .order_by(exceptions.c.id))
        # A dispute's events sit in each disputed finding's history: one the scope cannot read
        # (it claims on another entity's findings too) is packaged without its data (withheld).
        unseen = unseen_events(conn, data.events, scope.access)
        data.skeleton = [tuple(r) for r in conn.execute(
            select(events.c.seq, events.c.prev_hash, events.c.hash).where(events.c.seq <= seq)
            .order_by(events.c.seq))]
    if scope.access.restricted:
        # What evaluations recorded for the whole estate is not the scope's.
        from ..store.reads import ESTATE_FIGURES

        data.evaluations = [{**e, "summary": None} for e in data.evaluations]
        history: dict[int, list[tuple[int, str]]] = {}
        for e in data.events:       # in their order (seq)
            if e["finding_id"] is not None:
                history.setdefault(e["finding_id"], []).append((e["evaluation_id"], e["kind"]))
        by_policy: dict[str, list[dict]] = {}
        for f in data.findings:
            by_policy.setdefault(f["policy_id"], []).append(f)
        data.runs = [{**r, **dict.fromkeys(ESTATE_FIGURES),
                      "status": _scoped_status(r, by_policy, history)} for r in data.runs]
    for e in data.events:
        if e["seq"] in unseen:
            # Its hash covers the data left out: packaged as masked, matched to the chain by hash.
            e["data_text"], e["data"], e["withheld"] = None, dict(WITHHELD), True
            continue
        e["data_text"] = e["data"]  # the exact text the event's hash covers
        e["data"] = json.loads(e["data"])
    for f in data.findings:
        f["evidence"] = json.loads(f["evidence"]) if f["evidence"] else {}
    for x in data.exceptions:
        x["selector"] = json.loads(x["selector"])
    return data
