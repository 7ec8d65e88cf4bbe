"""Chat and push services through Apprise (``type: apprise``): Slack, Microsoft Teams, ntfy, …

Apprise URLs carry the service's tokens (``slack://T1/B2/secret``), so the URL is a secret:
``url_env`` or ``url_file``, never written in the configuration; a file may hold several URLs,
one a line (blank lines and ``#`` comments are skipped), and each message goes to all of them.

Apprise says whether a notification went through, not why: a failure is retryable, and its
message carries what Apprise logged, with every URL and token taken out.
"""

from __future__ import annotations

import contextlib
import logging
import re
import typing as t
import warnings
from pathlib import Path

import apprise

from dialtone.engine.notifier_api import DeliveryError, FindingRef, Message, Target
from dialtone.engine.secrets import read_secret, secret_schema

from .transport import scrub, short

log = logging.getLogger(__name__)

BODY_FORMATS = {"text": apprise.NotifyFormat.TEXT, "markdown": apprise.NotifyFormat.MARKDOWN,
                "html": apprise.NotifyFormat.HTML}
#: Findings listed in a markdown body; the rest are counted ("and 12 more").
MAX_LISTED = 20
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")


class AppriseTarget(Target):
    """Sends each message to every Apprise URL of the target."""

    secret_settings = ("url",)
    settings_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            **secret_schema("url", "Apprise URL(s), one a line"),
            "title_prefix": {"type": "string"},
            "body_format": {"enum": list(BODY_FORMATS)},
        },
        "anyOf": [{"required": ["url_env"]}, {"required": ["url_file"]}],
    }

    def __init__(self, name: str, settings: dict, base_dir: Path) -> None:
        super().__init__(name, settings, base_dir)
        text = read_secret(settings, "url", self.where, base_dir) or ""
        self._urls = [line.strip() for line in text.splitlines()
                      if line.strip() and not line.strip().startswith("#")]
        self.title_prefix: str = settings.get("title_prefix", "")
        self.body_format: str = settings.get("body_format", "markdown")
        self._apprise: apprise.Apprise | None = None

    @property
    def setting(self) -> str:
        """The setting the URLs came from, for messages (never the URLs themselves)."""
        return f"{self.where}.{'url_env' if 'url_env' in self.settings else 'url_file'}"

    def services(self) -> apprise.Apprise:
        """The Apprise object with every URL added; a URL it cannot read is a configuration
        mistake that no retry will mend."""
        if self._apprise is None:
            ap = apprise.Apprise()
            for i, url in enumerate(self._urls, 1):
                with warnings.catch_warnings(), _apprise_logs_kept_in():
                    # Apprise's e-mail plugin imports the deprecated imghdr module when its plugins
                    # load (on the first add); that is Apprise's affair, not a warning for our users.
                    warnings.filterwarnings("ignore", message="'imghdr' is deprecated",
                                            category=DeprecationWarning)
                    added = ap.add(url)
                if not added:
                    raise DeliveryError(f"{self.setting}: URL {i} of {len(self._urls)} is not one "
                                        "Apprise understands (check its scheme and tokens against "
                                        "the Apprise documentation of the service).", retryable=False)
            if not self._urls:
                raise DeliveryError(f"{self.setting}: holds no Apprise URL.", retryable=False)
            self._apprise = ap
        return self._apprise

    def body(self, message: Message) -> str:
        if self.body_format == "html":
            return message.html or message.text
        if self.body_format == "markdown" and message.findings:
            return markdown_body(message)
        return message.text

    def send(self, message: Message) -> str | None:
        services = self.services()
        title = f"{self.title_prefix}{message.subject}"
        with _apprise_logs_kept_in(), apprise.LogCapture(level=logging.WARNING) as logs:
            ok = services.notify(body=self.body(message), title=title,
                                 body_format=BODY_FORMATS[self.body_format])
            said = logs.getvalue()
        if not ok:
            detail = self._clean(said)
            log.warning("%s: message %d not delivered: %s", self.where, message.id, detail)
            raise DeliveryError(f"{self.where}: Apprise could not deliver message {message.id} to "
                                f"every service ({len(services)} URL(s))"
                                + (f": {detail}" if detail else "."), retryable=True)
        return f"Apprise: {len(services)} service(s)"

    def _clean(self, text: str) -> str:
        """Apprise's log lines without timestamps, URLs or any piece of a token."""
        lines = [line.split(" - ", 2)[-1] for line in text.splitlines() if line.strip()]
        text = _URL.sub("<url>", " ".join(lines))
        # Tokens sit in a URL's path, user, password and query: take out every piece long
        # enough to be one, wherever Apprise quoted it.
        pieces = [p for url in self._urls for p in re.split(r"[/:@?&=#.]+", url) if len(p) >= 6]
        return short(scrub(text, [*self._urls, *pieces]))


#: Loggers that quote a service's URL (tokens included) at debug level: Apprise's own, and
#: urllib3's connection pool under it ("POST /services/T000/B000/token").
_QUOTING_LOGGERS = ("apprise", "urllib3")


@contextlib.contextmanager
def _apprise_logs_kept_in() -> t.Iterator[None]:
    """While Apprise reads URLs and sends, its log lines and urllib3's stay out of Dialtone's
    logs; what Apprise said comes back through LogCapture and is logged scrubbed instead.
    (Deliveries run one at a time, so switching propagation off for the call is safe.)"""
    loggers = [logging.getLogger(name) for name in _QUOTING_LOGGERS]
    before = [logger.propagate for logger in loggers]
    for logger in loggers:
        logger.propagate = False
    try:
        yield
    finally:
        for logger, was in zip(loggers, before, strict=True):
            logger.propagate = was


def markdown_body(message: Message) -> str:
    """Subject and up to :data:`MAX_LISTED` findings, one a line:
    severity · policy title · resource · link."""
    lines = [f"**{_md(message.subject)}**", ""]
    for f in message.findings[:MAX_LISTED]:
        lines.append("- " + _finding_line(f))
    if len(message.findings) > MAX_LISTED:
        lines.append(f"- and {len(message.findings) - MAX_LISTED} more")
    return "\n".join(lines)


def _finding_line(f: FindingRef) -> str:
    resource = f.resource_id.replace("`", "'")      # a backtick would end the code span
    parts = [f"**{_md(f.severity)}**", _md(f.policy_title), f"`{resource}`"]
    if f.url:
        parts.append(f"[open]({f.url.replace(')', '%29')})")
    return " · ".join(parts)


def _md(text: str) -> str:
    """Text shown as itself in markdown (a policy title with * or [ ] stays a title)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))
