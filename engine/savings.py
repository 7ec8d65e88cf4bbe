"""Money counted once: savings de-duplicated per billable object, totalled per currency.

Every finding with a saving names the billable object it claims (``savings_key``: a line,
a seat, a charge, a contract rate) and the saving's currency. A leaver's idle line found
by four policies saves one line's cost, not four: per object the largest claim wins, and
the other findings on it are "also reported by". Totals are per currency; amounts in
different currencies are never added.

The same rule runs in two places, one function each: ``evaluation_totals`` over an
evaluation's own findings (what ``dialtone evaluate``'s table says they claim, and a dry run's
only figure), and ``savings_by_state`` (engine/store/claims.py) over the findings store: the
figures the dashboard, the savings page, the evaluation pages and the CLI summaries of
``demo``, ``run`` and ``evaluate`` all show, so they agree to the cent. There an object still
claimed by an open or in-progress finding is *identified*, one whose claims are all resolved is
*realised*, and one claimed only by excepted findings (accepted risk: the organisation chose to
keep paying) is *excepted*, neither identified nor realised.
"""

from __future__ import annotations

import typing as t

import duckdb
import pyarrow as pa

#: Where a finding has no currency, its amounts are totalled under this label.
UNKNOWN_CURRENCY = "(unknown)"

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


def format_totals(totals: dict[str, float]) -> str:
    """``GBP 1,200.00, USD 480.00`` (no currency is ever added to another)."""
    return ", ".join(f"{cur} {amount:,.2f}" for cur, amount in sorted(totals.items())) or "none"


def describe_recorded(summary: dict) -> str:
    """The savings an evaluation left in the store (its summary's ``savings_*``, totalled by
    ``claims.savings_by_state`` when it was recorded: the figures the dashboard, the savings page
    and the evaluation page show), as one line: ``identified GBP 1,200.00; realised none``."""
    parts = []
    for key, label in (("savings_identified", "identified"), ("savings_excepted", "excepted"),
                       ("savings_realised", "realised")):
        value = summary.get(key)
        if key == "savings_excepted" and not value:
            continue   # recorded only since it was kept apart; "none" says nothing new
        if isinstance(value, dict) or value is None:
            parts.append(f"{label} {format_totals({c: v for c, v in (value or {}).items() if v})}")
        else:   # evaluations recorded before savings were kept per currency
            parts.append(f"{label} {value:,.2f} (currencies not told apart)")
    return "; ".join(parts)
