"""People and forms (issue 17): findings are assigned to accounts only, refused forms keep what
was typed and say why in the user's words, exception limits show up front, a form sent after the
session ended comes back after sign-in, and findings, evaluations and exceptions link each other."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from dialtone.engine.store import queries, workflow
from dialtone.engine.store.accounts import add_user, set_disabled
from dialtone.engine.store.workflow import WorkflowError
from tests.webkit import PASSWORD, build, csrf, login


@pytest.fixture
def web(tmp_path):
    app, store, tokens = build(tmp_path)
    yield {"app": app, "store": store, "tokens": tokens}
    store.close()


def signed_in(web, username: str):
    client = web["app"].test_client()
    assert login(client, username).status_code == 302
    return client


def post_action(client, data: dict, finding: int = 1):
    token = csrf(client.get(f"/findings/{finding}").get_data(as_text=True))
    return client.post(f"/findings/{finding}/action", data={"csrf_token": token, **data})


def flashes(html: str) -> list[str]:
    box = re.search(r'<div class="flash" role="status">(.*?)</div>', html, re.S)
    return re.findall(r"<p>(.*?)</p>", box.group(1)) if box else []


# -- 1. Assignment: real users with the right role ----------------------------------------------
def test_the_assign_picker_offers_the_officers_and_admins_with_yourself_chosen(web):
    html = signed_in(web, "officer").get("/findings/1").get_data(as_text=True)
    picker = html[html.index('<select id="assignee"'):html.index("</select>", html.index('id="assignee"'))]
    assert re.findall(r'<option value="([^"]+)"', picker) == ["admin", "officer", "officer2"]
    assert '<option value="officer" selected>officer (you)</option>' in picker
    assert "auditor" not in picker


def test_assigning_to_a_name_nobody_has_is_refused_in_plain_words(web):
    officer = signed_in(web, "officer")
    refused = post_action(officer, {"action": "assign", "assignee": "nobody-such-user"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert ("There is no officer or admin called &#39;nobody-such-user&#39;. It can be assigned to "
            "admin, officer, officer2.") in flashes(html)
    assert queries.finding_detail(web["store"], 1)["assignee"] is None
    done = post_action(officer, {"action": "assign", "assignee": "officer2"})
    assert done.status_code == 302
    assert flashes(officer.get("/findings/1").get_data(as_text=True)) == ["Assigned to officer2."]


def test_the_engine_checks_every_assignment_whoever_calls_it(web):
    store, audit = web["store"], workflow.audit_writer(web["store"], "test")
    with pytest.raises(WorkflowError, match="Did you mean officer2"):
        workflow.assign(store, 1, "oficer2", "officer", audit)
    with pytest.raises(WorkflowError, match="auditor is an auditor and does not work findings"):
        workflow.assign(store, 1, "auditor", "officer", audit)
    set_disabled(web["store"], "officer2")
    with pytest.raises(WorkflowError, match="officer2's account is disabled"):
        workflow.assign(store, 1, "officer2", "officer", audit)
    # The account's own spelling is kept when a name differs only in case.
    assert workflow.assign(store, 1, "ADMIN", "officer", audit) == "admin"
    assert queries.finding_detail(store, 1)["assignee"] == "admin"


def test_the_api_refuses_an_unknown_assignee(web):
    token = web["tokens"]["officer"]
    client = web["app"].test_client()
    response = client.post("/api/v1/findings/1/assignment", json={"assignee": "nobody-such-user"},
                           headers={"Authorization": f"Bearer {token}"})
    # Well formed, but no account works findings under that name now: a conflict with the
    # accounts as they are, in the API's one error shape.
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "not_assignable" and "no officer or admin called" in error["message"]


def test_a_workspace_without_accounts_takes_the_name_as_given(tmp_path):
    from dialtone.engine.store.sync import record_evaluation
    from tests.storekit import PROVENANCE, Clock, evaluation, make_store, outcome, policy_set, snapshot
    from tests.webkit import ZERO

    store = make_store(f"sqlite:///{tmp_path / 'store.db'}", Clock(dt.datetime(2026, 11, 2, tzinfo=dt.UTC)))
    record_evaluation(store, evaluation(snapshot(tmp_path, "S1", store.today()), [outcome(ZERO, ["L1"])]),
                      policy_set(ZERO), provenance=PROVENANCE)
    audit = workflow.audit_writer(store, "cli:test")
    assert workflow.assign(store, 1, "bob", "alice", audit) == "bob"     # nobody to check against
    add_user(store, "carol", "officer", PASSWORD)                        # the first account: checked
    with pytest.raises(WorkflowError, match="no officer or admin called 'bob'"):
        workflow.assign(store, 1, "bob", "alice", audit)
    store.close()


# -- 3. Forms keep what was typed; limits up front; plain words ----------------------------------
def test_the_exception_form_shows_its_limit_and_keeps_what_was_typed_when_refused(web):
    officer = signed_in(web, "officer")
    html = officer.get("/findings/1").get_data(as_text=True)
    severity = queries.finding_detail(web["store"], 1)["severity"]
    days = web["store"].exception_max_days[severity]
    today = web["store"].today()
    latest = (today + dt.timedelta(days=days)).isoformat()
    assert f'min="{today.isoformat()}" max="{latest}"' in html
    assert f"up to {latest} for a {severity} finding" in html
    too_far = (today + dt.timedelta(days=days + 1)).isoformat()
    refused = post_action(officer, {"action": "request_exception", "text": "alarm panel, kept",
                                    "expires_on": too_far, "ticket": "CHG-42"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    message = " ".join(flashes(html))
    assert f"at most {days} days, until {latest}" in message
    assert "expires_on" not in message and "max_days" not in message and "--" not in message
    assert ">alarm panel, kept</textarea>" in html
    assert f'value="{too_far}"' in html and 'value="CHG-42"' in html
    past = post_action(officer, {"action": "request_exception", "text": "x", "expires_on": "2020-01-01"})
    assert "The expiry date 2020-01-01 has passed" in " ".join(flashes(past.get_data(as_text=True)))


def test_reopening_an_open_finding_is_refused_in_the_users_words_and_keeps_the_note(web):
    officer = signed_in(web, "officer")
    refused = post_action(officer, {"action": "reopen", "text": "seen again"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert flashes(html) == ["This finding is open already; only a resolved, false-positive or "
                             "not-applicable finding can be reopened."]
    assert ">seen again</textarea>" in html and '<option value="reopen" selected>' in html


def test_flash_messages_say_what_happened(web):
    officer = signed_in(web, "officer")
    post_action(officer, {"action": "comment", "text": "calling the carrier"})
    assert flashes(officer.get("/findings/1").get_data(as_text=True)) == ["Comment added."]
    post_action(officer, {"action": "false_positive", "text": "a test line"})
    assert flashes(officer.get("/findings/1").get_data(as_text=True)) == ["Closed as a false positive."]


def test_a_refused_decision_keeps_its_note_and_a_decision_says_what_it_did(web):
    officer, other, admin = signed_in(web, "officer"), signed_in(web, "officer2"), signed_in(web, "admin")
    until = (web["store"].today() + dt.timedelta(days=5)).isoformat()
    post_action(officer, {"action": "request_exception", "text": "panel", "expires_on": until})
    token = csrf(officer.get("/exceptions").get_data(as_text=True))
    own = officer.post("/exceptions/1/decide", data={"csrf_token": token, "decision": "approve",
                                                      "note": "fine by me"})
    html = own.get_data(as_text=True)
    assert own.status_code == 400 and "cannot approve it: another officer must." in html
    admin_token = csrf(admin.get("/exceptions/1").get_data(as_text=True))   # the admin's page is open...
    token = csrf(other.get("/exceptions").get_data(as_text=True))
    other.post("/exceptions/1/decide", data={"csrf_token": token, "decision": "approve", "view": "requested"})
    assert "Exception 1 approved: it applies to the findings it covers." in \
        flashes(other.get("/exceptions").get_data(as_text=True))
    late = admin.post("/exceptions/1/decide", data={"csrf_token": admin_token, "decision": "approve",
                                                    "note": "fine by me", "back": "detail"})
    html = late.get_data(as_text=True)                                     # ...and decides too late
    assert late.status_code == 400 and "Exception 1 is approved already" in html
    assert 'value="fine by me"' in html and "<h1>Exception 1: approved</h1>" in html


# -- 4. Session expiry keeps the draft ---------------------------------------------------------
def test_a_form_sent_after_the_session_ended_comes_back_after_sign_in(web):
    officer = signed_in(web, "officer")
    token = csrf(officer.get("/findings/1").get_data(as_text=True))
    from dialtone.engine.store.accounts import set_password

    set_password(web["store"], "officer", PASSWORD)      # ends every session of the account
    sent = officer.post("/findings/1/action", headers={"Origin": "http://localhost"},
                        data={"csrf_token": token, "action": "comment", "text": "my long comment"})
    assert sent.status_code == 302 and sent.headers["Location"] == "/login?next=/findings/1"
    page = officer.get("/login?next=/findings/1").get_data(as_text=True)
    assert "what you typed is kept" in page
    signed = officer.post("/login?next=/findings/1", data={"username": "officer", "password": PASSWORD,
                                                           "csrf_token": csrf(page)})
    assert signed.headers["Location"] == "/findings/1"
    html = officer.get("/findings/1").get_data(as_text=True)
    assert ">my long comment</textarea>" in html
    assert "The form had expired; what you typed is kept below" in html
    # Read once: the next view is a clean form, and nothing was recorded meanwhile.
    assert ">my long comment</textarea>" not in officer.get("/findings/1").get_data(as_text=True)
    assert [e["kind"] for e in queries.finding_detail(web["store"], 1)["history"]] == ["opened"]


def test_a_draft_is_given_back_only_to_the_account_that_typed_it(web):
    officer = signed_in(web, "officer")
    token = csrf(officer.get("/findings/1").get_data(as_text=True))
    from dialtone.engine.store.accounts import set_password

    set_password(web["store"], "officer", PASSWORD)      # the officer's session ends...
    sent = officer.post("/findings/1/action", headers={"Origin": "http://localhost"},
                        data={"csrf_token": token, "action": "comment", "text": "the officer's words"})
    assert sent.headers["Location"] == "/login?next=/findings/1"
    page = officer.get("/login?next=/findings/1").get_data(as_text=True)   # ...someone else signs in
    officer.post("/login?next=/findings/1", data={"username": "officer2", "password": PASSWORD,
                                                  "csrf_token": csrf(page)})
    html = officer.get("/findings/1").get_data(as_text=True)
    assert "officer2 (officer)" in html and "the officer&#39;s words" not in html


def test_a_stale_token_keeps_the_draft_but_a_cross_site_post_does_not(web):
    officer = signed_in(web, "officer")
    kept = officer.post("/findings/1/action", headers={"Origin": "http://localhost"},
                        data={"csrf_token": "stale", "action": "reopen", "text": "typed before"})
    assert kept.status_code == 302 and kept.headers["Location"] == "/findings/1"
    html = officer.get("/findings/1").get_data(as_text=True)
    assert ">typed before</textarea>" in html and '<option value="reopen" selected>' in html
    forged = officer.post("/findings/1/action", headers={"Origin": "http://evil.example"},
                          data={"action": "comment", "text": "forged"})
    html = forged.get_data(as_text=True)
    assert forged.status_code == 400 and "security token" in html and "forged" not in html
    assert ">forged</textarea>" not in officer.get("/findings/1").get_data(as_text=True)


# -- 5. Links ------------------------------------------------------------------------------------
def test_a_finding_links_to_the_evaluations_that_saw_it(web):
    html = signed_in(web, "auditor").get("/findings/1").get_data(as_text=True)
    assert '<a href="/evaluations/1">evaluation 1</a>' in html


def test_a_requested_exception_shows_the_findings_it_would_cover(web):
    officer, other = signed_in(web, "officer"), signed_in(web, "officer2")
    until = (web["store"].today() + dt.timedelta(days=5)).isoformat()
    post_action(officer, {"action": "request_exception", "text": "panel", "expires_on": until})
    listing = other.get("/exceptions").get_data(as_text=True)
    assert '<a href="/exceptions/1">would cover 1</a>' in listing
    detail = other.get("/exceptions/1").get_data(as_text=True)
    assert "Findings it would cover" in detail and '<a href="/findings/1">1</a>' in detail
    assert "approving it would except 1 finding awaiting work" in detail
    assert "<td>found</td>" in detail and "days: 100" in detail   # its reason and evidence
    for role in ("admin", "auditor"):
        assert signed_in(web, role).get("/exceptions/1").status_code == 200
    assert web["app"].test_client().get("/exceptions/1").status_code == 302
    assert other.get("/exceptions/99").status_code == 404


# -- 6. Values for people ------------------------------------------------------------------------
def test_the_finding_page_shows_values_for_people_and_hashes_behind_verify(web):
    html = signed_in(web, "officer").get("/findings/1").get_data(as_text=True)
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d+", html)            # no microseconds
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC", html)
    verify = html[html.index('<details class="verify">'):html.index("</details>")]
    history = html[html.index('<ol class="timeline">'):]
    detail = queries.finding_detail(web["store"], 1)
    assert detail["history"][0]["hash"] in verify and detail["history"][0]["hash"][:12] not in history
    assert "['" not in html and "{'" not in html


def test_what_an_exception_would_cover_counts_listed_resources_and_patterns_once(web):
    from dialtone.engine.store import exceptions as exc_mod
    from dialtone.engine.store import reads
    from tests.webkit import ZERO

    store, audit = web["store"], workflow.audit_writer(web["store"], "test")
    until = store.today() + dt.timedelta(days=5)
    both = exc_mod.request(store, exc_mod.ExceptionSpec(
        policy_id=ZERO, justification="panels", expires_on=until, requested_by="officer",
        resources=("L1",), resource_patterns=("L*",)), audit=audit)
    listed = exc_mod.request(store, exc_mod.ExceptionSpec(
        policy_id=ZERO, justification="one", expires_on=until, requested_by="officer",
        resources=("L2", "L404")), audit=audit)
    assert reads.exceptions_would_cover(store, [both, listed]) == {both: 2, listed: 1}
    detail = reads.exception_findings(store, both)
    assert sorted(f["resource_id"] for f in detail["findings"]) == ["L1", "L2"]
    assert detail["total"] == 2 and detail["would_cover"] == 2
