"""Real-browser helpers: Debian's Chromium driven by Playwright, the app in a real WSGI server.

A pytest plugin (registered in the root conftest.py) so that tests/ and features/ share one
browser per test session. Nothing is downloaded at test time: Playwright drives the
Chromium at /usr/bin/chromium (``apt-get install -y chromium``), and axe-core comes from the
``axe-playwright-python`` package, which ships ``axe.min.js``. Without Chromium every
browser test skips with the install command as its reason (CI installs it: .ci/run).
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = "the browser tests need Debian's Chromium at /usr/bin/chromium: apt-get install -y chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 900}
#: Where screenshots go: this folder when set (docs/screenshots/ to refresh the README's), else a tmp dir.
SCREENSHOTS_ENV = "DIALTONE_SCREENSHOTS"
#: axe-core impacts that fail a page. The rules named in ALWAYS (and every landmark-* rule) fail it
#: at any impact: labelled controls, heading order, contrast, landmarks.
FAILING_IMPACTS = ("serious", "critical")
ALWAYS = ("label", "heading-order", "page-has-heading-one", "region", "color-contrast", "document-title",
          "html-has-lang", "skip-link")


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session; skips (with the install command) without it."""
    if not CHROMIUM.exists():
        pytest.skip(INSTALL)
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="Playwright is a dev dependency: pip install -e '.[dev]'")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    folder = os.environ.get(SCREENSHOTS_ENV)
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


class LiveServer:
    """A WSGI app served by waitress on a free loopback port, in a background thread."""

    def __init__(self, app) -> None:
        from waitress.server import create_server

        self.server = create_server(app, host="127.0.0.1", port=0, threads=4, ident="dialtone-test")
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.thread = threading.Thread(target=self.server.run, name="waitress-test", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        from waitress import wasyncore

        server = self.server
        # Close every channel from inside the server's own loop, which then ends (its map is empty).
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        self.thread.join(10)
        server.task_dispatcher.shutdown()
        assert not self.thread.is_alive(), "the test server did not stop"

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def new_page(browser, base_url: str, **options):
    """A page in a fresh context (its own cookies): one user's session."""
    context = browser.new_context(base_url=base_url, viewport=VIEWPORT, **options)
    context.set_default_timeout(10_000)
    return context.new_page()


def log_in(page, username: str, password: str) -> None:
    from playwright.sync_api import expect

    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.locator("header.top")).to_contain_text(f"{username} (")


def resource_row(page, resource: str):
    """The findings-list row whose Resource cell names exactly ``resource``."""
    cell = page.get_by_role("cell").filter(has_text=re.compile(rf"^\w+ {re.escape(resource)}$"))
    return page.locator("tbody tr").filter(has=cell)


def log_out(page) -> None:
    from playwright.sync_api import expect

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in to Dialtone")).to_be_visible()


_axe = None


def axe_violations(page) -> list[dict]:
    """Run axe-core (every default rule: WCAG 2.x A/AA and best practices) on the page as shown."""
    global _axe
    if _axe is None:
        from axe_playwright_python.sync_playwright import Axe

        _axe = Axe()
    return _axe.run(page).response["violations"]


def failing(violations: list[dict]) -> list[dict]:
    return [v for v in violations if v["impact"] in FAILING_IMPACTS or v["id"] in ALWAYS
            or v["id"].startswith("landmark-")]


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:5]:
            lines.append(f"    {', '.join(map(str, node['target']))}: {node.get('failureSummary', '')}"
                         .replace("\n", " "))
    return "\n".join(lines)


def assert_accessible(page, label: str = "") -> None:
    bad = failing(axe_violations(page))
    assert not bad, f"axe-core on {label or page.url}:\n{describe(bad)}"
