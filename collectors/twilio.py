"""The ``twilio`` collector: a Twilio account's phone numbers → ``lines``,
their emergency addresses → ``e911_locations`` and, if asked, their calls →
``calls`` and their calls and messages counted per month → ``usage``.

::

    sources:
      twilio:
        collector: twilio
        account_sid: AC0123456789abcdef0123456789abcdef
        auth_token_env: DIALTONE_TWILIO_TOKEN     # or api_key_sid + api_key_secret_env
        number_prices: {did: 1.15, toll_free: 2.15}
        currency: USD
        usage_months: 3                           # per-number usage from the call and message logs
        call_days: 120                            # the call log of the last 120 days → calls

Reads the REST API 2010-04-01 with HTTP Basic authentication (the Account SID
and its Auth Token, or an API key's SID and secret): the account's
``IncomingPhoneNumbers`` (and its ``TollFree`` subset, to tell toll-free
numbers from DIDs), its ``Addresses``, with ``usage_months`` its ``Calls``
and ``Messages`` of the last complete months, and with ``call_days`` its
``Calls`` of those last days (one read of the Calls log serves both). Lists are read 1,000
records a page, following ``next_page_uri`` until it is null.

Twilio's Usage Records are per account and usage category, not per number, so
they cannot fill ``usage`` (per line and month) honestly and are not read;
per-number usage is counted from the call and message logs instead.

A number's country is not a property of Twilio's IncomingPhoneNumber: it is read
from the number itself, by its country calling code and national prefix
(libphonenumber's metadata, through the ``phonenumbers`` package).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import time
import typing as t
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from requests.auth import HTTPBasicAuth

try:    # the country of a number; without the package lines.country stays empty, with a warning
    import phonenumbers
except ImportError:    # pragma: no cover - the package is installed with Dialtone
    phonenumbers = None

from dialtone.engine.collector_api import (
    ROW_COLUMN,
    RawBatch,
    RawReject,
    SourceData,
    settings_schema,
    text_value,
)
from dialtone.engine.errors import CollectError, ConfigError

from .http_api import (
    ApiClient,
    response_fingerprint,
    secret,
    secret_schema,
    secret_setting_names,
    text_or_none,
)

BASE_URL = "https://api.twilio.com"
API_VERSION = "2010-04-01"
#: The largest page Twilio's list resources give.
PAGE_SIZE = 1000
VENDOR = "twilio"
#: Directions of a call whose Twilio number is the called party (``to``); in the others it is
#: the caller (``from``). In Twilio's words (the Call resource's ``direction``), Elastic SIP
#: Trunking's ``trunking-originating`` is an incoming call from the PSTN to your infrastructure
#: and ``trunking-terminating`` an outgoing one from it to the PSTN.
CALLED_DIRECTIONS = ("inbound", "trunking-originating")
#: Messages in these states never left Twilio: they are not messages sent.
UNSENT = ("failed", "canceled")

LINE_COLUMNS = ("id", "kind", "purpose", "number", "vendor", "account_id", "status", "activated_on",
                "monthly_cost", "currency", "country", "e911_location_id")
LOCATION_COLUMNS = ("id", "address", "room", "city", "region", "postal_code", "country", "validated",
                    "dispatchable")
USAGE_COLUMNS = ("line_id", "period", "voice_minutes", "sms_count", "last_activity_on")
CALL_COLUMNS = ("id", "line_id", "started_at", "duration_s", "direction", "source", "destination",
                "forwarded_from", "disposition", "cost", "currency")
#: Twilio's call directions → the estate's.
CALL_DIRECTIONS = {"inbound": "inbound", "trunking-originating": "inbound", "outbound-api": "outbound",
                   "outbound-dial": "outbound", "trunking-terminating": "outbound"}
#: Twilio's call statuses → the estate's dispositions (the rest, e.g. ``busy``, as they are).
DISPOSITIONS = {"completed": "answered", "no-answer": "no_answer"}


#: The one ``emergency_address_status`` besides ``registered`` and ``unregistered`` that is
#: decided: the registration was refused (its location is not validated). The others
#: (``pending-registration``, ``pending-unregistration``, ``unregistration-failure`` and any
#: state Twilio adds later) are under way or stuck: which address 911 calls carry is not
#: known (validated unknown), never "registered" nor "none".
FAILED_REGISTRATION = "registration-failure"


@dataclass(frozen=True)
class _Registration:
    """A number's emergency address in a state other than registered or unregistered: one
    location row per address and state (``AD…/pending-registration``), the address's own
    row staying that of the numbers registered at it."""
    address_sid: str | None     # the address named (none when unregistering cleared it)
    state: str
    row: int                    # the first number in that state, by position in the list


@dataclass(frozen=True)
class _Call:
    row: int                    # position in the Calls log as read (for rejects and the snapshot)
    record: dict
    line_id: str | None         # the listed number's sid, or None (a number not on the account)
    when: dt.datetime           # start_time (date_created if it never started), UTC
    seconds: int


class TwilioCollector:
    """Twilio phone numbers, emergency addresses and per-number usage."""

    config_schema = settings_schema(
        required=["account_sid"],
        dependentRequired={"number_prices": ["currency"]},
        properties={
            "account_sid": {"type": "string", "pattern": "^AC[0-9a-fA-F]{32}$",
                            "description": "The Account (or subaccount) SID whose numbers are read"},
            **secret_schema("auth_token", "account's Auth Token"),
            "api_key_sid": {"type": "string", "pattern": "^SK[0-9a-fA-F]{32}$",
                            "description": "An API key's SID, instead of the Auth Token"},
            **secret_schema("api_key_secret", "API key's secret"),
            "number_prices": {
                "type": "object", "additionalProperties": False, "minProperties": 1,
                "properties": {"did": {"type": "number", "minimum": 0},
                               "toll_free": {"type": "number", "minimum": 0}},
                "description": "Monthly price of a number, by kind"},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$",
                         "description": "ISO 4217 currency of number_prices"},
            "usage_months": {"type": "integer", "minimum": 0, "maximum": 13,
                             "description": "Complete months of call and message logs to count "
                                            "per number (0: none)"},
            "call_days": {"type": "integer", "minimum": 0, "maximum": 400,
                          "description": "Days of the call log, up to today, to read into calls "
                                         "(0: none)"},
            "base_url": {"type": "string", "pattern": "^https?://",
                         "description": f"REST API host (default {BASE_URL})"},
            "timeout": {"type": "number", "exclusiveMinimum": 0,
                        "description": "Seconds to wait for each answer (default 30)"},
        },
    )
    secret_settings = secret_setting_names("auth_token") + secret_setting_names("api_key_secret")
    #: What a collect can fill (docs/collectors/twilio.md, "What it feeds"); calls and usage only
    #: with call_days and usage_months.
    fills: t.ClassVar[dict[str, tuple[str, ...]]] = {
        "lines": LINE_COLUMNS + ("features",),
        "e911_locations": LOCATION_COLUMNS,
        "usage": USAGE_COLUMNS,
        "calls": CALL_COLUMNS,
    }

    #: How the client waits before a retry, and what day it is; tests replace them.
    sleep: t.ClassVar[t.Callable[[float], None]] = staticmethod(time.sleep)
    today: t.ClassVar[t.Callable[[], dt.date]] = staticmethod(lambda: dt.datetime.now(dt.UTC).date())

    def __init__(self, source: str, settings: dict, base_dir: Path) -> None:
        self.source = source
        self.account_sid = settings["account_sid"]
        token_settings = [k for k in secret_setting_names("auth_token") if k in settings]
        key_settings = [k for k in secret_setting_names("api_key_secret") if k in settings]
        if "api_key_sid" in settings:
            if token_settings:
                raise ConfigError(f"sources.{source}: give either an Auth Token ('{token_settings[0]}') "
                                  "or an API key ('api_key_sid'), not both.")
            self.username = settings["api_key_sid"]
            self.password = secret(settings, "api_key_secret", source, base_dir)
        else:
            if key_settings:
                raise ConfigError(f"sources.{source}.{key_settings[0]}: an API key secret needs "
                                  "'api_key_sid' too.")
            self.username = self.account_sid
            self.password = secret(settings, "auth_token", source, base_dir)
        self.prices = {k: float(v) for k, v in (settings.get("number_prices") or {}).items()}
        self.currency = settings.get("currency")
        self.usage_months = settings.get("usage_months", 0)
        self.call_days = settings.get("call_days", 0)
        self.base_url = settings.get("base_url", BASE_URL)
        self.timeout = settings.get("timeout", 30)

    # -- reading -----------------------------------------------------------------------------
    def collect(self) -> SourceData:
        data = SourceData()
        auth = HTTPBasicAuth(self.username, self.password)
        with ApiClient(self.base_url, auth=auth, source=self.source, timeout=self.timeout,
                       sleep=self.sleep) as api:
            numbers = self._read(api, data, "IncomingPhoneNumbers", "incoming_phone_numbers")
            toll_free = self._read(api, data, "IncomingPhoneNumbers/TollFree", "incoming_phone_numbers")
            addresses = self._read(api, data, "Addresses", "addresses")
            registrations: dict[str, _Registration] = {}
            lines = self.lines(numbers, {n.get("sid") for n in toll_free if isinstance(n, dict)}, data,
                               registrations)
            data.batches.append(RawBatch("lines", lines, "IncomingPhoneNumbers"))
            wanted = {v for v in lines.column("e911_location_id").to_pylist() if v} - set(registrations)
            located, unregistered = self.locations(addresses, wanted, registrations, data)
            data.batches.append(RawBatch("e911_locations", located, "Addresses"))
            data.batches.append(RawBatch("e911_locations", unregistered, "IncomingPhoneNumbers"))
            if self.usage_months or self.call_days:
                # One read of the Calls log for both: from the earlier start, and up to the end
                # of the usage window only when no call of the current month is wanted.
                starts, window = [], {}
                if self.usage_months:
                    start, end = self.window()
                    starts.append(start)
                    window["StartTime<"] = end.isoformat()
                if self.call_days:
                    starts.append(self.today() - dt.timedelta(days=self.call_days))
                    window.pop("StartTime<", None)
                records = self._read(api, data, "Calls", "calls",
                                     {"StartTime>": min(starts).isoformat(), **window})
                calls = self.parse_calls(records, lines, data, "calls" if self.call_days else "usage")
                if self.call_days:
                    data.batches.append(RawBatch("calls", self.calls(calls), "Calls"))
            if self.usage_months:
                messages = self._read(api, data, "Messages", "messages",
                                      {"DateSent>": start.isoformat(), "DateSent<": end.isoformat()})
                data.batches.append(RawBatch("usage", self.usage(lines, calls, messages, data),
                                             "Calls+Messages"))
        return data

    def _read(self, api: ApiClient, data: SourceData, resource: str, key: str,
              filters: dict | None = None) -> list:
        """Every record of one list resource, page after page."""
        path = f"{API_VERSION}/Accounts/{self.account_sid}/{resource}.json"
        records: list = []
        page = api.get_json(path, {**(filters or {}), "PageSize": PAGE_SIZE})
        seen: set[str] = set()
        while True:
            got = page.get(key)
            if got is None:
                # Every list page carries its list, empty or not: one without it is no answer
                # to read as the end of the list (the records after it would silently vanish).
                raise CollectError(f"source '{self.source}': GET {resource}: the answer has no "
                                   f"'{key}' (page {page.get('page', '?')}); nothing collected")
            if not isinstance(got, list):
                raise CollectError(f"source '{self.source}': GET {resource}: '{key}' is a JSON "
                                   f"{type(got).__name__}, not a list")
            records += got
            next_uri = page.get("next_page_uri")
            if not next_uri:
                break
            if next_uri in seen:
                # A link that comes back would page forever: better to stop loudly.
                raise CollectError(f"source '{self.source}': GET {resource}: Twilio returned a "
                                   "next_page_uri it had already given")
            seen.add(next_uri)
            # next_page_uri is relative to the host and carries the filters and page token.
            page = api.get_json(api.origin + next_uri)
        data.inputs[resource] = response_fingerprint(records)
        return records

    def window(self) -> tuple[dt.date, dt.date]:
        """The first day of the earliest month counted, and of the current (uncounted) month."""
        end = self.today().replace(day=1)
        start = end
        for _ in range(self.usage_months):
            start = (start - dt.timedelta(days=1)).replace(day=1)
        return start, end

    # -- mapping -----------------------------------------------------------------------------
    def lines(self, numbers: list, toll_free: set, data: SourceData,
              registrations: dict[str, _Registration] | None = None) -> pa.Table:
        """IncomingPhoneNumbers → line rows, as text; the numbers whose emergency address is
        pending or stuck are added to ``registrations`` by the location id their line names."""
        registrations = {} if registrations is None else registrations
        origin = "IncomingPhoneNumbers"
        rows, positions = [], []
        not_registered: dict[str, int] = {}
        for n, number in enumerate(numbers, start=1):
            if not isinstance(number, dict):
                data.rejects.append(RawReject(origin, n, "", json.dumps(number)[:200],
                                              "expected a JSON object", "lines"))
                continue
            created = number.get("date_created")
            activated = None
            if created not in (None, ""):
                activated = _rfc2822_utc(created)
                if activated is None:
                    data.rejects.append(RawReject(origin, n, "date_created", str(created)[:200],
                                                  "expected an RFC 2822 date-time", "lines"))
                    continue
            kind = "toll_free" if number.get("sid") in toll_free else "did"
            price = self.prices.get(kind)
            emergency = text_or_none(number.get("emergency_address_sid"))
            state = text_or_none(number.get("emergency_address_status"))
            registered = state == "registered" or (
                state is None and number.get("emergency_status") == "Active")
            location = emergency if registered else None
            if emergency and not registered or state not in (None, "registered", "unregistered"):
                why = state or f"emergency_status {number.get('emergency_status')}"
                not_registered[why] = not_registered.get(why, 0) + 1
            sid = text_or_none(number.get("sid"))
            if state not in (None, "registered", "unregistered") and (
                    emergency or sid and state != FAILED_REGISTRATION):
                # Pending, stuck or failed: the line names this registration's own location
                # (a failure without an address is no registration: no location).
                location = f"{emergency or sid}/{state}"
                registrations.setdefault(location, _Registration(emergency, state, n))
            capabilities = number.get("capabilities")
            rows.append({
                "id": sid,
                "kind": kind,
                "purpose": "fax" if number.get("voice_receive_mode") == "fax" else None,
                "number": text_or_none(number.get("phone_number")),
                "vendor": VENDOR,
                "account_id": text_or_none(number.get("account_sid")) or self.account_sid,
                # Owned numbers are listed and billed; a released number leaves the list.
                "status": "active",
                "activated_on": None if activated is None else activated.date().isoformat(),
                "monthly_cost": None if price is None else text_value(price, False),
                "currency": self.currency if price is not None else None,
                "country": _country(text_or_none(number.get("phone_number"))),
                "e911_location_id": location,
                "features": sorted(k for k, v in capabilities.items() if v is True)
                if isinstance(capabilities, dict) else None,
            })
            positions.append(n)
        if phonenumbers is None and rows:
            data.warnings.append(f"{origin}: the phonenumbers package is not installed: lines' country "
                                 "is empty")
        if not_registered:
            states = ", ".join(f"{k}: {v}" for k, v in sorted(not_registered.items()))
            data.warnings.append(f"{origin}: {sum(not_registered.values())} number(s) have an "
                                 f"emergency address that is not registered ({states}); a pending "
                                 "or stuck registration is a location of its own, not validated "
                                 "yet (a failed one: not validated), the others have no "
                                 "e911_location_id")
        columns = {c: pa.array([r[c] for r in rows], pa.string()) for c in LINE_COLUMNS}
        columns["features"] = pa.array([r["features"] for r in rows], pa.list_(pa.string()))
        columns[ROW_COLUMN] = pa.array(positions, pa.int64())
        return pa.table(columns)

    def locations(self, addresses: list, wanted: set, registrations: dict[str, _Registration],
                  data: SourceData) -> tuple[pa.Table, pa.Table]:
        """Emergency addresses (and any address a number registered for 911) → e911 locations;
        and the pending or failed registrations' own locations (their address, with validated
        unknown while pending, false once failed)."""
        origin = "Addresses"
        rows, positions = [], []
        found: set[str] = set()
        by_sid: dict[str, dict] = {}
        for n, address in enumerate(addresses, start=1):
            if not isinstance(address, dict):
                data.rejects.append(RawReject(origin, n, "", json.dumps(address)[:200],
                                              "expected a JSON object", "e911_locations"))
                continue
            sid = text_or_none(address.get("sid"))
            if sid is not None:
                by_sid.setdefault(sid, address)
            emergency = address.get("emergency_enabled") is True
            if not emergency and sid not in wanted:
                continue    # an address kept for regulatory reasons only, not for 911
            found.add(sid or "")
            secondary = text_or_none(address.get("street_secondary"))
            rows.append({
                "id": sid,
                **_civic(address),
                # Twilio validates an address against the emergency-services database before it
                # enables it for emergency calling.
                "validated": text_value(emergency, False),
                # A validated street address with its suite, floor or unit is a dispatchable
                # location; without that line Twilio cannot tell whether one was needed.
                "dispatchable": "true" if emergency and secondary else None,
            })
            positions.append(n)
        pending, pending_rows = [], []
        for location, reg in registrations.items():
            pending.append({
                "id": location,
                **_civic(by_sid.get(reg.address_sid or "", {})),
                # The number's registration with the emergency-services database: refused, or
                # not done yet (or its removal not done): 911 calls may not carry this address.
                "validated": "false" if reg.state == FAILED_REGISTRATION else None,
                "dispatchable": None,
            })
            pending_rows.append(reg.row)
        wanted = wanted | {r.address_sid for r in registrations.values() if r.address_sid}
        missing = sorted(wanted - found - set(by_sid))
        if missing:
            data.warnings.append(f"{origin}: emergency address(es) {', '.join(missing[:5])}"
                                 f"{'…' if len(missing) > 5 else ''} registered on numbers but not "
                                 "listed")
        return _text_table(rows, positions, LOCATION_COLUMNS), _text_table(pending, pending_rows,
                                                                            LOCATION_COLUMNS)

    def parse_calls(self, records: list, lines: pa.Table, data: SourceData, entity: str) -> list[_Call]:
        """The Calls log's records that are calls (child legs left out: their parent call is
        the number's use), each tied to the listed number it was made from or to (or None);
        a malformed record is a reject of ``entity``."""
        by_number = {n: i for n, i in zip(lines.column("number").to_pylist(),
                                          lines.column("id").to_pylist(), strict=True) if n and i}
        out = []
        for n, call in enumerate(records, start=1):
            if not isinstance(call, dict):
                data.rejects.append(RawReject("Calls", n, "", json.dumps(call)[:200],
                                              "expected a JSON object", entity))
                continue
            if call.get("parent_call_sid"):
                continue
            prop = "start_time" if call.get("start_time") else "date_created"
            when = _rfc2822_utc(call.get(prop))
            if when is None:
                data.rejects.append(RawReject("Calls", n, prop, str(call.get(prop))[:200],
                                              "expected an RFC 2822 date-time", entity))
                continue
            duration = call.get("duration")
            try:
                seconds = 0 if duration in (None, "") else int(duration)
            except (TypeError, ValueError):
                seconds = -1
            if seconds < 0:
                data.rejects.append(RawReject("Calls", n, "duration", str(duration)[:200],
                                              "expected whole seconds", entity))
                continue
            called = call.get("direction") in CALLED_DIRECTIONS
            out.append(_Call(n, call, by_number.get(call.get("to") if called else call.get("from")),
                             when, seconds))
        return out

    def calls(self, calls: list[_Call]) -> pa.Table:
        """The calls of the last ``call_days`` days, as text rows of the ``calls`` entity."""
        since = self.today() - dt.timedelta(days=self.call_days)
        rows, positions = [], []
        for c in calls:
            if c.when.date() < since:
                continue
            status = text_or_none(c.record.get("status"))
            price = text_or_none(c.record.get("price"))
            rows.append({
                "id": text_or_none(c.record.get("sid")),
                "line_id": c.line_id,
                "started_at": c.when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "duration_s": None if c.record.get("duration") in (None, "") else str(c.seconds),
                "direction": CALL_DIRECTIONS.get(c.record.get("direction")),
                "source": text_or_none(c.record.get("from")),
                "destination": text_or_none(c.record.get("to")),
                # The number a carrier forwarded the call from (when it says so).
                "forwarded_from": text_or_none(c.record.get("forwarded_from")),
                "disposition": None if status is None else DISPOSITIONS.get(status, status),
                # Twilio prices what the account pays as a negative amount.
                "cost": None if price is None else price.lstrip("-"),
                "currency": None if price is None else text_or_none(c.record.get("price_unit")),
            })
            positions.append(c.row)
        columns = {col: pa.array([r[col] for r in rows], pa.string()) for col in CALL_COLUMNS}
        columns[ROW_COLUMN] = pa.array(positions, pa.int64())
        return pa.table(columns)

    def usage(self, lines: pa.Table, calls: list[_Call], messages: list, data: SourceData) -> pa.Table:
        """Calls and messages of the window, counted per number and month."""
        start, end = self.window()
        periods = []
        month = start
        while month < end:
            periods.append(month)
            month = (month + dt.timedelta(days=32)).replace(day=1)
        ids = lines.column("id").to_pylist()
        by_number = {n: i for n, i in zip(lines.column("number").to_pylist(), ids, strict=True)
                     if n and i}
        activated = dict(zip(ids, lines.column("activated_on").to_pylist(), strict=True))
        counts: dict[tuple[str, str], dict] = {}
        elsewhere = 0

        def count(line_id: str, when: dt.datetime, seconds: int = 0, sent: int = 0) -> None:
            key = (line_id, when.strftime("%Y-%m"))
            c = counts.setdefault(key, {"seconds": 0, "sent": 0, "last": when.date()})
            c["seconds"] += seconds
            c["sent"] += sent
            c["last"] = max(c["last"], when.date())

        for call in calls:
            if not start <= call.when.date() < end:
                continue                # read for ``calls`` (call_days), outside this window
            if call.line_id is None:
                elsewhere += 1
            else:
                count(call.line_id, call.when, seconds=call.seconds)

        for n, message in enumerate(messages, start=1):
            if not isinstance(message, dict):
                data.rejects.append(RawReject("Messages", n, "", json.dumps(message)[:200],
                                              "expected a JSON object", "usage"))
                continue
            outbound = str(message.get("direction") or "").startswith("outbound")
            line_id = by_number.get(message.get("from") if outbound else message.get("to"))
            if line_id is None:
                elsewhere += 1
                continue
            prop = "date_sent" if message.get("date_sent") else "date_created"
            when = _rfc2822_utc(message.get(prop))
            if when is None:
                data.rejects.append(RawReject("Messages", n, prop, str(message.get(prop))[:200],
                                              "expected an RFC 2822 date-time", "usage"))
                continue
            if start <= when.date() < end:
                sent = int(outbound and message.get("status") not in UNSENT)
                count(line_id, when, sent=sent)

        if elsewhere:
            data.warnings.append(f"Calls+Messages: {elsewhere} call(s) and message(s) not on a "
                                 "listed number (released numbers, SIP or client legs) left out")
        rows = []
        for line_id in sorted(by_number.values()):
            since = activated.get(line_id)
            for first in periods:
                last_day = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
                if since and since > last_day.isoformat():
                    continue    # the number was not the account's yet
                period = first.strftime("%Y-%m")
                c = counts.get((line_id, period), {"seconds": 0, "sent": 0, "last": None})
                rows.append({
                    "line_id": line_id,
                    "period": period,
                    "voice_minutes": text_value(round(c["seconds"] / 60, 2), False),
                    "sms_count": str(c["sent"]),
                    "last_activity_on": None if c["last"] is None else c["last"].isoformat(),
                })
        columns = {c: pa.array([r[c] for r in rows], pa.string()) for c in USAGE_COLUMNS}
        columns[ROW_COLUMN] = pa.array(range(1, len(rows) + 1), pa.int64())
        return pa.table(columns)



def _civic(address: dict) -> dict:
    """An Address's civic fields as e911_locations text fields (none for an empty dict)."""
    return {
        "address": text_or_none(address.get("street")),
        "room": text_or_none(address.get("street_secondary")),
        "city": text_or_none(address.get("city")),
        "region": text_or_none(address.get("region")),
        "postal_code": text_or_none(address.get("postal_code")),
        "country": text_or_none(address.get("iso_country")),
    }


def _text_table(rows: list[dict], positions: list[int], names: tuple[str, ...]) -> pa.Table:
    columns = {c: pa.array([r[c] for r in rows], pa.string()) for c in names}
    columns[ROW_COLUMN] = pa.array(positions, pa.int64())
    return pa.table(columns)


def _country(number: str | None) -> str | None:
    """The ISO 3166-1 country of an E.164 number, by its calling code and leading digits.

    +1 numbers are told apart by area code (US, Canada, the Caribbean); NANP toll-free numbers
    count as US, where Twilio sells them. A global number (+800, +808: no country) or one whose
    digits fit no country's plan (a +44 7700 900 drama number) has none."""
    if phonenumbers is None or number is None:
        return None
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None     # not E.164: the engine rejects the number itself
    region = phonenumbers.region_code_for_number(parsed)
    # "001" is libphonenumber's non-geographic region, "ZZ" its unknown one.
    return region if region and region != "ZZ" and len(region) == 2 and region.isalpha() else None


def _rfc2822_utc(value: t.Any) -> dt.datetime | None:
    """Twilio's ``Thu, 30 Jul 2015 23:19:04 +0000`` → an aware UTC date-time, or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:     # "-0000": UTC, origin unknown (RFC 2822 §3.3)
        return when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)

