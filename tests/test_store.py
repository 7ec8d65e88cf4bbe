"""The findings store: lifecycle across evaluations, the event chain, exceptions, human actions.

Every test runs on SQLite and on PostgreSQL (when DIALTONE_TEST_DATABASE_URL is set; CI sets it).
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, inspect, select, text, update

from dialtone.engine.store import chain
from dialtone.engine.store.db import StoreError, head_revision
from dialtone.engine.store.exceptions import ExceptionError, ExceptionSpec, decide, request
from dialtone.engine.store.queries import FindingFilter, finding_detail, list_exceptions, list_findings
from dialtone.engine.store.sync import record_evaluation
from dialtone.engine.store.tables import audit_log, events, findings
from dialtone.engine.store.workflow import (
    WorkflowError,
    assign,
    audit_writer,
    comment,
    reopen,
    resolve_manual,
    review,
)
from tests.storekit import (
    PROVENANCE,
    Clock,
    all_pages,
    evaluation,
    make_store,
    outcome,
    policy_set,
    snapshot,
    store_url,
)

ZERO = "cost.zero-usage-lines"      # medium
ORPHAN = "cost.orphan-lines"
DAY0 = dt.date(2026, 11, 2)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    return store_url(request.param, tmp_path)


@pytest.fixture
def clock():
    c = Clock(dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC))
    return c


@pytest.fixture
def store(url, clock):
    s = make_store(url, clock)
    yield s
    s.close()


def run(store, tmp_path, snap_id, found: dict, policies=(ZERO, ORPHAN), **kwargs):
    snap = snapshot(tmp_path, snap_id, store.today())
    outs = [outcome(pid, found.get(pid, [])) if not isinstance(found.get(pid), tuple)
            else outcome(pid, *found[pid]) for pid in policies]
    return record_evaluation(store, evaluation(snap, outs), policy_set(*policies),
                             provenance=PROVENANCE, **kwargs)


def store_rows(store):
    with store.read() as conn:
        return conn.execute(select(findings)).all()


def statuses(store) -> dict[str, str]:
    with store.read() as conn:
        return {r.resource_id: r.status for r in conn.execute(select(findings))}


def kinds(store, resource_id: str) -> list[str]:
    with store.read() as conn:
        fid = conn.execute(select(findings.c.id).where(findings.c.resource_id == resource_id)).scalar()
    return [e["kind"] for e in finding_detail(store, fid)["history"]]


def event_count(store) -> int:
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(events)).scalar()


AUDIT = None


def audit(store):
    return audit_writer(store, "test:host")


# -- schema ---------------------------------------------------------------------------------------
def test_an_empty_database_is_created_at_the_current_schema(store):
    with store.read() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()


def test_an_out_of_date_schema_is_refused_with_what_to_run(store, url, clock):
    with store.write() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    with pytest.raises(StoreError, match=rf"revision 0000.*needs {head_revision()}.*dialtone db upgrade"):
        make_store(url, clock)


def test_an_older_schema_is_refused_until_db_upgrade_migrates_it(url, clock):
    from alembic import command

    from dialtone.engine.store.db import _alembic_config, make_engines, upgrade

    writer, reader = make_engines(url)
    cfg = _alembic_config()
    with writer.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    with pytest.raises(StoreError, match=rf"revision 0001, this version of Dialtone needs {head_revision()}"):
        make_store(url, clock)
    assert upgrade(writer) == ("0001", head_revision())
    store = make_store(url, clock)
    with store.read() as conn:
        columns = {c["name"] for c in __import__("sqlalchemy").inspect(conn).get_columns("policy_runs")}
    assert {"policy_blob", "result_sha256"} <= columns
    store.close()
    writer.dispose()
    reader.dispose()


def test_the_migrations_build_the_schema_tables_py_describes(store):
    """Upgrading an empty database to head gives exactly the tables, columns and indexes of
    ``tables.metadata`` (indexes for one database only are compared on that database)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from dialtone.engine.store.tables import metadata

    with store.read() as conn:
        dialect = conn.dialect.name

        def include(obj, name, type_, reflected, compare_to):
            if type_ == "table" and name.startswith("findings_fts"):   # SQLite FTS5 (not in metadata)
                return False
            condition = getattr(obj, "_ddl_if", None)
            return not (type_ == "index" and not reflected and condition is not None
                        and condition.dialect not in (None, dialect))

        ctx = MigrationContext.configure(conn, opts={"include_object": include, "compare_type": True})
        assert compare_metadata(ctx, metadata) == []
        names = {ix["name"] for ix in inspect(conn).get_indexes("findings")}
    assert "ix_findings_policy_status_due" in names
    if dialect == "postgresql":
        assert {"ix_findings_resource_id_trgm", "ix_findings_reason_trgm"} <= names


def test_a_0005_store_with_findings_gets_the_search_index_on_upgrade(url, clock, tmp_path, monkeypatch):
    """The search index of an existing store covers the findings it already holds, and follows
    later changes (SQLite: FTS5, brought up to date after each evaluation; PostgreSQL: GIN indexes)."""
    from alembic import command

    from dialtone.engine.store import queries
    from dialtone.engine.store.db import _alembic_config, make_engines, upgrade

    writer, reader = make_engines(url)
    cfg = _alembic_config()
    # Findings recorded by today's Dialtone, then the schema taken back to 0005: a store as a
    # 0005 Dialtone left it (no search index, no dashboard counts).
    store = make_store(url, clock)
    run(store, tmp_path, "S1", {ZERO: ["old-line-1", "old-line-2"]})
    store.close()
    with writer.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
    with pytest.raises(StoreError, match=rf"revision 0005, this version of Dialtone needs {head_revision()}"):
        make_store(url, clock)
    assert upgrade(writer) == ("0005", head_revision())
    store = make_store(url, clock)
    run(store, tmp_path, "S2", {ZERO: ["old-line-1", "new-line-3"]})
    with store.read() as conn:
        assert queries._search_index(conn, "line-") in ("fts", "trgm")
    ids = {r.resource_id: r.id for r in store_rows(store)}
    monkeypatch.setattr(queries, "WALK_PER_ROW", 1)          # the index answers, not the walk
    for flt, found in ((FindingFilter(search="line-"), ["old-line-1", "old-line-2", "new-line-3"]),
                       (FindingFilter(search="line-", status=("open",)), ["old-line-1", "new-line-3"]),
                       (FindingFilter(search="old-line-2", status=("resolved",)), ["old-line-2"])):
        for limit in (1, 5):
            assert all_pages(store, flt, limit) == sorted(ids[r] for r in found)
    store.close()
    writer.dispose()
    reader.dispose()


# -- lifecycle ------------------------------------------------------------------------------------
def test_a_finding_opens_resolves_and_reopens_across_three_snapshots(store, tmp_path, clock):
    first = run(store, tmp_path, "S1", {ZERO: ["L1", "L2"]})
    assert first.changes["opened"] == 2
    assert statuses(store) == {"L1": "open", "L2": "open"}
    clock.advance(days=1)
    second = run(store, tmp_path, "S2", {ZERO: ["L2"]})
    assert second.changes["resolved"] == 1
    assert statuses(store) == {"L1": "resolved", "L2": "open"}
    clock.advance(days=1)
    third = run(store, tmp_path, "S3", {ZERO: ["L1", "L2"]})
    assert third.changes["reopened"] == 1
    assert statuses(store) == {"L1": "open", "L2": "open"}
    assert kinds(store, "L1") == ["opened", "resolved", "reopened"]
    assert kinds(store, "L2") == ["opened"]
    with store.read() as conn:
        l2 = conn.execute(select(findings).where(findings.c.resource_id == "L2")).one()
        l1 = conn.execute(select(findings).where(findings.c.resource_id == "L1")).one()
    assert (l2.first_seen_evaluation, l2.last_seen_evaluation) == (first.evaluation_id,
                                                                   third.evaluation_id)
    assert l1.reopen_count == 1 and l1.resolved_at is None


def test_reevaluating_an_unchanged_snapshot_creates_no_events(store, tmp_path, clock):
    run(store, tmp_path, "S1", {ZERO: ["L1", "L2"], ORPHAN: ["L9"]})
    before = event_count(store)
    clock.advance(hours=1)
    again = run(store, tmp_path, "S1", {ZERO: ["L1", "L2"], ORPHAN: ["L9"]})
    assert event_count(store) == before and again.events == 0


def test_still_violating_refreshes_evidence_and_last_seen(store, tmp_path, clock):
    run(store, tmp_path, "S1", {ZERO: ["L1"]})
    clock.advance(days=1)
    snap = snapshot(tmp_path, "S2", clock.now.date())
    later = outcome(ZERO, ["L1"], reason="no activity for 200 days")
    summary = record_evaluation(store, evaluation(snap, [later, outcome(ORPHAN, [])]),
                                policy_set(ZERO, ORPHAN), provenance=PROVENANCE)
    (row,) = list_findings(store, FindingFilter())
    assert row["reason"] == "no activity for 200 days" and row["evidence"] == {"days": 100}
    assert row["last_seen_evaluation"] == summary.evaluation_id
    assert row["last_seen_at"].startswith("2026-11-03")


def test_a_skipped_or_failed_policy_changes_none_of_its_findings(store, tmp_path, clock):
    run(store, tmp_path, "S1", {ZERO: ["L1"], ORPHAN: ["L5"]})
    before = event_count(store)
    run(store, tmp_path, "S2", {ZERO: None, ORPHAN: ([], "error")})
    assert statuses(store) == {"L1": "open", "L5": "open"}
    assert event_count(store) == before
    # Seen again once the policy can look: the gap is on record.
    third = run(store, tmp_path, "S3", {ZERO: ["L1"], ORPHAN: ["L5"]})
    assert third.changes["seen_again"] == 2
    assert kinds(store, "L1") == ["opened", "seen_again"]


def test_a_policy_removed_from_the_set_retires_its_findings(store, tmp_path):
    run(store, tmp_path, "S1", {ZERO: ["L1"], ORPHAN: ["L5"]})
    summary = run(store, tmp_path, "S2", {ZERO: ["L1"]}, policies=(ZERO,))
    assert summary.changes["retired"] == 1
    assert statuses(store) == {"L1": "open", "L5": "retired"}
    assert kinds(store, "L5") == ["opened", "retired"]


def _run_with_rule(store, tmp_path, snap_id, found: dict, sql: str, params: dict | None = None,
                   text_hash: str | None = None):
    """``run``, every policy's compiled query (and parameters, and the hash of its file's text)
    as given: a changed rule, or a changed text."""
    snap = snapshot(tmp_path, snap_id, store.today())
    outs = []
    for pid in (ZERO, ORPHAN):
        out = outcome(pid, found.get(pid, []))
        out.sql, out.params = sql, params or {}
        out.policy_hash = text_hash or out.policy_hash
        outs.append(out)
    return record_evaluation(store, evaluation(snap, outs), policy_set(ZERO, ORPHAN),
                             provenance=PROVENANCE)


def test_a_finding_a_changed_rule_no_longer_reports_is_retired_and_its_saving_not_realised(
        store, tmp_path):
    """An upgrade narrows a policy (idle Slack seats are no longer unused: Slack credits them):
    the next evaluation no longer finds them. Nobody fixed anything, so they are retired with
    the reason, not resolved, and their savings are not realised; once the new rule has run,
    a finding it stops reporting is resolved as before, and so is one fixed when only the
    description changed (the query did not)."""
    from dialtone.engine.store.claims import savings_by_state

    _run_with_rule(store, tmp_path, "S1", {ZERO: ["L1", "L2", "L3"]}, "SELECT 1 /* v1 */")
    upgraded = _run_with_rule(store, tmp_path, "S2", {ZERO: ["L2", "L3"]}, "SELECT 2 /* v2 */")
    assert (upgraded.changes["retired"], upgraded.changes["resolved"]) == (1, 0)
    assert statuses(store) == {"L1": "retired", "L2": "open", "L3": "open"}
    with store.read() as conn:
        assert savings_by_state(conn)["realised"] == {}
        how = conn.execute(select(events.c.data).where(events.c.kind == "retired")).scalar()
    assert "rule changed" in how
    fixed = _run_with_rule(store, tmp_path, "S3", {ZERO: ["L3"]}, "SELECT 2 /* v2 */",
                           text_hash="sha256:" + "d" * 64)    # only the description changed
    assert (fixed.changes["resolved"], fixed.changes.get("retired", 0)) == (1, 0)
    assert statuses(store)["L2"] == "resolved"
    reparam = _run_with_rule(store, tmp_path, "S4", {}, "SELECT 2 /* v2 */", {"days": 120})
    assert (reparam.changes["retired"], reparam.changes["resolved"]) == (1, 0)
    with store.read() as conn:
        assert savings_by_state(conn)["realised"] == {"USD": 12.5}


def test_due_dates_follow_the_severity_sla_and_overdue_is_listed(store, tmp_path, clock):
    run(store, tmp_path, "S1", {ZERO: ["L1"]})
    (row,) = list_findings(store, FindingFilter())
    days = store.sla_days[row["severity"]]
    assert row["due_on"] == (DAY0 + dt.timedelta(days=days)).isoformat()
    assert not list_findings(store, FindingFilter(overdue=True))
    clock.advance(days=days + 1)
    (late,) = list_findings(store, FindingFilter(overdue=True))
    assert late["overdue"] is True


# -- the chain ------------------------------------------------------------------------------------
def test_the_chain_verifies_and_tampering_is_caught_at_the_first_bad_event(store, tmp_path, clock):
    run(store, tmp_path, "S1", {ZERO: ["L1", "L2", "L3"], ORPHAN: ["L5"]})
    clock.advance(days=1)
    run(store, tmp_path, "S2", {ZERO: ["L1"], ORPHAN: ["L5"]})
    with store.read() as conn:
        report = chain.verify(conn)
    assert report.ok and report.events == 6 and report.head_seq == 6

    with store.write() as conn:  # alter
        conn.execute(update(events).where(events.c.seq == 3).values(actor="mallory"))
    with store.read() as conn:
        report = chain.verify(conn)
    assert not report.ok and report.first_bad_seq == 3 and "altered" in report.problem


def test_a_removed_event_is_caught(store, tmp_path):
    run(store, tmp_path, "S1", {ZERO: ["L1", "L2", "L3"]})
    with store.write() as conn:
        conn.execute(events.delete().where(events.c.seq == 2))
    with store.read() as conn:
        report = chain.verify(conn)
    assert not report.ok and report.first_bad_seq == 2 and "removed" in report.problem


def test_reordered_events_are_caught(store, tmp_path):
    run(store, tmp_path, "S1", {ZERO: ["L1", "L2", "L3"]})
    with store.write() as conn:  # swap the content of events 1 and 2, keeping the sequence numbers
        one, two = (conn.execute(select(events).where(events.c.seq == s)).one() for s in (1, 2))
        for target, source in ((1, two), (2, one)):
            conn.execute(update(events).where(events.c.seq == target).values(
                finding_id=source.finding_id, data=source.data, hash=source.hash,
                prev_hash=source.prev_hash))
    with store.read() as conn:
        report = chain.verify(conn)
    assert not report.ok and report.first_bad_seq == 1


def test_events_removed_from_the_end_are_caught(store, tmp_path):
    run(store, tmp_path, "S1", {ZERO: ["L1", "L2", "L3"]})
    with store.write() as conn:
        conn.execute(events.delete().where(events.c.seq == 3))
    with store.read() as conn:
        report = chain.verify(conn)
    assert not report.ok and "head records event 3" in report.problem


# -- human actions --------------------------------------------------------------------------------
def _id(store, resource_id):
    with store.read() as conn:
        return conn.execute(select(findings.c.id).where(findings.c.resource_id == resource_id)).scalar()


def test_assign_comment_and_review_are_history_and_audit_log(store, tmp_path):
    run(store, tmp_path, "S1", {ZERO: ["L1", "L2"]})
    l1, l2 = _id(store, "L1"), _id(store, "L2")
    assign(store, l1, "bob", "alice", audit(store))
    comment(store, l1, "calling the carrier", "bob", audit(store))
    review(store, l2, "false_positive", "fax line, in use monthly", "alice", audit(store))
    assert statuses(store) == {"L1": "in_progress", "L2": "false_positive"}
    detail = finding_detail(store, l1)
    assert [(e["kind"], e["actor"]) for e in detail["history"]] == [
        ("opened", "system"), ("assigned", "alice"), ("commented", "bob")]
    assert detail["history"][1]["data"]["from"] == "open"
    with store.read() as conn:
        log = conn.execute(select(audit_log).order_by(audit_log.c.id)).all()
    assert [(r.actor, r.action, r.origin) for r in log] == [
        ("alice", "assigned", "test:host"), ("bob", "commented", "test:host"),
        ("alice", "status_changed", "test:host")]
    with pytest.raises(WorkflowError, match="only an open or in-progress finding can be closed"):
        review(store, l2, "not_applicable", "again", "alice", audit(store))


def test_a_manual_resolution_is_reopened_when_the_next_evaluation_still_finds_it(store, tmp_path):
    run(store, tmp_path, "S1", {ZERO: ["L1"]})
    l1 = _id(store, "L1")
    resolve_manual(store, l1, "line cancelled with the carrier", "alice", audit(store))
    assert statuses(store) == {"L1": "resolved"}
    run(store, tmp_path, "S2", {ZERO: ["L1"]})
    assert statuses(store) == {"L1": "open"}
    assert kinds(store, "L1") == ["opened", "resolved", "reopened"]
    reopen_err = pytest.raises(WorkflowError, match="is open")
    with reopen_err:
        reopen(store, l1, "", "alice", audit(store))


def test_a_false_positive_stays_closed_while_it_is_still_found(store, tmp_path):
    run(store, tmp_path, "S1", {ZERO: ["L1"]})
    review(store, _id(store, "L1"), "not_applicable", "test line", "alice", audit(store))
    run(store, tmp_path, "S2", {ZERO: ["L1"]})
    assert statuses(store) == {"L1": "not_applicable"}


# -- exceptions -----------------------------------------------------------------------------------
def _request(store, actor="alice", expires=None, **kw):
    spec = ExceptionSpec(policy_id=ZERO, justification="alarm panel line", requested_by=actor,
                         expires_on=expires or store.today() + dt.timedelta(days=30), **kw)
    return request(store, spec, audit=audit(store))


def test_an_exception_is_approved_then_expires_and_reopens_its_finding(store, tmp_path, clock):
    run(store, tmp_path, "S1", {ZERO: ["L1", "L2"]})
    last_day = clock.now.date() + dt.timedelta(days=10)
    exc_id = _request(store, resources=("L1",), expires=last_day)
    assert statuses(store)["L1"] == "open"      # requested is not approved
    with pytest.raises(ExceptionError, match="cannot approve it"):
        decide(store, exc_id, "approve", "alice", None, audit=audit(store))
    decide(store, exc_id, "approve", "carol", "ok until the panel is replaced", audit=audit(store))
    assert statuses(store) == {"L1": "excepted", "L2": "open"}
    # In force through its expiry date, inclusive (UTC).
    clock.set_day(last_day)
    run(store, tmp_path, "S2", {ZERO: ["L1", "L2"]})
    assert statuses(store)["L1"] == "excepted"
    clock.set_day(last_day + dt.timedelta(days=1))
    summary = run(store, tmp_path, "S3", {ZERO: ["L1", "L2"]})
    assert summary.changes["exception_expired"] == 1
    assert statuses(store)["L1"] == "open"
    assert kinds(store, "L1") == ["opened", "exception_requested", "exception_approved", "excepted",
                                  "exception_expired", "exception_expired"]
    (expired,) = list_exceptions(store, "expired")
    assert expired["id"] == exc_id


def test_an_exception_cannot_outlive_its_severity_maximum(store, tmp_path):
    run(store, tmp_path, "S1", {ZERO: ["L1"]})
    limit = store.exception_max_days["medium"]
    with pytest.raises(ExceptionError, match=f"at most {limit} days"):
        _request(store, resources=("L1",), expires=store.today() + dt.timedelta(days=limit + 1))


def test_a_listed_resource_is_excepted_whatever_resource_type_its_finding_has(store, tmp_path):
    """A policy's findings may carry more than one resource type (one whose resource changed,
    then failed to run, keeps its older findings): exceptions look each type up."""
    run(store, tmp_path, "S1", {ZERO: ["L1", "L2", "L3"]})
    with store.write() as conn:
        conn.execute(text("UPDATE findings SET resource_type = 'aa_first' WHERE resource_id = 'L1'"))
        conn.execute(text("UPDATE findings SET resource_type = 'zz_last' WHERE resource_id = 'L3'"))
    exc_id = _request(store, resources=("L1", "L3"))
    decide(store, exc_id, "approve", "carol", None, audit=audit(store))
    assert statuses(store) == {"L1": "excepted", "L2": "open", "L3": "excepted"}


def test_patterns_revocation_and_orphans(store, tmp_path):
    run(store, tmp_path, "S1", {ZERO: ["FAX-1", "FAX-2", "L1"]})
    wide = _request(store, resource_patterns=("FAX-*",))
    nothing = _request(store, resources=("GONE-1",))
    decide(store, wide, "approve", "carol", None, audit=audit(store))
    decide(store, nothing, "approve", "carol", None, audit=audit(store))
    assert statuses(store) == {"FAX-1": "excepted", "FAX-2": "excepted", "L1": "open"}
    assert [e["id"] for e in list_exceptions(store, "orphaned")] == [nothing]
    decide(store, wide, "revoke", "carol", "panel replaced", audit=audit(store))
    assert statuses(store) == {"FAX-1": "open", "FAX-2": "open", "L1": "open"}
    assert kinds(store, "FAX-2")[-1] == "exception_revoked"


def test_patterns_are_case_sensitive_on_every_database(store, tmp_path):
    run(store, tmp_path, "S1", {ZERO: ["fax-1", "FAX-2"]})
    exc_id = _request(store, resource_patterns=("FAX-*",))
    decide(store, exc_id, "approve", "carol", None, audit=audit(store))
    assert statuses(store) == {"fax-1": "open", "FAX-2": "excepted"}


def test_an_exception_that_no_longer_matches_resolves_with_its_finding(store, tmp_path):
    run(store, tmp_path, "S1", {ZERO: ["L1"]})
    exc_id = _request(store, resources=("L1",))
    decide(store, exc_id, "approve", "carol", None, audit=audit(store))
    run(store, tmp_path, "S2", {ZERO: []})
    assert statuses(store) == {"L1": "resolved"}


def test_repository_exceptions_sync_update_and_revoke(store, tmp_path):
    run(store, tmp_path, "S1", {ZERO: ["L1", "L2"]})
    spec = ExceptionSpec(policy_id=ZERO, justification="standby line", requested_by="dev@x",
                         expires_on=store.today() + dt.timedelta(days=20), resources=("L1",),
                         key="repository:standby.yaml#standby", approver="lead@x",
                         approved_on=store.today(), file="standby.yaml")
    run(store, tmp_path, "S2", {ZERO: ["L1", "L2"]}, repository=[spec])
    assert statuses(store) == {"L1": "excepted", "L2": "open"}
    (row,) = list_exceptions(store, "active")
    assert (row["source"], row["approver"]) == ("repository", "lead@x")
    with pytest.raises(ExceptionError, match="pull request"):
        decide(store, row["id"], "revoke", "carol", None, audit=audit(store))
    before = event_count(store)
    run(store, tmp_path, "S3", {ZERO: ["L1", "L2"]}, repository=[spec])  # unchanged: nothing new
    assert event_count(store) == before
    run(store, tmp_path, "S4", {ZERO: ["L1", "L2"]}, repository=[])       # removed from the repo
    assert statuses(store) == {"L1": "open", "L2": "open"}
    assert list_exceptions(store, "revoked")[0]["id"] == row["id"]


# -- concurrency ----------------------------------------------------------------------------------
def test_an_evaluation_and_human_actions_at_once_lose_nothing(store, tmp_path, clock):
    many = [f"L{i:05d}" for i in range(20_000)]
    run(store, tmp_path, "S1", {ZERO: many[:100]})
    targets = [_id(store, f"L{i:05d}") for i in range(100)]
    errors: list[BaseException] = []

    def evaluate() -> None:
        try:
            run(store, tmp_path, "S2", {ZERO: many, ORPHAN: many[:5000]})
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    def people(name: str) -> None:
        try:
            for fid in targets:
                comment(store, fid, f"{name} looked", name, audit(store))
                assign(store, fid, name, name, audit(store))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=evaluate), threading.Thread(target=people, args=("ann",)),
               threading.Thread(target=people, args=("ben",))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with store.read() as conn:
        n_comments = conn.execute(select(func.count()).select_from(events)
                                  .where(events.c.kind == "commented")).scalar()
        n_open = conn.execute(select(func.count()).select_from(findings)).scalar()
        report = chain.verify(conn)
        n_audit = conn.execute(select(func.count()).select_from(audit_log)).scalar()
    assert n_comments == 200 and n_audit == 400
    assert n_open == 20_000 + 5_000
    assert report.ok, report.problem
