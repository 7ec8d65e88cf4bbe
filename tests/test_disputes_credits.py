"""Credits on later bills matched to filed disputes, and the store's disputes in the snapshot.

The estate is tests/billkit.py: bill 1 (2026-04-05) overbills charge C1 by 20.00; the dispute
claiming it is filed on 2026-05-10 (carrier reference VZ-77). Bill n is issued 2026-(3+n)-05,
so bill 2 (2026-05-05) predates the filing and bill 3 (2026-06-05) is the first after it.
"""

from __future__ import annotations

import csv
import datetime as dt

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from dialtone.engine.config import load_config
from dialtone.engine.disputes.build import open_from_findings
from dialtone.engine.disputes.credits import match_credits
from dialtone.engine.disputes.snapshot_source import SOURCE
from dialtone.engine.snapshots import SnapshotStore
from dialtone.engine.store import Store, workflow
from dialtone.engine.store import disputes as store_disputes
from dialtone.engine.store.tables import findings
from tests.billkit import ACCOUNT, add_bill, write_estate

ABOVE = "cost.charge-above-contract-rate"
FILED_AT = dt.datetime(2026, 5, 10, 12, 0, tzinfo=dt.UTC)


class Bills:
    """The billing estate with one dispute (DSP-000001: 20.00 on C1) filed on 2026-05-10."""

    def __init__(self, root, runner, cli, tolerance: float | None = None):
        self.root, self.runner, self.cli = root, runner, cli
        self.est = write_estate(root)
        if tolerance is not None:
            config = (root / "dialtone.yaml").read_text()
            (root / "dialtone.yaml").write_text(config + f"  credit_tolerance: {tolerance}\n")
        self.collect("2026-05-10")
        result = runner.invoke(cli, ["evaluate", "--policy", ABOVE])
        assert result.exit_code == 0, result.output
        self.config = load_config(root / "dialtone.yaml")
        self.store = Store.from_config(self.config, clock=lambda: FILED_AT)
        audit = workflow.audit_writer(self.store, "test")
        with self.store.read() as conn:
            finding = conn.execute(select(findings.c.id).where(findings.c.policy_id == ABOVE)).scalar_one()
        [self.did] = open_from_findings(self.store, self.snapshot(), [finding], self.config.disputes,
                                        "olivia", audit)
        store_disputes.file(self.store, self.did, "olivia", audit, carrier_reference="VZ-77")

    def collect(self, as_of: str):
        result = self.runner.invoke(self.cli, ["collect", "--as-of", as_of])
        assert result.exit_code == 0, result.output
        return result

    def snapshot(self):
        return SnapshotStore(load_config(self.root / "dialtone.yaml").data_dir).get(None)

    def credit_line(self, n: int, charge_id: str, amount: float, *, reference: str = "",
                    code: str = "PLAN", currency: str = "USD") -> None:
        """Another credit line on bill ``n`` (already written by ``add_bill``)."""
        with (self.est / "charges.csv").open("a", newline="") as fh:
            csv.writer(fh).writerow([charge_id, f"I{n}", "", code, "credit", "Adjustment", "", "",
                                     str(-amount), currency, "", "", reference])

    def match(self, as_of: str = "2026-07-10"):
        self.collect(as_of)
        return match_credits(self.store, self.snapshot(), self.config.disputes)

    def dispute(self) -> dict:
        return store_disputes.get(self.store, self.did)


@pytest.fixture
def bills(tmp_path, runner, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    made = Bills(tmp_path, runner, cli)
    yield made
    made.store.close()


def test_a_credit_quoting_the_disputes_reference_credits_it(bills):
    add_bill(bills.est, 2)
    add_bill(bills.est, 3, credit=20.0, reference="  dsp-000001 ")   # trimmed, case-blind
    report = bills.match()
    assert report.recorded == 1
    [m] = report.matches
    assert (m.charge_id, m.basis, m.amount, m.bill_date, m.invoice_number) == (
        "C3-CR", "reference", 20.0, "2026-06-05", "INV-3")
    d = bills.dispute()
    assert (d["status"], d["credited_total"], d["items"][0]["credited_amount"]) == ("credited", 20.0, 20.0)
    assert str(report) == "1 credit matched to 1 dispute (USD 20.00)"
    kinds = [e["kind"] for e in store_disputes.history(bills.store, bills.did)]
    assert kinds[-1] == "dispute_credited"


def test_a_credit_quoting_the_carriers_reference_credits_it(bills):
    add_bill(bills.est, 3, credit=20.0, reference="VZ-77")
    [m] = bills.match().matches
    assert (m.basis, m.amount) == ("reference", 20.0)
    assert bills.dispute()["status"] == "credited"


def test_a_credit_without_reference_matches_by_account_code_and_amount_within_tolerance(
        tmp_path, runner, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bills = Bills(tmp_path, runner, cli, tolerance=0.5)
    try:
        add_bill(bills.est, 3, credit=19.6)                 # 0.40 short of the claim: inside 0.50
        [m] = bills.match().matches
        assert (m.basis, m.amount, m.item_id) == ("account_code_amount", 19.6,
                                                  bills.dispute()["items"][0]["id"])
        # 19.60 of 20.00 is the whole claim within the tolerance.
        assert (bills.dispute()["status"], bills.dispute()["credited_total"]) == ("credited", 19.6)
    finally:
        bills.store.close()


def test_a_credit_outside_the_tolerance_or_of_another_code_is_not_matched(bills):
    add_bill(bills.est, 3, credit=18.0)                      # 2.00 short: not this claim
    bills.credit_line(3, "C3-CR2", 20.0, code="ROAM")        # the right amount, another charge code
    report = bills.match()
    assert (report.recorded, report.matches) == (0, [])
    assert bills.dispute()["status"] == "filed"
    assert str(report) == "no new credits matched to disputes"


def test_a_credit_on_a_bill_issued_before_the_filing_is_not_matched(bills):
    add_bill(bills.est, 2, credit=20.0, reference="DSP-000001")   # bill of 2026-05-05; filed 05-10
    assert bills.match().recorded == 0
    assert bills.dispute()["status"] == "filed"


def test_two_credits_for_one_charge_credit_it_up_to_its_claim(bills):
    add_bill(bills.est, 3, credit=20.0)                  # by code and amount: the whole claim
    add_bill(bills.est, 4, credit=20.0)                  # the same again: nothing left to claim
    report = bills.match()
    assert [m.charge_id for m in report.matches] == ["C3-CR"]
    assert bills.dispute()["credited_total"] == 20.0


def test_credits_by_reference_are_capped_at_what_is_left_of_the_claim(bills):
    add_bill(bills.est, 3, credit=15.0, reference="DSP-000001")
    add_bill(bills.est, 4, credit=15.0, reference="DSP-000001")
    report = bills.match()
    assert [(m.charge_id, m.amount) for m in report.matches] == [("C3-CR", 15.0), ("C4-CR", 5.0)]
    d = bills.dispute()
    assert (d["status"], d["credited_total"]) == ("credited", 20.0)


def test_a_partial_credit_then_the_rest_by_code_and_amount(bills):
    add_bill(bills.est, 3, credit=12.0, reference="VZ-77")
    assert bills.match("2026-06-10").recorded == 1
    assert bills.dispute()["status"] == "partially_credited"
    add_bill(bills.est, 4, credit=8.0)                   # no reference: 8.00 is what is left
    [m] = bills.match("2026-07-10").matches
    assert (m.charge_id, m.basis, m.amount) == ("C4-CR", "account_code_amount", 8.0)
    assert bills.dispute()["status"] == "credited"


def test_matching_the_same_snapshot_again_records_nothing(bills):
    add_bill(bills.est, 3, credit=20.0, reference="DSP-000001")
    assert bills.match().recorded == 1
    again = match_credits(bills.store, bills.snapshot(), bills.config.disputes)
    assert (again.recorded, again.matches) == (0, [])
    kinds = [e["kind"] for e in store_disputes.history(bills.store, bills.did)]
    assert kinds.count("dispute_credited") == 1
    assert bills.dispute()["credited_total"] == 20.0


def test_a_credit_quoting_a_dispute_in_another_currency_is_reported_not_matched(bills):
    add_bill(bills.est, 3)
    bills.credit_line(3, "C3-EUR", 20.0, reference="DSP-000001", currency="EUR")
    report = bills.match()
    assert report.recorded == 0
    assert report.unmatched == ["credit C3-EUR on invoice INV-3 quotes DSP-000001 but is in EUR, the "
                                "dispute in USD"]
    assert "1 not matched" in str(report)
    assert bills.dispute()["status"] == "filed"


def _disputes(snapshot) -> list[dict]:
    rows = pq.read_table(snapshot.parquet("disputes")).to_pylist()
    return sorted(rows, key=lambda r: r["id"])


def test_the_stores_disputes_are_in_the_snapshot_one_row_per_disputed_charge(bills):
    bills.collect("2026-05-11")
    snap = bills.snapshot()
    [row] = _disputes(snap)
    item = bills.dispute()["items"][0]["id"]
    assert row["id"] == f"DSP-000001/{item}"
    assert {k: str(row[k]) if isinstance(row[k], dt.date) else row[k] for k in (
        "reference", "carrier_reference", "account_id", "charge_id", "invoice_id", "charge_code",
        "opened_on", "filed_on", "acknowledged_on", "deadline", "amount", "currency",
        "credited_amount", "credited_on", "status")} == {
        "reference": "DSP-000001", "carrier_reference": "VZ-77", "account_id": ACCOUNT,
        "charge_id": "C1", "invoice_id": "I1", "charge_code": "PLAN", "opened_on": "2026-05-10",
        "filed_on": "2026-05-10", "acknowledged_on": None, "deadline": "2026-08-03", "amount": 20.0,
        "currency": "USD", "credited_amount": 0.0, "credited_on": None, "status": "filed"}
    meta = snap.manifest["sources"][SOURCE]
    assert (meta["collector"], meta["status"], meta["rows"]) == (SOURCE, "collected", {"disputes": 1})
    shown = bills.runner.invoke(bills.cli, ["snapshots", "show", "latest"])
    assert shown.exit_code == 0, shown.output
    assert f"{SOURCE} [{SOURCE}] sha256:" in shown.output and "store:disputes  sha256:" in shown.output
    # Once credited, the next snapshot says so.
    add_bill(bills.est, 3, credit=20.0, reference="DSP-000001")
    bills.match()
    bills.collect("2026-07-11")
    [row] = _disputes(bills.snapshot())
    assert (row["status"], row["credited_amount"], str(row["credited_on"])) == (
        "credited", 20.0, "2026-06-05")


def test_store_disputes_are_merged_with_a_sources_disputes(bills):
    from tests.conftest import write_csv

    write_csv(bills.est, "disputes", ["id", "account_id", "opened_on", "amount", "status"],
              [["D-PHONE-1", ACCOUNT, "2026-03-01", "12", "open"]])
    bills.collect("2026-05-11")
    rows = _disputes(bills.snapshot())
    assert [(r["id"], r["status"]) for r in rows] == [
        ("D-PHONE-1", "open"), (f"DSP-000001/{bills.dispute()['items'][0]['id']}", "filed")]


def test_a_collect_without_a_store_works_and_makes_none(tmp_path, runner, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_estate(tmp_path)
    result = runner.invoke(cli, ["collect", "--as-of", "2026-05-10"])
    assert result.exit_code == 0, result.output
    config = load_config(tmp_path / "dialtone.yaml")
    snap = SnapshotStore(config.data_dir).get(None)
    assert "disputes" not in snap.entities and SOURCE not in snap.manifest["sources"]
    assert not (config.data_dir / "dialtone.db").exists()   # collecting never creates a store


def test_an_empty_store_adds_nothing(tmp_path, runner, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_estate(tmp_path)
    assert runner.invoke(cli, ["collect", "--as-of", "2026-05-10"]).exit_code == 0
    assert runner.invoke(cli, ["evaluate", "--policy", ABOVE]).exit_code == 0   # makes the store
    assert runner.invoke(cli, ["collect", "--as-of", "2026-05-11"]).exit_code == 0
    snap = SnapshotStore(load_config(tmp_path / "dialtone.yaml").data_dir).get(None)
    assert "disputes" not in snap.entities and SOURCE not in snap.manifest["sources"]


def test_a_store_that_cannot_be_read_leaves_the_collect_going(tmp_path, runner, cli, monkeypatch):
    import sqlite3

    monkeypatch.chdir(tmp_path)
    write_estate(tmp_path)
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE something_else (x)").connection.close()
    monkeypatch.setenv("DIALTONE_DATABASE_URL", f"sqlite:///{foreign}")
    result = runner.invoke(cli, ["collect", "--as-of", "2026-05-10"])
    assert result.exit_code == 0, result.output
    assert "source 'dialtone-disputes': the store's disputes could not be read" in result.output
    snap = SnapshotStore(load_config(tmp_path / "dialtone.yaml").data_dir).get(None)
    meta = snap.manifest["sources"][SOURCE]
    assert meta["status"] == "failed" and "charges" in snap.entities


def test_the_configuration_example_in_the_docs_sets_the_tolerance(tmp_path):
    from pathlib import Path

    from tests.test_docs import yaml_blocks

    [block] = [b for b in yaml_blocks(Path(__file__).parent.parent / "docs" / "disputes.md")
               if "credit_tolerance: 0.50" in b]
    (tmp_path / "dialtone.yaml").write_text(block, encoding="utf-8")
    assert load_config(tmp_path / "dialtone.yaml").disputes.credit_tolerance == 0.5
