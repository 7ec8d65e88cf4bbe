"""Notifications in a real browser (Chromium via Playwright) at 1280x900 and on a phone
(390x844): the outbox with rows and a dead letter, an administrator retrying it, a message's page,
the page before notifications are turned on, and a finding's "Tickets and notifications" for an
officer and an auditor. axe-core finds nothing on every state shown, and no page scrolls sideways
on the phone (tables scroll in their own box).

Skips without /usr/bin/chromium, like tests/test_web_browser.py.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.browserkit import LiveServer, assert_accessible, log_in, new_page
from tests.test_notify_web import T1, add_message, add_ticket
from tests.webkit import HOSTILE, PASSWORD, build

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
SIZES = pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
LONG_ERROR = ("notifications.targets.mail: send to smtp.example.com:587 failed: 550 5.1.1 "
              "<ann.lee@example.com>: Recipient address rejected: User unknown in virtual mailbox "
              f"table; the server named {HOSTILE}")


def _site(tmp_path_factory, name: str, rows: bool):
    app, store, _ = build(tmp_path_factory.mktemp(name))
    ids = {}
    if rows:
        ids["ticket"] = add_ticket(store, [1, 3], key="TEL-12", state="claimed", claimed_at=T1,
                                   remote_status="Done")
        ids["sent"] = add_message(store, finding_id=1, recipient="ann.lee@example.com", status="sent",
                                  attempts=1, sent_at=T1)
        ids["digest"] = add_message(store, kind="digest", items=[1, 2, 3, 4], target="teams",
                                    subject="4 findings need work")
        ids["upkeep"] = add_message(store, target="jira", kind="ticket_open", finding_id=1,
                                    ticket_id=ids["ticket"], status="sent", sent_at=T1)
        ids["dead"] = add_message(store, finding_id=1, recipient="ann.lee@example.com", status="dead",
                                  attempts=10, last_error=LONG_ERROR)
    return app, store, ids


@pytest.fixture(scope="module")
def site(browser, tmp_path_factory):
    app, store, ids = _site(tmp_path_factory, "notify-browser", rows=True)
    with LiveServer(app) as server:
        yield SimpleNamespace(url=server.url, store=store, ids=ids)
    store.close()


@pytest.fixture(scope="module")
def empty_site(browser, tmp_path_factory):
    app, store, _ = _site(tmp_path_factory, "notify-browser-empty", rows=False)
    with LiveServer(app) as server:
        yield SimpleNamespace(url=server.url)
    store.close()


@pytest.fixture
def open_page(browser):
    contexts = []

    def make(base_url: str, size: dict):
        page = new_page(browser, base_url)
        page.set_viewport_size(size)
        contexts.append(page.context)
        return page

    yield make
    for context in contexts:
        context.close()


def fits(page, size: dict) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= size["width"] + 1, f"{page.url} is {width}px wide at {size['width']}px"


@SIZES
def test_an_officer_reads_the_outbox_with_its_dead_letter_first(site, open_page, size, screenshots):
    from playwright.sync_api import expect

    page = open_page(site.url, size)
    log_in(page, "officer", PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Notifications").click()
    expect(page.get_by_role("heading", name="Notifications", level=1)).to_be_visible()
    cards = page.get_by_role("region", name="Messages by status")
    expect(cards.get_by_role("link").first).to_contain_text("1 dead letter: not delivered")
    row = page.locator("table.outbox tbody tr").filter(has_text="dead letter")
    expect(row).to_contain_text("ann.lee@example.com")
    expect(row.locator("summary")).to_contain_text("550 5.1.1")
    row.locator("summary").click()
    expect(row.locator("details p")).to_contain_text(HOSTILE)
    expect(page.get_by_role("button", name="Retry")).to_have_count(0)
    assert_accessible(page, f"the outbox at {size['width']}")
    fits(page, size)
    page.screenshot(path=str(screenshots / f"notifications-{size['width']}.png"), full_page=True)
    page.get_by_label("Status", exact=True).select_option("sent")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.outbox tbody tr")).to_have_count(2)
    expect(page.locator("table.outbox")).to_contain_text("TEL-12")
    assert_accessible(page, f"the outbox filtered at {size['width']}")


@SIZES
def test_a_message_page_lists_its_findings(site, open_page, size):
    from playwright.sync_api import expect

    page = open_page(site.url, size)
    log_in(page, "officer", PASSWORD)
    page.goto(f"/notifications/{site.ids['digest']}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("digest to teams")
    expect(page.locator("p.lead")).to_have_text("4 findings need work")
    findings = page.get_by_role("region", name="Findings in this message")
    expect(findings.get_by_role("link")).to_have_count(4)
    assert_accessible(page, f"a message at {size['width']}")
    fits(page, size)


def test_an_admin_retries_the_dead_letter(site, open_page):
    from playwright.sync_api import expect

    page = open_page(site.url, DESKTOP)
    log_in(page, "admin", PASSWORD)
    page.goto("/notifications?status=dead")
    page.get_by_role("button", name=f"Retry message {site.ids['dead']}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Message {site.ids['dead']} is due again")
    expect(page.locator("dl.facts")).to_contain_text("waiting")
    assert_accessible(page, "a message after a retry")
    page.goto("/notifications")
    expect(page.get_by_role("region", name="Messages by status").get_by_role("link").first) \
        .to_contain_text("0 dead letters")


@SIZES
def test_before_notifications_are_turned_on_the_page_says_how(empty_site, open_page, size):
    from playwright.sync_api import expect

    page = open_page(empty_site.url, size)
    log_in(page, "admin", PASSWORD)
    page.goto("/notifications")
    expect(page.locator(".notify-empty")).to_contain_text("Notifications are not turned on.")
    expect(page.locator(".notify-empty")).to_contain_text("docs/notifications.md")
    assert_accessible(page, f"the empty outbox at {size['width']}")
    fits(page, size)


@SIZES
@pytest.mark.parametrize("role", ["officer", "auditor"])
def test_a_findings_tickets_and_notifications(site, open_page, size, role, screenshots):
    from playwright.sync_api import expect

    page = open_page(site.url, size)
    log_in(page, role, PASSWORD)
    page.goto("/findings/1")
    section = page.locator("section.finding-notify")
    expect(section.get_by_role("heading", name="Tickets and notifications")).to_be_visible()
    expect(section.get_by_role("link", name="TEL-12")).to_have_attribute(
        "href", "https://acme.atlassian.net/browse/TEL-12")
    expect(section).to_contain_text("Fix claimed in TEL-12 on 2026-11-02 10:00:00 UTC; the next "
                                    "evaluation confirms it or reopens the ticket.")
    messages = section.get_by_role("region", name="Messages about this finding")
    if role == "officer":
        expect(messages).to_contain_text("ann.lee@example.com")
    else:
        expect(messages).to_have_count(0)
    assert_accessible(page, f"a finding's tickets for an {role} at {size['width']}")
    fits(page, size)
    section.screenshot(path=str(screenshots / f"finding-tickets-{role}-{size['width']}.png"))
