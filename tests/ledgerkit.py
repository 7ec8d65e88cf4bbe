"""A billed estate with findings and a dispute for the savings ledger's tests (and its pages').

The estate (tests/billkit.py) is one Verizon account A1 in USD, lines L1 (CC-1) and L2 (CC-2).
Bills: 1 (2026-04-05) overbills L1 60.00 against 40.00 and charges a 25.00 late fee (C3, no
line); 2 (2026-05-05) bills both lines 40.00; 3 (2026-06-05) and 4 (2026-07-05) bill only L1 (L2
was cancelled on 2026-05-20), and bill 3 carries a 20.00 credit for dispute DSP-000001.

Findings (recorded as an evaluation of these claims): the overcharge C1 (240.00 a year) and the
late fee C3 (25.00), open; L2 claimed by two policies (480.00 a year each: one line), resolved on
2026-05-20; L1 claimed as an orphan (300.00), resolved the same day although still billed; a seat
S1 (EUR 120.00), resolved, which no bill shows; and a line L9 (EUR 100.00), open.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from types import SimpleNamespace

from dialtone.engine.store import disputes as store_disputes
from dialtone.engine.store import workflow
from dialtone.engine.store.disputes import CreditMatch, ItemSpec
from dialtone.engine.store.sync import record_evaluation
from dialtone.engine.store.tables import findings
from tests.billkit import ACCOUNT, VENDOR, add_bill, write_estate
from tests.storekit import PROVENANCE, Clock, evaluation, make_store, policy_set, snapshot, store_url
from tests.test_savings import claims

ABOVE, LATE = "cost.charge-above-contract-rate", "cost.late-payment-fees"
LEAVER, IDLE, ORPHAN = "cost.leaver-lines", "cost.zero-usage-lines", "cost.orphan-lines"
SEATS, ADDON = "cost.unused-licenses", "cost.international-addon-unused"
RESOLVED_ON = dt.date(2026, 5, 20)


def add_bill_without_l2(est: Path, n: int, *, credit: float | None = None, reference: str = "") -> None:
    """Bill ``n`` (month 2026-04 + n - 1) charging L1 only, with a credit line if asked."""
    period = f"2026-{3 + n:02d}"
    with (est / "invoices.csv").open("a", newline="") as fh:
        csv.writer(fh).writerow([f"I{n}", ACCOUNT, f"INV-{n}", period, f"{period}-05", f"{period}-25",
                                 f"{period}-10", f"{period}-12", "40", "USD"])
    rows = [[f"C{n}-1", f"I{n}", "L1", "PLAN", "recurring", "Plan", "1", "40", "40", "USD",
             f"{period}-01", f"{period}-28", ""]]
    if credit is not None:
        rows.append([f"C{n}-CR", f"I{n}", "", "PLAN", "credit", "Billing adjustment", "", "",
                     str(-credit), "USD", "", "", reference])
    with (est / "charges.csv").open("a", newline="") as fh:
        csv.writer(fh).writerows(rows)


def collect(root: Path, runner, cli, monkeypatch, as_of: str = "2026-07-10"):
    """Bills 1 to 4 collected into a real snapshot; returns (config, snapshot)."""
    from dialtone.engine.config import load_config
    from dialtone.engine.snapshots import SnapshotStore

    monkeypatch.chdir(root)
    est = write_estate(root)
    add_bill(est, 2)
    add_bill_without_l2(est, 3, credit=20.0, reference="DSP-000001")
    add_bill_without_l2(est, 4)
    result = runner.invoke(cli, ["collect", "--as-of", as_of])
    assert result.exit_code == 0, result.output
    config = load_config(root / "dialtone.yaml")
    return config, SnapshotStore(config.data_dir).get(None)


def record_findings(store, tmp_path: Path) -> dict[tuple[str, str], int]:
    """The findings above, recorded and worked as the module says; their ids by (policy, resource)."""
    outcomes = [
        claims(ABOVE, [("C1", 240.0, "charges:C1", "USD")]),
        claims(LATE, [("C3", 25.0, "charges:C3", "USD")]),
        claims(LEAVER, [("L2", 480.0, "lines:L2", "USD")]),
        claims(IDLE, [("L2", 480.0, "lines:L2", "USD")]),
        claims(ORPHAN, [("L1", 300.0, "lines:L1", "USD")]),
        claims(SEATS, [("S1", 120.0, "licenses:S1", "EUR")]),
        claims(ADDON, [("L9", 100.0, "lines:L9", "EUR")]),
    ]
    fake = snapshot(tmp_path / "evaluated", "S1", dt.date(2026, 5, 10))
    record_evaluation(store, evaluation(fake, outcomes),
                      policy_set(ABOVE, LATE, LEAVER, IDLE, ORPHAN, SEATS, ADDON), provenance=PROVENANCE)
    with store.read() as conn:
        ids = {(p, r): i for i, p, r in conn.execute(
            findings.select().with_only_columns(findings.c.id, findings.c.policy_id, findings.c.resource_id))}
    audit = workflow.audit_writer(store, "test")
    store.clock.set_day(RESOLVED_ON)
    for key in ((LEAVER, "L2"), (IDLE, "L2"), (ORPHAN, "L1"), (SEATS, "S1")):
        workflow.resolve_manual(store, ids[key], "cancelled with the carrier", "olivia", audit)
    return ids


def open_dispute(store, ids) -> int:
    """DSP-000001 on account A1: C1's 20.00 overcharge and C3's 25.00 late fee, filed."""
    audit = workflow.audit_writer(store, "test")

    def item(policy, charge, billed, contracted, claimed):
        return ItemSpec(ids[(policy, charge)], policy, charge, "I1", "INV-1", "2026-04-05",
                        "L1" if charge == "C1" else None, "PLAN" if charge == "C1" else "LATE", None,
                        billed, contracted, claimed, "billed in error")

    did = store_disputes.open_dispute(
        store, [item(ABOVE, "C1", 60.0, 40.0, 20.0), item(LATE, "C3", 25.0, None, 25.0)],
        account_id=ACCOUNT, vendor=VENDOR, currency="USD", window_days=120, actor="olivia", audit=audit)
    store_disputes.file(store, did, "olivia", audit, today=dt.date(2026, 5, 10))
    return did


def credit_c1(store, did: int) -> None:
    """Bill 3's 20.00 credit, matched to C1's item by the reference the carrier echoed."""
    item = next(i for i in store_disputes.get(store, did)["items"] if i["charge_id"] == "C1")
    store_disputes.apply_credits(store, [CreditMatch(did, item["id"], "C3-CR", "I3", "INV-3", "2026-06-05",
                                                     20.0, "USD", "reference")], "S3")


def build(tmp_path: Path, runner, cli, monkeypatch, *, credited: bool = True) -> SimpleNamespace:
    """The whole story above: a real snapshot of bills 1-4, the store, the findings, the dispute."""
    config, snap = collect(tmp_path, runner, cli, monkeypatch)
    store = make_store(store_url("sqlite", tmp_path), Clock(dt.datetime(2026, 5, 10, 9, tzinfo=dt.UTC)))
    ids = record_findings(store, tmp_path)
    did = open_dispute(store, ids)
    if credited:
        store.clock.set_day(dt.date(2026, 6, 8))
        credit_c1(store, did)
    return SimpleNamespace(config=config, snapshot=snap, store=store, ids=ids, dispute=did)


def client(ws: SimpleNamespace):
    """A signed-in auditor's test client of the web application over ``ws``."""
    from dialtone.engine.store.accounts import add_user
    from dialtone.web.app import create_app
    from tests.webkit import PASSWORD, login

    add_user(ws.store, "auditor", "auditor", PASSWORD)
    app = create_app(ws.config, store=ws.store, testing=True, key="k", secure_cookies=False)
    c = app.test_client()
    assert login(c, "auditor").status_code == 302
    return c
