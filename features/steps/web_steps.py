"""Steps for the web application: Flask's test client over a small store (tests/webkit.py), and
one scenario in a real browser (Debian's Chromium; skips without it, like tests/test_web_browser.py)."""

from __future__ import annotations

import html
import re

import pytest
from pytest_bdd import given, parsers, then, when

from tests.webkit import HOSTILE, PASSWORD, build, csrf, login


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "web: web application scenarios (test client and browser)")


@pytest.fixture
def site(tmp_path):
    app, store, tokens = build(tmp_path)
    state: dict = {"app": app, "store": store, "tokens": tokens}
    yield state
    store.close()


def _client(site: dict, username: str):
    client = site["app"].test_client()
    assert login(client, username).status_code == 302
    site["client"], site["user"] = client, username
    return client


def _get(site: dict, path: str) -> str:
    response = site["client"].get(path)
    assert response.status_code == 200, path
    site["page"] = response.get_data(as_text=True)
    return site["page"]


def _rows(page: str) -> list[str]:
    body = page[page.index("<tbody>"):page.index("</tbody>")]
    return [row for row in body.split("<tr")[1:] if "<td" in row]


def _finding_id(site: dict, line: str) -> int:
    for row in _rows(_get(site, "/findings?all=1")):
        if re.search(rf"<td>\w+ {re.escape(line)}</td>", row):
            return int(re.search(r'href="/findings/(\d+)"', row).group(1))
    raise AssertionError(f"no finding of line {line}")


def _timeline(page: str) -> str:
    return page[page.index("Remediation history"):]


@given("the web application over a small findings store")
def web_application(site: dict) -> None:
    assert site["app"] is not None


@given(parsers.parse('"{username}" is logged in'))
def logged_in(site: dict, username: str) -> None:
    _client(site, username)


@when(parsers.parse('they filter the findings by policy "{policy}"'))
def filter_by_policy(site: dict, policy: str) -> None:
    _get(site, f"/findings?policy={policy}")


@then(parsers.parse('every finding listed is of policy "{policy}"'))
def listed_policy(site: dict, policy: str) -> None:
    rows = _rows(site["page"])
    assert rows and all(f"<td>{policy}</td>" in row for row in rows)
    assert len(rows) < len(_rows(_get(site, "/findings")))   # the filter left some out


@when(parsers.parse('they open the finding of line "{line}"'))
def open_finding(site: dict, line: str) -> None:
    site["finding"] = _finding_id(site, line)
    _get(site, f"/findings/{site['finding']}")


def _act(site: dict, said: str, **form) -> None:
    """Send one of the finding's forms; the page then says what happened (``said``)."""
    fid = site["finding"]
    response = site["client"].post(f"/findings/{fid}/action", data={"csrf_token": csrf(site["page"]), **form},
                                   follow_redirects=True)
    assert response.status_code == 200
    site["page"] = response.get_data(as_text=True)
    assert said in site["page"], site["page"][:2000]


@when(parsers.parse('they comment "{text}"'))
def comment(site: dict, text: str) -> None:
    _act(site, "Comment added.", action="comment", text=text)


@when(parsers.parse('they request an exception "{text}" until "{day}"'))
def request_exception(site: dict, text: str, day: str) -> None:
    _act(site, "requested; another officer decides on it.", action="request_exception", text=text,
         expires_on=day)
    site["justification"] = text


def _exception_row(site: dict) -> str:
    page = _get(site, "/exceptions?view=requested")
    rows = [r for r in _rows(page) if html.escape(site["justification"]) in r]
    assert len(rows) == 1
    return rows[0]


@then("the exception awaits another officer and they cannot approve it")
def awaits_another(site: dict) -> None:
    row = _exception_row(site)
    assert "awaiting another officer" in row and 'value="approve"' not in row
    exception_id = int(re.search(r'<a href="/exceptions/(\d+)">', row).group(1))
    refused = site["client"].post(f"/exceptions/{exception_id}/decide", follow_redirects=True,
                                  data={"csrf_token": csrf(site["page"]), "decision": "approve"})
    assert "cannot approve it" in refused.get_data(as_text=True)


@when(parsers.parse('"{username}" logs in and approves the exception'))
def approves(site: dict, username: str) -> None:
    _client(site, username)
    row = _exception_row(site)
    action = re.search(r'action="(/exceptions/\d+/decide)"', row).group(1)
    response = site["client"].post(action, follow_redirects=True, data={
        "csrf_token": csrf(site["page"]), "decision": "approve", "note": "checked"})
    assert re.search(r"Exception \d+ approved: ", response.get_data(as_text=True))


@then(parsers.parse('the finding of line "{line}" is "{status}"'))
def finding_status(site: dict, line: str, status: str) -> None:
    page = _get(site, f"/findings/{_finding_id(site, line)}")
    assert re.search(r"<dt>Status</dt><dd>" + re.escape(status), page)


@then(parsers.parse('its timeline reads "{kinds}"'))
def timeline_reads(site: dict, kinds: str) -> None:
    shown = re.findall(r'<span class="kind">([^<]*)</span>', _timeline(site["page"]))
    assert shown == [k.strip() for k in kinds.split(",")]


@then(parsers.parse('its timeline shows "{text}"'))
def timeline_shows(site: dict, text: str) -> None:
    assert html.escape(text) in _timeline(site["page"])


def _post_forms(page: str) -> list[str]:
    """The actions of the page's POST forms, the header's "Log out" left out."""
    forms = re.findall(r'<form[^>]*method="post"[^>]*>', page)
    return [f for f in forms if 'class="logout"' not in f]


@then("the page offers no action")
def no_action(site: dict) -> None:
    assert "Act on it" not in site["page"] and _post_forms(site["page"]) == []
    assert "<textarea" not in site["page"]


@then("the findings and exceptions pages offer no action")
def no_action_elsewhere(site: dict) -> None:
    for path in ("/findings", "/exceptions?view=all"):
        page = _get(site, path)
        assert _post_forms(page) == [], path
        assert 'name="finding"' not in page and 'name="decision"' not in page, path


@then("the API refuses a comment sent with the auditor's token with 403")
def api_refuses(site: dict) -> None:
    path = f"/api/v1/findings/{site['finding']}/comments"
    refused = site["app"].test_client().post(path, json={"text": "an auditor's note"},
                                             headers={"Authorization": f"Bearer {site['tokens']['auditor']}"})
    assert refused.status_code == 403 and refused.json["error"]["code"] == "forbidden"
    assert "an auditor" not in _get(site, f"/findings/{site['finding']}")


# -- in a real browser ---------------------------------------------------------------------------
@given("a real browser")
def a_real_browser(site: dict, request) -> None:
    site["browser"] = request.getfixturevalue("browser")   # skips without Chromium


@when(parsers.parse('"{username}" opens the finding of the resource named like a script tag in the browser'))
def open_in_browser(site: dict, username: str) -> None:
    from playwright.sync_api import expect

    from tests.browserkit import LiveServer, log_in, new_page, resource_row

    with LiveServer(site["app"]) as server:
        # The CSP is bypassed so that only the escaping stands between the name and a running script.
        page = new_page(site["browser"], server.url, bypass_csp=True)
        try:
            dialogs: list[str] = []
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            log_in(page, username, PASSWORD)
            page.goto("/findings?q=script")
            resource_row(page, HOSTILE).get_by_role("link").first.click()
            expect(page.get_by_role("heading", level=1)).to_contain_text(HOSTILE)
            site["seen"] = {"heading": page.get_by_role("heading", level=1).inner_text(),
                            "scripts": page.locator("script").count(), "dialogs": dialogs}
        finally:
            page.context.close()


@then("the browser shows the name as text and no dialog opens")
def shown_as_text(site: dict) -> None:
    seen = site["seen"]
    assert HOSTILE in seen["heading"] and seen["scripts"] == 0 and seen["dialogs"] == []
