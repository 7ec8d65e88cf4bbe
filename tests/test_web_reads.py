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
    assert exc_mod.refresh_exceptions_if_changed(store) is True
    assert exc_mod.refresh_exceptions_if_changed(store) is False
    workflow.comment(store, 1, "looking", "ada", audit)          # an event: the head moves
    assert exc_mod.refresh_exceptions_if_changed(store) is True
    assert exc_mod.refresh_exceptions_if_changed(store) is False
    store.clock.advance(days=1)                                  # a new day: something may expire
    assert exc_mod.refresh_exceptions_if_changed(store) is True
    assert exc_mod.refresh_exceptions_if_changed(store) is False


def test_expiry_still_happens_when_its_day_comes(store):
    audit = workflow.audit_writer(store, "test")
    fid = queries.list_findings(store, queries.FindingFilter(status=("open",), limit=1))[0]["id"]
    target = queries.finding_detail(store, fid)
    eid = exc_mod.request(store, exc_mod.ExceptionSpec(
        target["policy_id"], "panel line", store.today() + dt.timedelta(days=3), "ada",
        resources=(target["resource_id"],)), audit=audit)
    exc_mod.decide(store, eid, "approve", "bob", None, audit=audit)
    exc_mod.refresh_exceptions_if_changed(store)
    assert queries.finding_detail(store, fid)["status"] == "excepted"
    for _ in itertools.repeat(None, 3):
        store.clock.advance(days=1)
        exc_mod.refresh_exceptions_if_changed(store)
        assert queries.finding_detail(store, fid)["status"] == "excepted"   # in force through its date
    store.clock.advance(days=1)
    assert exc_mod.refresh_exceptions_if_changed(store) is True
    assert queries.finding_detail(store, fid)["status"] == "open"
    assert [e["status"] for e in queries.list_exceptions(store, "expired")] == ["expired"]


def _state(store) -> tuple:
    """What an expiry would change: the chain head, every finding's and exception's status."""
    from sqlalchemy import select

    from dialtone.engine.store.tables import exceptions, findings

    with store.read() as conn:
        return (queries.chain_position(conn),
                conn.execute(select(findings.c.id, findings.c.status).order_by(findings.c.id)).all(),
                conn.execute(select(exceptions.c.id, exceptions.c.status).order_by(exceptions.c.id)).all())


def _lapsed(store) -> int:
    """An excepted finding whose exception's last day has passed, nothing having run since."""
    audit = workflow.audit_writer(store, "test")
    target = queries.list_findings(store, queries.FindingFilter(status=("open",), limit=1))[0]
    eid = exc_mod.request(store, exc_mod.ExceptionSpec(
        target["policy_id"], "panel line", store.today() + dt.timedelta(days=1), "ada",
        resources=(target["resource_id"],)), audit=audit)
    exc_mod.decide(store, eid, "approve", "bob", None, audit=audit)   # applied as it is decided
    assert queries.finding_detail(store, target["id"])["status"] == "excepted"
    store.clock.advance(days=2)
    return target["id"]


def test_reading_never_writes(store):
    from dialtone.engine.frameworks import load_catalogue
    from dialtone.engine.store import dashboard, reads

    fid = _lapsed(store)
    before = _state(store)
    detail = queries.finding_detail(store, fid)
    queries.list_findings(store, queries.FindingFilter(status=("excepted",)))
    queries.list_findings(store, queries.FindingFilter(overdue=True, limit=5))
    queries.resource_findings(store, detail["resource_type"], detail["resource_id"])
    for view in queries.EXCEPTION_VIEWS:
        queries.list_exceptions(store, view)
    dashboard.posture(store, load_catalogue())
    reads.list_policies(store)
    reads.evaluation_detail(store, reads.list_evaluations(store)[0]["id"])
    reads.exception_requests(store, detail["policy_id"], detail["resource_id"])
    reads.audit_page(store, 50)
    reads.evidence_choices(store)
    assert _state(store) == before


def test_an_action_takes_the_finding_as_it_stands_today(store):
    fid = _lapsed(store)
    workflow.review(store, fid, "false_positive", "a test line", "ada", workflow.audit_writer(store, "test"))
    kinds = [e["kind"] for e in queries.finding_detail(store, fid)["history"]]
    assert kinds[-3:] == ["exception_expired", "exception_expired", "status_changed"]


def test_pages_and_the_api_only_read(tmp_path):
    from tests.webkit import ROLES, build, login

    app, web_store, tokens = build(tmp_path)
    fid = _lapsed(web_store)
    before = _state(web_store)
    client = app.test_client()
    assert login(client, "officer").status_code == 302
    for path in ("/", "/findings", f"/findings/{fid}", "/findings?format=csv", "/exceptions?view=all",
                 "/policies", "/evaluations", "/evaluations/1", "/evidence"):
        assert client.get(path).status_code == 200, path
    api = app.test_client()
    for path in ("/findings", f"/findings/{fid}", f"/findings/{fid}/events", "/exceptions",
                 "/policies", "/evaluations", "/evaluations/1"):
        response = api.get(f"/api/v1{path}", headers={"Authorization": f"Bearer {tokens[ROLES[0]]}"})
        assert response.status_code == 200, path
    assert _state(web_store) == before


def test_a_long_running_process_expires_at_midnight(store):
    import threading
    import time

    fid = _lapsed(store)
    stop = threading.Event()
    thread = exc_mod.keep_expiring(store, stop)
    try:
        for _ in range(200):
            if queries.finding_detail(store, fid)["status"] != "excepted":
                break
            time.sleep(0.05)
        assert queries.finding_detail(store, fid)["status"] == "open"
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
