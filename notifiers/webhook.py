"""A JSON POST signed with HMAC-SHA256 (``type: webhook``).

The body is the message's payload (``notifiers/schemas/webhook-payload.json``) serialised
canonically, so a receiver that re-serialises the same JSON gets the same bytes. The signature
covers the timestamp and the body (``HMAC-SHA256(secret, f"{timestamp}." + body)``): a receiver
checks it and refuses anything older than five minutes, so a captured request cannot be
replayed later (docs/notifications.md has a receiver).

Redirects are never followed: a signed payload goes only to the configured URL, not to
wherever a redirect points. 2xx is delivered; 429, 5xx, timeouts and refused connections are
retryable (after the ``Retry-After`` the receiver asked for); any other answer is not.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import logging
import time
import typing as t
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests

from dialtone.engine.errors import ConfigError
from dialtone.engine.notifier_api import DeliveryError, Message, Target
from dialtone.engine.secrets import read_secret, secret_schema

from .http import network_reason
from .transport import is_loopback, scrub, short, shown_url

log = logging.getLogger(__name__)

USER_AGENT = "dialtone-notifier"
SIGNATURE_HEADER = "X-Dialtone-Signature"
TIMESTAMP_HEADER = "X-Dialtone-Timestamp"
DELIVERY_HEADER = "X-Dialtone-Delivery"
#: Headers the target sets itself; ``headers`` may not replace them.
OWN_HEADERS = frozenset(h.lower() for h in ("Content-Type", "User-Agent", "Content-Length", "Host",
                                            SIGNATURE_HEADER, TIMESTAMP_HEADER, DELIVERY_HEADER))


def canonical_json(payload: dict) -> bytes:
    """The body as sent: sorted keys, no spaces, UTF-8."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signature(key: str, timestamp: int, body: bytes) -> str:
    """The ``X-Dialtone-Signature`` value for a body sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


class WebhookTarget(Target):
    """POSTs each message's payload to one URL, signed."""

    secret_settings = ("secret",)
    settings_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["url"],
        "properties": {
            "url": {"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#]+"},
            "allow_plaintext": {"type": "boolean"},
            **secret_schema("secret", "HMAC signing key"),
            "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 600},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "ca_file": {"type": "string", "minLength": 1},
        },
        "anyOf": [{"required": ["secret_env"]}, {"required": ["secret_file"]}],
    }

    def __init__(self, name: str, settings: dict, base_dir: Path, *,
                 clock: t.Callable[[], float] = time.time) -> None:
        super().__init__(name, settings, base_dir)
        self.url: str = settings["url"]
        self.shown = shown_url(self.url)
        parts = urlsplit(self.url)
        if parts.scheme.lower() != "https" and not is_loopback(parts.hostname or "") \
                and not settings.get("allow_plaintext"):
            # Over plain HTTP the findings, their evidence and the signed request can be read (and
            # the request replayed within its five minutes) by anyone on the path.
            raise ConfigError(f"{self.where}.url: {self.shown} is plain HTTP to another machine: the "
                              "findings would cross the network readable; use https, or set "
                              "allow_plaintext: true if that network is trusted.")
        extra = dict(settings.get("headers") or {})
        clash = sorted(h for h in extra if h.lower() in OWN_HEADERS)
        if clash:
            raise ConfigError(f"{self.where}.headers: {', '.join(clash)} is set by the target itself.")
        self._key = read_secret(settings, "secret", self.where, base_dir) or ""
        self.timeout: float = settings.get("timeout", 30)
        self.clock = clock
        self._session = requests.Session()
        self._session.headers.update({"User-Agent": USER_AGENT, **extra})
        # Passed with each request: a Session's own ``verify`` loses to REQUESTS_CA_BUNDLE and
        # CURL_CA_BUNDLE in the environment, a request's does not.
        self._verify: str | bool = True
        ca_file = settings.get("ca_file")
        if ca_file:
            path = base_dir / ca_file
            if not path.is_file():
                raise ConfigError(f"{self.where}.ca_file: {path} is not a file.")
            self._verify = str(path)

    def send(self, message: Message) -> str | None:
        try:
            body = canonical_json(message.payload)
        except (TypeError, ValueError) as exc:
            raise DeliveryError(f"{self.where}: message {message.id}'s payload is not JSON: {exc}",
                                retryable=False) from None
        timestamp = int(self.clock())
        headers = {"Content-Type": "application/json", DELIVERY_HEADER: str(message.id),
                   TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(self._key, timestamp, body)}
        where = f"{self.where}: POST {self.shown}"
        try:
            resp = self._session.post(self.url, data=body, headers=headers, timeout=self.timeout,
                                      allow_redirects=False, verify=self._verify)
        except requests.exceptions.SSLError as exc:
            raise DeliveryError(f"{where}: TLS failed ({_tls_reason(exc)}); for a private CA set "
                                "ca_file to its CA bundle", retryable=False) from None
        except requests.Timeout:
            raise DeliveryError(f"{where}: no answer within {self.timeout:g} s") from None
        except requests.ConnectionError as exc:
            raise DeliveryError(f"{where}: cannot connect: {network_reason(exc, self.timeout)}") from None
        except requests.exceptions.ChunkedEncodingError:
            raise DeliveryError(f"{where}: the connection broke off during the answer") from None
        except requests.RequestException as exc:
            raise DeliveryError(f"{where}: {type(exc).__name__}", retryable=False) from None
        status = resp.status_code
        if 200 <= status < 300:
            log.info("%s: message %d delivered: HTTP %d", self.where, message.id, status)
            return f"HTTP {status}"
        answer = f"HTTP {status} {resp.reason or ''}".rstrip()
        if 300 <= status < 400:
            there = resp.headers.get("Location")
            to = f" to {shown_url(urljoin(self.url, there))}" if there else ""
            raise DeliveryError(f"{where}: {answer}: redirected{to}; redirects are not followed "
                                "(a signed payload goes only to the configured URL): configure the "
                                "final URL", retryable=False)
        detail = _service_text(resp)
        text = scrub(f"{where}: {answer}" + (f": {detail}" if detail else ""), [self._key])
        if status == 429 or status >= 500:
            raise DeliveryError(text, retryable=True, retry_after=_retry_after(resp, self.clock))
        raise DeliveryError(text, retryable=False)

    def close(self) -> None:
        self._session.close()


def _retry_after(resp: requests.Response, clock: t.Callable[[], float]) -> float | None:
    """Seconds the receiver asked to wait: ``Retry-After`` in seconds or as an HTTP date."""
    value = (resp.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        log.warning("unreadable Retry-After %r", value)
        return None
    return max(0.0, when.timestamp() - clock())


def _service_text(resp: requests.Response) -> str:
    """The receiver's own words: a JSON error/message/detail, or a short plain-text body."""
    kind = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if kind.endswith("json"):
        try:
            body = resp.json()
        except ValueError:
            return ""
        if isinstance(body, dict):
            err = body.get("error")
            if isinstance(err, dict):
                err = err.get("message") or err.get("code")
            found = [str(v) for v in (err, body.get("message"), body.get("detail")) if v]
            return short(": ".join(found))
        return ""
    if kind == "text/plain":
        return short(resp.text)
    return ""      # an HTML error page is no message


def _tls_reason(exc: requests.exceptions.SSLError) -> str:
    text = str(exc)
    for known in ("CERTIFICATE_VERIFY_FAILED", "WRONG_VERSION_NUMBER", "hostname mismatch"):
        if known in text:
            return {"CERTIFICATE_VERIFY_FAILED": "the certificate is not trusted",
                    "WRONG_VERSION_NUMBER": "the server does not speak TLS on that port",
                    "hostname mismatch": "the certificate is for another host"}[known]
    return "handshake failed"

