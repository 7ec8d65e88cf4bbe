"""Steps for the findings lifecycle: a store on SQLite with a settable clock."""

from __future__ import annotations

import datetime as dt

import pytest
from pytest_bdd import given, parsers, then, when
from sqlalchemy import select, update

from dialtone.engine.store import chain
from dialtone.engine.store.exceptions import ExceptionError, ExceptionSpec, decide, request
from dialtone.engine.store.queries import finding_detail
from dialtone.engine.store.sync import record_evaluation
from dialtone.engine.store.tables import events, findings
from dialtone.engine.store.workflow import audit_writer
from tests.storekit import PROVENANCE, Clock, evaluation, make_store, outcome, policy_set, snapshot

IDLE = "cost.zero-usage-lines"


@pytest.fixture
def ledger(tmp_path):
    state: dict = {"root": tmp_path}
    yield state
    if "store" in state:
        state["store"].close()


@given(parsers.parse('a findings store on "{day}"'))
def findings_store(ledger: dict, day: str) -> None:
    clock = Clock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    clock.set_day(dt.date.fromisoformat(day))
    ledger["clock"] = clock
    ledger["store"] = make_store(f"sqlite:///{ledger['root'] / 'store.db'}", clock)


def _evaluate(ledger: dict, snapshot_id: str, lines: str) -> None:
    store = ledger["store"]
    snap = snapshot(ledger["root"], snapshot_id, store.today())
    found = [x.strip() for x in lines.split(",") if x.strip()]
    record_evaluation(store, evaluation(snap, [outcome(IDLE, found)]), policy_set(IDLE),
                      provenance=PROVENANCE)


@given(parsers.parse('snapshot "{snapshot_id}" finds lines "{lines}" idle'))
@when(parsers.parse('snapshot "{snapshot_id}" finds lines "{lines}" idle'))
def snapshot_finds(ledger: dict, snapshot_id: str, lines: str) -> None:
    _evaluate(ledger, snapshot_id, lines)


@when(parsers.parse('a day passes and snapshot "{snapshot_id}" finds lines "{lines}" idle'))
def a_day_later(ledger: dict, snapshot_id: str, lines: str) -> None:
    ledger["clock"].advance(days=1)
    _evaluate(ledger, snapshot_id, lines)


@when(parsers.parse('the date is "{day}" and snapshot "{snapshot_id}" finds lines "{lines}" idle'))
def on_date(ledger: dict, day: str, snapshot_id: str, lines: str) -> None:
    ledger["clock"].set_day(dt.date.fromisoformat(day))
    _evaluate(ledger, snapshot_id, lines)


def _finding(ledger: dict, line: str):
    with ledger["store"].read() as conn:
        return conn.execute(select(findings).where(findings.c.resource_id == line)).one()


@then(parsers.parse('line "{line}" is "{status}"'))
def line_status(ledger: dict, line: str, status: str) -> None:
    assert _finding(ledger, line).status == status


@then(parsers.parse('the history of line "{line}" reads "{kinds}"'))
def history_reads(ledger: dict, line: str, kinds: str) -> None:
    history = finding_detail(ledger["store"], _finding(ledger, line).id)["history"]
    assert [e["kind"] for e in history] == [k.strip() for k in kinds.split(",")]


@then(parsers.parse('the history of line "{line}" ends with "{kind}"'))
def history_ends(ledger: dict, line: str, kind: str) -> None:
    history = finding_detail(ledger["store"], _finding(ledger, line).id)["history"]
    assert history[-1]["kind"] == kind


@given(parsers.parse('"{who}" requests an exception for line "{line}" until "{day}"'))
def request_exception(ledger: dict, who: str, line: str, day: str) -> None:
    store = ledger["store"]
    ledger["exception"] = request(store, ExceptionSpec(
        policy_id=IDLE, justification="alarm panel line", requested_by=who,
        expires_on=dt.date.fromisoformat(day), resources=(line,)),
        audit=audit_writer(store, "bdd"))


@when(parsers.parse('"{who}" approves the exception'))
def approve(ledger: dict, who: str) -> None:
    store = ledger["store"]
    decide(store, ledger["exception"], "approve", who, None, audit=audit_writer(store, "bdd"))


@when(parsers.parse('"{who}" tries to approve the exception'))
def try_approve(ledger: dict, who: str) -> None:
    store = ledger["store"]
    with pytest.raises(ExceptionError) as caught:
        decide(store, ledger["exception"], "approve", who, None, audit=audit_writer(store, "bdd"))
    ledger["refusal"] = str(caught.value)


@then(parsers.parse('she is told "{message}"'))
def told(ledger: dict, message: str) -> None:
    assert message in ledger["refusal"]


@given("the history verifies")
def history_verifies(ledger: dict) -> None:
    with ledger["store"].read() as conn:
        assert chain.verify(conn).ok


@when(parsers.parse("someone edits event {seq:d} in the database"))
def tamper(ledger: dict, seq: int) -> None:
    with ledger["store"].write() as conn:
        conn.execute(update(events).where(events.c.seq == seq).values(data='{"reason":"nothing"}'))


@then(parsers.parse("verifying the history reports event {seq:d} as altered"))
def reports_altered(ledger: dict, seq: int) -> None:
    with ledger["store"].read() as conn:
        report = chain.verify(conn)
    assert not report.ok and report.first_bad_seq == seq and "altered" in report.problem
