"""The notifications' side of the store: routing's cursors, rows added to the outbox without
ever adding one twice, and a message's delivery recorded (sent, retried, dead).

Routing (``engine/notify/routing.py``) decides what to send; these functions write it. Every
insert here is idempotent on its unique key (``dedupe_key``, the ticket's group, a digest's
finding), so routing the same events or the same day twice adds nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from sqlalchemy import Connection, Table, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from . import chain
from .tables import notify_items, notify_outbox, notify_state, notify_ticket_findings, notify_tickets


def dedupe_key(kind: str, *parts: object) -> str:
    """A message's identity: the same parts always give the same key (fits the column)."""
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return f"{kind}:{hashlib.sha256(text.encode()).hexdigest()[:48]}"


def insert_ignore(conn: Connection, table: Table, rows: list[dict], batch: int = 5_000) -> int:
    """Insert ``rows``, skipping those whose unique key is already there; returns how many
    were new."""
    if not rows:
        return 0
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    added = 0
    for start in range(0, len(rows), batch):
        result = conn.execute(dialect.insert(table).on_conflict_do_nothing(), rows[start:start + batch])
        added += max(result.rowcount, 0)
    return added


def cursor(conn: Connection, name: str) -> int | None:
    return conn.execute(select(notify_state.c.seq).where(notify_state.c.name == name)).scalar()


def set_cursor(conn: Connection, name: str, seq: int) -> None:
    if conn.execute(update(notify_state).where(notify_state.c.name == name).values(seq=seq)).rowcount == 0:
        conn.execute(insert(notify_state).values(name=name, seq=seq))


def ids_by_key(conn: Connection, keys: Iterable[str]) -> dict[str, int]:
    keys = list(dict.fromkeys(keys))
    found: dict[str, int] = {}
    for start in range(0, len(keys), 500):
        part = keys[start:start + 500]
        found.update({key: mid for mid, key in conn.execute(
            select(notify_outbox.c.id, notify_outbox.c.dedupe_key)
            .where(notify_outbox.c.dedupe_key.in_(part)))})
    return found


def tickets_by_group(conn: Connection, target: str, groups: Iterable[str]) -> dict[str, tuple[int, str]]:
    """(ticket id, state) of each group that has a ticket on ``target``."""
    groups = list(dict.fromkeys(groups))
    found: dict[str, tuple[int, str]] = {}
    for start in range(0, len(groups), 500):
        part = groups[start:start + 500]
        for tid, group, state in conn.execute(
                select(notify_tickets.c.id, notify_tickets.c.group_key, notify_tickets.c.state)
                .where(notify_tickets.c.target == target, notify_tickets.c.group_key.in_(part))):
            found[group] = (tid, state)
    return found


def link_findings(conn: Connection, pairs: list[tuple[int, int]]) -> int:
    return insert_ignore(conn, notify_ticket_findings,
                         [{"ticket_id": t, "finding_id": f} for t, f in dict.fromkeys(pairs)])


def add_items(conn: Connection, items: list[tuple[int, int, str]]) -> int:
    return insert_ignore(conn, notify_items,
                         [{"message_id": m, "finding_id": f, "kind": k} for m, f, k in dict.fromkeys(items)])


def _with_subject(conn: Connection, message_id: int, subject: str | None) -> dict:
    """The row's payload with the subject it was sent under (shown on the message's page)."""
    if subject is None:
        return {}
    raw = conn.execute(select(notify_outbox.c.payload).where(notify_outbox.c.id == message_id)).scalar()
    payload = json.loads(raw or "{}")
    payload["subject"] = subject
    return {"payload": json.dumps(payload, sort_keys=True)}


def mark_sent(conn: Connection, message_id: int, *, now: str, ref: str | None,
              subject: str | None = None) -> None:
    """Sent: recorded as such even if an administrator cancelled it while it went out."""
    conn.execute(update(notify_outbox).where(notify_outbox.c.id == message_id).values(
        status="sent", sent_at=now, ref=(ref or "")[:400] or None, last_error=None,
        attempts=notify_outbox.c.attempts + 1, **_with_subject(conn, message_id, subject)))


def mark_failed(conn: Connection, message_id: int, *, error: str, not_before: str, dead: bool,
                subject: str | None = None) -> None:
    conn.execute(update(notify_outbox).where(notify_outbox.c.id == message_id,
                                             notify_outbox.c.status == "pending").values(
        status="dead" if dead else "pending", last_error=error[:2000], not_before=not_before,
        attempts=notify_outbox.c.attempts + 1, **_with_subject(conn, message_id, subject)))


def record_delivery(conn: Connection, *, now: str, message_id: int, target: str, kind: str,
                    recipient: str | None, ref: str | None, finding_ids: list[int]) -> int:
    """The delivery in the history of every finding the message was about."""
    data = chain.canonical_data({"message": message_id, "target": target, "kind": kind,
                                 "recipient": recipient, "ref": ref})
    return chain.append(conn, ((now, "notifications", "notified", fid, None, None, data)
                               for fid in finding_ids))
