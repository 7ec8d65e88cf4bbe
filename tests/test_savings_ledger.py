"""The savings ledger (engine/disputes/ledger.py): each state read from findings, disputes and the
bills of a real snapshot; money counted once per resource and period, never across currencies."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from dialtone.engine.disputes.ledger import ledger
from dialtone.engine.store import disputes as store_disputes
from dialtone.engine.store import workflow
from dialtone.engine.store.claims import savings_by_state
from tests import ledgerkit
from tests.ledgerkit import ABOVE, IDLE, LATE, LEAVER, ORPHAN, SEATS

TODAY = dt.date(2026, 7, 10)


@pytest.fixture
def story(tmp_path, runner, cli, monkeypatch):
    ws = ledgerkit.build(tmp_path, runner, cli, monkeypatch)
    yield ws
    ws.store.close()


def _rows(book, state):
    return [r for r in book.table.to_pylist() if r["state"] == state]


def test_identified_is_the_stores_de_duplicated_claim_of_open_findings_currencies_apart(story):
    book = ledger(story.store, story.snapshot, TODAY)
    with story.store.read() as conn:
        assert book.totals["identified"] == savings_by_state(conn)["identified"]
    # C1's 240.00 and C3's 25.00 a year in dollars; L9's 100.00 in euros, never added to them.
    assert book.totals["identified"] == {"EUR": 100.0, "USD": 265.0}
    assert {r["period"] for r in _rows(book, "identified")} == {"2026-07"}


def test_disputed_is_what_a_filed_dispute_still_claims_in_the_month_of_the_disputed_bill(tmp_path, runner,
                                                                                         cli, monkeypatch):
    ws = ledgerkit.build(tmp_path, runner, cli, monkeypatch, credited=False)
    try:
        book = ledger(ws.store, ws.snapshot, TODAY)
        assert book.totals["disputed"] == {"USD": 45.0}
        disputed = {(r["resource_id"], r["period"], r["amount"], r["policy_id"])
                    for r in _rows(book, "disputed")}
        assert disputed == {("C1", "2026-04", 20.0, ABOVE), ("C3", "2026-04", 25.0, LATE)}
        assert book.totals["recovered"] == {} and book.totals["written_off"] == {}
    finally:
        ws.store.close()


def test_a_draft_claims_nothing_from_the_carrier_yet(tmp_path, runner, cli, monkeypatch):
    config, snap = ledgerkit.collect(tmp_path, runner, cli, monkeypatch)
    store = ledgerkit.make_store(ledgerkit.store_url("sqlite", tmp_path),
                                 ledgerkit.Clock(dt.datetime(2026, 5, 10, 9, tzinfo=dt.UTC)))
    try:
        ids = ledgerkit.record_findings(store, tmp_path)
        audit = workflow.audit_writer(store, "test")
        spec = store_disputes.ItemSpec(ids[(LATE, "C3")], LATE, "C3", "I1", "INV-1", "2026-04-05", None,
                                       "LATE", None, 25.0, None, 25.0, "late fee")
        store_disputes.open_dispute(store, [spec], account_id="A1", vendor="Verizon", currency="USD",
                                    window_days=90, actor="olivia", audit=audit)
        assert ledger(store, snap, TODAY).totals["disputed"] == {}
    finally:
        store.close()


def test_recovered_is_the_matched_credit_in_the_month_of_the_bill_that_carried_it(story):
    book = ledger(story.store, story.snapshot, TODAY)
    assert book.totals["recovered"] == {"USD": 20.0}
    [row] = _rows(book, "recovered")
    assert (row["resource_type"], row["resource_id"], row["period"], row["policy_id"]) == \
        ("charges", "C1", "2026-06", ABOVE)
    # The charge is L1's: its cost centre; the account's carrier; what the credit rests on.
    assert (row["cost_center"], row["vendor"]) == ("CC-1", "Verizon")
    assert "DSP-000001" in row["detail"] and "INV-3" in row["detail"] and "reference" in row["detail"]
    # What the carrier has not credited yet stays disputed: the late fee.
    assert book.totals["disputed"] == {"USD": 25.0}


def test_written_off_is_what_an_accepted_partial_credit_leaves_unrecovered(story):
    audit = workflow.audit_writer(story.store, "test")
    story.store.clock.set_day(dt.date(2026, 7, 2))
    store_disputes.request_writeoff(story.store, story.dispute, "accept", "the carrier will not move",
                                    "olivia", audit)
    # Until a second person approves it, the claim is still with the carrier.
    assert ledger(story.store, story.snapshot, TODAY).totals["disputed"] == {"USD": 25.0}
    store_disputes.decide_writeoff(story.store, story.dispute, True, "adam", audit)
    book = ledger(story.store, story.snapshot, TODAY)
    assert book.totals["written_off"] == {"USD": 25.0}
    assert book.totals["disputed"] == {} and book.totals["recovered"] == {"USD": 20.0}
    [row] = _rows(book, "written_off")
    assert (row["resource_id"], row["period"]) == ("C3", "2026-07")
    # The dashboard says it too, and no longer shows money as disputed.
    from tests.test_web_money import totals_in

    dashboard = ledgerkit.client(story).get("/").get_data(as_text=True)
    cards = re.findall(r'<a class="card money bills"[^>]*>(.*?)</a>', dashboard, re.S)
    assert totals_in(next(c for c in cards if "written off" in c)) == {"USD": 25.0}
    assert not [c for c in cards if "disputed with carriers" in c]


def test_a_denied_dispute_writes_off_all_it_did_not_recover(tmp_path, runner, cli, monkeypatch):
    ws = ledgerkit.build(tmp_path, runner, cli, monkeypatch, credited=False)
    try:
        audit = workflow.audit_writer(ws.store, "test")
        store_disputes.request_writeoff(ws.store, ws.dispute, "deny", "carrier says the rate is right",
                                        "olivia", audit)
        store_disputes.decide_writeoff(ws.store, ws.dispute, True, "adam", audit)
        book = ledger(ws.store, ws.snapshot, TODAY)
        assert book.totals["written_off"] == {"USD": 45.0} and book.totals["disputed"] == {}
    finally:
        ws.store.close()


def test_avoided_counts_each_month_the_account_was_billed_without_the_cancelled_line_once(story):
    book = ledger(story.store, story.snapshot, TODAY)
    # L2 was billed 40.00 on bill 2, resolved on 2026-05-20, absent from bills 3 and 4: two months
    # at 40.00, once although two policies claimed it.
    assert book.totals["avoided"] == {"USD": 80.0}
    rows = _rows(book, "avoided")
    assert sorted((r["resource_id"], r["period"], r["amount"]) for r in rows) == \
        [("L2", "2026-06", 40.0), ("L2", "2026-07", 40.0)]
    assert {r["policy_id"] for r in rows} <= {LEAVER, IDLE} and {r["cost_center"] for r in rows} == {"CC-2"}
    checks = {r["object_id"]: r for r in book.checks.to_pylist()}
    l2 = checks["L2"]
    assert (l2["outcome"], l2["months"], l2["last_bill"]) == ("avoided", 2, "I2")
    # L1 was resolved as well, but the bills after it still charge it: not avoided.
    assert checks["L1"]["outcome"] == "still_billed"
    assert "L1" not in {r["resource_id"] for r in rows}


def test_avoided_waits_for_a_bill_issued_after_the_resolution(story):
    book = ledger(story.store, story.snapshot, dt.date(2026, 5, 31))
    assert book.totals["avoided"] == {}
    assert {r["object_id"]: r["outcome"] for r in book.checks.to_pylist()}["L2"] == "awaiting_bill"


def test_a_seat_no_bill_shows_is_unverified_apart_never_avoided(story):
    book = ledger(story.store, story.snapshot, TODAY)
    assert book.totals["unverified"] == {"EUR": 120.0}
    assert "EUR" not in book.totals["avoided"]
    [row] = _rows(book, "unverified")
    assert (row["resource_type"], row["resource_id"], row["period"], row["policy_id"]) == \
        ("licenses", "S1", "2026-05", SEATS)


def test_without_charges_in_the_snapshot_a_cancelled_line_is_unverified(story, tmp_path):
    from dialtone.engine.snapshots import SnapshotStore

    bare = SnapshotStore(tmp_path / "bare").write({}, as_of=TODAY, sources={})
    book = ledger(story.store, bare, TODAY)
    assert book.totals["avoided"] == {}
    assert book.totals["unverified"] == {"EUR": 120.0, "USD": 780.0}   # L2 480 + L1 300, seat S1 EUR
    assert {r["object_id"] for r in book.checks.to_pylist() if r["outcome"] == "unverified"} == \
        {"L1", "L2", "S1"}


def test_the_breakdowns_add_up_to_the_totals_per_currency(story):
    book = ledger(story.store, story.snapshot, TODAY)
    for by in ("cost_center", "vendor", "policy", "period"):
        rows = book.rows(by)
        for state, totals in book.totals.items():
            summed: dict[str, float] = {}
            for r in rows:
                summed[r["currency"]] = summed.get(r["currency"], 0.0) + r[state]
            assert {c: round(v, 2) for c, v in summed.items() if round(v, 2)} == totals, (by, state)
    by_cc = {(r["name"], r["currency"]): r for r in book.rows("cost_center")}
    assert by_cc[("CC-2", "USD")]["avoided"] == 80.0 and by_cc[("CC-1", "USD")]["recovered"] == 20.0
    by_policy = {(r["name"], r["currency"]): r for r in book.rows("policy")}
    # L1's orphan claim was resolved but the bills still charge L1: no money in any state.
    assert (ORPHAN, "USD") not in by_policy
    with pytest.raises(Exception, match="broken down by"):
        book.rows("colour")


def _bills_row(html: str, label: str) -> dict[str, float]:
    from tests.test_web_money import totals_in

    table = re.search(r'<table class="money-bills[^"]*">(.*?)</table>', html, re.S).group(1)
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S):
        head = re.search(r'<th scope="row">(.*?)<small>', row, re.S)
        if head and head.group(1).strip() == label:
            return totals_in(row.split("</th>", 1)[1])
    raise AssertionError(f"no {label!r} row")


def test_the_savings_page_and_the_dashboard_show_the_money_seen_on_the_bills(story):
    from tests import ledgerkit
    from tests.test_web_money import totals_in

    story.store.clock.set_day(TODAY)
    client = ledgerkit.client(story)
    html = client.get("/savings").get_data(as_text=True)
    book = ledger(story.store, story.snapshot, TODAY)
    for label, state in (("Recovered", "recovered"), ("Avoided", "avoided"), ("Disputed", "disputed"),
                         ("Written off", "written_off"), ("Unverified", "unverified")):
        assert _bills_row(html, label) == book.totals[state], label
    assert _bills_row(html, "Avoided") == {"USD": 80.0} and _bills_row(html, "Recovered") == {"USD": 20.0}
    assert "Recovered and avoided money is real saving" in html
    # Realised stays, labelled for what it is: a claimed fix, not money seen on a bill.
    assert "It is a claimed fix, not money seen on a bill" in html
    # What the bills showed for each resolved object, and the money by period (open) and cost centre.
    assert "1 gone from the next bills (avoided)" in html and "1 still charged on a later bill" in html
    assert "1 no bill can show it (unverified)" in html
    by_period = re.search(r'aria-label="Money seen on the bills by period".*?</table>', html, re.S).group(0)
    assert re.search(r"<th scope=\"row\">2026-06</th>.*?recovered</small> USD 20\.00.*?avoided</small> "
                     r"USD 40\.00", by_period, re.S)

    realised = client.get("/savings/findings?state=realised").get_data(as_text=True)
    assert "Realised savings are claimed fixes" in realised
    dashboard = client.get("/").get_data(as_text=True)
    cards = re.findall(r'<a class="card money bills"[^>]*>(.*?)</a>', dashboard, re.S)
    assert totals_in(next(c for c in cards if "recovered from carriers" in c)) == {"USD": 20.0}
    assert totals_in(next(c for c in cards if "avoided:" in c)) == {"USD": 80.0}
    assert totals_in(next(c for c in cards if "disputed with carriers" in c)) == {"USD": 25.0}
    assert "claimed fixes, not money seen on a bill" in dashboard


def test_the_evidence_package_holds_the_disputes_and_the_ledger_signed_and_masked(tmp_path, runner, cli,
                                                                                   monkeypatch):
    import json
    import zipfile

    from dialtone.engine.disputes.build import open_from_findings
    from dialtone.engine.store import Store
    from dialtone.engine.store.disputes import CreditMatch

    config, snap = ledgerkit.collect(tmp_path, runner, cli, monkeypatch)
    assert runner.invoke(cli, ["evaluate", "--policy", ABOVE, "--policy", LATE]).exit_code == 0
    assert runner.invoke(cli, ["evidence", "keygen", "--out", str(tmp_path / "org")]).exit_code == 0
    store = Store.from_config(config)
    try:
        audit = workflow.audit_writer(store, "test")
        with store.read() as conn:
            ids = [r for (r,) in conn.exec_driver_sql("SELECT id FROM findings ORDER BY id")]
        [did] = open_from_findings(store, snap, ids, config.disputes, "olivia", audit,
                                   note="agreed with the carrier on +1 212 555 0100")
        store_disputes.file(store, did, "olivia", audit, carrier_reference="VZ-77")
        c1 = next(i for i in store_disputes.get(store, did)["items"] if i["charge_id"] == "C1")
        store_disputes.apply_credits(store, [CreditMatch(did, c1["id"], "C3-CR", "I3", "INV-3", "2026-06-05",
                                                         20.0, "USD", "reference")], snap.id)
    finally:
        store.close()

    def export(name, *extra):
        out = tmp_path / name
        result = runner.invoke(cli, ["export", "evidence", "--by", "snapshot", "--from", "2026-07-01",
                                     "--to", "2026-07-31", "-o", str(out), *extra])
        assert result.exit_code == 0, result.output
        with zipfile.ZipFile(out) as zf:
            return out, {n: zf.read(n) for n in zf.namelist()}

    out, files = export("signed.zip", "--sign-with", str(tmp_path / "org.pem"))
    manifest = json.loads(files["manifest.json"])
    listed = {f["path"] for f in manifest["files"]}
    assert {"disputes.json", "savings-ledger.json"} <= listed
    verified = runner.invoke(cli, ["evidence", "verify", str(out), "--key", str(tmp_path / "org.pub.pem")])
    assert verified.exit_code == 0, verified.output
    envelope = json.loads(files["attestation.intoto.dsse.json"])
    import base64

    subjects = {s["name"] for s in json.loads(base64.b64decode(envelope["payload"]))["subject"]}
    assert {"disputes.json", "savings-ledger.json"} <= subjects

    [dispute] = json.loads(files["disputes.json"])
    assert (dispute["reference"], dispute["status"], dispute["claimed_total"], dispute["credited_total"]) == \
        ("DSP-000001", "partially_credited", 45.0, 20.0)
    assert {i["charge_id"]: i["claimed_amount"] for i in dispute["items"]} == {"C1": 20.0, "C3": 25.0}
    [credit] = dispute["credits"]
    assert (credit["invoice_number"], credit["bill_date"], credit["amount"], credit["basis"]) == \
        ("INV-3", "2026-06-05", 20.0, "reference")
    book = json.loads(files["savings-ledger.json"])
    assert (book["as_of"], book["snapshot"]) == ("2026-07-31", snap.id)
    # As of the period's end: the credit's bill (June) is in it; the dispute was filed today, after
    # the period, so as of July nothing was with the carrier yet.
    assert book["totals"]["recovered"] == {"USD": 20.0} and book["totals"]["disputed"] == {}
    index = files["index.html"].decode()
    assert 'href="disputes.json"' in index and 'href="savings-ledger.json"' in index
    assert "DSP-000001" in index and "20.00 on INV-3 (reference)" in index

    # Masked as the rest of the package is: the phone number in the dispute's note is a token.
    assert "212 555 0100" in files["disputes.json"].decode()
    _, masked = export("masked.zip", "--mask-pii")
    assert "212 555 0100" not in masked["disputes.json"].decode()
    assert "[phone:" in json.loads(masked["disputes.json"])[0]["note"]


def test_the_dashboards_figures_follow_a_credit_matched_after_they_were_shown(tmp_path, runner, cli,
                                                                               monkeypatch):
    from tests.test_web_money import totals_in

    ws = ledgerkit.build(tmp_path, runner, cli, monkeypatch, credited=False)
    ws.store.clock.set_day(dt.date(2026, 7, 10))   # the day of the snapshot: bill 3 (June) is out
    try:
        client = ledgerkit.client(ws)

        def recovered():
            html = client.get("/").get_data(as_text=True)
            cards = re.findall(r'<a class="card money bills"[^>]*>(.*?)</a>', html, re.S)
            return totals_in(next(c for c in cards if "recovered from carriers" in c))

        assert recovered() == {}
        ledgerkit.credit_c1(ws.store, ws.dispute)
        assert recovered() == {"USD": 20.0}
    finally:
        ws.store.close()
