"""People and forms in a real browser (Chromium, Playwright) on the seed-7 demo, at 1280x900 and
at 390x844: assigning from the picker, a refused exception that keeps what was typed and shows its
limit, a comment sent after the session ended that comes back after sign-in, an approver who sees
the findings a request would cover, and axe-core at 0 violations on every state shown.

Skips without /usr/bin/chromium, as tests/test_web_browser.py does.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from tests.browserkit import LiveServer, assert_accessible, log_in, new_page
from tests.webkit import PASSWORD, demo_workspace

POLICY = "cost.leaver-lines"   # high severity; several open findings in the seed-7 demo estate
PHONE = {"width": 390, "height": 844}
SIZES = ["desktop", "phone"]


@pytest.fixture(scope="module")
def demo(browser, tmp_path_factory):
    """The demo workspace (`dialtone demo --scale 1 --seed 7`), its users given a known password."""
    from dialtone.engine.store.tables import findings
    from dialtone.web.app import create_app

    config, store = demo_workspace(tmp_path_factory, "demo-people")
    with store.read() as conn:
        ids = [r.id for r in conn.execute(select(findings.c.id).where(
            findings.c.policy_id == POLICY, findings.c.status == "open").order_by(findings.c.id))]
        everything = conn.execute(select(findings.c.id, findings.c.evidence).order_by(findings.c.id))
        owned = [r.id for r in everything if r.evidence and '"owner.name"' in r.evidence]
    app = create_app(config, store=store, key="browser-test-secret", secure_cookies=False)
    with LiveServer(app) as server:
        yield SimpleNamespace(url=server.url, store=store, open_ids=ids, owned=owned)
    store.close()


@pytest.fixture
def open_page(browser):
    contexts = []

    def make(base_url: str, size: str = "desktop"):
        page = new_page(browser, base_url)
        if size == "phone":
            page.set_viewport_size(PHONE)
        contexts.append(page.context)
        return page

    yield make
    for context in contexts:
        context.close()


def fits(page) -> None:
    """No page-level sideways scroll (tables scroll inside their own box)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size["width"]
    assert width <= viewport + 1, f"{page.url} is {width}px wide at {viewport}px"


@pytest.mark.parametrize("size", SIZES)
def test_an_officer_assigns_from_the_picker_and_a_refused_exception_keeps_what_was_typed(
        demo, open_page, screenshots, size):
    from playwright.sync_api import expect

    finding = demo.open_ids[0 if size == "desktop" else 1]
    page = open_page(demo.url, size)
    log_in(page, "officer", PASSWORD)
    page.goto(f"/findings/{finding}")
    picker = page.get_by_label("Assign to")
    expect(picker).to_have_value("officer")                       # yourself, by default
    assert picker.locator("option").all_inner_texts() == ["admin", "officer (you)", "officer2"]
    fits(page)
    assert_accessible(page, f"finding {size}")
    picker.select_option("officer2")
    page.get_by_role("button", name="Assign").click()
    expect(page.locator(".flash")).to_have_text("Assigned to officer2.")
    expect(page.locator("dl.facts")).to_contain_text("assigned to officer2")

    # The date field says its limit and holds it; a date typed past it (around the browser's
    # check) is refused in words, with the justification, date and ticket kept.
    today = demo.store.today()
    latest = (today + dt.timedelta(days=demo.store.exception_max_days["high"])).isoformat()
    date = page.get_by_label("Expires on")
    expect(date).to_have_attribute("max", latest)
    expect(page.locator("label[for=exc-expires]")).to_contain_text(f"up to {latest} for a high finding")
    page.get_by_label("Exception: justification").fill("kept for the leaver's handover")
    page.get_by_label("Ticket (optional)").fill("CHG-1234")
    too_far = (today + dt.timedelta(days=400)).isoformat()
    date.evaluate("(el, value) => { el.removeAttribute('max'); el.value = value; }", too_far)
    page.get_by_role("button", name="Request exception").click()
    expect(page.locator(".flash")).to_contain_text(f"can last at most 90 days, until {latest}")
    expect(page.get_by_label("Exception: justification")).to_have_value("kept for the leaver's handover")
    expect(page.get_by_label("Ticket (optional)")).to_have_value("CHG-1234")
    expect(page.get_by_label("Expires on")).to_have_value(too_far)
    fits(page)
    assert_accessible(page, f"refused exception {size}")
    page.screenshot(path=str(screenshots / f"people_refused_exception_{size}.png"), full_page=True)


@pytest.mark.parametrize("size", SIZES)
def test_the_finding_page_reads_for_people_and_hides_hashes_behind_verify(demo, open_page, size):
    from playwright.sync_api import expect

    assert demo.owned, "the demo has findings whose evidence names the resource's owner"
    page = open_page(demo.url, size)
    log_in(page, "auditor", PASSWORD)
    page.goto(f"/findings/{demo.owned[0]}")
    evidence = page.get_by_role("region", name="Evidence")
    expect(evidence).to_contain_text("owner.name")
    expect(evidence).not_to_contain_text("assignee")
    expect(page.locator("main")).not_to_contain_text("['")
    expect(page.get_by_role("link", name="evaluation 1").first).to_be_visible()
    verify = page.locator("details.verify")
    expect(verify.locator("code").first).not_to_be_visible()
    verify.locator("summary").click()
    expect(verify.locator("code").first).to_be_visible()
    fits(page)
    assert_accessible(page, f"finding with Verify open {size}")


def test_a_comment_typed_when_the_session_ended_comes_back_after_sign_in(demo, open_page):
    from playwright.sync_api import expect

    from dialtone.engine.store.accounts import set_password

    page = open_page(demo.url)
    log_in(page, "officer2", PASSWORD)
    finding = demo.open_ids[2]
    page.goto(f"/findings/{finding}")
    page.get_by_label("Comment").fill("Called the leaver's manager; phone back on Friday.")
    set_password(demo.store, "officer2", PASSWORD)          # every session of the account ends
    page.get_by_role("button", name="Add comment").click()
    expect(page.get_by_role("heading", name="Log in to Dialtone")).to_be_visible()
    expect(page.locator(".notice")).to_contain_text("what you typed is kept")
    assert "Called" not in page.url                           # the draft is never in a URL
    assert_accessible(page, "sign-in with a draft waiting")
    page.get_by_label("Username").fill("officer2")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{demo.url}/findings/{finding}")
    expect(page.get_by_label("Comment")).to_have_value("Called the leaver's manager; phone back on Friday.")
    expect(page.locator(".flash")).to_contain_text("The form had expired; what you typed is kept below")
    assert_accessible(page, "finding with the draft restored")
    page.get_by_role("button", name="Add comment").click()
    expect(page.locator(".flash")).to_have_text("Comment added.")
    expect(page.locator("ol.timeline")).to_contain_text("phone back on Friday")


@pytest.mark.parametrize("size", SIZES)
def test_an_approver_sees_what_a_request_would_cover_and_can_reach_approve(demo, open_page, size):
    from playwright.sync_api import expect

    requester = open_page(demo.url)
    log_in(requester, "officer", PASSWORD)
    finding = demo.open_ids[3 if size == "desktop" else 4]
    requester.goto(f"/findings/{finding}")
    requester.get_by_label("Exception: justification").fill(f"handover for finding {finding}")
    requester.get_by_label("Expires on").fill((demo.store.today() + dt.timedelta(days=10)).isoformat())
    requester.get_by_role("button", name="Request exception").click()
    expect(requester.locator(".flash")).to_contain_text("requested; another officer decides on it")

    approver = open_page(demo.url, size)
    log_in(approver, "officer2", PASSWORD)
    approver.goto("/exceptions")
    row = approver.locator("tbody tr").filter(has_text=f"handover for finding {finding}")
    expect(row.get_by_role("link", name="would cover 1")).to_be_visible()
    approve = row.get_by_role("button", name="Approve")
    expect(approve).to_be_in_viewport()
    expect(row.get_by_role("button", name="Reject")).to_be_in_viewport()
    fits(approver)
    assert_accessible(approver, f"exceptions {size}")
    row.get_by_role("link", name="would cover 1").click()
    expect(approver.get_by_role("heading", name="Findings it would cover")).to_be_visible()
    expect(approver.get_by_role("link", name=str(finding), exact=True)).to_be_visible()
    fits(approver)
    assert_accessible(approver, f"exception detail {size}")
    approver.get_by_role("button", name="Approve").click()
    expect(approver.locator(".flash")).to_contain_text("approved: it applies to the findings it covers")
    expect(approver.get_by_role("heading", name="Findings it covers")).to_be_visible()
    assert_accessible(approver, f"exception approved {size}")
