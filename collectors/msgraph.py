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

- ``/users`` → **people**, and each user's ``assignedLicenses`` → **licenses**;
- ``/subscribedSkus`` → **subscriptions** (and the SKU names of the licences);
- Intune ``/deviceManagement/managedDevices`` → **devices**;
- Intune ``/deviceManagement/detectedApps`` and, per app, its
  ``managedDevices`` → **device_apps**. Graph v1.0 has no "apps of a device"
  call, so this is one call per discovered app (apps no device has are
  skipped), the fewest v1.0 offers.

Every list is read to its end through ``@odata.nextLink``; throttling (429 and
503 with ``Retry-After``) and token expiry are handled by the REST kit
(:mod:`.http_api`). Values go to the engine as text, so it validates them like
any source; a record Graph should never send (a user without ``id``) is a
reject of its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
import typing as t
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa

from dialtone.engine.collector_api import ROW_COLUMN, RawBatch, RawReject, SourceData, text_value
from dialtone.engine.errors import CollectError

from .http_api import ApiClient, ApiError, ClientCredentialsToken, secret, secret_schema, secret_setting_names

log = logging.getLogger(__name__)

GRAPH_URL = "https://graph.microsoft.com/v1.0"
TOKEN_URL = "https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token"
SCOPE = "https://graph.microsoft.com/.default"
#: The largest page ``/users`` serves.
USERS_PAGE = 999
#: Graph's way of saying "never" in a date-time.
NEVER = "0001-01-01T00:00:00Z"

USER_FIELDS = ("id", "userPrincipalName", "displayName", "mail", "employeeId", "department",
               "jobTitle", "accountEnabled", "usageLocation", "employeeHireDate", "employeeOrgData",
               "assignedLicenses")
#: Needs User-LifeCycleInfo.Read.All besides User.Read.All; read when granted.
LEAVE_FIELD = "employeeLeaveDateTime"
SKU_FIELDS = ("skuId", "skuPartNumber", "prepaidUnits", "consumedUnits", "servicePlans")
DEVICE_FIELDS = ("id", "serialNumber", "imei", "model", "operatingSystem", "osVersion", "userPrincipalName",
                 "managedDeviceOwnerType", "complianceState", "isEncrypted", "lastSyncDateTime")
PERSON_IDS = ("userPrincipalName", "employeeId", "mail", "id")

#: The application permission each call needs, for the message when it is refused.
PERMISSIONS = {
    "users": "User.Read.All",
    "subscribedSkus": "LicenseAssignment.Read.All (or Organization.Read.All)",
    "deviceManagement/managedDevices": "DeviceManagementManagedDevices.Read.All",
    "deviceManagement/detectedApps": "DeviceManagementManagedDevices.Read.All",
}


class GraphCollector:
    """Microsoft Graph v1.0 (Entra ID users and licences, Intune devices and apps)."""

    config_schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "required": ["tenant_id", "client_id"],
        "properties": {
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
            "timeout": {"type": "number", "exclusiveMinimum": 0},
            "max_retries": {"type": "integer", "minimum": 0, "maximum": 20},
            "max_retry_after": {"type": "number", "minimum": 0},
        },
    }
    secret_settings = secret_setting_names("client_secret")

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
        self._sku_products: dict[str, str] = {}   # SKU part number → product, from /subscribedSkus
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
            self._users(data, skus)
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
        rows: dict[str, list] = {k: [] for k in ("id", "product", "sku", "prepaid_units", "consumed_units",
                                                  "unit_cost", "currency", ROW_COLUMN)}
        names: dict[str, str] = {}
        for n, sku in self._list("subscribedSkus", {"$select": ",".join(SKU_FIELDS)}, data, origin,
                                 "subscriptions"):
            part = _text(sku.get("skuPartNumber"))
            if sku.get("skuId") and part:
                names[str(sku["skuId"])] = part
                self._sku_products[part] = self._product(part, sku.get("servicePlans"))
            prepaid = sku.get("prepaidUnits")
            rows["id"].append(_text(sku.get("skuId")))
            rows["product"].append(self._sku_products.get(part or "", "microsoft365"))
            rows["sku"].append(part)
            rows["prepaid_units"].append(_text(prepaid.get("enabled")) if isinstance(prepaid, dict) else None)
            rows["consumed_units"].append(_text(sku.get("consumedUnits")))
            rows["unit_cost"].append(self._price(part))
            rows["currency"].append(self.currency)
            rows[ROW_COLUMN].append(n)
        data.batches.append(RawBatch("subscriptions", _table(rows), origin))
        return names

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

    # -- people and licences --------------------------------------------------------------------
    def _users(self, data: SourceData, skus: dict[str, str] | None) -> None:
        origin = "GET /users"
        people: dict[str, list] = {k: [] for k in (
            "id", "name", "email", "upn", "employee_id", "department", "cost_center", "country",
            "role", "status", "hired_on", "terminated_on", ROW_COLUMN)}
        licenses: dict[str, list] = {k: [] for k in (
            "id", "product", "sku", "subscription_id", "assigned_to", "monthly_cost", "currency",
            "status", ROW_COLUMN)}
        today = dt.datetime.now(dt.UTC).date()
        fallback = 0
        unpriced: set[str] = set()
        unknown_skus: set[str] = set()
        for n, user in self._user_records(data, origin, with_leave=True):
            graph_id = _text(user.get("id"))
            if graph_id is None:
                data.rejects.append(RawReject(origin, n, "id", "", "a Graph user without an id", "people"))
                continue
            upn = _text(user.get("userPrincipalName"))
            person = _text(user.get(self.person_id))
            if person is None and self.person_id == "employeeId":
                person, fallback = upn, fallback + 1
            enabled = user.get("accountEnabled")
            leave = _text(user.get(LEAVE_FIELD))
            left_on = _date(leave)
            left = _date_value(left_on)
            if left is not None and left <= today:
                status = "terminated"
            elif enabled is None:
                status = None
            else:
                status = "active" if enabled is True else "terminated"
            org = user.get("employeeOrgData")
            people["id"].append(person)
            people["name"].append(_text(user.get("displayName")))
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
            people[ROW_COLUMN].append(n)
            if skus is None:
                continue
            for assigned in user.get("assignedLicenses") or []:
                sku_id = _text(assigned.get("skuId")) if isinstance(assigned, dict) else None
                if sku_id is None:
                    continue
                part = skus.get(sku_id)
                if part is None:
                    unknown_skus.add(sku_id)
                elif part not in self.prices:
                    unpriced.add(part)
                licenses["id"].append(f"{graph_id}:{sku_id}")
                licenses["product"].append(self._sku_products.get(part or "", "microsoft365"))
                licenses["sku"].append(part)
                licenses["subscription_id"].append(sku_id)
                licenses["assigned_to"].append(person)
                licenses["monthly_cost"].append(self._price(part))
                licenses["currency"].append(self.currency)
                licenses["status"].append(None if enabled is None else "active" if enabled else "disabled")
                licenses[ROW_COLUMN].append(n)
        data.batches.append(RawBatch("people", _table(people), origin))
        if skus is not None:
            data.batches.append(RawBatch("licenses", _table(licenses), origin))
        if fallback:
            data.warnings.append(f"{fallback} user(s) without an employeeId: their people.id is their "
                                 "userPrincipalName")
        if unpriced:
            data.warnings.append(f"no price in license_prices for SKU(s) {', '.join(sorted(unpriced))}: "
                                 "their licences' monthly_cost is empty")
        if unknown_skus:
            data.warnings.append(f"licence(s) of SKU id(s) {', '.join(sorted(unknown_skus))} that "
                                 "/subscribedSkus does not list: their sku is empty")

    def _user_records(self, data: SourceData, origin: str, with_leave: bool):
        """Users; without the leave date when the app may not read it (a 403 on the first page)."""
        fields = USER_FIELDS + ((LEAVE_FIELD,) if with_leave else ())
        params = {"$select": ",".join(fields), "$top": str(USERS_PAGE)}
        records = self._list("users", params, data, origin, "people")
        try:
            first = next(records, None)
        except ApiError as exc:
            if not with_leave or exc.status != 403:
                raise
            data.warnings.append(f"{origin}: the app may not read {LEAVE_FIELD} (it needs "
                                 "User-LifeCycleInfo.Read.All): people's terminated_on is empty and "
                                 "their status comes from accountEnabled alone")
            yield from self._user_records(data, origin, with_leave=False)
            return
        if first is not None:
            yield first
            yield from records

    # -- devices --------------------------------------------------------------------------------
    def _devices(self, data: SourceData) -> None:
        origin = "GET /deviceManagement/managedDevices"
        rows: dict[str, list] = {k: [] for k in (
            "id", "kind", "serial", "imei", "model", "os", "os_version", "assigned_to", "ownership",
            "status", "mdm_enrolled", "compliance_state", "encrypted", "last_check_in_at", ROW_COLUMN)}
        for n, d in self._list("deviceManagement/managedDevices", {"$select": ",".join(DEVICE_FIELDS)},
                               data, origin, "devices"):
            imei = _text(d.get("imei"))
            owner = _text(d.get("managedDeviceOwnerType"))
            synced = _text(d.get("lastSyncDateTime"))
            rows["id"].append(_text(d.get("id")))
            rows["kind"].append(_kind(_text(d.get("operatingSystem")), _text(d.get("model"))))
            rows["serial"].append(_text(d.get("serialNumber")))
            rows["imei"].append(_imei(imei))
            rows["model"].append(_text(d.get("model")))
            rows["os"].append(_text(d.get("operatingSystem")))
            rows["os_version"].append(_text(d.get("osVersion")))
            rows["assigned_to"].append(_text(d.get("userPrincipalName")))
            rows["ownership"].append(owner if owner in ("company", "personal") else None)
            rows["status"].append("in_use")
            rows["mdm_enrolled"].append("true")
            rows["compliance_state"].append(_text(d.get("complianceState")))
            rows["encrypted"].append(text_value(d.get("isEncrypted"), False))
            rows["last_check_in_at"].append(None if synced == NEVER else synced)
            rows[ROW_COLUMN].append(n)
        data.batches.append(RawBatch("devices", _table(rows), origin))

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


def _kind(os_name: str | None, model: str | None) -> str | None:
    """devices.kind from Intune's operatingSystem and model; computers have no kind."""
    os_l, model_l = (os_name or "").lower(), (model or "").lower()
    if os_l == "ipados" or "ipad" in model_l or "tablet" in model_l or model_l.startswith("sm-t"):
        return "tablet"
    if os_l in ("ios", "android") or os_l.startswith("android"):
        return "smartphone"
    return None


def _table(columns: dict[str, list]) -> pa.Table:
    arrays = {k: pa.array(v, pa.int64() if k == ROW_COLUMN else pa.string()) for k, v in columns.items()}
    return pa.table(arrays)
