"""``oidc:`` in ``dialtone.yaml``: signing in to the web pages through an OpenID Connect provider
(Entra ID, Okta, Google, Keycloak…), and which of its groups give which role (docs/sign-in.md).

A person whose groups (the ``groups_claim`` of their ID token or userinfo) include a group named
under ``groups`` gets that entry's role; with several mapped groups the highest role wins
(admin, then officer, then auditor). A person in no mapped group is refused and no account is
made. Each entry is a mapping (``{role: officer}``) so that it can carry more than a role later.

``local_accounts: false`` turns password sign-in off for everybody but administrators, whose
local accounts stay as the break-glass way in when the provider is down or misconfigured.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError
from .freshness import DURATION_PATTERN, parse_duration
from .roles import ROLES
from .secrets import read_secret, secret_schema

#: Highest first: with several mapped groups, the first of these that any of them gives.
ROLE_RANK = ("admin", "officer", "auditor")
assert set(ROLE_RANK) == set(ROLES)

#: ``token_confirmation``'s default: an OpenID account's API tokens stop a day after the provider
#: last confirmed the account.
TOKEN_CONFIRMATION = dt.timedelta(hours=24)
DEFAULT_SCOPES = ("openid", "profile", "email")
DEFAULT_USERNAME_CLAIMS = ("preferred_username", "email")

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["issuer", "client_id", "groups", "redirect_base_url"],
    "properties": {
        # The provider's issuer URL: its discovery document is <issuer>/.well-known/openid-configuration.
        "issuer": {"type": "string", "pattern": "^https?://"},
        "client_id": {"type": "string", "minLength": 1},
        **secret_schema("client_secret", "OpenID client secret"),
        "scopes": {"type": "array", "items": {"type": "string", "pattern": "^[!#-\\[\\]-~]+$"},
                   "minItems": 1},
        "groups_claim": {"type": "string", "minLength": 1},
        "username_claims": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
        "groups": {
            "type": "object", "minProperties": 1,
            "additionalProperties": {
                "type": "object", "additionalProperties": False, "required": ["role"],
                "properties": {"role": {"enum": list(ROLES)},
                               # An access.scopes entry limiting what the group's members read.
                               "scope": {"type": "string", "minLength": 1}},
            },
        },
        # Where Dialtone is reached by browsers: the redirect URI is <this>/oidc/callback.
        "redirect_base_url": {"type": "string", "pattern": "^https?://[^/?#]+(/[^?#]*)?$"},
        "clock_skew_seconds": {"type": "integer", "minimum": 0, "maximum": 600},
        # How often a signed-in session re-reads the person's groups from the provider.
        "refresh_interval": {"type": "string", "pattern": DURATION_PATTERN},
        # How long an OpenID account's API tokens keep working without the provider confirming
        # the account (a sign-in, or a session's successful group re-read).
        "token_confirmation": {"type": "string", "pattern": DURATION_PATTERN},
        "local_accounts": {"type": "boolean"},
        "button_label": {"type": "string", "minLength": 1, "maxLength": 100},
        "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 120},
    },
}


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    client_id: str
    groups: dict[str, dict]
    redirect_base_url: str
    #: The configuration's client-secret settings (``client_secret_env`` / ``_file``), read
    #: when the web application starts: never kept in the configuration object.
    secret_settings: dict = field(default_factory=dict, repr=False)
    base_dir: Path = Path(".")
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    groups_claim: str = "groups"
    username_claims: tuple[str, ...] = DEFAULT_USERNAME_CLAIMS
    clock_skew_seconds: int = 60
    refresh_interval: dt.timedelta = dt.timedelta(minutes=5)
    token_confirmation: dt.timedelta = TOKEN_CONFIRMATION
    local_accounts: bool = True
    button_label: str = "Sign in with your organisation"
    timeout_seconds: float = 10.0

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    @property
    def redirect_uri(self) -> str:
        return self.redirect_base_url.rstrip("/") + "/oidc/callback"

    def client_secret(self) -> str:
        """The client secret, from its environment variable or file (ConfigError if missing)."""
        return read_secret(self.secret_settings, "client_secret", "oidc", self.base_dir)

    def scope_for(self, groups: list[str]) -> str | None:
        """The scope the person's groups give: of the mapped groups granting their role (the
        highest), the one scope they name; None (everything) when one of them names none.
        Groups granting that role with different scopes: a ScopeError (the sign-in is refused;
        docs/sign-in.md)."""
        from .access import ScopeError

        role = self.role_for(groups)
        named = {self.groups[g].get("scope") for g in groups
                 if g in self.groups and self.groups[g]["role"] == role}
        if not named or None in named:
            return None
        if len(named) > 1:
            raise ScopeError(f"the groups giving the {role} role name different scopes "
                             f"({', '.join(sorted(named))}); one scope per person: map one group")
        return named.pop()

    def role_for(self, groups: list[str]) -> str | None:
        """The role the person's groups give (the highest of the mapped ones), or None."""
        mapped = {self.groups[g]["role"] for g in groups if g in self.groups}
        return next((role for role in ROLE_RANK if role in mapped), None)


def parse(section: dict | None, base_dir: Path, where: str) -> OidcSettings | None:
    """The section as checked by the configuration's schema (``SCHEMA``); None when absent."""
    if not section:
        return None
    secret = {k: v for k, v in section.items() if k.startswith("client_secret_")}
    if not secret:
        raise ConfigError(f"{where}: oidc: no client secret: set 'client_secret_env' (an environment "
                          "variable's name) or 'client_secret_file' (a file holding it).")
    optional: dict = {}
    for key in ("groups_claim", "clock_skew_seconds", "local_accounts", "button_label"):
        if key in section:
            optional[key] = section[key]
    if "scopes" in section:
        optional["scopes"] = tuple(section["scopes"])
        if "openid" not in optional["scopes"]:
            raise ConfigError(f"{where}: oidc.scopes: must include 'openid'.")
    if "username_claims" in section:
        optional["username_claims"] = tuple(section["username_claims"])
    for key in ("refresh_interval", "token_confirmation"):
        if key in section:
            optional[key] = parse_duration(section[key], f"{where}: oidc.{key}")
    if "timeout_seconds" in section:
        optional["timeout_seconds"] = float(section["timeout_seconds"])
    return OidcSettings(issuer=section["issuer"], client_id=section["client_id"],
                        groups={k: dict(v) for k, v in section["groups"].items()},
                        redirect_base_url=section["redirect_base_url"].rstrip("/"),
                        secret_settings=secret, base_dir=base_dir, **optional)
