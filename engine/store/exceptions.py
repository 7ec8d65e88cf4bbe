"""Exceptions: accepted risk on a policy's resources, approved by someone else, until a date.

Two ways in, one mechanism: exceptions reviewed by pull request in the policy
repository (``exceptions/*.yaml``, see ``repository_exceptions``) and exceptions
requested and decided in the product. Both live in the ``exceptions`` table.

Expiry is decided here and only here (``ACTIVE_SQL``): an approved exception is
in force through its expiry date inclusive, in UTC. ``refresh_exceptions`` expires
what is due (reopening its findings) and applies what is in force to open findings.
Writers run it in their own transaction: every evaluation, every decision on an
exception, every human action on a finding. The date is the one thing that moves
without a writer, so a long-running process (the web server) runs it at each UTC
midnight (``keep_expiring``). Reads never run it: reading the store never writes.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection, insert, select, text, update

from ..access import Access
from ..errors import DialtoneError
from ..policy.exception_spec import ExceptionError, ExceptionSpec
from . import Store, chain, scoping
from .lifecycle import EXCEPTED, NEEDS_WORK, RELEASED_SQL, sql_list
from .tables import exception_targets, exceptions, findings, policies

#: The one definition of "in force" (``e`` is the exceptions table, ``:today`` UTC).
ACTIVE_SQL = "e.status = 'approved' AND e.expires_on >= :today"
#: Approved but past its date: due to be expired by the next writer.
LAPSED_SQL = "e.status = 'approved' AND e.expires_on < :today"

_NEEDS_WORK = sql_list(NEEDS_WORK)     # what an exception in force applies to
_EXCEPTED = sql_list(EXCEPTED)         # what an exception that ends releases



def target_match(resource: str) -> str:
    """SQL: target ``t`` covers the resource id ``resource`` (a column or a bound parameter):
    its exact id, or its pattern (``*``/``?`` as a LIKE pattern, escaped)."""
    return (f"(t.resource_id = {resource} OR "
            f"(t.pattern IS NOT NULL AND {resource} LIKE t.pattern ESCAPE '\\'))")


_TARGET_MATCH = target_match("f.resource_id")


log = logging.getLogger("dialtone.exceptions")


def glob_to_like(pattern: str) -> str:
    out = []
    for ch in pattern:
        if ch in "\\%_":
            out.append("\\" + ch)
        elif ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        else:
            out.append(ch)
    return "".join(out)


def _event(conn: Connection, store: Store, actor: str, kind: str, data: dict, *,
           exception_id: int | None = None, finding_id: int | None = None) -> None:
    chain.append(conn, [(store.now_text(), actor, kind, finding_id, exception_id, None,
                         chain.canonical_data(data))])


def _insert_targets(conn: Connection, exception_id: int, spec: ExceptionSpec) -> None:
    rows = ([{"exception_id": exception_id, "resource_id": r, "pattern": None} for r in spec.resources]
            + [{"exception_id": exception_id, "resource_id": None, "pattern": glob_to_like(p)}
               for p in spec.resource_patterns])
    conn.execute(exception_targets.delete().where(exception_targets.c.exception_id == exception_id))
    if rows:
        conn.execute(insert(exception_targets), rows)


def policy_severity(conn: Connection, policy_id: str, known: dict[str, str] | None = None) -> str:
    if known and policy_id in known:
        return known[policy_id]
    row = conn.execute(select(policies.c.severity).where(policies.c.id == policy_id)).first()
    if row is None:
        raise ExceptionError(f"unknown policy '{policy_id}' (no evaluation has recorded it yet)")
    return row.severity


def expiry_limits(store: Store, severity: str) -> tuple[date, date]:
    """The first and last expiry dates an exception on a ``severity`` policy may have if asked
    for or approved today (the configured most days for the severity: ``exceptions.max_days``)."""
    today = store.today()
    return today, today + timedelta(days=store.exception_max_days[severity])


def _check_expiry(store: Store, expires_on: date, severity: str) -> None:
    # The repository's files are checked by exception_spec.check_expiry, in their own field names;
    # a request made in the product is told in the words of its form.
    first, last = expiry_limits(store, severity)
    if expires_on < first:
        raise ExceptionError(f"The expiry date {expires_on.isoformat()} has passed; choose a date from "
                             f"{first.isoformat()} to {last.isoformat()}.")
    if expires_on > last:
        raise ExceptionError(
            f"The expiry date {expires_on.isoformat()} is too far away: an exception for a {severity} "
            f"finding can last at most {store.exception_max_days[severity]:,} days, until "
            f"{last.isoformat()}.")


def request(store: Store, spec: ExceptionSpec, *, audit, access: Access | None = None) -> int:
    """A product exception request; returns its id. A scoped requester (``access``) names
    resources that have a finding of the policy in their scope, checked in this transaction
    (engine/store/scoping.py): another is ExceptionOutOfScope, as a missing finding; a pattern,
    which could name another entity's resources now or later, is refused."""
    if not spec.resources and not spec.resource_patterns:
        raise ExceptionError("Name at least one resource or resource pattern.")
    if not spec.justification.strip():
        raise ExceptionError("Give a justification.")
    with store.write() as conn:
        if scoping.restricted(access):
            _check_requested_in_scope(conn, spec, access)
        severity = policy_severity(conn, spec.policy_id)
        _check_expiry(store, spec.expires_on, severity)
        now = store.now_text()
        exception_id = conn.execute(insert(exceptions).values(
            key=f"product:{uuid.uuid4().hex}", source="product", policy_id=spec.policy_id,
            selector=json.dumps(spec.selector(), sort_keys=True), justification=spec.justification,
            ticket=spec.ticket, requested_by=spec.requested_by, requested_at=now, status="requested",
            expires_on=spec.expires_on.isoformat(),
            content_hash=spec.content_hash())).inserted_primary_key[0]
        _insert_targets(conn, exception_id, spec)
        _event(conn, store, spec.requested_by, "exception_requested",
               {"policy": spec.policy_id, "selector": spec.selector(),
                "justification": spec.justification, "expires_on": spec.expires_on.isoformat(),
                "ticket": spec.ticket}, exception_id=exception_id)
        audit(conn, spec.requested_by, "exception_request", f"exception:{exception_id}",
              {"policy": spec.policy_id})
    return exception_id


def _check_requested_in_scope(conn: Connection, spec: ExceptionSpec, access: Access) -> None:
    if spec.resource_patterns:
        raise ExceptionError("An account limited to a scope names the resources an exception covers, "
                             "not patterns: a pattern could cover another entity's resources.")
    scoping.hold(conn, access)
    found = set(conn.execute(select(findings.c.resource_id).where(
        findings.c.policy_id == spec.policy_id, findings.c.resource_id.in_(list(spec.resources)),
        access.predicate(findings))).scalars())
    missing = [r for r in spec.resources if r not in found]
    if missing:
        raise ExceptionOutOfScope(f"There is no finding of {spec.policy_id} on {missing[0]}.")


def _load(conn: Connection, exception_id: int):
    row = conn.execute(select(exceptions).where(exceptions.c.id == exception_id)).first()
    if row is None:
        raise ExceptionError(f"There is no exception {exception_id}.")
    return row


class ExceptionOutOfScope(ExceptionError):
    """An exception the deciding officer's scope does not cover (answered as a missing one)."""


def decide(store: Store, exception_id: int, decision: str, actor: str, note: str | None, *,
           audit, access=None) -> None:
    """approve, reject or revoke; the requester can never decide their own request. A scoped
    officer (``access``, engine/access.py) decides only exceptions whose covered findings all
    lie in their scope (``queries.visible_exceptions_sql``)."""
    with store.write() as conn:
        if scoping.restricted(access):
            from .queries import visible_exceptions_sql

            scoping.hold(conn, access, exceptions, [exception_id])
            found = conn.execute(text(f"SELECT 1 FROM exceptions e WHERE e.id = :e AND "
                                      f"{visible_exceptions_sql(conn, access)}"), {"e": exception_id}).first()
            if found is None:
                raise ExceptionOutOfScope(f"no exception {exception_id}")
        row = _load(conn, exception_id)
        if row.source == "repository":
            raise ExceptionError(f"Exception {exception_id} comes from {row.key.split(':', 1)[1]} in the "
                                 "policy repository; it changes by pull request there.")
        if decision in ("approve", "reject"):
            if row.status != "requested":
                raise ExceptionError(f"Exception {exception_id} is {row.status} already; only a requested "
                                     "exception can be approved or rejected.")
            if actor == row.requested_by:
                raise ExceptionError(f"{actor} requested exception {exception_id} and cannot "
                                     f"{decision} it: another officer must.")
        elif decision == "revoke":
            if row.status != "approved":
                raise ExceptionError(f"Exception {exception_id} is {row.status}; only an approved "
                                     "exception can be revoked.")
        else:  # pragma: no cover - the CLI offers only the three
            raise ExceptionError(f"unknown decision {decision}")
        if decision == "approve":
            _check_expiry(store, date.fromisoformat(row.expires_on), policy_severity(conn, row.policy_id))
        status = {"approve": "approved", "reject": "rejected", "revoke": "revoked"}[decision]
        values = {"status": status, "decision_note": note}
        if decision != "revoke":
            values.update(approver=actor, decided_at=store.now_text())
        conn.execute(update(exceptions).where(exceptions.c.id == exception_id).values(**values))
        _event(conn, store, actor, f"exception_{status}", {"note": note}, exception_id=exception_id)
        audit(conn, actor, f"exception_{decision}", f"exception:{exception_id}", {"note": note})
        if decision == "revoke":
            _release(conn, store, [exception_id], "exception_revoked", actor)
        refresh_exceptions(conn, store)


def _release(conn: Connection, store: Store, exception_ids: list[int], kind: str, actor: str) -> int:
    """Findings excepted under these exceptions become open again, each with an event."""
    if not exception_ids:
        return 0
    ids = ", ".join(str(int(i)) for i in exception_ids)
    rows = conn.execute(text(f"""
        SELECT id, exception_id FROM findings
        WHERE status IN {_EXCEPTED} AND exception_id IN ({ids})
        ORDER BY policy_id, resource_type, resource_id""")).all()
    if not rows:
        return 0
    now = store.now_text()
    conn.execute(text(f"""
        UPDATE findings SET status = {RELEASED_SQL},
            exception_id = NULL, updated_at = :now
        WHERE status IN {_EXCEPTED} AND exception_id IN ({ids})"""), {"now": now})
    chain.append(conn, ((now, actor, kind, r.id, r.exception_id, None,
                         chain.canonical_data({"exception": r.exception_id})) for r in rows))
    return len(rows)


def refresh_exceptions(conn: Connection, store: Store,
                       repository: list[ExceptionSpec] | None = None) -> dict[str, int]:
    """Sync repository exceptions (when given), expire what is due, apply what is in force."""
    counts: dict[str, int] = {"events": 0}
    if repository is not None:
        counts["events"] += _sync_repository(conn, store, repository)
    today = store.today().isoformat()
    expired = [r.id for r in conn.execute(text(
        f"SELECT id FROM exceptions e WHERE {LAPSED_SQL} "
        "ORDER BY id"), {"today": today})]
    if expired:
        conn.execute(update(exceptions).where(exceptions.c.id.in_(expired)).values(status="expired"))
        now = store.now_text()
        chain.append(conn, ((now, "system", "exception_expired", None, i, None,
                             chain.canonical_data({"expired_after": "expires_on"})) for i in expired))
        counts["events"] += len(expired)
        reopened = _release(conn, store, expired, "exception_expired", "system")
        counts["exception_expired"] = reopened
        counts["events"] += reopened
    # The open findings the exceptions in force name (driven by those exceptions: coverage_sql).
    covered = coverage_sql(ACTIVE_SQL, f"f.status IN {_NEEDS_WORK}")
    applied = conn.execute(text(f"""{covered}
        SELECT f.id AS finding_id, MIN(m.exception_id) AS exception_id
        FROM covered m JOIN findings f ON f.id = m.finding_id
        GROUP BY f.id, f.policy_id, f.resource_type, f.resource_id
        ORDER BY f.policy_id, f.resource_type, f.resource_id"""), {"today": today}).all()
    if applied:
        now = store.now_text()
        for start in range(0, len(applied), 10_000):
            part = applied[start:start + 10_000]
            conn.execute(text("UPDATE findings SET status = 'excepted', exception_id = :e, "
                              "updated_at = :now WHERE id = :f"),
                         [{"e": r.exception_id, "f": r.finding_id, "now": now} for r in part])
        chain.append(conn, ((now, "system", "excepted", r.finding_id, r.exception_id, None,
                             chain.canonical_data({"exception": r.exception_id})) for r in applied))
        counts["excepted"] = len(applied)
        counts["events"] += len(applied)
    return counts


def types_cte(selected: str) -> str:
    """The recursive CTE ``types (policy_id, resource_type)``: each resource type the findings of
    the selected exceptions' policies have, one index seek each (``coverage_sql``); a row with a
    NULL type ends each policy's list. For a ``WITH RECURSIVE`` clause."""
    return f"""types (policy_id, resource_type) AS (
            SELECT p.policy_id, (SELECT MIN(resource_type) FROM findings WHERE policy_id = p.policy_id)
            FROM (SELECT DISTINCT e.policy_id FROM exceptions e WHERE {selected}) p
            UNION ALL
            SELECT y.policy_id, (SELECT MIN(resource_type) FROM findings
                                 WHERE policy_id = y.policy_id AND resource_type > y.resource_type)
            FROM types y WHERE y.resource_type IS NOT NULL)"""


def coverage_sql(selected: str, finding_condition: str = "1 = 1", *, distinct: bool = False) -> str:
    """The ``WITH`` clause of ``covered (exception_id, finding_id)``: the findings of each
    selected exception's policy that its targets name (``selected``: a condition on
    ``exceptions e``; ``finding_condition``: one on ``findings f``). Without ``distinct`` a
    pair appears twice when a resource and a pattern both name it.

    Driven by the selected exceptions (few) rather than by the findings (up to millions); CROSS
    JOIN fixes that order on SQLite, whose planner has no statistics (PostgreSQL plans it from
    its own). A listed resource is looked up in the findings' identity index (policy, resource
    type, resource id), once per resource type the policy's findings have (``types``: one index
    seek each), matched as a range of one value, which only that index serves (PostgreSQL plans an
    equality through the trigram index on resource_id, ix_findings_resource_id_trgm, about a
    millisecond a name: queries.scope_selectors measured 880 ms against 6 ms); a pattern reads
    its policy's findings only."""
    return f"""
        WITH RECURSIVE {types_cte(selected)},
        covered (exception_id, finding_id) AS (
            SELECT e.id, f.id
            FROM exceptions e
            CROSS JOIN exception_targets t
            CROSS JOIN types y
            CROSS JOIN findings f
            WHERE {selected} AND t.exception_id = e.id AND t.resource_id IS NOT NULL
              AND y.policy_id = e.policy_id AND y.resource_type IS NOT NULL
              AND f.policy_id = e.policy_id AND f.resource_type = y.resource_type
              AND f.resource_id >= t.resource_id AND f.resource_id <= t.resource_id
              AND {finding_condition}
            {"UNION" if distinct else "UNION ALL"}
            SELECT e.id, f.id
            FROM exceptions e
            CROSS JOIN exception_targets t
            CROSS JOIN findings f
            WHERE {selected} AND t.exception_id = e.id AND t.pattern IS NOT NULL
              AND f.policy_id = e.policy_id AND {finding_condition}
              AND f.resource_id LIKE t.pattern ESCAPE '\\')"""


def lapsed_count(store: Store) -> int:
    """Approved exceptions past their expiry date that no writer has expired yet (read only):
    until one does, their findings still read as excepted."""
    with store.read() as conn:
        return conn.execute(text(
            f"SELECT count(*) FROM exceptions e WHERE {LAPSED_SQL}"),
            {"today": store.today().isoformat()}).scalar_one()


def refresh_exceptions_if_changed(store: Store) -> bool:
    """``refresh_exceptions`` in a transaction of its own, skipped when it cannot do anything.

    What it does depends only on today's date, the exceptions and the findings, and every
    change to those appends an event to the chain. So once it has run, it is run again only
    when the date or the chain head has moved: a skip costs one read of the head instead of a
    write transaction, which would queue behind every other writer (an evaluation holds the
    write lock for as long as it records). Returns whether it ran.
    """
    from .queries import chain_position

    today = store.today().isoformat()
    memo = store.memo
    with store.read() as conn:
        if memo.exceptions_refreshed == (chain_position(conn), today):
            return False
    with memo.refreshing:  # one thread refreshes; the others then find the head recorded
        with store.read() as conn:
            if memo.exceptions_refreshed == (chain_position(conn), today):
                return False
        with store.write() as conn:
            refresh_exceptions(conn, store)
            head = chain_position(conn)  # in the same transaction: includes its own events, no one else's
        memo.exceptions_refreshed = (head, today)
    return True


#: How long ``keep_expiring`` sleeps at most (it wakes at midnight; this bounds a clock jump).
EXPIRY_CHECK_SECONDS = 3600.0


def keep_expiring(store: Store, stop: threading.Event) -> threading.Thread:
    """A daemon thread that brings the exceptions up to date now and after each UTC midnight,
    until ``stop`` is set: what expires on a day with no evaluation and no action still
    expires, without a page view or a read-only command having to write."""

    def loop() -> None:
        while not stop.is_set():
            try:
                refresh_exceptions_if_changed(store)
            except DialtoneError as exc:     # the store unreachable: try again in a minute
                log.warning("exceptions not brought up to date: %s", exc)
                stop.wait(60)
                continue
            now = store.now()
            midnight = datetime.combine(now.date() + timedelta(days=1), time(), UTC)
            stop.wait(min(EXPIRY_CHECK_SECONDS, (midnight - now).total_seconds() + 1))

    thread = threading.Thread(target=loop, name="dialtone-exception-expiry", daemon=True)
    thread.start()
    return thread


def _sync_repository(conn: Connection, store: Store, specs: list[ExceptionSpec]) -> int:
    written = 0
    existing = {r.key: r for r in conn.execute(
        select(exceptions).where(exceptions.c.source == "repository"))}
    seen = set()
    for spec in specs:
        seen.add(spec.key)
        old = existing.get(spec.key)
        if old is not None and old.content_hash == spec.content_hash():
            continue
        values = dict(policy_id=spec.policy_id, selector=json.dumps(spec.selector(), sort_keys=True),
                      justification=spec.justification, ticket=spec.ticket,
                      requested_by=spec.requested_by, approver=spec.approver,
                      decided_at=f"{spec.approved_on.isoformat()}T00:00:00.000000Z",
                      expires_on=spec.expires_on.isoformat(), content_hash=spec.content_hash(),
                      status="approved")
        data = {"source": "repository", "file": spec.file, "policy": spec.policy_id,
                "selector": spec.selector(), "justification": spec.justification,
                "expires_on": spec.expires_on.isoformat(), "ticket": spec.ticket}
        if old is None:
            exception_id = conn.execute(insert(exceptions).values(
                key=spec.key, source="repository", requested_at=store.now_text(),
                **values)).inserted_primary_key[0]
            _event(conn, store, spec.requested_by, "exception_requested", data,
                   exception_id=exception_id)
            _event(conn, store, spec.approver, "exception_approved",
                   {"source": "repository", "approved_on": spec.approved_on.isoformat()},
                   exception_id=exception_id)
            written += 2
        else:
            exception_id = old.id
            conn.execute(update(exceptions).where(exceptions.c.id == old.id).values(**values))
            _event(conn, store, spec.approver, "exception_updated", data, exception_id=old.id)
            written += 1
            written += _release(conn, store, [old.id], "exception_updated", "system")
        _insert_targets(conn, exception_id, spec)
    for key, old in sorted(existing.items()):
        if key not in seen and old.status == "approved":
            conn.execute(update(exceptions).where(exceptions.c.id == old.id).values(status="revoked"))
            _event(conn, store, "system", "exception_revoked",
                   {"how": "removed from the policy repository"}, exception_id=old.id)
            written += 1 + _release(conn, store, [old.id], "exception_revoked", "system")
    return written


def orphaned_sql() -> str:
    """In-force exceptions that match no finding of their policy."""
    return f"""
        SELECT e.id FROM exceptions e WHERE {ACTIVE_SQL} AND NOT EXISTS (
            SELECT 1 FROM findings f JOIN exception_targets t ON t.exception_id = e.id
            WHERE f.policy_id = e.policy_id AND {_TARGET_MATCH})"""
