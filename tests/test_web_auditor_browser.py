"""The auditor's pages in a real browser (Chromium via Playwright) at 1280x900 and on a phone
(390x844): the evidence form (presets, a refused period that keeps the form, a download named for
its period and framework), the audit log, the policies search and a policy page, the users page.
axe-core finds nothing on every state shown, and no page scrolls sideways on the phone.

Skips without /usr/bin/chromium, like tests/test_web_browser.py.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from tests.browserkit import LiveServer, assert_accessible, log_in, new_page
from tests.webkit import PASSWORD, demo_workspace

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
SIZES = pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])


@pytest.fixture(scope="module")
def demo(browser, tmp_path_factory):
    """The demo workspace (seed 7), its users given a known password, one evidence export and one
    comment in the audit log."""
    from dialtone.engine.store import workflow
    from dialtone.web.app import create_app

    config, store = demo_workspace(tmp_path_factory, "auditor-demo", ("admin", "officer", "auditor"))
    workdir = config.path.parent
    audit = workflow.audit_writer(store, "browser-test")
    workflow.comment(store, 1, "called the owner about this line", "officer", audit)
    app = create_app(config, store=store, key="browser-test-secret", secure_cookies=False)
    with LiveServer(app) as server:
        yield SimpleNamespace(url=server.url, store=store, tmp=workdir)
    store.close()


@pytest.fixture
def open_page(browser):
    contexts = []

    def make(base_url: str, size: dict, **options):
        page = new_page(browser, base_url, **options)
        page.set_viewport_size(size)
        contexts.append(page.context)
        return page

    yield make
    for context in contexts:
        context.close()


def fits(page, size: dict) -> None:
    """No sideways scroll for the page itself (tables scroll inside their own box)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= size["width"] + 1, f"{page.url} is {width}px wide at {size['width']}px"


@SIZES
def test_an_auditor_chooses_a_period_is_told_why_it_is_empty_and_keeps_the_form(demo, open_page, size,
                                                                                  screenshots):
    from playwright.sync_api import expect

    page = open_page(demo.url, size)
    log_in(page, "auditor", PASSWORD)
    page.goto("/evidence")
    expect(page.get_by_role("heading", name="Evidence package", level=1)).to_be_visible()
    expect(page.locator("#ev-range")).to_contain_text("Evaluations on record ran on")
    expect(page.get_by_label("Period")).to_contain_text("Last quarter:")
    expect(page.get_by_label("when the evaluations ran")).to_be_checked()
    assert_accessible(page, f"evidence form at {size['width']}")
    fits(page, size)
    # A period with no evaluation: the reason in the auditor's words, the form as it was filled.
    page.get_by_label("From (first day)").fill("1999-01-01")
    page.get_by_label("To (last day)").fill("1999-03-31")
    page.get_by_label("the snapshots' as-of dates").check()
    page.get_by_label("Mask phone numbers").check()
    page.get_by_role("button", name="Download the package").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "No evaluation covers a snapshot dated between 1 Jan and 31 Mar 1999.")
    expect(page.get_by_role("alert")).not_to_contain_text("dialtone evaluate")
    expect(page.get_by_label("From (first day)")).to_have_value("1999-01-01")
    expect(page.get_by_label("To (last day)")).to_have_value("1999-03-31")
    expect(page.get_by_label("the snapshots' as-of dates")).to_be_checked()
    expect(page.get_by_label("Mask phone numbers")).to_be_checked()
    assert_accessible(page, f"refused evidence form at {size['width']}")
    fits(page, size)
    page.screenshot(path=str(screenshots / f"evidence-refused-{size['width']}.png"), full_page=True)


def test_a_preset_downloads_a_package_named_for_the_quarter_and_the_framework(demo, open_page):
    page = open_page(demo.url, DESKTOP, accept_downloads=True)
    log_in(page, "auditor", PASSWORD)
    page.goto("/evidence")
    page.get_by_label("Period").select_option("this-quarter")
    page.get_by_label("Framework").select_option("finra-4511")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download the package").click()
    name = info.value.suggested_filename
    quarter = r"\d{4}-(01|04|07|10)-01-to-\d{4}-\d\d-\d\d"
    assert re.fullmatch(rf"dialtone-evidence-finra-4511-{quarter}\.zip", name), name


@SIZES
def test_the_audit_log_reads_as_text_links_its_targets_and_filters(demo, open_page, size):
    from playwright.sync_api import expect

    page = open_page(demo.url, size)
    log_in(page, "auditor", PASSWORD)
    page.goto("/audit")
    expect(page.get_by_role("heading", name="Audit log", level=1)).to_be_visible()
    row = page.locator("tbody tr").filter(has_text="called the owner")
    expect(row).to_have_count(1)
    expect(row.get_by_role("link", name="finding 1")).to_have_attribute("href", "/findings/1")
    expect(row.locator("td").first).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$"))
    assert "{" not in row.inner_text()
    assert_accessible(page, f"audit log at {size['width']}")
    fits(page, size)
    page.get_by_label("Action").select_option("commented")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.get_by_role("link", name="Show everything")).to_be_visible()
    assert_accessible(page, f"filtered audit log at {size['width']}")
    fits(page, size)


@SIZES
def test_policies_are_searchable_and_a_policy_page_reads_well(demo, open_page, size):
    from playwright.sync_api import expect

    page = open_page(demo.url, size)
    log_in(page, "auditor", PASSWORD)
    page.goto("/policies")
    assert_accessible(page, f"policies at {size['width']}")
    fits(page, size)
    page.get_by_label("Search by id, title, framework or category").fill("FINRA")
    page.get_by_role("button", name="Search").click()
    status = page.get_by_role("status").filter(has_text="policies match")
    expect(status).to_contain_text("match “FINRA”")
    shown = page.locator("tbody tr").count()
    assert 0 < shown < 68
    for text in page.locator("tbody tr").all_inner_texts():
        assert "finra" in text.casefold()
    assert_accessible(page, f"searched policies at {size['width']}")
    fits(page, size)
    page.goto("/policies/cost.leaver-lines")
    expect(page.get_by_role("heading", name="Compiled SQL")).to_be_visible()
    sql = page.locator("pre.sql").first.inner_text()
    assert sql.startswith("SELECT\n") and sql.count("\n") > 10
    assert_accessible(page, f"a policy at {size['width']}")
    fits(page, size)


@SIZES
def test_the_users_page_fits_and_shows_moments(demo, open_page, size):
    from playwright.sync_api import expect

    page = open_page(demo.url, size)
    log_in(page, "admin", PASSWORD)
    page.goto("/users")
    row = page.locator("tr#user-auditor")
    expect(row).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"))
    assert_accessible(page, f"users at {size['width']}")
    fits(page, size)


@SIZES
def test_the_snapshots_page_fits_with_numbers_for_people(demo, open_page, size):
    from playwright.sync_api import expect

    page = open_page(demo.url, size)
    log_in(page, "auditor", PASSWORD)
    page.goto("/snapshots")
    rows = page.locator("tbody tr").first.locator("td").nth(3)
    expect(rows).to_have_text(re.compile(r"^\d{1,3}(,\d{3})+$"))   # 15,838: thousands separated
    assert_accessible(page, f"snapshots at {size['width']}")
    fits(page, size)


@SIZES
def test_the_packages_index_reads_on_a_phone_and_its_links_open_its_files(demo, open_page, size, tmp_path):
    import zipfile

    from click.testing import CliRunner
    from playwright.sync_api import expect

    from dialtone.web.cli import cli

    out = tmp_path / "package.zip"
    args = ["--config", str(demo.tmp / "dialtone.yaml"), "export", "evidence", "--period", "year-to-date",
            "--framework", "finra-4511", "-o", str(out)]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as zf:
        zf.extractall(tmp_path / "unzipped")
    page = open_page(demo.url, size)
    page.goto((tmp_path / "unzipped" / "index.html").as_uri())
    expect(page.get_by_role("heading", name="Dialtone evidence package")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Six-year default retention")   # a requirement's title
    assert_accessible(page, f"index.html at {size['width']}")
    fits(page, size)
    page.get_by_role("link", name="findings.json").first.click()
    assert page.url.endswith("/unzipped/findings.json")
