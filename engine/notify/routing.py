"""Routing: what happened → the messages and ticket updates it calls for, in the outbox.

Two sources of "what happened":

- **the history** (events since routing's cursor): a finding opened or reopened fires the rules'
  ``new`` and ``reopened`` triggers; a finding resolved, retired, excepted or closed by review
  closes its ticket (or comments on a group's ticket while others stand); a finding reopened or
  released from an exception reopens its ticket; a person's comment is copied to the ticket.
  After an evaluation, a ticket closed on the tracker ("fix claimed") whose finding the evaluation
  still found is reopened with the evidence.
- **the clock** (``route_clock``): findings due within a rule's ``due_in_days`` or overdue,
  exceptions expiring within ``expiring_in_days``, runs that failed or found a source stale.

Everything is set-based: the candidate rows are read from the store in one query per source,
joined to the snapshot's resource attributes (cost centre, vendor, owner) in DuckDB, matched to
each rule with one query, and written with batched inserts that skip what is already there
(``store/outbox.py``). The outbox rows and the cursor move in the caller's transaction: an
evaluation's messages are committed with the evaluation, or not at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import duckdb
import pyarrow as pa
from sqlalchemy import Connection, insert, text, update

from .. import resource_attributes
from ..notify_settings import NotifySettings, Rule
from ..snapshots import Snapshot
from ..store import chain, outbox
from ..store.lifecycle import NEEDS_WORK, STANDING, sql_list
from ..store.tables import notify_outbox, notify_tickets

#: History events routing reads, and what each means for rules (a trigger) or tickets.
_TRIGGER_OF_EVENT = {"opened": "new", "reopened": "reopened"}
_CLOSING_EVENTS = ("resolved", "retired", "excepted", "status_changed")
_REOPENING_EVENTS = ("reopened", "exception_expired")
_ROUTED_EVENTS = ("opened", "reopened", "resolved", "retired", "excepted", "status_changed",
                  "exception_expired", "commented")

_CANDIDATE_COLUMNS = ("trigger", "token", "finding_id", "policy_id", "title", "category", "severity",
                      "resource_type", "resource_id", "due_on", "exception_id", "run_id")


@dataclass
class RouteSummary:
    messages: int = 0
    digest_items: int = 0
    tickets_opened: int = 0
    ticket_updates: int = 0
    events_read: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)

    def add(self, other: RouteSummary) -> None:
        self.messages += other.messages
        self.digest_items += other.digest_items
        self.tickets_opened += other.tickets_opened
        self.ticket_updates += other.ticket_updates
        self.events_read += other.events_read
        for k, v in other.by_rule.items():
            self.by_rule[k] = self.by_rule.get(k, 0) + v

    def line(self) -> str:
        return (f"routed: {self.messages} messages, {self.digest_items} findings in digests, "
                f"{self.tickets_opened} tickets to open, {self.ticket_updates} ticket updates")


class _Router:
    def __init__(self, conn: Connection, settings: NotifySettings, now: str, snapshot: Snapshot | None):
        self.conn = conn
        self.settings = settings
        self.now = now
        self.snapshot = snapshot
        self.summary = RouteSummary()
        self.ticket_targets = {n for n, t in settings.targets.items() if _target_kind(t.type) == "ticket"}
        self.addressed = {n for n, t in settings.targets.items() if _addressed(t.type)}

    # -- candidates → matches -------------------------------------------------------------
    def matches(self, candidates: list[tuple]) -> list[tuple[Rule, list[dict]]]:
        """Each rule with the candidate rows it matches (as dicts with the resource's attributes)."""
        if not candidates:
            return []
        columns = list(zip(*candidates, strict=True))
        table = pa.table({name: pa.array(col, pa.int64() if name in ("finding_id", "exception_id",
                                                                      "run_id") else pa.string())
                          for name, col in zip(_CANDIDATE_COLUMNS, columns, strict=True)})
        con = resource_attributes.connect(self.snapshot) if self._needs_attributes() and self.snapshot \
            else duckdb.connect()
        try:
            con.register("cand", table)
            con.register("fw", self._frameworks())
            if self._needs_attributes() and self.snapshot is not None:
                types = tuple(sorted({c[7] for c in candidates if c[7]}))
                resource_attributes.create_view(con, self.snapshot, "attrs", types=types)
                con.execute("""CREATE TEMP TABLE rows AS SELECT c.*, a.cost_center, a.vendor, a.owner_email,
                                      a.manager_email
                               FROM cand c LEFT JOIN attrs a
                                 ON a.resource_type = c.resource_type AND a.resource_id = c.resource_id""")
            else:
                con.execute("CREATE TEMP TABLE rows AS SELECT c.*, NULL::VARCHAR AS cost_center, "
                            "NULL::VARCHAR AS vendor, NULL::VARCHAR AS owner_email, "
                            "NULL::VARCHAR AS manager_email FROM cand c")
            out = []
            for rule in self.settings.rules:
                where, params = _rule_condition(rule)
                cur = con.execute(f"SELECT * FROM rows WHERE {where} ORDER BY token, finding_id", params)
                names = [d[0] for d in cur.description]
                rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
                if rows:
                    out.append((rule, rows))
            return out
        finally:
            con.close()

    def _needs_attributes(self) -> bool:
        return any(set(r.match) & {"cost_center", "vendor", "owner"}
                   or set(r.recipients) & {"owner", "manager", "cost_center_owner"}
                   for r in self.settings.rules)

    def _frameworks(self) -> pa.Table:
        rows = self.conn.execute(text("SELECT policy_id, framework FROM policy_requirements")).all()
        return pa.table({"policy_id": pa.array([r[0] for r in rows], pa.string()),
                         "framework": pa.array([r[1] for r in rows], pa.string())})

    # -- matches → outbox --------------------------------------------------------------------
    def emit(self, matched: list[tuple[Rule, list[dict]]]) -> None:
        for rule, rows in matched:
            for target in rule.targets:
                if target in self.ticket_targets:
                    self._tickets(rule, target, [r for r in rows if r["finding_id"] is not None])
                elif rule.delivery == "digest":
                    self._digest(rule, target, rows)
                else:
                    self._each(rule, target, rows)

    def _recipients(self, rule: Rule, target: str, row: dict) -> list[str | None]:
        if target not in self.addressed:
            return [None]
        found: list[str] = []
        for who in rule.recipients:
            if who in ("owner", "manager"):
                if row.get(f"{who}_email"):
                    found.append(row[f"{who}_email"])
            elif who == "cost_center_owner":
                address = self.settings.cost_center_owners.get(row.get("cost_center") or "")
                if address:
                    found.append(address)
            else:
                found.append(who)
        if not found and rule.fallback:
            found.append(rule.fallback)
        return list(dict.fromkeys(a.lower() for a in found)) or [None]

    def _each(self, rule: Rule, target: str, rows: list[dict]) -> None:
        new = []
        for row in rows:
            for recipient in self._recipients(rule, target, row):
                new.append({
                    "created_at": self.now, "rule": rule.name, "target": target, "kind": row["trigger"],
                    "recipient": recipient, "finding_id": row["finding_id"], "ticket_id": None,
                    "dedupe_key": outbox.dedupe_key(row["trigger"], rule.name, target, recipient,
                                                    row["token"], row["finding_id"], row["exception_id"],
                                                    row["run_id"]),
                    "payload": _payload(row), "status": "pending", "attempts": 0,
                    "not_before": self.now})
        added = outbox.insert_ignore(self.conn, notify_outbox, new)
        self.summary.messages += added
        self.summary.by_rule[rule.name] = self.summary.by_rule.get(rule.name, 0) + added

    def _digest(self, rule: Rule, target: str, rows: list[dict]) -> None:
        period_start, period_end = _period(rule.period, self.now)
        messages, items = {}, []
        for row in rows:
            for recipient in self._recipients(rule, target, row):
                key = outbox.dedupe_key("digest", rule.name, target, recipient, period_start)
                messages.setdefault(key, {
                    "created_at": self.now, "rule": rule.name, "target": target, "kind": "digest",
                    "recipient": recipient, "finding_id": None, "ticket_id": None, "dedupe_key": key,
                    "payload": json.dumps({"period": rule.period, "from": period_start, "to": period_end},
                                          sort_keys=True),
                    "status": "pending", "attempts": 0, "not_before": period_end})
                items.append((key, row))
        added = outbox.insert_ignore(self.conn, notify_outbox, list(messages.values()))
        ids = outbox.ids_by_key(self.conn, messages)
        finding_items = [(ids[k], r["finding_id"], r["trigger"])
                         for k, r in items if r["finding_id"] is not None]
        other = [(k, r) for k, r in items if r["finding_id"] is None]
        self.summary.digest_items += outbox.add_items(self.conn, finding_items)
        # Exceptions and runs in a digest: their own message each (a digest lists findings).
        if other:
            self._each(rule, target, [r for _, r in other])
        self.summary.messages += added
        self.summary.by_rule[rule.name] = self.summary.by_rule.get(rule.name, 0) + added

    def _tickets(self, rule: Rule, target: str, rows: list[dict]) -> None:
        """A ticket per finding or group for findings that have none on ``target`` yet."""
        if not rows:
            return
        linked = _linked(self.conn, target, [r["finding_id"] for r in rows])
        rows = [r for r in rows if r["finding_id"] not in linked]
        if not rows:
            return
        groups = {}
        for row in rows:
            groups.setdefault(_group_key(rule, row), []).append(row)
        existing = outbox.tickets_by_group(self.conn, target, groups)
        fresh = [g for g in groups if g not in existing]
        if fresh:
            self.conn.execute(insert(notify_tickets), [
                {"target": target, "group_key": g, "rule": rule.name, "state": "open", "opened_at": self.now}
                for g in fresh])
            existing.update(outbox.tickets_by_group(self.conn, target, fresh))
        messages, links = [], []
        for group, members in groups.items():
            ticket_id, state = existing[group]
            links += [(ticket_id, r["finding_id"]) for r in members]
            first = members[0]
            if group in fresh:
                kind, key = "ticket_open", outbox.dedupe_key("ticket_open", ticket_id)
                self.summary.tickets_opened += 1
            elif state == "open":
                kind, key = "ticket_comment", outbox.dedupe_key("ticket_comment", ticket_id, group,
                                                                first["token"], first["finding_id"])
            else:
                kind, key = "ticket_reopen", outbox.dedupe_key("ticket_reopen", ticket_id, first["token"])
                self._set_state(ticket_id, "open")
            messages.append(self._ticket_message(rule.name, target, ticket_id, kind, key, first,
                                                 [r["finding_id"] for r in members]))
        outbox.link_findings(self.conn, links)
        self.summary.ticket_updates += outbox.insert_ignore(self.conn, notify_outbox, messages) - len(fresh)

    def _ticket_message(self, rule: str | None, target: str, ticket_id: int, kind: str, key: str,
                        row: dict | None, finding_ids: list[int], note: str | None = None) -> dict:
        payload = {"findings": sorted(set(finding_ids))}
        if row is not None:
            payload["trigger"] = row.get("trigger")
        if note:
            payload["note"] = note
        return {"created_at": self.now, "rule": rule, "target": target, "kind": kind, "recipient": None,
                "finding_id": min(finding_ids) if finding_ids else None, "ticket_id": ticket_id,
                "dedupe_key": key, "payload": json.dumps(payload, sort_keys=True), "status": "pending",
                "attempts": 0, "not_before": self.now}

    def _set_state(self, ticket_id: int, state: str) -> None:
        values = {"state": state}
        if state == "closed":
            values["closed_at"] = self.now
        if state == "open":
            values.update(claimed_at=None, closed_at=None)
        self.conn.execute(update(notify_tickets).where(notify_tickets.c.id == ticket_id).values(**values))

    # -- tickets kept in step with their findings --------------------------------------------
    def upkeep(self, events: list) -> None:
        """Close, comment on or reopen the tickets of findings the events changed."""
        finding_ids = sorted({e.finding_id for e in events})
        if not finding_ids or not self.ticket_targets:
            return
        tickets = _tickets_of(self.conn, finding_ids)
        if not tickets:
            return
        by_finding: dict[int, list] = {}
        for t in tickets:
            by_finding.setdefault(t.finding_id, []).append(t)
        needs_work = _needs_work_counts(self.conn, sorted({t.ticket_id for t in tickets}))
        messages, confirmed = [], []
        touched: dict[int, str] = {t.ticket_id: t.state for t in tickets}
        for e in events:
            for t in by_finding.get(e.finding_id, ()):
                state = touched[t.ticket_id]
                if e.kind == "commented":
                    data = json.loads(e.data)
                    if state == "open" and data.get("via") != t.target:
                        messages.append(self._ticket_message(
                            None, t.target, t.ticket_id, "ticket_comment",
                            outbox.dedupe_key("ticket_comment", t.ticket_id, e.seq), None, [e.finding_id],
                            note=f"{e.actor}: {data.get('comment', '')}"))
                elif e.kind in _REOPENING_EVENTS and state in ("claimed", "closed"):
                    touched[t.ticket_id] = "open"
                    self._set_state(t.ticket_id, "open")
                    messages.append(self._ticket_message(
                        None, t.target, t.ticket_id, "ticket_reopen",
                        outbox.dedupe_key("ticket_reopen", t.ticket_id, e.seq), {"trigger": e.kind},
                        [e.finding_id]))
                elif e.kind in _CLOSING_EVENTS and state in ("open", "claimed"):
                    if needs_work.get(t.ticket_id, 0) == 0:
                        touched[t.ticket_id] = "closed"
                        self._set_state(t.ticket_id, "closed")
                        if state == "claimed":
                            confirmed.append((t.ticket_id, t.target, e))
                        kind = "ticket_comment" if state == "claimed" else "ticket_close"
                        messages.append(self._ticket_message(
                            None, t.target, t.ticket_id, kind, outbox.dedupe_key(kind, t.ticket_id, e.seq),
                            {"trigger": e.kind}, [e.finding_id],
                            note="confirmed" if state == "claimed" else None))
                    else:
                        messages.append(self._ticket_message(
                            None, t.target, t.ticket_id, "ticket_comment",
                            outbox.dedupe_key("ticket_comment", t.ticket_id, e.seq), {"trigger": e.kind},
                            [e.finding_id], note=f"{needs_work[t.ticket_id]} other findings remain"))
        self.summary.ticket_updates += outbox.insert_ignore(self.conn, notify_outbox, messages)
        if confirmed:
            data = chain.canonical_data
            chain.append(self.conn, ((self.now, "notifications", "fix_confirmed", e.finding_id, None,
                                      e.evaluation_id, data({"target": target, "ticket": tid}))
                                     for tid, target, e in confirmed))

    def refute_claims(self, evaluation_id: int) -> None:
        """Tickets closed on the tracker whose findings this evaluation still found: reopened,
        with the evidence, and the finding's history says the fix did not hold."""
        rows = self.conn.execute(text(f"""
            SELECT t.id AS ticket_id, t.target, f.id AS finding_id
            FROM notify_tickets t JOIN notify_ticket_findings l ON l.ticket_id = t.id
            JOIN findings f ON f.id = l.finding_id
            WHERE t.state = 'claimed' AND f.last_seen_evaluation = :eid AND f.status IN {sql_list(STANDING)}
            ORDER BY t.id, f.id"""), {"eid": evaluation_id}).all()
        if not rows:
            return
        by_ticket: dict[int, list] = {}
        for r in rows:
            by_ticket.setdefault(r.ticket_id, []).append(r)
        messages = []
        for tid, members in by_ticket.items():
            self._set_state(tid, "open")
            messages.append(self._ticket_message(
                None, members[0].target, tid, "ticket_reopen",
                outbox.dedupe_key("ticket_reopen", tid, f"evaluation {evaluation_id}"),
                {"trigger": "fix_refuted"}, [m.finding_id for m in members],
                note=f"evaluation {evaluation_id} still finds it"))
        self.summary.ticket_updates += outbox.insert_ignore(self.conn, notify_outbox, messages)
        data = chain.canonical_data
        chain.append(self.conn, ((self.now, "notifications", "fix_refuted", r.finding_id, None, evaluation_id,
                                  data({"target": r.target, "ticket": r.ticket_id,
                                        "why": f"evaluation {evaluation_id} still finds it"}))
                                 for r in rows))


def route_events(conn: Connection, settings: NotifySettings, *, now: str, snapshot: Snapshot | None,
                 evaluation_id: int | None = None) -> RouteSummary:
    """Route the history's events since the cursor (and, after an evaluation, refute the fix
    claims it disproves); moves the cursor to the history's head."""
    router = _Router(conn, settings, now, snapshot)
    head, _ = chain.head(conn)
    start = start_cursor(conn, evaluation_id)
    if head > start:
        events = conn.execute(text(f"""
            SELECT e.seq, e.kind, e.actor, e.data, e.finding_id, e.evaluation_id
            FROM events e
            WHERE e.seq > :start AND e.seq <= :head AND e.finding_id IS NOT NULL
              AND e.kind IN ({", ".join(f"'{k}'" for k in _ROUTED_EVENTS)})
            ORDER BY e.seq"""), {"start": start, "head": head}).all()
        router.summary.events_read = len(events)
        triggered = [e for e in events if e.kind in _TRIGGER_OF_EVENT]
        if triggered:
            router.emit(router.matches(_finding_candidates(conn, triggered)))
        router.upkeep(events)
    if evaluation_id is not None:
        router.refute_claims(evaluation_id)
    outbox.set_cursor(conn, "routed", head)
    return router.summary


def start_cursor(conn: Connection, evaluation_id: int | None = None) -> int:
    """Where routing reads the history from; on first use, only what happens from now on (an
    evaluation being recorded included: its own events are announced), recorded at once."""
    start = outbox.cursor(conn, "routed")
    if start is None:
        first = conn.execute(text("SELECT min(seq) FROM events WHERE evaluation_id = :e"),
                             {"e": evaluation_id}).scalar() if evaluation_id is not None else None
        start = (first - 1) if first is not None else chain.head(conn)[0]
        outbox.set_cursor(conn, "routed", start)
    return start


def route_clock(conn: Connection, settings: NotifySettings, *, now: str, today: date,
                snapshot: Snapshot | None) -> RouteSummary:
    """Route what the date brings: findings due soon or overdue, exceptions expiring, runs
    that failed or found a source stale (each once: the message's key names the due date,
    the expiry date or the run)."""
    router = _Router(conn, settings, now, snapshot)
    wanted = {t for r in settings.rules for t in r.when}
    candidates: list[tuple] = []
    if "due_soon" in wanted:
        horizon = max(r.due_in_days for r in settings.rules if "due_soon" in r.when)
        candidates += _due_candidates(conn, "due_soon", "f.due_on >= :today AND f.due_on <= :until",
                                      today, today + timedelta(days=horizon))
    if "overdue" in wanted:
        candidates += _due_candidates(conn, "overdue", "f.due_on < :today", today, today)
    if "exception_expiring" in wanted:
        horizon = max(r.expiring_in_days for r in settings.rules if "exception_expiring" in r.when)
        candidates += [("exception_expiring", f"expires {r.expires_on}", None, r.policy_id, r.title,
                        r.category, r.severity, None, None, r.expires_on, r.id, None)
                       for r in conn.execute(text("""
                           SELECT e.id, e.policy_id, e.expires_on, p.title, p.category, p.severity
                           FROM exceptions e LEFT JOIN policies p ON p.id = e.policy_id
                           WHERE e.status = 'approved' AND e.expires_on >= :today AND e.expires_on <= :until
                           ORDER BY e.id"""), {"today": today.isoformat(),
                                                "until": (today + timedelta(days=horizon)).isoformat()})]
    if wanted & {"run_failed", "source_stale"}:
        candidates += _run_candidates(conn)
    if candidates:
        router.emit(router.matches(candidates))
    return router.summary


# -- candidates -----------------------------------------------------------------------------------
def _finding_candidates(conn: Connection, events: list) -> list[tuple]:
    by_finding = {}
    for e in events:
        by_finding.setdefault(e.finding_id, []).append(e)
    rows = []
    ids = sorted(by_finding)
    for start in range(0, len(ids), 10_000):
        part = ", ".join(str(int(i)) for i in ids[start:start + 10_000])
        for f in conn.execute(text(f"""
                SELECT f.id, f.policy_id, p.title, p.category, p.severity, f.resource_type,
                       f.resource_id, f.due_on
                FROM findings f LEFT JOIN policies p ON p.id = f.policy_id WHERE f.id IN ({part})""")):
            for e in by_finding[f.id]:
                rows.append((_TRIGGER_OF_EVENT[e.kind], f"event {e.seq}", f.id, f.policy_id, f.title,
                             f.category, f.severity, f.resource_type, f.resource_id, f.due_on, None, None))
    return rows


def _due_candidates(conn: Connection, trigger: str, condition: str, today: date, until: date) -> list[tuple]:
    return [(trigger, f"due {r.due_on}", r.id, r.policy_id, r.title, r.category, r.severity,
             r.resource_type, r.resource_id, r.due_on, None, None)
            for r in conn.execute(text(f"""
                SELECT f.id, f.policy_id, p.title, p.category, p.severity, f.resource_type, f.resource_id,
                       f.due_on
                FROM findings f LEFT JOIN policies p ON p.id = f.policy_id
                WHERE f.status IN {sql_list(NEEDS_WORK)} AND f.due_on IS NOT NULL AND {condition}
                ORDER BY f.id"""), {"today": today.isoformat(), "until": until.isoformat()})]


def _run_candidates(conn: Connection) -> list[tuple]:
    """Finished runs after the cursor: failed ones, and those with a stale or failed source.
    On first use, the latest finished run only."""
    last = conn.execute(text("SELECT max(id) FROM runs WHERE finished_at IS NOT NULL")).scalar()
    if last is None:
        return []
    start = outbox.cursor(conn, "runs")
    if start is None:
        start = last - 1
    rows = conn.execute(text("""
        SELECT r.id, r.status, r.error,
               (SELECT count(*) FROM run_sources s WHERE s.run_id = r.id AND s.status IN ('stale', 'failed'))
                 AS stale
        FROM runs r WHERE r.id > :start AND r.finished_at IS NOT NULL ORDER BY r.id"""),
        {"start": start}).all()
    outbox.set_cursor(conn, "runs", last)
    out = []
    blank = (None,) * 9
    for r in rows:
        if r.status == "failed":
            out.append(("run_failed", f"run {r.id}", *blank, r.id))
        if r.stale:
            out.append(("source_stale", f"run {r.id}", *blank, r.id))
    return out


# -- helpers --------------------------------------------------------------------------------------
def _rule_condition(rule: Rule) -> tuple[str, list]:
    """The rule as a condition on ``rows`` (every value a bound parameter)."""
    clauses = [f"trigger IN ({', '.join('?' * len(rule.when))})"]
    params: list = list(rule.when)
    finding_only = "finding_id IS NOT NULL"
    for key, values in rule.match.items():
        marks = ", ".join("?" * len(values))
        if key == "policy":
            clauses.append("(" + " OR ".join(["policy_id GLOB ?"] * len(values)) + ")")
            params += list(values)
        elif key in ("category", "severity"):
            clauses.append(f"{key} IN ({marks})")
            params += list(values)
        elif key == "framework":
            clauses.append(f"EXISTS (SELECT 1 FROM fw WHERE fw.policy_id = rows.policy_id "
                           f"AND fw.framework IN ({marks}))")
            params += list(values)
        elif key in ("cost_center", "vendor"):
            clauses.append(f"({finding_only} AND {key} IN ({marks}))")
            params += list(values)
        elif key == "owner":
            clauses.append(f"({finding_only} AND owner_email IN ({marks}))")
            params += [v.lower() for v in values]
    # Runs match no finding's attributes: a rule on runs fires for every run whatever its match.
    condition = "(" + " AND ".join(clauses) + ") OR (run_id IS NOT NULL AND " + clauses[0] + ")"
    return condition, params + list(rule.when)


def _payload(row: dict) -> str:
    keep = {k: row.get(k) for k in ("trigger", "token", "exception_id", "run_id", "due_on")
            if row.get(k) is not None}
    return json.dumps(keep, sort_keys=True, default=str)


def _group_key(rule: Rule, row: dict) -> str:
    if rule.ticket_per == "policy":
        return f"policy:{row['policy_id']}"
    if rule.ticket_per == "resource":
        return f"resource:{row['resource_type']}/{row['resource_id']}"
    return f"finding:{row['finding_id']}"


def _period(period: str, now: str) -> tuple[str, str]:
    """The digest period ``now`` falls in: (start, end) as store timestamps."""
    moment = datetime.strptime(now, "%Y-%m-%dT%H:%M:%S.%fZ")
    if period == "run":
        return now, now
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        day -= timedelta(days=day.weekday())
        end = day + timedelta(days=7)
    else:
        end = day + timedelta(days=1)
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ"
    return day.strftime(fmt), end.strftime(fmt)


def _linked(conn: Connection, target: str, finding_ids: list[int]) -> set[int]:
    found: set[int] = set()
    ids = sorted(set(finding_ids))
    for start in range(0, len(ids), 10_000):
        part = ", ".join(str(int(i)) for i in ids[start:start + 10_000])
        found.update(r[0] for r in conn.execute(text(f"""
            SELECT l.finding_id FROM notify_ticket_findings l JOIN notify_tickets t ON t.id = l.ticket_id
            WHERE t.target = :t AND l.finding_id IN ({part})"""), {"t": target}))
    return found


def _tickets_of(conn: Connection, finding_ids: list[int]) -> list:
    out = []
    for start in range(0, len(finding_ids), 10_000):
        part = ", ".join(str(int(i)) for i in finding_ids[start:start + 10_000])
        out += conn.execute(text(f"""
            SELECT l.finding_id, t.id AS ticket_id, t.target, t.state
            FROM notify_ticket_findings l JOIN notify_tickets t ON t.id = l.ticket_id
            WHERE l.finding_id IN ({part}) ORDER BY t.id""")).all()
    return out


def _needs_work_counts(conn: Connection, ticket_ids: list[int]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for start in range(0, len(ticket_ids), 10_000):
        part = ", ".join(str(int(i)) for i in ticket_ids[start:start + 10_000])
        counts.update({r[0]: r[1] for r in conn.execute(text(f"""
            SELECT l.ticket_id, count(*) FROM notify_ticket_findings l JOIN findings f ON f.id = l.finding_id
            WHERE l.ticket_id IN ({part}) AND f.status IN {sql_list(NEEDS_WORK)}
            GROUP BY l.ticket_id"""))})
    return counts


def _target_kind(type_name: str) -> str:
    from ..notifier_api import notifiers

    return notifiers.get(type_name).kind


def _addressed(type_name: str) -> bool:
    from ..notifier_api import notifiers

    return notifiers.get(type_name).addressed
