"""Read models of notifications: a finding's tickets and messages, the outbox's counts and pages,
one message with its findings. For the pages, the JSON API, the findings downloads and the
evidence package; none of them writes.

Each function takes a ``Store`` (it opens a read transaction) or an open ``Connection`` (it
reads on it: a caller that already holds one, such as an export, sees one state of the store).

The tables are written by routing and delivery (engine/notify): one outbox row per message,
digests listing their findings in ``notify_items``, tickets in ``notify_tickets`` with their
findings in ``notify_ticket_findings``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Connection, and_, exists, func, not_, or_, select, true

from . import Store
from .tables import findings, notify_items, notify_outbox, notify_ticket_findings, notify_tickets

#: A message's states: waiting (``pending``), delivered (``sent``), given up after the configured
#: attempts (``dead``, a dead letter), or withdrawn by an administrator (``cancelled``).
OUTBOX_STATUSES = ("pending", "sent", "dead", "cancelled")
#: A ticket's states (``claimed``: closed on the tracker while its findings still stand).
TICKET_STATES = ("open", "claimed", "closed")
#: Findings a message's detail lists at most (``findings`` says how many it is about).
MESSAGE_FINDINGS_SHOWN = 200
#: Above this many ids, tickets are read for every ticketed finding and picked in Python: the
#: tickets are as many as the findings people ticketed, while an IN list of a million ids is not
#: one statement a database takes.
_IN_LIST_MAX = 1000

_MESSAGE_COLUMNS = (notify_outbox.c.id, notify_outbox.c.created_at, notify_outbox.c.rule,
                    notify_outbox.c.target, notify_outbox.c.kind, notify_outbox.c.recipient,
                    notify_outbox.c.finding_id, notify_outbox.c.ticket_id, notify_outbox.c.status,
                    notify_outbox.c.attempts, notify_outbox.c.not_before, notify_outbox.c.last_error,
                    notify_outbox.c.sent_at, notify_outbox.c.ref)


def visible_messages(access):
    """A condition on ``notify_outbox``: the messages ``access`` may read, those about findings
    it all allows (a digest listing another scope's finding is that scope's too; a message
    about no finding is outside every restricted scope). True when unrestricted."""
    if access is None or not access.restricted:
        return true()
    # Aliases: the callers' own queries read these tables (no correlation with them).
    found = findings.alias("visible_f")
    allowed = select(found.c.id).where(access.predicate(found))
    listed = notify_items.alias("visible_i")
    items = select(listed.c.finding_id).where(listed.c.message_id == notify_outbox.c.id)
    return and_(
        or_(notify_outbox.c.finding_id.in_(allowed),
            and_(notify_outbox.c.finding_id.is_(None), exists(items))),
        not_(exists(items.where(listed.c.finding_id.not_in(allowed)))))


def _visible_tickets(access):
    """A condition on ``notify_tickets``: tickets whose findings ``access`` all allows."""
    if access is None or not access.restricted:
        return true()
    found = findings.alias("visible_f")
    allowed = select(found.c.id).where(access.predicate(found))
    link = notify_ticket_findings.alias("v")
    return not_(exists(select(link.c.finding_id).where(link.c.ticket_id == notify_tickets.c.id,
                                                       link.c.finding_id.not_in(allowed))))


@contextmanager
def _reading(db: Store | Connection) -> Iterator[Connection]:
    if isinstance(db, Store):
        with db.read() as conn:
            yield conn
    else:
        yield db


def _ticket_dict(row) -> dict:
    out = dict(row._mapping)
    out.pop("finding_id")
    # The other findings the same ticket is about (a ticket per policy or per resource).
    out["other_findings"] = max(0, out.pop("findings") - 1)
    return out


def _tickets_query(ids: Sequence[int] | None, access=None):
    # ``o``: the ticket's findings counted through a second alias of the link table.
    other = notify_ticket_findings.alias("o")
    shared = select(func.count()).select_from(other).where(
        other.c.ticket_id == notify_tickets.c.id).scalar_subquery()
    query = (select(notify_ticket_findings.c.finding_id, notify_tickets.c.id, notify_tickets.c.target,
                    notify_tickets.c.key, notify_tickets.c.url, notify_tickets.c.state,
                    notify_tickets.c.remote_status, notify_tickets.c.opened_at,
                    notify_tickets.c.claimed_at, notify_tickets.c.closed_at, shared.label("findings"))
             .join(notify_tickets, notify_tickets.c.id == notify_ticket_findings.c.ticket_id)
             .where(_visible_tickets(access))
             .order_by(notify_ticket_findings.c.finding_id, notify_tickets.c.opened_at,
                       notify_tickets.c.id))
    if ids is not None:
        query = query.where(notify_ticket_findings.c.finding_id.in_(list(ids)))
    return query


def tickets_for_finding(db: Store | Connection, finding_id: int, access=None) -> list[dict]:
    """The tickets about one finding, oldest first: target, key (None until the tracker gave
    one), url, state (open, claimed, closed), the tracker's own status word, when it was
    opened, claimed and closed, and ``other_findings``: how many other findings it is about."""
    return tickets_for_findings(db, [finding_id], access).get(finding_id, [])


def tickets_for_findings(db: Store | Connection, ids: Sequence[int], access=None) -> dict[int, list[dict]]:
    """The tickets of each of these findings (as ``tickets_for_finding``), in one read; a
    finding without any is left out."""
    if not ids:
        return {}
    wanted = set(ids)
    out: dict[int, list[dict]] = {}
    with _reading(db) as conn:
        rows = conn.execute(_tickets_query(None if len(wanted) > _IN_LIST_MAX else sorted(wanted), access))
        for row in rows:
            if row.finding_id in wanted:
                out.setdefault(row.finding_id, []).append(_ticket_dict(row))
    return out


def ticket_summary(tickets: list[dict]) -> str:
    """``jira TEL-12 (open); servicenow INC001 (fix claimed)``: a finding's tickets in one cell
    of a download."""
    words = {"claimed": "fix claimed"}
    return "; ".join(f"{t['target']} {t['key'] or '(being opened)'} ({words.get(t['state'], t['state'])})"
                     for t in tickets)


def _message_dict(row) -> dict:
    out = dict(row._mapping)
    if "items" in out:
        items = out.pop("items")
        # A digest lists its findings; a message about one finding names it in its row.
        out["findings"] = items or (1 if out["finding_id"] is not None else 0)
    return out


def messages_for_finding(db: Store | Connection, finding_id: int, limit: int = 20, access=None) -> list[dict]:
    """The latest ``limit`` messages about a finding, newest first: those that name it (one
    message per finding, its ticket's upkeep) and the digests that list it. Each with when it
    was written, target, kind, recipient, status, attempts, last error and when it was sent."""
    item = select(notify_items.c.message_id).where(notify_items.c.finding_id == finding_id)
    query = (select(*_MESSAGE_COLUMNS)
             .where(or_(notify_outbox.c.finding_id == finding_id, notify_outbox.c.id.in_(item)),
                    visible_messages(access))
             .order_by(notify_outbox.c.id.desc()).limit(limit))
    with _reading(db) as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def outbox_counts(db: Store | Connection, access=None) -> dict[str, int]:
    """How many messages are in each state (every state named, 0 when none)."""
    with _reading(db) as conn:
        found = dict(conn.execute(select(notify_outbox.c.status, func.count())
                                  .where(visible_messages(access))
                                  .group_by(notify_outbox.c.status)).all())
    return {**{s: 0 for s in OUTBOX_STATUSES}, **found}


def target_counts(db: Store | Connection, access=None) -> dict[str, dict[str, int]]:
    """Per target (by name): how many of its messages are in each state."""
    out: dict[str, dict[str, int]] = {}
    with _reading(db) as conn:
        for target, status, n in conn.execute(
                select(notify_outbox.c.target, notify_outbox.c.status, func.count())
                .where(visible_messages(access))
                .group_by(notify_outbox.c.target, notify_outbox.c.status)
                .order_by(notify_outbox.c.target)):
            out.setdefault(target, {s: 0 for s in OUTBOX_STATUSES})[status] = n
    return out


def _items_count():
    return (select(func.count()).select_from(notify_items)
            .where(notify_items.c.message_id == notify_outbox.c.id).scalar_subquery())


def outbox_page(db: Store | Connection, *, status: str | None = None, target: str | None = None,
                after_id: int | None = None, limit: int = 50, access=None) -> list[dict]:
    """Up to ``limit`` messages, newest first (keyset: those older than ``after_id``), of one
    status and one target when given; each with ``findings`` (how many it is about) and its
    ticket's key (``ticket_key``) for ticket upkeep."""
    query = (select(*_MESSAGE_COLUMNS, _items_count().label("items"),
                    notify_tickets.c.key.label("ticket_key"), notify_tickets.c.url.label("ticket_url"))
             .outerjoin(notify_tickets, notify_tickets.c.id == notify_outbox.c.ticket_id)
             .where(visible_messages(access))
             .order_by(notify_outbox.c.id.desc()).limit(limit))
    if status is not None:
        query = query.where(notify_outbox.c.status == status)
    if target is not None:
        query = query.where(notify_outbox.c.target == target)
    if after_id is not None:
        query = query.where(notify_outbox.c.id < after_id)
    with _reading(db) as conn:
        return [_message_dict(r) for r in conn.execute(query)]


def outbox_targets(db: Store | Connection, access=None) -> list[str]:
    """The targets the outbox holds messages for, for the page's filter."""
    with _reading(db) as conn:
        return [r[0] for r in conn.execute(select(notify_outbox.c.target).distinct()
                                           .where(visible_messages(access))
                                           .order_by(notify_outbox.c.target))]


def outbox_message(db: Store | Connection, message_id: int,
                   limit: int = MESSAGE_FINDINGS_SHOWN, access=None) -> dict | None:
    """One message, None if there is none: its row, its payload's ``subject`` (the payload itself
    is not returned: it may carry evidence), its ticket (key, url, state), ``findings``: how many
    findings it is about, and ``finding_list``: the first ``limit`` of them by id (id, policy,
    resource, status)."""
    with _reading(db) as conn:
        row = conn.execute(select(*_MESSAGE_COLUMNS, notify_outbox.c.payload, _items_count().label("items"))
                           .where(notify_outbox.c.id == message_id, visible_messages(access))).first()
        if row is None:
            return None
        out = _message_dict(row)
        payload = out.pop("payload")
        try:
            parsed = json.loads(payload) if payload else {}
        except ValueError:
            parsed = {}
        out["subject"] = parsed.get("subject") if isinstance(parsed, dict) else None
        about = select(notify_items.c.finding_id).where(notify_items.c.message_id == message_id)
        if out["finding_id"] is not None:
            about = about.union(select(notify_outbox.c.finding_id).where(notify_outbox.c.id == message_id))
        about = about.subquery()
        listed = conn.execute(select(findings.c.id, findings.c.policy_id, findings.c.resource_type,
                                     findings.c.resource_id, findings.c.status)
                              .join(about, about.c.finding_id == findings.c.id)
                              .order_by(findings.c.id).limit(limit)).all()
        out["findings"] = conn.execute(select(func.count()).select_from(about)).scalar()
        out["finding_list"] = [dict(r._mapping) for r in listed]
        ticket = conn.execute(select(notify_tickets.c.key, notify_tickets.c.url, notify_tickets.c.state)
                              .where(notify_tickets.c.id == out["ticket_id"])).first() \
            if out["ticket_id"] is not None else None
        out["ticket"] = dict(ticket._mapping) if ticket else None
    return out
