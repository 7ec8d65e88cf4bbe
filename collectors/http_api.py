"""The kit REST collectors share: secrets from settings, OAuth2 tokens, a JSON client.

Public interface (kept stable: several collectors build on it):

``secret(settings, name, source, base_dir) -> str``
    The secret called ``name`` (e.g. ``client_secret``) read from the setting
    ``<name>_env`` (the name of an environment variable) or ``<name>_file`` (a
    file, relative to the configuration's folder, its content stripped). The
    configuration text itself never holds a secret. Anything missing or
    unreadable is a :class:`ConfigError` naming the source and the setting,
    never the value. A collector lists both settings in ``secret_settings``
    (``secret_setting_names(name)`` gives them) and in its schema
    (``secret_schema(name, what)`` gives their properties).

``TokenSource``
    Anything with ``token(force_refresh: bool = False) -> str`` returning a
    bearer token.

``ClientCredentialsToken(token_url, client_id, client_secret, scope, *, extra=None, timeout=30)``
    A :class:`TokenSource` for the OAuth2 client-credentials grant (RFC 6749
    §4.4), through authlib. The token is kept until shortly before its
    ``expires_in`` runs out, then fetched again; ``token(force_refresh=True)``
    fetches a new one at once. ``extra`` adds form fields to the token request
    (Zoom's ``account_id``); ``grant_type`` and ``auth_method``
    (``client_secret_post``, the default, or ``client_secret_basic``) cover
    services that differ from Microsoft's; ``clock`` (``time.monotonic``)
    is what expiry is measured against. A redirect from the token endpoint is
    not followed (a 307 would post the secret on to wherever it points): it is
    a :class:`CollectError` naming the host it pointed to. A refused request is a
    :class:`CollectError` naming the token URL and the OAuth ``error`` and
    ``error_description``.

``ApiClient(base_url, *, auth, source, timeout=30, max_retries=5, max_retry_after=120, sleep=time.sleep)``
    ``get_json(url_or_path, params=None) -> dict`` GETs one JSON object.
    ``headers`` (keyword) adds headers to every request; ``sleep`` is what
    waits between retries (tests pass a function that records the waits).
    A path (``"users"`` or ``"/users"``) is appended to ``base_url``; a full
    URL (a next-page link) is used as given, but only on the same scheme,
    host and port as ``base_url``. Host-relative links (Twilio's
    ``next_page_uri``) are made whole with ``client.origin + uri``.

    ``auth`` is a :class:`TokenSource` (sent as ``Authorization: Bearer``), a
    ``requests`` auth object (``HTTPBasicAuth`` for Twilio), or ``None``.

    HTTP 429, 502, 503 and 504, timeouts and refused connections are retried
    up to ``max_retries`` times: after the ``Retry-After`` the service asked
    for (seconds or an HTTP date), else after 1, 2, 4… seconds, never longer
    than ``max_retry_after``. A 401 with a token source fetches a new token
    and tries once more. Any other failure is an :class:`ApiError` (a
    :class:`CollectError`) with the source, ``GET``, the URL without its
    query string, the status and the service's own error message
    (Graph ``error.code``/``error.message``, Zoom ``code``/``message``,
    Twilio ``code``/``message``/``more_info``, OAuth
    ``error``/``error_description``); never a token or a secret.

    ``get_json_list(url_or_path, params=None, **json_options) -> (list, headers)`` GETs a list
    that is a JSON array (TM Forum's APIs) and returns it with the response headers, where such
    APIs give their paging counts (``X-Total-Count``, ``X-Result-Count``).

    ``get_download(url_or_path, params=None) -> bytes`` GETs a file the service
    hands out by redirecting (Graph's usage reports answer ``302 Found`` with a
    pre-authenticated link, often on another host): the first request carries
    the credentials; the link it redirects to is fetched once, **without** them
    (it needs none, and another host must never see them), and never over plain
    HTTP when the service itself is HTTPS. The link's path is a credential of
    its own, so messages show only its scheme and host. Retries as ``get_json``.

    No response is held beyond ``max_response_bytes`` (``MAX_RESPONSE_BYTES``, 512 MiB)
    once decompressed, nor waited for beyond ``max_response_seconds``
    (``MAX_RESPONSE_SECONDS``, 900) from its request: a larger one (a gzip bomb
    among them) or a slower one (a byte sent just often enough to beat ``timeout``)
    is an :class:`ApiError` read no further; so is a page past ``max_pages``
    (``MAX_PAGES``, a million) in one client's life, which stops a service whose
    next link is new every time.

    ``requests``, ``retries`` and ``pages`` count what the client did.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
import typing as t
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import requests.auth
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from urllib3.exceptions import DecodeError, InvalidHeader, ProtocolError, ReadTimeoutError
from urllib3.exceptions import SSLError as Urllib3SSLError
from urllib3.util.retry import Retry

from dialtone.engine import secrets as _secrets
from dialtone.engine.errors import CollectError, ConfigError, wrapped

log = logging.getLogger(__name__)

#: Statuses that mean "not now, try again later".
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: Statuses that hand out a file somewhere else (get_download follows one of them, once).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: First wait when the service gives no Retry-After; doubled at each retry.
BACKOFF_START = 1.0
#: Service messages are cut to this length: an HTML error page is no message.
MESSAGE_LIMIT = 300
#: The most bytes one response may hold once decompressed (a page of JSON, a usage report): a
#: larger one (a gzip bomb, a service gone wrong) is an error, not a process out of memory.
MAX_RESPONSE_BYTES = 512 << 20
#: The most seconds one response may take from the request to its last byte: ``timeout`` bounds
#: each wait for the next bytes, not a service that sends a byte just often enough. Checked as
#: the body arrives; the headers only by http.client (100 lines, each read within ``timeout``).
MAX_RESPONSE_SECONDS = 900
#: The most pages one client (one source's collect) reads: a service whose next link is new
#: every time would otherwise be paged through for ever.
MAX_PAGES = 1_000_000
#: Bytes read from the network at a time while a response body is read.
_CHUNK = 1 << 16
USER_AGENT = "dialtone-collector"


# -- secrets ---------------------------------------------------------------------------------
# One definition for collectors and notification targets (engine/secrets.py).
secret_setting_names = _secrets.secret_setting_names
secret_schema = _secrets.secret_schema


def secret(settings: dict, name: str, source: str, base_dir: Path) -> str:
    """The secret ``name`` of a source, from ``<name>_env`` or ``<name>_file``."""
    return _secrets.read_secret(settings, name, f"sources.{source}", base_dir)


# -- tokens ----------------------------------------------------------------------------------
@t.runtime_checkable
class TokenSource(t.Protocol):
    """Gives a bearer token; a new one when asked to refresh."""

    def token(self, force_refresh: bool = False) -> str: ...


class ClientCredentialsToken:
    """OAuth2 client-credentials tokens (RFC 6749 §4.4), kept until shortly before they expire."""

    #: Fetch a new token this long before the old one expires (at most half its lifetime).
    MARGIN = 60.0

    def __init__(self, token_url: str, client_id: str, client_secret: str, scope: str | None, *,
                 extra: dict | None = None, timeout: float = 30, grant_type: str = "client_credentials",
                 auth_method: str = "client_secret_post",
                 clock: t.Callable[[], float] = time.monotonic) -> None:
        self.token_url = token_url
        self.grant_type = grant_type
        self.extra = dict(extra or {})
        self.timeout = timeout
        self.clock = clock
        self.fetches = 0
        self._session = OAuth2Session(client_id, client_secret, scope=scope,
                                      token_endpoint_auth_method=auth_method)
        self._session.headers["User-Agent"] = USER_AGENT
        # A redirect is never followed: requests would post the form (the client secret in it)
        # again to wherever a 307 or 308 points, another host included, and use its token.
        self._session.max_redirects = 0
        self._secret = client_secret
        self._token: str | None = None
        self._expires = 0.0

    def token(self, force_refresh: bool = False) -> str:
        if force_refresh or self._token is None or self.clock() >= self._expires:
            self._fetch()
        assert self._token is not None
        return self._token

    def _fetch(self) -> None:
        where = f"token request to {_without_query(self.token_url)}"
        try:
            got = self._session.fetch_token(self.token_url, grant_type=self.grant_type,
                                            timeout=self.timeout, **self.extra)
        except OAuthError as exc:
            what = exc.error + (f": {exc.description}" if exc.description else "")
            raise CollectError(f"{where} refused: {self._clean(what)}") from None
        except requests.TooManyRedirects as exc:
            resp = exc.response
            status = f"HTTP {resp.status_code}" if resp is not None else "a redirect"
            to = resp.headers.get("Location", "") if resp is not None else ""
            there = f" to {_host_only(urljoin(self.token_url, to))}" if to else ""
            raise CollectError(f"{where} failed: {status}, a redirect{there} (not followed: the client "
                               "secret goes to the token_url only; set it to the address the service "
                               "redirects to)") from None
        except requests.HTTPError as exc:
            resp = exc.response
            status = f"HTTP {resp.status_code}" if resp is not None else "an HTTP error"
            detail = service_message(resp) if resp is not None else ""
            raise CollectError(f"{where} failed: {status}"
                               + (f": {self._clean(detail)}" if detail else "")) from None
        except requests.RequestException as exc:
            raise CollectError(f"{where} failed: {network_reason(exc, self.timeout)}") from None
        except ValueError as exc:   # a body that is not a JSON object
            raise CollectError(f"{where} failed: {self._clean(str(exc))}") from None
        access = got.get("access_token")
        if not access or not isinstance(access, str):
            raise CollectError(f"{where}: the response has no access_token.")
        try:
            lifetime = float(got.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        self.fetches += 1
        self._token = access
        self._expires = self.clock() + lifetime - min(self.MARGIN, lifetime / 2)
        log.debug("%s: new token, valid %.0f s", where, lifetime)

    def _clean(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text


# -- the client ------------------------------------------------------------------------------
class ApiError(CollectError):
    """An HTTP request that failed for good; ``status`` and ``code`` for callers that care."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class ApiClient:
    """GETs JSON from one REST service, with retries, throttling and token refresh."""

    def __init__(self, base_url: str, *, auth: TokenSource | requests.auth.AuthBase | None, source: str,
                 timeout: float = 30, max_retries: int = 5, max_retry_after: float = 120,
                 sleep: t.Callable[[float], None] = time.sleep, headers: dict | None = None,
                 max_response_bytes: int = MAX_RESPONSE_BYTES,
                 max_response_seconds: float = MAX_RESPONSE_SECONDS,
                 max_pages: int = MAX_PAGES) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"sources.{source}: '{base_url}' is not an http(s) URL.")
        self.base_url = base_url.rstrip("/")
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.source = source
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_after = max_retry_after
        self.max_response_bytes = max_response_bytes
        self.max_response_seconds = max_response_seconds
        self.max_pages = max_pages
        self.sleep = sleep
        self.requests = 0
        self.retries = 0
        self.pages = 0
        self._tokens = auth if isinstance(auth, TokenSource) and not isinstance(
            auth, requests.auth.AuthBase) else None
        self._session = requests.Session()
        self._session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT,
                                      **(headers or {})})
        if isinstance(auth, requests.auth.AuthBase):
            self._session.auth = auth
        # For pre-authenticated download links: no credentials, whatever the service's are.
        self._plain = requests.Session()
        self._plain.headers.update({"User-Agent": USER_AGENT})
        self._retry_after = Retry(total=0)   # only for its Retry-After parser

    def close(self) -> None:
        self._session.close()
        self._plain.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, url_or_path: str) -> str:
        """The full URL of a path or link, refusing links to other hosts."""
        if "://" not in url_or_path:
            return f"{self.base_url}/{url_or_path.lstrip('/')}"
        if _origin(url_or_path) != _origin(self.base_url):
            there = _without_query(url_or_path)
            raise ApiError(f"source '{self.source}': refusing to follow a link to {there}: "
                           f"not on {self.origin}, the configured service.")
        return url_or_path

    def get_json(self, url_or_path: str, params: dict | None = None) -> dict:
        """One GET, retried as needed; the response's JSON object."""
        return self._get_json(url_or_path, params, dict, "an object")[0]

    def get_json_list(self, url_or_path: str, params: dict | None = None,
                      **json_options: t.Any) -> tuple[list, t.Mapping[str, str]]:
        """One GET of a list that is a JSON array (TM Forum's APIs), retried as needed; the array
        and the response's headers (paging counts such as ``X-Total-Count`` travel in them).
        ``json_options`` go to ``json.loads`` (``parse_float=decimal.Decimal`` for money)."""
        return self._get_json(url_or_path, params, list, "an array", **json_options)

    def _get_json(self, url_or_path: str, params: dict | None, kind: type, what: str,
                  **json_options: t.Any) -> tuple[t.Any, t.Mapping[str, str]]:
        url = self.url(url_or_path)
        shown = _without_query(url)
        if self.pages >= self.max_pages:
            raise self._error(shown, f"more than {self.max_pages:,} pages in one collect, the most a "
                              "source may page through (a service paging without end?)")
        resp = self._send(url, params, shown, authenticated=True)
        status = resp.status_code
        if not 200 <= status < 300:
            # A redirect is not what a JSON call expects: say so with the service's words.
            raise self._failure(resp, shown, 0)
        try:
            body = json.loads(resp.content, **json_options) if json_options else resp.json()
        except ValueError:
            raise self._error(shown, f"HTTP {status}, but the response is not JSON "
                              f"(Content-Type {resp.headers.get('Content-Type', 'none')})",
                              status) from None
        if not isinstance(body, kind):
            raise self._error(shown, f"HTTP {status}, but the response is a JSON "
                              f"{type(body).__name__}, not {what}", status)
        self.pages += 1
        return body, resp.headers

    def get_download(self, url_or_path: str, params: dict | None = None) -> bytes:
        """A file the service serves directly or through one redirect to a pre-authenticated
        link; the link is fetched without credentials."""
        url = self.url(url_or_path)
        shown = _without_query(url)
        resp = self._send(url, params, shown, authenticated=True)
        if resp.status_code in REDIRECT_STATUSES:
            location = resp.headers.get("Location")
            if not location:
                raise self._error(shown, f"HTTP {resp.status_code} without a Location to follow",
                                  resp.status_code)
            link = urljoin(url, location)
            scheme = urlsplit(link).scheme.lower()
            if scheme not in ("http", "https") or (scheme == "http" and self.origin.startswith("https:")):
                raise self._error(shown, f"refusing to follow a redirect to {_host_only(link)}: "
                                  "not an https link")
            resp = self._send(link, None, f"{_host_only(link)} (the link {shown} redirected to)",
                              authenticated=False)
            shown = f"{_host_only(link)} (the link {shown} redirected to)"
        if not 200 <= resp.status_code < 300:
            raise self._failure(resp, shown, 0)
        self.pages += 1
        return resp.content

    def _send(self, url: str, params: dict | None, shown: str, *, authenticated: bool) -> requests.Response:
        """One GET, retried while the service says "later"; the response once it says
        anything else (the caller decides what a non-2xx answer means)."""
        session = self._session if authenticated else self._plain
        attempt = 0
        refreshed = False
        while True:
            headers = {}
            if authenticated and self._tokens is not None:
                headers["Authorization"] = f"Bearer {self._tokens.token()}"
            self.requests += 1
            started = time.monotonic()
            try:
                resp = session.get(url, params=params, headers=headers, timeout=self.timeout,
                                   allow_redirects=False, stream=True)
                self._read_body(resp, shown, started)
            except requests.exceptions.SSLError as exc:
                raise self._error(shown, network_reason(exc, self.timeout)) from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                reason = network_reason(exc, self.timeout)
                if attempt >= self.max_retries:
                    raise self._error(shown, f"{reason} (after {attempt + 1} attempts)") from None
                self._wait(attempt, None, shown, reason)
                attempt += 1
                continue
            except requests.RequestException as exc:
                raise self._error(shown, network_reason(exc, self.timeout)) from None

            status = resp.status_code
            if status == 401 and authenticated and self._tokens is not None and not refreshed:
                log.info("%s: GET %s: HTTP 401, fetching a new token", self.source, shown)
                refreshed = True
                self._tokens.token(force_refresh=True)
                continue
            if status in RETRY_STATUSES and attempt < self.max_retries:
                self._wait(attempt, resp.headers.get("Retry-After"), shown, f"HTTP {status}")
                attempt += 1
                continue
            if status in RETRY_STATUSES or not (200 <= status < 300 or status in REDIRECT_STATUSES):
                raise self._failure(resp, shown, attempt)
            return resp

    def _read_body(self, resp: requests.Response, shown: str, started: float) -> None:
        """Read the (streamed) body, decompressed, into ``resp.content``: at most
        ``max_response_bytes`` of it, whatever the headers claim, and by
        ``max_response_seconds`` after ``started``."""
        limit, deadline = self.max_response_bytes, started + self.max_response_seconds
        body = io.BytesIO()     # getvalue() hands over its buffer: the body is not held twice
        try:
            while chunk := _read_some(resp):
                if body.tell() + len(chunk) > limit:
                    raise self._error(shown, f"the response is larger than {limit:,} bytes "
                                      "(decompressed), the most a response may be")
                body.write(chunk)
                if time.monotonic() > deadline:
                    raise self._error(shown, f"the response took longer than "
                                      f"{self.max_response_seconds:g} s to arrive, the most a "
                                      "response may take")
        finally:
            resp.close()
        resp._content = body.getvalue()   # what .content and .json() read from now on

    def _failure(self, resp: requests.Response, shown: str, attempt: int) -> ApiError:
        message, code = service_error(resp)
        tries = f" (after {attempt + 1} attempts)" if attempt else ""
        return self._error(shown, f"HTTP {resp.status_code} {resp.reason or ''}".rstrip() + tries
                           + (f": {message}" if message else ""), resp.status_code, code)

    def _wait(self, attempt: int, retry_after: str | None, shown: str, why: str) -> None:
        seconds = None
        if retry_after:
            try:
                seconds = self._retry_after.parse_retry_after(retry_after)
            except InvalidHeader:
                log.warning("%s: GET %s: unreadable Retry-After %r", self.source, shown, retry_after)
        if seconds is None:
            seconds = BACKOFF_START * 2 ** attempt
        seconds = min(seconds, self.max_retry_after)
        self.retries += 1
        log.warning("%s: GET %s: %s, retrying in %.1f s (%d/%d)", self.source, shown, why, seconds,
                    attempt + 1, self.max_retries)
        self.sleep(seconds)

    def _error(self, shown: str, what: str, status: int | None = None, code: str | None = None) -> ApiError:
        return ApiError(f"source '{self.source}': GET {shown}: {what}", status, code)


# -- helpers ---------------------------------------------------------------------------------
def _read_some(resp: requests.Response) -> bytes:
    """The next bytes of a streamed body, decompressed (b"" at its end): what has arrived, not a
    whole block (``iter_content`` waits for 64 KiB, so a slow sender is never looked at), with
    urllib3's errors turned into requests' as ``iter_content`` turns them."""
    try:
        return resp.raw.read1(_CHUNK, decode_content=True)
    except ReadTimeoutError as exc:
        raise requests.ConnectionError(exc) from None
    except ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from None
    except DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from None
    except Urllib3SSLError as exc:
        raise requests.exceptions.SSLError(exc) from None


def service_error(resp: requests.Response) -> tuple[str, str | None]:
    """The service's own error message and code from an error response, as far as it has one."""
    try:
        body = resp.json()
    except ValueError:
        return "", None
    if not isinstance(body, dict):
        return "", None
    err = body.get("error")
    if isinstance(err, dict):                       # Microsoft Graph
        code, message = err.get("code"), err.get("message")
    elif isinstance(err, str):                      # OAuth token endpoints
        code, message = err, body.get("error_description")
    else:                                           # Zoom, Twilio
        code, message = body.get("code"), body.get("message")
    parts = [str(p) for p in (code, message) if p not in (None, "")]
    text = ": ".join(parts)
    if body.get("more_info"):
        text += f" (see {body['more_info']})"
    text = " ".join(text.split())
    if len(text) > MESSAGE_LIMIT:
        text = text[:MESSAGE_LIMIT] + "…"
    return text, None if code is None else str(code)


def service_message(resp: requests.Response) -> str:
    return service_error(resp)[0]


def network_reason(exc: requests.RequestException, timeout: float) -> str:
    """A one-line reason for a failed connection, without the URL requests puts in its text."""
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake failed"
    for e in wrapped(exc):
        if isinstance(e, OSError) and e.strerror:
            return e.strerror.lower()
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return type(exc).__name__


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def _host_only(url: str) -> str:
    """A pre-authenticated link fit for messages: its path and query are its credential."""
    parts = urlsplit(_without_query(url))
    return urlunsplit((parts.scheme, parts.netloc, "/…", "", ""))


def _without_query(url: str) -> str:
    """A URL fit for messages and logs: query strings may hold tokens, so they go."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


# -- helpers for the records services return --------------------------------------------------
def text_or_none(value: t.Any) -> str | None:
    """A JSON value as stripped text; missing and blank values are no value."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def response_fingerprint(records: list) -> str:
    """What the API answered, as a hash for the manifest: the same answer, the same hash."""
    body = json.dumps(records, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()
