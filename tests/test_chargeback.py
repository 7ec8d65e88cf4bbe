"""The chargeback journal (engine/disputes/chargeback.py): charges of a real snapshot per period,
cost centre, vendor, account and currency; unallocated charges in their own row; safe in a
spreadsheet; from the CLI and the savings page."""

from __future__ import annotations

import csv
import io

import pytest

from dialtone.engine.disputes.chargeback import ChargebackError, csv_bytes, journal
from tests import ledgerkit


def _rows(table) -> list[tuple]:
    return [(r["period"], r["cost_center"], r["vendor"], r["account"], r["currency"], float(r["amount"]),
             r["charges"]) for r in table.to_pylist()]


@pytest.fixture
def billed(tmp_path, runner, cli, monkeypatch):
    return ledgerkit.collect(tmp_path, runner, cli, monkeypatch)


def test_a_month_is_allocated_to_the_lines_cost_centres_and_the_rest_is_unallocated(billed):
    _, snap = billed
    # Bill 1: L1 (CC-1) 60.00, L2 (CC-2) 40.00, and a late fee for no line: unallocated, last.
    assert _rows(journal(snap, "2026-04")) == [
        ("2026-04", "CC-1", "Verizon", "A1", "USD", 60.0, 1),
        ("2026-04", "CC-2", "Verizon", "A1", "USD", 40.0, 1),
        ("2026-04", "(unallocated)", "Verizon", "A1", "USD", 25.0, 1)]
    # Bill 3: L1 only, and the carrier's 20.00 credit (no line) nets in the unallocated row.
    assert _rows(journal(snap, "2026-06")) == [
        ("2026-06", "CC-1", "Verizon", "A1", "USD", 40.0, 1),
        ("2026-06", "(unallocated)", "Verizon", "A1", "USD", -20.0, 1)]
    assert journal(snap, "2031-01").num_rows == 0


def test_every_period_nets_to_the_charges_on_the_bills(billed):
    _, snap = billed
    import pyarrow.parquet as pq

    charges = pq.read_table(snap.parquet("charges")).column("amount").to_pylist()
    table = journal(snap)
    assert sorted({r["period"] for r in table.to_pylist()}) == ["2026-04", "2026-05", "2026-06", "2026-07"]
    assert round(sum(float(a) for a in table.column("amount").to_pylist()), 2) == round(sum(charges), 2)
    assert sum(table.column("charges").to_pylist()) == len(charges)


def test_a_period_that_is_not_a_month_is_refused_with_the_form_expected(billed):
    _, snap = billed
    with pytest.raises(ChargebackError, match=r"'2026-4' is not a month: expected YYYY-MM"):
        journal(snap, "2026-4")


def test_formula_like_cost_centres_are_neutralised_and_amounts_stay_numbers(tmp_path, runner, cli,
                                                                           monkeypatch):
    from tests.billkit import write_estate

    est = write_estate(tmp_path)
    lines = est / "lines.csv"
    lines.write_text(lines.read_text().replace("CC-2", "=HYPERLINK(\"http://x\")"))
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(cli, ["collect", "--as-of", "2026-05-10"]).exit_code == 0
    from dialtone.engine.config import load_config
    from dialtone.engine.snapshots import SnapshotStore

    snap = SnapshotStore(load_config(tmp_path / "dialtone.yaml").data_dir).get(None)
    rows = list(csv.DictReader(io.StringIO(csv_bytes(journal(snap, "2026-04")).decode())))
    # Sorted on the raw name ("=" before "C"), then the leading "'" keeps it text in a spreadsheet.
    assert [r["cost_center"] for r in rows] == ["'=HYPERLINK(\"http://x\")", "CC-1", "(unallocated)"]
    assert list(rows[0]) == ["period", "cost_center", "vendor", "account", "currency", "amount", "charges"]
    assert {r["amount"] for r in rows} == {"60.00", "40.00", "25.00"}


def test_the_cli_writes_the_journal_to_a_file_or_standard_output(billed, runner, cli, tmp_path):
    out = tmp_path / "april.csv"
    result = runner.invoke(cli, ["chargeback", "--period", "2026-04", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 journal rows for period 2026-04" in result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["cost_center"], r["amount"]) for r in rows] == [("CC-1", "60.00"), ("CC-2", "40.00"),
                                                               ("(unallocated)", "25.00")]
    printed = runner.invoke(cli, ["chargeback", "--period", "2026-04"])
    assert printed.exit_code == 0 and '"CC-2"' in printed.stdout
    bad = runner.invoke(cli, ["chargeback", "--period", "April"])
    assert bad.exit_code != 0 and "'April' is not a month" in bad.output and "Traceback" not in bad.output


def test_the_savings_page_offers_the_journal_for_download(tmp_path, runner, cli, monkeypatch):
    ws = ledgerkit.build(tmp_path, runner, cli, monkeypatch)
    try:
        client = ledgerkit.client(ws)
        assert 'action="/savings/chargeback.csv"' in client.get("/savings").get_data(as_text=True)
        got = client.get("/savings/chargeback.csv?period=2026-06")
        assert got.status_code == 200 and got.mimetype == "text/csv"
        assert "attachment; filename=chargeback-2026-06-" in got.headers["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(got.get_data(as_text=True))))
        assert [(r["cost_center"], r["amount"], r["charges"]) for r in rows] == [
            ("CC-1", "40.00", "1"), ("(unallocated)", "-20.00", "1")]
        every = client.get("/savings/chargeback.csv")
        assert every.status_code == 200 and len(every.get_data(as_text=True).splitlines()) == 1 + 8
        bad = client.get("/savings/chargeback.csv?period=06-2026")
        assert bad.status_code == 400 and "is not a month" in bad.get_data(as_text=True)
    finally:
        ws.store.close()


def test_a_line_without_a_cost_centre_is_charged_to_its_holders(tmp_path, runner, cli, monkeypatch):
    from dialtone.engine.config import load_config
    from dialtone.engine.snapshots import SnapshotStore
    from tests.billkit import write_estate
    from tests.conftest import write_csv

    monkeypatch.chdir(tmp_path)
    est = write_estate(tmp_path)
    write_csv(est, "people", ["id", "email", "status", "cost_center"],
              [["P1", "p1@example.com", "active", "CC-9"]])
    write_csv(est, "lines", ["id", "kind", "status", "number", "vendor", "account_id", "cost_center",
                             "assigned_to"],
              [["L1", "mobile", "active", "+15550000001", "Verizon", "A1", "CC-1", ""],
               ["L2", "mobile", "active", "+15550000002", "Verizon", "A1", " ", "P1"]])
    result = runner.invoke(cli, ["collect", "--as-of", "2026-05-10"])
    assert result.exit_code == 0, result.output
    snap = SnapshotStore(load_config(tmp_path / "dialtone.yaml").data_dir).get(None)
    # L2's own cost centre is blank: its holder's (CC-9) carries its 40.00, as the policy reads it.
    assert [(r[1], r[5]) for r in _rows(journal(snap, "2026-04"))] == [
        ("CC-1", 60.0), ("CC-9", 40.0), ("(unallocated)", 25.0)]
