"""Routing findings to targets, and the outbox's delivery: once, in order, retried, dead letters,
tickets kept in step with their findings.

The targets here are in-memory recorders registered in the plugin registry, so that these tests
are about routing and the outbox alone; the real targets are tested against real servers
(tests/test_notify_targets.py, tests/test_notify_tickets.py) and end to end in
features/notifications.feature.
"""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select, text

from dialtone.engine.config import Config
from dialtone.engine.notifier_api import (
    DeliveryError,
    RemoteComment,
    RemoteTicket,
    Target,
    Ticket,
    TicketTarget,
    notifiers,
)
from dialtone.engine.notify import delivery
from dialtone.engine.notify.routing import route_events
from dialtone.engine.notify_settings import NotifySettings, Rule, TargetSettings
from dialtone.engine.store.sync import record_evaluation
from dialtone.engine.store.tables import events, notify_outbox, notify_tickets
from dialtone.engine.store.workflow import audit_writer, comment
from tests.storekit import PROVENANCE, Clock, evaluation, make_store, outcome, policy_set, snapshot, store_url

ZERO = "cost.zero-usage-lines"      # medium, lines
ORPHAN = "cost.orphan-lines"        # lines


class Inbox(Target):
    """Records what it is sent; fails while ``failures`` is positive."""
    addressed = True
    sent: list = []
    failures = 0
    retryable = True

    def send(self, message):
        if Inbox.failures:
            Inbox.failures -= 1
            raise DeliveryError("the inbox is down", retryable=Inbox.retryable)
        Inbox.sent.append(message)
        return f"ok {message.id}"


class Tracker(TicketTarget):
    """An in-memory tracker: tickets by key, closed or not, with comments."""
    tickets: dict = {}
    log: list = []

    def find(self, correlation):
        for key, t in Tracker.tickets.items():
            if t["correlation"] == correlation:
                return Ticket(key)
        return None

    def create(self, correlation, message):
        key = f"TEL-{len(Tracker.tickets) + 1}"
        Tracker.tickets[key] = {"correlation": correlation, "closed": False, "comments": [],
                                "subject": message.subject, "text": message.text}
        Tracker.log.append(("create", key))
        return Ticket(key, f"https://tracker.test/browse/{key}")

    def comment(self, ticket, body):
        Tracker.log.append(("comment", ticket.key, body))

    def close_ticket(self, ticket, body):
        Tracker.tickets[ticket.key]["closed"] = True
        Tracker.log.append(("close", ticket.key, body))

    def reopen_ticket(self, ticket, body):
        Tracker.tickets[ticket.key]["closed"] = False
        Tracker.log.append(("reopen", ticket.key, body))

    def poll(self, tickets, cursors):
        out = []
        for t in tickets:
            state = Tracker.tickets[t.key]
            after = cursors.get(t.key)
            new = [c for c in state["comments"] if after is None or int(c.id) > int(after)]
            out.append(RemoteTicket(t.key, state["closed"], "Done" if state["closed"] else "To Do",
                                    tuple(new)))
        return out


@pytest.fixture(autouse=True)
def fakes():
    notifiers.register("test-inbox", Inbox)
    notifiers.register("test-tracker", Tracker)
    Inbox.sent, Inbox.failures, Inbox.retryable = [], 0, True
    Tracker.tickets, Tracker.log = {}, []
    yield


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    return store_url(request.param, tmp_path)


@pytest.fixture
def clock():
    return Clock(dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC))


@pytest.fixture
def store(url, clock):
    s = make_store(url, clock)
    yield s
    s.close()


def config(tmp_path, *rules: Rule, **settings) -> Config:
    targets = {"inbox": TargetSettings("inbox", "test-inbox", "full", {}),
               "tracker": TargetSettings("tracker", "test-tracker", "full", {})}
    return Config(path=None, base_dir=tmp_path, data_dir=tmp_path,
                  notifications=NotifySettings(targets=targets, rules=rules,
                                               base_url="https://dialtone.test", **settings))


def evaluate(store, cfg, tmp_path, snap_id, found: dict, policies=(ZERO, ORPHAN)):
    snap = snapshot(tmp_path, snap_id, store.today())
    outs = [outcome(pid, found.get(pid, [])) for pid in policies]
    ev = evaluation(snap, outs)
    return record_evaluation(
        store, ev, policy_set(*policies), provenance=PROVENANCE,
        route=(lambda conn, eid: route_events(conn, cfg.notifications, now=store.now_text(),
                                              snapshot=ev.snapshot, evaluation_id=eid))
        if cfg.notifications.enabled else None)


def outbox(store) -> list:
    with store.read() as conn:
        return conn.execute(select(notify_outbox).order_by(notify_outbox.c.id)).all()


def history(store, kind: str) -> list:
    with store.read() as conn:
        return conn.execute(select(events).where(events.c.kind == kind).order_by(events.c.seq)).all()


EACH = Rule(name="each-new", when=("new", "reopened"), targets=("inbox",), recipients=("ops@example.com",))


def test_new_findings_route_once_and_are_delivered_once_with_history(store, tmp_path):
    cfg = config(tmp_path, EACH)
    evaluate(store, cfg, tmp_path, "s1", {ZERO: ["L1", "L2"]})
    rows = outbox(store)
    assert [(r.kind, r.recipient, r.status) for r in rows] == [("new", "ops@example.com", "pending")] * 2
    # Routing the same history again adds nothing: the cursor moved, and the keys are unique.
    with store.write() as conn:
        assert route_events(conn, cfg.notifications, now=store.now_text(), snapshot=None).messages == 0
    summary = delivery.notify(store, cfg, None)
    assert summary.sent == 2
    assert sorted(m.findings[0].resource_id for m in Inbox.sent) == ["L1", "L2"]
    assert all(m.subject.startswith("[Dialtone] New medium finding:") for m in Inbox.sent)
    assert Inbox.sent[0].payload["findings"][0]["url"].startswith("https://dialtone.test/findings/")
    assert len(history(store, "notified")) == 2
    # Nothing is sent twice; a second evaluation that finds the same lines opens nothing new.
    evaluate(store, cfg, tmp_path, "s2", {ZERO: ["L1", "L2"]})
    assert delivery.notify(store, cfg, None).sent == 0
    assert len(Inbox.sent) == 2


def test_rules_match_on_severity_policy_and_framework(store, tmp_path):
    rules = (Rule(name="orphans", when=("new",), targets=("inbox",), match={"policy": ("cost.orphan-*",)}),
             Rule(name="critical", when=("new",), targets=("inbox",), match={"severity": ("critical",)}))
    cfg = config(tmp_path, *rules)
    evaluate(store, cfg, tmp_path, "s1", {ZERO: ["L1"], ORPHAN: ["L9"]})
    rows = outbox(store)
    assert [(r.rule, json.loads(r.payload)["trigger"]) for r in rows] == [("orphans", "new")]
    with store.read() as conn:
        finding = conn.execute(text("SELECT resource_id FROM findings WHERE id = :i"),
                               {"i": rows[0].finding_id}).scalar()
    assert finding == "L9"


def test_a_digest_collects_the_day_and_is_sent_when_the_day_is_over(store, clock, tmp_path):
    rule = Rule(name="daily", when=("new",), targets=("inbox",), delivery="digest", period="day",
                recipients=("ops@example.com",))
    cfg = config(tmp_path, rule)
    evaluate(store, cfg, tmp_path, "s1", {ZERO: ["L1", "L2"]})
    clock.advance(hours=2)
    evaluate(store, cfg, tmp_path, "s2", {ZERO: ["L1", "L2", "L3"]})
    rows = outbox(store)
    assert [(r.kind, r.not_before[:10]) for r in rows] == [("digest", "2026-11-03")]
    assert delivery.notify(store, cfg, None).sent == 0          # the day is not over
    clock.advance(days=1)
    assert delivery.notify(store, cfg, None).sent == 1
    [message] = Inbox.sent
    assert message.subject == "[Dialtone] 3 findings (daily)"
    assert {f.resource_id for f in message.findings} == {"L1", "L2", "L3"}
    assert len(history(store, "notified")) == 3                  # each finding's history says so


def test_a_target_down_for_three_rounds_gets_every_message_once_in_order(store, clock, tmp_path):
    cfg = config(tmp_path, EACH, retry_seconds=60)
    evaluate(store, cfg, tmp_path, "s1", {ZERO: ["L1", "L2", "L3"]})
    Inbox.failures = 3
    for _ in range(3):
        summary = delivery.notify(store, cfg, None)
        assert summary.sent == 0 and summary.retrying == 1    # the first waits; the others wait behind it
        clock.advance(hours=1)
    summary = delivery.notify(store, cfg, None)
    assert summary.sent == 3
    assert [m.findings[0].resource_id for m in Inbox.sent] == ["L1", "L2", "L3"]
    assert [r.attempts for r in outbox(store)] == [4, 1, 1]
    assert delivery.notify(store, cfg, None).sent == 0


def test_the_backoff_is_respected_between_rounds(store, clock, tmp_path):
    cfg = config(tmp_path, EACH, retry_seconds=60)
    evaluate(store, cfg, tmp_path, "s1", {ZERO: ["L1"]})
    Inbox.failures = 2
    delivery.notify(store, cfg, None)                       # attempt 1 fails: wait 60 s
    clock.advance(seconds=30)
    assert delivery.notify(store, cfg, None).retrying == 0  # not yet due: not attempted
    assert Inbox.failures == 1
    clock.advance(seconds=31)
    delivery.notify(store, cfg, None)                       # attempt 2 fails: wait 120 s
    assert outbox(store)[0].not_before == "2026-11-02T09:03:01.000000Z"


def test_a_crash_between_routing_and_sending_delivers_on_the_next_round_once(store, tmp_path):
    cfg = config(tmp_path, EACH)
    evaluate(store, cfg, tmp_path, "s1", {ZERO: ["L1"]})     # committed with the evaluation
    # ... the process dies here, before anything is sent ...
    assert delivery.notify(store, cfg, None).sent == 1
    assert delivery.notify(store, cfg, None).sent == 0
    assert len(Inbox.sent) == 1


def test_a_refused_message_is_a_dead_letter_and_does_not_block_the_others(store, tmp_path):
    cfg = config(tmp_path, EACH)
    evaluate(store, cfg, tmp_path, "s1", {ZERO: ["L1", "L2"]})
    Inbox.failures, Inbox.retryable = 1, False
    summary = delivery.notify(store, cfg, None)
    assert (summary.sent, summary.dead) == (1, 1)
    assert [r.status for r in outbox(store)] == ["dead", "sent"]
    assert "the inbox is down" in outbox(store)[0].last_error


def test_max_attempts_makes_a_dead_letter(store, clock, tmp_path):
    cfg = config(tmp_path, EACH, max_attempts=2, retry_seconds=1)
    evaluate(store, cfg, tmp_path, "s1", {ZERO: ["L1"]})
    Inbox.failures = 5
    delivery.notify(store, cfg, None)
    clock.advance(minutes=1)
    summary = delivery.notify(store, cfg, None)
    assert summary.dead == 1 and outbox(store)[0].status == "dead"


def test_recipients_come_from_the_estate_with_a_fallback(store, tmp_path):
    rule = Rule(name="owners", when=("new",), targets=("inbox",), recipients=("owner", "cost_center_owner"),
                fallback="telecom@example.com")
    cfg = config(tmp_path, rule, cost_center_owners={"CC-7": "finance7@example.com"})
    snap = snapshot(tmp_path, "s1", store.today())
    ev = evaluation(snap, [outcome(ZERO, ["L1", "L2", "L3"])])
    pq.write_table(pa.table({"id": ["L1", "L2", "L3"], "assigned_to": ["P1", None, None],
                             "cost_center": ["CC-1", "CC-7", None], "vendor": ["Acme"] * 3,
                             "currency": ["USD"] * 3}), snap.path / "lines.parquet")
    pq.write_table(pa.table({"id": ["P1"], "email": ["Liam.Moreau@Example.com"]}),
                   snap.path / "people.parquet")
    snap.manifest["entities"]["people"] = {"file": "people.parquet", "rows": 1, "sources": [], "sha256": ""}
    record_evaluation(store, ev, policy_set(ZERO), provenance=PROVENANCE,
                      route=lambda conn, eid: route_events(conn, cfg.notifications, now=store.now_text(),
                                                           snapshot=snap, evaluation_id=eid))
    with store.read() as conn:
        got = conn.execute(text("SELECT f.resource_id, o.recipient FROM notify_outbox o "
                                "JOIN findings f ON f.id = o.finding_id ORDER BY 1, 2")).all()
    assert [tuple(r) for r in got] == [("L1", "liam.moreau@example.com"), ("L2", "finance7@example.com"),
                                       ("L3", "telecom@example.com")]


def test_due_soon_and_overdue_fire_once_per_due_date(store, clock, tmp_path):
    rule = Rule(name="deadlines", when=("due_soon", "overdue"), targets=("inbox",), due_in_days=7)
    cfg = config(tmp_path, rule)
    evaluate(store, cfg, tmp_path, "s1", {ZERO: ["L1"]})    # medium: due in 90 days
    assert delivery.notify(store, cfg, None).sent == 0
    clock.advance(days=85)
    assert delivery.notify(store, cfg, None).sent == 1      # due within 7 days
    assert delivery.notify(store, cfg, None).sent == 0
    clock.advance(days=10)
    assert delivery.notify(store, cfg, None).sent == 1      # overdue
    clock.advance(days=1)
    assert delivery.notify(store, cfg, None).sent == 0
    assert [m.kind for m in Inbox.sent] == ["due_soon", "overdue"]


TICKETS = Rule(name="to-tracker", when=("new",), targets=("tracker",))


def test_a_ticket_per_finding_opened_once_closed_when_the_finding_resolves(store, tmp_path):
    cfg = config(tmp_path, TICKETS)
    evaluate(store, cfg, tmp_path, "s1", {ZERO: ["L1"]})
    delivery.notify(store, cfg, None)
    evaluate(store, cfg, tmp_path, "s2", {ZERO: ["L1"]})
    delivery.notify(store, cfg, None)
    assert [e[0] for e in Tracker.log] == ["create"]
    with store.read() as conn:
        ticket = conn.execute(select(notify_tickets)).one()
    assert (ticket.key, ticket.url, ticket.state) == ("TEL-1", "https://tracker.test/browse/TEL-1", "open")
    evaluate(store, cfg, tmp_path, "s3", {ZERO: []})         # fixed
    delivery.notify(store, cfg, None)
    assert Tracker.log[-1][:2] == ("close", "TEL-1")
    assert "no longer finds it" in Tracker.log[-1][2]
    with store.read() as conn:
        assert conn.execute(select(notify_tickets.c.state)).scalar() == "closed"


def test_a_ticket_closed_on_the_tracker_is_a_claim_the_next_evaluation_checks(store, tmp_path):
    cfg = config(tmp_path, TICKETS)
    evaluate(store, cfg, tmp_path, "s1", {ZERO: ["L1"]})
    delivery.notify(store, cfg, None)
    Tracker.tickets["TEL-1"]["closed"] = True                # someone closes it
    summary = delivery.notify(store, cfg, None)
    assert summary.claimed == 1
    assert [e.kind for e in history(store, "fix_claimed")] == ["fix_claimed"]
    with store.read() as conn:
        assert conn.execute(text("SELECT status FROM findings")).scalar() == "open"   # still work
        assert conn.execute(select(notify_tickets.c.state)).scalar() == "claimed"
    evaluate(store, cfg, tmp_path, "s2", {ZERO: ["L1"]})     # ... but the violation is still there
    delivery.notify(store, cfg, None)
    assert Tracker.log[-1][:2] == ("reopen", "TEL-1") and not Tracker.tickets["TEL-1"]["closed"]
    assert "still finds it" in Tracker.log[-1][2] and "L1" in Tracker.log[-1][2]
    assert len(history(store, "fix_refuted")) == 1
    with store.read() as conn:    # the tracker was read after the reopen went through: no new claim
        assert conn.execute(select(notify_tickets.c.state)).scalar() == "open"
    assert len(history(store, "fix_claimed")) == 1
    Tracker.tickets["TEL-1"]["closed"] = True                # closed again, and this time fixed
    delivery.notify(store, cfg, None)
    evaluate(store, cfg, tmp_path, "s3", {ZERO: []})
    delivery.notify(store, cfg, None)
    assert Tracker.log[-1][0] == "comment" and "confirms the fix" in Tracker.log[-1][2]
    assert len(history(store, "fix_confirmed")) == 1
    assert [e[0] for e in Tracker.log].count("create") == 1


def test_comments_are_mirrored_both_ways_without_echo(store, tmp_path):
    cfg = config(tmp_path, TICKETS)
    evaluate(store, cfg, tmp_path, "s1", {ZERO: ["L1"]})
    delivery.notify(store, cfg, None)
    with store.read() as conn:
        fid = conn.execute(text("SELECT id FROM findings")).scalar()
    comment(store, fid, "Porting the number out on Friday", "alice", audit_writer(store, "test"))
    delivery.notify(store, cfg, None)
    assert Tracker.log[-1][0] == "comment" and "Porting the number out on Friday" in Tracker.log[-1][2]
    Tracker.tickets["TEL-1"]["comments"].append(RemoteComment("10001", "Bob Ops", "Done on our side"))
    summary = delivery.notify(store, cfg, None)
    assert summary.comments == 1
    mirrored = history(store, "commented")[-1]
    assert mirrored.actor == "tracker:Bob Ops" and json.loads(mirrored.data)["comment"] == "Done on our side"
    delivery.notify(store, cfg, None)                        # not copied back, not read twice
    assert sum(1 for e in Tracker.log if e[0] == "comment") == 1
    assert len(history(store, "commented")) == 2


def test_a_group_ticket_per_policy_closes_when_its_last_finding_resolves(store, tmp_path):
    cfg = config(tmp_path, Rule(name="per-policy", when=("new",), targets=("tracker",), ticket_per="policy"))
    evaluate(store, cfg, tmp_path, "s1", {ZERO: ["L1", "L2"]})
    delivery.notify(store, cfg, None)
    assert [e[0] for e in Tracker.log] == ["create"]
    assert Tracker.tickets["TEL-1"]["subject"].endswith(": 2 findings")
    evaluate(store, cfg, tmp_path, "s2", {ZERO: ["L2"]})
    delivery.notify(store, cfg, None)
    assert Tracker.log[-1][0] == "comment"
    evaluate(store, cfg, tmp_path, "s3", {ZERO: []})
    delivery.notify(store, cfg, None)
    assert Tracker.log[-1][0] == "close"


def test_first_use_does_not_announce_the_past(store, tmp_path):
    plain = config(tmp_path)
    evaluate(store, plain, tmp_path, "s1", {ZERO: ["L1"]})   # before notifications were set up
    cfg = config(tmp_path, EACH)
    evaluate(store, cfg, tmp_path, "s2", {ZERO: ["L1", "L2"]})
    delivery.notify(store, cfg, None)
    assert [m.findings[0].resource_id for m in Inbox.sent] == ["L2"]


def test_the_owners_manager_is_a_recipient(store, tmp_path):
    rule = Rule(name="managers", when=("new",), targets=("inbox",), recipients=("manager",),
                fallback="telecom@example.com")
    cfg = config(tmp_path, rule)
    snap = snapshot(tmp_path, "s1", store.today())
    ev = evaluation(snap, [outcome(ZERO, ["L1", "L2"])])
    pq.write_table(pa.table({"id": ["L1", "L2"], "assigned_to": ["P1", "P9"], "cost_center": ["CC-1"] * 2,
                             "vendor": ["Acme"] * 2, "currency": ["USD"] * 2}), snap.path / "lines.parquet")
    pq.write_table(pa.table({"id": ["P1", "P9"], "email": ["liam@example.com", "boss@example.com"],
                             "manager_id": ["P9", None]}), snap.path / "people.parquet")
    snap.manifest["entities"]["people"] = {"file": "people.parquet", "rows": 2, "sources": [], "sha256": ""}
    record_evaluation(store, ev, policy_set(ZERO), provenance=PROVENANCE,
                      route=lambda conn, eid: route_events(conn, cfg.notifications, now=store.now_text(),
                                                           snapshot=snap, evaluation_id=eid))
    with store.read() as conn:
        got = conn.execute(text("SELECT f.resource_id, o.recipient FROM notify_outbox o "
                                "JOIN findings f ON f.id = o.finding_id ORDER BY 1")).all()
    # L1's owner reports to P9; P9 has no manager on file: the fallback.
    assert [tuple(r) for r in got] == [("L1", "boss@example.com"), ("L2", "telecom@example.com")]


def test_a_long_tracker_comment_is_cut_to_a_dialtone_comments_length(store, tmp_path):
    cfg = config(tmp_path, TICKETS)
    evaluate(store, cfg, tmp_path, "s1", {ZERO: ["L1"]})
    delivery.notify(store, cfg, None)
    Tracker.tickets["TEL-1"]["comments"].append(RemoteComment("10001", "Bob Ops", "x" * 50_000))
    delivery.notify(store, cfg, None)
    body = json.loads(history(store, "commented")[-1].data)["comment"]
    assert body.startswith("x" * delivery.COMMENT_LIMIT)
    assert body.endswith("(cut: the comment on TEL-1 is longer)")
    assert len(body) < delivery.COMMENT_LIMIT + 100
