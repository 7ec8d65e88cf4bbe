"""What the message targets share: loopback hosts, TLS contexts, URLs and text fit for messages.

Kept apart from the targets so that e-mail and the webhook judge "plaintext is allowed here"
and "this CA is trusted" the same way.
"""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from dialtone.engine.errors import ConfigError

#: Service messages are cut to this length: an HTML error page is no message.
MESSAGE_LIMIT = 300


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine: plaintext to it never crosses a network."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tls_context(settings: dict, where: str, base_dir: Path) -> ssl.SSLContext:
    """A verifying TLS context: the system's trust store, or ``ca_file`` (relative to the
    configuration's folder) for a private CA. Verification is never switched off."""
    ca_file = settings.get("ca_file")
    if not ca_file:
        return ssl.create_default_context()
    path = base_dir / ca_file
    try:
        return ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or type(exc).__name__
        raise ConfigError(f"{where}.ca_file: cannot read a CA bundle from {path}: {reason}.") from None


def shown_url(url: str) -> str:
    """A URL fit for messages and logs: no user, password or query string (they may hold
    tokens)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def short(text: str) -> str:
    """One line of at most :data:`MESSAGE_LIMIT` characters."""
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + "…"


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every one of ``secrets`` replaced by ``***``, the longest first."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
