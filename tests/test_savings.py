"""Money counted once per billable object, per currency, in the evaluation and in the store."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from dialtone.engine.evaluation import PolicyOutcome
from dialtone.engine.finance import finance_report
from dialtone.engine.savings import dedup_totals, evaluation_totals, format_totals
from dialtone.engine.store import workflow
from dialtone.engine.store.claims import store_totals
from dialtone.engine.store.sync import record_evaluation

from .storekit import POLICIES, PROVENANCE, Clock, evaluation, make_store, policy_set, snapshot, store_url

LEAVER, IDLE, ORPHAN = "cost.leaver-lines", "cost.zero-usage-lines", "cost.orphan-lines"


def claims(policy_id: str, rows: list[tuple[str, float, str, str]]) -> PolicyOutcome:
    """An outcome whose findings claim (resource, savings, savings_key, currency)."""
    p = POLICIES[policy_id]
    out = PolicyOutcome(policy_id, p.title, p.category, p.severity, status="alarm",
                        policy_hash=p.source_hash, resource_type=p.resource, evidence_names=(),
                        sql="SELECT 1")
    out.rows = pa.table({"resource_id": [r[0] for r in rows], "reason": ["found"] * len(rows),
                         "savings": [r[1] for r in rows], "savings_key": [r[2] for r in rows],
                         "currency": [r[3] for r in rows]})
    out.evaluated = len(rows)
    return out


# A leaver's idle line L1 (USD) is found by three policies: it saves one line's cost, 480, not
# 1,440; L2 (GBP) by one. A charge overbilled on six monthly invoices claims one rate once.
OUTCOMES = [
    claims(LEAVER, [("L1", 480.0, "lines:L1", "USD")]),
    claims(IDLE, [("L1", 480.0, "lines:L1", "USD"), ("L2", 360.0, "lines:L2", "GBP")]),
    claims(ORPHAN, [("L1", 300.0, "lines:L1", "USD")]),
]


def test_one_object_found_by_several_policies_saves_once_and_currencies_are_never_added():
    assert evaluation_totals(OUTCOMES) == {"GBP": 360.0, "USD": 480.0}
    assert format_totals({"USD": 480.0, "GBP": 360.0}) == "GBP 360.00, USD 480.00"


def test_a_monthly_overcharge_found_on_six_invoices_is_annualised_once():
    months = pa.table({"savings": [120.0] * 6, "savings_key": ["rate:L1:VOICE"] * 6,
                       "currency": ["USD"] * 6})
    assert dedup_totals(months) == {"USD": 120.0}
    # Without a currency the amount stays apart from every currency.
    unknown = pa.table({"savings": [10.0], "savings_key": ["lines:X"], "currency": [None]},
                       schema=pa.schema([("savings", pa.float64()), ("savings_key", pa.string()),
                                         ("currency", pa.string())]))
    assert dedup_totals(pa.concat_tables([months, unknown])) == {"(unknown)": 10.0, "USD": 120.0}


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    clock = Clock(dt.datetime(2026, 6, 30, 9, tzinfo=dt.UTC))
    s = make_store(store_url(request.param, tmp_path), clock)
    yield s
    s.close()


def test_the_store_counts_pending_objects_as_identified_and_fully_resolved_ones_as_realised(store, tmp_path):
    snap = snapshot(tmp_path, "S1", store.today())
    record_evaluation(store, evaluation(snap, OUTCOMES), policy_set(LEAVER, IDLE, ORPHAN),
                      provenance=PROVENANCE)
    with store.read() as conn:
        assert store_totals(conn) == {"identified": {"GBP": 360.0, "USD": 480.0}, "realised": {}}
    # Resolving one of L1's three findings by hand leaves L1 identified (two still claim it).
    ids = _ids(store)
    audit = workflow.audit_writer(store, "test")
    workflow.resolve_manual(store, ids[(LEAVER, "L1")], "line cancelled", "officer", audit)
    with store.read() as conn:
        assert store_totals(conn)["identified"] == {"GBP": 360.0, "USD": 480.0}
    for pid in (IDLE, ORPHAN):
        workflow.resolve_manual(store, ids[(pid, "L1")], "line cancelled", "officer", audit)
    with store.read() as conn:
        # Every claim on L1 resolved: the largest, 480, realised once.
        assert store_totals(conn) == {"identified": {"GBP": 360.0}, "realised": {"USD": 480.0}}


def test_the_savings_page_gives_each_object_to_its_largest_claim_and_counts_the_others(store, tmp_path):
    from dialtone.engine.snapshots import SnapshotStore

    snap = snapshot(tmp_path, "S1", store.today())
    record_evaluation(store, evaluation(snap, OUTCOMES), policy_set(LEAVER, IDLE, ORPHAN),
                      provenance=PROVENANCE)
    real = SnapshotStore(tmp_path / "data").write({}, as_of=store.today(), sources={})
    report = finance_report(store, real, store.today())
    by_policy = {(r["name"], r["currency"]): r for r in report.savings_by["policy"]}
    # L1's 480 goes to one policy (the largest claim; the tie between the leaver and idle claims
    # is broken by policy id), with the two other claims counted as also reported.
    assert by_policy[(LEAVER, "USD")]["identified"] == 480.0
    assert by_policy[(LEAVER, "USD")]["also_reported"] == 2
    assert (IDLE, "USD") not in by_policy and (ORPHAN, "USD") not in by_policy
    assert by_policy[(IDLE, "GBP")]["identified"] == 360.0
    assert sum(r["identified"] for r in report.savings_by["policy"] if r["currency"] == "USD") == 480.0


def _ids(store) -> dict[tuple[str, str], int]:
    from sqlalchemy import select

    from dialtone.engine.store.tables import findings

    with store.read() as conn:
        return {(r.policy_id, r.resource_id): r.id for r in conn.execute(
            select(findings.c.id, findings.c.policy_id, findings.c.resource_id))}


def test_the_demo_posture_counts_each_object_once_as_its_findings_say(tmp_path):
    """The demo's posture page: identified savings per currency equal the de-duplicated sum of
    the findings, worked out here row by row from what the store holds."""
    from sqlalchemy import select

    from dialtone.engine.config import load_config
    from dialtone.engine.demo import run_demo
    from dialtone.engine.store import Store, dashboard
    from dialtone.engine.store.tables import findings

    list(run_demo(tmp_path / "demo"))
    store = Store.from_config(load_config(tmp_path / "demo" / "dialtone.yaml"))
    try:
        shown = dashboard.posture(store)["savings_identified"]
        with store.read() as conn:
            rows = conn.execute(select(findings.c.status, findings.c.savings, findings.c.savings_key,
                                       findings.c.currency, findings.c.policy_id)
                                .where(findings.c.savings.is_not(None))).all()
    finally:
        store.close()
    largest: dict[tuple[str, str], float] = {}
    for status, amount, key, currency, _ in rows:
        if status in ("open", "in_progress"):
            largest[key, currency or "(unknown)"] = max(amount, largest.get((key, currency or "(unknown)"),
                                                                           amount))
    expected: dict[str, float] = {}
    for (_, currency), amount in largest.items():
        expected[currency] = expected.get(currency, 0.0) + amount
    assert shown == {c: round(a, 2) for c, a in sorted(expected.items()) if a}
    assert len(shown) > 1                                   # the demo bills in several currencies
    # Objects claimed by several policies exist, so de-duplicating is what the figure does.
    keys = [key for status, _, key, _, _ in rows if status in ("open", "in_progress")]
    assert len(keys) > len(set(keys))
