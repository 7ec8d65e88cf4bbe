"""The read paths the web application leans on under load: pages of findings read range by range,
and the exception refresh skipped while nothing can have changed (bench/web_latency.py measures them)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from dialtone.engine.store import exceptions as exc_mod
from dialtone.engine.store import queries, workflow
from dialtone.engine.store.sync import record_evaluation
from tests.storekit import (
    PROVENANCE,
    Clock,
    all_pages,
    evaluation,
    make_store,
    outcome,
    policy_set,
    snapshot,
)

POLICIES = ("cost.zero-usage-lines", "cost.orphan-lines", "security.unencrypted-devices",
            "regulatory.off-channel-messaging-apps")


@pytest.fixture
def store(tmp_path):
    clock = Clock(dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC))
    store = make_store(f"sqlite:///{tmp_path / 'store.db'}", clock)
    # Interleaved ids: each policy's findings are recorded in two evaluations.
    first = [outcome(p, [f"{p[:4]}-{i}" for i in range(0, 40, 2)]) for p in POLICIES]
    record_evaluation(store, evaluation(snapshot(tmp_path, "S1", store.today()), first),
                      policy_set(*POLICIES), provenance=PROVENANCE)
    clock.advance(days=40)
    second = [outcome(p, [f"{p[:4]}-{i}" for i in range(40) if i % 6]) for p in POLICIES]
    record_evaluation(store, evaluation(snapshot(tmp_path, "S2", store.today()), second),
                      policy_set(*POLICIES), provenance=PROVENANCE)
    audit = workflow.audit_writer(store, "test")
    active = [r["id"] for r in queries.list_findings(store, queries.FindingFilter(status=("open",)))]
    for fid in active[3::17]:
        workflow.assign(store, fid, "carol", "ada", audit)
    yield store
    store.close()


FILTERS = [
    queries.FindingFilter(),
    queries.FindingFilter(status=("open", "in_progress", "excepted")),
    queries.FindingFilter(status=("resolved",)),
    queries.FindingFilter(severity=("high", "critical"), status=("open",)),
    queries.FindingFilter(category=("cost",)),
    queries.FindingFilter(framework="gdpr"),
    queries.FindingFilter(policy=("cost.orphan-lines", "nonexistent")),
    queries.FindingFilter(overdue=True),
    queries.FindingFilter(assignee="carol"),
    queries.FindingFilter(search="-1", status=("open",)),
    # The overdue filter and the text search: ranges walked, then an index for what is missing.
    queries.FindingFilter(overdue=True, category=("cost",)),
    queries.FindingFilter(overdue=True, status=("in_progress",)),
    queries.FindingFilter(search="-1"),
    queries.FindingFilter(search="secu-3"),
    queries.FindingFilter(search="cost-1", overdue=True),
    queries.FindingFilter(search="oun", status=("resolved",)),
    queries.FindingFilter(search="nothing like it"),
]


@pytest.mark.parametrize("walk", [1, 8], ids=["index", "walk"])
@pytest.mark.parametrize("flt", FILTERS, ids=lambda f: repr({k: v for k, v in f.__dict__.items() if v}))
def test_pages_read_range_by_range_match_the_whole_list(store, flt, walk, monkeypatch):
    monkeypatch.setattr(queries, "WALK_PER_ROW", walk)
    whole = [r["id"] for r in queries.list_findings(store, flt)]
    assert whole == sorted(whole)
    for limit in (1, 7, 50):
        assert all_pages(store, flt, limit) == whole
    deep = whole[len(whole) // 2] if whole else 0
    page = queries.list_findings(store, queries.FindingFilter(**{**flt.__dict__, "limit": 5,
                                                                 "after_id": deep}))
    assert [r["id"] for r in page] == [i for i in whole if i > deep][:5]


def test_page_rows_carry_the_same_fields(store):
    flt = queries.FindingFilter(status=("open",))
    assert queries.list_findings(store, queries.FindingFilter(status=("open",), limit=3)) == \
        queries.list_findings(store, flt)[:3]


def test_the_refresh_runs_again_only_after_a_change_or_on_a_new_day(store):
    audit = workflow.audit_writer(store, "test")
    assert queries.refresh_exceptions_if_changed(store) is True
    assert queries.refresh_exceptions_if_changed(store) is False
    workflow.comment(store, 1, "looking", "ada", audit)          # an event: the head moves
    assert queries.refresh_exceptions_if_changed(store) is True
    assert queries.refresh_exceptions_if_changed(store) is False
    store.clock.advance(days=1)                                  # a new day: something may expire
    assert queries.refresh_exceptions_if_changed(store) is True
    assert queries.refresh_exceptions_if_changed(store) is False


def test_expiry_still_happens_when_its_day_comes(store):
    audit = workflow.audit_writer(store, "test")
    fid = queries.list_findings(store, queries.FindingFilter(status=("open",), limit=1))[0]["id"]
    target = queries.finding_detail(store, fid)
    eid = exc_mod.request(store, exc_mod.ExceptionSpec(
        target["policy_id"], "panel line", store.today() + dt.timedelta(days=3), "ada",
        resources=(target["resource_id"],)), audit=audit)
    exc_mod.decide(store, eid, "approve", "bob", None, audit=audit)
    queries.refresh_exceptions_if_changed(store)
    assert queries.finding_detail(store, fid)["status"] == "excepted"
    for _ in itertools.repeat(None, 3):
        store.clock.advance(days=1)
        queries.refresh_exceptions_if_changed(store)
        assert queries.finding_detail(store, fid)["status"] == "excepted"   # in force through its date
    store.clock.advance(days=1)
    assert queries.refresh_exceptions_if_changed(store) is True
    assert queries.finding_detail(store, fid)["status"] == "open"
    assert [e["status"] for e in queries.list_exceptions(store, "expired")] == ["expired"]
