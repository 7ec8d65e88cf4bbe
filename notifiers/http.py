"""The JSON client the ticket trackers share (Jira Cloud, ServiceNow).

``TrackerClient(base_url, *, where, auth, secrets, timeout=30, max_retries=4, max_retry_after=120,
sleep=time.sleep)`` sends GET, POST, PUT and PATCH requests with JSON bodies and answers
:class:`Reply` (status, parsed body, ``Link`` relations).

- ``auth`` is ``("user", "secret")`` for Basic auth, or a string for ``Authorization: Bearer``.
- HTTP 429, 502, 503 and 504, timeouts and refused connections are retried up to
  ``max_retries`` times, after the ``Retry-After`` the tracker asked for (seconds or an HTTP
  date), else 1, 2, 4… seconds, never longer than ``max_retry_after``; ``sleep`` waits (tests
  pass one that records the waits).
- A request that is not idempotent (POST and PATCH unless the caller says otherwise: creating
  an issue, adding a comment) is retried only when the tracker cannot have acted on it: a 429,
  a 503 or a refused connection. After a timeout, a 502 or a 504 it may have, so the failure is
  handed back as retryable and the caller's next attempt starts by looking for what the first
  one did (a ticket is found by its correlation before one is created).
- Any failure is a :class:`DeliveryError` naming the target (``notifications.targets.<name>``),
  the operation, the method, the URL without its query string, the status and the tracker's
  own error text (Jira ``errorMessages``/``errors``, ServiceNow ``error.message``/``detail``);
  ``retryable`` is true for 429/502/503/504, timeouts and network failures, false for anything
  the tracker refused (400, 401, 403, 404, 422…). No message ever holds a secret.
"""

from __future__ import annotations

import email.utils
import logging
import time
import typing as t
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import requests

from dialtone.engine.errors import ConfigError, wrapped
from dialtone.engine.notifier_api import DeliveryError

log = logging.getLogger(__name__)

#: Statuses that mean "not now, try again later".
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: The subset after which the tracker certainly did nothing: safe to resend even a POST.
NOT_PROCESSED = frozenset({429, 503})
#: First wait when the tracker gives no Retry-After; doubled at each retry.
BACKOFF_START = 1.0
#: Tracker messages are cut to this length: an HTML error page is no message.
MESSAGE_LIMIT = 300
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
USER_AGENT = "dialtone-notify"


@dataclass(frozen=True)
class Reply:
    """A successful answer: its status, its JSON body (None when empty) and ``Link`` relations."""
    status: int
    body: t.Any
    links: dict[str, str] = field(default_factory=dict)


def check_base_url(url: str, where: str, setting: str) -> str:
    """``url`` without a trailing slash; https, or http on the loopback interface only (tests,
    a local proxy): credentials never cross a network in clear."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}.{setting}: '{url}' is not an http(s) URL.")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise ConfigError(f"{where}.{setting}: '{url}' must be https (http only on the loopback "
                          "interface): the credentials would cross the network in clear.")
    if parts.query or parts.fragment:
        raise ConfigError(f"{where}.{setting}: '{url}' must not have a query string or fragment.")
    return url.rstrip("/")


class TrackerClient:
    """JSON requests to one tracker, with retries, throttling and errors fit for the outbox."""

    def __init__(self, base_url: str, *, where: str, auth: tuple[str, str] | str | None,
                 secrets: t.Iterable[str] = (), timeout: float = 30, max_retries: int = 4,
                 max_retry_after: float = 120, sleep: t.Callable[[float], None] = time.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        self.origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.base_url))
        self.where = where
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_after = max_retry_after
        self.sleep = sleep
        self.requests = 0
        self.retries = 0
        self._secrets = tuple(s for s in secrets if s)
        self._session = requests.Session()
        self._session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})
        if isinstance(auth, tuple):
            self._session.auth = auth
        elif isinstance(auth, str):
            self._session.headers["Authorization"] = f"Bearer {auth}"

    def close(self) -> None:
        self._session.close()

    # -- the verbs ---------------------------------------------------------------------------
    def get(self, path: str, params: dict | None = None, *, op: str) -> Reply:
        return self.request("GET", path, params=params, op=op)

    def post(self, path: str, body: t.Any, *, op: str, idempotent: bool = False) -> Reply:
        return self.request("POST", path, json=body, op=op, idempotent=idempotent)

    def put(self, path: str, body: t.Any, *, op: str) -> Reply:
        return self.request("PUT", path, json=body, op=op)

    def patch(self, path: str, body: t.Any, *, op: str, idempotent: bool = False) -> Reply:
        return self.request("PATCH", path, json=body, op=op, idempotent=idempotent)

    def url(self, path_or_url: str) -> str:
        """A path under ``base_url``, or a link (the next page) on the tracker's own origin."""
        if "://" not in path_or_url:
            return f"{self.base_url}/{path_or_url.lstrip('/')}"
        if _origin(path_or_url) != _origin(self.base_url):
            # A next-page link elsewhere would carry our credentials to another host.
            raise DeliveryError(f"{self.where}: refusing to follow a link to "
                                f"{without_query(path_or_url)}: not on {self.origin}.", retryable=False)
        return path_or_url

    def request(self, method: str, path_or_url: str, *, op: str, params: dict | None = None,
                json: t.Any = None, idempotent: bool | None = None) -> Reply:
        """One request, retried while the tracker says "later"; its :class:`Reply` on a 2xx."""
        url = self.url(path_or_url)
        shown = f"{method} {without_query(url)}"
        safe = method in ("GET", "PUT", "DELETE", "HEAD") if idempotent is None else idempotent
        attempt = 0
        while True:
            self.requests += 1
            try:
                resp = self._session.request(method, url, params=params, json=json,
                                             timeout=self.timeout, allow_redirects=False)
            except requests.exceptions.SSLError:
                raise self._error(op, shown, "TLS handshake failed", retryable=False) from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                reason = network_reason(exc, self.timeout)
                # A refused connection never reached the tracker; a timeout may have.
                sent = isinstance(exc, requests.Timeout) or not _refused(exc)
                if attempt >= self.max_retries or (sent and not safe):
                    tries = f" (after {attempt + 1} attempts)" if attempt else ""
                    raise self._error(op, shown, reason + tries, retryable=True) from None
                self._wait(attempt, None, shown, reason)
                attempt += 1
                continue
            except requests.RequestException as exc:
                raise self._error(op, shown, network_reason(exc, self.timeout), retryable=True) from None

            status = resp.status_code
            if 200 <= status < 300:
                return Reply(status, _json_or_none(resp), _links(resp))
            retry_after = _retry_after(resp.headers.get("Retry-After"))
            if status in RETRY_STATUSES and attempt < self.max_retries and (safe or status in NOT_PROCESSED):
                self._wait(attempt, retry_after, shown, f"HTTP {status}")
                attempt += 1
                continue
            tries = f" (after {attempt + 1} attempts)" if attempt else ""
            detail = tracker_error(resp)
            what = f"HTTP {status} {resp.reason or ''}".rstrip() + tries + (f": {detail}" if detail else "")
            raise self._error(op, shown, what, retryable=status in RETRY_STATUSES, status=status,
                              retry_after=retry_after)

    # -- helpers -----------------------------------------------------------------------------
    def _wait(self, attempt: int, retry_after: float | None, shown: str, why: str) -> None:
        seconds = retry_after if retry_after is not None else BACKOFF_START * 2 ** attempt
        seconds = min(max(seconds, 0.0), self.max_retry_after)
        self.retries += 1
        log.warning("%s: %s: %s, retrying in %.1f s (%d/%d)", self.where, shown, why, seconds,
                    attempt + 1, self.max_retries)
        self.sleep(seconds)

    def _error(self, op: str, shown: str, what: str, *, retryable: bool, status: int | None = None,
               retry_after: float | None = None) -> TrackerError:
        text = f"{self.where}: {op}: {shown}: {what}"
        for secret in self._secrets:     # a tracker echoing a credential back must not leak it
            text = text.replace(secret, "***")
        return TrackerError(text, retryable=retryable, status=status,
                            retry_after=min(retry_after, self.max_retry_after) if retry_after else None)


class TrackerError(DeliveryError):
    """A failed tracker request; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, retryable=retryable, retry_after=retry_after)
        self.status = status


def tracker_error(resp: requests.Response) -> str:
    """The tracker's own words from an error response, as far as it has any."""
    try:
        body = resp.json()
    except ValueError:
        return ""
    parts: list[str] = []
    if isinstance(body, dict):
        # Jira: {"errorMessages": [...], "errors": {"field": "message"}}
        parts += [str(m) for m in body.get("errorMessages") or () if m]
        errors = body.get("errors")
        if isinstance(errors, dict):
            parts += [f"{k}: {v}" for k, v in errors.items()]
        # ServiceNow: {"error": {"message": ..., "detail": ...}, "status": "failure"}
        err = body.get("error")
        if isinstance(err, dict):
            parts += [str(err[k]) for k in ("message", "detail") if err.get(k)]
        elif isinstance(err, str):
            parts.append(err)
        if not parts and isinstance(body.get("message"), str):
            parts.append(body["message"])
    text = " ".join("; ".join(parts).split())
    return text[:MESSAGE_LIMIT] + "…" if len(text) > MESSAGE_LIMIT else text


def network_reason(exc: requests.RequestException, timeout: float) -> str:
    """One line on a failed connection, without the URL requests puts in its text."""
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g} s"
    for e in wrapped(exc):
        if isinstance(e, OSError) and e.strerror:
            return e.strerror.lower()
    return "connection failed" if isinstance(exc, requests.ConnectionError) else type(exc).__name__


def without_query(url: str) -> str:
    """A URL fit for messages and logs: query strings may hold tokens, so they go."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def _refused(exc: BaseException) -> bool:
    return any(isinstance(e, ConnectionRefusedError) for e in wrapped(exc))



def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _json_or_none(resp: requests.Response) -> t.Any:
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return None


def _links(resp: requests.Response) -> dict[str, str]:
    return {rel: link["url"] for rel, link in resp.links.items() if "url" in link}


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), port
