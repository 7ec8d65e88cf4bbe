"""The x12-811 collector: carrier bills (ANSI X12 811) → accounts, invoices and charges."""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from dialtone.collectors.x12 import bill811
from dialtone.collectors.x12.pending import Pending
from dialtone.collectors.x12.reader import Fault, sniff, walk
from dialtone.engine.collect import collect
from dialtone.engine.collector_api import check_settings, collectors
from dialtone.engine.config import load_config
from dialtone.engine.errors import CollectError, ConfigError

from .collectorkit import rejects, rows
from .conftest import AS_OF
from .x12_fixture import ACCOUNTS, DISPUTE, interchange, late_account

SAMPLES = Path(__file__).parent / "samples" / "x12"
TERM = "~\n"


def setup(tmp_path: Path, files: dict[str, str], extra: str = "") -> Path:
    folder = tmp_path / "bills"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    (tmp_path / "dialtone.yaml").write_text(
        "sources:\n  bills:\n    collector: x12-811\n    path: ./bills\n    vendor: acme\n" + extra,
        encoding="utf-8")
    return folder


def run(tmp_path: Path, files: dict[str, str] | None = None, extra: str = ""):
    if files is not None:
        setup(tmp_path, files, extra)
    return collect(load_config(tmp_path / "dialtone.yaml"), as_of=AS_OF)


def segments(text: str) -> list[str]:
    return [s for s in text.split(TERM) if s]


def position(text: str, prefix: str, nth: int = 1) -> int:
    """The 1-based position of the nth segment that starts with ``prefix``."""
    found = [i for i, s in enumerate(segments(text), start=1) if s.startswith(prefix)]
    return found[nth - 1]


def replace(text: str, at: int, segment: str) -> str:
    segs = segments(text)
    segs[at - 1] = segment
    return TERM.join(segs) + TERM


def by_invoice(result) -> dict[str, dict]:
    return {r["invoice_number"]: r for r in rows(result, "invoices")}


# -- a bill that reconciles ---------------------------------------------------------------------

@pytest.mark.parametrize("version", ["004010", "005010"])
def test_a_generated_multi_account_811_collects_with_totals_reconciled(tmp_path, version):
    text, expected = interchange(version)
    result = run(tmp_path, {"bill.edi": text})
    assert rejects(result) == []
    invoices = by_invoice(result)
    assert set(invoices) == {a.invoice for a in ACCOUNTS}
    charges = rows(result, "charges")
    assert result.rows == {"accounts": 3, "invoices": 3,
                           "charges": sum(len(e["charges"]) for e in expected.values())}
    for account in ACCOUNTS:
        inv = invoices[account.invoice]
        mine = [c for c in charges if c["invoice_id"] == inv["id"]]
        # TDS (implied two decimals) is the sum of the charges read, to the cent.
        assert Decimal(str(inv["total"])) == expected[account.invoice]["total"]
        assert round(sum(c["amount"] for c in mine), 2) == float(expected[account.invoice]["total"])
        # Each charge is where the generator wrote it, with the type it meant.
        assert sorted((c["source_position"], c["charge_type"], c["amount"]) for c in mine) == sorted(
            (f"bill.edi:segment {e['position']}", e["charge_type"], e["amount"])
            for e in expected[account.invoice]["charges"])
        assert inv["account_id"] == f"acme:{account.number}"
        assert inv["period"] == "2024-06" and str(inv["issued_on"]) == "2024-07-05"
        assert str(inv["due_on"]) == "2024-07-30" and inv["currency"] == "USD"
    assert {c["charge_type"] for c in charges} == {"recurring", "usage", "one_time", "tax", "surcharge",
                                                    "late_fee", "credit"}
    credits = [c for c in charges if c["charge_type"] == "credit"]
    assert credits and all(c["dispute_reference"] == DISPUTE and c["amount"] == -20.0 for c in credits)
    usage = next(c for c in charges if c["charge_type"] == "usage")
    assert (usage["quantity"], usage["unit_rate"], usage["amount"], usage["charge_code"]) == (
        120, 0.05, 6, "USG01")
    assert usage["line_id"] == "+13125550100"       # the SI*TI*TN number, in E.164
    late = next(c for c in charges if c["charge_type"] == "late_fee")
    assert late["line_id"] is None and late["description"] == "Late payment charge"
    assert {a["id"]: a["account_number"] for a in rows(result, "accounts")} == {
        f"acme:{a.number}": a.number for a in ACCOUNTS}
    # SLN*…*I (included in its item) is not a charge of its own, and the collect says so.
    assert any("SLN included in its item" in w for w in result.warnings)


def test_charge_ids_are_stable_across_reads_of_the_same_file(tmp_path):
    text, _ = interchange()
    first = {c["id"]: c["source_position"] for c in rows(run(tmp_path, {"bill.edi": text}), "charges")}
    second = {c["id"]: c["source_position"] for c in rows(run(tmp_path), "charges")}
    assert first == second and len(first) == 39
    assert "acme:8001001:INV-2024-07-001:14" in first   # invoice id : position in the set


def test_the_dispute_window_setting_fills_the_accounts(tmp_path):
    text, _ = interchange()
    result = run(tmp_path, {"bill.edi": text}, "    dispute_window_days: 90\n    currency: EUR\n")
    assert {a["dispute_window_days"] for a in rows(result, "accounts")} == {90}
    assert {a["currency"] for a in rows(result, "accounts")} == {"USD"}     # the bill's CUR wins


def test_other_delimiters_are_taken_from_the_isa(tmp_path):
    text, _ = interchange(element="|", terminator="'")
    assert sniff(text[:200], "x").element == "|"
    result = run(tmp_path, {"bill.x12": text})
    assert rejects(result) == [] and result.rows["charges"] == 39


def test_a_folder_of_bills_keeps_each_account_once(tmp_path):
    july, _ = interchange(control=1)
    august, _ = interchange(control=2)
    august = august.replace("INV-2024-07-", "INV-2024-08-")
    result = run(tmp_path, {"2024-07.edi": july, "2024-08.edi": august, "notes.pdf": "not a bill"})
    assert rejects(result) == []
    assert result.rows["invoices"] == 6 and result.rows["accounts"] == 3


def test_a_bill_sent_twice_is_kept_once(tmp_path):
    text, _ = interchange(control=1)
    again, _ = interchange(control=2)
    result = run(tmp_path, {"a.edi": text, "b.edi": again})
    dup = [r for r in rejects(result) if r["field"] == "BIG02"]
    assert {(r["origin"], r["value"]) for r in dup} == {("b.edi", a.invoice) for a in ACCOUNTS}
    assert all("already read at a.edi:segment" in r["reason"] for r in dup)
    assert result.rows["invoices"] == 3 and result.rows["charges"] == 39


# -- large bills: charges held in chunks, and on disk ------------------------------------------------

def small_chunks(tmp_path, monkeypatch, chunk: int, limit: int | None = None) -> list[str]:
    """Charges handed on in chunks of ``chunk`` and, with ``limit``, spilled to disk above
    ``limit`` held rows, into a temporary folder of the test's; returns the spill files made."""
    monkeypatch.setattr(bill811, "CHUNK", chunk)
    spills: list[str] = []
    if limit is not None:
        (tmp_path / "tmp").mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))

        def spill(held: Pending) -> None:
            spill_to_disk(held)
            if held.path not in spills:
                spills.append(held.path)
        spill_to_disk = Pending._spill
        monkeypatch.setattr(Pending, "_spill", spill)
        monkeypatch.setattr(bill811, "Pending", functools.partial(Pending, limit=limit))
    return spills


@pytest.mark.parametrize("limit", [None, 10], ids=["held-in-memory", "spilled-to-disk"])
def test_charges_read_before_the_account_is_named_are_kept_however_many(tmp_path, monkeypatch, limit):
    # 30 charges at the provider level before the account-level HL names the account, in
    # chunks of 8: several whole chunks are built while the invoice has no account yet.
    text, expected = late_account(before=30, after=5)
    (tmp_path / "one-chunk").mkdir()
    (tmp_path / "chunked").mkdir()
    small = rows(run(tmp_path / "one-chunk", {"bill.edi": text}), "charges")
    spills = small_chunks(tmp_path, monkeypatch, 8, limit)
    result = run(tmp_path / "chunked", {"bill.edi": text})
    assert bool(spills) == bool(limit) and not any(os.path.exists(p) for p in spills)
    assert rejects(result) == []
    (invoice,) = rows(result, "invoices")
    assert (invoice["id"], invoice["account_id"]) == ("acme:ACC-LATE:INV-LATE", "acme:ACC-LATE")
    charges = rows(result, "charges")
    # Charges read = charges kept (+ none rejected): each one, with its invoice and its id.
    assert sorted(c["source_position"] for c in charges) == sorted(
        f"bill.edi:segment {p}" for p in expected["positions"])
    assert {c["id"] for c in charges} == {f"{invoice['id']}:{p - 2}" for p in expected["positions"]}
    assert {(c["invoice_id"], c["currency"]) for c in charges} == {(invoice["id"], "USD")}
    assert Decimal(str(round(sum(c["amount"] for c in charges), 2))) == expected["total"]
    # The same rows as when the bill fits in one chunk.
    assert sorted(charges, key=lambda c: c["id"]) == sorted(small, key=lambda c: c["id"])


def test_the_charges_held_for_a_refused_set_are_not_given_to_any_invoice(tmp_path, monkeypatch):
    # The second set names no account (REF*ZZ is not an account qualifier): it is refused at
    # its SE, after its charges were handed on in chunks and spilled with the other sets'.
    text, expected = interchange()
    second = ACCOUNTS[1]
    text = text.replace(f"REF*12*{second.number}", "REF*ZZ*X").replace(f"REF*11*{second.number}", "REF*ZZ*X")
    spills = small_chunks(tmp_path, monkeypatch, 2, 3)
    result = run(tmp_path, {"bill.edi": text})
    assert spills and not any(os.path.exists(p) for p in spills)
    (refusal,) = rejects(result)
    n = len(expected[second.invoice]["charges"])
    assert refusal["field"] == "REF" and f"invoice {second.invoice} of the transaction set at segment " \
        f"{position(text, 'ST*', 2)} and its {n} charges are not kept" in refusal["reason"]
    charges = rows(result, "charges")
    for account in (ACCOUNTS[0], ACCOUNTS[2]):
        mine = [c["source_position"] for c in charges if c["invoice_id"].endswith(account.invoice)]
        assert sorted(mine) == sorted(f"bill.edi:segment {e['position']}"
                                      for e in expected[account.invoice]["charges"])
    assert len(charges) == sum(len(expected[a.invoice]["charges"]) for a in (ACCOUNTS[0], ACCOUNTS[2]))


def test_a_file_that_fails_half_way_leaves_no_spill_file_behind(tmp_path, monkeypatch):
    import dialtone.collectors.x12.reader as reader_module

    first, _ = interchange(control=1)
    second, _ = interchange(control=2)
    second = second.replace("INV-2024-07-", "INV-2024-08-")
    # The second interchange is cut inside its third set by text the terminator never ends.
    cut = second[: second.index("ST*811*0003")] + "NTE*" + "x" * 5000
    monkeypatch.setattr(reader_module, "MAX_SEGMENT", 1000)
    spills = small_chunks(tmp_path, monkeypatch, 2, 3)
    setup(tmp_path, {"bill.edi": first + cut})
    with pytest.raises(CollectError, match="runs past 1,000 characters"):
        run(tmp_path)
    assert len(spills) == 2                          # each interchange spilled to a file
    assert [p for p in spills if os.path.exists(p)] == []


# -- the shared samples: structure-only, and not consistent ---------------------------------------

def test_the_samples_are_read_and_their_inconsistencies_reported_with_positions(tmp_path):
    folder = tmp_path / "bills"
    folder.mkdir()
    for f in SAMPLES.glob("*.edi"):
        shutil.copy(f, folder)
    (tmp_path / "dialtone.yaml").write_text(
        "sources:\n  bills:\n    collector: x12-811\n    path: ./bills\n    vendor: acme\n", encoding="utf-8")
    result = run(tmp_path)
    found = {(r["origin"], r["row"], r["field"]) for r in rejects(result)}
    sample, transmission = "x12-811-v005010-sample.edi", "x12-811-v005010-transmission-sample.edi"
    assert {(sample, "30", "SE01"), (sample, "22", "TDS01"),
            (transmission, "9", "SE01"), (transmission, "8", "TDS01")} <= found
    reasons = {(r["origin"], r["field"]): r["reason"] for r in rejects(result)}
    assert reasons[(sample, "SE01")].startswith("SE01 says 28, but the transaction set has 30 segments")
    assert "TDS01 says the invoice totals 50.00" in reasons[(transmission, "TDS01")]
    assert "0 charges read sum to 0.00" in reasons[(transmission, "TDS01")]
    # The first sample's LX amount (250) and IT1 (10 × 5) are read: 300.00 against 50.00.
    assert "read sum to 300.00, 250.00 more than the total" in reasons[(sample, "TDS01")]
    # A broken transaction set refuses its invoice: nothing of either sample is kept.
    assert result.rows.get("invoices", 0) == 0 and result.rows.get("charges", 0) == 0
    assert any(sample in w and "without an interchange envelope" in w for w in result.warnings)


# -- envelopes: every fault a reject naming its position -------------------------------------------

def _isa_short(text: str) -> str:
    return text.replace("*CARRIER        *", "*CARRIER       *", 1)      # ISA06: 14 characters


@pytest.mark.parametrize("fault, field, where, kept", [
    ("isa-length", "ISA06", lambda t: 1, set()),
    ("isa13-iea02", "IEA02", lambda t: position(t, "IEA"), set()),
    ("iea01-count", "IEA01", lambda t: position(t, "IEA"), set()),
    ("gs06-ge02", "GE02", lambda t: position(t, "GE*"), set()),
    ("ge01-count", "GE01", lambda t: position(t, "GE*"), set()),
    ("st02-se02", "SE02", lambda t: position(t, "SE*", 2), {0, 2}),
    ("se01-count", "SE01", lambda t: position(t, "SE*", 2), {0, 2}),
])
def test_every_envelope_fault_is_a_reject_naming_its_position(tmp_path, fault, field, where, kept):
    text, _ = interchange()
    if fault == "isa-length":
        text = _isa_short(text)
    elif fault == "isa13-iea02":
        text = replace(text, position(text, "IEA"), "IEA*1*000000999")
    elif fault == "iea01-count":
        text = replace(text, position(text, "IEA"), "IEA*2*000000905")
    elif fault == "gs06-ge02":
        text = replace(text, position(text, "GE*"), "GE*3*78")
    elif fault == "ge01-count":
        text = replace(text, position(text, "GE*"), "GE*4*77")
    elif fault == "st02-se02":
        at = position(text, "SE*", 2)
        count = segments(text)[at - 1].split("*")[1]
        text = replace(text, at, f"SE*{count}*9999")
    elif fault == "se01-count":
        at = position(text, "SE*", 2)
        text = replace(text, at, "SE*7*0002")
    result = run(tmp_path, {"bill.edi": text})
    got = [r for r in rejects(result) if r["field"] == field]
    assert len(got) == 1 and got[0]["row"] == str(where(text)) and got[0]["origin"] == "bill.edi"
    assert "expected" in got[0]["reason"] or "but" in got[0]["reason"]
    invoices = set(by_invoice(result)) if result.rows.get("invoices") else set()
    assert invoices == {ACCOUNTS[i].invoice for i in kept}
    lost = {ACCOUNTS[i].invoice for i in range(3)} - invoices
    # Every invoice refused is named, at its ST.
    named = {r["value"] for r in rejects(result) if r["field"] == "ST"} | {
        a.invoice for a in ACCOUNTS if any(a.invoice in r["reason"] for r in got)}
    assert lost <= named
    charges = rows(result, "charges") if result.rows.get("charges") else []
    assert {c["invoice_id"].rsplit(":", 1)[1] for c in charges} == invoices


@pytest.mark.parametrize("envelope, broken", [("functional group", "GE*4*77"),
                                               ("interchange", "IEA*1*000000999")])
def test_each_invoice_refused_with_its_envelope_says_how_many_charges_go_with_it(tmp_path, envelope,
                                                                                broken):
    text, expected = interchange()
    text = replace(text, position(text, broken.split("*")[0] + "*"), broken)
    result = run(tmp_path, {"bill.edi": text})
    assert result.rows.get("invoices", 0) == 0 and result.rows.get("charges", 0) == 0
    st = {r["value"]: r for r in rejects(result) if r["field"] == "ST"}
    # Invoices read = kept (none) + rejected; charges read = kept (none) + counted in the rejects.
    assert set(st) == {a.invoice for a in ACCOUNTS}
    for account in ACCOUNTS:
        n = len(expected[account.invoice]["charges"])
        assert (f"invoice {account.invoice} and its {n} charges are not kept: its {envelope} is refused"
                in st[account.invoice]["reason"])


def test_a_broken_interchange_refuses_only_itself_the_rest_of_the_file_is_kept(tmp_path):
    first, _ = interchange(control=1)
    second, _ = interchange(control=2)
    second = _isa_short(second.replace("INV-2024-07-", "INV-2024-08-"))
    text = first + second
    result = run(tmp_path, {"bill.edi": text})
    (isa06,) = [r for r in rejects(result) if r["field"] == "ISA06"]
    assert isa06["row"] == str(position(text, "ISA", 2))
    assert "expected 15" in isa06["reason"] and "its 3 invoices are not kept" in isa06["reason"]
    assert set(by_invoice(result)) == {a.invoice for a in ACCOUNTS}
    assert {r["value"] for r in rejects(result) if r["field"] == "ST"} == {
        a.invoice.replace("-07-", "-08-") for a in ACCOUNTS}


def test_a_corrected_copy_of_a_refused_interchange_is_kept(tmp_path):
    broken, _ = interchange(control=1)
    broken = replace(broken, position(broken, "IEA"), "IEA*1*000000999")
    corrected, _ = interchange(control=2)
    result = run(tmp_path, {"a.edi": broken, "b.edi": corrected})
    assert any(r["field"] == "IEA02" and r["origin"] == "a.edi" for r in rejects(result))
    assert not [r for r in rejects(result) if r["field"] == "BIG02"]   # not "already read"
    assert set(by_invoice(result)) == {a.invoice for a in ACCOUNTS}


def test_a_cut_short_file_refuses_its_interchange(tmp_path):
    text, _ = interchange()
    cut = text[: text.index("GE*")].rstrip("~\n")
    result = run(tmp_path, {"bill.edi": cut})
    fields = {r["field"] for r in rejects(result)}
    assert {"IEA", "GE", "SE"} <= fields
    assert result.rows.get("invoices", 0) == 0 and result.rows.get("charges", 0) == 0


def test_a_set_that_is_not_an_811_is_refused_alone(tmp_path):
    text, _ = interchange()
    at = position(text, "ST*", 2)
    text = replace(text, at, "ST*810*0002")
    result = run(tmp_path, {"bill.edi": text})
    (st01,) = [r for r in rejects(result) if r["field"] == "ST01"]
    assert st01["row"] == str(at) and st01["value"] == "810"
    assert set(by_invoice(result)) == {ACCOUNTS[0].invoice, ACCOUNTS[2].invoice}


# -- the body: totals, unknown segments and qualifiers, bad values ---------------------------------

def test_a_total_that_does_not_reconcile_is_a_reject_and_the_invoice_is_kept(tmp_path):
    text, expected = interchange()
    at = expected[ACCOUNTS[0].invoice]["tds"]
    text = replace(text, at, "TDS*20000")
    result = run(tmp_path, {"bill.edi": text})
    (tds,) = rejects(result)
    assert (tds["row"], tds["field"], tds["value"], tds["entity"]) == (str(at), "TDS01", "20000", "invoices")
    assert "totals 200.00" in tds["reason"] and "200.63" in tds["reason"]
    assert "kept as billed" in tds["reason"]
    assert by_invoice(result)[ACCOUNTS[0].invoice]["total"] == 200.0


def test_an_unknown_segment_is_a_reject_and_its_charge_is_kept(tmp_path):
    text, _ = interchange()
    at = position(text, "SLN*2**I")      # in the loop of an IT1; the counts stay right
    text = replace(text, at, "ZZZ*1*2")
    result = run(tmp_path, {"bill.edi": text})
    (bad,) = rejects(result)
    assert (bad["row"], bad["field"], bad["value"]) == (str(at), "ZZZ", "ZZZ*1*2")
    assert "not a segment of the 811" in bad["reason"] and "kept" in bad["reason"]
    assert result.rows["charges"] == 39


def test_an_unknown_level_code_is_a_reject_and_its_charges_are_kept(tmp_path):
    text, _ = interchange()
    at = position(text, "HL*3*2*9")
    text = replace(text, at, "HL*3*2*Q")
    result = run(tmp_path, {"bill.edi": text})
    (bad,) = rejects(result)
    assert (bad["row"], bad["field"], bad["value"]) == (str(at), "HL03", "Q")
    assert result.rows["charges"] == 39


def test_an_unreadable_amount_rejects_its_charge_and_the_total_says_so(tmp_path):
    text, expected = interchange()
    at = position(text, "IT1*2*120*MJ")
    text = replace(text, at, "IT1*2*120*MJ*O.O5**SV*USG01")
    result = run(tmp_path, {"bill.edi": text})
    by_field = {r["field"]: r for r in rejects(result)}
    assert by_field["IT104"]["row"] == str(at) and by_field["IT104"]["value"] == "O.O5"
    assert "expected a decimal number" in by_field["IT104"]["reason"]
    assert "not kept" in by_field["IT104"]["reason"]
    assert by_field["TDS01"]["row"] == str(expected[ACCOUNTS[0].invoice]["tds"])
    assert "6.00 less than the total" in by_field["TDS01"]["reason"]
    assert result.rows["charges"] == 38


def test_an_unreadable_amount_rejects_its_item_but_keeps_the_taxes_and_allowances_of_its_loop(tmp_path):
    text, expected = interchange()
    item = position(text, "IT1*3*1*EA*75")     # its PID, then its ITA (a surcharge of 1.23)
    ita = segments(text)[item + 1]
    text = replace(replace(text, item + 1, ita), item + 2, "AMT*1*7S.00")   # the AMT comes after
    result = run(tmp_path, {"bill.edi": text})
    by_field = {r["field"]: r for r in rejects(result)}
    assert set(by_field) == {"AMT02", "TDS01"}
    assert by_field["AMT02"]["row"] == str(item + 2)
    assert f"the IT1 charge at segment {item} is not kept" in by_field["AMT02"]["reason"]
    assert "the 1 TXI, ITA or SAC read in its loop" in by_field["AMT02"]["reason"]
    # The surcharge read before the bad AMT is kept; only the item's 75.00 is missing.
    charges = rows(result, "charges")
    assert result.rows["charges"] == 38
    (fusf,) = [c for c in charges if c["source_position"] == f"bill.edi:segment {item + 1}"]
    assert (fusf["charge_code"], fusf["charge_type"], fusf["amount"]) == ("FUSF", "surcharge", 1.23)
    assert "75.00 less than the total" in by_field["TDS01"]["reason"]


def test_an_unknown_allowance_indicator_rejects_that_allowance(tmp_path):
    text, _ = interchange()
    at = position(text, "ITA*C")
    text = replace(text, at, segments(text)[at - 1].replace("ITA*C", "ITA*X"))
    result = run(tmp_path, {"bill.edi": text})
    assert {(r["row"], r["field"]) for r in rejects(result)} >= {(str(at), "ITA01")}


def test_an_allowance_or_charge_for_information_only_is_no_charge(tmp_path):
    # ITA04 / SAC12 (element 331) code 15, Information Only: "the allowance or charge amounts are
    # not to be added or subtracted from the transaction". A plan discount shown for information
    # was kept as a credit of the bill (a credit that pays nothing, counted against its TDS).
    text, expected = interchange()
    first = ACCOUNTS[0]
    ita = ["ITA", "A", "", "PROMO", "15", "", "", "500"] + [""] * 5 + ["Plan discount (information only)"]
    sac = ["SAC", "C", "H090", "", "", "250"] + [""] * 6 + ["15", "", "", "Fee waived (information only)"]
    at = position(text, "DTM*150")                 # the first line's period: the bill's own
    text = replace(text, at, "*".join(sac))
    text = replace(text, at + 1, "*".join(ita))
    result = run(tmp_path, {"bill.edi": text})
    assert rejects(result) == []                   # the TDS reconciles without them
    charges = [c for c in rows(result, "charges") if c["invoice_id"].endswith(first.invoice)]
    assert len(charges) == len(expected[first.invoice]["charges"])
    assert not {"PROMO", "H090"} & {c["charge_code"] for c in charges}
    assert any("1 ITA for information only" in w and "1 SAC for information only" in w
               for w in result.warnings)


def test_a_negative_amount_is_a_credit_whatever_its_description(tmp_path):
    text, _ = interchange()
    text = text.replace("PID*F****Billing adjustment", "PID*F****Late payment charge reversed")
    charges = rows(run(tmp_path, {"bill.edi": text}), "charges")
    reversed_ = [c for c in charges if c["description"] == "Late payment charge reversed"]
    assert reversed_ and {c["charge_type"] for c in reversed_} == {"credit"}


def test_a_composite_unit_of_measure_is_read_by_its_first_component(tmp_path):
    text, _ = interchange()
    text = text.replace("SLN*1**A*2*EA*2.50", "SLN*1**A*2*MJ>1*2.50")    # C001: unit > multiplier
    charges = rows(run(tmp_path, {"bill.edi": text}), "charges")
    assert {c["charge_type"] for c in charges if c["charge_code"] == "FEAT1"} == {"usage"}


# -- the profile ------------------------------------------------------------------------------------

def test_a_carrier_profile_from_the_settings_changes_the_mapping(tmp_path):
    text, _ = interchange()
    # This carrier names the account with REF*AN and writes its charge codes as VN pairs.
    text = text.replace("REF*12*", "REF*AN*").replace("REF*11*", "REF*AN*").replace("**SV*", "**VN*")
    refused = run(tmp_path, {"bill.edi": text})
    assert refused.rows.get("invoices", 0) == 0
    assert {r["field"] for r in rejects(refused)} >= {"REF"}
    profile = ("    profile:\n      account_qualifiers: [AN]\n      charge_code_qualifiers: [VN]\n"
               "      charge_types: {MRC01: surcharge, LPC: one_time}\n")
    result = run(tmp_path, {"bill.edi": text}, profile)
    assert rejects(result) == [] and result.rows["invoices"] == 3
    charges = rows(result, "charges")
    assert {c["charge_type"] for c in charges if c["charge_code"] == "MRC01"} == {"surcharge"}
    assert {c["charge_type"] for c in charges if c["charge_code"] == "LPC"} == {"one_time"}


@pytest.mark.parametrize("profile, message", [
    ({"levels": {"2": "acount"}}, "acount"),
    ({"account_qualifier": ["12"]}, "account_qualifier"),
    ({"charge_types": {"X": "refund"}}, "refund"),
])
def test_a_wrong_profile_is_a_configuration_error(profile, message):
    with pytest.raises(ConfigError, match=message):
        check_settings(collectors.get("x12-811"), "bills", {"path": ".", "vendor": "v", "profile": profile})


def test_a_bad_description_pattern_is_a_configuration_error(tmp_path):
    cls = collectors.get("x12-811")
    with pytest.raises(ConfigError, match=r"description_types: '\(late' is not a regular expression"):
        cls("bills", {"path": ".", "vendor": "v", "profile": {"description_types": {"(late": "late_fee"}}},
            tmp_path)


def test_a_file_that_is_not_x12_is_a_clear_error(tmp_path):
    result_error = None
    setup(tmp_path, {"bill.edi": "<html>not a bill</html>"})
    try:
        run(tmp_path)
    except CollectError as exc:
        result_error = str(exc)
    assert result_error and "bill.edi: not an X12 interchange" in result_error


# -- the reader and its holding area ----------------------------------------------------------------

class Recorder:
    def __init__(self):
        self.events: list[tuple] = []

    def begin_set(self, position, st):
        self.events.append(("begin", position))

    def segment(self, position, set_position, elements):
        self.events.append(("seg", position, set_position, elements[0]))

    def end_set(self, position, faults):
        self.events.append(("set", position, [f.field for f in faults]))

    def end_group(self, position, faults):
        self.events.append(("group", position, [f.field for f in faults]))

    def end_interchange(self, position, faults):
        self.events.append(("interchange", position, [f.field for f in faults]))

    def fault(self, fault: Fault):
        self.events.append(("fault", fault.position, fault.field))

    def notice(self, message):
        self.events.append(("notice", message))


def test_the_reader_streams_in_blocks_with_positions_in_the_file_and_in_the_set(tmp_path):
    text, _ = interchange()
    path = tmp_path / "bill.edi"
    path.write_text(text, encoding="utf-8")
    small, large = Recorder(), Recorder()
    for _ in walk(path, small, block=7):           # blocks far smaller than a segment
        pass
    for _ in walk(path, large):
        pass
    assert small.events == large.events
    segs = [e for e in small.events if e[0] == "seg"]
    assert segs[0] == ("seg", 4, 2, "BIG")         # ISA 1, GS 2, ST 3: BIG is 2nd in its set
    assert [e for e in small.events if e[0] in ("set", "group", "interchange")][-2:] == [
        ("group", len(segments(text)) - 1, []), ("interchange", len(segments(text)), [])]


def test_the_holding_area_spills_to_disk_and_gives_back_only_the_sets_not_refused(tmp_path):
    schema = pa.schema([("v", pa.int64())])
    held = Pending(schema, limit=3)
    for tag in (1, 2, 3):
        held.add(tag, pa.table({"v": [tag * 10, tag * 10 + 1]}, schema=schema))
    assert held.path is not None and os.path.exists(held.path)   # more than 3 rows: spilled
    held.refuse([2])
    path = held.path
    assert [(tag, v) for tag, t in held.release() for v in t.column("v").to_pylist()] == [
        (1, 10), (1, 11), (3, 30), (3, 31)]
    assert not os.path.exists(path)


def test_text_without_the_declared_terminator_is_refused_not_read_whole(tmp_path, monkeypatch):
    import dialtone.collectors.x12.reader as reader_module
    from dialtone.engine.errors import CollectError

    text, _ = interchange()
    isa = text[:106]
    path = tmp_path / "bill.edi"
    path.write_text(isa + "BIG*20240701*" + "9" * 5000, encoding="utf-8")   # the '~' never comes
    monkeypatch.setattr(reader_module, "MAX_SEGMENT", 1000)
    with pytest.raises(CollectError, match="segment 2 runs past 1,000 characters without the segment "
                                           "terminator"):
        list(reader_module.segments(path, block=256))
