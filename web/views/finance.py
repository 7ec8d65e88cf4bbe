"""Savings and contracts, for telecom and finance analysts: how much, where, what is pending."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template, request

from dialtone.engine.errors import DialtoneError

from ..security import READ, roles
from . import fields
from .scope import caller

bp = Blueprint("finance", __name__)

#: What each state of the money is called on the pages and in the CSV.
STATE_LABELS = {"open": "not started", "in_progress": "in progress", "identified": "identified",
                "excepted": "excepted", "realised": "realised"}
#: The savings ledger's money seen on bills (engine/disputes/ledger.py), as the page names it, in
#: the order it shows it, with what each means.
BILL_STATES = (
    ("recovered", "Recovered", "credits on later bills matched to disputes"),
    ("avoided", "Avoided", "a cancelled line's charges gone from its account's next bills, a month each"),
    ("disputed", "Disputed", "claimed from the carrier, not yet credited"),
    ("written_off", "Written off", "denied, withdrawn or settled for less: not recovered"),
)
#: What the bills showed for each resolved line, seat or subscription (``Ledger.checks``).
OUTCOME_LABELS = {"avoided": "gone from the next bills (avoided)",
                  "still_billed": "still charged on a later bill",
                  "awaiting_bill": "no bill of its account issued since",
                  "never_billed": "never charged on a bill before it was resolved",
                  "undated": "resolved before resolution dates were kept",
                  "unverified": "no bill can show it (unverified)"}
LEDGER_BREAKDOWNS = {"period": "Period", "cost_center": "Cost centre", "vendor": "Vendor",
                     "policy": "Policy"}
BREAKDOWN_LABELS = {"cost_center": "Cost centre", "vendor": "Vendor", "policy": "Policy"}
#: Spend rows shown before the rest is folded away: of the latest period, the largest per
#: currency, this many at most (the demo's 531 rows made the page 23,871 px tall).
SPEND_ROWS_SHOWN = 15


def _snapshot():
    from dialtone.engine.snapshots import SnapshotStore

    try:
        return SnapshotStore(current_app.extensions["dialtone.config"].data_dir).get(None)
    except DialtoneError:
        return None


def _store():
    return current_app.extensions["dialtone.store"]


@bp.route("/savings")
@roles(*READ)
def savings():
    from dialtone.engine.disputes.ledger import ledger
    from dialtone.engine.finance import currency_columns, finance_report
    from dialtone.engine.store.claims import store_savings

    snapshot = _snapshot()
    money = store_savings(_store(), caller())
    if snapshot is None:
        return render_template("savings.html", report=None, snapshot=None, money=money,
                               labels=STATE_LABELS, bills=None)
    # Contract dates are read as of the snapshot, like every policy evaluation.
    report = finance_report(_store(), snapshot, snapshot.as_of, access=caller())
    tables = {key: currency_columns(report.savings_by[key]) for key in BREAKDOWN_LABELS}
    book = ledger(_store(), snapshot, _store().today(), caller())
    bills = {"totals": book.totals, "states": BILL_STATES, "outcomes": _outcomes(book),
             "breakdowns": LEDGER_BREAKDOWNS,
             "tables": {key: currency_columns(_on_bills(book.rows(key))) for key in LEDGER_BREAKDOWNS}}
    return render_template("savings.html", report=report, snapshot=snapshot, money=money,
                           tables=tables, breakdowns=BREAKDOWN_LABELS, labels=STATE_LABELS, bills=bills,
                           spend_vendor=_split_periods(report.spend_by_vendor),
                           spend_cc=_split_periods(report.spend_by_cost_center))


def _on_bills(rows: list[dict]) -> list[dict]:
    """The ledger's rows with money seen on bills (or unverified): identified money has its own
    tables on the page."""
    keys = [k for k, _, _ in BILL_STATES] + ["unverified"]
    return [r for r in rows if any(r[k] for k in keys)]


def _outcomes(book) -> list[tuple[int, str]]:
    """How many resolved lines, seats and subscriptions had each outcome on the bills, and the
    outcome as the page says it (those that none had left out)."""
    import pyarrow.compute as pc

    counted = pc.value_counts(book.checks.column("outcome")).to_pylist()
    counts = {c["values"]: c["counts"] for c in counted}
    return [(counts[k], label) for k, label in OUTCOME_LABELS.items() if counts.get(k)]


def _split_periods(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """The rows shown (the latest period's, by currency, the largest first, at most
    ``SPEND_ROWS_SHOWN``) and the others, shown folded."""
    latest = max((str(r["period"]) for r in rows), default=None)
    current = sorted((r for r in rows if str(r["period"]) == latest),
                     key=lambda r: (str(r["currency"]), -(r["total"] or 0)))
    shown = current[:SPEND_ROWS_SHOWN]
    kept = {id(r) for r in shown}
    return shown, [r for r in rows if id(r) not in kept]


@bp.route("/savings.csv")
@roles(*READ)
def savings_csv():
    """Every savings row of the page: per breakdown, name and currency, the money per state."""
    from dialtone.engine import csvsafe
    from dialtone.engine.finance import finance_report

    snapshot = _snapshot()
    header = ["breakdown", "name", "currency", "not_started", "in_progress", "identified", "excepted",
              "realised", "objects", "also_reported"]
    rows = []
    if snapshot is not None:
        report = finance_report(_store(), snapshot, snapshot.as_of, access=caller())
        for key, label in BREAKDOWN_LABELS.items():
            rows += [[label.lower(), r["name"], r["currency"],
                      *(f"{r[s] or 0:.2f}" for s in ("open", "in_progress", "identified", "excepted",
                                                     "realised")),
                      r["findings"], r["also_reported"] or 0] for r in report.savings_by[key]]
    return Response(csvsafe.rows_to_text(header, rows), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=savings.csv"})


@bp.route("/savings/findings")
@roles(*READ)
def savings_findings():
    """The findings that carry the money of one row (or cell) of the savings page."""
    from dialtone.engine.finance import savings_findings as carriers

    # Each value bounded as every filter is (views/fields.py): a row's name is a cost centre,
    # vendor or policy id; a currency is an ISO 4217 code (or "unknown").
    by = request.args.get("by") or None
    raw_name = request.args.get("name")
    name = None if raw_name is None else fields.text_value(raw_name, "name", fields.MAX_NAME)
    currency = request.args.get("currency") or None
    if currency is not None:
        currency = fields.text_value(currency, "currency", 20)
    state = request.args.get("state") or "identified"
    if by is not None and (by not in BREAKDOWN_LABELS or name is None):
        raise DialtoneError("Choose a row of the savings page: by cost centre, vendor or policy.")
    if state not in STATE_LABELS:
        raise DialtoneError("Choose the savings not started, in progress, identified, excepted or "
                            "realised.")
    snapshot = _snapshot()
    rows, total = carriers(_store(), snapshot, by=by, name=name, currency=currency, state=state,
                           access=caller()) \
        if snapshot is not None else ([], 0)
    return render_template("savings_findings.html", rows=rows, total=total, by=by, name=name,
                           currency=currency, state=state, labels=STATE_LABELS,
                           breakdowns=BREAKDOWN_LABELS)


@bp.route("/savings/chargeback.csv")
@roles(*READ)
def chargeback_csv():
    """The chargeback journal of the latest snapshot's charges, one period (``period=YYYY-MM``)
    or every period (engine/disputes/chargeback.py). Before any snapshot, the header alone (as
    the savings rows' CSV)."""
    from dialtone.engine.disputes.chargeback import EMPTY, check_period, csv_bytes, journal

    period = check_period(request.args.get("period") or None)
    if caller().restricted:
        # Every charge of the estate, by cost centre: not a scope's findings (docs/access.md).
        abort(403, "The chargeback journal covers the whole estate's charges: an account limited "
                   "to a scope cannot download it.")
    snapshot = _snapshot()
    table = journal(snapshot, period) if snapshot is not None else EMPTY
    name = f"chargeback-{period or 'all'}-{snapshot.id if snapshot else 'no-snapshot'}.csv"
    return Response(csv_bytes(table), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={name}"})
