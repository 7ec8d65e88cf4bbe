"""The two-way ticket targets (notifiers/jira.py, notifiers/servicenow.py, notifiers/http.py)
against stateful fake trackers on the loopback interface (tests/ticket_servers.py)."""

from __future__ import annotations

import email.utils
import re
import socket
import time
from pathlib import Path

import pytest

from dialtone.engine.errors import ConfigError
from dialtone.engine.notifier_api import (
    DeliveryError,
    FindingRef,
    Message,
    Ticket,
    TicketTarget,
    check_target_settings,
    notifiers,
)
from dialtone.engine.yamlio import safe_load
from dialtone.notifiers.http import TrackerClient
from dialtone.notifiers.jira import JiraTarget, adf_document, adf_text
from dialtone.notifiers.servicenow import ServiceNowTarget

from .ticket_servers import FakeJira, FakeServiceNow

JIRA_TOKEN = "jira-token-s3cret"
SNOW_PASSWORD = "snow-pass-s3cret"


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture
def jira():
    server = FakeJira(token=JIRA_TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def snow():
    server = FakeServiceNow(password=SNOW_PASSWORD, token="snow-oauth-t0ken").start()
    yield server
    server.stop()


@pytest.fixture
def secrets(monkeypatch):
    monkeypatch.setenv("TEST_JIRA_TOKEN", JIRA_TOKEN)
    monkeypatch.setenv("TEST_SNOW_PASSWORD", SNOW_PASSWORD)
    monkeypatch.setenv("TEST_SNOW_TOKEN", "snow-oauth-t0ken")


def jira_target(server: FakeJira, waits: list[float] | None = None, **settings) -> JiraTarget:
    base = {"type": "jira", "url": server.url, "project": "TEL", "email": "bot@example.com",
            "token_env": "TEST_JIRA_TOKEN", "priority_map": {"critical": "Highest", "high": "High"}}
    base.update(settings)
    return JiraTarget("jira", base, Path("."), sleep=(waits if waits is not None else []).append)


def snow_target(server: FakeServiceNow, waits: list[float] | None = None, **settings) -> ServiceNowTarget:
    base = {"type": "servicenow", "instance_url": server.url, "username": "dialtone.integration",
            "password_env": "TEST_SNOW_PASSWORD", "assignment_group": "Telecom"}
    base.update(settings)
    base = {k: v for k, v in base.items() if v is not None}      # None: leave the setting out
    return ServiceNowTarget("snow", base, Path("."), sleep=(waits if waits is not None else []).append)


def finding(severity: str = "critical", n: int = 7) -> FindingRef:
    return FindingRef(id=n, policy_id="lines.unused", policy_title="Unused lines", severity=severity,
                      category="cost", resource_type="line", resource_id=f"+4420700000{n:02d}",
                      status="open", reason="no calls in 90 days", due_on="2026-12-31", savings=12.5,
                      currency="GBP", evidence={}, url=f"https://dialtone.example.com/findings/{n}",
                      event="new")


def message(subject: str = "Unused line +442070000007", severity: str = "critical") -> Message:
    text = ("A line has made no calls in 90 days.\nIt costs 12.50 GBP a month.\n\n"
            "Details: https://dialtone.example.com/runs/3 (the run)")
    return Message(id=1, kind="ticket_open", rule="tel", recipient=None, subject=subject, text=text,
                   html="", payload={}, findings=(finding(severity),))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- registry and settings ---------------------------------------------------------------------
@pytest.mark.parametrize("kind, cls", [("jira", JiraTarget), ("servicenow", ServiceNowTarget)])
def test_the_targets_register_as_ticket_targets_through_the_entry_points(kind, cls):
    assert notifiers.get(kind) is cls and issubclass(cls, TicketTarget) and cls.kind == "ticket"


def test_target_settings_are_checked_against_the_target_schema():
    ok = {"type": "jira", "url": "https://example.atlassian.net", "project": "TEL",
          "email": "bot@example.com", "token_env": "JIRA_TOKEN", "evidence": "masked",
          "done_categories": ["done"], "priority_map": {"critical": "Highest"}}
    assert check_target_settings("jira", ok, lambda path: 3, "dialtone.yaml") is JiraTarget
    with pytest.raises(ConfigError, match=r"dialtone.yaml:3: notifications.targets.jira.priority_map: "
                                          r"Additional properties .*'urgent'"):
        check_target_settings("jira", {**ok, "priority_map": {"urgent": "Highest"}}, lambda p: 3,
                              "dialtone.yaml")
    snow = {"type": "servicenow", "instance_url": "https://example.service-now.com", "username": "u",
            "password_env": "P", "closed_states": ["6", "7"]}
    assert check_target_settings("snow", snow, lambda p: 1, "d.yaml") is ServiceNowTarget
    with pytest.raises(ConfigError, match=r"targets.snow.close_state: 'Resolved' does not match"):
        check_target_settings("snow", {**snow, "close_state": "Resolved"}, lambda p: 1, "d.yaml")


def test_plain_http_is_refused_except_on_the_loopback_interface(secrets):
    with pytest.raises(ConfigError, match=r"notifications.targets.jira.url: 'http://jira.example.com' "
                                          "must be https"):
        JiraTarget("jira", {"url": "http://jira.example.com", "project": "TEL", "email": "e",
                            "token_env": "TEST_JIRA_TOKEN"}, Path("."))


def test_a_missing_secret_is_a_config_error_naming_the_setting(monkeypatch):
    monkeypatch.delenv("NO_SUCH_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"notifications.targets.jira.token_env: the environment "
                                          "variable NO_SUCH_TOKEN is not set"):
        JiraTarget("jira", {"url": "https://x.atlassian.net", "project": "TEL", "email": "e",
                            "token_env": "NO_SUCH_TOKEN"}, Path("."))
    with pytest.raises(ConfigError, match=r"notifications.targets.snow: set 'username'"):
        ServiceNowTarget("snow", {"instance_url": "https://x.service-now.com", "password_env": "X"},
                         Path("."))


# -- Jira: open, find, comment ----------------------------------------------------------------
def test_jira_create_then_find_finds_the_same_issue_after_a_crash(jira, secrets):
    target = jira_target(jira)
    assert target.find("t-12") is None
    ticket = target.create("t-12", message(subject="Unused line " + "x" * 300))
    assert ticket == Ticket(key="TEL-1", url=f"{jira.url}/browse/TEL-1", remote_id="10001")
    fields = jira.issues["TEL-1"]["fields"]
    assert fields["labels"] == ["dialtone", "dialtone-t-12"]
    assert fields["priority"] == {"name": "Highest"}
    assert fields["issuetype"] == {"name": "Task"}
    assert len(fields["summary"]) == 255
    # A new process (the first one crashed after the create) finds the issue instead of opening one.
    assert jira_target(jira).find("t-12") == ticket
    assert jira_target(jira).find("dialtone-t-12") == ticket        # given with its prefix, same label
    assert jira_target(jira).find("t-13") is None
    assert len(jira.issues) == 1


def test_jira_description_is_an_adf_document_with_link_marks_for_the_links():
    doc = adf_document(message().text, message().findings)
    assert doc["type"] == "doc" and doc["version"] == 1
    first, second, findings = doc["content"]
    assert first["content"] == [{"type": "text", "text": "A line has made no calls in 90 days."},
                                {"type": "hardBreak"},
                                {"type": "text", "text": "It costs 12.50 GBP a month."}]
    link = second["content"][1]
    assert link == {"type": "text", "text": "https://dialtone.example.com/runs/3",
                    "marks": [{"type": "link", "attrs": {"href": "https://dialtone.example.com/runs/3"}}]}
    item = findings["content"][0]["content"][0]["content"][0]
    assert findings["type"] == "bulletList"
    assert item["marks"][0]["attrs"]["href"] == "https://dialtone.example.com/findings/7"
    assert adf_text(doc).startswith("A line has made no calls in 90 days.\nIt costs 12.50 GBP a month.\n\n"
                                    "Details: https://dialtone.example.com/runs/3 (the run)")


def test_jira_find_pages_through_the_search_and_keeps_the_first_issue(jira, secrets):
    for n in range(3):
        jira.add_issue(["other"], summary=f"noise {n}")
    first = jira.add_issue(["dialtone-t-5"])
    jira.add_issue(["dialtone-t-5"], summary="a copy someone made")
    jira.add_issue(["dialtone-t-5"], summary="another copy")
    assert jira_target(jira).find("t-5").key == first
    searches = jira.requests("POST", "/rest/api/3/search/jql")
    assert len(searches) == 2        # three matches, pages of two: one nextPageToken followed


def test_jira_comment_is_adf_prefixed_and_by_the_bot(jira, secrets):
    target = jira_target(jira)
    ticket = target.create("t-1", message())
    target.comment(ticket, "The finding still stands after run 4.")
    (comment,) = jira.issues["TEL-1"]["comments"]
    assert comment["author"]["accountId"] == jira.bot["accountId"]
    assert adf_text(comment["body"]) == "[Dialtone] The finding still stands after run 4."


def test_jira_a_priority_jira_does_not_know_is_refused_with_jiras_own_words(jira, secrets):
    target = jira_target(jira, priority_map={"critical": "Urgent"})
    with pytest.raises(DeliveryError) as err:
        target.create("t-1", message())
    assert not err.value.retryable
    assert str(err.value) == (f"notifications.targets.jira: create ticket: POST {jira.url}/rest/api/3/issue: "
                              "HTTP 400 BAD REQUEST: priority: Priority name 'Urgent' is not valid")


# -- Jira: transitions -------------------------------------------------------------------------
def test_jira_close_and_reopen_go_through_the_workflow_transitions(jira, secrets):
    target = jira_target(jira)
    ticket = target.create("t-1", message())
    target.close_ticket(ticket, "Resolved: the line was ceased.")
    assert jira.issues["TEL-1"]["status"] == "Done"
    # "To Do" is no transition's name here: it is where "Reopen" leads.
    target.reopen_ticket(ticket, "Still firing after run 5: evidence attached.")
    assert jira.issues["TEL-1"]["status"] == "To Do"
    texts = [adf_text(c["body"]) for c in jira.issues["TEL-1"]["comments"]]
    assert texts == ["[Dialtone] Resolved: the line was ceased.",
                     "[Dialtone] Still firing after run 5: evidence attached."]
    posted = [body for _, _, _, body in jira.requests("POST", "/rest/api/3/issue/TEL-1/transitions")]
    assert posted == [{"transition": {"id": "31"}}, {"transition": {"id": "41"}}]


def test_jira_closing_a_ticket_already_done_only_comments(jira, secrets):
    target = jira_target(jira)
    ticket = target.create("t-1", message())
    jira.person_move("TEL-1", "Done")
    target.close_ticket(ticket, "Resolved.")     # a retry after the transition went through
    assert jira.issues["TEL-1"]["status"] == "Done"
    assert not jira.requests("GET", "/rest/api/3/issue/TEL-1/transitions")
    assert len(jira.issues["TEL-1"]["comments"]) == 1


def test_jira_a_missing_transition_is_a_clear_error_listing_the_available_ones(jira, secrets):
    target = jira_target(jira, close_transition="Resolve")
    ticket = target.create("t-1", message())
    with pytest.raises(DeliveryError) as err:
        target.close_ticket(ticket, "Resolved.")
    assert not err.value.retryable
    assert str(err.value) == (
        "notifications.targets.jira: close TEL-1: no transition 'Resolve' from status 'To Do'; "
        "available: 'Start progress' (to In Progress), 'Done' (to Done). "
        "Set notifications.targets.jira.close_transition to one of them.")
    assert jira.issues["TEL-1"]["status"] == "To Do" and not jira.issues["TEL-1"]["comments"]


# -- Jira: polling -----------------------------------------------------------------------------
def test_jira_poll_sees_closed_tickets_and_new_people_comments_once(jira, secrets):
    target = jira_target(jira)
    tickets = [target.create(f"t-{n}", message()) for n in range(1, 4)]     # three: two search pages
    target.comment(tickets[0], "Opened for run 3.")                          # our own: skipped
    jira.person_move("TEL-1", "Done")
    first = jira.person_comment("TEL-1", "Ceased the line today.")
    jira.person_comment("TEL-1", "[Dialtone] pasted from the bot")          # a bot-style text: skipped
    jira.bot_comment("TEL-1", "typed by hand as the bot")                   # our account: skipped
    second = jira.person_comment("TEL-1", "Order ref 4471.")
    seen = {rt.key: rt for rt in target.poll(tickets, {})}
    assert set(seen) == {"TEL-1", "TEL-2", "TEL-3"}
    assert (seen["TEL-1"].closed, seen["TEL-1"].status) == (True, "Done")
    assert (seen["TEL-2"].closed, seen["TEL-2"].status) == (False, "To Do")
    assert [(c.id, c.author, c.body) for c in seen["TEL-1"].comments] == [
        (first, "Mia Krystof", "Ceased the line today."), (second, "Mia Krystof", "Order ref 4471.")]
    # The comment pages are two long: five comments on TEL-1 were read in three requests.
    assert len(jira.requests("GET", "/rest/api/3/issue/TEL-1/comment")) == 3
    # With the cursor at the last comment mirrored, nothing comes back twice; a new one comes once.
    cursors = {"TEL-1": second}
    assert all(not rt.comments for rt in target.poll(tickets, cursors))
    third = jira.person_comment("TEL-1", "Confirmed by the carrier.")
    (again,) = [rt for rt in target.poll(tickets, cursors) if rt.comments]
    assert [c.id for c in again.comments] == [third]
    assert len(jira.requests("GET", "/rest/api/3/myself")) == 1            # asked once per target


def test_jira_poll_asks_for_at_most_fifty_keys_per_search(jira, secrets):
    target = jira_target(jira)
    tickets = [Ticket(key=jira.add_issue([f"dialtone-t-{n}"])) for n in range(51)]
    assert len(target.poll(tickets, {})) == 51
    searched = {body["jql"] for _, path, _, body in jira.requests("POST", "/rest/api/3/search/jql")}
    assert searched == {f"key in ({', '.join(f'TEL-{n}' for n in range(1, 51))})", "key in (TEL-51)"}


def test_jira_poll_skips_an_issue_deleted_on_the_tracker(jira, secrets):
    target = jira_target(jira)
    tickets = [target.create(f"t-{n}", message()) for n in range(1, 3)]
    del jira.issues["TEL-1"]          # Jira refuses a search naming a key that no longer exists
    assert [rt.key for rt in target.poll(tickets, {})] == ["TEL-2"]


def test_jira_done_categories_decide_what_counts_as_closed(jira, secrets):
    target = jira_target(jira, done_categories=["done", "indeterminate"])
    ticket = target.create("t-1", message())
    jira.person_move("TEL-1", "In Progress")
    (seen,) = target.poll([ticket], {})
    assert (seen.closed, seen.status) == (True, "In Progress")


# -- HTTP behaviour: throttling, outages, credentials ------------------------------------------
def test_jira_429_with_retry_after_waits_then_succeeds(jira, secrets):
    waits: list[float] = []
    target = jira_target(jira, waits)
    jira.fail(429, times=2, retry_after="7")
    ticket = target.create("t-1", message())         # 429 means "not done": safe to resend a POST
    assert ticket.key == "TEL-1" and len(jira.issues) == 1
    assert waits == [7.0, 7.0]


def test_retry_after_as_an_http_date_is_honoured_and_capped(jira, secrets):
    waits: list[float] = []
    target = jira_target(jira, waits)
    jira.fail(429, retry_after=email.utils.formatdate(time.time() + 30, usegmt=True))
    jira.fail(429, retry_after=email.utils.formatdate(time.time() + 3600, usegmt=True))
    assert target.find("t-1") is None
    assert 25 <= waits[0] <= 31 and waits[1] == 120


def test_a_tracker_down_longer_than_the_retries_is_a_retryable_error(jira, secrets):
    waits: list[float] = []
    target = jira_target(jira, waits)
    jira.fail(503, times=10, retry_after="2")
    with pytest.raises(DeliveryError) as err:
        target.find("t-1")
    assert err.value.retryable and err.value.retry_after == 2
    assert str(err.value) == (f"notifications.targets.jira: find ticket dialtone-t-1: POST "
                              f"{jira.url}/rest/api/3/search/jql: HTTP 503 SERVICE UNAVAILABLE "
                              "(after 5 attempts)")
    assert waits == [2.0] * 4


def test_backoff_doubles_without_retry_after(jira, secrets):
    waits: list[float] = []
    jira.fail(503, times=3)
    assert jira_target(jira, waits).find("t-1") is None
    assert waits == [1.0, 2.0, 4.0]


def test_a_create_that_may_have_gone_through_is_not_resent(jira, secrets):
    # A 502 from a gateway: Jira may have created the issue. Resending could open a second one;
    # the error is retryable, and the next attempt starts with find().
    waits: list[float] = []
    jira.fail(502)
    with pytest.raises(DeliveryError) as err:
        jira_target(jira, waits).create("t-1", message())
    assert err.value.retryable and waits == []
    assert len(jira.requests("POST", "/rest/api/3/issue")) == 1


def test_refused_credentials_are_not_retryable_and_never_show_the_secret(jira, monkeypatch):
    monkeypatch.setenv("TEST_JIRA_TOKEN", "wrong-token-value")
    with pytest.raises(DeliveryError) as err:
        jira_target(jira).create("t-1", message())
    assert not err.value.retryable
    assert str(err.value) == (f"notifications.targets.jira: create ticket: POST {jira.url}/rest/api/3/issue: "
                              "HTTP 401 UNAUTHORIZED: Client must be authenticated to access this resource.")
    assert "wrong-token-value" not in str(err.value) and JIRA_TOKEN not in str(err.value)


def test_a_read_timeout_is_retried_for_a_read_but_never_resent_for_a_write():
    # A listening socket that never answers: the request goes out, no response comes back.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        waits: list[float] = []
        client = TrackerClient(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.2, max_retries=2,
                               where="notifications.targets.snow", auth=("u", "p"), sleep=waits.append)
        with pytest.raises(DeliveryError) as err:
            client.get("/api/now/table/incident", op="poll tickets")
        assert err.value.retryable and waits == [1.0, 2.0]
        assert str(err.value).endswith("/api/now/table/incident: no answer within 0.2 s (after 3 attempts)")
        waits.clear()
        with pytest.raises(DeliveryError) as err:
            client.post("/api/now/table/incident", {}, op="create ticket")
        # The tracker may have created the record: no resend; the next attempt looks first.
        assert err.value.retryable and waits == []


def test_a_tracker_echoing_a_credential_does_not_get_it_into_the_message(httpserver):
    httpserver.expect_request("/api/now/table/incident").respond_with_json(
        {"error": {"message": "Bad password 'hunter2-s3cret' for user u", "detail": None},
         "status": "failure"}, status=401)
    client = TrackerClient(httpserver.url_for("/"), where="notifications.targets.snow",
                           auth=("u", "hunter2-s3cret"), secrets=("hunter2-s3cret",))
    with pytest.raises(DeliveryError) as err:
        client.get("/api/now/table/incident", op="find ticket t-1")
    assert "hunter2" not in str(err.value) and "Bad password '***' for user u" in str(err.value)


def test_a_refused_connection_is_retried_then_retryable(secrets):
    waits: list[float] = []
    port = closed_port()
    client = TrackerClient(f"http://127.0.0.1:{port}", where="notifications.targets.jira",
                           auth=("bot", "x"), sleep=waits.append, max_retries=2)
    with pytest.raises(DeliveryError) as err:
        client.post("/rest/api/3/issue", {}, op="create ticket")
    assert err.value.retryable and waits == [1.0, 2.0]
    assert str(err.value) == (f"notifications.targets.jira: create ticket: POST http://127.0.0.1:{port}"
                              "/rest/api/3/issue: connection refused (after 3 attempts)")


def test_messages_never_carry_the_query_string(snow, secrets):
    with pytest.raises(DeliveryError) as err:
        snow_target(snow).client.get("/api/now/table/no_such_table",
                                     {"sysparm_query": "secret=1"}, op="read")
    assert "sysparm_query" not in str(err.value) and "secret=1" not in str(err.value)
    assert f"GET {snow.url}/api/now/table/no_such_table: HTTP 400" in str(err.value)


# -- ServiceNow --------------------------------------------------------------------------------
def test_servicenow_create_then_find_after_a_crash(snow, secrets):
    target = snow_target(snow)
    assert target.find("t-12") is None
    ticket = target.create("t-12", message(subject="Unused line " + "y" * 300))
    row = snow.by_number("INC0010001")
    assert ticket == Ticket(key="INC0010001", remote_id=row["sys_id"],
                            url=f"{snow.url}/nav_to.do?uri=incident.do%3Fsys_id%3D{row['sys_id']}")
    assert (row["correlation_id"], row["correlation_display"]) == ("t-12", "Dialtone")
    assert (row["urgency"], row["impact"], row["assignment_group"]) == ("1", "1", "Telecom")
    assert len(row["short_description"]) == 160 and row["description"].startswith("A line has made")
    assert snow_target(snow).find("t-12") == ticket
    assert len(snow.incidents) == 1


@pytest.mark.parametrize("severity, level",
                         [("critical", "1"), ("high", "2"), ("medium", "3"), ("info", "3")])
def test_servicenow_urgency_and_impact_follow_the_severity(snow, secrets, severity, level):
    snow_target(snow).create("t-1", message(severity=severity))
    row = snow.by_number("INC0010001")
    assert (row["urgency"], row["impact"]) == (level, level)


def test_servicenow_comment_close_and_reopen(snow, secrets):
    target = snow_target(snow)
    ticket = target.create("t-1", message())
    target.comment(ticket, "Still open after run 4.")
    target.close_ticket(ticket, "The line was ceased.")
    row = snow.by_number("INC0010001")
    assert (row["state"], row["close_code"]) == ("6", "Solved (Permanently)")
    assert row["close_notes"] == "[Dialtone] The line was ceased."
    target.reopen_ticket(ticket, "Still firing after run 5.")
    assert snow.by_number("INC0010001")["state"] == "2"
    assert [(j["element"], j["value"], j["sys_created_by"]) for j in snow.journal] == [
        ("comments", "[Dialtone] Still open after run 4.", "dialtone.integration"),
        ("comments", "[Dialtone] The line was ceased.", "dialtone.integration"),
        ("comments", "[Dialtone] Still firing after run 5.", "dialtone.integration")]


def test_servicenow_a_closed_incident_cannot_be_reopened_and_says_why(snow, secrets):
    target = snow_target(snow)
    ticket = target.create("t-1", message())
    snow.person_set_state("INC0010001", "7")
    with pytest.raises(DeliveryError) as err:
        target.reopen_ticket(ticket, "Still firing.")
    assert not err.value.retryable
    assert str(err.value) == (f"notifications.targets.snow: reopen INC0010001: PATCH {snow.url}/api/now/"
                              f"table/incident/{ticket.remote_id}: HTTP 403 FORBIDDEN: Operation Failed; "
                              "ACL Exception Update Failed due to security constraints")


def test_servicenow_ticket_without_sys_id_is_looked_up_by_number(snow, secrets):
    target = snow_target(snow)
    ticket = target.create("t-1", message())
    target.comment(Ticket(key=ticket.key), "Looked up.")
    assert snow.journal[-1]["value"] == "[Dialtone] Looked up."


def test_servicenow_poll_sees_state_and_people_comments_once(snow, secrets):
    target = snow_target(snow)
    tickets = [target.create(f"t-{n}", message()) for n in range(1, 4)]     # three: two pages of rows
    target.comment(tickets[0], "Opened.")                                    # own: skipped
    snow.person_set_state("INC0010001", "6")
    a = snow.person_comment("INC0010001", "Ceased with the carrier.")
    snow.person_comment("INC0010001", "from the bot account", user="dialtone.integration")   # own user
    b = snow.person_comment("INC0010001", "Ref CHG0042.")
    seen = {rt.key: rt for rt in target.poll(tickets, {})}
    assert (seen["INC0010001"].closed, seen["INC0010001"].status) == (True, "Resolved")
    assert (seen["INC0010002"].closed, seen["INC0010002"].status) == (False, "New")
    got = seen["INC0010001"].comments
    assert [(c.body, c.author) for c in got] == [("Ceased with the carrier.", "beth.anglin"),
                                                 ("Ref CHG0042.", "beth.anglin")]
    assert [c.id.split("|")[1] for c in got] == [a, b]
    assert len(snow.requests("GET", "/api/now/table/incident")) == 2        # Link rel="next" followed
    cursors = {"INC0010001": got[-1].id}
    assert all(not rt.comments for rt in target.poll(tickets, cursors))
    snow.person_comment("INC0010001", "One more thing.")
    (again,) = [rt for rt in target.poll(tickets, cursors) if rt.comments]
    assert [c.body for c in again.comments] == ["One more thing."]


def test_servicenow_comments_written_in_the_same_second_are_told_apart(snow, secrets):
    target = snow_target(snow)
    ticket = target.create("t-1", message())
    snow.step = 0
    snow.person_comment("INC0010001", "one")
    snow.person_comment("INC0010001", "two")
    (seen,) = target.poll([ticket], {})
    assert [c.body for c in seen.comments] == ["one", "two"]
    (again,) = target.poll([ticket], {ticket.key: seen.comments[-1].id})
    assert again.comments == ()


def test_servicenow_oauth_token_instead_of_a_password(snow, secrets):
    target = snow_target(snow, username=None, password_env=None, token_env="TEST_SNOW_TOKEN")
    ticket = target.create("t-1", message())
    assert snow.by_number(ticket.key)["sys_created_by"] == "oauth.integration"


def test_servicenow_refused_credentials_name_the_target_and_hide_the_password(snow, monkeypatch):
    monkeypatch.setenv("TEST_SNOW_PASSWORD", "not-the-password")
    with pytest.raises(DeliveryError) as err:
        snow_target(snow).find("t-1")
    assert not err.value.retryable
    assert str(err.value) == (f"notifications.targets.snow: find ticket t-1: GET {snow.url}/api/now/table/"
                              "incident: HTTP 401 UNAUTHORIZED: User Not Authenticated; Required to provide "
                              "Auth information")
    assert "not-the-password" not in str(err.value)


def test_servicenow_429_then_success(snow, secrets):
    waits: list[float] = []
    snow.fail(429, times=1, retry_after="3")
    ticket = snow_target(snow, waits).create("t-1", message())
    assert ticket.key == "INC0010001" and waits == [3.0] and len(snow.incidents) == 1


def test_servicenow_down_is_retryable(snow, secrets):
    waits: list[float] = []
    snow.fail(503, times=5)
    with pytest.raises(DeliveryError) as err:
        snow_target(snow, waits).poll([Ticket(key="INC0010001", remote_id="0" * 32)], {})
    assert err.value.retryable and waits == [1.0, 2.0, 4.0, 8.0]
    assert "notifications.targets.snow: poll tickets: GET " in str(err.value)


# -- the documentation -------------------------------------------------------------------------
DOC = Path(__file__).resolve().parents[1] / "docs" / "notifications.md"


def test_the_documented_examples_are_valid_settings():
    blocks = [safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)]
    targets = [(name, s) for b in blocks if "targets" in (b.get("notifications") or {})
               for name, s in b["notifications"]["targets"].items()]
    trackers = [s for _, s in targets if s["type"] in ("jira", "servicenow")]
    assert {s["type"] for s in trackers} == {"jira", "servicenow"} and len(trackers) >= 3
    for name, settings in targets:
        check_target_settings(name, settings, lambda path: None, "docs/notifications.md")


@pytest.mark.parametrize("cls", [JiraTarget, ServiceNowTarget])
def test_every_setting_is_documented(cls):
    text = DOC.read_text(encoding="utf-8")
    for key in cls.settings_schema["properties"]:
        assert f"| `{key}` |" in text, key


def test_a_malformed_cursor_is_refused_before_it_reaches_a_query(jira, snow, secrets):
    jt, st = jira_target(jira), snow_target(snow)
    with pytest.raises(ValueError, match="is not a Jira comment id"):
        jt.poll([jt.create("t-1", message())], {"TEL-1": "10100^x"})
    ticket = st.create("t-1", message())
    with pytest.raises(ValueError, match=re.escape("is not '<sys_created_on>|<sys_id>'")):
        st.poll([ticket], {ticket.key: "2026-12-06 05:00:00^ORDERBYvalue|" + "0" * 32})


def test_jira_poll_follows_an_issue_moved_to_another_project_by_its_id(jira, secrets):
    target = jira_target(jira)
    ticket = target.create("t-1", message())
    moved = jira.issues.pop("TEL-1")
    jira.issues["OPS-7"] = {**moved, "key": "OPS-7"}
    jira.aliases["TEL-1"] = "OPS-7"            # Jira still answers to the old key
    jira.person_move("OPS-7", "Done")
    (seen,) = target.poll([ticket], {})
    assert (seen.key, seen.closed, seen.status) == ("TEL-1", True, "Done")


def test_jira_a_long_text_is_cut_to_what_jira_takes(jira, secrets):
    long = Message(id=1, kind="ticket_open", rule=None, recipient=None, subject="s", text="x" * 40_000,
                   html="", payload={}, findings=())
    jira_target(jira).create("t-1", long)
    assert len(adf_text(jira.issues["TEL-1"]["fields"]["description"])) == 30_000
