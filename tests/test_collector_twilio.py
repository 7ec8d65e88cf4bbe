"""The twilio collector against a loopback server that answers as Twilio's REST API does."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import textwrap
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest
from werkzeug import Request, Response

import dialtone.collectors.twilio as twilio_module
from dialtone.collectors.twilio import TwilioCollector
from dialtone.engine.collect import collect
from dialtone.engine.collector_api import check_settings, collectors
from dialtone.engine.config import load_config
from dialtone.engine.errors import CollectError, ConfigError
from dialtone.engine.evaluation import evaluate
from dialtone.engine.policy.loader import load_policies
from dialtone.engine.yamlio import safe_load

from .collectorkit import rejects, rows
from .conftest import AS_OF

ROOT = Path(__file__).parents[1]
ACCOUNT = "AC5f3c0d2b9e8a71640f2e1d3c4b5a6978"
AUTH_TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
API_KEY = "SK7a6b5c4d3e2f10987a6b5c4d3e2f1098"
API_SECRET = "key-secret-9f8e7d6c5b4a3"
TOKEN_ENV = "DIALTONE_TEST_TWILIO_TOKEN"
TODAY = dt.date(2026, 6, 15)       # usage window of 2 months: April and May 2026


def number(sid: str, e164: str, created: str, emergency: str | None = None,
           emergency_state: str | None = None, **extra) -> dict:
    """An IncomingPhoneNumber as the list resource gives it."""
    record = {
        "account_sid": ACCOUNT, "address_requirements": "none", "address_sid": None,
        "api_version": "2010-04-01", "beta": False,
        "capabilities": {"voice": True, "sms": True, "mms": False, "fax": False},
        "date_created": created, "date_updated": created,
        "emergency_status": "Active" if emergency_state == "registered" else "Inactive",
        "emergency_address_sid": emergency, "emergency_address_status": emergency_state or "unregistered",
        "friendly_name": e164, "identity_sid": None, "origin": "twilio", "phone_number": e164,
        "sid": sid, "sms_application_sid": "", "sms_method": "POST", "sms_url": "",
        "status_callback": "", "status_callback_method": "POST", "trunk_sid": None,
        "uri": f"/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers/{sid}.json",
        "voice_receive_mode": "voice", "voice_application_sid": None, "voice_caller_id_lookup": False,
        "voice_method": "POST", "voice_url": "https://example.com/voice", "bundle_sid": None,
        "status": "in-use",
    }
    record.update(extra)
    return record


def pn(i: int) -> str:
    return f"PN{i:032x}"


def ad(i: int) -> str:
    return f"AD{i:032x}"


MAIN = number(pn(1), "+13125550101", "Mon, 13 Jan 2025 16:20:11 +0000", ad(1), "registered",
              capabilities={"voice": True, "sms": True, "mms": True, "fax": False})
TOLL_FREE = number(pn(2), "+18005550199", "Wed, 02 Jul 2025 08:00:00 +0000")
PENDING_911 = number(pn(3), "+13125550103", "Fri, 07 Mar 2025 12:00:00 +0000", ad(2),
                     "pending-registration")
FAX = number(pn(4), "+13125550104", "Wed, 01 Apr 2026 09:00:00 +0000", voice_receive_mode="fax",
             capabilities={"voice": True, "sms": False, "mms": False, "fax": True})
SPARE = number(pn(5), "+13125550105", "Thu, 01 Jan 2026 00:30:00 +0100")    # 31 Dec 2025 UTC
NUMBERS = [MAIN, TOLL_FREE, PENDING_911, FAX, SPARE]


def address(sid: str, street: str, emergency: bool, secondary: str | None = None, **extra) -> dict:
    record = {"account_sid": ACCOUNT, "city": "Chicago", "customer_name": "Example Corp",
              "date_created": "Tue, 18 Aug 2015 17:07:30 +0000",
              "date_updated": "Tue, 18 Aug 2015 17:07:30 +0000", "emergency_enabled": emergency,
              "friendly_name": street, "iso_country": "US", "postal_code": "60606", "region": "IL",
              "sid": sid, "street": street, "street_secondary": secondary,
              "uri": f"/2010-04-01/Accounts/{ACCOUNT}/Addresses/{sid}.json",
              "validated": True, "verified": False}
    record.update(extra)
    return record


ADDRESSES = [address(ad(1), "233 S Wacker Dr", True, "Floor 3"),
             address(ad(2), "100 N Riverside Plaza", True),
             address(ad(3), "1 Regulatory Way", False, city="Denver", region="CO")]


def call(sid: int, frm: str, to: str, direction: str, start: str, duration: str | None,
         parent: str | None = None, **extra) -> dict:
    return {"sid": f"CA{sid:032x}", "account_sid": ACCOUNT, "parent_call_sid": parent,
            "from": frm, "to": to, "direction": direction, "status": "completed",
            "start_time": start, "end_time": start, "date_created": start, "duration": duration,
            "price": "-0.0085", "price_unit": "USD", **extra}


CALLS = [
    call(1, "+14155550123", MAIN["phone_number"], "inbound", "Fri, 10 Apr 2026 15:00:00 +0000", "125"),
    call(2, MAIN["phone_number"], "+14155550123", "outbound-api", "Sat, 02 May 2026 10:00:00 +0000", "60"),
    call(3, MAIN["phone_number"], "+14155550124", "outbound-dial", "Sat, 02 May 2026 10:00:05 +0000",
         "55", parent=f"CA{2:032x}"),                                           # a child leg
    call(4, "+14155550125", "+13125550999", "inbound", "Mon, 04 May 2026 09:00:00 +0000", "30"),
    call(5, "+14155550126", TOLL_FREE["phone_number"], "inbound", "Sun, 31 May 2026 23:59:59 +0000",
         None, status="no-answer"),
    # Forwarded to the Twilio number by the carrier of another of the organisation's numbers.
    call(6, "+14155550127", MAIN["phone_number"], "inbound", "Mon, 01 Jun 2026 00:00:00 +0000", "600",
         forwarded_from="+13125550142"),
]


def message(sid: int, frm: str, to: str, direction: str, sent: str, status: str = "delivered") -> dict:
    return {"sid": f"SM{sid:032x}", "account_sid": ACCOUNT, "from": frm, "to": to,
            "direction": direction, "status": status, "date_sent": sent, "date_created": sent,
            "num_segments": "1", "body": "hello", "price": "-0.00790", "price_unit": "USD"}


MESSAGES = [
    message(1, MAIN["phone_number"], "+14155550123", "outbound-api", "Sat, 11 Apr 2026 12:00:00 +0000"),
    message(2, MAIN["phone_number"], "+14155550123", "outbound-api", "Sun, 12 Apr 2026 12:00:00 +0000",
            status="failed"),
    message(3, "+14155550123", PENDING_911["phone_number"], "inbound", "Wed, 20 May 2026 08:00:00 +0000",
            status="received"),
]


def twilio_error(status: int, code: int, message: str) -> dict:
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}


class FakeTwilio:
    """Twilio's list resources for one account: HTTP Basic checked, ``per_page`` records a page,
    ``next_page_uri`` relative to the host and carrying the filters, as Twilio pages."""

    RESOURCES = {"IncomingPhoneNumbers": "incoming_phone_numbers",
                 "IncomingPhoneNumbers/TollFree": "incoming_phone_numbers",
                 "Addresses": "addresses", "Calls": "calls", "Messages": "messages"}

    def __init__(self, httpserver, records: dict[str, list], per_page: int = 2,
                 credentials: tuple[str, str] = (ACCOUNT, AUTH_TOKEN)) -> None:
        self.per_page = per_page
        self.credentials = credentials
        self.records = records
        self.requests: list[tuple[str, dict]] = []
        #: (resource, page) → (HTTP status, body), answered once instead of the page.
        self.faults: dict[tuple[str, int], tuple[int, dict]] = {}
        for resource in self.RESOURCES:
            httpserver.expect_request(self.path(resource), method="GET").respond_with_handler(
                lambda request, resource=resource: self.page(resource, request))

    @staticmethod
    def path(resource: str) -> str:
        return f"/2010-04-01/Accounts/{ACCOUNT}/{resource}.json"

    @staticmethod
    def reply(body: dict, status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, content_type="application/json; charset=utf-8")

    def page(self, resource: str, request: Request) -> Response:
        query = dict(parse_qsl(request.query_string.decode()))
        self.requests.append((resource, query))
        expected = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
        if request.headers.get("Authorization") != expected:
            return self.reply(twilio_error(401, 20003, "Authenticate"), 401)
        size = int(query.get("PageSize", 50))
        if size > 1000:
            return self.reply(twilio_error(400, 20007, "Page size must be at most 1000"), 400)
        page = int(query.get("Page", 0))
        if page and query.get("PageToken") != f"PT{resource.replace('/', '')}{page}":
            return self.reply(twilio_error(400, 21481, "Invalid PageToken"), 400)
        fault = self.faults.pop((resource, page), None)
        if fault is not None:
            return self.reply(fault[1], fault[0])
        records = self.records.get(resource, [])
        chunk = records[page * self.per_page:(page + 1) * self.per_page]
        filters = {k: v for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")}

        def uri(p: int, token: bool = True) -> str:
            args = {**filters, "PageSize": self.per_page, "Page": p}
            if token and p:
                args["PageToken"] = f"PT{resource.replace('/', '')}{p}"
            return f"{self.path(resource)}?{urlencode(args)}"

        more = (page + 1) * self.per_page < len(records)
        return self.reply({
            "first_page_uri": uri(0), "end": page * self.per_page + max(len(chunk) - 1, 0),
            "previous_page_uri": uri(page - 1) if page else None, "uri": uri(page),
            "page_size": self.per_page, "start": page * self.per_page, "page": page,
            "next_page_uri": uri(page + 1) if more else None,
            self.RESOURCES[resource]: chunk})


ALL = {"IncomingPhoneNumbers": NUMBERS, "IncomingPhoneNumbers/TollFree": [TOLL_FREE],
       "Addresses": ADDRESSES, "Calls": CALLS, "Messages": MESSAGES}


@pytest.fixture(autouse=True)
def twilio_registered(monkeypatch):
    """Until the entry point is installed, the registry learns the collector here."""
    if "twilio" not in collectors.names():
        monkeypatch.setitem(collectors._items, "twilio", TwilioCollector)


@pytest.fixture(autouse=True)
def today(monkeypatch):
    monkeypatch.setattr(TwilioCollector, "today", staticmethod(lambda: TODAY))


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    got: list[float] = []
    monkeypatch.setattr(TwilioCollector, "sleep", staticmethod(got.append))
    return got


@pytest.fixture
def twilio(httpserver, waits) -> FakeTwilio:
    return FakeTwilio(httpserver, ALL)


def setup(tmp_path: Path, httpserver, monkeypatch, extra: str = "",
          auth: str = f"auth_token_env: {TOKEN_ENV}", token: str = AUTH_TOKEN,
          account: str = ACCOUNT) -> None:
    monkeypatch.setenv(TOKEN_ENV, token)
    (tmp_path / "dialtone.yaml").write_text(f"""\
sources:
  twilio:
    collector: twilio
    account_sid: {account}
    {auth}
    base_url: {httpserver.url_for("/")}
{extra}""", encoding="utf-8")


def run(tmp_path: Path):
    return collect(load_config(tmp_path / "dialtone.yaml"), as_of=AS_OF)


@pytest.mark.parametrize(("number", "country"), [
    ("+13125550101", "US"),       # Chicago
    ("+14165550100", "CA"),       # Toronto: +1 is told apart by area code
    ("+18005550199", "US"),       # NANP toll-free: sold as a US number
    ("+12425550100", "BS"),       # Nassau
    ("+442071838750", "GB"),
    ("+4930123456", "DE"),
    ("+80012345678", None),       # a global freephone number has no country
    ("+447700900123", None),      # digits no country's plan has (Ofcom's drama range)
    ("3125550101", None),         # not E.164: the engine rejects the number itself
    (None, None),
])
def test_a_lines_country_comes_from_its_number(number, country):
    assert twilio_module._country(number) == country


def test_what_the_collector_emits_is_what_it_declares_it_fills(tmp_path, httpserver, monkeypatch, twilio):
    setup(tmp_path, httpserver, monkeypatch, "    usage_months: 2\n    call_days: 30\n")
    (source,) = load_config(tmp_path / "dialtone.yaml").sources.values()
    data = TwilioCollector(source.name, source.settings, tmp_path).collect()
    emitted = {b.entity: set(b.table.column_names) - {"__row"} for b in data.batches}
    assert emitted == {e: set(f) for e, f in TwilioCollector.fills.items()}


def test_numbers_addresses_and_usage_end_to_end(tmp_path, httpserver, monkeypatch, twilio):
    setup(tmp_path, httpserver, monkeypatch,
          "    number_prices: {did: 1.15, toll_free: 2.15}\n    currency: USD\n    usage_months: 2\n")
    result = run(tmp_path)
    assert result.rejects == 0
    assert result.rows == {"e911_locations": 3, "lines": 5, "usage": 10}

    lines = {r["id"]: r for r in rows(result, "lines")}
    main = lines[pn(1)]
    assert main == {**main, "kind": "did", "number": "+13125550101", "vendor": "twilio",
                    "account_id": ACCOUNT, "status": "active", "activated_on": dt.date(2025, 1, 13),
                    "monthly_cost": 1.15, "currency": "USD", "e911_location_id": ad(1),
                    "features": ["mms", "sms", "voice"], "purpose": None, "country": "US"}
    assert (lines[pn(2)]["kind"], lines[pn(2)]["monthly_cost"], lines[pn(2)]["country"]) == (
        "toll_free", 2.15, "US")
    # Registration still pending: its own location, validated unknown (see the E911 test below).
    assert lines[pn(3)]["e911_location_id"] == f"{ad(2)}/pending-registration"
    assert (lines[pn(4)]["purpose"], lines[pn(4)]["features"]) == ("fax", ["fax", "voice"])
    assert lines[pn(5)]["activated_on"] == dt.date(2025, 12, 31)   # +0100 → the UTC date
    assert any("1 number(s) have an emergency address that is not registered "
               "(pending-registration: 1)" in w for w in result.warnings)

    locations = {r["id"]: r for r in rows(result, "e911_locations")}
    # ad(3) is not an emergency address
    assert set(locations) == {ad(1), ad(2), f"{ad(2)}/pending-registration"}
    assert locations[ad(1)] == {**locations[ad(1)], "address": "233 S Wacker Dr", "room": "Floor 3",
                                "floor": None, "city": "Chicago", "region": "IL", "postal_code": "60606",
                                "country": "US", "validated": True, "dispatchable": True}
    assert (locations[ad(2)]["validated"], locations[ad(2)]["dispatchable"]) == (True, None)

    usage = {(r["line_id"], r["period"]): r for r in rows(result, "usage")}
    assert len(usage) == 10 and (pn(4), "2026-04") in usage     # the fax number: from April
    april, may = usage[(pn(1), "2026-04")], usage[(pn(1), "2026-05")]
    assert (april["voice_minutes"], april["sms_count"], april["last_activity_on"]) == (
        2.08, 1, dt.date(2026, 4, 12))                   # 125 s; the failed message is not "sent"
    assert (may["voice_minutes"], may["sms_count"], may["last_activity_on"]) == (
        1.0, 0, dt.date(2026, 5, 2))                     # the child leg is not counted again
    assert usage[(pn(2), "2026-05")]["last_activity_on"] == dt.date(2026, 5, 31)
    assert usage[(pn(3), "2026-05")]["sms_count"] == 0   # received, not sent
    assert usage[(pn(5), "2026-04")] == {**usage[(pn(5), "2026-04")], "voice_minutes": 0.0,
                                         "sms_count": 0, "last_activity_on": None}
    assert any("1 call(s) and message(s) not on a listed number" in w for w in result.warnings)

    # Three pages of numbers, each after the first by its next_page_uri; filters kept on every page.
    assert [q.get("Page") for r, q in twilio.requests if r == "IncomingPhoneNumbers"] == [None, "1", "2"]
    assert [q.get("PageSize") for r, q in twilio.requests if r == "IncomingPhoneNumbers"] == [
        "1000", "2", "2"]
    assert {(q["StartTime>"], q["StartTime<"]) for r, q in twilio.requests if r == "Calls"} == {
        ("2026-04-01", "2026-06-01")}
    assert {(q["DateSent>"], q["DateSent<"]) for r, q in twilio.requests if r == "Messages"} == {
        ("2026-04-01", "2026-06-01")}
    meta = result.snapshot.manifest["sources"]["twilio"]
    assert set(meta["inputs"]) == set(FakeTwilio.RESOURCES)
    assert AUTH_TOKEN not in json.dumps(result.snapshot.manifest)


def e911_outcome(result, policy: str = "regulatory.e911-location-missing"):
    """The built-in policy's findings {resource: reason} and undecidable resources on the
    snapshot a collect wrote."""
    loaded = load_policies([ROOT / "policies" / "regulatory" / f"{policy.split('.', 1)[1]}.yaml"])
    (outcome,) = evaluate(result.snapshot, loaded, policy_ids=[policy]).outcomes
    assert outcome.status in ("ok", "alarm"), outcome.error or outcome.skip_reason
    return ({f["resource_id"]: f["reason"] for f in outcome.findings},
            set(outcome.undecidable_sample(100)))


def test_a_pending_emergency_registration_is_pending_and_a_failed_one_a_failure(
        tmp_path, httpserver, monkeypatch, waits):
    """A number whose emergency address is still being registered (or unregistered) is not a
    number without one: the E911 policies cannot decide it yet. A registration Twilio reports
    as failed is a finding that names the address. Neither state is the shared address's own:
    other numbers may be registered at it."""
    failed = number(pn(6), "+13125550106", "Fri, 07 Mar 2025 12:00:00 +0000", ad(1),
                    "registration-failure")
    leaving = number(pn(7), "+13125550107", "Fri, 07 Mar 2025 12:00:00 +0000", None,
                     "pending-unregistration")
    stuck = number(pn(8), "+13125550108", "Fri, 07 Mar 2025 12:00:00 +0000", ad(2),
                   "unregistration-failure")
    none = number(pn(9), "+13125550109", "Fri, 07 Mar 2025 12:00:00 +0000")
    FakeTwilio(httpserver, {**ALL, "IncomingPhoneNumbers": [MAIN, PENDING_911, failed, leaving,
                                                             stuck, none]})
    setup(tmp_path, httpserver, monkeypatch)
    result = run(tmp_path)
    assert result.rejects == 0
    findings, undecidable = e911_outcome(result)
    assert undecidable == {pn(3), pn(7), pn(8)}
    assert set(findings) == {pn(6), pn(9)}
    assert "no E911 location registered" in findings[pn(9)]
    assert f"E911 location {ad(1)}/registration-failure is not validated" in findings[pn(6)]
    # The registered number and the address itself are as they were.
    lines = {r["id"]: r for r in rows(result, "lines")}
    assert lines[pn(1)]["e911_location_id"] == ad(1)
    locations = {r["id"]: r for r in rows(result, "e911_locations")}
    assert (locations[ad(1)]["validated"], locations[ad(1)]["dispatchable"]) == (True, True)
    # The registration's row carries the address (the consent policy reads its state).
    assert locations[f"{ad(1)}/registration-failure"] == {
        **locations[f"{ad(1)}/registration-failure"], "address": "233 S Wacker Dr", "room": "Floor 3",
        "city": "Chicago", "region": "IL", "country": "US", "validated": False, "dispatchable": None}
    assert (locations[f"{ad(2)}/pending-registration"]["validated"],
            locations[f"{ad(2)}/pending-registration"]["region"]) == (None, "IL")
    assert any("emergency address that is not registered" in w and "pending-registration: 1" in w
               for w in result.warnings)


def test_how_a_number_is_routed_sets_no_purpose_it_does_not_show(tmp_path, httpserver, monkeypatch,
                                                                    waits):
    """A DID on an Elastic SIP Trunk, a TwiML App's or a Studio Flow's number may be a person's
    (a desk DID behind the PBX, a softphone, a forward): the routing gives no purpose, and
    Twilio routes a 911 call from any of them by the number's own emergency address. A number
    that cannot carry voice at all is no E911 line."""
    created = "Fri, 07 Mar 2025 12:00:00 +0000"
    trunk = number(pn(6), "+13125550106", created, trunk_sid="TK" + "1" * 32, voice_url=None)
    app = number(pn(7), "+13125550107", created, voice_application_sid="AP" + "2" * 32, voice_url=None)
    studio = number(pn(8), "+13125550108", created,
                    voice_url=f"https://webhooks.twilio.com/v1/Accounts/{ACCOUNT}/Flows/FW{'3' * 32}")
    sms_only = number(pn(9), "+13125550109", created, voice_url=None, sms_url="https://example.com/sms",
                      capabilities={"voice": False, "sms": True, "mms": True, "fax": False})
    FakeTwilio(httpserver, {**ALL, "IncomingPhoneNumbers": [trunk, app, studio, sms_only]})
    setup(tmp_path, httpserver, monkeypatch)
    result = run(tmp_path)
    assert {r["id"]: r["purpose"] for r in rows(result, "lines")} == dict.fromkeys(
        [pn(6), pn(7), pn(8), pn(9)])
    findings, undecidable = e911_outcome(result)
    assert set(findings) == {pn(6), pn(7), pn(8)} and not undecidable
    assert "(purpose unknown): no E911 location registered" in findings[pn(6)]


def test_the_call_log_of_the_last_days_becomes_calls_in_the_same_read_as_usage(
        tmp_path, httpserver, monkeypatch, twilio):
    setup(tmp_path, httpserver, monkeypatch, "    usage_months: 2\n    call_days: 60\n")
    result = run(tmp_path)
    assert result.rejects == 0
    # One read of the Calls log: from the earlier start (April 1 for usage; June 15 - 60 days is
    # April 16), and through today (the calls of June are wanted).
    assert [q for r, q in twilio.requests if r == "Calls" and "Page" not in q] == [
        {"StartTime>": "2026-04-01", "PageSize": "1000"}]
    calls = {r["id"]: r for r in rows(result, "calls")}
    # Since April 16: calls 2, 4, 5 and 6; the child leg (3) is its parent's; call 1 is too old.
    assert sorted(calls) == [f"CA{i:032x}" for i in (2, 4, 5, 6)]
    out = calls[f"CA{2:032x}"]
    assert out == {**out, "line_id": pn(1), "direction": "outbound", "source": "+13125550101",
                   "destination": "+14155550123", "duration_s": 60, "disposition": "answered",
                   "cost": 0.0085, "currency": "USD",
                   "started_at": dt.datetime(2026, 5, 2, 10, 0)}             # UTC
    assert (calls[f"CA{4:032x}"]["line_id"], calls[f"CA{4:032x}"]["direction"]) == (None, "inbound")
    missed = calls[f"CA{5:032x}"]
    assert (missed["line_id"], missed["disposition"], missed["duration_s"]) == (pn(2), "no_answer", None)
    assert (calls[f"CA{6:032x}"]["line_id"], calls[f"CA{6:032x}"]["duration_s"]) == (pn(1), 600)
    # The number first dialled: its line was called too (cost.idle-voice-numbers).
    assert (calls[f"CA{6:032x}"]["forwarded_from"], out["forwarded_from"]) == ("+13125550142", None)
    # Usage is counted as before: June's call is outside its window.
    usage = {(r["line_id"], r["period"]): r for r in rows(result, "usage")}
    assert len(usage) == 10 and usage[(pn(1), "2026-05")]["voice_minutes"] == 1.0
    assert (pn(1), "2026-06") not in usage


def test_elastic_sip_trunk_calls_are_tied_to_the_twilio_number_in_the_right_direction(
        tmp_path, httpserver, monkeypatch, waits):
    # Twilio's Call resource: "trunking-terminating for outgoing calls from your communications
    # infrastructure to the PSTN or trunking-originating for incoming calls to your communications
    # infrastructure from the PSTN". They were read the other way round: a trunk's calls went to
    # the far party's number, so the trunk's DID looked idle and its calls had the wrong direction.
    out = call(11, MAIN["phone_number"], "+14155550130", "trunking-terminating",
               "Sat, 02 May 2026 09:00:00 +0000", "90")
    into = call(12, "+14155550131", MAIN["phone_number"], "trunking-originating",
                "Sun, 03 May 2026 09:00:00 +0000", "150")
    FakeTwilio(httpserver, {**ALL, "Calls": [out, into], "Messages": []})
    setup(tmp_path, httpserver, monkeypatch, "    usage_months: 2\n    call_days: 60\n")
    result = run(tmp_path)
    assert result.rejects == 0
    calls = {r["id"]: r for r in rows(result, "calls")}
    assert (calls[out["sid"]]["direction"], calls[out["sid"]]["line_id"]) == ("outbound", pn(1))
    assert (calls[into["sid"]]["direction"], calls[into["sid"]]["line_id"]) == ("inbound", pn(1))
    usage = {(r["line_id"], r["period"]): r for r in rows(result, "usage")}
    may = usage[(pn(1), "2026-05")]
    assert (may["voice_minutes"], may["last_activity_on"]) == (4.0, dt.date(2026, 5, 3))
    assert not any("not on a listed number" in w for w in result.warnings)


def test_calls_alone_read_only_the_call_log_and_reject_a_malformed_call_as_a_call(
        tmp_path, httpserver, monkeypatch, waits):
    bad = {**CALLS[1], "sid": "CA" + "f" * 32, "start_time": "yesterday", "date_created": "yesterday"}
    twilio = FakeTwilio(httpserver, {**ALL, "Calls": [bad, *CALLS]})
    setup(tmp_path, httpserver, monkeypatch, "    call_days: 400\n")
    result = run(tmp_path)
    assert {r for r, _ in twilio.requests} == {"IncomingPhoneNumbers", "IncomingPhoneNumbers/TollFree",
                                             "Addresses", "Calls"}
    assert [q["StartTime>"] for r, q in twilio.requests if r == "Calls" and "Page" not in q] == [
        "2025-05-11"]
    assert result.rows["calls"] == 5 and "usage" not in result.rows
    (reject,) = rejects(result)
    assert (reject["entity"], reject["row"], reject["field"], reject["reason"]) == (
        "calls", "1", "start_time", "expected an RFC 2822 date-time")


def test_an_api_key_from_a_file_authenticates_and_usage_is_off_by_default(tmp_path, httpserver,
                                                                           monkeypatch, waits):
    twilio = FakeTwilio(httpserver, ALL, credentials=(API_KEY, API_SECRET))
    (tmp_path / "twilio-key").write_text(API_SECRET + "\n", encoding="utf-8")
    setup(tmp_path, httpserver, monkeypatch,
          auth=f"api_key_sid: {API_KEY}\n    api_key_secret_file: twilio-key")
    result = run(tmp_path)
    assert result.rows == {"e911_locations": 3, "lines": 5}
    assert {r for r, _ in twilio.requests} == {"IncomingPhoneNumbers", "IncomingPhoneNumbers/TollFree",
                                               "Addresses"}


def test_a_429_with_code_20429_is_retried(tmp_path, httpserver, monkeypatch, twilio, waits):
    twilio.faults[("IncomingPhoneNumbers", 1)] = (429, twilio_error(429, 20429, "Too Many Requests"))
    setup(tmp_path, httpserver, monkeypatch)
    assert run(tmp_path).rows["lines"] == 5
    assert waits == [1.0]                       # no Retry-After: the first back-off step
    assert [q.get("Page") for r, q in twilio.requests if r == "IncomingPhoneNumbers"] == [
        None, "1", "1", "2"]


def test_a_page_without_its_records_fails_the_source_rather_than_end_the_list(
        tmp_path, httpserver, monkeypatch, twilio):
    # Twilio's list pages always carry their list; a 200 answer without it (a proxy's, or a
    # truncated reply) was read as an empty last page: the numbers after it vanished from a
    # "complete" estate and their lines looked cancelled.
    twilio.faults[("IncomingPhoneNumbers", 1)] = (200, {"page": 1, "page_size": 2,
                                                        "next_page_uri": None})
    setup(tmp_path, httpserver, monkeypatch)
    with pytest.raises(CollectError, match="GET IncomingPhoneNumbers: the answer has no "
                                           "'incoming_phone_numbers'"):
        run(tmp_path)


def test_wrong_credentials_are_a_clear_error_without_the_token(tmp_path, httpserver, monkeypatch,
                                                                twilio):
    setup(tmp_path, httpserver, monkeypatch, token="not-the-auth-token")
    with pytest.raises(CollectError) as err:
        run(tmp_path)
    assert re.search(
        rf"^  source 'twilio': GET http://localhost:\d+/2010-04-01/Accounts/{ACCOUNT}/"
        r"IncomingPhoneNumbers\.json: HTTP 401 UNAUTHORIZED: 20003: Authenticate "
        r"\(see https://www\.twilio\.com/docs/errors/20003\)$", str(err.value), re.M)
    assert "not-the-auth-token" not in str(err.value)


def test_an_unknown_account_is_twilios_404_message(tmp_path, httpserver, monkeypatch, twilio):
    other = "AC" + "9" * 32
    path = f"/2010-04-01/Accounts/{other}/IncomingPhoneNumbers.json"
    httpserver.expect_request(path).respond_with_json(
        twilio_error(404, 20404, f"The requested resource {path} was not found"), status=404)
    setup(tmp_path, httpserver, monkeypatch, account=other)
    with pytest.raises(CollectError, match=rf"HTTP 404 NOT FOUND: 20404: The requested resource "
                                           rf"{re.escape(path)} was not found \(see "):
        run(tmp_path)


def test_malformed_records_are_rejects_with_their_reasons(tmp_path, httpserver, monkeypatch, waits):
    bad_date = number(pn(7), "+13125550107", "yesterday")
    bad_number = number(pn(8), "8089255327", "Mon, 13 Jan 2025 16:20:11 +0000")
    bad_call = call(9, "+14155550123", MAIN["phone_number"], "inbound", "Fri, 10 Apr 2026 15:00:00 +0000",
                    "two minutes")
    FakeTwilio(httpserver, {**ALL, "IncomingPhoneNumbers": [MAIN, bad_date, bad_number],
                            "Calls": [bad_call, *CALLS]})
    setup(tmp_path, httpserver, monkeypatch, "    usage_months: 2\n")
    result = run(tmp_path)
    assert [r["id"] for r in rows(result, "lines")] == [pn(1)]
    assert [(r["entity"], r["origin"], r["row"], r["field"], r["value"], r["reason"])
            for r in rejects(result) if r["entity"] != "usage"] == [
        ("lines", "IncomingPhoneNumbers", "2", "date_created", "yesterday",
         "expected an RFC 2822 date-time"),
        ("lines", "IncomingPhoneNumbers", "3", "number", "8089255327",
         "does not match the expected format ^\\+[1-9][0-9]{1,14}$"),
    ]
    (usage_reject,) = [r for r in rejects(result) if r["entity"] == "usage"]
    assert (usage_reject["origin"], usage_reject["row"], usage_reject["field"], usage_reject["value"],
            usage_reject["reason"]) == ("Calls", "1", "duration", "two minutes", "expected whole seconds")


@pytest.mark.parametrize("auth, message", [
    (f"auth_token_env: {TOKEN_ENV}\n    api_key_sid: {API_KEY}\n    api_key_secret_env: X",
     "give either an Auth Token .*auth_token_env.* or an API key"),
    ("api_key_secret_env: X", "api_key_secret_env: an API key secret needs 'api_key_sid' too"),
    ("timeout: 5", "no auth token: set 'auth_token_env'"),
])
def test_credentials_that_do_not_add_up_are_config_errors(tmp_path, httpserver, monkeypatch, auth,
                                                          message):
    setup(tmp_path, httpserver, monkeypatch, auth=auth)
    with pytest.raises(ConfigError, match=message):
        run(tmp_path)


def test_prices_need_a_currency_and_the_sid_its_form():
    with pytest.raises(ConfigError, match="'currency' is a dependency of 'number_prices'"):
        check_settings(TwilioCollector, "t", {"account_sid": ACCOUNT, "auth_token_env": "X",
                                              "number_prices": {"did": 1}})
    with pytest.raises(ConfigError, match="account_sid: 'AB12' does not match"):
        check_settings(TwilioCollector, "t", {"account_sid": "AB12", "auth_token_env": "X"})


def yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, re.S)


def docstring_example(doc: str) -> str:
    """The indented block after the first ``::`` of a module docstring."""
    return textwrap.dedent(doc.split("::\n\n", 1)[1].split("\n\n", 1)[0])


def test_the_documented_examples_are_valid_settings_and_every_setting_is_documented():
    doc = (ROOT / "docs" / "collectors" / "twilio.md").read_text(encoding="utf-8")
    for block in yaml_blocks(doc) + [docstring_example(twilio_module.__doc__)]:
        for name, source in safe_load(block)["sources"].items():
            check_settings(TwilioCollector, name, {k: v for k, v in source.items() if k != "collector"})
    for setting in TwilioCollector.config_schema["properties"]:
        assert f"`{setting}`" in doc, f"docs/collectors/twilio.md does not document {setting}"
