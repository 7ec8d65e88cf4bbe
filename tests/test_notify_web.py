"""Notifications in the product: the outbox's read model and admin actions, the /notifications
pages, a finding's tickets and messages on its page, in the JSON API and the downloads, and
tickets in evidence packages.

The rows are written straight into the tables (as routing and delivery write them) in a store
built by tests/webkit.build: finding 1 of cost.orphan-lines (line L9), findings 2-4 of
cost.zero-usage-lines (a line with a hostile name, L1, L2)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import zipfile

import pytest
from sqlalchemy import func, insert, select

from dialtone.engine.notify_settings import NotifySettings, Rule
from dialtone.engine.store import outbox_actions, outbox_reads, workflow
from dialtone.engine.store.tables import (
    audit_log,
    notify_items,
    notify_outbox,
    notify_ticket_findings,
    notify_tickets,
)
from tests.webkit import HOSTILE, build, csrf, login

T0 = "2026-11-02T09:00:00.000000Z"
T1 = "2026-11-02T10:00:00.000000Z"


def add_message(store, *, target="mail", kind="new", status="pending", finding_id=None, recipient=None,
                attempts=0, last_error=None, sent_at=None, ticket_id=None, items=(), subject=None,
                created_at=T0) -> int:
    """One outbox row as routing writes it (``items``: a digest's findings)."""
    with store.write() as conn:
        n = conn.execute(select(func.count()).select_from(notify_outbox)).scalar()
        mid = conn.execute(insert(notify_outbox).values(
            created_at=created_at, rule="owners", target=target, kind=kind, recipient=recipient,
            dedupe_key=f"k{n}", finding_id=finding_id, ticket_id=ticket_id,
            payload=json.dumps({"subject": subject or f"{kind} message", "evidence": {"secret": "x"}}),
            status=status, attempts=attempts, not_before=created_at, last_error=last_error,
            sent_at=sent_at)).inserted_primary_key[0]
        if items:
            conn.execute(insert(notify_items), [{"message_id": mid, "finding_id": f, "kind": "new"}
                                                for f in items])
    return mid


def add_ticket(store, findings, *, target="jira", key="TEL-12", state="open", remote_status="To Do",
               claimed_at=None, closed_at=None, opened_at=T0) -> int:
    with store.write() as conn:
        tid = conn.execute(insert(notify_tickets).values(
            target=target, group_key=f"{target}:{key}:{findings}", rule="tickets", key=key,
            url=None if key is None else f"https://acme.atlassian.net/browse/{key}", remote_id="10001",
            state=state, remote_status=remote_status, opened_at=opened_at, claimed_at=claimed_at,
            closed_at=closed_at)).inserted_primary_key[0]
        conn.execute(insert(notify_ticket_findings), [{"ticket_id": tid, "finding_id": f} for f in findings])
    return tid


@pytest.fixture
def site(tmp_path):
    app, store, tokens = build(tmp_path)
    yield app, store, tokens
    store.close()


def client_for(app, role: str):
    client = app.test_client()
    login(client, role)
    return client


# --- the read model ------------------------------------------------------------------------


def test_a_findings_tickets_say_their_state_and_how_many_other_findings_they_cover(site):
    _, store, _ = site
    add_ticket(store, [1, 2, 3], key="TEL-12", state="claimed", claimed_at=T1, remote_status="Done")
    add_ticket(store, [1], target="servicenow", key="INC0010001", opened_at=T1)
    tickets = outbox_reads.tickets_for_finding(store, 1)
    assert [(t["target"], t["key"], t["state"], t["other_findings"]) for t in tickets] == [
        ("jira", "TEL-12", "claimed", 2), ("servicenow", "INC0010001", "open", 0)]
    assert tickets[0]["claimed_at"] == T1 and tickets[0]["remote_status"] == "Done"
    assert tickets[0]["url"] == "https://acme.atlassian.net/browse/TEL-12"
    assert outbox_reads.tickets_for_finding(store, 4) == []


def test_tickets_for_many_findings_in_one_read_leave_out_findings_without_any(site):
    _, store, _ = site
    add_ticket(store, [1, 2], key="TEL-1")
    add_ticket(store, [4], key="TEL-2", state="closed", closed_at=T1)
    found = outbox_reads.tickets_for_findings(store, [1, 2, 3, 4])
    expected = {1: ["TEL-1"], 2: ["TEL-1"], 4: ["TEL-2"]}
    assert {f: [t["key"] for t in ts] for f, ts in found.items()} == expected
    # Past the IN-list bound the same answer comes from reading every ticketed finding.
    many = outbox_reads.tickets_for_findings(store, list(range(1, 5000)))
    assert {f: [t["key"] for t in ts] for f, ts in many.items()} == expected
    assert outbox_reads.tickets_for_findings(store, []) == {}
    assert outbox_reads.ticket_summary(found[1] + found[4]) == "jira TEL-1 (open); jira TEL-2 (closed)"


def test_a_findings_messages_are_those_naming_it_and_the_digests_listing_it(site):
    _, store, _ = site
    direct = add_message(store, finding_id=1, recipient="ann@example.com", status="sent", sent_at=T1)
    digest = add_message(store, kind="digest", items=[1, 2], recipient="bob@example.com")
    add_message(store, finding_id=2)
    add_message(store, kind="digest", items=[3])
    msgs = outbox_reads.messages_for_finding(store, 1)
    assert [m["id"] for m in msgs] == [digest, direct]
    assert msgs[1]["recipient"] == "ann@example.com" and msgs[1]["status"] == "sent"
    assert [m["id"] for m in outbox_reads.messages_for_finding(store, 1, limit=1)] == [digest]


def test_outbox_counts_per_status_and_target(site):
    _, store, _ = site
    for status in ("pending", "pending", "sent", "dead"):
        add_message(store, status=status)
    add_message(store, target="jira", kind="ticket_open", status="dead")
    assert outbox_reads.outbox_counts(store) == {"pending": 2, "sent": 1, "dead": 2, "cancelled": 0}
    assert outbox_reads.target_counts(store) == {
        "jira": {"pending": 0, "sent": 0, "dead": 1, "cancelled": 0},
        "mail": {"pending": 2, "sent": 1, "dead": 1, "cancelled": 0}}


def test_the_outbox_pages_newest_first_by_keyset_with_filters_and_findings_counts(site):
    _, store, _ = site
    ids = [add_message(store, finding_id=1), add_message(store, kind="digest", items=[1, 2, 3]),
           add_message(store, target="jira", status="dead"), add_message(store, kind="run_failed")]
    page = outbox_reads.outbox_page(store, limit=2)
    assert [r["id"] for r in page] == [ids[3], ids[2]]
    rest = outbox_reads.outbox_page(store, after_id=page[-1]["id"], limit=2)
    assert [r["id"] for r in rest] == [ids[1], ids[0]]
    assert [r["findings"] for r in rest] == [3, 1]
    assert page[0]["findings"] == 0
    assert [r["id"] for r in outbox_reads.outbox_page(store, status="dead")] == [ids[2]]
    assert [r["id"] for r in outbox_reads.outbox_page(store, target="mail", status="pending")] == \
        [ids[3], ids[1], ids[0]]
    assert outbox_reads.outbox_targets(store) == ["jira", "mail"]


def test_a_message_lists_its_findings_bounded_and_its_subject_not_its_payload(site):
    _, store, _ = site
    mid = add_message(store, kind="digest", items=[1, 2, 3, 4], subject="4 findings for Ann")
    found = outbox_reads.outbox_message(store, mid, limit=2)
    assert found["subject"] == "4 findings for Ann" and "payload" not in found
    assert found["findings"] == 4
    assert [f["id"] for f in found["finding_list"]] == [1, 2]
    assert [f["policy_id"] for f in found["finding_list"]] == ["cost.orphan-lines", "cost.zero-usage-lines"]
    tid = add_ticket(store, [4], key="TEL-9")
    upkeep = add_message(store, target="jira", kind="ticket_comment", finding_id=4, ticket_id=tid)
    found = outbox_reads.outbox_message(store, upkeep)
    assert found["ticket"] == {"key": "TEL-9", "url": "https://acme.atlassian.net/browse/TEL-9",
                               "state": "open"}
    assert [f["id"] for f in found["finding_list"]] == [4] and found["findings"] == 1
    assert outbox_reads.outbox_message(store, 999) is None


# --- the actions ---------------------------------------------------------------------------


def audit_rows(store):
    with store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(audit_log).order_by(audit_log.c.id))]


def message_row(store, mid):
    with store.read() as conn:
        return dict(conn.execute(select(notify_outbox).where(notify_outbox.c.id == mid)).one()._mapping)


def test_retry_puts_a_dead_letter_back_with_no_attempts_due_now_and_audits_it(site):
    _, store, _ = site
    mid = add_message(store, status="dead", attempts=10, last_error="mail: 550 mailbox unavailable")
    store.clock.advance(hours=3)
    outbox_actions.retry(store, mid, "admin", workflow.audit_writer(store, "test"))
    row = message_row(store, mid)
    assert (row["status"], row["attempts"], row["not_before"]) == ("pending", 0, store.now_text())
    entry = audit_rows(store)[-1]
    assert (entry["actor"], entry["action"], entry["target"]) == ("admin", "notification_retried",
                                                                  f"notification:{mid}")
    assert json.loads(entry["data"])["from"] == "dead"


@pytest.mark.parametrize("status, action, refusal", [
    ("sent", "retry", "This message was sent already."),
    ("pending", "retry", "This message is waiting to be sent already: it needs no retry."),
    ("cancelled", "retry", "This message was cancelled; it is not sent again."),
    ("sent", "cancel", "This message was sent already."),
    ("cancelled", "cancel", "This message was cancelled already."),
])
def test_actions_refuse_messages_they_do_not_apply_to_in_the_users_words(site, status, action, refusal):
    _, store, _ = site
    mid = add_message(store, status=status)
    before = message_row(store, mid)
    with pytest.raises(outbox_actions.OutboxError, match=refusal):
        getattr(outbox_actions, action)(store, mid, "admin", workflow.audit_writer(store, "test"))
    assert message_row(store, mid) == before
    assert not [a for a in audit_rows(store) if a["action"].startswith("notification_")]


@pytest.mark.parametrize("status", ["pending", "dead"])
def test_cancel_withdraws_a_pending_message_or_a_dead_letter(site, status):
    _, store, _ = site
    mid = add_message(store, status=status)
    outbox_actions.cancel(store, mid, "admin", workflow.audit_writer(store, "test"))
    assert message_row(store, mid)["status"] == "cancelled"
    assert audit_rows(store)[-1]["action"] == "notification_cancelled"


def test_an_action_on_no_message_says_so(site):
    _, store, _ = site
    with pytest.raises(outbox_actions.OutboxError, match="There is no message 7."):
        outbox_actions.cancel(store, 7, "admin", workflow.audit_writer(store, "test"))


# --- the pages -----------------------------------------------------------------------------


def test_the_outbox_page_is_for_admins_and_officers_not_auditors(site):
    app, store, _ = site
    mid = add_message(store, status="dead", recipient="ann@example.com")
    for role in ("admin", "officer"):
        client = client_for(app, role)
        assert client.get("/notifications").status_code == 200
        assert client.get(f"/notifications/{mid}").status_code == 200
        assert 'href="/notifications"' in client.get("/").get_data(as_text=True)
    auditor = client_for(app, "auditor")
    assert auditor.get("/notifications").status_code == 403
    assert auditor.get(f"/notifications/{mid}").status_code == 403
    assert 'href="/notifications"' not in auditor.get("/").get_data(as_text=True)
    assert app.test_client().get("/notifications").headers["Location"].startswith("/login")


def test_the_outbox_page_shows_dead_letters_first_and_the_messages_escaped(site):
    app, store, _ = site
    add_message(store, status="sent", recipient="ann@example.com", sent_at=T1, finding_id=1)
    dead = add_message(store, status="dead", attempts=10, recipient=f"x{HOSTILE}@example.com",
                       last_error=f"notifications.targets.mail: send to smtp.example.com: 550 {HOSTILE}")
    add_message(store, kind="digest", items=[1, 2, 3], recipient="bob@example.com")
    html = client_for(app, "officer").get("/notifications").get_data(as_text=True)
    assert HOSTILE not in html and "&lt;script&gt;" in html
    cards = html[html.index('aria-label="Messages by status"'):]
    assert cards.index("dead letter") < cards.index("waiting to be sent") < cards.index("sent</a>")
    assert 'class="card alert"' in html
    assert f'href="/notifications/{dead}"' in html
    assert "550" in html and "ann@example.com" in html
    # Officers read; only admins act.
    assert "Retry" not in html
    admin_html = client_for(app, "admin").get("/notifications").get_data(as_text=True)
    assert f'/notifications/{dead}/retry' in admin_html


def test_the_outbox_filters_by_status_and_target_and_pages(site):
    app, store, _ = site
    ids = [add_message(store, target="mail" if i % 2 else "jira", status="sent") for i in range(60)]
    client = client_for(app, "officer")
    html = client.get("/notifications?target=jira").get_data(as_text=True)
    assert f'href="/notifications/{ids[0]}"' in html and f'href="/notifications/{ids[1]}"' not in html
    first = client.get("/notifications").get_data(as_text=True)
    assert f'href="/notifications/{ids[-1]}"' in first and f'href="/notifications/{ids[0]}"' not in first
    assert f"before={ids[10]}" in first
    older = client.get(f"/notifications?before={ids[10]}").get_data(as_text=True)
    assert f'href="/notifications/{ids[0]}"' in older and f'href="/notifications/{ids[10]}"' not in older
    none = client.get("/notifications?status=dead").get_data(as_text=True)
    assert "No message matches this filter." in none
    bad = client.get("/notifications?status=lost")
    assert bad.status_code == 400
    assert "is not one of: pending, sent, dead, cancelled" in bad.get_data(as_text=True)


def test_without_notifications_configured_the_page_says_how_to_turn_them_on(site):
    app, store, _ = site
    response = client_for(app, "admin").get("/notifications")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Notifications are not turned on." in html and "docs/notifications.md" in html
    config = app.extensions["dialtone.config"]
    app.extensions["dialtone.config"] = dataclasses.replace(config, notifications=NotifySettings(
        rules=(Rule(name="owners", when=("new",), targets=("mail",)),)))
    html = client_for(app, "admin").get("/notifications").get_data(as_text=True)
    assert "Notifications are not turned on." not in html and "No message yet." in html


def test_a_message_page_links_its_findings_and_shows_its_subject(site):
    app, store, _ = site
    mid = add_message(store, kind="digest", items=[1, 4], subject=f"2 findings {HOSTILE}",
                      recipient="ann@example.com")
    html = client_for(app, "officer").get(f"/notifications/{mid}").get_data(as_text=True)
    assert "2 findings &lt;script&gt;" in html
    assert 'href="/findings/1"' in html and 'href="/findings/4"' in html
    assert '"secret"' not in html
    assert client_for(app, "officer").get("/notifications/999").status_code == 404


def test_admins_retry_and_cancel_with_the_forms_token_officers_cannot(site):
    app, store, _ = site
    mid = add_message(store, status="dead", attempts=10, last_error="mail: refused")
    admin = client_for(app, "admin")
    page = admin.get(f"/notifications/{mid}").get_data(as_text=True)
    assert f'action="/notifications/{mid}/retry"' in page
    # Without the token (a forged cross-site form): refused, nothing changes.
    forged = admin.post(f"/notifications/{mid}/retry", data={})
    assert forged.status_code in (302, 400) and message_row(store, mid)["status"] == "dead"
    done = admin.post(f"/notifications/{mid}/retry", data={"csrf_token": csrf(page)})
    assert done.headers["Location"] == f"/notifications/{mid}"
    assert message_row(store, mid)["status"] == "pending"
    assert audit_rows(store)[-1]["origin"].startswith("web:")
    again = admin.post(f"/notifications/{mid}/retry", data={"csrf_token": csrf(page)})
    assert again.status_code == 409
    assert "This message is waiting to be sent already" in again.get_data(as_text=True)
    officer = client_for(app, "officer")
    token = csrf(officer.get(f"/notifications/{mid}").get_data(as_text=True))
    assert officer.post(f"/notifications/{mid}/cancel", data={"csrf_token": token}).status_code == 403
    assert message_row(store, mid)["status"] == "pending"
    assert admin.post(f"/notifications/{mid}/cancel", data={"csrf_token": csrf(page)}).status_code == 302
    assert message_row(store, mid)["status"] == "cancelled"
    assert admin.post("/notifications/999/cancel", data={"csrf_token": csrf(page)}).status_code == 404


# --- a finding's page ----------------------------------------------------------------------


def test_a_finding_page_shows_its_tickets_to_everyone_and_its_messages_to_officers(site):
    app, store, _ = site
    add_ticket(store, [1, 2], key="TEL-12", state="claimed", claimed_at=T1, remote_status="Done")
    add_message(store, finding_id=1, recipient="ann@example.com", status="dead", last_error="mail: 550")
    officer = client_for(app, "officer").get("/findings/1").get_data(as_text=True)
    assert "Tickets and notifications" in officer
    link = '<a href="https://acme.atlassian.net/browse/TEL-12" rel="noreferrer noopener">TEL-12</a>'
    assert link in officer
    assert ("Fix claimed in TEL-12 on 2026-11-02 10:00:00 UTC; the next evaluation confirms it or "
            "reopens the ticket.") in officer
    assert "jira says: Done" in officer and "also about 1 other finding." in officer
    assert "ann@example.com" in officer and "dead letter" in officer
    auditor = client_for(app, "auditor").get("/findings/1").get_data(as_text=True)
    assert "TEL-12" in auditor and "Fix claimed in TEL-12" in auditor
    assert "ann@example.com" not in auditor
    plain = client_for(app, "officer").get("/findings/4").get_data(as_text=True)
    assert "Tickets and notifications" not in plain


def test_a_ticket_address_that_is_not_a_web_address_is_not_linked(site):
    app, store, _ = site
    tid = add_ticket(store, [4], key="TEL-66")
    with store.write() as conn:
        conn.execute(notify_tickets.update().where(notify_tickets.c.id == tid)
                     .values(url="javascript:alert(1)"))
    html = client_for(app, "auditor").get("/findings/4").get_data(as_text=True)
    assert "TEL-66" in html and "javascript:" not in html


# --- the API and the downloads -------------------------------------------------------------


def api(app, token, path):
    return app.test_client().get(f"/api/v1{path}", headers={"Authorization": f"Bearer {token}"})


def test_the_findings_api_gives_each_findings_tickets(site):
    app, store, tokens = site
    add_ticket(store, [1], key="TEL-12")
    add_ticket(store, [1, 4], target="servicenow", key=None, state="open")
    detail = api(app, tokens["auditor"], "/findings/1").get_json()
    assert detail["tickets"] == [
        {"target": "jira", "key": "TEL-12", "url": "https://acme.atlassian.net/browse/TEL-12",
         "state": "open"},
        {"target": "servicenow", "key": None, "url": None, "state": "open"}]
    items = {r["id"]: r["tickets"] for r in api(app, tokens["officer"], "/findings").get_json()["items"]}
    assert [t["key"] for t in items[1]] == ["TEL-12", None] and items[2] == []
    assert [t["target"] for t in items[4]] == ["servicenow"]


def test_the_notifications_api_is_keyset_paged_for_officers_and_admins(site):
    app, store, tokens = site
    ids = [add_message(store, finding_id=1, recipient="ann@example.com") for _ in range(3)]
    first = api(app, tokens["officer"], "/notifications?limit=2").get_json()
    assert [m["id"] for m in first["items"]] == [ids[2], ids[1]] and first["next_after"] == ids[1]
    rest = api(app, tokens["admin"], f"/notifications?limit=2&after={first['next_after']}").get_json()
    assert [m["id"] for m in rest["items"]] == [ids[0]] and rest["next_after"] is None
    assert rest["items"][0]["findings"] == 1 and rest["items"][0]["recipient"] == "ann@example.com"
    assert api(app, tokens["officer"], "/notifications?status=dead").get_json()["items"] == []
    assert api(app, tokens["officer"], "/notifications?status=lost").status_code == 400
    assert api(app, tokens["auditor"], "/notifications").status_code == 403
    one = api(app, tokens["officer"], f"/notifications/{ids[0]}").get_json()
    assert one["finding_list"][0]["id"] == 1 and one["subject"] == "new message" and "payload" not in one
    assert api(app, tokens["auditor"], f"/notifications/{ids[0]}").status_code == 403
    missing = api(app, tokens["officer"], "/notifications/999")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"


def test_the_findings_downloads_name_each_findings_tickets(site):
    app, store, _ = site
    add_ticket(store, [1], key="TEL-12")
    add_ticket(store, [1], target="servicenow", key="INC001", state="claimed", claimed_at=T1)
    client = client_for(app, "auditor")
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(
        client.get("/findings?format=csv").get_data(as_text=True)))}
    assert rows["1"]["tickets"] == "jira TEL-12 (open); servicenow INC001 (fix claimed)"
    assert rows["2"]["tickets"] == ""
    data = {r["id"]: r for r in json.loads(client.get("/findings?format=json").get_data(as_text=True))}
    assert [t["key"] for t in data[1]["tickets"]] == ["TEL-12", "INC001"] and data[2]["tickets"] == []


# --- evidence ------------------------------------------------------------------------------


def test_an_evidence_package_carries_each_findings_tickets(site, tmp_path):
    from dialtone.engine.evidence.package import export_evidence
    from dialtone.engine.evidence.scope import Scope

    app, store, _ = site
    add_ticket(store, [1], key="TEL-12", state="closed", closed_at=T1, remote_status="Done")
    config = app.extensions["dialtone.config"]
    today = store.today()
    out = tmp_path / "package.zip"
    export_evidence(store, Scope(start=today, end=today), out, snapshots_dir=config.data_dir / "snapshots",
                    loaded_policies={}, data_dir=config.data_dir)
    with zipfile.ZipFile(out) as zf:
        findings_doc = json.loads(zf.read("findings.json"))
        index = zf.read("index.html").decode()
    by_id = {f["id"]: f for f in findings_doc}
    assert by_id[1]["tickets"] == [{"target": "jira", "key": "TEL-12",
                                    "url": "https://acme.atlassian.net/browse/TEL-12", "state": "closed",
                                    "remote_status": "Done", "opened_at": T0, "claimed_at": None,
                                    "closed_at": T1}]
    assert by_id[2]["tickets"] == []
    assert "<th>Tickets</th>" in index
    assert '<a href="https://acme.atlassian.net/browse/TEL-12">jira TEL-12</a> (closed' in index
