"""The savings ledger: what findings claim, and what the carrier's bills show was saved.

Per resource and period, per currency, the money is in one of these states:

- **identified**: today's claims of open and in-progress findings, one per billable object (the
  rule of engine/savings.py, read through engine/finance.py's ``carriers``): a year's run rate,
  in this month's period. The same figure as the dashboard's and the savings page's.
- **disputed**: claimed from the carrier in a dispute that is filed, acknowledged or partially
  credited (not yet closed), and not yet credited; in the month of the disputed bill.
- **recovered**: credits matched to disputes (``dispute_credits``), in the month of the bill that
  carried the credit.
- **avoided**: a line whose findings are all resolved, which had charges on its account's bills
  before the resolution and has none on the bills of that account issued after it (up to
  ``today``): one month's money per such bill's month, at the amount the line was billed on its
  last bill before the resolution.
- **written off**: what a denied or withdrawn (once filed) dispute, or one whose partial credit
  was accepted as final, did not recover; in the month it was closed.

Apart, never counted as avoided: **unverified**, a resolved seat, subscription or line whose
charges the snapshot cannot show (the estate model bills only lines; a snapshot with no charges
per line at all shows none): the finding's claim (a year), in the month it was resolved.

Money is counted once per resource and period in its own currency, never added across
currencies. Everything is set-based: the store's findings and disputes go to DuckDB as Arrow
tables and meet the snapshot's Parquet files there; no Python loop runs over the estate.
"""

from __future__ import annotations

import datetime as dt
import threading
import typing as t
from dataclasses import dataclass

import duckdb
import pyarrow as pa
from sqlalchemy import func, select

from .. import resource_attributes
from ..errors import DialtoneError
from ..finance import register_claims
from ..savings import UNKNOWN_CURRENCY, _round
from ..snapshots import Snapshot
from ..store import Store
from ..store.tables import dispute_credits, dispute_items, disputes

#: The ledger's states, in the order pages show them; ``unverified`` is kept apart from them.
STATES = ("identified", "disputed", "recovered", "avoided", "written_off")
UNVERIFIED = "unverified"
#: The ways ``Ledger.rows`` breaks the money down, and the column each reads.
BREAKDOWNS = {"cost_center": "coalesce(cost_center, '(none)')", "vendor": "coalesce(vendor, '(none)')",
              "policy": "coalesce(policy_id, '(none)')", "period": "period"}
#: Resolved objects the ledger looks for on bills: lines, seats (licenses) and subscriptions.
AVOIDABLE = ("lines", "licenses", "subscriptions")
#: A dispute's state → where its unrecovered money is: with the carrier or written off.
DISPUTED_SQL = """(status IN ('filed', 'acknowledged', 'partially_credited'))"""
WRITTEN_OFF_SQL = """((status IN ('denied', 'withdrawn') AND filed_at IS NOT NULL)
                      OR status = 'accepted')"""

_ROW_SCHEMA = pa.schema([
    ("state", pa.string()), ("resource_type", pa.string()), ("resource_id", pa.string()),
    ("period", pa.string()), ("currency", pa.string()), ("amount", pa.float64()),
    ("cost_center", pa.string()), ("vendor", pa.string()), ("policy_id", pa.string()),
    ("detail", pa.string())])


@dataclass(frozen=True)
class Ledger:
    """The ledger as of ``today``: ``table`` has one row per state, resource, period and
    currency (with its cost centre, vendor, policy, and what it rests on in ``detail``:
    dispute references, the credit's bill); ``checks`` has one row per resolved line, seat or
    subscription and what its bills showed (``outcome``: avoided, still_billed, awaiting_bill,
    never_billed, undated, unverified)."""

    table: pa.Table
    checks: pa.Table
    today: dt.date

    @property
    def totals(self) -> dict[str, dict[str, float]]:
        """``{state: {currency: amount}}`` for every state and ``unverified``, to the cent."""
        out: dict[str, dict[str, float]] = {s: {} for s in (*STATES, UNVERIFIED)}
        con = duckdb.connect()
        try:
            con.register("ledger", self.table)
            for state, currency, amount in con.execute(
                    "SELECT state, currency, sum(amount) FROM ledger GROUP BY ALL").fetchall():
                out[state][currency] = amount
        finally:
            con.close()
        return {s: _round(v) for s, v in out.items()}

    def rows(self, by: str) -> list[dict]:
        """One row per name of ``by`` (a key of ``BREAKDOWNS``) and currency, with the money in
        each state and ``unverified``, by name and currency."""
        if by not in BREAKDOWNS:
            raise DialtoneError(f"The ledger is broken down by {', '.join(BREAKDOWNS)}, not '{by}'.")
        sums = ", ".join(f"round(coalesce(sum(amount) FILTER (WHERE state = '{s}'), 0), 2) AS {s}"
                         for s in (*STATES, UNVERIFIED))
        con = duckdb.connect()
        try:
            con.register("ledger", self.table)
            cur = con.execute(f"""SELECT {BREAKDOWNS[by]} AS name, currency, {sums},
                                         count(DISTINCT resource_type || ':' || resource_id) AS resources
                                  FROM ledger GROUP BY ALL ORDER BY name, currency""")
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        finally:
            con.close()


def _arrow(rows: t.Sequence, schema: pa.Schema) -> pa.Table:
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
    return pa.table({f.name: pa.array(list(c), f.type) for f, c in zip(schema, cols, strict=True)})


_ITEMS_SCHEMA = pa.schema([
    ("dispute_id", pa.int64()), ("reference", pa.string()), ("status", pa.string()),
    ("filed_at", pa.string()), ("closed_at", pa.string()), ("currency", pa.string()),
    ("vendor", pa.string()), ("claimed_total", pa.float64()), ("credited_total", pa.float64()),
    ("item_id", pa.int64()), ("policy_id", pa.string()), ("charge_id", pa.string()),
    ("invoice_id", pa.string()), ("bill_date", pa.string()), ("claimed_amount", pa.float64()),
    ("credited_amount", pa.float64())])
_CREDITS_SCHEMA = pa.schema([
    ("dispute_id", pa.int64()), ("reference", pa.string()), ("dispute_currency", pa.string()),
    ("vendor", pa.string()), ("credit_charge_id", pa.string()), ("invoice_number", pa.string()),
    ("bill_date", pa.string()), ("amount", pa.float64()), ("currency", pa.string()),
    ("basis", pa.string()), ("policy_id", pa.string()), ("charge_id", pa.string()),
    ("invoice_id", pa.string())])


def _store_rows(store: Store, access=None) -> tuple[pa.Table, pa.Table]:
    """The disputed items with their dispute, and the credits with the item they credit; of the
    disputes ``access`` may read (engine/store/disputes.py ``visible``)."""
    from ..store.disputes import visible

    d, i, c = disputes.c, dispute_items.c, dispute_credits.c
    with store.read() as conn:
        items = conn.execute(select(
            d.id, d.reference, d.status, d.filed_at, d.closed_at, d.currency, d.vendor, d.claimed_total,
            d.credited_total, i.id, i.policy_id, i.charge_id, i.invoice_id, i.bill_date, i.claimed_amount,
            i.credited_amount).join(dispute_items, i.dispute_id == d.id).where(visible(access))).all()
        # A credit paying the dispute as a whole is put on its first charge (its policy and
        # cost centre), so that no recovered money is left without a policy.
        firsts = dispute_items.alias("firsts")
        first_item = (select(func.min(firsts.c.id)).where(firsts.c.dispute_id == c.dispute_id)
                      .correlate(dispute_credits).scalar_subquery())
        credits = conn.execute(select(
            d.id, d.reference, d.currency, d.vendor, c.charge_id, c.invoice_number, c.bill_date, c.amount,
            c.currency, c.basis, i.policy_id, i.charge_id, i.invoice_id)
            .join(disputes, d.id == c.dispute_id)
            .outerjoin(dispute_items, i.id == func.coalesce(c.item_id, first_item))
            .where(visible(access))).all()
    return _arrow(items, _ITEMS_SCHEMA), _arrow(credits, _CREDITS_SCHEMA)


def _bill_views(con: duckdb.DuckDBPyConnection, snapshot: Snapshot) -> None:
    """``bill_invoices`` and ``bill_charges`` (each line's positive charges, credits left out,
    with its bill's account, date and month): empty when the snapshot has no bills."""
    if "invoices" in snapshot.entities:
        con.execute("""CREATE TEMP VIEW bill_invoices AS
            SELECT CAST(id AS VARCHAR) AS id, CAST(account_id AS VARCHAR) AS account_id,
                   CAST(issued_on AS DATE) AS issued,
                   coalesce(CAST(period AS VARCHAR), strftime(CAST(issued_on AS DATE), '%Y-%m')) AS period,
                   CAST(currency AS VARCHAR) AS currency
            FROM invoices""")
    else:
        con.execute("""CREATE TEMP VIEW bill_invoices AS SELECT NULL::VARCHAR AS id,
            NULL::VARCHAR AS account_id, NULL::DATE AS issued, NULL::VARCHAR AS period,
            NULL::VARCHAR AS currency WHERE false""")
    if "charges" in snapshot.entities and "invoices" in snapshot.entities:
        con.execute("""CREATE TEMP VIEW bill_charges AS
            SELECT CAST(c.line_id AS VARCHAR) AS line_id, CAST(c.amount AS DOUBLE) AS amount,
                   coalesce(CAST(c.currency AS VARCHAR), i.currency) AS currency, i.account_id,
                   i.id AS invoice_id, i.issued, i.period
            FROM charges c JOIN bill_invoices i ON i.id = CAST(c.invoice_id AS VARCHAR)
            WHERE c.line_id IS NOT NULL AND c.amount > 0 AND coalesce(c.charge_type, '') <> 'credit'""")
    else:
        con.execute("""CREATE TEMP VIEW bill_charges AS SELECT NULL::VARCHAR AS line_id,
            NULL::DOUBLE AS amount, NULL::VARCHAR AS currency, NULL::VARCHAR AS account_id,
            NULL::VARCHAR AS invoice_id, NULL::DATE AS issued, NULL::VARCHAR AS period WHERE false""")


#: Each resolved line, seat or subscription and what its account's bills show after the
#: resolution (see the module's docstring), as temporary tables, in order.
_CHECK_STEPS = (
    f"""CREATE TEMP TABLE resolved AS
        SELECT claim_key, split_part(claim_key, ':', 1) AS object_type,
               substr(claim_key, strpos(claim_key, ':') + 1) AS object_id, currency AS claim_currency,
               savings AS claim, policy_id, TRY_CAST(substr(resolved_at, 1, 10) AS DATE) AS resolved_on
        FROM carriers WHERE state = 'realised'
          AND split_part(claim_key, ':', 1) IN ({", ".join(f"'{a}'" for a in AVOIDABLE)})""",
    # The last bill before (or on the day of) the resolution that charged the line, per currency.
    """CREATE TEMP TABLE before AS
        SELECT r.claim_key, b.invoice_id, b.account_id, b.currency, sum(b.amount) AS monthly
        FROM resolved r JOIN bill_charges b
          ON r.object_type = 'lines' AND b.line_id = r.object_id AND b.issued <= r.resolved_on
        GROUP BY r.claim_key, b.invoice_id, b.account_id, b.currency
        QUALIFY dense_rank() OVER (PARTITION BY r.claim_key
                                   ORDER BY max(b.issued) DESC, b.invoice_id DESC) = 1""",
    """CREATE TEMP TABLE still AS
        SELECT DISTINCT r.claim_key FROM resolved r JOIN bill_charges b
          ON r.object_type = 'lines' AND b.line_id = r.object_id AND b.issued > r.resolved_on
         AND b.issued <= $today""",
    # The months of the bills of the same account issued since the resolution, up to today,
    # that itemise charges: a bill read without its charges (a summary) proves nothing gone.
    """CREATE TEMP TABLE after_months AS
        SELECT DISTINCT r.claim_key, i.period
        FROM resolved r JOIN (SELECT DISTINCT claim_key, account_id FROM before) a USING (claim_key)
        JOIN bill_invoices i ON i.account_id = a.account_id
         AND i.issued > r.resolved_on AND i.issued <= $today
        WHERE EXISTS (SELECT 1 FROM bill_charges x WHERE x.invoice_id = i.id)""",
    """CREATE TEMP TABLE checks AS
        WITH months AS (SELECT claim_key, count(*) AS months FROM after_months GROUP BY ALL)
        SELECT r.claim_key, r.object_type, r.object_id, r.policy_id, r.resolved_on, r.claim,
               r.claim_currency, b.invoice_id AS last_bill, b.account_id, b.monthly,
               coalesce(b.currency, r.claim_currency) AS currency, coalesce(m.months, 0) AS months,
               CASE WHEN r.object_type <> 'lines' OR NOT EXISTS (SELECT 1 FROM bill_charges)
                         THEN 'unverified'
                    WHEN r.resolved_on IS NULL THEN 'undated'
                    WHEN b.claim_key IS NULL THEN 'never_billed'
                    WHEN r.claim_key IN (SELECT claim_key FROM still) THEN 'still_billed'
                    WHEN m.months IS NULL THEN 'awaiting_bill'
                    ELSE 'avoided' END AS outcome
        FROM resolved r LEFT JOIN before b USING (claim_key) LEFT JOIN months m USING (claim_key)
        ORDER BY r.claim_key, currency""",
)

#: Every state's money, one row per source (a claim, a disputed item, a credit, a month avoided).
_MONEY_SQL = f"""
    SELECT 'identified' AS state, resource_type, resource_id, $month AS period, currency,
           savings AS amount, policy_id, NULL AS vendor_hint, NULL AS detail
    FROM carriers WHERE state IN ('open', 'in_progress')
    UNION ALL
    SELECT CASE WHEN {DISPUTED_SQL} THEN 'disputed' ELSE 'written_off' END,
           CASE WHEN charge_id IS NOT NULL THEN 'charges' ELSE 'invoices' END,
           coalesce(charge_id, invoice_id),
           CASE WHEN {DISPUTED_SQL} THEN coalesce(substr(bill_date, 1, 7), '(undated)')
                ELSE substr(closed_at, 1, 7) END,
           coalesce(currency, '{UNKNOWN_CURRENCY}'), unrecovered, policy_id, vendor, reference
    FROM (
        -- Per item, the claim not yet credited; credits not matched to an item (the dispute's
        -- alone) reduce its items in proportion, so the items add up to the dispute's remainder.
        SELECT *, item_left * greatest(claimed_total - credited_total, 0)
                  / nullif(sum(item_left) OVER (PARTITION BY dispute_id), 0) AS unrecovered
        FROM (SELECT *, greatest(claimed_amount - credited_amount, 0) AS item_left FROM items))
    WHERE ({DISPUTED_SQL} OR {WRITTEN_OFF_SQL}) AND unrecovered > 0.005
    UNION ALL
    SELECT 'recovered', CASE WHEN charge_id IS NOT NULL THEN 'charges'
                             WHEN invoice_id IS NOT NULL THEN 'invoices' ELSE 'disputes' END,
           coalesce(charge_id, invoice_id, reference), coalesce(substr(bill_date, 1, 7), '(undated)'),
           coalesce(currency, dispute_currency, '{UNKNOWN_CURRENCY}'), amount, policy_id, vendor,
           reference || ': credit ' || credit_charge_id || ' on bill ' || coalesce(invoice_number, '?')
           || ' (' || basis || ')'
    FROM credits
    UNION ALL
    SELECT 'avoided', k.object_type, k.object_id, a.period, k.currency, k.monthly, k.policy_id, NULL,
           'resolved ' || k.resolved_on || '; last billed on ' || k.last_bill
    FROM checks k JOIN after_months a USING (claim_key) WHERE k.outcome = 'avoided'
    UNION ALL
    SELECT 'unverified', object_type, object_id, coalesce(strftime(resolved_on, '%Y-%m'), '(undated)'),
           claim_currency, claim, policy_id, NULL, 'no charges for ' || object_type || ' in the snapshot'
    FROM checks WHERE outcome = 'unverified'"""

#: Counted once per resource and period: the sources of one state's money on one resource, in
#: one period and currency, become one row. ``money`` holds ``_MONEY_SQL``'s rows; the owners are
#: looked up for those resources only (a charge's owner joins its line, bill and account: done for
#: every charge of the estate, that was two thirds of the ledger's time on a million charges).
_LEDGER_SQL = """
    SELECT m.state, m.resource_type, m.resource_id, m.period, m.currency, round(sum(m.amount), 6) AS amount,
           o.cost_center, coalesce(o.vendor, m.vendor_hint) AS vendor,
           min(m.policy_id) AS policy_id, string_agg(DISTINCT m.detail, '; ') AS detail
    FROM money m
    LEFT JOIN (SELECT * FROM ledger_owners WHERE resource_id IN (SELECT resource_id FROM money)) o
      ON o.resource_type = m.resource_type AND o.resource_id = m.resource_id
    GROUP BY m.state, m.resource_type, m.resource_id, m.period, m.currency, o.cost_center,
             coalesce(o.vendor, m.vendor_hint)
    HAVING sum(m.amount) <> 0
    ORDER BY m.state, m.period, m.resource_type, m.resource_id, m.currency"""


def ledger(store: Store, snapshot: Snapshot, today: dt.date, access=None) -> Ledger:
    """The savings ledger of ``store``'s findings and disputes against ``snapshot``'s bills, as of
    ``today`` (bills issued after it are not looked at; identified money is in its month); of
    the findings and disputes ``access`` (engine/access.py) allows."""
    from ..access import EVERYTHING

    items, credits = _store_rows(store, access)
    con = resource_attributes.connect(snapshot)
    try:
        register_claims(con, store, snapshot, access or EVERYTHING)
        # As of ``today``: credits on bills issued by then, disputes filed (or drafted) by then.
        # A dispute's state is today's (its history has the dates of each change).
        con.register("all_items", items)
        con.register("all_credits", credits)
        day = today.isoformat()   # a date's own text (a view takes no parameters)
        con.execute("CREATE TEMP VIEW items AS SELECT * FROM all_items "
                    f"WHERE filed_at IS NULL OR substr(filed_at, 1, 10) <= '{day}'")
        con.execute("CREATE TEMP VIEW credits AS SELECT * FROM all_credits "
                    f"WHERE bill_date IS NULL OR bill_date <= '{day}'")
        _bill_views(con, snapshot)
        for step in _CHECK_STEPS:
            con.execute(step, {"today": today} if "$today" in step else None)
        con.execute(f"CREATE TEMP TABLE money AS {_MONEY_SQL}", {"month": today.strftime("%Y-%m")})
        types = tuple(r[0] for r in con.execute("SELECT DISTINCT resource_type FROM money").fetchall())
        resource_attributes.create_view(con, snapshot, "ledger_owners", types=types)
        table = con.sql(_LEDGER_SQL).to_arrow_table()
        checks = con.sql("SELECT * FROM checks").to_arrow_table()
    finally:
        con.close()
    return Ledger(table.cast(_ROW_SCHEMA) if table.num_rows else _ROW_SCHEMA.empty_table(),
                  checks, today)


#: The dashboard's totals, per store: (key, totals). A dashboard is served often and the ledger
#: reads every charge of the snapshot (a second for a million charges): it is counted again only
#: when the snapshot, the day, the history (every change to a finding or a dispute appends an
#: event) or the latest evaluation (new savings figures) changes.
_TOTALS: dict[str, tuple[tuple, dict]] = {}
_TOTALS_LOCK = threading.Lock()


def cached_totals(store: Store, snapshot: Snapshot, today: dt.date) -> dict[str, dict[str, float]]:
    """``ledger(store, snapshot, today).totals``, remembered until anything they count changes."""
    from sqlalchemy import func

    from ..store.queries import chain_position
    from ..store.tables import evaluations

    with store.read() as conn:
        key = (snapshot.id, today, *chain_position(conn),
               conn.execute(select(func.max(evaluations.c.id))).scalar())
    with _TOTALS_LOCK:
        hit = _TOTALS.get(store.url)
    if hit is not None and hit[0] == key:
        return hit[1]
    totals = ledger(store, snapshot, today).totals
    with _TOTALS_LOCK:
        _TOTALS[store.url] = (key, totals)
    return totals
