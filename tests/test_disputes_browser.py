"""Disputes in a real browser (Chromium via Playwright): an officer opens a dispute from a
finding's page and another from a filtered findings list, each after the confirmation page
showing the claim, and sees them on /disputes (reached by the nav link). axe-core finds nothing
on the confirmation page, a dispute's page and the list. An officer limited to a scope is not
offered "Dispute" on a finding that a dispute they cannot see claims, and is told why without
naming it. Skips without /usr/bin/chromium, as tests/browserkit.py says."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from tests.browserkit import LiveServer, assert_accessible, log_in, new_page
from tests.test_disputes_web import LATE, SCRIPT, billed_workspace
from tests.webkit import PASSWORD


@pytest.fixture(scope="module")
def site(browser, tmp_path_factory):
    from dialtone.web.app import create_app

    config, store = billed_workspace(tmp_path_factory, "disputes-browser")
    app = create_app(config, store=store, key="disputes-browser-secret", secure_cookies=False)
    with LiveServer(app) as server:
        yield SimpleNamespace(url=server.url, store=store, config=config)
    store.close()


@pytest.fixture
def officer(browser, site):
    page = new_page(browser, site.url)
    log_in(page, "officer", PASSWORD)
    yield page
    page.context.close()


def test_open_a_dispute_from_a_findings_page(officer, screenshots):
    from playwright.sync_api import expect

    page = officer
    page.goto("/findings/1")
    page.get_by_role("button", name="Dispute", exact=True).click()
    expect(page.get_by_role("heading", name="Open disputes", level=1)).to_be_visible()
    expect(page.locator("main")).to_contain_text("Account A1 (Verizon): USD 20.00")
    expect(page.locator("main")).to_contain_text("File by 2026-08-03")
    # The charge's hostile description is shown as text, never run.
    expect(page.locator("main table")).to_contain_text(SCRIPT)
    assert_accessible(page, "the confirmation page")
    page.get_by_label("Note (optional, kept in the history)").fill("overbilled on bill 1")
    page.get_by_role("button", name="Open 1 dispute").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Dispute DSP-\d{6}$"))).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Opened 1 draft dispute(s)")
    expect(page.locator("dl.facts")).to_contain_text("overbilled on bill 1")
    assert_accessible(page, "a dispute")
    page.screenshot(path=str(screenshots / "dispute.png"), full_page=True)
    page.goto("/findings/1")
    expect(page.locator(".finding-disputes")).to_contain_text("draft, claims USD 20.00 on this finding")
    expect(page.get_by_role("button", name="Dispute", exact=True)).to_have_count(0)


def test_open_a_dispute_from_a_filtered_findings_list(officer):
    from playwright.sync_api import expect

    page = officer
    page.goto("/findings")
    expect(page.get_by_role("button", name="Dispute these findings")).to_have_count(0)
    page.get_by_label("Policy").fill(LATE)
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("status").filter(has_text="match")).to_contain_text("1 finding matches")
    page.get_by_role("button", name="Dispute these findings").click()
    expect(page.get_by_role("heading", name="Open disputes", level=1)).to_be_visible()
    expect(page.locator("main")).to_contain_text("from 1 finding")
    expect(page.locator("main table")).to_contain_text("Late payment charge")
    page.get_by_role("button", name="Open 1 dispute").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Dispute DSP-\d{6}$"))).to_be_visible()
    expect(page.locator("table.dispute-items")).to_contain_text("LATE")


def test_see_the_disputes_on_the_list(officer, site):
    from playwright.sync_api import expect

    from dialtone.engine.store import disputes as sd

    if not sd.list_disputes(site.store):     # run on its own: one dispute to see
        from dialtone.engine.disputes.build import open_from_findings
        from dialtone.engine.snapshots import SnapshotStore
        from dialtone.engine.store import workflow

        open_from_findings(site.store, SnapshotStore(site.config.data_dir).get(None), [2],
                           site.config.disputes, "officer", workflow.audit_writer(site.store, "test"))
    page = officer
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Disputes").click()
    expect(page.get_by_role("heading", name="Disputes", level=1)).to_be_visible()
    references = [d["reference"] for d in sd.list_disputes(site.store)]
    rows = page.locator("table.disputes tbody tr")
    expect(rows).to_have_count(len(references))
    for ref in references:
        expect(page.get_by_role("link", name=ref)).to_be_visible()
    assert_accessible(page, "the disputes list")
    page.locator("#d-account").select_option("A1")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(len(references))


#: A scope of the billed estate: line L1's cost centre. Finding 1 (the overcharge on C1, line L1)
#: is in it; finding 2 (the late fee C3, on no line, so of no cost centre) is not.
SCOPES = """
access:
  scopes:
    cc-1:
      cost_centers: [CC-1]
"""


@pytest.fixture(scope="module")
def scoped_site(browser, tmp_path_factory):
    """The billed estate with a dispute (opened by an administrator) claiming findings 1 and 2:
    the scoped officer reads finding 1, not the dispute (it also claims finding 2)."""
    from dialtone.engine.config import load_config
    from dialtone.engine.disputes.build import open_from_findings
    from dialtone.engine.snapshots import SnapshotStore
    from dialtone.engine.store import accounts, workflow
    from dialtone.engine.store import disputes as sd
    from dialtone.web.app import create_app

    config, store = billed_workspace(tmp_path_factory, "disputes-browser-scoped")
    with config.path.open("a", encoding="utf-8") as fh:
        fh.write(SCOPES)
    config = load_config(config.path)
    accounts.add_user(store, "officer-cc1", "officer", PASSWORD)
    accounts.set_scope(store, "officer-cc1", "cc-1")
    [dispute] = open_from_findings(store, SnapshotStore(config.data_dir).get(None), [1, 2], config.disputes,
                                   "admin", workflow.audit_writer(store, "test"))
    app = create_app(config, store=store, key="disputes-browser-scoped", secure_cookies=False)
    with LiveServer(app) as server:
        yield SimpleNamespace(url=server.url, reference=sd.reference_of(dispute))
    store.close()


def test_a_finding_claimed_in_a_dispute_the_officer_cannot_see_offers_no_dispute_button(
        browser, scoped_site, screenshots):
    """The scoped officer reads finding 1 but not the dispute claiming it: the page does not offer
    "Dispute" (its plan page would refuse it) and says why in the plan page's words, without the
    dispute's reference, account or money."""
    from playwright.sync_api import expect

    page = new_page(browser, scoped_site.url)
    try:
        log_in(page, "officer-cc1", PASSWORD)
        page.goto("/findings/1")
        expect(page.get_by_role("heading", name="Disputes", level=2)).to_be_visible()
        expect(page.get_by_role("button", name="Dispute", exact=True)).to_have_count(0)
        expect(page.locator("p.dispute-claimed")).to_have_text(
            "This finding is already claimed in another dispute you cannot see: it cannot be disputed again.")
        # Nothing of the dispute: its reference, its whole claim (C1's 20.00 and C3's 25.00).
        for hidden in (scoped_site.reference, "45.00"):
            expect(page.locator("main")).not_to_contain_text(hidden)
        assert_accessible(page, "a finding claimed in a dispute the officer cannot see")
        page.screenshot(path=str(screenshots / "finding-claimed-unseen.png"), full_page=True)
    finally:
        page.context.close()
