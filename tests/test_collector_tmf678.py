"""The tmf678 collector: exported TMF678 JSON files, and a loopback server that answers as a
TMF678 v4 API does (offset/limit paging, X-Total-Count, OAuth2 client credentials)."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import textwrap
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from werkzeug import Request, Response

import dialtone.collectors.tmf678 as tmf678_module
from dialtone.collectors.tmf678 import JsonSyntaxError, Tmf678Collector, json_items
from dialtone.engine.collect import collect
from dialtone.engine.collector_api import check_settings, collectors
from dialtone.engine.config import load_config
from dialtone.engine.errors import CollectError, ConfigError
from dialtone.engine.yamlio import safe_load

from .collectorkit import rejects, rows
from .conftest import AS_OF

ROOT = Path(__file__).parents[1]
SAMPLES = ROOT / "tests" / "samples" / "tmf678"
V5_SAMPLE = "tmf678-v5-customerbill-sample.json"
API = "/tmf-api/customerBillManagement/v4"
CLIENT_ID = "dialtone-test"
CLIENT_SECRET = "s3cret-client-value"
SECRET_ENV = "DIALTONE_TEST_TMF_SECRET"
ACCESS_TOKEN = "tok-4f1c2e"
BILL_1, BILL_2 = "CB-2026-04-7001", "CB-2026-04-7002"


@pytest.fixture(autouse=True)
def tmf678_registered(monkeypatch):
    """Until the entry point is installed, the registry learns the collector here."""
    if "tmf678" not in collectors.names():
        monkeypatch.setitem(collectors._items, "tmf678", Tmf678Collector)


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    got: list[float] = []
    monkeypatch.setattr(Tmf678Collector, "sleep", staticmethod(got.append))
    return got


def sample(name: str) -> list | dict:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


def write_config(tmp_path: Path, settings: str) -> None:
    (tmp_path / "dialtone.yaml").write_text(
        "sources:\n  bills:\n    collector: tmf678\n    vendor: acme-telecom\n"
        + textwrap.indent(textwrap.dedent(settings), "    "), encoding="utf-8")


def run(tmp_path: Path):
    return collect(load_config(tmp_path / "dialtone.yaml"), as_of=AS_OF)


def write_json(path: Path, value) -> Path:
    path.write_text(json.dumps(value, indent=2), encoding="utf-8")
    return path


def bill(bill_id: str, **extra) -> dict:
    return {"id": bill_id, "billNo": f"N-{bill_id}", "billingAccount": {"id": "BA-9"}, "state": "sent",
            "taxExcludedAmount": {"unit": "EUR", "value": 10},
            "taxIncludedAmount": {"unit": "EUR", "value": 10}, **extra}


def rate(rate_id: str, bill_id: str, amount=10, unit: str = "EUR", **extra) -> dict:
    return {"id": rate_id, "bill": {"id": bill_id}, "type": "recurring",
            "taxExcludedAmount": {"unit": unit, "value": amount}, "@type": "AppliedCustomerBillingRate",
            **extra}


# -- files ------------------------------------------------------------------------------------
def test_the_published_v5_sample_is_read_with_its_quirks(tmp_path):
    shutil.copy(SAMPLES / V5_SAMPLE, tmp_path / V5_SAMPLE)
    write_config(tmp_path, f"path: {V5_SAMPLE}\n")
    result = run(tmp_path)
    assert result.rejects == 0
    assert result.rows == {"accounts": 1, "invoices": 1}
    (invoice,) = rows(result, "invoices")
    assert invoice == {**invoice, "id": "CB-123", "account_id": "A0815", "invoice_number": "780123456",
                       # "…56.982z": a lower-case Z is RFC 3339; the date is the bill's day as written
                       "issued_on": dt.date(2020, 1, 5), "due_on": dt.date(2020, 1, 15),
                       # amountDue is 0.00 (the bill is settled): the total is taxIncludedAmount
                       "total": 50.0, "currency": "EUR", "period": None,
                       "source_position": f"{V5_SAMPLE}#"}
    (account,) = rows(result, "accounts")
    assert account == {**account, "id": "A0815", "vendor": "acme-telecom", "account_number": "A0815",
                       "currency": "EUR"}
    # "status" where the model says "state" is read, and said; the rates are not in the file.
    assert any(f"{V5_SAMPLE}: bills give their state as 'status'" in w for w in result.warnings)
    assert any("1 bill(s) with no applied billing rates read: their totals are not reconciled" in w
               for w in result.warnings)


def test_v4_bills_and_rates_from_a_folder_fill_invoices_accounts_and_charges(tmp_path):
    folder = tmp_path / "bills"
    folder.mkdir()
    for name in ("v4-bills.json", "v4-rates.json"):
        shutil.copy(SAMPLES / name, folder / name)
    write_config(tmp_path, "path: bills\n")
    result = run(tmp_path)
    assert result.rejects == 0
    assert result.rows == {"accounts": 2, "charges": 13, "invoices": 2}
    # Both bills reconcile: no reconciliation warning; the unbilled rate is said, not dropped silently.
    assert not [w for w in result.warnings if "reconcile" in w]
    assert any("1 applied billing rate(s) with isBilled false left out" in w for w in result.warnings)

    invoices = {r["id"]: r for r in rows(result, "invoices")}
    assert invoices[BILL_1] == {**invoices[BILL_1], "account_id": "BA-100", "invoice_number": "INV-7001",
                                "period": "2026-04", "issued_on": dt.date(2026, 5, 2),
                                "due_on": dt.date(2026, 6, 1), "total": 177.52, "currency": "EUR",
                                "source_position": "v4-bills.json#/0"}
    charges = {r["id"]: r for r in rows(result, "charges")}
    assert charges["ACBR-1"] == {**charges["ACBR-1"], "invoice_id": BILL_1, "line_id": "+4915112345678",
                                 "charge_code": "PO-BM20", "charge_type": "recurring",
                                 "description": "Monthly plan fee", "amount": 100.0, "currency": "EUR",
                                 "period_start": dt.date(2026, 4, 1), "period_end": dt.date(2026, 4, 30),
                                 "dispute_reference": None, "source_position": "v4-rates.json#/0"}
    assert charges["ACBR-1:tax:1"] == {**charges["ACBR-1:tax:1"], "charge_type": "tax", "charge_code": "VAT",
                                       "amount": 19.0, "description": "tax VAT 19%",
                                       "source_position": "v4-rates.json#/0/appliedTax/0"}
    assert {k: charges[k]["charge_type"] for k in ("ACBR-2", "ACBR-3", "ACBR-4", "ACBR-5", "ACBR-8")} == {
        "ACBR-2": "usage", "ACBR-3": "one_time", "ACBR-4": "credit", "ACBR-5": "late_fee",
        "ACBR-8": "surcharge"}
    credit = charges["ACBR-4"]
    assert (credit["amount"], credit["dispute_reference"]) == (-12.53, "DSP-0042")
    # Without a line characteristic the line is the product's id (line_from_product: id).
    assert charges["ACBR-3"]["line_id"] == "PRD-5552"
    # A midnight end is when the period ends: the last day covered is the day before.
    assert charges["ACBR-7"]["period_end"] == dt.date(2026, 4, 30)
    # Taxed but not itemised: the difference is a tax charge of its own.
    assert (charges["ACBR-8:tax"]["amount"], charges["ACBR-8:tax"]["source_position"]) == (
        0.38, "v4-rates.json#/7/taxIncludedAmount")
    assert "ACBR-6" not in charges
    assert {r["id"]: r["vendor"] for r in rows(result, "accounts")} == {"BA-100": "acme-telecom",
                                                                       "BA-200": "acme-telecom"}
    meta = result.snapshot.manifest["sources"]["bills"]
    assert set(meta["inputs"]) == {"v4-bills.json", "v4-rates.json"}


def test_taxes_included_records_each_charge_without_its_taxes_and_them_beside_it(tmp_path):
    # Contract rates are without tax: the plan recorded at 119.00 with its VAT, against a
    # contracted 100.00, claimed the 19.00 VAT as overbilling. The rate's taxes are one charge.
    for name in ("v4-bills.json", "v4-rates.json"):
        shutil.copy(SAMPLES / name, tmp_path / name)
    write_config(tmp_path, "path: .\nfiles: 'v4-*.json'\ntaxes: included\nline_from_product: none\n")
    result = run(tmp_path)
    assert result.rejects == 0
    charges = {r["id"]: r for r in rows(result, "charges")}
    assert charges["ACBR-1"]["amount"] == 100.0
    assert charges["ACBR-1:tax"] == {**charges["ACBR-1:tax"], "charge_type": "tax", "charge_code": "VAT",
                                     "amount": 19.0, "description": "tax VAT 19%",
                                     "line_id": "+4915112345678", "invoice_id": BILL_1,
                                     "period_start": dt.date(2026, 4, 1),
                                     "source_position": "v4-rates.json#/0/taxIncludedAmount"}
    assert (charges["ACBR-4"]["amount"], charges["ACBR-4:tax"]["amount"]) == (-12.53, -2.38)
    assert charges["ACBR-8:tax"]["amount"] == 0.38
    # Untaxed (5.00 both ways): no tax charge. Seven rates, six of them taxed.
    assert "ACBR-5:tax" not in charges and result.rows["charges"] == 13
    assert charges["ACBR-3"]["line_id"] is None
    # The charges with their taxes still add up to each bill's taxIncludedAmount.
    assert not [w for w in result.warnings if "reconcile" in w]


@pytest.mark.parametrize("taxes", ["items", "included"])
def test_a_rate_given_with_its_taxes_is_recorded_without_them(tmp_path, taxes):
    # A BSS giving rates only as taxIncludedAmount with their appliedTax: the charge is the
    # amount less its taxes. One with neither taxExcludedAmount nor appliedTax cannot be split:
    # kept as given, and the collect says so.
    write_json(tmp_path / "bills.json", [bill("B1", taxExcludedAmount={"unit": "EUR", "value": 111.9},
                                              taxIncludedAmount={"unit": "EUR", "value": 130.9})])
    vat = {"taxCategory": "VAT", "taxRate": 0.19, "taxAmount": {"unit": "EUR", "value": 19}}
    write_json(tmp_path / "rates.json", [
        {"id": "R1", "bill": {"id": "B1"}, "type": "recurring", "appliedTax": [vat],
         "taxIncludedAmount": {"unit": "EUR", "value": 119}},
        {"id": "R2", "bill": {"id": "B1"}, "type": "recurring",
         "taxIncludedAmount": {"unit": "EUR", "value": 11.9}},
    ])
    write_config(tmp_path, f"path: .\ntaxes: {taxes}\n")
    result = run(tmp_path)
    assert result.rejects == 0
    charges = {r["id"]: (r["charge_type"], r["amount"]) for r in rows(result, "charges")}
    assert charges == {"R1": ("recurring", 100.0), f"R1:tax{':1' if taxes == 'items' else ''}": ("tax", 19.0),
                       "R2": ("recurring", 11.9)}
    assert ("bills: 1 applied billing rate(s) give only taxIncludedAmount and no appliedTax: their charges "
            "keep that amount, which includes any tax (a contract rate is compared with it as it is)"
            in result.warnings)
    assert not [w for w in result.warnings if "reconcile" in w]


def test_a_bill_that_does_not_add_up_is_a_warning_naming_both_figures(tmp_path):
    bills = sample("v4-bills.json")
    bills[0]["taxIncludedAmount"]["value"] = 180.00
    write_json(tmp_path / "bills.json", bills)
    shutil.copy(SAMPLES / "v4-rates.json", tmp_path / "rates.json")
    write_config(tmp_path, "path: .\n")
    result = run(tmp_path)
    assert result.rejects == 0 and result.rows["invoices"] == 2
    assert [w for w in result.warnings if "reconcile" in w] == [
        f"bills: bills.json#/0: bill {BILL_1} does not reconcile: the charges with their taxes add up "
        "to 177.52 EUR, its taxIncludedAmount is 180.00 EUR"]


def test_with_unreconciled_reject_the_bill_and_its_charges_are_rejects(tmp_path):
    bills = sample("v4-bills.json")
    bills[1]["taxExcludedAmount"]["value"] = 25
    # The rates' file comes first: bills are matched to their charges once all is read.
    write_json(tmp_path / "2-bills.json", bills)
    shutil.copy(SAMPLES / "v4-rates.json", tmp_path / "1-rates.json")
    write_config(tmp_path, "path: .\nunreconciled: reject\ntolerance: 0.005\n")
    result = run(tmp_path)
    assert [r["id"] for r in rows(result, "invoices")] == [BILL_1]
    assert {r["invoice_id"] for r in rows(result, "charges")} == {BILL_1}
    got = sorted((r["entity"] != "invoices", r["entity"], r["origin"], r["row"], r["value"], r["reason"])
                 for r in rejects(result))
    got = [g[1:] for g in got]
    assert got[0] == ("invoices", "2-bills.json", "2", BILL_2,
                      f"bill {BILL_2} does not reconcile: the charges without taxes add up to 21.00 EUR, "
                      "its taxExcludedAmount is 25.00 EUR")
    assert got[1:] == [("charges", "1-rates.json", row, cid, f"its bill {BILL_2} does not reconcile")
                       for row, cid in (("7", "ACBR-7"), ("7", "ACBR-7:tax:1"), ("8", "ACBR-8"),
                                        ("8", "ACBR-8:tax"))]


def test_bad_items_are_rejects_with_their_json_pointers_and_the_rest_is_kept(tmp_path):
    write_json(tmp_path / "bills.json", [
        bill("B1"),
        {"id": "B2", "billingAccount": {"id": "BA-9"}},
        bill("B3", state="paidInFull"),
        bill("B4", taxIncludedAmount={"unit": "EUR", "value": "12.00"}),
        bill("B5", billDate="05/01/2026"),
        "B6",
        bill("B7", amountDue={"unit": "USD", "value": 10}),
        bill("B1"),
    ])
    write_json(tmp_path / "rates.json", [
        rate("R1", "B1"),
        rate("R2", "B1", type="installment"),
        rate("R3", "B1", unit="USD"),
        {**rate("R4", "B1"), "bill": {"href": "x"}},
        rate("R5", "B1", periodCoverage={"startDateTime": "2026-02-30T00:00:00Z"}),
        rate("R6", "B1", characteristic={"name": "msisdn"}),
    ])
    write_config(tmp_path, "path: .\n")
    result = run(tmp_path)
    assert [r["id"] for r in rows(result, "invoices")] == ["B1"]
    assert [r["id"] for r in rows(result, "charges")] == ["R1"]
    assert sorted((r["entity"], r["origin"], int(r["row"]), r["field"], r["value"], r["reason"])
                  for r in rejects(result)) == [
        ("charges", "rates.json", 2, "/1/type", "installment",
         "unknown charge type 'installment': map it to one of recurring, usage, one_time, tax, surcharge, "
         "late_fee, credit in the source's charge_types"),
        ("charges", "rates.json", 3, "/2/taxExcludedAmount/unit", "USD",
         "USD is not EUR, bill B1's currency"),
        ("charges", "rates.json", 4, "/3/bill/id", "", "'id' is required"),
        ("charges", "rates.json", 5, "/4/periodCoverage/startDateTime", "2026-02-30T00:00:00Z",
         "expected an RFC 3339 date-time or a date"),
        ("charges", "rates.json", 6, "/5/characteristic", '{"name": "msisdn"}',
         "expected an array, got a JSON object"),
        ("invoices", "bills.json", 2, "/1/billNo", "", "'billNo' is required"),
        ("invoices", "bills.json", 3, "/2/state", "paidInFull",
         "unknown bill state 'paidInFull': expected one of new, onHold, validated, sent, partiallyPaid, "
         "partiallySettled, settled, inProgress (or add it to extra_states)"),
        ("invoices", "bills.json", 4, "/3/taxIncludedAmount/value", "12.00",
         "expected a number, got a JSON string"),
        ("invoices", "bills.json", 5, "/4/billDate", "05/01/2026",
         "expected an RFC 3339 date-time or a date"),
        ("invoices", "bills.json", 6, "/5", "B6", "expected a CustomerBill object, got a JSON string"),
        ("invoices", "bills.json", 7, "/6/amountDue/unit", "USD",
         "the bill's amounts are in EUR, this one in USD"),
        ("invoices", "bills.json", 8, "/7/id", "B1", "bill B1 was read before, at bills.json#/0"),
    ]


def test_a_charge_type_word_is_mapped_by_configuration(tmp_path):
    write_json(tmp_path / "bills.json", [bill("B1", taxExcludedAmount={"unit": "EUR", "value": 30},
                                              taxIncludedAmount={"unit": "EUR", "value": 30})])
    write_json(tmp_path / "rates.json", [rate("R1", "B1", 20, type="Installment"),
                                         rate("R2", "B1", 10, type="Discount"),
                                         rate("R3", "B1", 0, type="usage")])
    write_config(tmp_path, "path: .\ncharge_types: {installment: one_time, discount: surcharge}\n")
    result = run(tmp_path)
    assert result.rejects == 0
    assert {r["id"]: r["charge_type"] for r in rows(result, "charges")} == {
        "R1": "one_time", "R2": "surcharge", "R3": "usage"}


def v5_rate(rate_id: str, bill_id: str, amount, kind: str) -> dict:
    """A TMF678 v5 rate: its type is ``appliedBillingRateType`` (v4's ``type`` is gone)."""
    got = rate(rate_id, bill_id, amount, appliedBillingRateType=kind)
    del got["type"]
    return got


def test_tmf678s_own_rate_types_are_read_in_v4_and_v5(tmp_path):
    # TMF678 names a rate's kind appliedBillingCharge, appliedBillingCredit or appliedPenaltyCharge
    # (late fees, payment rejection fees): v4 in `type`, v5 in `appliedBillingRateType`. v4's words
    # were rejects, and v5's field was not read at all: a v5 late fee had no type
    # (cost.late-payment-fees never saw it) and a recurring charge was no recurring charge.
    write_json(tmp_path / "bills.json", [bill("B1", taxExcludedAmount={"unit": "EUR", "value": 116},
                                              taxIncludedAmount={"unit": "EUR", "value": 116})])
    write_json(tmp_path / "rates.json", [
        rate("R1", "B1", -5, type="appliedBillingCredit"),
        rate("R2", "B1", 3, type="appliedPenaltyCharge"),
        rate("R3", "B1", 100, type="appliedBillingCharge"),
        v5_rate("R4", "B1", 4, "appliedPenaltyCharge"),
        v5_rate("R5", "B1", 10, "recurring"),
        v5_rate("R6", "B1", 4, "appliedBillingCharge"),
        v5_rate("R7", "B1", 1, "installment"),
    ])
    write_config(tmp_path, "path: .\n")
    result = run(tmp_path)
    assert {r["id"]: r["charge_type"] for r in rows(result, "charges")} == {
        "R1": "credit", "R2": "late_fee", "R3": None, "R4": "late_fee", "R5": "recurring", "R6": None}
    assert [(r["row"], r["field"], r["value"]) for r in rejects(result)] == [
        ("7", "/6/appliedBillingRateType", "installment")]


def test_a_copy_of_a_bill_is_not_counted_twice(tmp_path):
    # TMF678's bill category "duplicate": the same bill issued again (the same billNo of the same
    # account) under an id of its own. Both were invoices with their charges, so every charge
    # was billed twice (cost.duplicate-charges, spend-spike).
    original = bill("B1", billNo="780123456", category="normal")
    copy_ = bill("B1-DUP", billNo="780123456", category="duplicate")
    write_json(tmp_path / "bills.json", [original, copy_, bill("B2", billNo="780123457")])
    write_json(tmp_path / "rates.json", [rate("R1", "B1"), rate("R1-DUP", "B1-DUP"), rate("R2", "B2")])
    write_config(tmp_path, "path: .\n")
    result = run(tmp_path)
    assert sorted(r["id"] for r in rows(result, "invoices")) == ["B1", "B2"]
    assert sorted(r["id"] for r in rows(result, "charges")) == ["R1", "R2"]
    assert sorted((r["origin"], r["row"], r["field"], r["value"], r["reason"]) for r in rejects(result)) == [
        ("bills.json", "2", "/1/billNo", "780123456",
         "bill 780123456 of account BA-9 is also bill B1 at bills.json#/0: this bill's category is "
         "'duplicate'; a copy is not counted twice"),
        ("rates.json", "2", "", "R1-DUP", "its bill B1-DUP is a copy of bill B1"),
    ]


#: Whose rates are read: the original's, the copy's, or both (a copy re-issues the bill document,
#: and its rates may name either id) → the charges kept (id, bill) and the copy's rates refused.
COPY_RATES = {
    "rates-of-the-original": (("B1",), [("R-B1", "B1")], []),
    "rates-of-the-copy": (("B1-DUP",), [("R-B1-DUP", "B1")], []),
    "rates-of-both": (("B1", "B1-DUP"), [("R-B1", "B1")], ["R-B1-DUP"]),
}


def copy_estate(result) -> tuple:
    """What a collect gave, without where the bills were listed (which differs with the order)."""
    return (sorted(r["id"] for r in rows(result, "invoices")),
            sorted((r["id"], r["invoice_id"], str(r["amount"])) for r in rows(result, "charges")),
            sorted((r["value"], r["reason"].split(" at ")[0], r["reason"].split(": ")[-1])
                   for r in rejects(result)),
            sorted(w for w in result.warnings if "rates" in w or "reconcile" in w))


@pytest.mark.parametrize("case", COPY_RATES)
def test_the_original_is_kept_when_its_copy_is_listed_first(tmp_path, case):
    # A listing newest first gives a re-issued copy (category "duplicate") before its original.
    # The original is the bill kept either way, with the bill's charges; the copy is the reject.
    named, charges, refused = COPY_RATES[case]
    original = bill("B1", billNo="780123456", category="normal")
    copy_ = bill("B1-DUP", billNo="780123456", category="duplicate")
    estates = []
    for order in ([original, copy_], [copy_, original]):
        folder = tmp_path / order[0]["id"]
        folder.mkdir()
        write_json(folder / "bills.json", [*order, bill("B2")])
        write_json(folder / "rates.json", [*(rate(f"R-{b}", b) for b in named), rate("R2", "B2")])
        write_config(folder, "path: .\n")
        result = run(folder)
        copy_at = order.index(copy_)
        assert sorted((r["origin"], r["row"], r["field"], r["value"], r["reason"])
                      for r in rejects(result) if r["origin"] == "bills.json") == [
            ("bills.json", str(copy_at + 1), f"/{copy_at}/billNo", "780123456",
             f"bill 780123456 of account BA-9 is also bill B1 at bills.json#/{1 - copy_at}: this bill's "
             "category is 'duplicate'; a copy is not counted twice")]
        estate = copy_estate(result)
        assert estate[0] == ["B1", "B2"]
        assert estate[1] == sorted([*((c, b, "10.0") for c, b in charges), ("R2", "B2", "10.0")])
        assert [r["value"] for r in rejects(result) if r["origin"] == "rates.json"] == refused
        assert [w.split(": ", 1)[1] for w in result.warnings if "copied bill" in w] == (
            ["the rates of 1 copied bill(s) are charges of the bill kept, which has no rates of its own: "
             "B1-DUP → B1"] if case == "rates-of-the-copy" else [])
        # B1 has its charges: its total is reconciled, no bill is said to have no rates.
        assert not [w for w in result.warnings if "no applied billing rates" in w or "reconcile:" in w]
        estates.append(estate)
    assert estates[0] == estates[1]


@pytest.mark.parametrize("rated_first", [True, False])
def test_of_two_bills_with_one_billno_the_one_the_rates_name_is_kept(tmp_path, rated_first):
    # Neither says it is a copy: the one the rates name is the bill, whichever is listed first.
    rated, other = bill("B7", billNo="N-7"), bill("B7-AGAIN", billNo="N-7")
    order = [rated, other] if rated_first else [other, rated]
    write_json(tmp_path / "bills.json", order)
    write_json(tmp_path / "rates.json", [rate("R7", "B7")])
    write_config(tmp_path, "path: .\n")
    result = run(tmp_path)
    assert [r["id"] for r in rows(result, "invoices")] == ["B7"]
    assert [(r["id"], r["invoice_id"]) for r in rows(result, "charges")] == [("R7", "B7")]
    assert [(r["value"], r["reason"]) for r in rejects(result)] == [
        ("N-7", f"bill N-7 of account BA-9 is also bill B7 at bills.json#/{order.index(rated)}: the rates "
                "name bill B7, not this one; a copy is not counted twice")]


def test_invalid_json_is_one_reject_with_line_and_column_and_other_files_are_read(tmp_path):
    # A good bill, then a missing comma: the file is refused whole, its good bill too.
    (tmp_path / "a-broken.json").write_text(f'[\n  {json.dumps(bill("B9"))}\n  {{"id": "B10"}}\n]\n',
                                            encoding="utf-8")
    write_json(tmp_path / "b-bills.json", [bill("B1")])
    write_config(tmp_path, "path: .\n")
    result = run(tmp_path)
    assert [r["id"] for r in rows(result, "invoices")] == ["B1"]
    (reject,) = rejects(result)
    assert (reject["origin"], reject["row"], reject["field"], reject["reason"]) == (
        "a-broken.json", "", "",
        "invalid JSON at line 3, column 3: Expecting ',' delimiter; nothing of the file was read")


@pytest.mark.parametrize("size", [5, 6, 7, 1 << 20])   # multi-byte characters cut by reads too
def test_a_file_that_is_not_utf8_is_one_reject_saying_where(tmp_path, monkeypatch, size):
    monkeypatch.setattr(tmf678_module, "READ_SIZE", size)
    bills = [bill("B1", billNo="Né1"), bill("B2", billNo="N°2")]
    text = json.dumps(bills, indent=2, ensure_ascii=False).encode()
    broken = text.replace("N°2".encode(), "N°2".encode("latin-1"))   # byte 0xb0 alone
    (tmp_path / "bills.json").write_bytes(broken)
    write_config(tmp_path, "path: .\n")
    result = run(tmp_path)
    (reject,) = rejects(result)
    offset = broken.index(b"\xb0")
    line = broken[:offset].count(b"\n") + 1
    assert reject["reason"] == (f"not UTF-8 text: byte {offset} (line {line}): invalid start byte; "
                                "nothing of the file was read")
    assert "invoices" not in result.rows


@pytest.mark.parametrize("text", [
    '[{"a": 1}, {"b": [1, 2, {"c": "x"}]}, 3, "s", null, 4.50]',
    ' \n[\n]\n',
    '{"id": "CB-1", "n": 1.10}',
    '[' + ",\n".join(json.dumps({"id": f"R{i}", "v": i / 4, "pad": "x" * (i % 7)}) for i in range(300)) + ']',
])
def test_json_items_reads_item_by_item_what_the_standard_parser_reads_whole(tmp_path, monkeypatch, text):
    monkeypatch.setattr(tmf678_module, "READ_SIZE", 7)   # items straddle every read
    path = tmp_path / "x.json"
    path.write_text(text, encoding="utf-8")
    whole = json.loads(text, parse_float=tmf678_module.Decimal)
    got = list(json_items(path))
    if isinstance(whole, list):
        assert got == list(enumerate(whole))
    else:
        assert got == [(None, whole)]


@pytest.mark.parametrize("text", [
    '[{"a": 1},\n {"b": 2}\n {"c": 3}]',
    '[' + ",\n".join(f'{{"id": {i}}}' for i in range(200)) + ',\n  {"id": tru}]',
    '[{"a": 1}, ]',
    '[{"a": 1}',
    '{"a": 1} x',
    '[1]\n\n]',
    '',
])
def test_json_items_says_where_json_breaks_as_the_standard_parser_does(tmp_path, monkeypatch, text):
    monkeypatch.setattr(tmf678_module, "READ_SIZE", 11)
    path = tmp_path / "x.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(json.JSONDecodeError) as std:
        json.loads(text)
    with pytest.raises(JsonSyntaxError, match=rf"^invalid JSON at line {std.value.lineno}, "
                                              rf"column {std.value.colno}: "):
        list(json_items(path))


# -- REST -------------------------------------------------------------------------------------
class FakeTmf678:
    """A TMF678 v4 API: an OAuth2 token endpoint (client credentials, secret in the form), and
    ``customerBill`` and ``appliedCustomerBillingRate`` lists paged by ``offset``/``limit`` with
    ``X-Total-Count`` and ``X-Result-Count``, 206 for a page that is not the whole list."""

    def __init__(self, httpserver, bills: list, rates: list, bearer: str = ACCESS_TOKEN) -> None:
        self.bills = bills
        self.rates = rates
        self.bearer = bearer
        self.requests: list[tuple[str, dict]] = []
        self.tokens = 0
        #: (resource, offset) → response, answered once instead of the page.
        self.faults: dict[tuple[str, int], Response] = {}
        #: resource → the X-Total-Count to announce instead of the true one.
        self.announce: dict[str, int] = {}
        #: False: no X-Total-Count nor X-Result-Count (the headers are optional in TMF630).
        self.counts = True
        httpserver.expect_request("/oauth2/token", method="POST").respond_with_handler(self.token)
        for resource in ("customerBill", "appliedCustomerBillingRate"):
            httpserver.expect_request(f"{API}/{resource}", method="GET").respond_with_handler(
                lambda request, resource=resource: self.page(resource, request))

    def token(self, request: Request) -> Response:
        form = request.form
        if (form.get("grant_type"), form.get("client_id"), form.get("client_secret")) != (
                "client_credentials", CLIENT_ID, CLIENT_SECRET):
            return Response(json.dumps({"error": "invalid_client"}), 401, content_type="application/json")
        self.tokens += 1
        return Response(json.dumps({"access_token": ACCESS_TOKEN, "token_type": "Bearer",
                                    "expires_in": 3600}), content_type="application/json")

    def page(self, resource: str, request: Request) -> Response:
        query = dict(parse_qsl(request.query_string.decode()))
        self.requests.append((resource, dict(query)))
        if request.headers.get("Authorization") != f"Bearer {self.bearer}":
            return Response(json.dumps({"code": "41", "reason": "Unauthorized", "message": "bad token"}),
                            401, content_type="application/json")
        offset, limit = int(query.pop("offset")), int(query.pop("limit"))
        fault = self.faults.pop((resource, offset), None)
        if fault is not None:
            return fault
        if resource == "customerBill":
            items = [b for b in self.bills if all(str(b.get(k)) == v for k, v in query.items())]
        else:
            items = [r for r in self.rates if r["bill"]["id"] == query["bill.id"]]
        chunk = items[offset:offset + limit]
        total = self.announce.get(resource, len(items))
        headers = {"X-Total-Count": str(total), "X-Result-Count": str(len(chunk))} if self.counts else {}
        return Response(json.dumps(chunk), 206 if len(chunk) < total else 200, headers=headers,
                        content_type="application/json;charset=utf-8")


@pytest.fixture
def tmf(httpserver, waits) -> FakeTmf678:
    v5 = sample(V5_SAMPLE)
    return FakeTmf678(httpserver, [*sample("v4-bills.json"), v5], sample("v4-rates.json"))


def write_api_config(tmp_path, httpserver, monkeypatch, extra: str = "", page_size: int = 2) -> None:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    write_config(tmp_path, f"""\
        url: {httpserver.url_for(API)}
        token_url: {httpserver.url_for("/oauth2/token")}
        client_id: {CLIENT_ID}
        client_secret_env: {SECRET_ENV}
        page_size: {page_size}
        """ + extra)


def test_rest_pages_by_offset_and_limit_with_oauth2_and_waits_out_a_429(tmp_path, httpserver, monkeypatch,
                                                                       tmf, waits):
    tmf.faults[("appliedCustomerBillingRate", 2)] = Response(
        json.dumps({"code": "429", "reason": "Too Many Requests", "message": "slow down"}), 429,
        headers={"Retry-After": "7"}, content_type="application/json")
    write_api_config(tmp_path, httpserver, monkeypatch)
    result = run(tmp_path)
    assert result.rejects == 0
    assert result.rows == {"accounts": 3, "charges": 13, "invoices": 3}
    assert waits == [7.0]                          # the Retry-After the service asked for, recorded
    assert tmf.tokens == 1
    assert [(r, q["offset"], q["limit"]) for r, q in tmf.requests if r == "customerBill"] == [
        ("customerBill", "0", "2"), ("customerBill", "2", "2")]
    assert [q["offset"] for r, q in tmf.requests
            if r == "appliedCustomerBillingRate" and q["bill.id"] == BILL_1] == ["0", "2", "2", "4"]
    charges = {r["id"]: r for r in rows(result, "charges")}
    base = httpserver.url_for(API)
    assert charges["ACBR-5"]["source_position"] == (
        f"{base}/appliedCustomerBillingRate?bill.id={BILL_1}#/4")
    assert charges["ACBR-1:tax:1"]["source_position"] == (
        f"{base}/appliedCustomerBillingRate?bill.id={BILL_1}#/0/appliedTax/0")
    invoices = {r["id"]: r for r in rows(result, "invoices")}
    assert invoices["CB-123"]["source_position"] == f"{base}/customerBill#/2"
    assert not [w for w in result.warnings if "reconcile:" in w]
    manifest = json.dumps(result.snapshot.manifest)
    assert CLIENT_SECRET not in manifest and ACCESS_TOKEN not in manifest
    assert set(result.snapshot.manifest["sources"]["bills"]["inputs"]) == {
        "customerBill", *(f"appliedCustomerBillingRate?bill.id={b}" for b in (BILL_1, BILL_2, "CB-123"))}


@pytest.mark.parametrize("case", COPY_RATES)
def test_from_the_api_the_original_is_kept_when_its_copy_is_listed_first(tmp_path, httpserver, monkeypatch,
                                                                         waits, case):
    named, charges, refused = COPY_RATES[case]
    original = bill("B1", billNo="780123456", category="normal")
    copy_ = bill("B1-DUP", billNo="780123456", category="duplicate")
    fake = FakeTmf678(httpserver, [], [*(rate(f"R-{b}", b) for b in named), rate("R2", "B2")])
    write_api_config(tmp_path, httpserver, monkeypatch)
    estates = []
    for order in ([original, copy_], [copy_, original]):
        fake.bills = [*order, bill("B2")]
        result = run(tmp_path)
        estate = copy_estate(result)
        assert estate[0] == ["B1", "B2"]
        assert estate[1] == sorted([*((c, b, "10.0") for c, b in charges), ("R2", "B2", "10.0")])
        assert [r["value"] for r in rejects(result) if "appliedCustomerBillingRate" in r["origin"]] == refused
        assert not [w for w in result.warnings if "no applied billing rates" in w or "reconcile:" in w]
        estates.append(estate)
    assert estates[0] == estates[1]


def test_rest_with_a_bearer_token_from_a_file_and_a_bill_filter(tmp_path, httpserver, waits):
    tmf = FakeTmf678(httpserver, sample("v4-bills.json"), sample("v4-rates.json"), bearer="fixed-token")
    (tmp_path / "token").write_text("fixed-token\n", encoding="utf-8")
    write_config(tmp_path, f"url: {httpserver.url_for(API)}\ntoken_file: token\n"
                           f"bill_filter: {{state: partiallyPaid}}\n")
    result = run(tmp_path)
    assert [r["id"] for r in rows(result, "invoices")] == [BILL_2]
    assert [q for r, q in tmf.requests if r == "customerBill"] == [
        {"state": "partiallyPaid", "offset": "0", "limit": "100"}]


def test_fewer_items_than_x_total_count_is_an_error_not_a_truncation(tmp_path, httpserver, monkeypatch, tmf):
    tmf.announce["customerBill"] = 5
    write_api_config(tmp_path, httpserver, monkeypatch)
    with pytest.raises(CollectError, match=r"source 'bills': GET http://localhost:\d+/tmf-api/"
                                           r"customerBillManagement/v4/customerBill: the service stopped "
                                           r"at 3 of the 5 items its X-Total-Count announced \(short read\)"):
        run(tmp_path)


def test_without_counts_the_list_ends_at_a_short_page(tmp_path, httpserver, monkeypatch, tmf):
    tmf.counts = False
    write_api_config(tmp_path, httpserver, monkeypatch)
    result = run(tmp_path)
    assert result.rows == {"accounts": 3, "charges": 13, "invoices": 3}
    # Bill 1 has 5 billed rates and one unbilled: pages of 2, 2, 2, then an empty one ends it.
    assert [q["offset"] for r, q in tmf.requests
            if r == "appliedCustomerBillingRate" and q["bill.id"] == BILL_1] == ["0", "2", "4", "6"]


def test_a_service_that_ignores_offset_is_an_error_not_an_endless_loop(tmp_path, httpserver, monkeypatch,
                                                                       tmf):
    tmf.counts = False
    first = json.dumps(sample("v4-bills.json"))
    for offset in (2, 4):
        tmf.faults[("customerBill", offset)] = Response(first, 200, content_type="application/json")
    write_api_config(tmp_path, httpserver, monkeypatch)
    with pytest.raises(CollectError, match="the page at offset 2 is the page before it again: the service "
                                           "does not page by offset"):
        run(tmp_path)


def test_a_page_whose_x_result_count_disagrees_is_an_error(tmp_path, httpserver, monkeypatch, tmf):
    tmf.faults[("customerBill", 0)] = Response(json.dumps([sample("v4-bills.json")[0]]), 200, headers={
        "X-Total-Count": "3", "X-Result-Count": "2"}, content_type="application/json")
    write_api_config(tmp_path, httpserver, monkeypatch)
    with pytest.raises(CollectError, match="at offset 0: X-Result-Count says 2 items, the page has 1"):
        run(tmp_path)


@pytest.mark.parametrize("answer, message", [
    (Response(json.dumps({"code": "60", "reason": "Not found", "message": "no such resource"}), 404,
              content_type="application/json"), r"customerBill: HTTP 404 NOT FOUND: 60: no such resource$"),
    (Response(json.dumps({"customerBill": []}), 200, content_type="application/json"),
     r"customerBill: HTTP 200, but the response is a JSON dict, not an array$"),
])
def test_a_failing_or_odd_answer_fails_the_source_with_the_services_words(tmp_path, httpserver, monkeypatch,
                                                                          tmf, answer, message):
    tmf.faults[("customerBill", 0)] = answer
    write_api_config(tmp_path, httpserver, monkeypatch)
    with pytest.raises(CollectError, match=message):
        run(tmp_path)


def test_a_refused_token_is_a_clear_error_without_the_secret(tmp_path, httpserver, monkeypatch, tmf):
    write_api_config(tmp_path, httpserver, monkeypatch)
    monkeypatch.setenv(SECRET_ENV, "not-the-secret")
    with pytest.raises(CollectError) as err:
        run(tmp_path)
    assert "invalid_client" in str(err.value) and "not-the-secret" not in str(err.value)


@pytest.mark.parametrize("settings, message", [
    ({}, "give either 'path' .* or 'url'"),
    ({"path": "x", "url": "https://h/tmf"}, "give either 'path' .* or 'url'"),
    ({"path": "x", "token_env": "X"}, "credentials, bill_filter and page_size are for 'url'"),
    ({"url": "https://h/tmf", "client_id": "c", "client_secret_env": "X"}, "'client_id' needs 'token_url'"),
    ({"url": "https://h/tmf", "token_env": "X", "username": "u"}, "give one way to sign in"),
])
def test_settings_that_do_not_add_up_are_config_errors(tmp_path, settings, message):
    with pytest.raises(ConfigError, match=message):
        Tmf678Collector("bills", {"vendor": "v", **settings}, tmp_path)


def test_an_unknown_charge_type_in_the_settings_is_refused():
    with pytest.raises(ConfigError, match="charge_types.installment: 'instalment' is not one of"):
        check_settings(Tmf678Collector, "bills", {"vendor": "v", "path": "x",
                                                   "charge_types": {"installment": "instalment"}})


# -- declarations and docs -------------------------------------------------------------------
def test_what_the_collector_emits_is_what_it_declares_it_fills():
    data = Tmf678Collector("bills", {"vendor": "v", "path": str(SAMPLES), "files": "v4-*.json"},
                           ROOT).collect()
    emitted = {b.entity: set(table.column_names) - {"__row"} for b in data.batches for table in b.tables()}
    assert emitted == {e: set(f) for e, f in Tmf678Collector.fills.items()}


def yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, re.S)


def test_the_documented_examples_are_valid_settings_and_every_setting_is_documented():
    doc = (ROOT / "docs" / "collectors" / "tmf678.md").read_text(encoding="utf-8")
    example = textwrap.dedent(tmf678_module.__doc__.split("::\n\n", 1)[1].split("\n\n", 1)[0])
    blocks = yaml_blocks(doc)
    assert blocks
    for block in [*blocks, example]:
        for name, source in safe_load(block)["sources"].items():
            check_settings(Tmf678Collector, name, {k: v for k, v in source.items() if k != "collector"})
    for setting in Tmf678Collector.config_schema["properties"]:
        assert f"`{setting}`" in doc, f"docs/collectors/tmf678.md does not document {setting}"
    entry = (ROOT / "docs" / "collectors.md").read_text(encoding="utf-8")
    assert "collectors/tmf678.md" in entry


def test_an_item_that_never_ends_is_refused_at_its_start_not_read_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(tmf678_module, "READ_SIZE", 64)
    monkeypatch.setattr(tmf678_module, "MAX_ITEM", 1000)
    path = tmp_path / "bills.json"
    path.write_text('[{"id": "B1"},\n {"id": "' + "x" * 5000 + "\n", encoding="utf-8")
    items = json_items(path)
    assert next(items) == (0, {"id": "B1"})
    with pytest.raises(JsonSyntaxError, match="at line 2, column 2: an item longer than 1,000 characters"):
        next(items)
