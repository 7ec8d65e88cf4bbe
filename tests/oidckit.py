"""A real OpenID provider for the sign-in tests: npm's oidc-provider (tests/oidc_provider/), run
by Node on a free loopback port, its accounts and groups in a JSON file the test changes.

Skips with the install command when Node or the package is missing (``make test`` installs the
package; CI installs Debian's nodejs and npm: .ci/run)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

HERE = Path(__file__).parent / "oidc_provider"
INSTALL = ("the OpenID sign-in tests need Node 20+ and npm's oidc-provider: apt-get install -y nodejs npm, "
           "then npm ci --prefix tests/oidc_provider (make test does)")
CLIENT_ID = "dialtone-tests"
CLIENT_SECRET = "a client secret for the tests only"
SECRET_ENV = "DIALTONE_TEST_OIDC_SECRET"
GROUPS = {"dialtone-admins": "admin", "dialtone-officers": "officer", "dialtone-auditors": "auditor"}


class OpenIdProvider:
    """``node provider.mjs`` with the given redirect base; ``issuer`` once it listens."""

    def __init__(self, workdir: Path, redirect_base: str) -> None:
        node = shutil.which("node")
        if node is None or not (HERE / "node_modules" / "oidc-provider").is_dir():
            pytest.skip(INSTALL)
        self.accounts_file = workdir / "provider-accounts.json"
        self.set_accounts({})
        settings = workdir / "provider-settings.json"
        settings.write_text(json.dumps({
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "redirect_uris": [redirect_base + "/oidc/callback"],
            "post_logout_redirect_uris": [redirect_base + "/login"],
            "accounts_file": str(self.accounts_file)}), encoding="utf-8")
        self.log = (workdir / "provider.log").open("w")
        self.process = subprocess.Popen([node, str(HERE / "provider.mjs"), str(settings)], cwd=HERE,
                                        stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.issuer = ""
        for line in self.process.stdout:      # ends at EOF if node exits
            if line.startswith("LISTENING "):
                self.issuer = line.split()[1]
                break
        if not self.issuer:
            self.stop()
            raise RuntimeError(f"the OpenID provider did not start: see {workdir / 'provider.log'}")

    def set_accounts(self, accounts: dict[str, list[str]]) -> None:
        """login → groups (re-read by the provider at every look-up)."""
        self.accounts_file.write_text(json.dumps(
            {login: {"username": login, "email": f"{login}@example.com", "groups": groups}
             for login, groups in accounts.items()}), encoding="utf-8")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.process.stdout.close()
        self.log.close()


def config_text(issuer: str, redirect_base: str, **extra) -> str:
    """An ``oidc:`` section for the provider (YAML is a superset of JSON)."""
    section = {"issuer": issuer, "client_id": CLIENT_ID, "client_secret_env": SECRET_ENV,
               "scopes": ["openid", "profile", "email", "groups"],
               "groups": {g: {"role": r} for g, r in GROUPS.items()},
               "redirect_base_url": redirect_base, **extra}
    return "sources: {}\noidc: " + json.dumps(section) + "\n"


_FORM = re.compile(r'<form[^>]*action="([^"]+)"', re.I)


def sign_in_at_provider(start_url: str, login: str, redirect_base: str) -> str:
    """Go through the provider's real login and consent pages as ``login`` (any password) from
    the authorization URL; returns the callback URL the provider sends the browser to."""
    http = requests.Session()
    url, method, data = start_url, "GET", None
    for _ in range(20):
        response = http.request(method, url, data=data, allow_redirects=False, timeout=10)
        if response.is_redirect:
            url, method, data = urljoin(url, response.headers["Location"]), "GET", None
            if url.startswith(redirect_base):
                return url
            continue
        assert response.status_code == 200, (response.status_code, response.text[:500])
        action = urljoin(url, _FORM.search(response.text).group(1))
        if 'name="login"' in response.text:
            url, method, data = action, "POST", {"prompt": "login", "login": login, "password": "any"}
        else:   # the consent page
            url, method, data = action, "POST", {"prompt": "consent"}
    raise AssertionError("the provider never sent the browser back")


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
