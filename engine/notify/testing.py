"""``dialtone notify test``: one sample message to a target, outside the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from ..config import Config
from ..errors import ConfigError, RegistryError
from ..evidence.masking import Masker, mask_key
from ..notifier_api import DeliveryError, TicketTarget, notifiers
from ..store import Store
from .render import Renderer

#: The correlation id asked for when a tracker is tried: no ticket has it.
PROBE = "dialtone-connection-test"


@dataclass(frozen=True)
class TryResult:
    ok: bool
    detail: str


def try_target(config: Config, store: Store, name: str, recipient: str | None = None) -> TryResult:
    """Send a test message to ``name``; a tracker is searched instead (address and credentials
    checked, nothing opened)."""
    spec = config.notifications.targets[name]
    try:
        target = notifiers.get(spec.type)(name, spec.settings, config.base_dir)
    except (ConfigError, RegistryError) as exc:
        return TryResult(False, str(exc))
    try:
        if isinstance(target, TicketTarget):
            target.find(PROBE)
            return TryResult(True, f"{name}: the tracker answered and took the credentials.")
        row = SimpleNamespace(id=int(store.now().timestamp()), kind="test", rule=None, recipient=recipient,
                              payload="{}", finding_id=None, ticket_id=None, created_at=store.now_text(),
                              target=name)
        renderer = Renderer(config.notifications, Masker(mask_key(config.data_dir)))
        with store.read() as conn:
            message = renderer.message(conn, row, spec)
        ref = target.send(message)
        return TryResult(True, f"{name}: test message sent" + (f" ({ref})" if ref else "") + ".")
    except (DeliveryError, ConfigError) as exc:
        return TryResult(False, str(exc))
    finally:
        target.close()
