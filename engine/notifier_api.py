"""The notification target protocol and its registry (entry points ``dialtone.notifiers``).

A target is where messages go: an e-mail server, a chat or push service (through Apprise), a
signed webhook, or a ticket tracker (Jira, ServiceNow). The built-in targets live in
``notifiers/`` and register through the same entry points a third-party plugin would use.

Two kinds:

- a **message target** (:class:`Target`) delivers a rendered :class:`Message` and says what
  the other side answered (a Message-ID, an HTTP status);
- a **ticket target** (:class:`TicketTarget`) keeps one ticket per finding or group of
  findings: it finds a ticket by its correlation id (so a retry after a crash never opens a
  second one), opens, comments, closes and reopens it, and reports which tickets were closed
  on the tracker and which comments people added there (:meth:`TicketTarget.poll`).

A target raises :class:`DeliveryError` when a delivery fails: ``retryable`` (the service is
down, throttled, timed out) leaves the message in the outbox for a later attempt, after
``retry_after`` seconds when the service said so; not retryable (refused credentials, a
request the service rejects) makes the message a dead letter at once, so that a message the
service will never take does not hold up the target's others.

Secrets come from ``<name>_env`` / ``<name>_file`` settings (``engine/secrets.py``); a
target never logs or returns one, and its error messages name the setting, never the value.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from .errors import ConfigError, DialtoneError
from .registry import Registry

#: Evidence a target's messages may carry: all of it, masked as in an evidence package
#: (people's names, e-mail addresses and phone numbers as stable tokens), or none.
EVIDENCE_CHOICES = ("full", "masked", "none")


class DeliveryError(DialtoneError):
    """A delivery failed; ``retryable`` says whether trying again later may succeed."""

    def __init__(self, message: str, *, retryable: bool = True, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class FindingRef:
    """One finding as a message shows it (evidence already masked for the target)."""
    id: int
    policy_id: str
    policy_title: str
    severity: str
    category: str
    resource_type: str
    resource_id: str
    status: str
    reason: str | None
    due_on: str | None
    savings: float | None
    currency: str | None
    evidence: dict
    url: str | None                      # the finding's page, when notifications.base_url is set
    event: str                           # what happened: new, reopened, due_soon, overdue, ...
    history: tuple[dict, ...] = ()       # the finding's latest events (at, actor, kind)


@dataclass(frozen=True)
class Message:
    """A rendered message: what every target receives.

    ``id`` is the outbox row's id: stable across retries, so a receiver can recognise a
    redelivery (the e-mail's Message-ID, the webhook's ``X-Dialtone-Delivery`` header).
    ``payload`` is the documented JSON body of the signed webhook (docs/notifications.md)."""
    id: int
    kind: str                  # new | reopened | due_soon | overdue | exception_expiring |
                               # run_failed | source_stale | digest | test | ticket_* (tickets)
    rule: str | None
    recipient: str | None      # an e-mail address for e-mail targets; None: the target's own
    subject: str
    text: str
    html: str
    payload: dict
    findings: tuple[FindingRef, ...] = ()


@dataclass(frozen=True)
class Ticket:
    """A ticket on a tracker: its key (``TEL-12``, ``INC0010001``) and its page."""
    key: str
    url: str | None = None
    remote_id: str | None = None         # the tracker's internal id (ServiceNow's sys_id)


@dataclass(frozen=True)
class RemoteComment:
    id: str
    author: str
    body: str
    at: str | None = None


@dataclass(frozen=True)
class RemoteTicket:
    """What :meth:`TicketTarget.poll` saw of one ticket."""
    key: str
    closed: bool
    status: str                          # the tracker's own word: Done, Resolved, Closed
    comments: tuple[RemoteComment, ...] = field(default_factory=tuple)  # new since the cursor


class Target:
    """A message target. Subclasses set ``settings_schema`` (JSON Schema of their settings,
    the common ``type`` and ``evidence`` keys excluded) and ``secret_settings``."""

    #: "message" or "ticket"
    kind: t.ClassVar[str] = "message"
    #: JSON Schema of the target's own settings.
    settings_schema: t.ClassVar[dict] = {"type": "object"}
    #: Names of the secrets the target reads (each given as ``<name>_env`` or ``<name>_file``).
    secret_settings: t.ClassVar[tuple[str, ...]] = ()
    #: Whether messages need a recipient address (e-mail): rules' recipients apply to it.
    addressed: t.ClassVar[bool] = False

    def __init__(self, name: str, settings: dict, base_dir: Path) -> None:
        self.name = name
        self.settings = settings
        self.base_dir = base_dir

    @property
    def where(self) -> str:
        """Where its settings are, for messages: ``notifications.targets.<name>``."""
        return f"notifications.targets.{self.name}"

    def send(self, message: Message) -> str | None:
        """Deliver ``message``; returns what the other side answered (for the outbox)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections (called once after a round of deliveries)."""


class TicketTarget(Target):
    """A ticket tracker. ``send`` is not used: the outbox calls the ticket operations."""

    kind = "ticket"

    def find(self, correlation: str) -> Ticket | None:
        """The ticket opened earlier for ``correlation`` (``dialtone-<ticket id>``), if any."""
        raise NotImplementedError

    def create(self, correlation: str, message: Message) -> Ticket:
        raise NotImplementedError

    def comment(self, ticket: Ticket, text: str) -> None:
        raise NotImplementedError

    def close_ticket(self, ticket: Ticket, text: str) -> None:
        raise NotImplementedError

    def reopen_ticket(self, ticket: Ticket, text: str) -> None:
        raise NotImplementedError

    def poll(self, tickets: list[Ticket], cursors: dict[str, str | None]) -> list[RemoteTicket]:
        """The state of ``tickets`` on the tracker, and the comments added there after each
        ticket's cursor (the last comment id seen) by anyone but this target's own account."""
        raise NotImplementedError


notifiers: Registry[type[Target]] = Registry("notification target", "dialtone.notifiers")

#: Settings every target takes, whatever its type.
COMMON_SETTINGS = {
    "type": {"type": "string", "minLength": 1},
    "evidence": {"enum": list(EVIDENCE_CHOICES)},
}


def check_target_settings(name: str, settings: dict, position: t.Callable[[list], int | None],
                          file: str) -> type[Target]:
    """The target class for ``settings['type']``, its settings checked against its schema."""
    from .errors import RegistryError

    where = ["notifications", "targets", name]
    try:
        cls = notifiers.get(settings["type"])
    except RegistryError as exc:
        raise ConfigError(f"{file}:{position([*where, 'type'])}: "
                          f"notifications.targets.{name}.type: {exc}") from None
    own = {k: v for k, v in settings.items() if k not in COMMON_SETTINGS}
    err = best_match(Draft202012Validator(cls.settings_schema,
                                          format_checker=Draft202012Validator.FORMAT_CHECKER)
                     .iter_errors(own))
    if err is not None:
        at = [*where, *err.absolute_path]
        raise ConfigError(f"{file}:{position(at)}: {'.'.join(str(p) for p in at)}: {err.message}")
    return cls
