"""The findings store's savings: the rule of engine/savings.py (one claim per billable object,
per currency, never added across currencies) over recorded findings. An object still claimed by
a finding awaiting work is *identified*; one whose claims are all resolved is *realised*."""

from __future__ import annotations

from sqlalchemy import Connection, text

from ..savings import UNKNOWN_CURRENCY, _round
from .lifecycle import NEEDS_WORK, sql_list

#: Finding statuses whose savings are still to be had (awaiting work).
PENDING = NEEDS_WORK


#: One row per billable object claimed in the store: its currency, the largest pending claim
#: and the largest resolved one. Findings recorded before savings keys existed claim their
#: own resource.
CLAIMS_SQL = f"""
    SELECT coalesce(savings_key, resource_type || ':' || resource_id) AS claim_key,
           coalesce(currency, '{UNKNOWN_CURRENCY}') AS currency,
           max(CASE WHEN status IN {sql_list(PENDING)} THEN savings END) AS pending,
           max(CASE WHEN status = 'resolved' THEN savings END) AS resolved
    FROM findings
    WHERE savings IS NOT NULL AND status IN {sql_list(PENDING + ("resolved",))}
    GROUP BY coalesce(savings_key, resource_type || ':' || resource_id),
             coalesce(currency, '{UNKNOWN_CURRENCY}')"""


def store_totals(conn: Connection) -> dict[str, dict[str, float]]:
    """``{"identified": {currency: amount}, "realised": {currency: amount}}`` over the store:
    an object still claimed by a pending finding is identified (its largest pending claim);
    one whose claims are all resolved is realised (its largest resolved claim)."""
    identified: dict[str, float] = {}
    realised: dict[str, float] = {}
    for currency, pending, resolved in conn.execute(text(
            f"SELECT currency, sum(pending), sum(CASE WHEN pending IS NULL THEN resolved END) "
            f"FROM ({CLAIMS_SQL}) c GROUP BY currency")):
        identified[currency] = pending or 0.0
        realised[currency] = resolved or 0.0
    return {"identified": _round(identified), "realised": _round(realised)}
