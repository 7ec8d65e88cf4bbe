"""Steps for disputes: the billing estate of tests/billkit.py, a dispute filed on a given day,
bills that follow with or without a credit, `dialtone run` matching the credits."""

from __future__ import annotations

import datetime as dt
import json

from pytest_bdd import given, parsers, then, when
from sqlalchemy import select

from tests.billkit import add_bill, write_estate

from .policy_steps import _invoke

ABOVE = "cost.charge-above-contract-rate"


def _config(world: dict):
    from dialtone.engine.config import load_config

    return load_config(world["root"] / "dialtone.yaml")


def _store(world: dict, day: str | None = None):
    from dialtone.engine.store import Store

    if day is None:
        return Store.from_config(_config(world))
    at = dt.datetime.fromisoformat(day).replace(hour=12, tzinfo=dt.UTC)
    return Store.from_config(_config(world), clock=lambda: at)


def _dialtone_run(world: dict) -> None:
    result = _invoke(world, "--config", str(world["root"] / "dialtone.yaml"), "run")
    assert result.exit_code in (0, 3), result.output       # 3: degraded is still a run
    world["run_output"] = result.output


@given(parsers.parse('a carrier account whose bill 1 of 2026-04-05 overbills the plan of line "{line}" '
                     'by 20.00 USD'))
def billing_estate(world: dict, line: str) -> None:
    assert line == "L1"          # tests/billkit.py: C1 bills L1's plan at 60.00, contracted 40.00
    world["estate"] = write_estate(world["root"])


@given(parsers.parse('Dialtone has run once and found the overcharge on charge "{charge}"'))
def first_run(world: dict, charge: str) -> None:
    from dialtone.engine.store.tables import findings

    _dialtone_run(world)
    store = _store(world)
    try:
        with store.read() as conn:
            world["finding"] = conn.execute(select(findings.c.id).where(
                findings.c.policy_id == ABOVE, findings.c.resource_id == charge)).scalar_one()
    finally:
        store.close()


@given(parsers.parse('a dispute opened from that finding is filed with the carrier on "{day}"'))
def dispute_filed(world: dict, day: str) -> None:
    from dialtone.engine.disputes.build import open_from_findings
    from dialtone.engine.snapshots import SnapshotStore
    from dialtone.engine.store import disputes, workflow

    config = _config(world)
    store = _store(world, day)
    try:
        audit = workflow.audit_writer(store, "feature")
        [world["dispute"]] = open_from_findings(store, SnapshotStore(config.data_dir).get(None),
                                                [world["finding"]], config.disputes, "olivia", audit)
        assert disputes.file(store, world["dispute"], "olivia", audit) is True   # inside the window
    finally:
        store.close()


def _dispute(world: dict, reference: str) -> dict:
    from dialtone.engine.store import disputes

    store = _store(world)
    try:
        return disputes.get(store, disputes.parse_id(reference))
    finally:
        store.close()


@then(parsers.parse('the dispute "{reference}" is filed, claiming {amount:f} {currency} on charge '
                    '"{charge}"'))
def dispute_claims(world: dict, reference: str, amount: float, currency: str, charge: str) -> None:
    d = _dispute(world, reference)
    assert (d["status"], d["claimed_total"], d["currency"]) == ("filed", amount, currency)
    assert [(i["charge_id"], i["claimed_amount"]) for i in d["items"]] == [(charge, amount)]


@when(parsers.parse("bill {n:d} arrives without a credit"))
def bill_without_credit(world: dict, n: int) -> None:
    add_bill(world["estate"], n)


@when(parsers.parse('bill {n:d} arrives with a credit of {amount:f} quoting "{reference}"'))
def bill_with_credit(world: dict, n: int, amount: float, reference: str) -> None:
    add_bill(world["estate"], n, credit=amount, reference=reference)


@when("Dialtone runs")
def dialtone_runs(world: dict) -> None:
    _dialtone_run(world)


@then("the run matched no credit")
def no_credit(world: dict) -> None:
    assert "credits:" not in world["run_output"], world["run_output"]


@then(parsers.parse('the run says "{text}"'))
def run_says(world: dict, text: str) -> None:
    assert text in world["run_output"], world["run_output"]


@then(parsers.parse('the dispute "{reference}" is still filed'))
def still_filed(world: dict, reference: str) -> None:
    d = _dispute(world, reference)
    assert (d["status"], d["credited_total"], d["credits"]) == ("filed", 0.0, [])


@then(parsers.parse('the dispute "{reference}" is credited with {amount:f} {currency}, on the basis '
                    '"{basis}", from invoice "{invoice}"'))
def credited(world: dict, reference: str, amount: float, currency: str, basis: str,
             invoice: str) -> None:
    d = _dispute(world, reference)
    assert (d["status"], d["credited_total"]) == ("credited", amount)
    assert [(c["amount"], c["currency"], c["basis"], c["invoice_number"]) for c in d["credits"]] == [
        (amount, currency, basis, invoice)]
    assert d["items"][0]["credited_amount"] == amount


@then(parsers.parse('the history of the dispute "{reference}" ends with "{kind}"'))
def history_ends(world: dict, reference: str, kind: str) -> None:
    from dialtone.engine.store import disputes

    store = _store(world)
    try:
        kinds = [e["kind"] for e in disputes.history(store, disputes.parse_id(reference))]
    finally:
        store.close()
    assert kinds[-1] == kind and kinds.count(kind) == 1, kinds


def _open_findings(world: dict, policy_id: str) -> list:
    from dialtone.engine.store.tables import findings

    store = _store(world)
    try:
        with store.read() as conn:
            return conn.execute(select(findings).where(
                findings.c.policy_id == policy_id,
                findings.c.status.in_(("open", "in_progress")))).all()
    finally:
        store.close()


@then(parsers.parse('there is no finding of "{policy_id}"'))
def no_finding(world: dict, policy_id: str) -> None:
    assert _open_findings(world, policy_id) == []


@then(parsers.parse('there is a finding of "{policy_id}" about "{resource}", counting {n:d} bills up '
                    'to "{invoice}"'))
def a_finding(world: dict, policy_id: str, resource: str, n: int, invoice: str) -> None:
    [found] = _open_findings(world, policy_id)
    evidence = json.loads(found.evidence)
    assert found.resource_id == resource
    assert (evidence["bills_counted"], evidence["last_bill"], evidence["reference"]) == (
        n, invoice, resource.split("/")[0])
