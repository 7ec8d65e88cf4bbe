"""The findings list as an officer triages it (issue 17, "Triage"), on the seed-7 demo through
Flask's test client: sorting with paging, the count, the new/mine/opened_in views, search,
invalid values, the CSV and JSON downloads, and the bulk actions recorded per finding."""

from __future__ import annotations

import csv
import html as htmllib
import io
import json
import re
from types import SimpleNamespace

import pytest

from dialtone.engine.store import queries
from tests.webkit import csrf, demo_workspace, login, opened_by_first_evaluation


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from dialtone.web.app import create_app

    config, store = demo_workspace(tmp_path_factory, "triage-demo")
    app = create_app(config, store=store, key="triage-test-secret", secure_cookies=False)
    yield SimpleNamespace(app=app, store=store, clients={})
    store.close()


def client(demo, user: str = "officer"):
    """One signed-in client per user for the module (signing in is rate-limited)."""
    if user not in demo.clients:
        c = demo.app.test_client()
        login(c, user)
        demo.clients[user] = c
    return demo.clients[user]


def ids_on(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<a href="/findings/(\d+)" id="link-', html)]


def all_ids(c, query: str) -> list[int]:
    """Every finding id of a filter, following the Next page links."""
    out, url = [], f"/findings?{query}"
    for _ in range(100):
        page = c.get(url).get_data(as_text=True)
        out += ids_on(page)
        nxt = re.search(r'<a rel="next" href="([^"]+)"', page)
        if not nxt:
            return out
        url = htmllib.unescape(nxt.group(1))
    raise AssertionError("paging did not end")


# -- sorting ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("sort", ["due", "severity", "savings", "first_seen", "policy", "id"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_every_sort_pages_through_all_findings_in_order(demo, sort, direction):
    c = client(demo)
    got = all_ids(c, f"all=1&sort={sort}&dir={direction}")
    rows = {r["id"]: r for r in queries.list_findings(demo.store, queries.FindingFilter())}
    assert sorted(got) == sorted(rows)                          # every finding once, none lost
    key = {"due": "due_on", "savings": "savings", "first_seen": "first_seen_at", "policy": "policy_id",
           "id": "id"}.get(sort)
    rank = queries.SEVERITY_ORDER.index

    def value(i):
        return rank(rows[i]["severity"]) if sort == "severity" else rows[i][key]

    filled = [value(i) for i in got if value(i) is not None]
    assert filled == sorted(filled, reverse=direction == "desc")
    empties = [i for i in got if value(i) is None]
    assert got[len(got) - len(empties):] == empties             # empty values last, both ways


def test_severity_descending_puts_critical_first_and_marks_the_header(demo):
    html = client(demo).get("/findings?sort=severity&dir=desc").get_data(as_text=True)
    assert re.search(r'<th scope="col" aria-sort="descending"><a href="[^"]*sort=severity', html)
    assert html.count("aria-sort=") == 1
    first = re.search(r'<span class="sev sev-(\w+)">', html).group(1)
    assert first == "critical"


def test_header_links_keep_the_filter_and_start_on_the_first_page(demo):
    html = client(demo).get("/findings?severity=high&q=line&after=3").get_data(as_text=True)
    links = [htmllib.unescape(u) for u in re.findall(r'<th scope="col"[^>]*><a href="([^"]+)"', html)]
    assert len(links) == 6
    for url in links:
        assert "severity=high" in url and "q=line" in url and "after=" not in url


# -- count, views ----------------------------------------------------------------------------------
def test_the_count_says_how_many_match(demo):
    c = client(demo)
    assert f"{opened_by_first_evaluation(demo.store)} findings match" in \
        c.get("/findings").get_data(as_text=True)
    n = len(queries.list_findings(demo.store, queries.FindingFilter(severity=("critical",))))
    assert f"{n} findings match" in c.get("/findings?severity=critical").get_data(as_text=True)
    assert "1 finding matches" in c.get("/findings?q=chg-0001").get_data(as_text=True)
    assert "0 findings match" in c.get("/findings?q=nothing-like-this").get_data(as_text=True)


def test_new_since_the_last_evaluation_and_opened_in(demo):
    c = client(demo)
    every = set(all_ids(c, "all=1"))
    assert set(all_ids(c, "new=1&all=1")) == every               # the demo has one evaluation
    assert set(all_ids(c, "opened_in=1&all=1")) == every
    assert all_ids(c, "opened_in=2&all=1") == []
    assert "No findings match." in c.get("/findings?opened_in=2&all=1").get_data(as_text=True)


def test_my_findings_are_those_assigned_to_the_signed_in_user(demo):
    c = client(demo, "officer2")
    page = c.get("/findings").get_data(as_text=True)
    c.post("/findings/bulk", data={"csrf_token": csrf(page), "finding": ["10", "11"], "action": "assign",
                                   "assignee": "officer2"})
    assert sorted(all_ids(c, "mine=1")) == [10, 11]
    assert sorted(all_ids(c, "assignee=OFFICER2")) == [10, 11]     # the assignee filter ignores case
    assert all_ids(client(demo, "officer"), "mine=1") == []


# -- search and filters ----------------------------------------------------------------------------
def test_search_ignores_case_starts_at_words_and_reads_the_evidence(demo):
    c = client(demo)
    liam = c.get("/findings?q=liam&all=1").get_data(as_text=True)
    assert "Liam Moreau" in liam and "Williams" not in liam and "William Fischer" not in liam
    assert ids_on(c.get("/findings?q=chg-0001").get_data(as_text=True)) == [1]
    assert 85 in ids_on(c.get("/findings?q=cc-1802").get_data(as_text=True))  # evidence only
    assert 53 in ids_on(c.get("/findings?q=LIAM").get_data(as_text=True))     # "Liam Müller" (evidence)


def test_policy_and_framework_filters_ignore_case_and_take_parts(demo):
    c = client(demo)
    leaver = c.get("/findings?policy=leaver").get_data(as_text=True)
    policies = set(re.findall(r"<td>([a-z]+\.[a-z0-9-]+)</td>", leaver))
    assert "cost.leaver-lines" in policies and all("leaver" in p for p in policies)
    assert ids_on(c.get("/findings?framework=HIPAA").get_data(as_text=True)) \
        == ids_on(c.get("/findings?framework=hipaa").get_data(as_text=True)) != []


@pytest.mark.parametrize(("query", "words"), [
    ("severity=bogus", ["“bogus”", "info, low, medium, high, critical"]),
    ("status=wat", ["“wat”", "open, in progress"]),
    ("category=nope", ["“nope”", "cost"]),
    ("after=abc", ["“abc”", "finding number"]),
    ("sort=x", ["“x”", "due date", "severity", "savings", "first seen", "policy"]),
    ("sort=due&dir=sideways", ["“sideways”"]),
    ("opened_in=last", ["“last”", "evaluation"]),
    ("format=xml", ["format must be csv or json", "“xml”"]),
    ("format=xml&severity=critical", ["format must be csv or json"]),
])
def test_invalid_values_are_reported_not_ignored(demo, query, words):
    response = client(demo).get(f"/findings?{query}")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    alert = re.search(r'<p class="error" role="alert">([^<]+)</p>', html).group(1)
    for word in words:
        assert htmllib.escape(word, quote=False) in alert or word in htmllib.unescape(alert), (word, alert)
    assert "<h1>Findings</h1>" in html and ids_on(html) == []


# -- downloads -------------------------------------------------------------------------------------
def test_the_csv_is_for_people_and_named_after_its_filter(demo):
    from dialtone.engine.store.claims import store_totals

    response = client(demo, "auditor").get("/findings?format=csv&severity=critical&status=open")
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(r"attachment; filename=findings-critical-open-\d{4}-\d\d-\d\d\.csv", disposition)
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))
    assert rows and set(rows[0]) >= {"title", "currency", "frameworks", "savings_counted", "overdue"}
    for r in rows:
        assert r["overdue"] in ("yes", "no") and r["savings_counted"] in ("yes", "no")
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", r["first_seen_at"]), r["first_seen_at"]
        assert r["frameworks"] == "" or re.match(r"[\w-]+: \S", r["frameworks"])
        assert r["status"] == "open"
    # The money: the counted savings per currency are the store's totals (identified and realised).
    every = list(csv.DictReader(io.StringIO(client(demo, "auditor").get("/findings?format=csv&all=1")
                                            .get_data(as_text=True), newline="")))
    summed: dict[str, float] = {}
    for r in every:
        if r["savings_counted"] == "yes" and r["status"] in ("open", "in progress"):
            unit = r["currency"] or "unknown"
            summed[unit] = summed.get(unit, 0.0) + float(r["savings"])
    with demo.store.read() as conn:
        identified = store_totals(conn)["identified"]
    assert {k: round(v, 2) for k, v in summed.items() if v} == {k: v for k, v in identified.items() if v}


def test_the_json_download_keeps_its_keys(demo):
    response = client(demo).get("/findings?format=json&q=chg-0001")
    assert response.headers["Content-Disposition"].endswith(".json")
    (row,) = json.loads(response.data)
    assert {"id", "policy_id", "resource_id", "status", "savings", "currency", "evidence", "due_on",
            "overdue", "first_seen_at"} <= set(row)
    assert row["overdue"] in (True, False) and "savings_counted" in row


# -- bulk actions ----------------------------------------------------------------------------------
def history(demo, fid: int) -> list[str]:
    return [e["kind"] for e in queries.finding_detail(demo.store, fid)["history"]]


def post_bulk(c, data: dict, referrer: str = "/findings"):
    token = csrf(c.get(referrer).get_data(as_text=True))
    return c.post("/findings/bulk", data={"csrf_token": token, **data},
                  headers={"Referer": f"http://localhost{referrer}"})


def test_bulk_comment_resolve_and_false_positive_are_recorded_per_finding(demo):
    c = client(demo)
    done = post_bulk(c, {"finding": ["20", "21", "22"], "action": "comment", "text": "looked at"},
                     "/findings?severity=medium")
    assert done.status_code == 302 and done.headers["Location"].endswith("/findings?severity=medium")
    assert "3 findings commented on." in c.get("/findings").get_data(as_text=True)
    assert all(history(demo, i)[-1] == "commented" for i in (20, 21, 22))
    post_bulk(c, {"finding": ["20", "21"], "action": "resolve", "text": "line cancelled"})
    assert [queries.finding_detail(demo.store, i)["status"] for i in (20, 21)] == ["resolved"] * 2
    post_bulk(c, {"finding": ["22"], "action": "false_positive", "text": "test line"})
    assert queries.finding_detail(demo.store, 22)["status"] == "false_positive"
    assert history(demo, 22)[-1] == "status_changed"


def test_a_refusal_part_way_says_how_many_were_done_and_keeps_the_rest(demo):
    c = client(demo)
    # 30 is resolved first, so resolving 29, 30, 31 stops at 30 after doing 29.
    post_bulk(c, {"finding": ["30"], "action": "resolve", "text": "fixed"})
    response = post_bulk(c, {"finding": ["29", "30", "31"], "action": "resolve", "text": "fixed again"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    flash = re.search(r'<div class="flash" role="status"><p>(.+?)</p>', html, re.S).group(1)
    message = htmllib.unescape(flash)
    assert message.startswith("1 finding resolved; finding 30 could not be:")
    assert "Still selected: 30, 31" in message
    assert 'value="31" id="pick-31" aria-labelledby="link-31" checked' in html
    assert ">fixed again</textarea>" in html                                   # what was typed
    assert queries.finding_detail(demo.store, 31)["status"] == "open"


def test_bulk_refusals_keep_the_selection_and_what_was_typed(demo):
    c = client(demo)
    none = post_bulk(c, {"action": "comment", "text": "x"})
    assert none.status_code == 400 and "Choose findings first" in none.get_data(as_text=True)
    stranger = post_bulk(c, {"finding": ["40"], "action": "assign", "assignee": "nobody-such-user"})
    html = stranger.get_data(as_text=True)
    assert stranger.status_code == 400 and "not someone findings can be assigned to" in html
    assert 'value="40" id="pick-40" aria-labelledby="link-40" checked' in html
    empty = post_bulk(c, {"finding": ["40"], "action": "comment", "text": "   "})
    assert empty.status_code == 400
    assert "finding 40 could not be" in htmllib.unescape(empty.get_data(as_text=True))
    page = c.get("/findings").get_data(as_text=True)
    from dialtone.engine.store.accounts import assignable_users

    picker = page[page.index('id="bulk-assignee"'):]
    options = re.findall(r"<option ?(?:selected)?>([^<]+)</option>", picker[:picker.index("</select>")])
    assert options == assignable_users(demo.store) and "auditor" not in options


def test_bulk_exception_requests_one_per_policy_covering_the_selected_resources(demo):
    c = client(demo)
    rows = queries.list_findings(demo.store, queries.FindingFilter(status=("open",), severity=("low",)))
    by_policy: dict[str, list[dict]] = {}
    for r in rows:
        by_policy.setdefault(r["policy_id"], []).append(r)
    two = [lst[:2] for lst in by_policy.values() if len(lst) >= 2][:1] + \
        [lst[:1] for lst in by_policy.values() if len(lst) == 1][:1]
    chosen = [r for lst in two for r in lst]
    assert len({r["policy_id"] for r in chosen}) == len(two) >= 1
    before = queries.list_exceptions(demo.store)
    today = demo.store.today()
    import datetime as dt

    response = post_bulk(c, {"finding": [str(r["id"]) for r in chosen], "action": "request_exception",
                             "text": "kept for the pilot", "ticket": "CHG-1",
                             "expires_on": (today + dt.timedelta(days=10)).isoformat()})
    assert response.status_code == 302
    made = [e for e in queries.list_exceptions(demo.store) if e["id"] not in {b["id"] for b in before}]
    assert sorted(e["policy_id"] for e in made) == sorted({r["policy_id"] for r in chosen})
    for e in made:
        assert sorted(e["selector"]["resources"]) == sorted(r["resource_id"] for r in chosen
                                                             if r["policy_id"] == e["policy_id"])
        assert e["ticket"] == "CHG-1" and e["status"] == "requested"
    too_far = post_bulk(c, {"finding": [str(chosen[0]["id"])], "action": "request_exception",
                            "text": "again", "expires_on": (today + dt.timedelta(days=4000)).isoformat()})
    assert too_far.status_code == 400
    assert "could not be" in htmllib.unescape(too_far.get_data(as_text=True))


def test_an_auditor_gets_no_bulk_form_and_cannot_post_one(demo):
    c = client(demo, "auditor")
    page = c.get("/findings").get_data(as_text=True)
    assert 'id="bulk"' not in page and 'name="finding"' not in page
    assert c.post("/findings/bulk", data={"csrf_token": csrf(page), "finding": ["1"], "action": "comment",
                                          "text": "x"}).status_code == 403
