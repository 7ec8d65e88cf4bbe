"""The REST kit (collectors/http_api.py) against a real loopback HTTP server."""

from __future__ import annotations

import email.utils
import json
import socket
import time
from pathlib import Path

import pytest
import requests
from werkzeug import Request, Response

from dialtone.collectors.http_api import (
    ApiClient,
    ApiError,
    ClientCredentialsToken,
    TokenSource,
    secret,
)
from dialtone.engine.errors import CollectError, ConfigError

TOKEN = "tok-0123456789abcdef"   # what a bearer token looks like to the checks below


class Tokens:
    """A token source handing out tok-1, tok-2… and counting refreshes."""

    def __init__(self) -> None:
        self.issued = 1
        self.refreshes = 0

    def token(self, force_refresh: bool = False) -> str:
        if force_refresh:
            self.refreshes += 1
            self.issued += 1
        return f"{TOKEN}-{self.issued}"


def client(httpserver, waits: list[float] | None = None, **kwargs) -> ApiClient:
    kwargs.setdefault("auth", None)
    kwargs.setdefault("source", "svc")
    return ApiClient(httpserver.url_for("/v1.0"), sleep=(waits if waits is not None else []).append,
                     **kwargs)


def json_response(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


def test_a_path_joins_the_base_url_and_params_are_sent(httpserver):
    httpserver.expect_request("/v1.0/users", query_string={"$top": "2"}).respond_with_json({"value": [1]})
    api = client(httpserver)
    assert api.get_json("users", {"$top": 2}) == {"value": [1]}
    assert api.get_json("/users", {"$top": 2}) == {"value": [1]}
    assert (api.requests, api.retries, api.pages) == (2, 0, 2)


def test_a_next_link_on_the_same_host_is_followed_as_given(httpserver):
    httpserver.expect_request("/v1.0/users", query_string="$skiptoken=abc").respond_with_json({"value": []})
    assert client(httpserver).get_json(httpserver.url_for("/v1.0/users?$skiptoken=abc")) == {"value": []}


@pytest.mark.parametrize("link", ["http://graph.example.net/v1.0/users?$skiptoken=x",
                                  "https://localhost:{port}/v1.0/users",
                                  "http://localhost:1/v1.0/users"])
def test_a_next_link_to_another_host_scheme_or_port_is_refused(httpserver, link):
    api = client(httpserver)
    with pytest.raises(CollectError, match="refusing to follow a link to .*not on http://localhost"):
        api.get_json(link.format(port=httpserver.port))
    assert api.requests == 0 and not httpserver.log


def test_retry_after_in_seconds_is_honoured(httpserver):
    httpserver.expect_oneshot_request("/v1.0/users").respond_with_json(
        {"error": {"code": "TooManyRequests", "message": "slow down"}}, status=429,
        headers={"Retry-After": "7"})
    httpserver.expect_request("/v1.0/users").respond_with_json({"value": ["ok"]})
    waits: list[float] = []
    api = client(httpserver, waits)
    assert api.get_json("users") == {"value": ["ok"]}
    assert waits == [7] and (api.requests, api.retries, api.pages) == (2, 1, 1)


def test_retry_after_as_an_http_date_is_honoured_and_every_wait_is_capped(httpserver):
    soon = email.utils.formatdate(time.time() + 30, usegmt=True)
    later = email.utils.formatdate(time.time() + 3600, usegmt=True)
    for value in (soon, later, "600"):
        httpserver.expect_ordered_request("/v1.0/x").respond_with_data(
            "", status=503, headers={"Retry-After": value})
    httpserver.expect_ordered_request("/v1.0/x").respond_with_json({})
    waits: list[float] = []
    client(httpserver, waits, max_retry_after=120).get_json("x")
    assert 25 <= waits[0] <= 30 and waits[1:] == [120, 120]


def test_without_retry_after_the_wait_doubles(httpserver):
    for status in (503, 502, 504, 429):
        httpserver.expect_ordered_request("/v1.0/x").respond_with_data("busy", status=status)
    httpserver.expect_ordered_request("/v1.0/x").respond_with_json({"ok": True})
    waits: list[float] = []
    api = client(httpserver, waits)
    assert api.get_json("x") == {"ok": True}
    assert waits == [1, 2, 4, 8] and api.retries == 4


def test_when_retries_run_out_the_error_says_so_with_the_services_message(httpserver):
    httpserver.expect_request("/v1.0/x").respond_with_json(
        {"error": {"code": "serviceNotAvailable", "message": "Try again later."}}, status=503,
        headers={"Retry-After": "2"})
    waits: list[float] = []
    with pytest.raises(ApiError) as err:
        client(httpserver, waits, max_retries=2).get_json("x")
    assert str(err.value) == (
        f"source 'svc': GET {httpserver.url_for('/v1.0/x')}: HTTP 503 SERVICE UNAVAILABLE "
        "(after 3 attempts): serviceNotAvailable: Try again later.")
    assert waits == [2, 2] and err.value.status == 503


def test_a_401_fetches_a_new_token_once(httpserver):
    def handler(request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}-2":
            return json_response({"error": {"code": "InvalidAuthenticationToken",
                                            "message": "Access token has expired."}}, 401)
        return json_response({"value": []})

    httpserver.expect_request("/v1.0/me").respond_with_handler(handler)
    tokens = Tokens()
    assert isinstance(tokens, TokenSource)
    api = client(httpserver, auth=tokens)
    assert api.get_json("me") == {"value": []}
    assert tokens.refreshes == 1 and api.requests == 2
    assert [r.headers["Authorization"] for r, _ in httpserver.log] == [
        f"Bearer {TOKEN}-1", f"Bearer {TOKEN}-2"]


def test_a_second_401_is_an_error_without_the_token(httpserver):
    httpserver.expect_request("/v1.0/me").respond_with_json(
        {"error": {"code": "InvalidAuthenticationToken", "message": "Access token validation failure."}},
        status=401)
    tokens = Tokens()
    with pytest.raises(CollectError, match="HTTP 401 UNAUTHORIZED: InvalidAuthenticationToken: "
                                           "Access token validation failure.") as err:
        client(httpserver, auth=tokens).get_json("me")
    assert tokens.refreshes == 1 and TOKEN not in str(err.value)


@pytest.mark.parametrize(("body", "message"), [
    ({"error": {"code": "Authorization_RequestDenied",
                "message": "Insufficient privileges to complete the operation."}},
     "Authorization_RequestDenied: Insufficient privileges to complete the operation."),
    ({"code": 124, "message": "Invalid access token."}, "124: Invalid access token."),
    ({"code": 20404, "message": "The requested resource was not found",
      "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404},
     "20404: The requested resource was not found (see https://www.twilio.com/docs/errors/20404)"),
    ({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret."},
     "invalid_client: AADSTS7000215: Invalid client secret."),
])
def test_errors_carry_the_services_own_message_and_no_query_string(httpserver, body, message):
    httpserver.expect_request("/v1.0/things").respond_with_json(body, status=403)
    with pytest.raises(ApiError) as err:
        client(httpserver).get_json(httpserver.url_for("/v1.0/things?$skiptoken=s3cr3t&key=abc"))
    text = str(err.value)
    assert text == f"source 'svc': GET {httpserver.url_for('/v1.0/things')}: HTTP 403 FORBIDDEN: {message}"
    assert "s3cr3t" not in text and "Traceback" not in text


def test_a_response_that_is_not_a_json_object_is_an_error(httpserver):
    httpserver.expect_request("/v1.0/html").respond_with_data("<html/>", content_type="text/html")
    httpserver.expect_request("/v1.0/list").respond_with_json([1, 2])
    api = client(httpserver)
    with pytest.raises(CollectError, match="HTTP 200, but the response is not JSON .Content-Type text/html"):
        api.get_json("html")
    with pytest.raises(CollectError, match="a JSON list, not an object"):
        api.get_json("list")


def test_a_refused_connection_is_retried_then_a_collect_error(tmp_path):
    with socket.socket() as s:     # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    waits: list[float] = []
    api = ApiClient(f"http://127.0.0.1:{port}/v1.0", auth=None, source="svc", sleep=waits.append,
                    max_retries=2)
    with pytest.raises(CollectError) as err:
        api.get_json("users?$skiptoken=s3cr3t")
    assert str(err.value) == (f"source 'svc': GET http://127.0.0.1:{port}/v1.0/users: "
                              "connection refused (after 3 attempts)")
    assert waits == [1, 2] and api.requests == 3


def test_a_server_that_does_not_answer_in_time_is_a_collect_error(httpserver):
    def slow(request: Request) -> Response:
        time.sleep(0.5)
        return json_response({})

    httpserver.expect_request("/v1.0/slow").respond_with_handler(slow)
    with pytest.raises(CollectError, match=r"GET http://localhost:\d+/v1.0/slow: no answer within 0.1 s"):
        client(httpserver, timeout=0.1, max_retries=0).get_json("slow")


# -- responses too large to hold (security review 2026-12-07) ---------------------------------
def gzip_bomb(size: int) -> bytes:
    """A JSON object of ``size`` bytes, gzipped (about a thousandth of that)."""
    import gzip
    import io

    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9) as fh:
        fh.write(b'{"value": "')
        for _ in range(size >> 16):
            fh.write(b"0" * (1 << 16))
        fh.write(b'"}')
    return buf.getvalue()


def test_a_gzip_bomb_stops_at_the_size_limit_not_at_the_memory_limit(httpserver):
    # 8 MB of JSON in 8 KB of gzip: before the limit the client inflated all of it into memory
    # (a 500 KB answer took 1.6 GB of RSS).
    httpserver.expect_request("/v1.0/users").respond_with_data(
        gzip_bomb(8 << 20), headers={"Content-Encoding": "gzip"}, content_type="application/json")
    with pytest.raises(ApiError) as err:
        client(httpserver, max_response_bytes=1 << 20).get_json("users")
    assert str(err.value) == (f"source 'svc': GET {httpserver.url_for('/v1.0/users')}: the response is "
                              "larger than 1,048,576 bytes (decompressed), the most a response may be")


def test_a_plain_download_over_the_limit_is_refused_and_one_within_it_is_whole(httpserver):
    httpserver.expect_request("/v1.0/big").respond_with_data(b"x" * 70_001)
    httpserver.expect_request("/v1.0/small").respond_with_data(b"y" * 70_000)
    api = client(httpserver, max_response_bytes=70_000)
    with pytest.raises(ApiError, match="larger than 70,000 bytes"):
        api.get_download("big")
    assert api.get_download("small") == b"y" * 70_000


def test_a_response_dripped_slower_than_its_deadline_is_cut_off(httpserver):
    # A byte every 0.1 s never trips the per-read timeout (1 s), so before the deadline such a
    # service held the collect, and the run's lock, for as long as it liked.
    def drip(request: Request) -> Response:
        def body():
            yield b'{"value": "'
            for _ in range(100):
                time.sleep(0.1)
                yield b"0"
            yield b'"}'
        return Response(body(), content_type="application/json")

    httpserver.expect_request("/v1.0/users").respond_with_handler(drip)
    started = time.monotonic()
    with pytest.raises(ApiError) as err:
        client(httpserver, timeout=1, max_response_seconds=0.5).get_json("users")
    assert time.monotonic() - started < 3
    assert str(err.value) == (f"source 'svc': GET {httpserver.url_for('/v1.0/users')}: the response "
                              "took longer than 0.5 s to arrive, the most a response may take")


def test_a_service_that_pages_without_end_is_stopped_at_the_page_limit(httpserver):
    # A next link that is new every time passes every collector's "seen before" check: a Zoom
    # collect against such a service asked for 7,626 pages in 8 s and would never have ended.
    httpserver.expect_request("/v1.0/users").respond_with_json({"value": [], "next": "again"})
    api = client(httpserver, max_pages=3)
    for _ in range(3):
        api.get_json("users")
    with pytest.raises(ApiError) as err:
        api.get_json("users")
    assert str(err.value) == (f"source 'svc': GET {httpserver.url_for('/v1.0/users')}: more than 3 "
                              "pages in one collect, the most a source may page through (a service "
                              "paging without end?)")


def test_the_default_response_limit(httpserver):
    from dialtone.collectors import http_api

    assert client(httpserver).max_response_bytes == http_api.MAX_RESPONSE_BYTES == 512 << 20
    assert client(httpserver).max_response_seconds == http_api.MAX_RESPONSE_SECONDS == 900
    assert client(httpserver).max_pages == http_api.MAX_PAGES == 1_000_000


# -- downloads behind a redirect (Graph's usage reports) -------------------------------------
def test_a_download_follows_one_redirect_without_the_credentials(httpserver):
    seen: list[dict] = []

    def report(request: Request) -> Response:
        seen.append(dict(request.headers))
        return Response(b"\xef\xbb\xbfUser Id,Last Activity Date\r\n",
                        content_type="application/octet-stream")

    httpserver.expect_request("/v1.0/reports/r(period='D7')", headers={"Authorization": f"Bearer {TOKEN}-1"}
                              ).respond_with_data("", status=302, headers={
                                  "Location": httpserver.url_for("/data/download/AbC-one-time")})
    httpserver.expect_request("/data/download/AbC-one-time").respond_with_handler(report)
    api = client(httpserver, auth=Tokens())
    assert api.get_download("reports/r(period='D7')") == b"\xef\xbb\xbfUser Id,Last Activity Date\r\n"
    assert "Authorization" not in seen[0] and (api.requests, api.pages) == (2, 1)


def test_a_download_never_carries_basic_credentials_either(httpserver):
    httpserver.expect_request("/v1.0/file").respond_with_data(
        "", status=307, headers={"Location": "/elsewhere/file.csv"})          # relative: same host
    httpserver.expect_request("/elsewhere/file.csv").respond_with_data("a,b\r\n")
    api = client(httpserver, auth=requests.auth.HTTPBasicAuth("AC", "tok"))
    assert api.get_download("file") == b"a,b\r\n"
    (first, _), (second, _) = httpserver.log
    assert first.headers.get("Authorization") and "Authorization" not in second.headers


def test_a_file_served_directly_is_returned_as_is(httpserver):
    httpserver.expect_request("/v1.0/file").respond_with_data("x")
    assert client(httpserver).get_download("file") == b"x"


def test_a_failed_download_shows_the_host_not_the_one_time_link(httpserver):
    httpserver.expect_request("/v1.0/report").respond_with_data(
        "", status=302, headers={"Location": httpserver.url_for("/data/download/S3CRET-TOKEN")})
    httpserver.expect_request("/data/download/S3CRET-TOKEN").respond_with_data("gone", status=404)
    with pytest.raises(ApiError) as err:
        client(httpserver).get_download("report")
    text = str(err.value)
    assert "S3CRET" not in text and err.value.status == 404
    assert text == (f"source 'svc': GET http://localhost:{httpserver.port}/… (the link "
                    f"{httpserver.url_for('/v1.0/report')} redirected to): HTTP 404 NOT FOUND")


def test_a_throttled_download_waits_as_asked(httpserver):
    httpserver.expect_request("/v1.0/report").respond_with_data(
        "", status=302, headers={"Location": httpserver.url_for("/dl/1")})
    httpserver.expect_oneshot_request("/dl/1").respond_with_data("", status=503, headers={"Retry-After": "4"})
    httpserver.expect_request("/dl/1").respond_with_data("ok")
    waits: list[float] = []
    assert client(httpserver, waits).get_download("report") == b"ok"
    assert waits == [4]


@pytest.mark.parametrize("location", ["ftp://files.example.net/report.csv", "", "file:///etc/passwd"])
def test_a_redirect_that_is_no_http_link_is_refused(httpserver, location):
    headers = {"Location": location} if location else {}
    httpserver.expect_request("/v1.0/report").respond_with_data("", status=302, headers=headers)
    with pytest.raises(ApiError, match="refusing to follow a redirect|without a Location"):
        client(httpserver).get_download("report")
    assert len(httpserver.log) == 1


def test_a_redirect_is_an_error_for_a_json_call(httpserver):
    httpserver.expect_request("/v1.0/report").respond_with_data(
        "", status=302, headers={"Location": httpserver.url_for("/dl/1")})
    with pytest.raises(ApiError, match=r"GET http://localhost:\d+/v1.0/report: HTTP 302 FOUND$"):
        client(httpserver).get_json("report")
    assert len(httpserver.log) == 1


# -- OAuth2 client credentials ---------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def token_endpoint(httpserver, expires_in: int = 3599) -> list[dict]:
    """A token endpoint that checks the grant and issues numbered tokens; returns the forms seen."""
    forms: list[dict] = []

    def handler(request: Request) -> Response:
        form = request.form.to_dict()
        forms.append(form)
        if form.get("client_secret") != "the-secret":
            return json_response({"error": "invalid_client",
                                  "error_description": "AADSTS7000215: Invalid client secret provided."},
                                 401)
        return json_response({"token_type": "Bearer", "expires_in": expires_in,
                              "access_token": f"{TOKEN}-{len(forms)}"})

    httpserver.expect_request("/tenant/oauth2/v2.0/token", method="POST").respond_with_handler(handler)
    return forms


def test_client_credentials_tokens_are_kept_until_shortly_before_they_expire(httpserver):
    forms = token_endpoint(httpserver, expires_in=3599)
    clock = Clock()
    tokens = ClientCredentialsToken(httpserver.url_for("/tenant/oauth2/v2.0/token"), "app-id",
                                    "the-secret", "https://graph.microsoft.com/.default", clock=clock)
    assert tokens.token() == f"{TOKEN}-1"
    assert forms == [{"grant_type": "client_credentials", "client_id": "app-id",
                      "client_secret": "the-secret", "scope": "https://graph.microsoft.com/.default"}]
    clock.now += 3500
    assert tokens.token() == f"{TOKEN}-1"           # still valid
    clock.now += 50
    assert tokens.token() == f"{TOKEN}-2"           # within a minute of expiry: a new one
    assert tokens.token(force_refresh=True) == f"{TOKEN}-3"
    assert tokens.fetches == 3


def test_extra_fields_grant_type_and_basic_client_authentication(httpserver):
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return json_response({"access_token": "z", "expires_in": 3600, "token_type": "bearer"})

    httpserver.expect_request("/oauth/token").respond_with_handler(handler)
    tokens = ClientCredentialsToken(httpserver.url_for("/oauth/token"), "cid", "csecret", None,
                                    extra={"account_id": "acc"}, grant_type="account_credentials",
                                    auth_method="client_secret_basic")
    assert tokens.token() == "z"
    (request,) = seen
    assert request.form.to_dict() == {"grant_type": "account_credentials", "account_id": "acc"}
    assert request.authorization.username == "cid" and request.authorization.password == "csecret"


def test_a_refused_token_request_names_the_url_and_oauth_error_not_the_secret(httpserver):
    token_endpoint(httpserver)
    url = httpserver.url_for("/tenant/oauth2/v2.0/token")
    tokens = ClientCredentialsToken(url, "app-id", "wrong-secret", "s")
    with pytest.raises(CollectError) as err:
        tokens.token()
    assert str(err.value) == (f"token request to {url} refused: invalid_client: "
                              "AADSTS7000215: Invalid client secret provided.")
    assert "wrong-secret" not in str(err.value)


def test_a_token_endpoint_failing_with_5xx_or_unreachable_is_a_collect_error(httpserver):
    httpserver.expect_request("/t").respond_with_data("down", status=500)
    with pytest.raises(CollectError, match=r"token request to http://localhost:\d+/t failed: HTTP 500"):
        ClientCredentialsToken(httpserver.url_for("/t"), "a", "b", "s").token()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(CollectError, match="failed: connection refused"):
        ClientCredentialsToken(f"http://127.0.0.1:{port}/t", "a", "b", "s").token()


@pytest.mark.parametrize("status", [307, 308, 302])
def test_a_token_endpoint_that_redirects_is_not_followed_and_the_secret_goes_nowhere_else(httpserver,
                                                                                          status):
    # Security review 2026-12-07: a 307/308 made requests post the form, client secret and all,
    # to wherever the Location pointed (another host), and the token that host made up was used.
    elsewhere = httpserver.url_for("/elsewhere/token").replace("localhost", "127.0.0.1")
    httpserver.expect_request("/t", method="POST").respond_with_data(
        "", status=status, headers={"Location": elsewhere})
    httpserver.expect_request("/elsewhere/token").respond_with_json(
        {"token_type": "Bearer", "expires_in": 3600, "access_token": "made-up"})
    with pytest.raises(CollectError) as err:
        ClientCredentialsToken(httpserver.url_for("/t"), "a", "the-secret", "s").token()
    assert [r.path for r, _ in httpserver.log] == ["/t"]
    assert str(err.value) == (f"token request to {httpserver.url_for('/t')} failed: HTTP {status}, a "
                              f"redirect to http://127.0.0.1:{httpserver.port}/… (not followed: the "
                              "client secret goes to the token_url only; set it to the address "
                              "the service redirects to)")


def test_the_client_fetches_a_token_and_refreshes_it_on_401(httpserver):
    forms = token_endpoint(httpserver)

    def graph(request: Request) -> Response:
        if request.headers.get("Authorization") == f"Bearer {TOKEN}-1":
            return json_response({"error": {"code": "InvalidAuthenticationToken", "message": "expired"}}, 401)
        return json_response({"value": [request.headers["Authorization"]]})

    httpserver.expect_request("/v1.0/users").respond_with_handler(graph)
    tokens = ClientCredentialsToken(httpserver.url_for("/tenant/oauth2/v2.0/token"), "app-id",
                                    "the-secret", "s")
    assert client(httpserver, auth=tokens).get_json("users") == {"value": [f"Bearer {TOKEN}-2"]}
    assert len(forms) == 2


def test_basic_auth_is_passed_to_requests(httpserver):
    httpserver.expect_request("/v1.0/a", headers={"Authorization": "Basic QUM6dG9r"}).respond_with_json({})
    assert client(httpserver, auth=requests.auth.HTTPBasicAuth("AC", "tok")).get_json("a") == {}


# -- secrets ---------------------------------------------------------------------------------
def test_a_secret_from_an_environment_variable_or_a_file(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DIALTONE_TEST_SECRET", "  from-env \n")
    assert secret({"client_secret_env": "DIALTONE_TEST_SECRET"}, "client_secret", "m365", tmp_path) \
        == "from-env"
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "graph").write_text("from-file\n", encoding="utf-8")
    assert secret({"client_secret_file": "secrets/graph"}, "client_secret", "m365", tmp_path) == "from-file"


@pytest.mark.parametrize(("settings", "message"), [
    ({}, "sources.m365: no client secret: set 'client_secret_env' (an environment variable's name) "
         "or 'client_secret_file' (a file holding it)."),
    ({"client_secret_env": "DIALTONE_UNSET_VAR"},
     "sources.m365.client_secret_env: the environment variable DIALTONE_UNSET_VAR is not set or empty."),
    ({"client_secret_env": "DIALTONE_EMPTY_VAR"},
     "sources.m365.client_secret_env: the environment variable DIALTONE_EMPTY_VAR is not set or empty."),
    ({"client_secret_file": "nowhere"}, "sources.m365.client_secret_file: cannot read {base}/nowhere: "
                                        "No such file or directory."),
    ({"client_secret_file": "empty"}, "sources.m365.client_secret_file: {base}/empty is empty."),
    ({"client_secret_env": "X", "client_secret_file": "y"},
     "sources.m365: give either 'client_secret_env' or 'client_secret_file', not both."),
])
def test_a_missing_secret_is_a_config_error_naming_source_and_setting(tmp_path, monkeypatch, settings,
                                                                      message):
    monkeypatch.delenv("DIALTONE_UNSET_VAR", raising=False)
    monkeypatch.setenv("DIALTONE_EMPTY_VAR", " ")
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        secret(settings, "client_secret", "m365", tmp_path)
    assert str(err.value) == message.format(base=tmp_path)
