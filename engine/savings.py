"""Money counted once: savings de-duplicated per billable object, totalled per currency.

Every finding with a saving names the billable object it claims (``savings_key``: a line,
a seat, a charge, a contract rate) and the saving's currency. A leaver's idle line found
by four policies saves one line's cost, not four: per object the largest claim wins, and
the other findings on it are "also reported by". Totals are per currency; amounts in
different currencies are never added.

The same rule runs in two places, one function each, so every figure agrees to the cent:
``evaluation_totals`` over an evaluation's findings (the CLI and the demo), and
``store_totals`` over the findings store (the dashboard, the savings page, exports and
evidence), where an object still claimed by an open or in-progress finding is
*identified*, and one whose claims are all resolved is *realised*. Excepted findings
(accepted risk) claim nothing: the organisation chose to keep paying.
"""

from __future__ import annotations

import typing as t

import duckdb
import pyarrow as pa
from sqlalchemy import Connection, text

from .store.lifecycle import NEEDS_WORK, sql_list

#: Where a finding has no currency, its amounts are totalled under this label.
UNKNOWN_CURRENCY = "(unknown)"
#: Finding statuses whose savings are still to be had (awaiting work).
PENDING = NEEDS_WORK

_COLUMNS = ("savings", "savings_key", "currency")


def _round(values: dict[str, float]) -> dict[str, float]:
    return {cur: round(amount, 2) for cur, amount in sorted(values.items()) if amount}


def dedup_totals(rows: pa.Table) -> dict[str, float]:
    """Per currency, the sum over billable objects of the largest saving claimed on each.

    ``rows`` has ``savings``, ``savings_key`` and ``currency`` columns (one row per finding)."""
    if not rows.num_rows:
        return {}
    con = duckdb.connect()
    try:
        con.register("claims", rows.select(list(_COLUMNS)))
        result = con.sql(f"""
            SELECT coalesce(currency, '{UNKNOWN_CURRENCY}') AS currency, sum(claim) AS total
            FROM (SELECT savings_key, currency, max(savings) AS claim FROM claims
                  WHERE savings IS NOT NULL AND isfinite(savings) GROUP BY ALL)
            GROUP BY ALL""").fetchall()
    finally:
        con.close()
    return _round({cur: total for cur, total in result})


def evaluation_totals(outcomes: t.Iterable) -> dict[str, float]:
    """Identified savings of an evaluation's findings, de-duplicated, per currency."""
    parts = [o.rows.select(list(_COLUMNS)) for o in outcomes
             if o.rows is not None and o.rows.num_rows]
    if not parts:
        return {}
    schema = pa.schema([("savings", pa.float64()), ("savings_key", pa.string()),
                        ("currency", pa.string())])
    return dedup_totals(pa.concat_tables([p.cast(schema) for p in parts]))


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


def format_totals(totals: dict[str, float]) -> str:
    """``GBP 1,200.00, USD 480.00`` (no currency is ever added to another)."""
    return ", ".join(f"{cur} {amount:,.2f}" for cur, amount in sorted(totals.items())) or "none"
