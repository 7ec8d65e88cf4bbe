"""The findings list in a real browser (Chromium via Playwright) at 1280x900 and 390x844: sorting
by its headers, the count, the views, search, select-all and a bulk action, an invalid filter,
with axe-core at 0 violations on every state and no sideways scroll on a phone.

Skips without /usr/bin/chromium, as tests/test_web_browser.py does."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from tests.browserkit import LiveServer, assert_accessible, log_in, new_page
from tests.webkit import PASSWORD, demo_workspace, opened_by_first_evaluation

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def demo(browser, tmp_path_factory):
    from dialtone.web.app import create_app

    config, store = demo_workspace(tmp_path_factory, "triage-browser", ("officer", "auditor"))
    app = create_app(config, store=store, key="triage-browser-secret", secure_cookies=False)
    with LiveServer(app) as server:
        yield SimpleNamespace(url=server.url, store=store)
    store.close()


@pytest.fixture(params=list(SIZES))
def officer(request, browser, demo):
    page = new_page(browser, demo.url)
    page.set_viewport_size(SIZES[request.param])
    log_in(page, "officer", PASSWORD)
    yield page
    page.context.close()


def no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, width


def test_sorting_by_the_headers_with_the_count_and_views(officer, demo, screenshots):
    from playwright.sync_api import expect

    page = officer
    page.goto("/findings")
    expect(page.get_by_role("status").filter(has_text="findings match")).to_contain_text(
        f"{opened_by_first_evaluation(demo.store)} findings match")
    no_sideways_scroll(page)
    assert_accessible(page, "findings")
    page.get_by_role("link", name=re.compile("^Due")).click()
    expect(page.locator('th[aria-sort="ascending"]')).to_contain_text("Due")
    first_due = page.locator("tbody tr").first.locator("td").nth(4).inner_text()
    assert re.match(r"\d{4}-\d\d-\d\d\s+(due|overdue)", first_due), first_due
    page.get_by_role("link", name=re.compile("^Severity")).click()
    expect(page.locator('th[aria-sort="descending"]')).to_contain_text("Severity")
    expect(page.locator("tbody tr").first.locator(".sev")).to_have_text("critical")
    no_sideways_scroll(page)
    assert_accessible(page, "findings sorted by severity")
    page.screenshot(path=str(screenshots / f"triage_sorted_{page.viewport_size['width']}.png"))
    page.get_by_role("link", name="New since the last evaluation").click()
    expect(page.get_by_role("status").filter(has_text="match")).to_contain_text("first seen in evaluation 1")
    page.get_by_role("link", name="My findings").click()
    expect(page.get_by_text("No findings match.")).to_be_visible()
    assert_accessible(page, "my findings (none)")


def test_search_finds_liam_and_not_the_williamses(officer):
    from playwright.sync_api import expect

    page = officer
    page.goto("/findings")
    page.get_by_label("Search").fill("liam")
    page.get_by_role("button", name="Filter").click()
    table = page.get_by_role("region", name="Findings")
    expect(table).to_contain_text("Liam Moreau")
    expect(table).not_to_contain_text("Williams")
    no_sideways_scroll(page)
    assert_accessible(page, "search liam")


def test_an_invalid_filter_is_reported_on_the_page(officer):
    from playwright.sync_api import expect

    page = officer
    response = page.goto("/findings?severity=bogus")
    assert response.status == 400
    expect(page.get_by_role("alert")).to_contain_text("Severity “bogus” is not one of: info, low")
    no_sideways_scroll(page)
    assert_accessible(page, "invalid severity")
    response = page.goto("/findings?format=xml")
    assert response.status == 400
    expect(page.get_by_role("alert")).to_contain_text("format must be csv or json")


def test_select_all_and_a_bulk_comment(officer, screenshots):
    from playwright.sync_api import expect

    page = officer
    page.goto("/findings?policy=leaver-lines")
    select_all = page.get_by_role("checkbox", name="Select all findings on this page")
    expect(select_all).to_be_visible()
    boxes = page.locator('input[name="finding"]')
    n = boxes.count()
    assert n > 1
    select_all.check()
    assert all(boxes.nth(i).is_checked() for i in range(n))
    boxes.first.uncheck()
    assert select_all.evaluate("e => e.indeterminate")
    select_all.check()
    assert_accessible(page, "all selected")
    page.get_by_label("Comment, how it was fixed, or why").fill("reviewed in the weekly triage")
    no_sideways_scroll(page)
    page.get_by_role("button", name="Comment", exact=True).click()
    expect(page.locator(".flash")).to_have_text(f"{n} findings commented on.")
    assert "policy=leaver-lines" in page.url                  # back on the same filter
    assert_accessible(page, "after a bulk comment")
    page.screenshot(path=str(screenshots / f"triage_bulk_{page.viewport_size['width']}.png"))


def test_a_refused_bulk_action_keeps_the_selection(officer):
    from playwright.sync_api import expect

    page = officer
    page.goto("/findings?policy=orphan")
    page.locator('input[name="finding"]').first.check()
    page.get_by_role("button", name="Assign").click()            # nobody chosen
    expect(page.locator(".flash")).to_contain_text("Choose whom to assign")
    assert page.locator('input[name="finding"]').first.is_checked()
    no_sideways_scroll(page)
    assert_accessible(page, "refused assignment")
