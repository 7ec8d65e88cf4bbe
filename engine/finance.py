"""Figures for telecom and finance analysts: savings by cost centre, vendor and policy; spend
per period; contract renewals and their notice deadlines.

Spend and contracts are read from the latest snapshot's Parquet files with DuckDB; savings join
the store's findings (as an Arrow table) to the snapshot's resources, set-based. Amounts are
kept per currency: an estate billed in dollars and euros is never summed into one number.
Each billable object's money is counted once (engine/savings.py): the finding with the largest
claim on it carries it, and the others on the same object are counted as "also reported".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import pyarrow as pa
from sqlalchemy import text

from .savings import UNKNOWN_CURRENCY
from .snapshots import Snapshot
from .store import Store
from .store.claims import PENDING

#: For each resource type: how to find its cost centre, vendor and currency in the snapshot.
_RESOURCE_SQL = {
    "lines": "SELECT id, cost_center, vendor, currency FROM lines",
    "charges": """SELECT c.id, l.cost_center, a.vendor, c.currency FROM charges c
                  LEFT JOIN lines l ON l.id = c.line_id LEFT JOIN invoices i ON i.id = c.invoice_id
                  LEFT JOIN accounts a ON a.id = i.account_id""",
    "invoices": """SELECT i.id, NULL AS cost_center, a.vendor, i.currency FROM invoices i
                   LEFT JOIN accounts a ON a.id = i.account_id""",
    "licenses": """SELECT x.id, p.cost_center, x.product AS vendor, x.currency FROM licenses x
                   LEFT JOIN people p ON p.id = x.assigned_to""",
    "devices": """SELECT d.id, coalesce(l.cost_center, p.cost_center), l.vendor, l.currency FROM devices d
                  LEFT JOIN lines l ON l.id = d.line_id LEFT JOIN people p ON p.id = d.assigned_to""",
    "subscriptions": "SELECT id, NULL, product, currency FROM subscriptions",
    "contracts": "SELECT id, NULL, vendor, currency FROM contracts",
    "accounts": "SELECT id, NULL, vendor, currency FROM accounts",
}


@dataclass
class FinanceReport:
    savings_by: dict[str, list[dict]]     # "cost_center" | "vendor" | "policy" → rows
    spend_by_vendor: list[dict]
    spend_by_cost_center: list[dict]
    renewals: list[dict]


def _connect(snapshot: Snapshot) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for entity in snapshot.entities:
        path = str(snapshot.parquet(entity)).replace("'", "''")
        con.execute(f'CREATE VIEW "{entity}" AS SELECT * FROM read_parquet(\'{path}\')')
    return con


def _rows(con, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _findings_table(store: Store) -> pa.Table:
    with store.read() as conn:
        rows = conn.execute(text(
            "SELECT policy_id, resource_type, resource_id, status, savings, "
            "coalesce(savings_key, resource_type || ':' || resource_id), currency FROM findings "
            "WHERE savings IS NOT NULL AND status IN ('open', 'in_progress', 'resolved')"
        )).all()
    cols = list(zip(*rows, strict=True)) if rows else [[]] * 7
    names = ("policy_id", "resource_type", "resource_id", "status", "savings", "claim_key",
             "currency")
    return pa.table({n: pa.array(c, pa.float64() if n == "savings" else pa.string())
                     for n, c in zip(names, cols, strict=True)})


#: The finding that carries each billable object's money: the largest pending claim, or, when
#: none is pending, the largest resolved one; ``also`` counts the other claims on the object.
_CLAIMS = f"""
    SELECT * FROM (
        SELECT f.*, bool_or(f.status IN {PENDING}) OVER w AS pending_key,
               count(*) OVER w - 1 AS also,
               row_number() OVER (PARTITION BY f.claim_key ORDER BY (f.status IN {PENDING}) DESC,
                                  f.savings DESC, f.policy_id, f.resource_id) AS pick
        FROM found f WINDOW w AS (PARTITION BY f.claim_key))
    WHERE pick = 1"""


def finance_report(store: Store, snapshot: Snapshot, today: date, horizon_days: int = 180) -> FinanceReport:
    con = _connect(snapshot)
    try:
        con.register("found", _findings_table(store))
        known = [t for t in _RESOURCE_SQL if t in snapshot.entities and _has_all(snapshot, t)]
        union = " UNION ALL ".join(
            f"SELECT '{t}' AS resource_type, CAST(q.id AS VARCHAR) AS resource_id, "
            f"CAST(q.cc AS VARCHAR) AS cost_center, CAST(q.vendor AS VARCHAR) AS vendor, "
            f"CAST(q.currency AS VARCHAR) AS currency "
            f"FROM ({_RESOURCE_SQL[t]}) AS q(id, cc, vendor, currency)" for t in known) or \
            "SELECT NULL AS resource_type, NULL AS resource_id, NULL AS cost_center, NULL AS vendor, " \
            "NULL AS currency WHERE false"
        con.execute(f"CREATE TEMP VIEW owners AS {union}")
        savings_by = {}
        for key, expr in (("cost_center", "coalesce(o.cost_center, '(none)')"),
                          ("vendor", "coalesce(o.vendor, '(none)')"), ("policy", "f.policy_id")):
            savings_by[key] = _rows(con, f"""
                SELECT {expr} AS name,
                       coalesce(f.currency, o.currency, '{UNKNOWN_CURRENCY}') AS currency,
                       sum(CASE WHEN f.pending_key THEN f.savings ELSE 0 END) AS identified,
                       sum(CASE WHEN NOT f.pending_key THEN f.savings ELSE 0 END) AS realised,
                       count(*) AS findings, sum(f.also) AS also_reported
                FROM ({_CLAIMS}) f LEFT JOIN owners o
                  ON o.resource_type = f.resource_type AND o.resource_id = f.resource_id
                GROUP BY ALL ORDER BY currency, identified DESC, name LIMIT 200""")
        spend_by_vendor = _rows(con, """
            SELECT coalesce(a.vendor, '(unknown)') AS vendor, i.period, i.currency, sum(i.total) AS total,
                   count(*) AS invoices
            FROM invoices i LEFT JOIN accounts a ON a.id = i.account_id
            GROUP BY ALL ORDER BY i.period DESC, total DESC LIMIT 500""") \
            if _has_all(snapshot, "invoices") else []
        spend_by_cc = _rows(con, """
            SELECT coalesce(l.cost_center, '(unallocated)') AS cost_center,
                   strftime(c.period_start, '%Y-%m') AS period, c.currency, sum(c.amount) AS total
            FROM charges c LEFT JOIN lines l ON l.id = c.line_id
            GROUP BY ALL ORDER BY period DESC, total DESC LIMIT 500""") \
            if _has_all(snapshot, "charges") else []
        # Contracts still running whose notice deadline is within the horizon (or already passed).
        renewals = _rows(con, """
            SELECT * FROM (
                SELECT id, vendor, ends_on, auto_renew, notice_days, monthly_commitment, currency,
                       ends_on - CAST(coalesce(notice_days, 0) AS INTEGER) AS notice_deadline
                FROM contracts WHERE ends_on IS NOT NULL AND ends_on >= ?)
            WHERE notice_deadline <= ? ORDER BY notice_deadline, id""",
            [today, today + timedelta(days=horizon_days)]) \
            if "contracts" in snapshot.entities else []
        for r in renewals:
            days = (r["notice_deadline"] - today).days
            r["days_to_notice"] = days
            r["state"] = ("notice deadline passed" if days < 0 else
                          "notice due within 30 days" if days <= 30 else "upcoming")
    finally:
        con.close()
    return FinanceReport(savings_by, spend_by_vendor, spend_by_cc, renewals)


def _has_all(snapshot: Snapshot, entity: str) -> bool:
    return entity in snapshot.entities
