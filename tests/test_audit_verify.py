"""``audit verify`` beyond the chain: every finding's status, assignee and exception agree with
its history (review A-5), a store with findings has a history (A-7), a missing chain head is
reported, not raised (A-8). On SQLite and on PostgreSQL (DIALTONE_TEST_DATABASE_URL)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from dialtone.engine.store import chain, history_state
from dialtone.engine.store.exceptions import ExceptionSpec, decide, request
from dialtone.engine.store.sync import record_evaluation
from dialtone.engine.store.tables import chain_head, events, findings
from dialtone.engine.store.workflow import assign, audit_writer, comment, reopen, resolve_manual, review
from tests.storekit import PROVENANCE, Clock, evaluation, make_store, outcome, policy_set, snapshot, store_url

ZERO = "cost.zero-usage-lines"      # medium
ORPHAN = "cost.orphan-lines"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    s = make_store(store_url(request.param, tmp_path), Clock(dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)))
    yield s
    s.close()


def run(store, tmp_path, snap_id, found: dict, policies=(ZERO, ORPHAN)) -> None:
    snap = snapshot(tmp_path, snap_id, store.today())
    record_evaluation(store, evaluation(snap, [outcome(p, found.get(p, [])) for p in policies]),
                      policy_set(*policies), provenance=PROVENANCE)


def ids(store) -> dict[str, int]:
    with store.read() as conn:
        return {r.resource_id: r.id for r in conn.execute(select(findings.c.resource_id, findings.c.id))}


def check(store) -> history_state.StateReport:
    with store.read() as conn:
        return history_state.check(conn)


def test_every_kind_of_change_leaves_the_findings_agreeing_with_their_history(store, tmp_path):
    audit = audit_writer(store, "test:host")
    run(store, tmp_path, "S1", {ZERO: ["L1", "L2", "L3", "L4", "L5", "L6"], ORPHAN: ["L9"]})
    f = ids(store)
    assign(store, f["L1"], "bob", "alice", audit)                   # open -> in_progress
    assign(store, f["L1"], "carol", "alice", audit)                 # in_progress, reassigned
    comment(store, f["L1"], "asked the carrier", "bob", audit)
    review(store, f["L2"], "false_positive", "fax line", "alice", audit)
    resolve_manual(store, f["L3"], "cancelled", "alice", audit)
    reopen(store, f["L3"], "not cancelled after all", "alice", audit)
    one = request(store, ExceptionSpec(ZERO, "alarm panel", store.today() + dt.timedelta(days=10),
                                       "alice", resources=("L4", "L5")), audit=audit)
    decide(store, one, "approve", "carol", None, audit=audit)       # L4, L5 excepted
    assign(store, f["L4"], "dave", "alice", audit)                  # excepted stays excepted
    two = request(store, ExceptionSpec(ZERO, "test line", store.today() + dt.timedelta(days=30),
                                       "alice", resources=("L6",)), audit=audit)
    decide(store, two, "approve", "carol", None, audit=audit)
    decide(store, two, "revoke", "carol", "replaced", audit=audit)  # L6 released: open again
    assert check(store).ok
    store.clock.advance(days=1)
    run(store, tmp_path, "S2", {ZERO: ["L2", "L3", "L4", "L5", "L6"], ORPHAN: ["L9"]})  # L1 resolved
    resolve_manual(store, f["L4"], "fixed", "alice", audit)         # resolved, keeps its exception
    assert check(store).ok
    store.clock.advance(days=20)                                    # exception one expired
    run(store, tmp_path, "S3", {ZERO: ["L1", "L2", "L3", "L4", "L5", "L6"]}, policies=(ZERO,))
    with store.read() as conn:
        states = {r.resource_id: (r.status, r.assignee, r.exception_id)
                  for r in conn.execute(select(findings))}
    assert states == {"L1": ("open", "carol", None), "L2": ("false_positive", None, None),
                      "L3": ("open", None, None), "L4": ("open", "dave", None), "L5": ("open", None, None),
                      "L6": ("open", None, None), "L9": ("retired", None, None)}
    report = check(store)
    assert report.ok and report.findings == 7 and report.disagreeing == 0


def test_a_status_assignee_or_exception_edited_outside_the_history_is_named(store, tmp_path):
    run(store, tmp_path, "S1", {ZERO: ["L1", "L2", "L3", "L4"]})
    f = ids(store)
    assign(store, f["L4"], "bob", "alice", audit_writer(store, "test:host"))
    with store.write() as conn:   # the chain is untouched, the findings are not
        conn.execute(update(findings).where(findings.c.id == f["L1"]).values(status="resolved"))
        conn.execute(update(findings).where(findings.c.id == f["L3"]).values(assignee="mallory"))
        conn.execute(update(findings).where(findings.c.id == f["L4"]).values(exception_id=7))
    with store.read() as conn:
        assert chain.verify(conn).ok
    report = check(store)
    assert not report.ok and report.findings == 4 and report.disagreeing == 3
    assert [str(d) for d in report.sample] == [msg for _, msg in sorted([   # in id order
        (f["L1"], f"finding {f['L1']}: status is 'resolved', its history says 'open'"),
        (f["L3"], f"finding {f['L3']}: assignee is 'mallory', its history says none"),
        (f["L4"], f"finding {f['L4']}: exception is 7, its history says none")])]


def test_only_the_first_findings_that_disagree_are_named_with_how_many_there_are(store, tmp_path):
    run(store, tmp_path, "S1", {ZERO: [f"L{i:02d}" for i in range(25)]})
    with store.write() as conn:
        conn.execute(update(findings).values(status="retired"))
    report = check(store)
    assert report.disagreeing == 25
    assert [d.finding_id for d in report.sample] == sorted(ids(store).values())[:history_state.SAMPLE]


def test_findings_without_any_history_fail_even_when_the_empty_chain_verifies(store, tmp_path):
    # every event deleted and the head put back to the genesis.
    run(store, tmp_path, "S1", {ZERO: ["L1", "L2"]})
    with store.write() as conn:
        conn.execute(events.delete())
        conn.execute(update(chain_head).values(seq=0, hash=chain.GENESIS))
    with store.read() as conn:
        assert chain.verify(conn).ok
    report = check(store)
    assert report.empty_history and not report.ok and report.disagreeing == 2
    assert str(report.sample[0]).endswith("its history says nothing (no event sets it)")


def test_an_empty_store_agrees(store):
    assert check(store) == history_state.StateReport(0, 0)


def test_a_missing_chain_head_is_reported_and_refuses_new_events(store, tmp_path):
    # a NoResultFound traceback before.
    run(store, tmp_path, "S1", {ZERO: ["L1"]})
    with store.write() as conn:
        conn.execute(chain_head.delete())
    with store.read() as conn:
        report = chain.verify(conn)
    assert not report.ok and report.problem == chain.MISSING_HEAD and report.first_bad_seq is None
    with pytest.raises(chain.ChainError, match="the chain head is missing"):
        comment(store, ids(store)["L1"], "hello", "alice", audit_writer(store, "test:host"))


def test_an_event_hash_is_the_sha256_of_its_fields_joined_by_unit_separators():
    """The definition anyone verifying the chain recomputes (an absent id as empty text); the
    two hashes were computed by the definition as it stood at commit a992691."""
    import hashlib

    def by_definition(*fields) -> str:
        text = "\x1f".join("" if f is None else str(f) for f in fields)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    first = (chain.GENESIS, 1, "2026-12-01T03:00:00.000000Z", "system", "opened", 5, None, 42,
             '{"due_on":null,"reason":"é"}')
    second = ("ab" * 32, 2, "2026-12-01T03:00:00.000000Z", "alice", "exception_granted", None, 0, None, "{}")
    assert chain.event_hash(*first) == by_definition(*first) == \
        "98b27a9ad3746e9588a556f9fd7d215cbfa2991a14105728acfb3389d3af854c"
    assert chain.event_hash(*second) == by_definition(*second) == \
        "0364174a32a4f799c34efca49c34c280a15990cab24ea74a14daf10d64642484"
