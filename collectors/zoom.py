"""The ``zoom`` collector: the users of a Zoom account → ``licenses``.

::

    sources:
      zoom:
        collector: zoom
        account_id: AbCdEfGhIjKlMnOpQrStUv
        client_id: zYxWvUtSrQpOnMlKjIhG
        client_secret_env: DIALTONE_ZOOM_SECRET   # or client_secret_file: secrets/zoom
        license_prices: {Licensed: 13.33}         # monthly, by plan (sku) name or type number
        currency: USD

Reads ``GET /users`` of the Zoom REST API v2 (one listing per user status,
300 users a page, ``next_page_token`` until it is empty) with a
Server-to-Server OAuth app: its token comes from the ``account_credentials``
grant (HTTP Basic ``client_id:client_secret``, form fields ``grant_type`` and
``account_id``), lives an hour and has no refresh token, so a new one is
fetched when it runs out or the API answers 401.

Every Zoom user is one licence row: Zoom bills per user and the user's
``type`` is the plan the seat is on. The holder is named by e-mail address;
the engine's identity resolution turns it into a person id. Zoom is not the
HR source, so no ``people`` rows are written.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import typing as t
from pathlib import Path

import pyarrow as pa

from dialtone.engine.collector_api import (
    ROW_COLUMN,
    RawBatch,
    RawReject,
    SourceData,
    settings_schema,
    text_value,
)
from dialtone.engine.errors import CollectError

from .http_api import (
    ApiClient,
    ClientCredentialsToken,
    response_fingerprint,
    secret,
    secret_schema,
    secret_setting_names,
    text_or_none,
)

BASE_URL = "https://api.zoom.us/v2"
TOKEN_URL = "https://zoom.us/oauth/token"
#: The largest page ``GET /users`` gives.
PAGE_SIZE = 300
STATUSES = ("active", "inactive", "pending")
#: Zoom's plan types (the user's ``type``) → the licence's sku.
PLAN_TYPES = {1: "Basic", 2: "Licensed", 4: "Unassigned without Meetings Basic", 99: "None"}
#: Zoom user status → the licence's status, in the words the policies use.
LICENSE_STATUS = {"active": "active", "inactive": "disabled", "pending": "pending"}
PRODUCT = "zoom"

LICENSE_COLUMNS = ("id", "product", "sku", "assigned_to", "status", "assigned_on", "last_active_on",
                   "monthly_cost", "currency")


class ZoomCollector:
    """Zoom users, one licence each, through a Server-to-Server OAuth app."""

    config_schema = settings_schema(
        required=["account_id", "client_id"],
        dependentRequired={"license_prices": ["currency"]},
        properties={
            "account_id": {"type": "string", "minLength": 1,
                           "description": "Account ID of the Server-to-Server OAuth app"},
            "client_id": {"type": "string", "minLength": 1,
                          "description": "Client ID of the Server-to-Server OAuth app"},
            **secret_schema("client_secret", "client secret of the Server-to-Server OAuth app"),
            "statuses": {"type": "array", "minItems": 1, "uniqueItems": True,
                         "items": {"enum": list(STATUSES)},
                         "description": "User statuses to list (default: all three)"},
            "plan_types": {"type": "array", "minItems": 1, "uniqueItems": True,
                           "items": {"type": "integer"},
                           "description": "Only users on these plan types (1 Basic, 2 Licensed, …)"},
            "license_prices": {
                "type": "object", "minProperties": 1,
                "additionalProperties": {"type": "number", "minimum": 0},
                "description": "Monthly price per seat, by sku (Basic, Licensed…) or plan type number"},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$",
                         "description": "ISO 4217 currency of license_prices"},
            "base_url": {"type": "string", "pattern": "^https?://",
                         "description": f"REST API root (default {BASE_URL})"},
            "token_url": {"type": "string", "pattern": "^https?://",
                          "description": f"OAuth token endpoint (default {TOKEN_URL})"},
            "timeout": {"type": "number", "exclusiveMinimum": 0,
                        "description": "Seconds to wait for each answer (default 30)"},
        },
    )
    secret_settings = secret_setting_names("client_secret")
    #: What a collect can fill (docs/collectors/zoom.md, "What it feeds"). last_active_on is the
    #: last sign-in, not the last meeting; assigned_on the day the user joined the account.
    fills: t.ClassVar[dict[str, tuple[str, ...]]] = {"licenses": LICENSE_COLUMNS}

    #: How the client waits before a retry, and the clock token expiry is read from;
    #: tests replace them.
    sleep: t.ClassVar[t.Callable[[float], None]] = staticmethod(time.sleep)
    clock: t.ClassVar[t.Callable[[], float]] = staticmethod(time.monotonic)

    def __init__(self, source: str, settings: dict, base_dir: Path) -> None:
        self.source = source
        self.account_id = settings["account_id"]
        self.client_id = settings["client_id"]
        self.client_secret = secret(settings, "client_secret", source, base_dir)
        self.statuses = tuple(settings.get("statuses", STATUSES))
        self.plan_types = set(settings.get("plan_types", ())) or None
        self.prices = {str(k): float(v) for k, v in (settings.get("license_prices") or {}).items()}
        self.currency = settings.get("currency")
        self.base_url = settings.get("base_url", BASE_URL)
        self.token_url = settings.get("token_url", TOKEN_URL)
        self.timeout = settings.get("timeout", 30)

    def collect(self) -> SourceData:
        tokens = ClientCredentialsToken(
            self.token_url, self.client_id, self.client_secret, None,
            extra={"account_id": self.account_id}, grant_type="account_credentials",
            auth_method="client_secret_basic", timeout=self.timeout, clock=self.clock)
        try:
            tokens.token()
        except CollectError as exc:
            # The kit names the token URL; say which source it was for.
            raise CollectError(f"source '{self.source}': {exc}") from None
        data = SourceData()
        with ApiClient(self.base_url, auth=tokens, source=self.source, timeout=self.timeout,
                       sleep=self.sleep) as api:
            for status in self.statuses:
                origin = f"users?status={status}"
                users = list(self._users(api, status))
                data.inputs[origin] = response_fingerprint(users)
                data.batches.append(RawBatch("licenses", self.licenses(users, status, origin, data),
                                             origin))
        return data

    def _users(self, api: ApiClient, status: str) -> t.Iterator[dict]:
        """Every user of one status, page after page."""
        params: dict[str, t.Any] = {"status": status, "page_size": PAGE_SIZE}
        seen: set[str] = set()
        read = 0
        while True:
            page = api.get_json("users", params)
            users = page.get("users")
            if users is None:
                # Only a listing with no users at all may leave the list out; otherwise the
                # users after this page would silently vanish from a "complete" answer.
                if page.get("total_records") != 0 or seen:
                    raise CollectError(f"source '{self.source}': GET /users?status={status}: the "
                                       "answer has no 'users' (total_records "
                                       f"{page.get('total_records', 'not given')}); nothing collected")
                users = []
            if not isinstance(users, list):
                raise CollectError(f"source '{self.source}': GET /users?status={status}: 'users' "
                                   f"is a JSON {type(users).__name__}, not a list")
            read += len(users)
            yield from users
            token = page.get("next_page_token") or ""
            if not token:
                self._check_total(status, read, page.get("total_records"))
                return
            if token in seen:
                # A token that comes back would page forever: better to stop loudly.
                raise CollectError(f"source '{self.source}': GET /users?status={status}: Zoom "
                                   "returned a next_page_token it had already given")
            seen.add(token)
            params = {"status": status, "page_size": PAGE_SIZE, "next_page_token": token}

    def _check_total(self, status: str, read: int, total: t.Any) -> None:
        """Fail when the listing ended with fewer users than Zoom counts: the others would
        vanish from an estate taken as complete. The last page's count is the one compared
        (users added while the pages were read raise it; more users than it is no loss)."""
        if isinstance(total, int) and not isinstance(total, bool) and read < total:
            raise CollectError(f"source '{self.source}': GET /users?status={status}: Zoom listed "
                               f"{read} user(s) of the {total} its total_records gives; the "
                               "listing ended early, nothing collected")

    def licenses(self, users: list, status: str, origin: str, data: SourceData) -> pa.Table:
        """Zoom users (as the API gives them) → licence rows, as text."""
        rows: list[dict] = []
        positions: list[int] = []
        skipped_plans = 0
        unknown_plans: set[str] = set()
        without_email = 0
        for n, user in enumerate(users, start=1):
            if not isinstance(user, dict):
                data.rejects.append(RawReject(origin, n, "", json.dumps(user)[:200],
                                              "expected a JSON object", "licenses"))
                continue
            plan = user.get("type")
            if self.plan_types is not None and plan not in self.plan_types:
                skipped_plans += 1
                continue
            row = self._license(user, status, origin, n, data)
            if row is None:
                continue
            if plan is not None and plan not in PLAN_TYPES:
                unknown_plans.add(str(plan))
            if row["assigned_to"] is None:
                without_email += 1
            rows.append(row)
            positions.append(n)
        if skipped_plans:
            data.warnings.append(f"{origin}: {skipped_plans} user(s) on plan types not in "
                                 "plan_types left out")
        if unknown_plans:
            data.warnings.append(f"{origin}: plan type(s) {', '.join(sorted(unknown_plans))} are "
                                 "not known to Dialtone; their sku is the number")
        if without_email:
            data.warnings.append(f"{origin}: {without_email} user(s) without an e-mail address: "
                                 "their licence has no holder")
        columns = {c: pa.array([r[c] for r in rows], pa.string()) for c in LICENSE_COLUMNS}
        columns[ROW_COLUMN] = pa.array(positions, pa.int64())
        return pa.table(columns)

    def _license(self, user: dict, status: str, origin: str, n: int, data: SourceData) -> dict | None:
        dates = {}
        for prop in ("user_created_at", "created_at", "last_login_time"):
            value = user.get(prop)
            if value in (None, ""):
                dates[prop] = None
                continue
            day = _utc_date(value)
            if day is None:
                data.rejects.append(RawReject(origin, n, prop, str(value)[:200],
                                              "expected an ISO 8601 date-time", "licenses"))
                return None
            dates[prop] = day
        email = text_or_none(user.get("email"))
        user_id = text_or_none(user.get("id"))
        if user_id:
            lic_id = f"zoom:{user_id}"
        elif status == "pending" and email:
            # Zoom gives pending users (invited, not yet signed up) no id.
            lic_id = f"zoom:pending:{email.lower()}"
        else:
            lic_id = None   # the engine rejects it: id is required
        zoom_status = text_or_none(user.get("status")) or status
        plan = user.get("type")
        sku = PLAN_TYPES.get(plan) if isinstance(plan, int) else None
        if sku is None and plan is not None:
            sku = text_value(plan, False)
        price = self.prices.get(sku) if sku is not None else None
        if price is None and plan is not None:
            price = self.prices.get(str(plan))
        # user_created_at is when the user joined the account: the day its seat was given,
        # unless its plan changed since (Zoom keeps no date for that; the seat is then younger).
        # Older answers only have created_at, which meant the same then; but a pending user's
        # created_at is the time of the request until the invitation is accepted, so it is no
        # assignment date.
        assigned_on = dates["user_created_at"]
        if assigned_on is None and zoom_status != "pending":
            assigned_on = dates["created_at"]
        cost = None if price is None else text_value(price, False)
        if zoom_status == "inactive":
            # "Deactivating a user removes all licenses associated with a user" (Zoom, Update
            # user status): whatever type the user still shows, no seat is held or billed.
            cost = "0"
        return {
            "id": lic_id,
            "product": PRODUCT,
            "sku": sku,
            "assigned_to": email,
            "status": LICENSE_STATUS.get(zoom_status, zoom_status),
            "assigned_on": assigned_on,
            "last_active_on": dates["last_login_time"],
            "monthly_cost": cost,
            "currency": self.currency if price is not None else None,
        }



def _utc_date(value: t.Any) -> str | None:
    """An ISO 8601 date-time (``2024-05-01T09:30:00Z``) → its UTC date, or None."""
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC)
    return when.date().isoformat()

