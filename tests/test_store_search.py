"""The overdue filter, the text search and the dashboard's figures: what they return, pinned on
SQLite and PostgreSQL, whichever way a page is read (walking ranges in id order, or an index)
and however the figures are brought up to date (counted again in full, or policy by policy).

Every test runs on SQLite and on PostgreSQL (when DIALTONE_TEST_DATABASE_URL is set; CI sets it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import select, text

from dialtone.engine.evaluation import PolicyOutcome
from dialtone.engine.frameworks import load_catalogue
from dialtone.engine.store import dashboard, queries, workflow
from dialtone.engine.store import exceptions as exc_mod
from dialtone.engine.store.sync import record_evaluation
from dialtone.engine.store.tables import findings
from tests.storekit import (
    POLICIES,
    PROVENANCE,
    Clock,
    all_pages,
    evaluation,
    make_store,
    policy_set,
    reset_postgres,
    snapshot,
    store_url,
)

CRIT = "regulatory.off-channel-messaging-apps"   # critical: due in 7 days
HIGH = "security.unencrypted-devices"            # high: 30 days
MED = "cost.zero-usage-lines"                    # medium: 90 days
SET = (CRIT, HIGH, MED)
DAY0 = dt.date(2026, 11, 2)

#: A reason longer than a search looks up by trigrams (32 of them).
LONG = "Odd Reason: 100% sure_thing, then a much longer explanation that goes on and on to its end"
#: Resource ids that LIKE or an FTS query could misread, and cases that differ only by case.
ODD = ["a%b-1", "a_b-2", "axb-3", "aXb-4", "back\\slash-5", 'quo"te-6', "NEAR(x)-7", "x AND y-8",
       "col:umn-9", "*star-10", "Zürich-11", "zürich-12", "UPPER-13", "upper-14", "ab", "a b c"]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    return store_url(request.param, tmp_path)


@pytest.fixture
def store(url):
    s = make_store(url, Clock(dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)))
    yield s
    s.close()


def found(policy_id: str, rows: list[tuple[str, str]]) -> PolicyOutcome:
    """An outcome of a built-in policy with its own reason and savings per resource."""
    p = POLICIES[policy_id]
    out = PolicyOutcome(policy_id, p.title, p.category, p.severity, status="alarm" if rows else "ok",
                        policy_hash=p.source_hash, resource_type=p.resource, evidence_names=("days",),
                        sql="SELECT 1")
    if rows:
        out.rows = pa.table({"resource_id": [r for r, _ in rows], "reason": [w for _, w in rows],
                             "savings": [float(i % 7) * 1.25 for i in range(len(rows))],
                             "savings_key": [f"{p.resource}:{r}" for r, _ in rows],
                             "currency": ["USD"] * len(rows), "days": [100] * len(rows)})
        out.evaluated = len(rows) + 10
    return out


def record(store, tmp_path, name: str, rows: dict[str, list[tuple[str, str]]]):
    snap = snapshot(tmp_path, name, store.today())
    return record_evaluation(store, evaluation(snap, [found(p, rows.get(p, [])) for p in SET]),
                             policy_set(*SET), provenance=PROVENANCE)


def first_rows(policy_id: str, n: int) -> list[tuple[str, str]]:
    tag = policy_id[:3]
    return [(f"{tag}-{i:04d}", f"no activity for {100 + i % 13} days") for i in range(n)]


@pytest.fixture
def estate(store, tmp_path):
    """Three policies of different SLAs, findings opened on two days, every status that matters
    for overdue (open, in progress, excepted, resolved, false positive), odd resource ids."""
    rows = {CRIT: first_rows(CRIT, 30) + [(r, "odd id") for r in ODD[:8]],
            HIGH: first_rows(HIGH, 60) + [(r, LONG if r.startswith("U") else "Odd Reason: 100% sure_thing")
                                   for r in ODD[8:]],
            MED: first_rows(MED, 120)}
    record(store, tmp_path, "S1", rows)
    store.clock.advance(days=10)
    # The second evaluation: a few resolved, a few new (due later), some reasons reworded.
    rows2 = {p: [(r, w.replace("no activity", "idle") if i % 5 == 0 else w)
                 for i, (r, w) in enumerate(lst) if i % 9 != 4] for p, lst in rows.items()}
    for p in SET:
        rows2[p] += [(f"{p[:3]}-new-{i}", f"new since {i} days") for i in range(6)]
    record(store, tmp_path, "S2", rows2)
    audit = workflow.audit_writer(store, "test")
    ids = {r.resource_id: r.id for r in _all(store)}
    for rid in ("reg-0003", "sec-0010", "cos-0020", "sec-new-1"):
        workflow.assign(store, ids[rid], "carol", "ada", audit)
    workflow.review(store, ids["cos-0007"], "false_positive", "test line", "ada", audit)
    spec = exc_mod.ExceptionSpec(CRIT, "kept", store.today() + dt.timedelta(days=20), "ada",
                                 resources=("reg-0005", "reg-0006"))
    eid = exc_mod.request(store, spec, audit=audit)
    exc_mod.decide(store, eid, "approve", "bob", None, audit=audit)
    exc_mod.refresh_exceptions_if_changed(store)
    return store


def _all(store):
    with store.read() as conn:
        return conn.execute(select(findings).order_by(findings.c.id)).all()


def oracle(store, flt: queries.FindingFilter) -> list[int]:
    """The filter, decided in Python from every finding (the meaning the SQL must keep)."""
    today = store.today().isoformat()
    meta = {p: POLICIES[p] for p in SET}
    with store.read() as conn:
        fold = str.lower if conn.dialect.name == "postgresql" else queries.ascii_lower
    out = []
    for r in _all(store):
        p = meta[r.policy_id]
        ok = ((not flt.status or r.status in flt.status)
              and (not flt.severity or p.severity in flt.severity)
              and (not flt.category or p.category in flt.category)
              and (not flt.overdue or (r.status in ("open", "in_progress") and r.due_on is not None
                                       and r.due_on < today))
              and (not flt.search or any(text_matches(flt.search, v, fold) for v in (r.resource_id, r.reason,
                                                                                      r.evidence)))
              and (flt.opened_in is None or r.first_seen_evaluation == flt.opened_in)
              and (not flt.assignee or (r.assignee or "").lower() == flt.assignee.lower())
              and (not flt.policy or any(p.lower() in r.policy_id.lower() for p in flt.policy))
              and (flt.after_id is None or r.id > flt.after_id))
        if ok:
            out.append(r.id)
    return out


def text_matches(search: str, value: str | None, fold=queries.ascii_lower) -> bool:
    """The search's meaning: case-insensitive (A-Z on SQLite, every letter on PostgreSQL: ``fold``),
    at a word start when the text starts with a letter or digit, anywhere otherwise; every
    character literal."""
    if value is None:
        return False
    low, within = fold(search), " " + fold(value)
    if search[:1].isascii() and search[:1].isalnum():
        return re.search("[^a-z0-9]" + re.escape(low), within) is not None
    return low in within


def pages(store, flt: queries.FindingFilter, limit: int) -> list[int]:
    return all_pages(store, flt, limit)


ACTIVE = ("open", "in_progress", "excepted")
F = queries.FindingFilter
FILTERS = [
    F(overdue=True), F(status=ACTIVE, overdue=True), F(status=("in_progress",), overdue=True),
    F(status=("excepted", "resolved"), overdue=True), F(category=("security",), overdue=True),
    F(severity=("medium",), overdue=True),
    F(search="a"), F(search="ab"), F(search="-00"), F(search="reg-0012"), F(search="new since"),
    F(search="idle for 11"), F(search="no activity for 100 days"), F(search="none such"),
    F(status=ACTIVE, search="sec-00"), F(status=("resolved",), search="0"),
    F(category=("cost",), search="sec-"), F(search="sec-", overdue=True),
    F(status=ACTIVE, search="for 10", overdue=True),
] + [F(search=s) for s in ODD + ["%", "_", "\\", '"', "a%", "%b", "_b-", "zürich", "ZÜRICH", "Zürich",
                                 "upper", "UPPER", "Odd Reason", "odd reason", "100% sure_", "sure_thing",
                                 "(x)", "AND", "x AND", ":umn", "*st", "^", "ic", "rich-1",
                                 LONG[5:], LONG[10:60], LONG[10:60].replace("much", "mucH"),
                                 "REG-00", "Idle FOR", "days", '"days"', "100}", "dAyS"]]


@pytest.mark.parametrize(("walk", "rare"), [(1, 0), (8, 0), (10**6, 0), (8, 20_000)],
                         ids=["index", "default", "walk-only", "rare-text-candidates"])
def test_pages_and_downloads_return_what_the_filter_means(estate, walk, rare, monkeypatch):
    monkeypatch.setattr(queries, "WALK_PER_ROW", walk)
    monkeypatch.setattr(queries, "RARE_TEXT", rare)     # 0: never from the candidates alone
    for flt in FILTERS:
        shown = {k: v for k, v in flt.__dict__.items() if v}
        expected = oracle(estate, flt)
        assert [r["id"] for r in queries.list_findings(estate, flt)] == expected, shown   # a download
        for limit in (1, 4, 50):
            assert pages(estate, flt, limit) == expected, (shown, limit)
        if expected:
            middle = expected[len(expected) // 2]
            page = queries.list_findings(estate, F(**{**flt.__dict__, "limit": 3, "after_id": middle}))
            assert [r["id"] for r in page] == [i for i in expected if i > middle][:3], shown


def test_the_trigram_index_is_there_to_use(estate):
    with estate.read() as conn:
        assert queries._search_index(conn, "reg-0012") in ("fts", "trgm")
        assert queries._search_index(conn, "ab") is None           # no trigram in two characters


def test_the_sqlite_index_is_written_in_large_batches(tmp_path):
    # FTS5's default (1 MiB of pending terms) writes a trigram index as thousands of small
    # segments to merge; the refresh asks for larger batches, kept in the index's configuration.
    from dialtone.engine.store import search_index

    store = make_store(store_url("sqlite", tmp_path), Clock(dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)))
    try:
        record(store, tmp_path, "S1", {MED: first_rows(MED, 20)})
        with store.read() as conn:
            value = conn.execute(text("SELECT v FROM findings_fts_config WHERE k = 'hashsize'")).scalar()
    finally:
        store.close()
    assert value == search_index.HASH_BYTES


def test_overdue_is_strictly_after_the_due_date_and_only_for_open_or_in_progress(estate):
    rows = {r.id: r for r in _all(estate)}
    crit_due = (DAY0 + dt.timedelta(days=7)).isoformat()       # opened on DAY0, critical: + 7 days
    due_then = {i for i, r in rows.items() if r.due_on == crit_due}
    active = {i for i in due_then if rows[i].status in ("open", "in_progress")}
    assert {rows[i].status for i in active} == {"open", "in_progress"}
    assert {rows[i].status for i in due_then - active} == {"excepted", "resolved"}
    for day, late in ((DAY0 + dt.timedelta(days=7), False), (DAY0 + dt.timedelta(days=8), True)):
        estate.clock.set_day(day)
        listed = {r["id"]: r for r in queries.list_findings(estate, F(overdue=True, limit=500))}
        assert (active & set(listed)) == (active if late else set())
        assert not (due_then - active) & set(listed)           # excepted, resolved: never overdue
        assert all(r["overdue"] and r["status"] in ("open", "in_progress") for r in listed.values())
        every = queries.list_findings(estate, F())
        assert {r["id"] for r in every if r["overdue"]} == set(listed)
        assert [r["id"] for r in queries.list_findings(estate, F(overdue=True))] == sorted(listed)


def test_search_is_case_insensitive_from_a_word_start_with_every_character_literal(estate):
    def ids(s):
        return {r["resource_id"] for r in queries.list_findings(estate, F(search=s, limit=500))}

    assert ids("a%b") == {"a%b-1"}
    assert ids("a_b") == {"a_b-2"}
    assert ids("back\\slash") == {"back\\slash-5"}
    assert ids('quo"te') == {'quo"te-6'}
    assert ids("NEAR(x)") == {"NEAR(x)-7"} == ids("near(X)")
    assert ids("Zürich") == {"Zürich-11", "zürich-12"}             # A-Z folded
    assert ids("UPPER") == {"UPPER-13", "upper-14"} == ids("upper")
    assert ids("aXb") == {"aXb-4", "axb-3"} == ids("axb")
    assert ids("sure_thing") == set(ODD[8:])                     # in the reason
    assert ids(LONG[3:70]) == {"UPPER-13"} and ids(LONG[3:70] + "!") == set()
    assert ids("Odd reason") == set(ODD[8:])
    assert ids("ure_thing") == set()                             # not at a word start
    assert ids("_thing") == set(ODD[8:])                         # not a letter or digit: anywhere
    assert ids("0012") >= {"reg-0012", "sec-0012"}               # after a hyphen: a word start


def test_search_follows_reasons_reworded_by_an_evaluation(estate, tmp_path, monkeypatch):
    monkeypatch.setattr(queries, "WALK_PER_ROW", 1)          # the index answers, not the walk
    before = {r["resource_id"] for r in queries.list_findings(estate, F(search="idle for 100", limit=50))}
    assert before == {"reg-0000", "sec-0000", "cos-0000", "cos-0065"}
    estate.clock.advance(days=1)
    rows = {CRIT: [(f"reg-{i:04d}", "reworded again") for i in range(3)],
            HIGH: first_rows(HIGH, 2), MED: first_rows(MED, 2)}
    record(estate, tmp_path, "S3", rows)
    assert queries.list_findings(estate, F(search="idle for 100", status=ACTIVE, limit=50)) == []
    assert {r["resource_id"] for r in queries.list_findings(estate, F(search="reworded", limit=50))} \
        == {"reg-0000", "reg-0001", "reg-0002"}
    assert [r["id"] for r in queries.list_findings(estate, F(search="idle for 100", limit=50))] \
        == oracle(estate, F(search="idle for 100"))


@pytest.mark.parametrize("url", ["sqlite"], indirect=True)   # PostgreSQL keeps its GIN indexes itself
def test_until_the_index_is_brought_up_to_date_a_search_scans_and_finds_the_same(estate, tmp_path,
                                                                                 monkeypatch, caplog):
    """SQLite re-indexes reworded findings after the evaluation's commit, in its own transaction:
    in between (or when that fails) the index is not used, and the answers do not change."""
    from dialtone.engine.store import search_index

    monkeypatch.setattr(queries, "WALK_PER_ROW", 1)          # the index answers when it can
    estate.clock.advance(days=1)
    rows = {CRIT: [(f"reg-{i:04d}", f"reworded {i}") for i in range(3)] + [("reg-brand-new", "fresh")],
            HIGH: first_rows(HIGH, 2), MED: first_rows(MED, 2)}

    def broken(conn):
        raise RuntimeError("disk full")

    with monkeypatch.context() as m:
        m.setattr(search_index, "bring_up_to_date", broken)
        with caplog.at_level("WARNING"):
            summary = record(estate, tmp_path, "S3", rows)
    assert summary.changes["opened"] == 1                    # the evaluation is recorded
    assert "search index was not brought up to date (disk full)" in caplog.text
    with estate.read() as conn:
        assert not search_index.is_current(conn)
        assert queries._search_index(conn, "reworded") is None
    for flt in (F(search="reworded"), F(search="fresh"), F(search="idle for 100"), F(search="reg-000")):
        assert pages(estate, flt, 2) == oracle(estate, flt) != []

    done = search_index.refresh(estate)
    # Reworded: three CRIT findings, and sec-0000 and cos-0000 ("idle for 100 days" since S2,
    # "no activity for 100 days" again); the findings no longer found keep their last reason.
    # Indexed: those five again and one new finding.
    assert done == search_index.Refresh(removed=5, added=6)
    with estate.read() as conn:
        assert search_index.is_current(conn) and queries._search_index(conn, "reworded") == "fts"
    for flt in (F(search="reworded"), F(search="fresh"), F(search="idle for 100"), F(search="reg-000")):
        assert pages(estate, flt, 2) == oracle(estate, flt) != []
    assert search_index.refresh(estate) == search_index.Refresh(removed=0, added=0)
    # When much has changed, the index is built afresh instead: same answers.
    total = len(_all(estate))
    monkeypatch.setattr(search_index, "REBUILD_SHARE", 0.0)
    with estate.write() as conn:
        conn.execute(text("UPDATE findings SET reason = reason || '!' WHERE id % 2 = 0"))
    assert search_index.refresh(estate) == search_index.Refresh(removed=total, added=total)
    for flt in (F(search="reworded"), F(search="days!"), F(search="reg-000")):
        assert pages(estate, flt, 2) == oracle(estate, flt) != []


# -- the dashboard --------------------------------------------------------------------------------
def money_counted_once(rows) -> dict[str, dict[str, float]]:
    """The savings rule worked out row by row: per billable object, its largest pending claim is
    identified; an object with no pending claim gives its largest resolved one as realised."""
    pending: dict[tuple, float] = {}
    resolved: dict[tuple, float] = {}
    for status, amount, key, currency in rows:
        if status in ("open", "in_progress"):
            pending[key, currency] = max(amount, pending.get((key, currency), amount))
        elif status == "resolved":
            resolved[key, currency] = max(amount, resolved.get((key, currency), amount))
    out: dict[str, dict[str, float]] = {"identified": {}, "realised": {}}
    for (_key, currency), amount in pending.items():
        out["identified"][currency] = out["identified"].get(currency, 0.0) + amount
    for (key, currency), amount in resolved.items():
        if (key, currency) not in pending:
            out["realised"][currency] = out["realised"].get(currency, 0.0) + amount
    return {kind: {c: round(a, 2) for c, a in sorted(v.items()) if a} for kind, v in out.items()}


def reference(store, catalogue) -> dict:
    """The figures as the dashboard computed them before it kept counts (one query each)."""
    today = store.today().isoformat()
    active = "f.status IN ('open', 'in_progress')"
    with store.read() as conn:
        q = lambda sql, **p: conn.execute(text(sql), p).all()   # noqa: E731
        savings = money_counted_once(q("""
            SELECT status, savings, coalesce(savings_key, resource_type || ':' || resource_id),
                   coalesce(currency, '(unknown)') FROM findings WHERE savings IS NOT NULL"""))
        return {
            "by_status": dict(q("SELECT status, COUNT(*) FROM findings GROUP BY status")),
            "by_severity": dict(q(f"SELECT p.severity, COUNT(*) FROM findings f JOIN policies p "
                                  f"ON p.id = f.policy_id WHERE {active} GROUP BY p.severity")),
            "by_category": dict(q(f"SELECT p.category, COUNT(*) FROM findings f JOIN policies p "
                                  f"ON p.id = f.policy_id WHERE {active} GROUP BY p.category")),
            "by_framework": dict(q(f"SELECT r.framework, COUNT(DISTINCT f.id) FROM findings f JOIN "
                                   f"policy_requirements r ON r.policy_id = f.policy_id WHERE {active} "
                                   f"GROUP BY r.framework")),
            "overdue": q(f"SELECT COUNT(*) FROM findings f WHERE {active} AND f.due_on < :t", t=today)[0][0],
            "savings_identified": savings["identified"],
            "savings_realised": savings["realised"],
            "excepted_only": {r[0] for r in q("""
                SELECT policy_id FROM findings GROUP BY policy_id
                HAVING SUM(CASE WHEN status IN ('open', 'in_progress') THEN 1 ELSE 0 END) = 0
                   AND SUM(CASE WHEN status = 'excepted' THEN 1 ELSE 0 END) > 0""")},
        }


def check(store, catalogue):
    got, want = dashboard.posture(store, catalogue), reference(store, catalogue)
    for key in ("by_status", "by_severity", "by_category", "by_framework", "overdue"):
        assert got[key] == want[key], key
    assert got["open"] == want["by_status"].get("open", 0) + want["by_status"].get("in_progress", 0)
    assert got["savings_identified"] == want["savings_identified"]
    assert got["savings_realised"] == want["savings_realised"]
    # "excepted" in the grid: every mapped policy ok or with excepted findings only.
    for cell in got["grid"]:
        if cell["state"] == "excepted":
            assert set(cell["policies"]) & want["excepted_only"]
    return got


def test_the_dashboard_counts_again_only_what_a_change_touched(estate, tmp_path, monkeypatch):
    catalogue = load_catalogue()
    counted: list = []          # (what, policies or None for all)
    groups, overdue = dashboard._groups, dashboard._overdue
    monkeypatch.setattr(dashboard, "_groups", lambda conn, pids=None: (
        counted.append(("groups", None if pids is None else sorted(pids))), groups(conn, pids))[1])
    monkeypatch.setattr(dashboard, "_overdue", lambda conn, today, pids: (
        counted.append(("overdue", sorted(pids))), overdue(conn, today, pids))[1])
    every = sorted(SET)

    def view(expected):
        counted.clear()
        figures = check(estate, catalogue)
        assert counted == expected
        return figures

    # The counts the last evaluation recorded, the policies of the actions since counted again,
    # the overdue findings counted for today.
    view([("groups", every), ("overdue", every)])
    view([])                                           # nothing moved: served from memory
    audit = workflow.audit_writer(estate, "test")
    ids = {r.resource_id: r.id for r in _all(estate)}
    steps = [
        (lambda: workflow.comment(estate, ids["sec-0001"], "looking", "ada", audit), HIGH),
        (lambda: workflow.assign(estate, ids["sec-0002"], "dave", "ada", audit), HIGH),
        (lambda: workflow.resolve_manual(estate, ids["cos-0001"], "cancelled", "ada", audit), MED),
        (lambda: workflow.review(estate, ids["reg-0001"], "not_applicable", "lab", "ada", audit), CRIT),
        (lambda: workflow.reopen(estate, ids["cos-0007"], "it was real", "ada", audit), MED),
    ]
    for step, policy in steps:
        step()
        view([("groups", [policy]), ("overdue", [policy])])
    # An exception approved and applied to every finding of a policy: only that policy again.
    spec = exc_mod.ExceptionSpec(CRIT, "all of them", estate.today() + dt.timedelta(days=5), "ada",
                                 resource_patterns=("*",))
    exc_mod.decide(estate, exc_mod.request(estate, spec, audit=audit), "approve", "bob", None, audit=audit)
    exc_mod.refresh_exceptions_if_changed(estate)
    figures = view([("groups", [CRIT]), ("overdue", [CRIT])])
    assert figures["by_status"]["excepted"] > 2
    # A new day: only the overdue findings are counted again; the exception expires on day 6.
    for day in range(1, 9):
        estate.clock.advance(days=1)
        moved = exc_mod.refresh_exceptions_if_changed(estate) and day == 6
        view([("groups", [CRIT])] * moved + [("overdue", every)])
    # An evaluation counts as it records; the dashboard starts from its counts.
    record(estate, tmp_path, "S3", {HIGH: first_rows(HIGH, 5), MED: first_rows(MED, 200)})
    view([("overdue", every)])
    workflow.comment(estate, ids["sec-0003"], "still there?", "ada", audit)
    view([("groups", [HIGH]), ("overdue", [HIGH])])
    # In another process (nothing in memory) the same: the recorded counts, then the events since.
    estate.memo.counts = estate.memo.posture = None
    view([("groups", [HIGH]), ("overdue", every)])
    # Without recorded counts (an evaluation recorded before they were): everything, once.
    with estate.write() as conn:
        conn.execute(text("DELETE FROM posture_counts"))
    estate.memo.counts = None
    workflow.comment(estate, ids["sec-0003"], "and now?", "ada", audit)
    view([("groups", None), ("overdue", every)])
    workflow.comment(estate, ids["cos-0003"], "and this one?", "ada", audit)
    view([("groups", [MED]), ("overdue", [MED])])


def test_the_dashboard_of_another_database_at_the_same_url_is_counted_afresh(url, tmp_path):
    catalogue = load_catalogue()
    store = make_store(url, Clock(dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)))
    record(store, tmp_path, "S1", {MED: first_rows(MED, 5)})
    workflow.comment(store, 1, "one", "ada", workflow.audit_writer(store, "test"))
    assert check(store, catalogue)["by_status"] == {"open": 5}
    store.close()
    if url.startswith("sqlite"):
        for suffix in ("", "-wal", "-shm"):
            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    else:
        reset_postgres(url)
    store = make_store(url, Clock(dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)))
    record(store, tmp_path, "S1b", {MED: first_rows(MED, 3)})
    workflow.comment(store, 1, "another", "ada", workflow.audit_writer(store, "test"))
    assert check(store, catalogue)["by_status"] == {"open": 3}
    store.close()


# -- sorting, counting, new findings ----------------------------------------------------------------
def sorted_oracle(store, flt: queries.FindingFilter) -> list[int]:
    """The filter's findings in its sort: empty due dates and savings last whichever the
    direction, ties by id in the sort's direction."""
    rows = {r.id: r for r in _all(store)}
    ids = oracle(store, dataclasses.replace(flt, sort="id", descending=False, after_id=None, after_key=None))
    if flt.sort == "id":
        return sorted(ids, reverse=flt.descending)

    def key(i):
        r = rows[i]
        return {"due": r.due_on, "savings": r.savings, "first_seen": r.first_seen_at,
                "severity": queries.SEVERITY_ORDER.index(POLICIES[r.policy_id].severity),
                "policy": r.policy_id}[flt.sort]

    filled = sorted((i for i in ids if key(i) is not None), key=lambda i: (key(i), i), reverse=flt.descending)
    return filled + sorted((i for i in ids if key(i) is None), reverse=flt.descending)


def sorted_pages(store, flt: queries.FindingFilter, limit: int) -> list[int]:
    after_key, after_id, out = None, None, []
    for _ in range(500):
        page = queries.list_findings(store, dataclasses.replace(flt, limit=limit, after_id=after_id,
                                                                 after_key=after_key))
        assert len(page) <= limit
        if not page:
            return out
        out += [r["id"] for r in page]
        after_key, after_id = queries.cursor(flt, page[-1])
    raise AssertionError("paging did not end")


@pytest.mark.parametrize("rare", [0, 20_000], ids=["ranges", "candidates"])
@pytest.mark.parametrize("sort", queries.SORTS)
@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
def test_every_sort_pages_through_what_the_filter_means_in_order(estate, sort, descending, rare,
                                                                 monkeypatch):
    monkeypatch.setattr(queries, "RARE_TEXT", rare)
    for flt in [F(), F(status=ACTIVE), F(severity=("critical", "medium")), F(status=ACTIVE, overdue=True),
                F(search="reg-00"), F(status=("resolved",), search="0"), F(assignee="CAROL"),
                F(opened_in=2), F(policy=("ZERO-usage",))]:
        flt = dataclasses.replace(flt, sort=sort, descending=descending)
        expected = sorted_oracle(estate, flt)
        assert [r["id"] for r in queries.list_findings(estate, flt)] == expected, flt
        for limit in (1, 7, 50):
            assert sorted_pages(estate, flt, limit) == expected, (flt, limit)


def test_savings_sort_puts_empty_savings_last_both_ways(estate):
    with estate.write() as conn:
        conn.execute(text("UPDATE findings SET savings = NULL WHERE id % 4 = 0"))
    for descending in (False, True):
        flt = F(sort="savings", descending=descending)
        got = sorted_pages(estate, flt, 5)
        assert got == sorted_oracle(estate, flt)
        tail = [i for i in got if i % 4 == 0]
        assert got[-len(tail):] == tail


def test_the_count_is_exact_up_to_its_cap(estate, monkeypatch):
    for flt in (F(), F(status=ACTIVE), F(search="reg-00"), F(severity=("critical",), overdue=True),
                F(assignee="Carol"), F(opened_in=2), F(search="nothing like it")):
        assert queries.count_findings(estate, flt) == (len(oracle(estate, flt)), True), flt
    monkeypatch.setattr(queries, "COUNT_CAP", 10)
    assert queries.count_findings(estate, F()) == (10, False)
    assert queries.count_findings(estate, F(assignee="carol")) == (4, True)


def test_policy_framework_and_assignee_filters_ignore_case(estate):
    assert {r["policy_id"] for r in queries.list_findings(estate, F(policy=("Unencrypted",)))} == {HIGH}
    assert {r["policy_id"] for r in queries.list_findings(estate, F(policy=("usage", "off-chan")))} \
        == {MED, CRIT}
    assert {r["assignee"] for r in queries.list_findings(estate, F(assignee="CaRoL"))} == {"carol"}
    framework = sorted({fw for p in SET for fw, _ in POLICIES[p].requirements})[0] \
        if hasattr(POLICIES[CRIT], "requirements") else None
    if framework:
        lower = queries.list_findings(estate, F(framework=framework.lower()))
        assert lower and lower == queries.list_findings(estate, F(framework=framework.upper()))


def test_a_bad_sort_or_cursor_is_refused(estate):
    with pytest.raises(queries.SortError):
        queries.list_findings(estate, F(sort="colour", limit=5))
    with pytest.raises(queries.SortError):
        queries.list_findings(estate, F(sort="severity", after_key="bogus", after_id=3, limit=5))
    assert queries.list_findings(estate, F(sort="policy", after_id=10**9, limit=5)) == []
    third = queries.list_findings(estate, F(sort="policy", limit=3))
    assert queries.list_findings(estate, F(sort="policy", after_id=third[1]["id"], limit=1)) == third[2:]
