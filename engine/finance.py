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

from . import resource_attributes
from .access import EVERYTHING, Access
from .savings import UNKNOWN_CURRENCY
from .snapshots import Snapshot
from .store import Store
from .store.claims import CARRIER_ORDER, CLAIMING
from .store.lifecycle import sql_list


@dataclass
class FinanceReport:
    savings_by: dict[str, list[dict]]     # "cost_center" | "vendor" | "policy" → rows
    spend_by_vendor: list[dict]
    spend_by_cost_center: list[dict]
    renewals: list[dict]


def _connect(snapshot: Snapshot) -> duckdb.DuckDBPyConnection:
    return resource_attributes.connect(snapshot)


def _rows(con, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _findings_table(store: Store, access: Access = EVERYTHING) -> pa.Table:
    """The claiming findings ``access`` allows (engine/access.py: a scoped caller's savings are
    their scope's findings' alone, filtered in SQL)."""
    with store.read() as conn:
        rows = conn.execute(text(
            "SELECT id, policy_id, resource_type, resource_id, status, savings, "
            "coalesce(savings_key, resource_type || ':' || resource_id), "
            f"coalesce(currency, '{UNKNOWN_CURRENCY}'), resolved_at FROM findings "
            f"WHERE savings IS NOT NULL AND status IN {sql_list(CLAIMING)} "
            f"AND {access.sql('findings', conn.dialect)}"
        )).all()
    cols = list(zip(*rows, strict=True)) if rows else [[]] * 9
    # ``resolved_at``: when a resolved claim was resolved (the savings ledger, engine/disputes/
    # ledger.py, looks for its charges on the bills issued after it).
    names = ("id", "policy_id", "resource_type", "resource_id", "status", "savings", "claim_key",
             "currency", "resolved_at")
    types = {"id": pa.int64(), "savings": pa.float64()}
    return pa.table({n: pa.array(c, types.get(n, pa.string()))
                     for n, c in zip(names, cols, strict=True)})


#: The finding that carries each billable object's money, by the rule of engine/store/claims.py
#: (the one the headline totals use, so the rows below add up to them): the largest claim
#: awaiting work (in progress before open on a tie), else the largest resolved, else the largest
#: excepted; ``state`` is where that puts the money and ``also`` counts the other claims.
_CLAIMS = f"""
    SELECT * FROM (
        SELECT f.*, CASE f.status WHEN 'resolved' THEN 'realised'
                    WHEN 'open' THEN 'open' WHEN 'in_progress' THEN 'in_progress'
                    ELSE 'excepted' END AS state,
               count(*) OVER w - 1 AS also,
               row_number() OVER (PARTITION BY f.claim_key, f.currency ORDER BY {CARRIER_ORDER}) AS pick
        FROM found f WINDOW w AS (PARTITION BY f.claim_key, f.currency))
    WHERE pick = 1"""

#: The breakdowns of the savings page: the name of each row, per carrier and its resource.
BREAKDOWNS = {"cost_center": "coalesce(f.cost_center, '(none)')",
              "vendor": "coalesce(f.vendor, '(none)')", "policy": "f.policy_id"}
#: The states a row's money can be in (engine/store/claims.py), and "identified" for the first two.
STATE_FILTERS = {"open": ("open",), "in_progress": ("in_progress",), "excepted": ("excepted",),
                 "realised": ("realised",), "identified": ("open", "in_progress")}


def register_claims(con, store: Store, snapshot: Snapshot, access: Access = EVERYTHING) -> None:
    """The store's claims (``found``), each resource's cost centre and vendor (``owners``) and,
    per billable object, the finding that carries its money with its ``state``, ``cost_center``
    and ``vendor`` (``carriers``), on ``con``."""
    con.register("found", _findings_table(store, access))
    resource_attributes.create_view(con, snapshot, "owners", types=resource_attributes.MONEY_TYPES)
    con.execute(f"""CREATE TEMP VIEW carriers AS SELECT f.*, o.cost_center, o.vendor
                    FROM ({_CLAIMS}) f LEFT JOIN owners o
                      ON o.resource_type = f.resource_type AND o.resource_id = f.resource_id""")


def finance_report(store: Store, snapshot: Snapshot, today: date, horizon_days: int = 180,
                   access: Access = EVERYTHING) -> FinanceReport:
    """The savings page's figures. For a restricted ``access`` the savings are its scope's, and
    the estate-wide spend and renewals (bills and contracts, not findings) are left out."""
    con = _connect(snapshot)
    try:
        register_claims(con, store, snapshot, access)
        savings_by = {}
        for key, expr in BREAKDOWNS.items():
            savings_by[key] = _rows(con, f"""
                SELECT {expr} AS name, f.currency,
                       sum(CASE WHEN f.state IN ('open', 'in_progress') THEN f.savings ELSE 0 END)
                         AS identified,
                       sum(CASE WHEN f.state = 'open' THEN f.savings ELSE 0 END) AS open,
                       sum(CASE WHEN f.state = 'in_progress' THEN f.savings ELSE 0 END) AS in_progress,
                       sum(CASE WHEN f.state = 'excepted' THEN f.savings ELSE 0 END) AS excepted,
                       sum(CASE WHEN f.state = 'realised' THEN f.savings ELSE 0 END) AS realised,
                       count(*) AS findings, sum(f.also) AS also_reported
                FROM carriers f GROUP BY ALL ORDER BY name, currency""")
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
        if access.restricted:
            spend_by_vendor, spend_by_cc, renewals = [], [], []
        for r in renewals:
            days = (r["notice_deadline"] - today).days
            r["days_to_notice"] = days
            r["state"] = ("notice deadline passed" if days < 0 else
                          "notice due within 30 days" if days <= 30 else "upcoming")
    finally:
        con.close()
    return FinanceReport(savings_by, spend_by_vendor, spend_by_cc, renewals)


def savings_findings(store: Store, snapshot: Snapshot, *, by: str | None, name: str | None,
                     currency: str | None, state: str, limit: int = 500,
                     access: Access = EVERYTHING) -> tuple[list[dict], int]:
    """The findings that carry the money of one row of the savings page (``by`` one of
    ``BREAKDOWNS`` and its ``name``, or every row when ``by`` is None), in ``currency`` (every
    currency when None) and ``state`` (one of ``STATE_FILTERS``): at most ``limit``, the largest
    first, and how many there are in all."""
    where, params = [f"f.state IN ({', '.join('?' * len(STATE_FILTERS[state]))})"], \
        list(STATE_FILTERS[state])
    if by is not None:
        where.append(f"{BREAKDOWNS[by]} = ?")
        params.append(name)
    if currency is not None:
        where.append("f.currency = ?")
        params.append(currency)
    con = _connect(snapshot)
    try:
        register_claims(con, store, snapshot, access)
        clause = " AND ".join(where)
        total = con.execute(f"SELECT count(*) FROM carriers f WHERE {clause}", params).fetchone()[0]
        rows = _rows(con, f"""
            SELECT f.id, f.policy_id, f.resource_type, f.resource_id, f.status, f.state, f.savings,
                   f.currency, f.also, f.cost_center, f.vendor
            FROM carriers f WHERE {clause} ORDER BY f.savings DESC, f.id LIMIT {int(limit)}""", params)
    finally:
        con.close()
    return rows, total


def _has_all(snapshot: Snapshot, entity: str) -> bool:
    return entity in snapshot.entities


def currency_columns(rows: list[dict]) -> tuple[list[str], list[dict]]:
    """The rows of one breakdown (one per name and currency) as one row per name with its
    currencies side by side: the currencies (sorted, the unknown one last) and, by name,
    ``{"name", "by_currency": {currency: row}}``. No amount is ever added across currencies."""
    currencies = sorted({r["currency"] for r in rows}, key=lambda c: (c == UNKNOWN_CURRENCY, c))
    names: dict[str, dict] = {}
    for r in rows:
        names.setdefault(r["name"], {"name": r["name"], "by_currency": {}})["by_currency"][r["currency"]] = r
    # By name, the row with no cost centre or vendor last.
    return currencies, sorted(names.values(), key=lambda n: (n["name"] == "(none)", n["name"].lower()))
