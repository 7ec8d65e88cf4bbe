"""The ``msgraph`` collector: Microsoft Graph v1.0 → people, subscriptions, licenses, devices, apps.

::

    sources:
      m365:
        collector: msgraph
        tenant_id: contoso.onmicrosoft.com
        client_id: 00000000-0000-0000-0000-000000000000
        client_secret_env: DIALTONE_GRAPH_SECRET     # or client_secret_file: secrets/graph
        license_prices: {SPE_E5: 57.00, MCOEV: 8.00}

An app registration signs in with the OAuth2 client-credentials grant (its
application permissions, admin-consented) and reads:

- ``/users`` → **people** (with each user's manager, ``$expand=manager``), and each
  user's ``assignedLicenses`` → **licenses**
  (assigned on the earliest ``assignedPlans`` date of the SKU's plans, last
  active on the last successful sign-in, or the later of it and the last Teams
  activity for a SKU with Teams; a Teams-only SKU's Teams activity counts
  without a sign-in, a suite's never alone);
- ``/subscribedSkus`` → **subscriptions** (and the SKU names and service plans of
  the licences, which also tell resource accounts and rooms from people), renewing
  on the earliest term end of the SKU's commercial subscriptions
  (``/directory/subscriptions``), whose paid ones also tell the seats bought from
  a trial's, which ``prepaidUnits.enabled`` counts with them;
- ``/reports/getTeamsUserActivityUserDetail`` → each user's last Teams activity
  (a CSV behind a redirect to a pre-authenticated link);
- Intune ``/deviceManagement/managedDevices`` → **devices**;
- Intune ``/deviceManagement/detectedApps`` and, per app, its
  ``managedDevices`` → **device_apps**. Graph v1.0 has no "apps of a device"
  call, so this is one call per discovered app (apps no device has are
  skipped), the fewest v1.0 offers.

Every list is read to its end through ``@odata.nextLink``; throttling (429 and
503 with ``Retry-After``) and token expiry are handled by the REST kit
(:mod:`.http_api`). Values go to the engine as text, so it validates them like
any source; a record Graph should never send (a user without ``id``) is a
reject of its own. What needs more than ``User.Read.All`` (the leave date,
``signInActivity``, the Teams report) is read when Graph allows it and left
empty, with a warning, when it refuses.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import re
import time
import typing as t
from pathlib import Path
from urllib.parse import quote

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

from .http_api import ApiClient, ApiError, ClientCredentialsToken, secret, secret_schema, secret_setting_names

log = logging.getLogger(__name__)

GRAPH_URL = "https://graph.microsoft.com/v1.0"
TOKEN_URL = "https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token"
SCOPE = "https://graph.microsoft.com/.default"
#: The largest page ``/users`` serves.
USERS_PAGE = 999
#: The largest page Graph serves when a query expands a relation of directory objects (its
#: known issue 13635): with the manager expanded, whatever ``$top`` says, 100 users a page.
EXPANDED_PAGE = 100
#: The user's manager, a user or an organisational contact: only its id (and the
#: ``@odata.type`` Graph always adds), which names the manager among the users read.
MANAGER_EXPAND = "manager($select=id)"
ORG_CONTACT = "#microsoft.graph.orgcontact"
#: What Graph answers when it will not expand the manager: 400 where the query is not supported
#: (a national cloud), 403 where the app may not read it.
REFUSED_STATUSES = (400, 403)
#: Graph's way of saying "never" in a date-time.
NEVER = "0001-01-01T00:00:00Z"

USER_FIELDS = ("id", "userPrincipalName", "displayName", "mail", "employeeId", "department",
               "jobTitle", "accountEnabled", "usageLocation", "employeeHireDate", "employeeOrgData",
               "userType", "assignedLicenses", "assignedPlans")
#: Needs User-LifeCycleInfo.Read.All besides User.Read.All; read when granted.
LEAVE_FIELD = "employeeLeaveDateTime"
#: Needs Microsoft Entra ID P1/P2 on the tenant and AuditLog.Read.All; read when granted.
SIGN_IN_FIELD = "signInActivity"
#: Fields Graph may refuse (403) while it serves the rest of /users: what each needs, and what is
#: empty without it.
OPTIONAL_USER_FIELDS = {
    LEAVE_FIELD: ("it needs User-LifeCycleInfo.Read.All",
                  "people's terminated_on is empty and their status comes from accountEnabled alone"),
    SIGN_IN_FIELD: ("it needs Microsoft Entra ID P1 or P2 on the tenant and AuditLog.Read.All",
                    "licences' last_active_on has no sign-in date, so only Teams-only licences have "
                    "one (their Teams activity)"),
}
#: lastSuccessfulSignInDateTime exists since this day and is not backfilled; before it, the
#: last sign-in *attempt* is the only date Graph has.
SUCCESS_TRACKED_SINCE = dt.date(2023, 12, 1)
SKU_FIELDS = ("skuId", "skuPartNumber", "prepaidUnits", "consumedUnits", "servicePlans")
SUBSCRIPTION_FIELDS = ("skuId", "status", "isTrial", "nextLifecycleDateTime", "totalLicenses")
DEVICE_FIELDS = ("id", "serialNumber", "imei", "model", "manufacturer", "operatingSystem", "osVersion",
                 "userPrincipalName", "managedDeviceOwnerType", "complianceState", "isEncrypted",
                 "enrolledDateTime", "lastSyncDateTime", "phoneNumber", "managementAgent")
#: Intune's managementAgent (managementAgentType) → devices.mdm_enrolled. managedDevices also lists
#: the phones the Exchange connector found, managed by Exchange ActiveSync alone (``eas``): no
#: MDM enrolment, no compliance or encryption policy. Every other agent Graph v1.0 documents
#: manages the device (Intune MDM, the Intune PC client, Configuration Manager, Jamf, Google's
#: CloudDPC); ``unknown``, none, or an agent not documented here is unknown, never enrolled.
MDM_AGENTS = {"mdm": "true", "easmdm": "true", "intuneclient": "true", "easintuneclient": "true",
              "configurationmanagerclient": "true", "configurationmanagerclientmdm": "true",
              "configurationmanagerclientmdmeas": "true", "jamf": "true",
              "googleclouddevicepolicycontroller": "true", "eas": "false"}
PERSON_IDS = ("userPrincipalName", "employeeId", "mail", "id")
#: The Teams user activity report over the longest period Graph serves, so that a last
#: activity older than 90 days is still seen (it redirects to a CSV).
TEAMS_REPORT = "reports/getTeamsUserActivityUserDetail(period='D180')"
TEAMS_REPORT_ORIGIN = "GET /reports/getTeamsUserActivityUserDetail"
#: What a concealed usage report puts in place of a user's object id.
CONCEALED_ID = "00000000-0000-0000-0000-000000000000"

#: Account kinds told by the licences an account holds (SKU part numbers, upper case, and
#: service plan names), checked in this order. A Teams Phone resource account holds the free
#: "Teams Phone Resource Account" SKU (PHONESYSTEM_VIRTUALUSER, plan MCOEV_VIRTUALUSER); a Teams
#: Rooms account a Teams Rooms SKU (Microsoft_Teams_Rooms_Basic/Pro, with or without audio
#: conferencing, and the older MEETING_ROOM ones); a shared-device account (common-area phone,
#: hot desk) the Teams Shared Devices SKU (MCOCAP).
KIND_BY_SKU: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("resource_account", ("PHONESYSTEM_VIRTUALUSER",), ("MCOEV_VIRTUALUSER",)),
    ("room", ("MICROSOFT_TEAMS_ROOMS_", "MEETING_ROOM"), ()),
    ("service", ("MCOCAP",), ()),
)
#: Kinds whose disabled account means the human left; the others are disabled by design
#: (resource accounts) or are no one's employment.
HUMAN_KINDS = ("person", "guest")
#: Service plans of Teams and its add-ons: Teams (TEAMS1, TEAMSPRO_…), Teams Phone, Calling Plans,
#: Audio Conferencing and the other Skype-heritage voice plans (MCO…), and Teams Premium's own;
#: and plans with no workload of their own (Exchange Foundation, the plumbing many SKUs carry).
#: A SKU made of these alone is used through Teams alone, so the Teams activity report says
#: whether its seat is used. Any other plan (Exchange, SharePoint, OneDrive, the Office apps,
#: Intune, or one not named here) makes it a suite, whose use Teams activity cannot tell.
TEAMS_PLAN_PREFIXES = ("TEAMS", "MCO")
TEAMS_ONLY_PLANS = ("MICROSOFT_ECDN", "QUEUES_APP", "MESH_IMMERSIVE_FOR_TEAMS", "EXCHANGE_S_FOUNDATION")
#: Teams Rooms SKUs: a room's account is used in Teams meetings alone, whatever plans its SKU
#: carries for the device (Intune, Entra ID P1).
TEAMS_ROOMS_SKUS = KIND_BY_SKU[1][1]
#: Makers whose Android devices are all Teams devices - desk phones, Teams displays, Teams Rooms
#: on Android bars, boards and touch consoles, and panels (Microsoft's certified lists for Teams
#: phones, displays and Teams Rooms on Android): on Android, their devices are desk phones, not
#: smartphones. They run the maker's AOSP firmware and sign in with a person's, a shared-device
#: or a room account. (Logitech's one Android device besides, the G Cloud gaming handheld, is
#: no phone either.)
DESK_PHONE_MAKERS = ("poly", "polycom", "yealink", "audiocodes", "crestron", "logitech", "neat",
                     "jabra", "epos", "dten")
#: Words of the model that make an Android device a Teams device whatever its maker, and per maker
#: for makers that also sell Android phones or tablets, where only the Teams lines are desk phones:
#: Lenovo's ThinkSmart displays (not its Tab tablets), Cisco's Room Bar, Room Kit, Board Pro, Desk
#: Pro and Room Navigator (not its Wireless Phone 840 and 860 handsets).
DESK_PHONE_MODEL_WORDS = ("thinksmart",)
DESK_PHONE_MODEL_WORDS_OF = {"cisco": ("room", "board", "desk")}

#: The application permission each call needs, for the message when it is refused.
PERMISSIONS = {
    "users": "User.Read.All",
    "subscribedSkus": "LicenseAssignment.Read.All (or Organization.Read.All)",
    "directory/subscriptions": "Organization.Read.All",
    "deviceManagement/managedDevices": "DeviceManagementManagedDevices.Read.All",
    "deviceManagement/detectedApps": "DeviceManagementManagedDevices.Read.All",
    "reports/": "Reports.Read.All",
}


class GraphCollector:
    """Microsoft Graph v1.0 (Entra ID users and licences, Intune devices and apps)."""

    config_schema = settings_schema(
        required=["tenant_id", "client_id"],
        properties={
            "tenant_id": {"type": "string", "minLength": 1,
                          "description": "Directory (tenant) id or a verified domain"},
            "client_id": {"type": "string", "minLength": 1,
                          "description": "Application (client) id of the app registration"},
            **secret_schema("client_secret", "app registration's client secret"),
            "graph_url": {"type": "string", "pattern": "^https?://",
                          "description": f"Graph endpoint (default {GRAPH_URL})"},
            "token_url": {"type": "string", "pattern": "^https?://",
                          "description": "Token endpoint; {tenant_id} is replaced"},
            "scope": {"type": "string", "minLength": 1, "description": f"Token scope (default {SCOPE})"},
            "person_id": {"enum": list(PERSON_IDS),
                          "description": "The user property that becomes people.id"},
            "license_prices": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0},
                               "description": "Monthly price per seat by SKU part number"},
            "license_products": {"type": "object", "additionalProperties": {"type": "string",
                                                                             "minLength": 1},
                                 "description": "Product name by SKU part number (default: teams or "
                                                "microsoft365 from the SKU's service plans)"},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "licenses": {"type": "boolean", "description": "Read subscriptions and licences"},
            "devices": {"type": "boolean", "description": "Read Intune managed devices"},
            "apps": {"type": "boolean", "description": "Read Intune discovered apps"},
            "manager": {"type": "boolean",
                        "description": "Read each user's manager (people.manager_id); Graph then "
                                       "serves 100 users a page instead of 999"},
            "teams_activity": {"type": "boolean",
                               "description": "Read the Teams user activity report for Teams licences' "
                                              "last_active_on (needs Reports.Read.All)"},
            "timeout": {"type": "number", "exclusiveMinimum": 0},
            "max_retries": {"type": "integer", "minimum": 0, "maximum": 20},
            "max_retry_after": {"type": "number", "minimum": 0},
        },
    )
    secret_settings = secret_setting_names("client_secret")
    #: What a collect can fill, per entity (docs/collectors/msgraph.md, "What it feeds").
    fills: t.ClassVar[dict[str, tuple[str, ...]]] = {
        "people": ("id", "name", "kind", "email", "upn", "employee_id", "department", "cost_center",
                   "country", "role", "status", "hired_on", "terminated_on", "manager_id"),
        "subscriptions": ("id", "product", "sku", "prepaid_units", "consumed_units", "unit_cost",
                          "currency", "renews_on"),
        "licenses": ("id", "product", "sku", "subscription_id", "assigned_to", "monthly_cost", "currency",
                     "assigned_on", "last_active_on", "status"),
        "devices": ("id", "kind", "serial", "imei", "model", "os", "os_version", "assigned_to", "line_id",
                    "ownership", "status", "mdm_enrolled", "compliance_state", "encrypted", "enrolled_on",
                    "last_check_in_at"),
        "device_apps": ("device_id", "app_id", "name", "version"),
    }

    #: Waits and the token clock; tests replace them to run without waiting.
    sleep: t.Callable[[float], None] = time.sleep
    clock: t.Callable[[], float] = time.monotonic

    def __init__(self, source: str, settings: dict, base_dir: Path) -> None:
        self.source = source
        self.settings = settings
        self.base_dir = base_dir
        self.tenant = settings["tenant_id"]
        self.graph_url = settings.get("graph_url", GRAPH_URL)
        self.token_url = settings.get("token_url", TOKEN_URL).replace("{tenant_id}", quote(self.tenant))
        self.person_id = settings.get("person_id", "userPrincipalName")
        self.prices: dict[str, float] = settings.get("license_prices", {})
        self.products: dict[str, str] = settings.get("license_products", {})
        self.currency = settings.get("currency", "USD")
        self.read_licenses = settings.get("licenses", True)
        self.read_devices = settings.get("devices", True)
        self.read_apps = settings.get("apps", True)
        self.read_teams_activity = settings.get("teams_activity", True)
        self.read_managers = settings.get("manager", True)
        self._managers_expanded = False   # whether Graph served the users with their managers
        self._sku_products: dict[str, str] = {}   # SKU part number → product, from /subscribedSkus
        self._sku_plans: dict[str, dict[str, str]] = {}   # skuId → {servicePlanId: servicePlanName}
        self._teams_skus: dict[str, bool] = {}   # skuId of a SKU with Teams → whether Teams-only
        self._lapsed: set[str] = set()   # skuIds whose every seat is suspended or locked out: unbilled
        self.api: ApiClient | None = None

    # -- collect ------------------------------------------------------------------------------
    def collect(self) -> SourceData:
        client_secret = secret(self.settings, "client_secret", self.source, self.base_dir)
        tokens = ClientCredentialsToken(
            self.token_url, self.settings["client_id"], client_secret,
            self.settings.get("scope", SCOPE), timeout=self.settings.get("timeout", 30),
            clock=type(self).clock)
        self.api = ApiClient(self.graph_url, auth=tokens, source=self.source,
                             timeout=self.settings.get("timeout", 30),
                             max_retries=self.settings.get("max_retries", 5),
                             max_retry_after=self.settings.get("max_retry_after", 120),
                             sleep=type(self).sleep)
        data = SourceData()
        with self.api:
            skus = self._skus(data) if self.read_licenses else None
            teams = self._teams_activity(data) if skus is not None and self.read_teams_activity else {}
            self._users(data, skus, teams)
            if self.read_devices:
                self._devices(data)
            if self.read_apps:
                self._apps(data)
        log.info("%s: %d requests, %d retries, %d pages, %d tokens", self.source, self.api.requests,
                 self.api.retries, self.api.pages, tokens.fetches)
        return data

    def _list(self, path: str, params: dict | None, data: SourceData, origin: str,
              entity: str) -> t.Iterator[tuple[int, dict]]:
        """Every record of a Graph collection, following @odata.nextLink; (position, record).

        Records are hashed as they come, so the manifest can say what Graph sent.
        """
        digest = hashlib.sha256()
        url: str | None = path
        seen: set[str] = set()
        n = 0
        while url is not None:
            try:
                body = self.api.get_json(url, params)
            except ApiError as exc:
                raise self._explain(exc, path) from None
            values = body.get("value")
            if not isinstance(values, list):
                raise CollectError(f"source '{self.source}': {origin}: the response has no 'value' list "
                                   "(not a Graph collection).")
            for record in values:
                n += 1
                digest.update(json.dumps(record, sort_keys=True).encode())
                if not isinstance(record, dict):
                    data.rejects.append(RawReject(origin, n, "", json.dumps(record)[:200],
                                                  "expected a JSON object", entity))
                    continue
                yield n, record
            link = body.get("@odata.nextLink")
            if link is not None and (not isinstance(link, str) or link in seen):
                raise CollectError(f"source '{self.source}': {origin}: Graph sent a next-page link "
                                   "it had already sent; stopping rather than reading forever.")
            if link is not None:
                seen.add(link)
            url, params = link, None
        data.inputs[origin] = digest.hexdigest()

    def _explain(self, exc: ApiError, path: str) -> ApiError:
        """A refused call says which permission it needs."""
        if exc.status == 403:
            needed = next((p for k, p in PERMISSIONS.items() if path.startswith(k)), None)
            if needed:
                return ApiError(f"{exc} The app registration needs the application permission "
                                f"{needed}, with admin consent.", exc.status, exc.code)
        return exc

    # -- subscriptions --------------------------------------------------------------------------
    def _skus(self, data: SourceData) -> dict[str, str]:
        origin = "GET /subscribedSkus"
        subscriptions = self._subscriptions(data)
        renewals = _renewals(subscriptions or [])
        rows: dict[str, list] = {k: [] for k in ("id", "product", "sku", "prepaid_units", "consumed_units",
                                                  "unit_cost", "currency", "renews_on", ROW_COLUMN)}
        names: dict[str, str] = {}
        unaccounted: list[str] = []     # SKUs whose enabled seats the subscriptions do not explain
        unsaid: list[str] = []          # SKUs with an enabled subscription not saying trial or seats
        for n, sku in self._list("subscribedSkus", {"$select": ",".join(SKU_FIELDS)}, data, origin,
                                 "subscriptions"):
            part = _text(sku.get("skuPartNumber"))
            if sku.get("skuId") and part:
                names[str(sku["skuId"])] = part
                self._sku_products[part] = self._product(part, sku.get("servicePlans"))
                plans = self._sku_plans[str(sku["skuId"])] = {
                    str(p["servicePlanId"]): str(p.get("servicePlanName") or "")
                    for p in sku.get("servicePlans") or []
                    if isinstance(p, dict) and p.get("servicePlanId")}
                if any(name.upper().startswith(TEAMS_PLAN_PREFIXES) for name in plans.values()):
                    self._teams_skus[str(sku["skuId"])] = _teams_only(part, list(plans.values()))
            prepaid = sku.get("prepaidUnits")
            enabled = prepaid.get("enabled") if isinstance(prepaid, dict) else None
            if _lapsed(prepaid):
                self._lapsed.add(str(sku.get("skuId")))
            bought = None
            if subscriptions is not None and _count(enabled) is not None:
                bought, in_subscriptions = _seats_bought(_text(sku.get("skuId")), subscriptions)
                if in_subscriptions is None:
                    unsaid.append(part or str(sku.get("skuId")))
                elif in_subscriptions != enabled:
                    unaccounted.append(f"{part or sku.get('skuId')} ({enabled} enabled, "
                                       f"{in_subscriptions} in its enabled subscriptions)")
                    bought = None
            rows["id"].append(_text(sku.get("skuId")))
            rows["product"].append(self._sku_products.get(part or "", "microsoft365"))
            rows["sku"].append(part)
            rows["prepaid_units"].append(_text(bought))
            rows["consumed_units"].append(_text(sku.get("consumedUnits")))
            rows["unit_cost"].append(self._price(part))
            rows["currency"].append(self.currency)
            rows["renews_on"].append(renewals.get(str(sku.get("skuId"))))
            rows[ROW_COLUMN].append(n)
        data.batches.append(RawBatch("subscriptions", _table(rows), origin))
        if unaccounted:
            data.warnings.append(f"{origin}: the tenant's enabled subscriptions do not account for the "
                                 f"enabled seats of {', '.join(unaccounted)}: the seats bought cannot be "
                                 "told from a trial's, so prepaid_units is empty (unknown)")
        if unsaid:
            data.warnings.append(f"GET /directory/subscriptions: an enabled subscription of "
                                 f"{', '.join(unsaid)} without isTrial or totalLicenses: the seats bought "
                                 "cannot be told from a trial's, so prepaid_units is empty (unknown)")
        return names

    def _subscriptions(self, data: SourceData) -> list[dict] | None:
        """The tenant's commercial subscriptions (``/directory/subscriptions``); None, with a
        warning, when the app may not read them."""
        origin = "GET /directory/subscriptions"
        try:
            return [sub for _, sub in self._list("directory/subscriptions",
                                                 {"$select": ",".join(SUBSCRIPTION_FIELDS)},
                                                 data, origin, "subscriptions")]
        except ApiError as exc:
            if exc.status != 403:
                raise
            data.warnings.append(f"{origin}: Graph refused the tenant's subscriptions (it needs "
                                 "Organization.Read.All): subscriptions' renews_on and prepaid_units are "
                                 "empty (unknown: prepaidUnits.enabled counts trial seats with the seats "
                                 "bought, and only the subscriptions tell them apart)")
            return None

    def _product(self, part: str, plans: object) -> str:
        """The product a SKU is counted under: as configured, else teams when it carries Teams."""
        if part in self.products:
            return self.products[part]
        names = [str(p.get("servicePlanName", "")).upper() for p in plans or [] if isinstance(p, dict)]
        if any(n.startswith(("TEAMS", "MCOEV")) for n in names) or part.upper().startswith("MCOEV"):
            return "teams"
        return "microsoft365"

    def _price(self, part: str | None) -> str | None:
        return None if part is None or part not in self.prices else text_value(self.prices[part], False)

    # -- Teams activity ---------------------------------------------------------------------------
    def _teams_activity(self, data: SourceData) -> dict[str, str]:
        """Graph user id (lower case) → the day of the user's last Teams activity, from the Teams
        user activity report; empty, with a warning, when the app may not read reports or the
        tenant conceals user names in them."""
        try:
            body = self.api.get_download(TEAMS_REPORT)
        except ApiError as exc:
            if exc.status != 403:
                raise self._explain(exc, TEAMS_REPORT) from None
            data.warnings.append(f"{TEAMS_REPORT_ORIGIN}: Graph refused the Teams activity report "
                                 f"({exc.code or 'HTTP 403'}; it needs Reports.Read.All): Teams licences' "
                                 "last_active_on has no Teams activity date")
            return {}
        data.inputs[TEAMS_REPORT_ORIGIN] = hashlib.sha256(body).hexdigest()
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise CollectError(f"source '{self.source}': {TEAMS_REPORT_ORIGIN}: the report is not "
                               "UTF-8 text (not the CSV Graph documents).") from None
        reader = csv.DictReader(io.StringIO(text))
        missing = [c for c in ("User Id", "Last Activity Date") if c not in (reader.fieldnames or [])]
        if missing:
            raise CollectError(f"source '{self.source}': {TEAMS_REPORT_ORIGIN}: the report has no "
                               f"column(s) {', '.join(missing)} (columns: "
                               f"{', '.join(reader.fieldnames or []) or 'none'}).")
        found: dict[str, str] = {}
        concealed = unreadable = 0
        for row in reader:
            if (row.get("Is Deleted") or "").strip().lower() == "true":
                continue
            user_id = (row.get("User Id") or "").strip().lower()
            day = (row.get("Last Activity Date") or "").strip()
            if not user_id or user_id == CONCEALED_ID:
                concealed += 1
                continue
            if not day:
                continue            # no Teams activity on record
            if _date_value(day) is None:
                unreadable += 1
                continue
            found[user_id] = day
        if concealed:
            data.warnings.append(
                f"{TEAMS_REPORT_ORIGIN}: {concealed} user(s) concealed in the report (the tenant hides "
                "user names in usage reports: Microsoft 365 admin center > Settings > Org settings > "
                "Reports): their Teams activity cannot be tied to their licences")
        if unreadable:
            data.warnings.append(f"{TEAMS_REPORT_ORIGIN}: {unreadable} Last Activity Date value(s) that "
                                 "are not dates were left out")
        return found

    # -- people and licences --------------------------------------------------------------------
    def _users(self, data: SourceData, skus: dict[str, str] | None, teams: dict[str, str]) -> None:
        origin = "GET /users"
        people: dict[str, list] = {k: [] for k in (
            "id", "name", "kind", "email", "upn", "employee_id", "department", "cost_center", "country",
            "role", "status", "hired_on", "terminated_on", "manager_id", ROW_COLUMN)}
        licenses: dict[str, list] = {k: [] for k in (
            "id", "product", "sku", "subscription_id", "assigned_to", "monthly_cost", "currency",
            "assigned_on", "last_active_on", "status", ROW_COLUMN)}
        today = dt.datetime.now(dt.UTC).date()
        fallback = 0
        unpriced: set[str] = set()
        unknown_skus: set[str] = set()
        kinds: dict[str, int] = {}
        person_of: dict[str, str | None] = {}    # Graph user id (lower case) → people.id
        contacts = 0
        for n, user in self._user_records(data, origin):
            graph_id = _text(user.get("id"))
            if graph_id is None:
                data.rejects.append(RawReject(origin, n, "id", "", "a Graph user without an id", "people"))
                continue
            upn = _text(user.get("userPrincipalName"))
            person = _text(user.get(self.person_id))
            if person is None and self.person_id == "employeeId":
                person, fallback = upn, fallback + 1
            person_of[graph_id.lower()] = person
            manager = user.get("manager") if self._managers_expanded else None
            manager_id = _text(manager.get("id")) if isinstance(manager, dict) else None
            if manager_id is not None and str(manager.get("@odata.type") or "").lower() == ORG_CONTACT:
                contacts += 1
            assigned = [a for a in user.get("assignedLicenses") or [] if isinstance(a, dict)
                        and _text(a.get("skuId")) is not None]
            kind = self._kind(user, [str(a["skuId"]) for a in assigned], skus)
            kinds[kind] = kinds.get(kind, 0) + 1
            enabled = user.get("accountEnabled")
            leave = _text(user.get(LEAVE_FIELD))
            left_on = _date(leave)
            left = _date_value(left_on)
            if kind not in HUMAN_KINDS:
                # A resource account is a disabled user by design, and a room or a shared device
                # employs no one: none of them is a leaver, whatever accountEnabled says.
                status = "active"
            elif left is not None and left <= today:
                status = "terminated"
            elif enabled is None:
                status = None
            else:
                status = "active" if enabled is True else "terminated"
            org = user.get("employeeOrgData")
            people["id"].append(person)
            people["name"].append(_text(user.get("displayName")))
            people["kind"].append(kind)
            people["email"].append(_text(user.get("mail")))
            people["upn"].append(upn)
            people["employee_id"].append(_text(user.get("employeeId")))
            people["department"].append(_text(user.get("department")))
            people["cost_center"].append(_text(org.get("costCenter")) if isinstance(org, dict) else None)
            people["country"].append(_text(user.get("usageLocation")))
            people["role"].append(_text(user.get("jobTitle")))
            people["status"].append(status)
            people["hired_on"].append(_date(_text(user.get("employeeHireDate"))))
            people["terminated_on"].append(left_on)
            people["manager_id"].append(manager_id)    # the manager's Graph id until all are read
            people[ROW_COLUMN].append(n)
            if skus is None:
                continue
            signed_in = _last_sign_in(user.get(SIGN_IN_FIELD))
            teams_day = teams.get(graph_id.lower())
            held = [str(a["skuId"]) for a in assigned]
            for lic in assigned:
                sku_id = str(lic["skuId"])
                part = skus.get(sku_id)
                if part is None:
                    unknown_skus.add(sku_id)
                elif part not in self.prices and sku_id not in self._lapsed:
                    unpriced.add(part)
                product = self._sku_products.get(part or "", "microsoft365")
                if kind == "resource_account":
                    lic_status = "active"   # its licence works while sign-in is blocked
                else:
                    lic_status = None if enabled is None else "active" if enabled else "disabled"
                licenses["id"].append(f"{graph_id}:{sku_id}")
                licenses["product"].append(product)
                licenses["sku"].append(part)
                licenses["subscription_id"].append(sku_id)
                licenses["assigned_to"].append(person)
                # A seat of a subscription that has lapsed (cancelled, or past its grace period)
                # is billed no more: whoever still holds it, removing it saves nothing.
                licenses["monthly_cost"].append("0" if sku_id in self._lapsed else self._price(part))
                licenses["currency"].append(self.currency)
                licenses["assigned_on"].append(
                    self._assigned_on(sku_id, lic, held, user.get("assignedPlans")))
                licenses["last_active_on"].append(self._last_active(sku_id, signed_in, teams_day))
                licenses["status"].append(lic_status)
                licenses[ROW_COLUMN].append(n)
        unknown = _name_managers(people["manager_id"], person_of)
        data.batches.append(RawBatch("people", _table(people), origin))
        if skus is not None:
            data.batches.append(RawBatch("licenses", _table(licenses), origin))
        others = {k: v for k, v in sorted(kinds.items()) if k != "person"}
        if others:
            log.info("%s: accounts that are not people: %s", self.source,
                     ", ".join(f"{v} {k}" for k, v in others.items()))
        if fallback:
            data.warnings.append(f"{fallback} user(s) without an employeeId: their people.id is their "
                                 "userPrincipalName")
        if contacts:
            data.warnings.append(f"{contacts} user(s) whose manager is an organisational contact, not a "
                                 "user: no person of the estate, so their manager_id keeps the contact's "
                                 "Graph id, reported unresolved, and their manager is unknown")
        if unknown > contacts:
            data.warnings.append(f"{unknown - contacts} user(s) whose manager is no user read here with a "
                                 f"{self.person_id}: their manager_id keeps the manager's Graph id, "
                                 "reported unresolved, and their manager is unknown")
        if unpriced:
            data.warnings.append(f"no price in license_prices for SKU(s) {', '.join(sorted(unpriced))}: "
                                 "their licences' monthly_cost is empty")
        if unknown_skus:
            data.warnings.append(f"licence(s) of SKU id(s) {', '.join(sorted(unknown_skus))} that "
                                 "/subscribedSkus does not list: their sku is empty")

    def _last_active(self, sku_id: str, signed_in: str | None, teams_day: str | None) -> str | None:
        """A licence's last_active_on: the last sign-in, and Teams activity where it tells.

        A Teams-only SKU (Teams Phone, a Calling Plan, Audio Conferencing, Teams Premium, a
        Teams Rooms SKU) is used through Teams: its Teams activity is its use, with or without a
        sign-in date. A suite with Teams (Microsoft 365 E3/E5, Office 365 E3) is used through
        Outlook, SharePoint, OneDrive and the Office apps too: someone who only reads mail has an
        old Teams date or none. Its Teams date may make a sign-in date later, never stand alone:
        without a sign-in date (no Entra ID P1/P2, none recorded) its last use is unknown."""
        teams_only = self._teams_skus.get(sku_id)
        if teams_only is None or (not teams_only and signed_in is None):
            return signed_in
        return _latest(signed_in, teams_day)

    def _kind(self, user: dict, held: list[str], skus: dict[str, str] | None) -> str:
        """people.kind from the SKUs and service plans an account holds, then its userType."""
        if skus is not None:
            parts = [skus.get(s, "").upper() for s in held]
            plans = [name.upper() for s in held for name in self._sku_plans.get(s, {}).values()]
            for kind, prefixes, plan_names in KIND_BY_SKU:
                if any(p.startswith(prefixes) for p in parts) or any(n in plan_names for n in plans):
                    return kind
        return "guest" if str(user.get("userType") or "").lower() == "guest" else "person"

    def _assigned_on(self, sku_id: str, licence: dict, held: list[str], plans: object) -> str | None:
        """The earliest assignedDateTime Graph gives for the service plans of this SKU alone.

        assignedPlans lists plans, not SKUs: a plan that another SKU of the same user also
        carries (Teams in E5 and in a Teams add-on) cannot say which licence it came with, so
        it is left out; so are plans switched off in this licence and deleted plans."""
        if not isinstance(plans, list):
            return None
        disabled = {str(p) for p in licence.get("disabledPlans") or []}
        others = {pid for s in held if s != sku_id for pid in self._sku_plans.get(s, {})}
        own = set(self._sku_plans.get(sku_id, {})) - others - disabled
        dates = []
        for plan in plans:
            if not isinstance(plan, dict) or str(plan.get("servicePlanId")) not in own:
                continue
            if str(plan.get("capabilityStatus") or "").lower() == "deleted":
                continue
            when = _timestamp(_text(plan.get("assignedDateTime")))
            if when is not None:
                dates.append(when)
        return min(dates).date().isoformat() if dates else None

    def _user_records(self, data: SourceData, origin: str) -> t.Iterator[tuple[int, dict]]:
        """Users, with the optional fields and the manager Graph lets the app read.

        Graph refuses the whole request (403) when one $select field needs a permission or a
        licence the tenant lacks, and the whole request (400 or 403) when it will not expand
        the manager. On such an answer to the first page, each optional field (on a 403) and
        the manager are tried alone on one user to find which ones Graph refuses; the users
        are then read without those, and a warning says what stays empty."""
        optional = tuple(OPTIONAL_USER_FIELDS)
        expand = self.read_managers
        records = self._list("users", self._user_params(optional, expand), data, origin, "people")
        try:
            first = next(records, None)
        except ApiError as exc:
            if exc.status not in REFUSED_STATUSES or (exc.status != 403 and not expand):
                raise
            allowed = tuple(f for f in optional
                            if exc.status != 403 or self._may_read_user_field(f, data, origin))
            expandable = expand and self._may_expand_manager(data, origin)
            if allowed == optional and expandable == expand:
                raise                   # not about what is optional: the users themselves
            expand = expandable
            records = self._list("users", self._user_params(allowed, expand), data, origin, "people")
            first = next(records, None)
        self._managers_expanded = expand
        if first is not None:
            yield first
            yield from records

    @staticmethod
    def _user_params(optional: tuple[str, ...], expand: bool) -> dict[str, str]:
        params = {"$select": ",".join(USER_FIELDS + optional),
                  "$top": str(EXPANDED_PAGE if expand else USERS_PAGE)}
        if expand:
            # Graph pages expanded users by 100 at most: asking for that, the collector follows
            # @odata.nextLink to the end either way (10 times the requests of a plain read).
            params["$expand"] = MANAGER_EXPAND
        return params

    def _may_expand_manager(self, data: SourceData, origin: str) -> bool:
        try:
            self.api.get_json("users", {"$select": "id", "$expand": MANAGER_EXPAND, "$top": "1"})
        except ApiError as exc:
            if exc.status not in REFUSED_STATUSES:
                raise self._explain(exc, "users") from None
            data.warnings.append(f"{origin}: Graph refused to expand the users' manager "
                                 f"({exc.code or f'HTTP {exc.status}'}): people's manager_id is empty "
                                 "(unknown)")
            return False
        return True

    def _may_read_user_field(self, field: str, data: SourceData, origin: str) -> bool:
        try:
            self.api.get_json("users", {"$select": f"id,{field}", "$top": "1"})
        except ApiError as exc:
            if exc.status != 403:
                raise self._explain(exc, "users") from None
            needs, empty = OPTIONAL_USER_FIELDS[field]
            data.warnings.append(f"{origin}: Graph refused {field} ({exc.code or 'HTTP 403'}; {needs}): "
                                 f"{empty}")
            return False
        return True

    # -- devices --------------------------------------------------------------------------------
    def _devices(self, data: SourceData) -> None:
        origin = "GET /deviceManagement/managedDevices"
        rows: dict[str, list] = {k: [] for k in (
            "id", "kind", "serial", "imei", "model", "os", "os_version", "assigned_to", "line_id",
            "ownership", "status", "mdm_enrolled", "compliance_state", "encrypted", "enrolled_on",
            "last_check_in_at", ROW_COLUMN)}
        unknown_agents: dict[str, int] = {}
        for n, d in self._list("deviceManagement/managedDevices", {"$select": ",".join(DEVICE_FIELDS)},
                               data, origin, "devices"):
            imei = _text(d.get("imei"))
            owner = _text(d.get("managedDeviceOwnerType"))
            synced = _text(d.get("lastSyncDateTime"))
            enrolled = _text(d.get("enrolledDateTime"))
            phone = _text(d.get("phoneNumber"))
            rows["id"].append(_text(d.get("id")))
            rows["kind"].append(_device_kind(_text(d.get("operatingSystem")), _text(d.get("model")),
                                             _text(d.get("manufacturer"))))
            rows["serial"].append(_text(d.get("serialNumber")))
            rows["imei"].append(_imei(imei))
            rows["model"].append(_text(d.get("model")))
            rows["os"].append(_text(d.get("operatingSystem")))
            rows["os_version"].append(_text(d.get("osVersion")))
            rows["assigned_to"].append(_text(d.get("userPrincipalName")))
            # The SIM's number as the device reports it: identity resolution ties it to the
            # line with that number (digits compared), or reports it unresolved.
            rows["line_id"].append((phone.strip() or None) if phone else None)
            rows["ownership"].append(owner if owner in ("company", "personal") else None)
            # Graph v1.0 has no lost-mode state (lostModeState is beta only); a retired or wiped
            # device leaves the list: every listed device is in use.
            rows["status"].append("in_use")
            agent = _text(d.get("managementAgent"))
            enrolled_in_mdm = MDM_AGENTS.get((agent or "").lower())
            if enrolled_in_mdm is None:
                unknown_agents[agent or ""] = unknown_agents.get(agent or "", 0) + 1
            rows["mdm_enrolled"].append(enrolled_in_mdm)
            # As Intune gives it; the engine normalises the values at collect time.
            rows["compliance_state"].append(_text(d.get("complianceState")))
            rows["encrypted"].append(text_value(d.get("isEncrypted"), False))
            rows["enrolled_on"].append(None if enrolled in (None, NEVER) else _date(enrolled))
            rows["last_check_in_at"].append(None if synced == NEVER else synced)
            rows[ROW_COLUMN].append(n)
        data.batches.append(RawBatch("devices", _table(rows), origin))
        if unknown_agents:
            named = ", ".join(sorted(a for a in unknown_agents if a))
            data.warnings.append(f"{origin}: {sum(unknown_agents.values())} device(s) with no "
                                 "managementAgent or one Graph does not document"
                                 f"{f' ({named})' if named else ''}: their mdm_enrolled is empty (unknown)")

    def _apps(self, data: SourceData) -> None:
        origin = "GET /deviceManagement/detectedApps"
        found: dict[tuple[str, str], set[str]] = {}
        rows_of: dict[tuple[str, str], int] = {}
        for n, app in self._list("deviceManagement/detectedApps", None, data, origin, "device_apps"):
            app_id, name = _text(app.get("id")), _text(app.get("displayName"))
            if app_id is None or name is None:
                data.rejects.append(RawReject(origin, n, "id" if app_id is None else "displayName",
                                              json.dumps(app)[:200], "a discovered app without an id "
                                              "or a name", "device_apps"))
                continue
            if app.get("deviceCount") == 0:
                continue
            path = f"deviceManagement/detectedApps/{quote(app_id, safe='')}/managedDevices"
            for _, device in self._list(path, {"$select": "id"}, data, f"{origin}/{app_id}/managedDevices",
                                        "device_apps"):
                device_id = _text(device.get("id"))
                if device_id is None:
                    continue
                key = (device_id, name)
                version = _text(app.get("version"))
                found.setdefault(key, set()).update([version] if version else [])
                rows_of.setdefault(key, n)
        # Per-app inputs would swamp the manifest: one digest of them all.
        per_app = sorted(k for k in data.inputs if k.startswith(f"{origin}/"))
        if per_app:
            digest = hashlib.sha256("".join(data.inputs.pop(k) for k in per_app).encode())
            data.inputs[f"{origin}/{{id}}/managedDevices"] = digest.hexdigest()
        rows: dict[str, list] = {"device_id": [], "app_id": [], "name": [], "version": [], ROW_COLUMN: []}
        for (device_id, name), versions in sorted(found.items()):
            rows["device_id"].append(device_id)
            rows["app_id"].append(name)
            rows["name"].append(name)
            rows["version"].append("; ".join(sorted(versions)) or None)
            rows[ROW_COLUMN].append(rows_of[device_id, name])
        data.batches.append(RawBatch("device_apps", _table(rows), origin))


# -- values ------------------------------------------------------------------------------------
def _text(value: object) -> str | None:
    """A Graph value as text; empty strings are no value."""
    if value is None or value == "":
        return None
    return text_value(value, False)


def _date(value: str | None) -> str | None:
    """The UTC date of a Graph date-time; the text as given when it is not one (the engine rejects it)."""
    if value is None:
        return None
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(dt.UTC)
    return stamp.date().isoformat()


def _date_value(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _imei(value: str | None) -> str | None:
    """iOS reports the IMEI in groups ("35 209900 176148 1"); the digits are the IMEI."""
    if value is None:
        return None
    digits = value.replace(" ", "")
    return digits if digits.isdigit() else value


def _device_kind(os_name: str | None, model: str | None, maker: str | None) -> str | None:
    """devices.kind from Intune's operatingSystem, model and manufacturer (docs: "devices")."""
    os_l, model_l, maker_l = (os_name or "").lower(), (model or "").lower(), (maker or "").lower()
    if os_l.startswith("windows") or os_l in ("macos", "mac os x", "linux"):
        return "computer"
    android = os_l.startswith("android")
    if android and _teams_device(model_l, maker_l):
        return "desk_phone"
    if os_l == "ipados" or "ipad" in model_l or "tablet" in model_l or model_l.startswith("sm-t"):
        return "tablet"
    if os_l == "ios" or android:
        return "smartphone"
    return None


def _teams_device(model: str, maker: str) -> bool:
    """Whether an Android device (model and manufacturer in lower case) is a Teams device."""
    # The maker's first word, so that a company form ("Cisco Systems, Inc.") still reads as Cisco.
    first = next(iter(re.findall(r"[a-z0-9]+", maker)), "")
    words = DESK_PHONE_MODEL_WORDS + DESK_PHONE_MODEL_WORDS_OF.get(first, ())
    return first in DESK_PHONE_MAKERS or any(w in model for w in words)


def _timestamp(value: str | None) -> dt.datetime | None:
    """A Graph date-time as an aware UTC datetime, or None (absent, Graph's "never", unreadable)."""
    if value is None or value == NEVER:
        return None
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp.replace(tzinfo=dt.UTC) if stamp.tzinfo is None else stamp.astimezone(dt.UTC)


def _last_sign_in(activity: object) -> str | None:
    """The UTC day of a user's last successful sign-in, from signInActivity.

    lastSuccessfulSignInDateTime counts interactive and non-interactive sign-ins that worked.
    The other two dates count attempts, failed ones too (a password spray on a dormant account
    is an attempt): they are used only when they predate the day Graph began recording
    successes, when they are the last trace of the account Graph has."""
    if not isinstance(activity, dict):
        return None
    success = _timestamp(_text(activity.get("lastSuccessfulSignInDateTime")))
    if success is not None:
        return success.date().isoformat()
    attempts = [_timestamp(_text(activity.get(k)))
                for k in ("lastSignInDateTime", "lastNonInteractiveSignInDateTime")]
    older = [a for a in attempts if a is not None and a.date() < SUCCESS_TRACKED_SINCE]
    return max(older).date().isoformat() if older else None


def _renewals(subscriptions: list[dict]) -> dict[str, str]:
    """skuId → the UTC day its earliest paid, enabled commercial subscription ends its term
    (``nextLifecycleDateTime``: it renews then, or lapses if not renewed)."""
    ends: dict[str, dt.datetime] = {}
    for sub in subscriptions:
        # A trial's date is when the trial ends, and a subscription in Warning or Suspended has
        # already passed its term: neither is a renewal.
        if str(sub.get("status") or "") != "Enabled" or sub.get("isTrial") is not False:
            continue
        sku_id, end = _text(sub.get("skuId")), _timestamp(_text(sub.get("nextLifecycleDateTime")))
        if sku_id is not None and end is not None and (sku_id not in ends or end < ends[sku_id]):
            ends[sku_id] = end
    return {sku: end.date().isoformat() for sku, end in ends.items()}


def _seats_bought(sku_id: str | None, subscriptions: list[dict]) -> tuple[int | None, int | None]:
    """A SKU's seats bought and all the seats of its enabled subscriptions, trials included.

    prepaidUnits.enabled counts the seats of the SKU's enabled subscriptions, a free trial's
    with the paid ones; the seats bought are the paid subscriptions' (``totalLicenses`` where
    ``isTrial`` is false). Both are unknown (None) when an enabled subscription does not say
    whether it is a trial or how many seats it holds."""
    bought = total = 0
    for sub in subscriptions:
        if _text(sub.get("skuId")) != sku_id or str(sub.get("status") or "") != "Enabled":
            continue
        trial, seats = sub.get("isTrial"), _count(sub.get("totalLicenses"))
        if not isinstance(trial, bool) or seats is None:
            return None, None
        total += seats
        bought += 0 if trial else seats
    return bought, total


def _lapsed(prepaid: object) -> bool:
    """Whether a SKU's prepaidUnits are all suspended or locked out: its subscriptions were
    cancelled or ended past their grace period (Warning), so none of its seats is billed."""
    if not isinstance(prepaid, dict):
        return False
    units = {k: _count(prepaid.get(k)) for k in ("enabled", "warning", "suspended", "lockedOut")}
    return (units["enabled"] == 0 and units["warning"] == 0
            and (units["suspended"] or 0) + (units["lockedOut"] or 0) > 0)


def _count(value: object) -> int | None:
    """A JSON integer (not a boolean), or None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _teams_only(part: str | None, plans: list[str]) -> bool:
    """Whether a SKU (part number, service plan names) is used through Teams alone."""
    if (part or "").upper().startswith(TEAMS_ROOMS_SKUS):
        return True
    names = [n.upper() for n in plans]
    return bool(names) and all(n.startswith(TEAMS_PLAN_PREFIXES) or n in TEAMS_ONLY_PLANS for n in names)


def _name_managers(managers: list[str | None], person_of: dict[str, str | None]) -> int:
    """Each manager's Graph id → that user's people.id, in place; how many are no person read.

    A manager is named once every user is read, as a manager may come on a later page. One
    who is not among them (an organisational contact), or has no people.id, keeps the Graph id:
    identity resolution reports it unresolved and no one is invented in its place."""
    unknown = 0
    for i, graph_id in enumerate(managers):
        if graph_id is None:
            continue
        person = person_of.get(graph_id.lower())
        if person is None:
            unknown += 1
        else:
            managers[i] = person
    return unknown


def _latest(*days: str | None) -> str | None:
    """The latest of some ISO dates (None when there is none)."""
    known = [d for d in days if d is not None]
    return max(known) if known else None


def _table(columns: dict[str, list]) -> pa.Table:
    arrays = {k: pa.array(v, pa.int64() if k == ROW_COLUMN else pa.string()) for k, v in columns.items()}
    return pa.table(arrays)
