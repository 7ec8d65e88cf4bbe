"""The zoom collector against a loopback server that answers as Zoom does."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import textwrap
from pathlib import Path
from urllib.parse import parse_qs

import pyarrow.parquet as pq
import pytest
from werkzeug import Request, Response

import dialtone.collectors.zoom as zoom_module
from dialtone.collectors.zoom import ZoomCollector
from dialtone.engine.collect import collect
from dialtone.engine.collector_api import check_settings, collectors
from dialtone.engine.config import load_config
from dialtone.engine.errors import CollectError, ConfigError
from dialtone.engine.snapshots import SnapshotStore
from dialtone.engine.yamlio import safe_load

from .collectorkit import rejects
from .conftest import AS_OF

ROOT = Path(__file__).parents[1]
ACCOUNT_ID = "Xq3vT9bWQ0y2mZ8nRk4sLa"
CLIENT_ID = "zoomClientId0123"
SECRET = "s3cr3t-zoom-client-secret"
SECRET_ENV = "DIALTONE_TEST_ZOOM_SECRET"


def user(uid: str | None, email: str, plan: int = 2, status: str = "active", **extra) -> dict:
    """A user as GET /users lists it (fields from the List users reference)."""
    record = {"first_name": email.split("@")[0].title(), "last_name": "Example", "display_name":
              email.split("@")[0].title() + " Example", "email": email, "type": plan, "pmi": 4155550100,
              "timezone": "America/Chicago", "verified": 1, "dept": "Finance", "status": status,
              "language": "en-US", "role_id": "2", "group_ids": [], "im_group_ids": [],
              "last_client_version": "6.0.2.33403(mac)",
              "created_at": "2024-03-02T10:00:00Z", "user_created_at": "2023-01-16T15:04:05Z"}
    if uid is not None:
        record["id"] = uid
    record.update(extra)
    return record


ACTIVE = [
    user("KDcuGIm1QgePTO8WbOqwIQ", "ada@example.com", last_login_time="2026-06-29T23:30:00Z"),
    user("z8yBXksSRjaHMNuMr3Yxzw", "alan@example.com", last_login_time="2026-01-15T08:00:00Z"),
    user("bWhhbmdvOmNvbTAxMjM0NQ", "grace@example.com", plan=1),           # never signed in
    user("ZmluYW5jZTAxMjM0NTY3OA", "edsger@example.com", plan=4,
         last_login_time="2026-06-01T00:00:00+02:00"),                    # 31 May in UTC
    user("cm9vbXNfcm9vbTAwMDAwMQ", "barbara@example.com", plan=2, user_created_at=None,
         created_at="2022-11-30T12:00:00Z", last_login_time="2026-06-20T12:00:00Z"),
]
INACTIVE = [user("ZGVhY3RpdmF0ZWQwMDAwMQ", "leaver@example.com", status="inactive",
                 last_login_time="2025-12-01T09:00:00Z")]
PENDING = [user(None, "Newhire@Example.com", status="pending", user_created_at="2026-06-25T09:00:00Z",
                created_at="2026-06-25T09:00:00Z"),
           # An older answer: no user_created_at, and created_at is the time of the request.
           user(None, "late@example.com", status="pending", user_created_at=None,
                created_at="2026-06-30T01:02:03Z")]


class FakeZoom:
    """Zoom's token endpoint and ``GET /users``, paged by ``next_page_token``.

    It checks what the real service checks: HTTP Basic client credentials, the
    ``account_credentials`` grant and the account, a bearer token it issued and
    has not expired, the page size limit; it pages ``per_page`` users at a time.
    """

    def __init__(self, httpserver, users: dict[str, list[dict]], per_page: int = 2,
                 expires_in: int = 3600) -> None:
        self.server = httpserver
        self.users = users
        self.per_page = per_page
        self.expires_in = expires_in
        self.issued: list[str] = []
        self.valid: set[str] = set()
        self.token_forms: list[dict] = []
        self.requests: list[dict] = []
        #: (status, page number) → (HTTP status, body, headers), answered once instead of the page.
        self.faults: dict[tuple[str, int], tuple[int, dict, dict]] = {}
        #: Called with the page number before answering a page (to let time pass, revoke tokens…).
        self.on_page = None
        httpserver.expect_request("/oauth/token", method="POST").respond_with_handler(self.token)
        httpserver.expect_request("/v2/users", method="GET").respond_with_handler(self.list_users)

    @staticmethod
    def reply(body: dict, status: int = 200, headers: dict | None = None) -> Response:
        return Response(json.dumps(body), status=status, headers=headers,
                        content_type="application/json;charset=UTF-8")

    def token(self, request: Request) -> Response:
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return self.reply({"reason": "Invalid client_id or client_secret", "error": "invalid_client"},
                              400)
        form = request.form.to_dict()
        self.token_forms.append(form)
        if form.get("grant_type") != "account_credentials":
            return self.reply({"reason": "Unsupported grant type", "error": "unsupported_grant_type"}, 400)
        if form.get("account_id") != ACCOUNT_ID:
            return self.reply({"reason": "Invalid account_id", "error": "invalid_request"}, 400)
        token = f"zoom-access-token-{len(self.issued) + 1}"
        self.issued.append(token)
        self.valid.add(token)
        return self.reply({"access_token": token, "token_type": "bearer",
                           "expires_in": self.expires_in, "scope": "user:read:list_users:admin",
                           "api_url": "https://api.zoom.us"})

    def expire(self, token: str) -> None:
        self.valid.discard(token)

    def list_users(self, request: Request) -> Response:
        auth = request.headers.get("Authorization", "")
        query = {k: v[0] for k, v in parse_qs(request.query_string.decode()).items()}
        self.requests.append({"token": auth.removeprefix("Bearer "), **query})
        status = query.get("status", "active")
        token = query.get("next_page_token", "")
        page = int(token.removeprefix(f"{status}-page-")) if token else 1
        if self.on_page is not None:
            self.on_page(page)
        if auth.removeprefix("Bearer ") not in self.valid:
            return self.reply({"code": 124, "message": "Invalid access token."}, 401)
        if int(query.get("page_size", 30)) > 300:
            return self.reply({"code": 300, "message": "The page size cannot exceed 300."}, 400)
        fault = self.faults.pop((status, page), None)
        if fault is not None:
            return self.reply(fault[1], fault[0], fault[2])
        users = self.users.get(status, [])
        chunk = users[(page - 1) * self.per_page:page * self.per_page]
        more = page * self.per_page < len(users)
        return self.reply({
            "page_count": max(1, -(-len(users) // self.per_page)), "page_number": page,
            "page_size": self.per_page, "total_records": len(users),
            "next_page_token": f"{status}-page-{page + 1}" if more else "", "users": chunk})


@pytest.fixture(autouse=True)
def zoom_registered(monkeypatch):
    """Until the entry point is installed, the registry learns the collector here."""
    if "zoom" not in collectors.names():
        monkeypatch.setitem(collectors._items, "zoom", ZoomCollector)


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    got: list[float] = []
    monkeypatch.setattr(ZoomCollector, "sleep", staticmethod(got.append))
    return got


@pytest.fixture
def zoom(httpserver, waits) -> FakeZoom:
    return FakeZoom(httpserver, {"active": ACTIVE, "inactive": INACTIVE, "pending": PENDING})


def setup(tmp_path: Path, httpserver, monkeypatch, extra: str = "", secret: str | None = SECRET) -> None:
    if secret is not None:
        monkeypatch.setenv(SECRET_ENV, secret)
    (tmp_path / "dialtone.yaml").write_text(f"""\
sources:
  zoom:
    collector: zoom
    account_id: {ACCOUNT_ID}
    client_id: {CLIENT_ID}
    client_secret_env: {SECRET_ENV}
    base_url: {httpserver.url_for("/v2")}
    token_url: {httpserver.url_for("/oauth/token")}
{extra}""", encoding="utf-8")


def run(tmp_path: Path):
    return collect(load_config(tmp_path / "dialtone.yaml"), as_of=AS_OF)


def licenses(result) -> dict[str, dict]:
    return {r["id"]: r for r in pq.read_table(result.snapshot.parquet("licenses")).to_pylist()}


def test_every_user_becomes_a_licence_across_pages_and_statuses(tmp_path, httpserver, monkeypatch, zoom):
    setup(tmp_path, httpserver, monkeypatch,
          "    license_prices: {Licensed: 13.33, '4': 0}\n    currency: USD\n")
    result = run(tmp_path)
    assert result.rows == {"licenses": 8} and result.rejects == 0
    got = licenses(result)
    ada = got["zoom:KDcuGIm1QgePTO8WbOqwIQ"]
    assert ada == {**ada, "product": "zoom", "sku": "Licensed", "assigned_to": "ada@example.com",
                   "status": "active", "assigned_on": dt.date(2023, 1, 16),
                   "last_active_on": dt.date(2026, 6, 29), "monthly_cost": 13.33, "currency": "USD"}
    grace = got["zoom:bWhhbmdvOmNvbTAxMjM0NQ"]        # Basic, never signed in, no price configured
    assert (grace["sku"], grace["last_active_on"], grace["monthly_cost"], grace["currency"]) == (
        "Basic", None, None, None)
    edsger = got["zoom:ZmluYW5jZTAxMjM0NTY3OA"]       # priced by type number; time zone → UTC date
    assert (edsger["sku"], edsger["monthly_cost"], edsger["last_active_on"]) == (
        "Unassigned without Meetings Basic", 0.0, dt.date(2026, 5, 31))
    assert got["zoom:cm9vbXNfcm9vbTAwMDAwMQ"]["assigned_on"] == dt.date(2022, 11, 30)  # created_at
    assert got["zoom:ZGVhY3RpdmF0ZWQwMDAwMQ"]["status"] == "disabled"                   # inactive
    pending = got["zoom:pending:newhire@example.com"]                                  # no id yet
    assert (pending["status"], pending["assigned_to"], pending["assigned_on"]) == (
        "pending", "Newhire@Example.com", dt.date(2026, 6, 25))
    assert got["zoom:pending:late@example.com"]["assigned_on"] is None     # not the request's day

    # One token, the account_credentials grant; the pages followed by next_page_token.
    assert zoom.token_forms == [{"grant_type": "account_credentials", "account_id": ACCOUNT_ID}]
    assert [(r["status"], r.get("next_page_token"), r["page_size"]) for r in zoom.requests] == [
        ("active", None, "300"), ("active", "active-page-2", "300"), ("active", "active-page-3", "300"),
        ("inactive", None, "300"), ("pending", None, "300")]
    meta = result.snapshot.manifest["sources"]["zoom"]
    assert set(meta["inputs"]) == {"users?status=active", "users?status=inactive",
                                   "users?status=pending"}
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in meta["inputs"].values())
    manifest = json.dumps(result.snapshot.manifest)
    assert SECRET not in manifest and "zoom-access-token" not in manifest


def test_what_the_collector_emits_is_what_it_declares_it_fills(tmp_path, httpserver, monkeypatch, zoom):
    setup(tmp_path, httpserver, monkeypatch, "    license_prices: {Licensed: 13.33}\n    currency: USD\n")
    (source,) = load_config(tmp_path / "dialtone.yaml").sources.values()
    data = ZoomCollector(source.name, source.settings, tmp_path).collect()
    emitted = {b.entity: set(b.table.column_names) - {"__row"} for b in data.batches}
    assert emitted == {e: set(f) for e, f in ZoomCollector.fills.items()}


def test_a_429_is_retried_after_the_wait_zoom_asks_for(tmp_path, httpserver, monkeypatch, zoom, waits):
    zoom.faults[("active", 2)] = (429, {"code": 429, "message": "You have reached the maximum "
                                        "per-second rate limit for this API. Try again later."},
                                  {"Retry-After": "2", "X-RateLimit-Category": "Medium"})
    setup(tmp_path, httpserver, monkeypatch, "    statuses: [active]\n")
    result = run(tmp_path)
    assert result.rows == {"licenses": 5}
    assert waits == [2.0]
    assert [r.get("next_page_token") for r in zoom.requests] == [
        None, "active-page-2", "active-page-2", "active-page-3"]


def test_a_page_without_its_users_fails_the_source_rather_than_end_the_list(
        tmp_path, httpserver, monkeypatch, zoom):
    # A 200 answer whose 'users' is missing (a gateway's or a truncated reply) was read as an
    # empty page that ended the list: the users after it vanished from a "complete" estate,
    # and their licences looked removed.
    zoom.faults[("active", 2)] = (200, {"page_count": 3, "page_number": 2, "page_size": 2,
                                        "total_records": 5, "next_page_token": ""}, {})
    setup(tmp_path, httpserver, monkeypatch, "    statuses: [active]\n")
    with pytest.raises(CollectError, match=r"GET /users\?status=active: the answer has no 'users'"):
        run(tmp_path)


def test_an_empty_status_may_leave_users_out(tmp_path, httpserver, monkeypatch, zoom):
    zoom.faults[("pending", 1)] = (200, {"page_count": 0, "page_number": 1, "page_size": 300,
                                         "total_records": 0, "next_page_token": ""}, {})
    setup(tmp_path, httpserver, monkeypatch, "    statuses: [pending]\n")
    assert run(tmp_path).rows.get("licenses", 0) == 0


def test_a_token_the_service_no_longer_accepts_is_replaced_once(tmp_path, httpserver, monkeypatch, zoom):
    # Zoom answers 401 (code 124) to an expired token: a new one is fetched and the page asked again.
    zoom.on_page = lambda page: page == 2 and zoom.expire(zoom.issued[0])
    setup(tmp_path, httpserver, monkeypatch, "    statuses: [active]\n")
    assert run(tmp_path).rows == {"licenses": 5}
    assert zoom.issued == ["zoom-access-token-1", "zoom-access-token-2"]
    assert [r["token"][-1] for r in zoom.requests] == ["1", "1", "2", "2"]


def test_a_token_is_renewed_before_its_hour_runs_out(tmp_path, httpserver, monkeypatch, zoom):
    now = [1000.0]
    monkeypatch.setattr(ZoomCollector, "clock", staticmethod(lambda: now[0]))

    def an_hour_passes(page: int) -> None:
        if page == 2:
            now[0] += 3600
    zoom.on_page = an_hour_passes
    setup(tmp_path, httpserver, monkeypatch, "    statuses: [active]\n")
    assert run(tmp_path).rows == {"licenses": 5}
    # The token was not refused: the collector saw it had expired and fetched another.
    assert [r["token"][-1] for r in zoom.requests] == ["1", "1", "2"]
    assert len(zoom.token_forms) == 2


def test_a_malformed_user_is_a_reject_with_its_position_and_reason(tmp_path, httpserver, monkeypatch,
                                                                   waits):
    users = [ACTIVE[0], user("b2RkMDAwMDAwMDAwMDAwMQ", "odd@example.com", last_login_time="last tuesday"),
             user(None, "noid@example.com"), "not a user", ACTIVE[1]]
    FakeZoom(httpserver, {"active": users}, per_page=3)
    setup(tmp_path, httpserver, monkeypatch, "    statuses: [active]\n")
    result = run(tmp_path)
    assert set(licenses(result)) == {"zoom:KDcuGIm1QgePTO8WbOqwIQ", "zoom:z8yBXksSRjaHMNuMr3Yxzw"}
    assert [(r["entity"], r["origin"], r["row"], r["field"], r["value"], r["reason"])
            for r in rejects(result)] == [
        ("licenses", "users?status=active", "2", "last_login_time", "last tuesday",
         "expected an ISO 8601 date-time"),
        ("licenses", "users?status=active", "3", "id", "", "required field is missing"),
        ("licenses", "users?status=active", "4", "", '"not a user"', "expected a JSON object"),
    ]


def test_plan_types_keeps_only_the_plans_asked_for(tmp_path, httpserver, monkeypatch, zoom):
    setup(tmp_path, httpserver, monkeypatch, "    statuses: [active]\n    plan_types: [2]\n")
    result = run(tmp_path)
    assert {r["sku"] for r in licenses(result).values()} == {"Licensed"}
    assert any("2 user(s) on plan types not in plan_types left out" in w for w in result.warnings)


def test_a_refused_token_request_names_the_source_and_zoom_error_never_the_secret(
        tmp_path, httpserver, monkeypatch, zoom):
    setup(tmp_path, httpserver, monkeypatch, secret="not-the-right-secret")
    with pytest.raises(CollectError) as err:
        run(tmp_path)
    assert re.search(r"^  source 'zoom': token request to http://localhost:\d+/oauth/token "
                     r"refused: invalid_client$", str(err.value), re.M)
    assert "not-the-right-secret" not in str(err.value)
    assert SnapshotStore(load_config(tmp_path / "dialtone.yaml").data_dir).latest() is None


def test_an_api_error_carries_zoom_code_and_message(tmp_path, httpserver, monkeypatch, zoom):
    zoom.faults[("active", 1)] = (400, {"code": 4711, "message": "Invalid access token, does not "
                                        "contain scopes:[user:read:list_users:admin]."}, {})
    setup(tmp_path, httpserver, monkeypatch)
    with pytest.raises(CollectError) as err:
        run(tmp_path)
    message = str(err.value)
    assert re.search(r"^  source 'zoom': GET http://localhost:\d+/v2/users: HTTP 400 BAD REQUEST: "
                     r"4711: Invalid access token, does not contain scopes:"
                     r"\[user:read:list_users:admin\]\.$", message, re.M)
    assert "zoom-access-token" not in message


def test_a_missing_secret_is_a_config_error(tmp_path, httpserver, monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    setup(tmp_path, httpserver, monkeypatch, secret=None)
    with pytest.raises(ConfigError, match=f"sources.zoom.client_secret_env: the environment variable "
                                          f"{SECRET_ENV} is not set"):
        run(tmp_path)


def test_prices_need_a_currency():
    with pytest.raises(ConfigError, match="'currency' is a dependency of 'license_prices'"):
        check_settings(ZoomCollector, "zoom", {"account_id": "a", "client_id": "c",
                                               "client_secret_env": "X", "license_prices": {"Licensed": 1}})


def yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, re.S)


def docstring_example(doc: str) -> str:
    """The indented block after the first ``::`` of a module docstring."""
    block = doc.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    return textwrap.dedent(block)


def test_the_documented_examples_are_valid_settings_and_every_setting_is_documented():
    doc = (ROOT / "docs" / "collectors" / "zoom.md").read_text(encoding="utf-8")
    examples = yaml_blocks(doc) + [docstring_example(zoom_module.__doc__)]
    for block in examples:
        for name, source in safe_load(block)["sources"].items():
            settings = {k: v for k, v in source.items() if k != "collector"}
            check_settings(ZoomCollector, name, settings)
    for setting in ZoomCollector.config_schema["properties"]:
        assert f"`{setting}`" in doc, f"docs/collectors/zoom.md does not document {setting}"


def test_a_deactivated_user_holds_no_paid_seat(tmp_path, httpserver, monkeypatch, zoom):
    # Zoom: "Deactivating a user removes all licenses associated with a user" (Update user
    # status). The deactivated leaver still listed with type 2 was priced as a Licensed seat,
    # so cost.leaver-licenses claimed a saving Zoom had already made at deactivation.
    setup(tmp_path, httpserver, monkeypatch,
          "    license_prices: {Licensed: 13.33}\n    currency: USD\n    statuses: [inactive]\n")
    leaver = licenses(run(tmp_path))["zoom:ZGVhY3RpdmF0ZWQwMDAwMQ"]
    assert (leaver["status"], leaver["monthly_cost"]) == ("disabled", 0.0)


def test_a_deactivated_user_costs_nothing_even_without_prices(tmp_path, httpserver, monkeypatch, zoom):
    # Without license_prices a cost would be unknown, and an unknown cost is still a finding.
    setup(tmp_path, httpserver, monkeypatch, "    statuses: [inactive]\n")
    leaver = licenses(run(tmp_path))["zoom:ZGVhY3RpdmF0ZWQwMDAwMQ"]
    assert leaver["monthly_cost"] == 0.0


def test_a_listing_shorter_than_its_total_records_fails_the_source(tmp_path, httpserver, monkeypatch,
                                                                   zoom):
    # A page that ends the listing early (an empty next_page_token while total_records says
    # more users exist) left the others out of an estate taken as complete: their licences
    # looked removed. The users read must reach the total Zoom gives.
    zoom.faults[("active", 2)] = (200, {"page_count": 3, "page_number": 2, "page_size": 2,
                                        "total_records": 5, "next_page_token": "",
                                        "users": ACTIVE[2:4]}, {})
    setup(tmp_path, httpserver, monkeypatch, "    statuses: [active]\n")
    with pytest.raises(CollectError, match=r"GET /users\?status=active: Zoom listed 4 user\(s\) "
                                           r"of the 5 its total_records gives"):
        run(tmp_path)


def test_a_user_added_while_listing_does_not_fail_the_source(tmp_path, httpserver, monkeypatch, zoom):
    # More users than the first page's total (someone joined while the pages were read) is
    # no missing data.
    zoom.faults[("active", 1)] = (200, {"page_count": 3, "page_number": 1, "page_size": 2,
                                        "total_records": 4, "next_page_token": "active-page-2",
                                        "users": ACTIVE[0:2]}, {})
    setup(tmp_path, httpserver, monkeypatch, "    statuses: [active]\n")
    assert run(tmp_path).rows == {"licenses": 5}
