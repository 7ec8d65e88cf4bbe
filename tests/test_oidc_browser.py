"""OpenID sign-in in a real browser (Chromium via Playwright) against a real provider (npm's
oidc-provider): a person in the officers' group signs in through the provider's own login and
consent pages and lands as an officer; a person in no mapped group gets a page saying so; a
group removed at the provider loses access at the first request after the session's refresh.
Skips without /usr/bin/chromium or Node, as tests/browserkit.py and tests/oidckit.py say."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from dialtone.engine.config import load_config
from dialtone.engine.store.tables import audit_log, users
from tests.browserkit import LiveServer, assert_accessible, new_page
from tests.oidckit import CLIENT_SECRET, SECRET_ENV, OpenIdProvider, config_text
from tests.storekit import Clock, make_store


class Later:
    """A WSGI app given after the server starts: the provider needs the server's address, the
    application's configuration the provider's."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def site(browser, tmp_path_factory):
    from dialtone.web.app import create_app

    workdir = tmp_path_factory.mktemp("oidc-browser")
    later = Later()
    with LiveServer(later) as server:
        provider = OpenIdProvider(workdir, server.url)
        mp = pytest.MonkeyPatch()
        mp.setenv(SECRET_ENV, CLIENT_SECRET)
        (workdir / "dialtone.yaml").write_text(config_text(provider.issuer, server.url), encoding="utf-8")
        config = load_config(workdir / "dialtone.yaml")
        store = make_store(f"sqlite:///{workdir / 'store.db'}",
                           Clock(dt.datetime.now(dt.UTC).replace(microsecond=0)))
        later.app = create_app(config, store=store, key="oidc-browser-secret", secure_cookies=False)
        try:
            yield SimpleNamespace(url=server.url, store=store, provider=provider)
        finally:
            provider.stop()
            store.close()
            mp.undo()


@pytest.fixture
def page(browser, site):
    page = new_page(browser, site.url)
    # The provider's development pages load a web font: nothing leaves the machine.
    page.route("https://fonts.googleapis.com/**", lambda route: route.abort())
    yield page
    page.context.close()


def sign_in_through_the_provider(page, login: str) -> None:
    from playwright.sync_api import expect

    page.goto("/login")
    page.get_by_role("link", name="Sign in with your organisation").click()
    # The provider's own login page, then its consent page.
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.get_by_role("button", name="Sign-in").click()
    expect(page.get_by_role("button", name="Continue")).to_be_visible()
    page.get_by_role("button", name="Continue").click()


def test_a_user_in_the_officers_group_signs_in_and_lands_as_an_officer(page, site, screenshots):
    from playwright.sync_api import expect

    site.provider.set_accounts({"ada": ["dialtone-officers"]})
    sign_in_through_the_provider(page, "ada")
    expect(page.locator("header.top")).to_contain_text("ada (officer)")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    page.goto("/findings")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Findings")
    page.screenshot(path=str(screenshots / "oidc-signed-in.png"), full_page=True)
    with site.store.read() as conn:
        row = conn.execute(select(users).where(users.c.username == "ada")).first()
    assert (row.role, row.auth_source) == ("officer", "oidc")


def test_a_user_in_no_mapped_group_is_refused_with_a_clear_page(page, site):
    from playwright.sync_api import expect

    site.provider.set_accounts({"mallory": ["sales", "everyone"]})
    sign_in_through_the_provider(page, "mallory")
    expect(page.get_by_role("heading", name="Sign-in refused", level=1)).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text(
        "You signed in as mallory, but none of your groups gives access to Dialtone.")
    assert_accessible(page, "the refusal page")
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    with site.store.read() as conn:
        assert conn.execute(select(users).where(users.c.username == "mallory")).first() is None


def test_a_removed_group_loses_access_at_the_next_request_after_the_refresh(page, site):
    from playwright.sync_api import expect

    site.provider.set_accounts({"grace": ["dialtone-officers"]})
    sign_in_through_the_provider(page, "grace")
    expect(page.locator("header.top")).to_contain_text("grace (officer)")
    site.provider.set_accounts({"grace": []})
    site.store.clock.advance(minutes=4)
    page.goto("/findings")
    expect(page.locator("header.top")).to_contain_text("grace (officer)")   # not refreshed yet
    site.store.clock.advance(minutes=1)                                     # the 5-minute refresh
    page.goto("/findings")
    expect(page.get_by_role("heading", name="Log in to Dialtone")).to_be_visible()
    with site.store.read() as conn:
        assert conn.execute(select(users.c.disabled).where(users.c.username == "grace")).scalar() is True
        gone = conn.execute(select(audit_log.c.data).where(audit_log.c.action == "user_deprovision",
                                                           audit_log.c.actor == "grace")).scalar()
    assert json.loads(gone)["reason"] == "no mapped group at session refresh"
