"""Money and posture in a real browser (Chromium via Playwright), at 1280x900 and 390x844: the
savings page answers how much, where and what is pending, each amount opening the findings
behind it; the posture page is honest before any evaluation and folds its requirements per
framework; the evaluations, runs and snapshots pages link and read as people read. axe-core
finds nothing on any of these pages in any state shown here, and no page scrolls sideways on
a phone (issue 17).

Skips without /usr/bin/chromium, like tests/test_web_browser.py.
"""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import pytest

from tests.browserkit import LiveServer, assert_accessible, log_in
from tests.webkit import PASSWORD, demo_workspace, opened_by_first_evaluation

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def demo(browser, tmp_path_factory):
    """The seed-7 demo after an officer's morning: one finding in progress, one resolved by hand,
    one excepted, so the savings page has money in every state."""
    from dialtone.web.app import create_app
    from tests.test_web_money import _act_on_the_demo

    config, store = demo_workspace(tmp_path_factory, "money-demo", ("auditor", "officer", "officer2"))
    acted = _act_on_the_demo(store)
    app = create_app(config, store=store, key="browser-test-secret", secure_cookies=False)
    with LiveServer(app) as server:
        yield SimpleNamespace(url=server.url, store=store, acted=acted)
    store.close()


@pytest.fixture(scope="module")
def empty(browser, tmp_path_factory):
    """A workspace with accounts but nothing collected or evaluated yet."""
    from dialtone.engine.config import load_config
    from dialtone.engine.store.accounts import add_user
    from dialtone.web.app import create_app
    from tests.storekit import Clock, make_store

    folder = tmp_path_factory.mktemp("money-empty")
    (folder / "dialtone.yaml").write_text("sources: {}\n", encoding="utf-8")
    store = make_store(f"sqlite:///{folder / 'store.db'}", Clock(dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)))
    add_user(store, "auditor", "auditor", PASSWORD)
    app = create_app(load_config(folder / "dialtone.yaml"), store=store, key="browser-test-secret",
                     secure_cookies=False)
    with LiveServer(app) as server:
        yield SimpleNamespace(url=server.url)
    store.close()


def _page(browser, url: str, size: str, user: str = "auditor"):
    phone = size == "phone"
    context = browser.new_context(base_url=url, viewport=SIZES[size], is_mobile=phone, has_touch=phone)
    context.set_default_timeout(10_000)
    page = context.new_page()
    log_in(page, user, PASSWORD)
    return page


@pytest.fixture(scope="module", params=list(SIZES))
def seen(request, browser, demo):
    """An auditor's page on the demo, at each size."""
    page = _page(browser, demo.url, request.param)
    yield SimpleNamespace(page=page, size=request.param, width=SIZES[request.param]["width"])
    page.context.close()


def fits(seen) -> None:
    """No sideways scroll of the page itself (a wide table scrolls inside its own box)."""
    width = seen.page.evaluate("document.documentElement.scrollWidth")
    assert width <= seen.width + 1, f"{seen.page.url} is {width} px wide at {seen.width} px"


PAGES = {"posture": "/", "savings": "/savings", "evaluations": "/evaluations",
         "an evaluation": "/evaluations/1", "runs": "/runs", "a run": "/runs/1", "snapshots": "/snapshots",
         "savings of no cost centre": "/savings/findings?by=cost_center&name=(none)"}


@pytest.mark.parametrize("name", list(PAGES))
def test_money_and_posture_pages_fit_and_are_accessible(seen, name, screenshots):
    response = seen.page.goto(PAGES[name])
    assert response.status == 200
    fits(seen)
    assert_accessible(seen.page, f"{name} at {seen.size}")
    if name in ("posture", "savings"):
        seen.page.screenshot(path=str(screenshots / f"money_{name}_{seen.size}.png"), full_page=True)


def test_the_savings_page_answers_how_much_where_and_what_is_pending(seen, demo):
    from playwright.sync_api import expect

    page = seen.page
    page.goto("/savings")
    totals = page.get_by_role("region", name="Savings per currency and state")
    for state in ("Not started", "In progress", "Identified", "Excepted", "Realised"):
        expect(totals.get_by_role("rowheader", name=re.compile(f"^{state}"))).to_be_visible()
    expect(page.get_by_text("Realised means every finding on the object is resolved")).to_be_visible()
    # Where: one row per cost centre, currencies as columns; an amount opens its findings.
    by_cc = page.get_by_role("region", name="Savings by cost centre")
    expect(by_cc.get_by_role("columnheader", name="GBP")).to_be_visible()
    cell = by_cc.get_by_role("link", name=re.compile(r"^USD [\d,]+\.\d\d$")).first
    amount = cell.inner_text()
    cell.scroll_into_view_if_needed()
    cell.click()
    heading = page.get_by_role("heading", level=1, name="Findings behind the identified savings")
    expect(heading).to_be_visible()
    listed = page.get_by_role("region", name=re.compile("Findings behind")).get_by_role(
        "cell", name=re.compile(r"^USD ")).all_inner_texts()
    assert round(sum(float(t.split()[1].replace(",", "")) for t in listed), 2) == \
        float(amount.split()[1].replace(",", ""))
    fits(seen)
    assert_accessible(page, f"a savings drill-down at {seen.size}")
    page.get_by_role("link", name=re.compile(r"^#\d+$")).first.click()
    expect(page).to_have_url(re.compile(r"/findings/\d+$"))
    # What is pending or accepted: the excepted finding is behind the excepted savings.
    page.goto("/savings")
    page.get_by_role("region", name="Savings per currency and state").get_by_role(
        "row", name=re.compile("^Excepted")).get_by_role("link").first.click()
    expect(page.get_by_role("link", name=f"#{demo.acted['excepted']}", exact=True)).to_be_visible()
    # The older spend is folded away; opened, it still fits and passes axe.
    page.goto("/savings")
    folded = page.locator("summary", has_text="The other rows and earlier periods").first
    folded.scroll_into_view_if_needed()
    folded.click()
    expect(page.get_by_role("region", name="Spend by vendor and period, other rows and earlier periods")
           ).to_be_visible()
    fits(seen)
    assert_accessible(page, f"savings with earlier spend opened at {seen.size}")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the savings rows (CSV)").click()
    assert download.value.suggested_filename == "savings.csv"


def test_the_posture_page_folds_requirements_per_framework_and_shows_one_evaluation_honestly(seen):
    from playwright.sync_api import expect

    page = seen.page
    page.goto("/")
    cards = page.get_by_role("region", name="Headline figures")
    expect(cards.get_by_text(re.compile(r"EUR [\d,]+\.\d\d"))).to_be_visible()
    # The review measured 7,177 px with every requirement listed; folded, far less.
    if seen.size == "desktop":
        assert page.evaluate("document.documentElement.scrollHeight") < 4000
    expect(page.get_by_text("a trend needs two evaluations")).to_be_visible()
    expect(page.locator("svg.chart circle")).to_have_count(1)
    group = page.locator("details.framework").filter(has_text="Investment Advisers Act Rule 204-2")
    group.locator("summary").click()
    expect(group.get_by_role("cell", name=re.compile("Keep written communications"))).to_be_visible()
    fits(seen)
    assert_accessible(page, f"posture with a framework opened at {seen.size}")
    # The open-findings tile leads to a list of the findings it counts.
    page.get_by_role("link", name=re.compile(r"open findings \(open or in progress\)")).click()
    expect(page).to_have_url(re.compile(r"status=open.*status=in_progress"))


def test_the_evaluation_page_links_its_run_policies_and_findings(seen, demo):
    from playwright.sync_api import expect

    page = seen.page
    page.goto("/evaluations")
    page.get_by_role("link", name="1", exact=True).first.click()
    expect(page.get_by_role("heading", level=1, name="Evaluation 1")).to_be_visible()
    money = re.compile(r"identified EUR [\d,]+\.\d\d, GBP [\d,]+\.\d\d, USD")
    expect(page.get_by_text(money)).to_be_visible()
    page.get_by_role("link", name="run 1").click()
    expect(page.get_by_role("heading", level=1, name=re.compile("^Run 1"))).to_be_visible()
    page.go_back()
    page.get_by_role("link", name="cost.leaver-lines", exact=True).click()
    expect(page).to_have_url(re.compile(r"/policies/cost.leaver-lines$"))
    page.go_back()
    page.get_by_role("link", name=re.compile(r"findings of cost.leaver-lines$")).click()
    expect(page).to_have_url(re.compile(r"/findings\?policy=cost.leaver-lines"))
    page.goto("/evaluations/1")
    page.get_by_role("link", name=f"{opened_by_first_evaluation(demo.store)} opened").click()
    expect(page).to_have_url(re.compile(r"/findings\?opened_in=1"))


@pytest.mark.parametrize("size", list(SIZES))
def test_an_empty_workspace_says_not_evaluated_yet(browser, empty, size):
    from playwright.sync_api import expect

    page = _page(browser, empty.url, size)
    try:
        page.goto("/")
        cards = page.get_by_role("region", name="Headline figures")
        expect(cards.get_by_text("not evaluated yet")).to_have_count(2)
        expect(page.get_by_text(re.compile("^Not evaluated yet: no trend"))).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"] + 1
        assert_accessible(page, f"empty posture at {size}")
        for path in ("/savings", "/evaluations"):
            page.goto(path)
            assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size]["width"] + 1
            assert_accessible(page, f"empty {path} at {size}")
    finally:
        page.context.close()
