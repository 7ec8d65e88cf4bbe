"""Reads of disputes for the pages and the API: keyset pages, totals per currency, and a
reference from a URL read safely (an id beyond the store's 64-bit range is no dispute, not an
error of the database)."""

from __future__ import annotations

import typing as t

from sqlalchemy import func, select

from ..store import Store
from ..store.disputes import DisputeError, parse_id, visible
from ..store.tables import disputes

MAX_ID = 2**63 - 1


def dispute_id(text: str) -> int | None:
    """``DSP-000012`` or ``12`` → 12; None for anything that cannot name a dispute."""
    try:
        value = parse_id(text)
    except DisputeError:
        return None
    return value if 1 <= value <= MAX_ID else None


def _where(query, status: t.Sequence[str] | None, account_id: str | None, access=None):
    query = query.where(visible(access))   # a scoped caller's disputes only (engine/access.py)
    if status:
        query = query.where(disputes.c.status.in_(list(status)))
    if account_id:
        query = query.where(disputes.c.account_id == account_id)
    return query


def page(store: Store, *, status: t.Sequence[str] | None = None, account_id: str | None = None,
         before_id: int | None = None, limit: int = 50, access=None) -> list[dict]:
    """Disputes newest first, those older than ``before_id`` (the previous page's last id)."""
    query = _where(select(disputes), status, account_id, access).order_by(disputes.c.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(disputes.c.id < before_id)
    with store.read() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def totals(store: Store, *, status: t.Sequence[str] | None = None,
           account_id: str | None = None, access=None) -> list[dict]:
    """Per currency: how many disputes, claimed and credited (in the database, one query)."""
    query = _where(select(disputes.c.currency, func.count().label("disputes"),
                          func.coalesce(func.sum(disputes.c.claimed_total), 0.0).label("claimed"),
                          func.coalesce(func.sum(disputes.c.credited_total), 0.0).label("credited")),
                   status, account_id, access).group_by(disputes.c.currency).order_by(disputes.c.currency)
    with store.read() as conn:
        return [{**r, "claimed": round(r["claimed"], 2), "credited": round(r["credited"], 2)}
                for r in conn.execute(query).mappings()]


def accounts(store: Store, access=None) -> list[str]:
    """The accounts that have disputes (for the list's filter)."""
    with store.read() as conn:
        return [a for (a,) in conn.execute(select(disputes.c.account_id).distinct().where(visible(access))
                                           .order_by(disputes.c.account_id))]
