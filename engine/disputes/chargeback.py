"""Cost allocation: a chargeback journal of a snapshot's charges, per cost centre and period.

One row per period, cost centre, vendor, carrier account and currency: the net amount charged
(credits included, as negative amounts, so the journal nets to the bills) and how many charges
make it up. A charge belongs to the cost centre of the line it is for; a charge for no line (a
late fee, an account-level tax) or for a line without a cost centre is in the row
``(unallocated)``, never spread by a guess. The period is the bill's (the invoice's ``period``,
else the month it was issued). Set-based: one DuckDB query over the snapshot's Parquet files.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from .. import csvsafe, resource_attributes
from ..errors import DialtoneError
from ..snapshots import Snapshot

UNALLOCATED = "(unallocated)"
COLUMNS = ("period", "cost_center", "vendor", "account", "currency", "amount", "charges")
SCHEMA = pa.schema([("period", pa.string()), ("cost_center", pa.string()), ("vendor", pa.string()),
                    ("account", pa.string()), ("currency", pa.string()), ("amount", pa.decimal128(18, 2)),
                    ("charges", pa.int64())])
#: The journal of a snapshot without charges: its header alone.
EMPTY = SCHEMA.empty_table()
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

_JOURNAL_SQL = f"""
    SELECT period, cost_center, vendor, account, currency,
           CAST(round(sum(amount), 2) AS DECIMAL(18, 2)) AS amount, count(*) AS charges
    FROM (
        SELECT coalesce(CAST(i.period AS VARCHAR), strftime(CAST(i.issued_on AS DATE), '%Y-%m'),
                        strftime(CAST(c.period_start AS DATE), '%Y-%m'), '(undated)') AS period,
               -- The line's cost centre, else its holder's (as cost.unallocated-charges reads it).
               coalesce(nullif(trim(CAST(l.cost_center AS VARCHAR)), ''),
                        nullif(trim(CAST(p.cost_center AS VARCHAR)), ''), '{UNALLOCATED}') AS cost_center,
               coalesce(CAST(a.vendor AS VARCHAR), '(unknown)') AS vendor,
               coalesce(CAST(i.account_id AS VARCHAR), '(unknown)') AS account,
               coalesce(CAST(c.currency AS VARCHAR), CAST(i.currency AS VARCHAR), '(unknown)') AS currency,
               CAST(c.amount AS DOUBLE) AS amount
        FROM charges c
        LEFT JOIN {{lines}} l ON CAST(l.id AS VARCHAR) = CAST(c.line_id AS VARCHAR)
        LEFT JOIN {{people}} p ON CAST(p.id AS VARCHAR) = CAST(l.assigned_to AS VARCHAR)
        LEFT JOIN {{invoices}} i ON CAST(i.id AS VARCHAR) = CAST(c.invoice_id AS VARCHAR)
        LEFT JOIN {{accounts}} a ON CAST(a.id AS VARCHAR) = CAST(i.account_id AS VARCHAR))
    WHERE $period IS NULL OR period = $period
    GROUP BY period, cost_center, vendor, account, currency
    -- The unallocated row last in each period, as a journal's suspense line is.
    ORDER BY period, cost_center = '{UNALLOCATED}', cost_center, vendor, account, currency"""

#: Stand-ins for entities a snapshot lacks (charges are then allocated to nobody, but kept).
_EMPTY = {
    "lines": "(SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS cost_center, NULL::VARCHAR AS assigned_to "
             "WHERE false)",
    "people": "(SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS cost_center WHERE false)",
    "invoices": "(SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS account_id, NULL::VARCHAR AS period, "
                "NULL::DATE AS issued_on, NULL::VARCHAR AS currency WHERE false)",
    "accounts": "(SELECT NULL::VARCHAR AS id, NULL::VARCHAR AS vendor WHERE false)",
}


class ChargebackError(DialtoneError):
    """A chargeback that cannot be produced as asked (the message says why)."""


def check_period(period: str | None) -> str | None:
    """``period`` as given when it is a month (``YYYY-MM``) or None; else a ChargebackError."""
    if period is None or _PERIOD.match(period):
        return period
    raise ChargebackError(f"The period '{period}' is not a month: expected YYYY-MM, e.g. 2026-04.")


def journal(snapshot: Snapshot, period: str | None = None) -> pa.Table:
    """The journal of ``snapshot``'s charges (columns ``COLUMNS``), for one ``period`` (YYYY-MM)
    or every period. A snapshot without charges has an empty journal."""
    period = check_period(period)
    if "charges" not in snapshot.entities:
        return EMPTY
    con = resource_attributes.connect(snapshot)
    try:
        names = {e: (f'"{e}"' if e in snapshot.entities else _EMPTY[e]) for e in _EMPTY}
        table = con.sql(_JOURNAL_SQL.format(**names), params={"period": period}).to_arrow_table()
    finally:
        con.close()
    return table.cast(SCHEMA)


def to_csv(table: pa.Table, out: Path | io.BytesIO) -> None:
    """Write the journal as CSV as engine/csvsafe.py writes Arrow tables: formula-like text
    neutralised, every value quoted (a cost centre's line break never splits a row)."""
    pacsv.write_csv(csvsafe.neutralise_table(table), out,
                    write_options=pacsv.WriteOptions(quoting_style="all_valid"))


def csv_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    to_csv(table, buf)
    return buf.getvalue()
