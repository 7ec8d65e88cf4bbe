"""A billing estate for dispute tests: one carrier account on a contract rate card, monthly bills.

Bill 1 (2026-04) overbills line L1's plan: 60.00 against the contracted 40.00 (finding:
cost.charge-above-contract-rate, 20.00 overbilled), and charges a late fee of 25.00 (finding:
cost.late-payment-fees). Later bills are written by ``add_bill``, with or without a credit.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import write_csv

ACCOUNT, VENDOR = "A1", "Verizon"
CONFIG = """\
sources:
  estate: {collector: csv, path: ./estate}
disputes:
  window_days: 90
  windows: {Verizon: 120}
"""
CHARGE_HEADER = ["id", "invoice_id", "line_id", "charge_code", "charge_type", "description", "quantity",
                 "unit_rate", "amount", "currency", "period_start", "period_end", "dispute_reference"]


def write_estate(root: Path) -> Path:
    """The estate folder with bill 1; returns it."""
    est = root / "estate"
    (root / "dialtone.yaml").write_text(CONFIG)
    write_csv(est, "lines", ["id", "kind", "status", "number", "vendor", "account_id", "monthly_cost",
                             "currency", "cost_center", "activated_on"],
              [["L1", "mobile", "active", "+15550000001", VENDOR, ACCOUNT, "40", "USD", "CC-1",
                "2024-01-01"],
               ["L2", "mobile", "active", "+15550000002", VENDOR, ACCOUNT, "40", "USD", "CC-2",
                "2024-01-01"]])
    write_csv(est, "contracts", ["id", "vendor", "started_on", "ends_on", "currency"],
              [["K1", VENDOR, "2024-01-01", "2028-12-31", "USD"]])
    write_csv(est, "rates", ["contract_id", "charge_code", "unit_rate", "unit", "currency",
                            "effective_from", "effective_to"],
              [["K1", "PLAN", "40", "month", "USD", "2024-01-01", ""]])
    write_csv(est, "accounts", ["id", "vendor", "account_number", "contract_id", "currency"],
              [[ACCOUNT, VENDOR, "111-222", "K1", "USD"]])
    write_csv(est, "invoices", ["id", "account_id", "invoice_number", "period", "issued_on", "due_on",
                                "approved_on", "paid_on", "total", "currency"],
              [["I1", ACCOUNT, "INV-1", "2026-04", "2026-04-05", "2026-04-25", "2026-04-20", "2026-05-02",
                "125", "USD"]])
    write_csv(est, "charges", CHARGE_HEADER, [
        ["C1", "I1", "L1", "PLAN", "recurring", "Plan", "1", "60", "60", "USD", "2026-04-01", "2026-04-30",
         ""],
        ["C2", "I1", "L2", "PLAN", "recurring", "Plan", "1", "40", "40", "USD", "2026-04-01", "2026-04-30",
         ""],
        ["C3", "I1", "", "LATE", "late_fee", "Late payment charge", "", "", "25", "USD", "", "", ""],
    ])
    return est


def add_bill(est: Path, n: int, *, credit: float | None = None, reference: str = "",
             code: str = "PLAN") -> None:
    """Bill ``n`` (month 2026-04 + n - 1) at the contracted rate, with a credit line if asked."""
    import csv

    month = 3 + n
    period = f"2026-{month:02d}"
    with (est / "invoices.csv").open("a", newline="") as fh:
        csv.writer(fh).writerow([f"I{n}", ACCOUNT, f"INV-{n}", period, f"{period}-05", f"{period}-25",
                                 f"{period}-10", f"{period}-12", "80", "USD"])
    rows = [[f"C{n}-1", f"I{n}", "L1", "PLAN", "recurring", "Plan", "1", "40", "40", "USD",
             f"{period}-01", f"{period}-28", ""],
            [f"C{n}-2", f"I{n}", "L2", "PLAN", "recurring", "Plan", "1", "40", "40", "USD",
             f"{period}-01", f"{period}-28", ""]]
    if credit is not None:
        rows.append([f"C{n}-CR", f"I{n}", "", code, "credit", "Billing adjustment", "", "",
                     str(-credit), "USD", "", "", reference])
    with (est / "charges.csv").open("a", newline="") as fh:
        csv.writer(fh).writerows(rows)
