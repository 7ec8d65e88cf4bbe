"""The remediation history: an append-only chain of events.

Each event's hash covers its own fields and the previous event's hash, so
altering, removing or reordering any event breaks every hash after it.
``verify`` recomputes the chain and names the first event that does not fit.
The chain head (sequence number and hash) is what to keep outside the store
— in an evidence package, a ticket, a log — to detect a rewrite of the whole
chain by someone with write access to the database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, select, update

# The text the chain hashes: events are written and verified with it (chain.canonical_data).
from ..canonical_json import canonical_data as canonical_data
from ..errors import DialtoneError
from .tables import chain_head, events

GENESIS = "0" * 64
_SEP = "\x1f"

EventRow = tuple  # (at, actor, kind, finding_id, exception_id, evaluation_id, data_json)

MISSING_HEAD = ("the chain head is missing (table chain_head has no row 1): the history cannot be "
                "checked against it or extended; restore the store from a backup")


class ChainError(DialtoneError):
    """The chain cannot be used as it is (its head row is gone)."""


def event_hash(prev_hash: str, seq: int, at: str, actor: str, kind: str, finding_id: int | None,
               exception_id: int | None, evaluation_id: int | None, data: str) -> str:
    """The one definition of an event's hash, used to write and to verify."""
    # The fields joined by _SEP, an absent id as "": one f-string (an evaluation hashes a million).
    text = (f"{prev_hash}{_SEP}{seq}{_SEP}{at}{_SEP}{actor}{_SEP}{kind}{_SEP}"
            f"{'' if finding_id is None else finding_id}{_SEP}"
            f"{'' if exception_id is None else exception_id}{_SEP}"
            f"{'' if evaluation_id is None else evaluation_id}{_SEP}{data}")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def head(conn: Connection, *, lock: bool = False) -> tuple[int, str]:
    """The chain head (sequence number and hash of the last event); ChainError when it is gone.

    ``lock`` takes it for appending: the other writers wait until this transaction ends."""
    query = select(chain_head.c.seq, chain_head.c.hash).where(chain_head.c.id == 1)
    if lock and conn.dialect.name != "sqlite":  # SQLite's writer already holds the database lock
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise ChainError(MISSING_HEAD)
    return row.seq, row.hash


#: The columns ``append`` writes, in the order of its rows.
_APPEND_COLUMNS = ("seq", "at", "actor", "kind", "finding_id", "exception_id", "evaluation_id", "data",
                   "prev_hash", "hash")


def append(conn: Connection, rows: Iterable[EventRow]) -> int:
    """Append events in order, inside the caller's transaction; returns how many."""
    seq, prev = head(conn, lock=True)
    # Plain tuples through the driver's executemany: an evaluation may append a million events,
    # and building a dictionary per event for the SQL layer doubled the cost of writing them.
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    sql = (f"INSERT INTO {events.name} ({', '.join(_APPEND_COLUMNS)}) "
           f"VALUES ({', '.join([mark] * len(_APPEND_COLUMNS))})")
    batch: list[tuple] = []
    written = 0
    for at, actor, kind, finding_id, exception_id, evaluation_id, data in rows:
        seq += 1
        digest = event_hash(prev, seq, at, actor, kind, finding_id, exception_id, evaluation_id, data)
        batch.append((seq, at, actor, kind, finding_id, exception_id, evaluation_id, data, prev, digest))
        prev = digest
        if len(batch) >= 20_000:
            conn.exec_driver_sql(sql, batch)
            written += len(batch)
            batch = []
    if batch:
        conn.exec_driver_sql(sql, batch)
        written += len(batch)
    if written:
        conn.execute(update(chain_head).where(chain_head.c.id == 1).values(seq=seq, hash=prev))
    return written


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events: int
    head_seq: int
    head_hash: str
    problem: str | None = None
    first_bad_seq: int | None = None


_COLUMNS: Sequence = (events.c.seq, events.c.at, events.c.actor, events.c.kind, events.c.finding_id,
                      events.c.exception_id, events.c.evaluation_id, events.c.data,
                      events.c.prev_hash, events.c.hash)


def verify(conn: Connection) -> ChainReport:
    """Recompute the whole chain; report the first event that was altered, removed or reordered."""
    try:
        head_seq, head_hash = head(conn)
    except ChainError as exc:
        return ChainReport(False, 0, 0, "", str(exc))
    expected_seq, prev, count = 1, GENESIS, 0
    result = conn.execute(select(*_COLUMNS).order_by(events.c.seq),
                          execution_options={"yield_per": 20_000})
    for seq, at, actor, kind, finding_id, exception_id, evaluation_id, data, prev_hash, digest in result:
        count += 1
        if seq != expected_seq:
            result.close()
            return ChainReport(False, count, head_seq, head_hash,
                               f"event {expected_seq} is missing (removed); the next event is {seq}",
                               expected_seq)
        if prev_hash != prev:
            result.close()
            return ChainReport(False, count, head_seq, head_hash,
                               f"event {seq} does not follow event {seq - 1} "
                               "(an event before it was removed, replaced or reordered)", seq)
        if event_hash(prev_hash, seq, at, actor, kind, finding_id, exception_id, evaluation_id,
                      data) != digest:
            result.close()
            return ChainReport(False, count, head_seq, head_hash,
                               f"event {seq} was altered: its content no longer matches its hash", seq)
        prev, expected_seq = digest, seq + 1
    last = expected_seq - 1
    if last != head_seq or prev != head_hash:
        return ChainReport(False, count, head_seq, head_hash,
                           f"the chain ends at event {last} but its head records event {head_seq} "
                           "(events at the end were removed, or the head was edited)", last + 1)
    return ChainReport(True, count, head_seq, head_hash)
