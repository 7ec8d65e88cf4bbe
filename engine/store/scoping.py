"""A scoped caller's writes (docs/access.md): the scope is checked in the transaction that acts,
and nothing can take the finding out of the scope between that check and the act.

What moves a finding out of a scope is an evaluation (engine/store/sync.py rewrites its legal
entity and cost centre, and its policy's frameworks). Every evaluation appends to the event
chain before it commits, so it commits holding the chain head (``chain.head(lock=True)``). A
write that takes the chain head *before* it checks the scope therefore either waits for the
evaluation to commit (and its check sees the move), or commits before the evaluation can (the
move comes after the act). A write that also updates rows (a finding, a message, an exception)
locks them before the chain head, in the order an evaluation takes the two (it updates its
findings, then appends their events), and locks them ``FOR NO KEY UPDATE``: the key-share locks
an evaluation's routing takes on a pending message (adding digest items that refer to it) do not
wait for it.

Not every writer takes the two in that order: approving an exception or expiring one holds the
chain head and then updates the findings it covers. A scoped action on one of those findings at
that moment can meet it in the opposite order; PostgreSQL then ends one of the two transactions
(a deadlock error, nothing of it kept) and the other goes on. Both are people's actions, retried
by hand. An evaluation meets one only if a scoped administrator revokes an exception in the
very moments the evaluation expires that same exception (its last day): then either may be
ended, and an ended evaluation is recorded as failed and runs again on the next schedule.

On SQLite the writer holds the whole database from its first statement (``BEGIN IMMEDIATE``):
the check and the act are serial already, and the locks here are no-ops. An unrestricted caller
(everything readable) takes nothing: there is no scope to leave.
"""

from __future__ import annotations

import typing as t

from sqlalchemy import Connection, Table, select

from ..access import Access
from . import chain
from .tables import findings


def restricted(access: Access | None) -> bool:
    return access is not None and access.restricted


def hold(conn: Connection, access: Access | None, updates: Table | None = None,
         ids: t.Sequence[int] = ()) -> None:
    """Before checking ``access``'s scope in this writer transaction: hold the chain head, so no
    evaluation commits a move between the check and this transaction's commit. ``updates`` and
    ``ids``: rows of that table the write goes on to update, locked first (PostgreSQL, in id
    order), as the other writers that update such rows lock them before the chain head (an
    evaluation its findings, a delivery its message, a decision its exception)."""
    if not restricted(access):
        return
    if updates is not None and ids and conn.dialect.name != "sqlite":
        conn.execute(select(updates.c.id).where(updates.c.id.in_(sorted(set(ids))))
                     .order_by(updates.c.id).with_for_update(key_share=True))
    chain.head(conn, lock=True)


def allowed(conn: Connection, finding_ids: t.Iterable[int], access: Access | None) -> set[int]:
    """Of ``finding_ids``, those that exist and ``access`` allows, as this transaction reads them
    (call ``hold`` first)."""
    ids = sorted({int(i) for i in finding_ids})
    if not ids:
        return set()
    query = select(findings.c.id).where(findings.c.id.in_(ids))
    if restricted(access):
        query = query.where(access.predicate(findings))
    return set(conn.execute(query).scalars())
