"""Disputes opened from findings: the claim read from the bill, states, write-offs, credits."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from dialtone.engine.config import load_config
from dialtone.engine.disputes.build import open_from_findings, plan
from dialtone.engine.snapshots import SnapshotStore
from dialtone.engine.store import Store, chain, workflow
from dialtone.engine.store import disputes as store_disputes
from dialtone.engine.store.disputes import CreditMatch, DisputeError
from dialtone.engine.store.history_state import check as check_history
from dialtone.engine.store.tables import disputes as disputes_table
from dialtone.engine.store.tables import events, findings
from tests.billkit import write_estate

ABOVE, LATE = "cost.charge-above-contract-rate", "cost.late-payment-fees"


@pytest.fixture
def billed(runner, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_estate(tmp_path)
    assert runner.invoke(cli, ["collect", "--as-of", "2026-05-10"]).exit_code == 0
    result = runner.invoke(cli, ["evaluate", "--policy", ABOVE, "--policy", LATE])
    assert result.exit_code == 0, result.output
    config = load_config(tmp_path / "dialtone.yaml")
    store = Store.from_config(config)
    yield config, store, SnapshotStore(config.data_dir).get(None)
    store.close()


def _finding(store, policy_id):
    with store.read() as conn:
        return conn.execute(select(findings.c.id).where(findings.c.policy_id == policy_id)).scalar_one()


def test_a_dispute_claims_what_the_bill_got_wrong_not_the_findings_run_rate(billed):
    config, store, snap = billed
    above, late = _finding(store, ABOVE), _finding(store, LATE)
    [p] = plan(store, snap, [above, late], config.disputes)
    assert (p.account_id, p.vendor, p.currency, p.window_days) == ("A1", "Verizon", "USD", 120)
    by_charge = {i.charge_id: i for i in p.items}
    # The overcharge: 20.00 over the contracted 40.00 on a 60.00 charge (its finding's savings is
    # a year's run rate, which is no money on a bill); the late fee: the fee itself.
    assert (by_charge["C1"].billed_amount, by_charge["C1"].contracted_amount,
            by_charge["C1"].claimed_amount) == (60.0, 40.0, 20.0)
    assert by_charge["C3"].claimed_amount == 25.0
    assert by_charge["C1"].invoice_number == "INV-1" and by_charge["C1"].bill_date == "2026-04-05"


def test_states_history_and_a_write_off_needs_a_second_person(billed):
    config, store, snap = billed
    audit = workflow.audit_writer(store, "test")
    above = _finding(store, ABOVE)
    [did] = open_from_findings(store, snap, [above], config.disputes, "olivia", audit)
    d = store_disputes.get(store, did)
    assert (d["reference"], d["status"], d["claimed_total"]) == ("DSP-000001", "draft", 20.0)
    assert (d["bill_date"], d["deadline"]) == ("2026-04-05", "2026-08-03")   # 120 days: Verizon's window
    # The same charge is never claimed twice while the first dispute lives.
    with pytest.raises(DisputeError, match="already disputed in DSP-000001"):
        open_from_findings(store, snap, [above], config.disputes, "olivia", audit)
    with pytest.raises(DisputeError, match="draft; it can be acknowledged only when filed"):
        store_disputes.acknowledge(store, did, "olivia", audit)
    assert store_disputes.file(store, did, "olivia", audit, carrier_reference="VZ-77",
                               today=dt.date(2026, 5, 10)) is True
    store_disputes.acknowledge(store, did, "olivia", audit)
    assert store_disputes.request_writeoff(store, did, "withdraw", "not worth it", "olivia", audit) is False
    assert store_disputes.get(store, did)["status"] == "acknowledged"    # awaits approval
    with pytest.raises(DisputeError, match="someone other than who asked"):
        store_disputes.decide_writeoff(store, did, True, "olivia", audit)
    store_disputes.decide_writeoff(store, did, False, "adam", audit, "keep chasing")
    assert store_disputes.get(store, did)["writeoff_action"] is None
    kinds = [e["kind"] for e in store_disputes.history(store, did)]
    assert kinds == ["dispute_opened", "dispute_filed", "dispute_acknowledged",
                     "dispute_writeoff_requested", "dispute_writeoff_rejected"]
    with store.read() as conn:
        assert chain.verify(conn).ok
        # Dispute events never change the finding's status: the history still agrees with it.
        assert check_history(conn).ok
        assert conn.execute(select(findings.c.status).where(findings.c.id == above)).scalar_one() == "open"
        filed = select(events.c.finding_id).where(events.c.kind == "dispute_filed")
        assert conn.execute(filed).scalar_one() == above


def test_credits_move_the_dispute_to_partially_credited_then_credited_once_each(billed):
    config, store, snap = billed
    audit = workflow.audit_writer(store, "test")
    [did] = open_from_findings(store, snap, [_finding(store, ABOVE), _finding(store, LATE)],
                               config.disputes, "olivia", audit)
    store_disputes.file(store, did, "olivia", audit)
    item = store_disputes.get(store, did)["items"][0]["id"]

    def credit(charge_id, amount):
        return CreditMatch(did, item, charge_id, "I3", "INV-3", "2026-06-05", amount, "USD", "reference")

    assert store_disputes.apply_credits(store, [credit("CR1", 20.0)], "S3") == 1
    assert store_disputes.apply_credits(store, [credit("CR1", 20.0)], "S3") == 0   # matched once
    d = store_disputes.get(store, did)
    assert (d["status"], d["credited_total"]) == ("partially_credited", 20.0)
    store_disputes.apply_credits(store, [credit("CR2", 25.0)], "S4")
    d = store_disputes.get(store, did)
    assert (d["status"], d["credited_total"], d["closed_at"] is not None) == ("credited", 45.0, True)


def test_a_resolved_finding_or_an_unknown_one_is_not_disputed(billed):
    config, store, snap = billed
    audit = workflow.audit_writer(store, "test")
    late = _finding(store, LATE)
    workflow.resolve_manual(store, late, "waived by the carrier", "olivia", audit)
    with pytest.raises(DisputeError, match=f"Finding {late} is resolved"):
        plan(store, snap, [late], config.disputes)
    with pytest.raises(DisputeError, match="There is no finding 999"):
        plan(store, snap, [999], config.disputes)


def test_audit_verify_finds_a_dispute_edited_around_its_history(billed, runner, cli):
    config, store, snap = billed
    audit = workflow.audit_writer(store, "test")
    [did] = open_from_findings(store, snap, [_finding(store, ABOVE), _finding(store, LATE)],
                               config.disputes, "olivia", audit)
    store_disputes.file(store, did, "olivia", audit)
    result = runner.invoke(cli, ["audit", "verify"])
    assert result.exit_code == 0 and "disputes OK: 1 agree with their history" in result.output
    # Marking it credited by hand, with no credit on any bill, is what the check is for.
    with store.write() as conn:
        conn.execute(disputes_table.update().values(status="credited", credited_total=45.0))
    result = runner.invoke(cli, ["audit", "verify"])
    assert result.exit_code == 1
    assert "dispute DSP-000001: status is 'credited', its history says 'filed'" in result.output


def test_a_claim_edited_around_its_history_and_a_stale_write_off_are_caught(billed, runner, cli):
    config, store, snap = billed
    audit = workflow.audit_writer(store, "test")
    [did] = open_from_findings(store, snap, [_finding(store, LATE)], config.disputes, "olivia", audit)
    store_disputes.file(store, did, "olivia", audit)
    # A deny asked for, then the carrier pays in full: the request is void, the charge claimed.
    store_disputes.request_writeoff(store, did, "deny", "carrier says no", "olivia", audit)
    item = store_disputes.get(store, did)["items"][0]["id"]
    store_disputes.apply_credits(store, [CreditMatch(did, item, "CR9", "I3", "INV-3", "2026-06-05", 25.0,
                                                     "USD", "reference")], "S3")
    d = store_disputes.get(store, did)
    assert (d["status"], d["writeoff_action"]) == ("credited", None)
    with pytest.raises(DisputeError, match="no write-off awaiting approval"):
        store_disputes.decide_writeoff(store, did, True, "adam", audit)
    with pytest.raises(DisputeError, match="already disputed in DSP-000001"):
        open_from_findings(store, snap, [_finding(store, LATE)], config.disputes, "olivia", audit)
    assert runner.invoke(cli, ["audit", "verify"]).exit_code == 0
    with store.write() as conn:
        conn.execute(disputes_table.update().values(claimed_total=250.0))
    result = runner.invoke(cli, ["audit", "verify"])
    assert result.exit_code == 1 and "claims 250.0, its history says 25.0" in result.output


def test_an_accepted_partial_credit_is_closed_for_good(billed):
    config, store, snap = billed
    audit = workflow.audit_writer(store, "test")
    [did] = open_from_findings(store, snap, [_finding(store, ABOVE), _finding(store, LATE)],
                               config.disputes, "olivia", audit)
    store_disputes.file(store, did, "olivia", audit)
    item = store_disputes.get(store, did)["items"][0]["id"]
    store_disputes.apply_credits(store, [CreditMatch(did, item, "CR1", "I3", "INV-3", "2026-06-05", 20.0,
                                                     "USD", "reference")], "S3")
    store_disputes.request_writeoff(store, did, "accept", "the fee stays", "olivia", audit)
    store_disputes.decide_writeoff(store, did, True, "adam", audit)
    d = store_disputes.get(store, did)
    assert (d["status"], d["credited_total"], d["closed_at"] is not None) == ("accepted", 20.0, True)
    assert "accepted" not in store_disputes.WITH_CARRIER
    with pytest.raises(DisputeError, match="accepted; it can be recorded as denied only when"):
        store_disputes.request_writeoff(store, did, "deny", "again", "olivia", audit)


def test_a_charge_after_cancellation_credited_in_part_claims_only_the_rest(
        runner, cli, tmp_path, monkeypatch):
    # L2 was cancelled in March; its April plan (40.00) was billed anyway and the carrier credited
    # 10.00 of it: the claim is the 30.00 still owed, not the whole charge.
    monkeypatch.chdir(tmp_path)
    est = write_estate(tmp_path)
    lines = (est / "lines.csv").read_text().splitlines()
    lines[0] += ",cancelled_on"
    lines[1] += ","
    lines[2] = lines[2].replace(",active,", ",cancelled,") + ",2026-03-31"
    (est / "lines.csv").write_text("\n".join(lines) + "\n")
    with (est / "charges.csv").open("a") as fh:
        fh.write("C9,I1,L2,ADJ,credit,Partial credit,,,-10,USD,2026-04-01,2026-04-30,\n")
    assert runner.invoke(cli, ["collect", "--as-of", "2026-05-10"]).exit_code == 0
    result = runner.invoke(cli, ["evaluate", "--policy", "cost.charge-after-cancellation"])
    assert result.exit_code == 0, result.output
    config = load_config(tmp_path / "dialtone.yaml")
    store = Store.from_config(config)
    try:
        [item] = plan(store, SnapshotStore(config.data_dir).get(None),
                      [_finding(store, "cost.charge-after-cancellation")], config.disputes).pop().items
    finally:
        store.close()
    assert (item.charge_id, item.billed_amount, item.claimed_amount) == ("C2", 40.0, 30.0)
