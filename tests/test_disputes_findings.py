"""The dispute policies raise one finding per dispute, not one per disputed charge.

The estate is tests/billkit.py: bill 1 (2026-04-05) overbills charge C1 by 20.00 (rate above
contract) and charges a late fee C3 of 25.00. One dispute, DSP-000001, claims both (45.00); it
is filed on 2026-05-10. The built-in source ``dialtone-disputes`` writes it into the snapshot as
two rows, one per disputed charge; the policies must see one dispute of 45.00.
"""

from __future__ import annotations

import datetime as dt

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from dialtone.engine.config import load_config
from dialtone.engine.disputes.build import open_from_findings
from dialtone.engine.evaluation import evaluate
from dialtone.engine.policy.loader import load_policies
from dialtone.engine.snapshots import SnapshotStore
from dialtone.engine.store import Store, workflow
from dialtone.engine.store import disputes as store_disputes
from dialtone.engine.store.tables import findings
from tests.billkit import add_bill, write_estate

ABOVE, LATE_FEE = "cost.charge-above-contract-rate", "cost.late-payment-fees"
PAST_WINDOW, CREDIT_MISSING = "cost.dispute-open-past-window", "cost.dispute-credit-missing"
FILED_AT = dt.datetime(2026, 5, 10, 12, 0, tzinfo=dt.UTC)


def _collect(runner, cli, as_of: str) -> None:
    result = runner.invoke(cli, ["collect", "--as-of", as_of])
    assert result.exit_code == 0, result.output


@pytest.fixture
def two_charge_dispute(tmp_path, runner, cli, monkeypatch):
    """The snapshot of 2026-07-10 (61 days after filing, bills 3 and 4 since, no credit) and
    the dispute's items, in order."""
    monkeypatch.chdir(tmp_path)
    est = write_estate(tmp_path)
    _collect(runner, cli, "2026-05-10")
    for policy in (ABOVE, LATE_FEE):
        result = runner.invoke(cli, ["evaluate", "--policy", policy])
        assert result.exit_code == 0, result.output
    config = load_config(tmp_path / "dialtone.yaml")
    store = Store.from_config(config, clock=lambda: FILED_AT)
    try:
        audit = workflow.audit_writer(store, "test")
        with store.read() as conn:
            ids = conn.execute(select(findings.c.id).where(findings.c.policy_id.in_([ABOVE, LATE_FEE]))
                               .order_by(findings.c.id)).scalars().all()
        assert len(ids) == 2
        snapshots = SnapshotStore(config.data_dir)
        [did] = open_from_findings(store, snapshots.get(None), ids, config.disputes, "olivia", audit)
        store_disputes.file(store, did, "olivia", audit, carrier_reference="VZ-77")
        items = store_disputes.get(store, did)["items"]
    finally:
        store.close()
    add_bill(est, 2)
    add_bill(est, 3)
    add_bill(est, 4)
    _collect(runner, cli, "2026-07-10")
    return snapshots.get(None), items


def test_the_snapshot_has_one_row_per_disputed_charge(two_charge_dispute):
    """The premise: the dispute is two rows of the snapshot (one per charge), of one reference."""
    snapshot, items = two_charge_dispute
    rows = pq.read_table(snapshot.parquet("disputes")).to_pylist()
    assert sorted((r["id"], r["reference"], r["charge_id"], r["amount"]) for r in rows) == sorted(
        (f"DSP-000001/{i['id']}", "DSP-000001", i["charge_id"], i["claimed_amount"]) for i in items)
    assert sorted(i["claimed_amount"] for i in items) == [20.0, 25.0]


def test_a_dispute_of_two_charges_open_too_long_is_one_finding_with_its_whole_claim(
        two_charge_dispute):
    snapshot, items = two_charge_dispute
    [outcome] = evaluate(snapshot, load_policies(), policy_ids=[PAST_WINDOW]).outcomes
    first = min(f"DSP-000001/{i['id']}" for i in items)
    assert [f["resource_id"] for f in outcome.findings] == [first]
    [finding] = outcome.findings
    assert finding["reason"] == ("dispute DSP-000001 of 45.0 USD over 2 charges has been with the "
                                 "carrier for 61 days without a credit")
    evidence = finding["evidence"]
    assert (evidence["amount"], evidence["credited_amount"], evidence["charges"],
            evidence["charges_unpaid"], evidence["oldest_bill_on"]) == (45.0, 0.0, 2, 2, "2026-04-05")
    assert evidence["charge_id"] is None    # two charges: the dispute names none of them alone
    assert finding["savings"] is None


def test_a_dispute_of_two_charges_without_its_credit_is_one_finding_with_its_unpaid_claim(
        two_charge_dispute):
    snapshot, items = two_charge_dispute
    [outcome] = evaluate(snapshot, load_policies(), policy_ids=[CREDIT_MISSING]).outcomes
    first = min(f"DSP-000001/{i['id']}" for i in items)
    assert [f["resource_id"] for f in outcome.findings] == [first]
    [finding] = outcome.findings
    assert finding["reason"] == (
        "no credit for dispute DSP-000001 (carrier VZ-77) of 45.0 USD (2 of its 2 charges) on the 2 "
        "bills since it was filed on 2026-05-10 (last: INV-4 of 2026-07-05)")
    evidence = finding["evidence"]
    assert (evidence["amount"], evidence["credited"], evidence["unpaid"], evidence["charges"],
            evidence["charges_without_credit"]) == (45.0, 0.0, 45.0, 2, 2)
    assert finding["savings"] is None
