"""E-mail through an SMTP server (``type: email``): text and HTML bodies, STARTTLS or TLS.

The mail is built with the standard library's :class:`email.message.EmailMessage` and sent with
:mod:`smtplib`. Its Message-ID is derived from the outbox message's id, so a message sent again
after a crash (delivered, but not yet marked sent) carries the same Message-ID and mail clients
and archives can recognise it. ``Auto-Submitted: auto-generated`` (RFC 3834) keeps vacation
responders from answering it.

Failures: a refused connection, a timeout, a dropped connection or a 4xx reply are retryable;
a 5xx reply (unknown recipient, refused login), a certificate that is not trusted or a server
that does not offer STARTTLS are not. Messages name the target, the server and the server's
own reply, never the password.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path

from dialtone.engine.errors import ConfigError
from dialtone.engine.notifier_api import DeliveryError, Message, Target
from dialtone.engine.secrets import read_secret, secret_schema

from .transport import is_loopback, scrub, short, tls_context

log = logging.getLogger(__name__)

SECURITY = ("starttls", "tls", "none")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
_ADDRESS = {"type": "string", "minLength": 3, "pattern": "@"}


class EmailTarget(Target):
    """Sends each message as one e-mail to its recipient, or to ``to`` when it has none."""

    addressed = True
    secret_settings = ("password",)
    settings_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["host", "from"],
        "properties": {
            "host": {"type": "string", "minLength": 1},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "security": {"enum": list(SECURITY)},
            "allow_plaintext": {"type": "boolean"},
            "username": {"type": "string", "minLength": 1},
            **secret_schema("password", "SMTP password"),
            "from": _ADDRESS,
            "to": {"type": "array", "items": _ADDRESS, "minItems": 1},
            "reply_to": _ADDRESS,
            "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 600},
            "ca_file": {"type": "string", "minLength": 1},
        },
        # A password without a user name would be read and never used: say so instead.
        "dependentRequired": {"password_env": ["username"], "password_file": ["username"]},
    }

    def __init__(self, name: str, settings: dict, base_dir: Path) -> None:
        super().__init__(name, settings, base_dir)
        self.host: str = settings["host"]
        self.security: str = settings.get("security", "starttls")
        self.port: int = settings.get("port", DEFAULT_PORTS[self.security])
        self.timeout: float = settings.get("timeout", 30)
        if self.security == "none" and not is_loopback(self.host) and not settings.get("allow_plaintext"):
            # Without TLS the mail, the findings in it and any password cross the network readable
            # by anyone on the path; only a relay on this machine makes that harmless.
            raise ConfigError(
                f"{self.where}.security: 'none' sends mail (and any password) unencrypted to "
                f"{self.host}, which is not this machine; use starttls or tls, or set "
                "allow_plaintext: true if the network to the relay is trusted.")
        self.sender = parseaddr(settings["from"])[1]
        if "@" not in self.sender:
            raise ConfigError(f"{self.where}.from: '{settings['from']}' is not an e-mail address.")
        self.username: str | None = settings.get("username")
        self._password = (read_secret(settings, "password", self.where, base_dir, required=True)
                          if self.username else None)
        self.to: tuple[str, ...] = tuple(settings.get("to") or ())
        self.reply_to: str | None = settings.get("reply_to")
        self._context = tls_context(settings, self.where, base_dir) if self.security != "none" else None
        self._smtp: smtplib.SMTP | None = None
        # Stable per server and sender: the same outbox message always gets the same Message-ID.
        self._id_salt = hashlib.sha256((self.host + self.sender).encode()).hexdigest()[:12]

    # -- the mail --------------------------------------------------------------------------
    def message_id(self, message: Message) -> str:
        return f"<dialtone.{message.id}.{self._id_salt}@{self.sender.rpartition('@')[2]}>"

    def build(self, message: Message, recipients: list[str]) -> EmailMessage:
        """The e-mail for ``message``: text and HTML alternatives and the headers."""
        mail = EmailMessage()
        # Header values may not hold line breaks (header injection): a subject is one line.
        mail["Subject"] = " ".join(message.subject.split())
        mail["From"] = self.settings["from"]
        mail["To"] = ", ".join(recipients)
        if self.reply_to:
            mail["Reply-To"] = self.reply_to
        mail["Date"] = format_datetime(dt.datetime.now(dt.UTC))
        mail["Message-ID"] = self.message_id(message)
        mail["Auto-Submitted"] = "auto-generated"
        # Exchange's equivalent: no out-of-office or delivery-report replies to a robot.
        mail["X-Auto-Response-Suppress"] = "All"
        mail.set_content(message.text)
        if message.html:
            mail.add_alternative(message.html, subtype="html")
        return mail

    # -- sending ---------------------------------------------------------------------------
    def send(self, message: Message) -> str | None:
        recipients = [message.recipient] if message.recipient else list(self.to)
        if not recipients:
            raise DeliveryError(f"{self.where}: message {message.id} has no recipient and the target "
                                "has no 'to' addresses to send it to.", retryable=False)
        try:
            mail = self.build(message, recipients)
        except (ValueError, TypeError) as exc:   # e.g. a line break in an address from the estate
            raise DeliveryError(f"{self.where}: message {message.id} cannot be written as an e-mail: "
                                f"{short(str(exc))}", retryable=False) from None
        # The envelope takes bare addresses; the To header keeps any display names.
        envelope = [parseaddr(r)[1] or r for r in recipients]
        try:
            refused = self._connection().send_message(mail, from_addr=self.sender, to_addrs=envelope)
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise self._error(exc) from None
        if refused:   # some recipients took it: it is delivered; the others are named in the log
            log.warning("%s: SMTP %s:%s refused %d of %d recipients of message %d: %s", self.where,
                        self.host, self.port, len(refused), len(recipients), message.id,
                        "; ".join(f"{a}: {_reply(*r)}" for a, r in refused.items()))
        log.info("%s: message %d sent (%s)", self.where, message.id, mail["Message-ID"])
        return mail["Message-ID"]

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._smtp.quit()
            self._drop()

    def _connection(self) -> smtplib.SMTP:
        """An open, greeted and logged-in connection; kept for the round's next messages."""
        if self._smtp is not None:
            try:
                if self._smtp.noop()[0] == 250:
                    return self._smtp
            except (smtplib.SMTPException, OSError):
                pass
            self._drop()
        if self.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                  context=self._context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        self._smtp = smtp
        smtp.ehlo()
        if self.security == "starttls":
            if not smtp.has_extn("starttls"):
                # Never fall back to plaintext: that is what an attacker on the path would ask for.
                raise _NoStartTLS()
            smtp.starttls(context=self._context)
            smtp.ehlo()
        if self.username:
            smtp.login(self.username, self._password or "")
        return smtp

    def _drop(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError):
                self._smtp.close()
        self._smtp = None

    def _error(self, exc: BaseException) -> DeliveryError:
        """A DeliveryError for what went wrong, retryable when trying later may help."""
        server = f"{self.where}: SMTP {self.host}:{self.port}"
        retryable = True
        if isinstance(exc, _NoStartTLS):
            what, retryable = ("does not offer STARTTLS; refusing to send in plaintext (use security: "
                               "tls if the port expects TLS from the start)"), False
        elif isinstance(exc, ssl.SSLCertVerificationError):
            what, retryable = (f"presented a certificate that is not trusted ({exc.verify_message}); "
                               "for a private CA set ca_file to its CA bundle"), False
        elif isinstance(exc, ssl.SSLError):
            what, retryable = (f"TLS failed ({exc.reason or type(exc).__name__}); check that "
                               f"security: {self.security} is what port {self.port} expects"), False
        elif isinstance(exc, smtplib.SMTPRecipientsRefused):
            replies = exc.recipients.values()
            retryable = all(400 <= code < 500 for code, _ in replies)
            what = "refused the recipients: " + "; ".join(
                f"{addr}: {_reply(*reply)}" for addr, reply in exc.recipients.items())
        elif isinstance(exc, smtplib.SMTPAuthenticationError):
            retryable = 400 <= exc.smtp_code < 500
            what = f"refused the login as '{self.username}': {_reply(exc.smtp_code, exc.smtp_error)}"
        elif isinstance(exc, smtplib.SMTPResponseException):
            retryable = 400 <= exc.smtp_code < 500
            what = f"refused the message: {_reply(exc.smtp_code, exc.smtp_error)}"
        elif isinstance(exc, smtplib.SMTPNotSupportedError):
            what, retryable = f"does not support what is needed: {exc}", False
        elif isinstance(exc, smtplib.SMTPServerDisconnected):
            # smtplib reports a read that timed out as a disconnection: say which it was.
            timed_out = isinstance(exc.__context__, TimeoutError)
            what = f"did not answer within {self.timeout:g} s" if timed_out else "closed the connection"
        elif isinstance(exc, TimeoutError):
            what = f"did not answer within {self.timeout:g} s"
        elif isinstance(exc, OSError):
            what = f"cannot be reached: {(exc.strerror or type(exc).__name__).lower()}"
        else:
            what = f"failed: {exc}"
        secrets = [self._password] if self._password else []
        return DeliveryError(scrub(f"{server} {what}", secrets), retryable=retryable)


class _NoStartTLS(smtplib.SMTPException):
    """The server did not offer STARTTLS though the target requires it."""


def _reply(code: int, text: bytes | str) -> str:
    """An SMTP reply as one line: ``550 5.1.1 no such user``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return short(f"{code} {text}")
