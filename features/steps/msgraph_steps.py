"""Steps for collecting a Microsoft 365 tenant (the msgraph collector), and the fake tenant they use.

:class:`FakeGraph` serves a Microsoft identity platform token endpoint and the
Graph v1.0 collections of ``tests/samples/msgraph/tenant.json`` on a loopback
``pytest-httpserver``: it checks the client-credentials grant and the bearer
token, pages collections through ``@odata.nextLink``, applies ``$select``,
expands a user's ``manager`` (and then, like Graph, serves at most 100 records a
page whatever ``$top`` says), throttles with 429 + ``Retry-After`` and answers
errors in Graph's shape. The
Teams user activity report answers ``302 Found`` with a one-time download link
on the same server that serves ``tests/samples/msgraph/teams-user-activity.csv``
and records whether credentials came with it. Refusals are Graph's: 403
``Authorization_RequestDenied`` for a missing permission,
``Authentication_RequestFromNonPremiumTenantOrB2CTenant`` for ``signInActivity``
on a tenant without Entra ID P1/P2.
tests/test_collector_msgraph.py uses it too.
"""

from __future__ import annotations

import base64
import csv
import json
import re
from pathlib import Path
from urllib.parse import urlencode

import pyarrow.parquet as pq
import pytest
from pytest_bdd import given, parsers, then
from werkzeug import Request, Response

SAMPLES = Path(__file__).resolve().parents[2] / "tests" / "samples" / "msgraph"
TENANT_FILE = SAMPLES / "tenant.json"
TEAMS_REPORT_FILE = SAMPLES / "teams-user-activity.csv"
TEAMS_REPORT = "reports/getTeamsUserActivityUserDetail(period='D180')"
TENANT = "fabrikam.example"
CLIENT_ID = "6d1f0f4e-3b9a-4c55-9d0e-7a51c2b0e001"
CLIENT_SECRET = "Zq8~graph-client-secret-for-tests-only"
SCOPE = "https://graph.microsoft.com/.default"
SECRET_ENV = "DIALTONE_GRAPH_SECRET"


def load_tenant() -> dict[str, list[dict]]:
    data = json.loads(TENANT_FILE.read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def graph_error(status: int, code: str, message: str, headers: dict | None = None) -> Response:
    body = {"error": {"code": code, "message": message,
                      "innerError": {"date": "2026-06-30T00:00:00", "request-id": "00000000-0000-0000"}}}
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


class FakeGraph:
    """A loopback Microsoft 365 tenant: token endpoint plus Graph v1.0 collections."""

    def __init__(self, server, *, data: dict[str, list[dict]] | None = None, page_size: int = 2,
                 expires_in: int = 3599, throttle: dict[str, str] | None = None,
                 deny: tuple[str, ...] = (), deny_leave_date: bool = False, deny_sign_in: bool = False,
                 deny_expand: int | None = None, teams_report: bytes | None = None) -> None:
        self.server = server
        self.data = load_tenant() if data is None else data
        self.page_size = page_size
        self.expires_in = expires_in
        self.throttle = dict(throttle or {})      # path → Retry-After of its one 429
        self.deny = deny                          # paths the app has no permission for
        self.deny_leave_date = deny_leave_date
        self.deny_sign_in = deny_sign_in          # a tenant without Entra ID P1/P2
        self.deny_expand = deny_expand            # the status refusing $expand (a national cloud: 400)
        self.teams_report = TEAMS_REPORT_FILE.read_bytes() if teams_report is None else teams_report
        self.downloads: list[dict] = []           # the report downloads: their request headers
        self.tokens: list[str] = []
        self.valid: set[str] = set()
        self.token_forms: list[dict] = []
        self.calls: list[tuple[str, dict]] = []   # Graph requests: (path, query)
        server.expect_request(f"/{TENANT}/oauth2/v2.0/token", method="POST").respond_with_handler(
            self._token)
        server.expect_request(re.compile(r"^/v1\.0/.+"), method="GET").respond_with_handler(self._graph)
        server.expect_request(re.compile(r"^/download/.+"), method="GET").respond_with_handler(self._download)

    @property
    def graph_url(self) -> str:
        return self.server.url_for("/v1.0")

    @property
    def token_url(self) -> str:
        return self.server.url_for("/{tenant_id}/oauth2/v2.0/token")

    def config(self, source: str = "m365", extra: str = "",
               prices: str | None = "{SPE_E5: 57.00, MCOEV: 8.00}") -> str:
        """The sources section for this tenant (the secret by environment variable)."""
        return (f"sources:\n  {source}:\n    collector: msgraph\n    tenant_id: {TENANT}\n"
                f"    client_id: {CLIENT_ID}\n    client_secret_env: {SECRET_ENV}\n"
                f"    graph_url: {self.graph_url}\n    token_url: {self.token_url}\n"
                + (f"    license_prices: {prices}\n" if prices else "") + extra)

    def revoke(self) -> None:
        """Every token issued so far stops working (as when it expires)."""
        self.valid.clear()

    def pages(self, path: str) -> int:
        return sum(1 for p, _ in self.calls if p == path)

    # -- handlers -----------------------------------------------------------------------------
    def _download(self, request: Request) -> Response:
        self.downloads.append(dict(request.headers))
        return Response(self.teams_report, content_type="application/octet-stream")

    def _token(self, request: Request) -> Response:
        form = request.form.to_dict()
        self.token_forms.append(form)
        if form.get("grant_type") != "client_credentials":
            return self._oauth_error(400, "unsupported_grant_type", "AADSTS70003: grant type not supported.")
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return self._oauth_error(401, "invalid_client",
                                     "AADSTS7000215: Invalid client secret provided. Ensure the secret "
                                     "being sent in the request is the client secret value.")
        if form.get("scope") != SCOPE:
            return self._oauth_error(400, "invalid_scope", "AADSTS1002012: The provided value for scope "
                                     f"{form.get('scope')} is not valid.")
        token = f"eyJ0eXAiOiJKV1Qi.fake-graph-token-{len(self.tokens) + 1}"
        self.tokens.append(token)
        self.valid.add(token)
        body = {"token_type": "Bearer", "expires_in": self.expires_in, "ext_expires_in": self.expires_in,
                "access_token": token}
        return Response(json.dumps(body), content_type="application/json")

    @staticmethod
    def _oauth_error(status: int, error: str, description: str) -> Response:
        body = {"error": error, "error_description": description, "error_codes": [7000215],
                "timestamp": "2026-06-30 00:00:00Z", "trace_id": "0", "correlation_id": "0"}
        return Response(json.dumps(body), status=status, content_type="application/json")

    def _graph(self, request: Request) -> Response:
        path = request.path.removeprefix("/v1.0/")
        query = request.args.to_dict()
        self.calls.append((path, query))
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.valid:
            return graph_error(401, "InvalidAuthenticationToken",
                               "Access token has expired or is not yet valid.")
        if path in self.throttle:
            return graph_error(429, "TooManyRequests", "Too many requests, retry later.",
                               {"Retry-After": self.throttle.pop(path)})
        select = [s for s in query.get("$select", "").split(",") if s]
        if path in self.deny or (self.deny_leave_date and "employeeLeaveDateTime" in select):
            return graph_error(403, "Authorization_RequestDenied",
                               "Insufficient privileges to complete the operation.")
        if self.deny_sign_in and "signInActivity" in select:
            return graph_error(403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                               "Neither tenant is B2C or tenant doesn't have premium license")
        expand = query.get("$expand")
        if expand is not None and self.deny_expand is not None:
            if self.deny_expand == 403:
                return graph_error(403, "Authorization_RequestDenied",
                                   "Insufficient privileges to complete the operation.")
            return graph_error(self.deny_expand, "Request_UnsupportedQuery",
                               "Unsupported query: $expand is not supported here.")
        if expand is not None and expand != "manager($select=id)":
            return graph_error(400, "Request_BadRequest", f"Unexpected $expand {expand} in this fake.")
        if path == TEAMS_REPORT:
            # Graph hands the CSV out through a short-lived pre-authenticated link.
            link = f"/download/{base64.urlsafe_b64encode(auth.encode()).decode()[:24]}"
            return Response("", status=302, headers={"Location": self.server.url_for(link)},
                            content_type="text/plain")
        if path not in self.data:
            return graph_error(404, "Request_ResourceNotFound",
                               f"Resource not found for the segment '{path.split('/')[-1]}'.")
        records = self.data[path]
        start = int(base64.b64decode(query["$skiptoken"]).decode()) if "$skiptoken" in query else 0
        size = min(self.page_size, int(query.get("$top", self.page_size)))
        if expand is not None:
            size = min(size, 100)       # Graph's known issue 13635: expanded pages hold 100 at most
        page = records[start:start + size]
        if select:
            page = [{k: r[k] for k in select if k in r} if isinstance(r, dict) else r for r in page]
        # The manager is a navigation property: only $expand returns it, with its id and type.
        page = [{k: v for k, v in r.items() if k != "manager"} if isinstance(r, dict) else r for r in page]
        if expand is not None:
            page = [{**r, "manager": {k: m[k] for k in ("@odata.type", "id") if k in m}}
                    if isinstance(r, dict) and isinstance(m := raw.get("manager"), dict) else r
                    for r, raw in zip(page, records[start:start + size], strict=True)]
        body: dict = {"@odata.context": f"{self.graph_url}/$metadata#{path}", "value": page}
        if start + size < len(records):
            rest = {k: v for k, v in query.items() if k != "$skiptoken"}
            rest["$skiptoken"] = base64.b64encode(str(start + size).encode()).decode()
            body["@odata.nextLink"] = f"{self.graph_url}/{path}?{urlencode(rest, safe='$,')}"
        return Response(json.dumps(body), content_type="application/json")


# -- steps ------------------------------------------------------------------------------------
@given(parsers.parse("a Microsoft 365 tenant whose users Graph serves in pages of {size:d}"),
       target_fixture="graph")
def graph_tenant(httpserver, monkeypatch: pytest.MonkeyPatch, world: dict, size: int) -> FakeGraph:
    from dialtone.collectors.msgraph import GraphCollector

    world["waits"] = []
    monkeypatch.setattr(GraphCollector, "sleep", world["waits"].append)
    return FakeGraph(httpserver, page_size=size)


@given(parsers.parse("Graph throttles the first request for users with Retry-After {seconds}"))
def graph_throttles(graph: FakeGraph, seconds: str) -> None:
    graph.throttle["users"] = seconds


@given(parsers.parse('a source "{name}" for the tenant with its client secret in {variable}'))
def graph_source(graph: FakeGraph, world: dict, monkeypatch: pytest.MonkeyPatch, name: str,
                 variable: str) -> None:
    assert variable == SECRET_ENV, f"the fake tenant's configuration names {SECRET_ENV}"
    monkeypatch.setenv(variable, CLIENT_SECRET)
    (world["root"] / "dialtone.yaml").write_text(graph.config(name), encoding="utf-8")


@then(parsers.parse("Graph served the users in {pages:d} pages after waiting {seconds:d} seconds once"))
def graph_paged(graph: FakeGraph, world: dict, pages: int, seconds: int) -> None:
    # One request was throttled: pages + 1 requests for /users.
    assert graph.pages("users") == pages + 1, graph.calls
    assert world["waits"] == [seconds], world["waits"]


def _snapshot_rows(world: dict, entity: str) -> list[dict]:
    return pq.read_table(world["snapshot"] / f"{entity}.parquet").to_pylist()


@then(parsers.parse('the snapshot has {n:d} people from "{source}"'))
def graph_people(world: dict, n: int, source: str) -> None:
    people = _snapshot_rows(world, "people")
    assert len(people) == n and {p["_source"] for p in people} == {source}, people


@then(parsers.parse('"{upn}" is {status} and holds the licences {skus}'))
def graph_person_licences(world: dict, upn: str, status: str, skus: str) -> None:
    (person,) = [p for p in _snapshot_rows(world, "people") if p["upn"] == upn]
    assert person["status"] == status, person
    held = sorted(lic["sku"] for lic in _snapshot_rows(world, "licenses")
                  if lic["assigned_to"] == person["id"])
    assert held == sorted(s.strip() for s in skus.split(",")), held


@then(parsers.parse('"{upn}" is of kind {kind}, {status}, holding the licences {skus}'))
def graph_account_kind(world: dict, upn: str, kind: str, status: str, skus: str) -> None:
    (person,) = [p for p in _snapshot_rows(world, "people") if p["upn"] == upn]
    assert (person["kind"], person["status"]) == (kind, status), person
    world["account"] = person
    graph_person_licences(world, upn, status, skus)


@then(parsers.parse("its {sku} licence is {status} though the account is disabled"))
def graph_account_licence(world: dict, sku: str, status: str) -> None:
    (licence,) = [lic for lic in _snapshot_rows(world, "licenses")
                  if lic["assigned_to"] == world["account"]["id"] and lic["sku"] == sku]
    assert licence["status"] == status, licence


@then(parsers.parse("the rejects are:"))
def graph_rejects(world: dict, datatable) -> None:
    header, *rows = datatable
    with (world["snapshot"] / "rejects.csv").open(encoding="utf-8") as fh:
        got = [[r[h] for h in header] for r in csv.DictReader(fh)]
    assert got == rows, got


@then("the client secret appears nowhere in the snapshot")
def graph_secret_nowhere(world: dict) -> None:
    for f in world["snapshot"].rglob("*"):
        if f.is_file():
            assert CLIENT_SECRET.encode() not in f.read_bytes(), f
