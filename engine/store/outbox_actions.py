"""What an administrator does to the outbox: send a dead letter again, or cancel a message.

Each action is one transaction that changes the message only from the states it applies to
(compared and set in the same UPDATE, so a message the sender delivers meanwhile is refused,
not changed under it) and writes the audit log (``workflow.audit_writer``). Delivery itself
only ever takes ``pending`` messages, so a ``cancelled`` one is never sent.
"""

from __future__ import annotations

from sqlalchemy import select, update

from ..access import Access
from ..errors import DialtoneError
from . import Store, scoping
from .outbox_reads import visible_messages
from .tables import notify_outbox


class OutboxError(DialtoneError):
    """The action does not apply to the message as it stands (said in the user's words)."""


class MessageNotFound(OutboxError):
    """No such message, or one the caller's scope does not allow (answered alike: 404)."""


#: Why a message in this state cannot be sent again or cancelled.
_REFUSALS = {
    "retry": {"sent": "This message was sent already.",
              "pending": "This message is waiting to be sent already: it needs no retry.",
              "cancelled": "This message was cancelled; it is not sent again."},
    "cancel": {"sent": "This message was sent already.",
               "cancelled": "This message was cancelled already."},
}
#: The states each action applies to.
_FROM = {"retry": ("dead",), "cancel": ("pending", "dead")}


def _change(store: Store, message_id: int, action: str, actor: str, audit, values: dict,
            access: Access | None) -> None:
    with store.write() as conn:
        # A scoped caller's scope is checked here, in the transaction that changes the message.
        scoping.hold(conn, access, notify_outbox, [message_id])
        row = conn.execute(select(notify_outbox.c.status, notify_outbox.c.target, notify_outbox.c.kind,
                                  notify_outbox.c.attempts)
                           .where(notify_outbox.c.id == message_id, visible_messages(access))).first()
        if row is None:
            raise MessageNotFound(f"There is no message {message_id}.")
        changed = conn.execute(update(notify_outbox).where(
            notify_outbox.c.id == message_id, notify_outbox.c.status.in_(_FROM[action])).values(**values))
        if changed.rowcount != 1:
            raise OutboxError(_REFUSALS[action].get(row.status, f"This message is {row.status}."))
        audit(conn, actor, f"notification_{'retried' if action == 'retry' else 'cancelled'}",
              f"notification:{message_id}", {"target": row.target, "kind": row.kind, "from": row.status,
                                             "attempts": row.attempts})


def retry(store: Store, message_id: int, actor: str, audit, *, access: Access | None = None) -> None:
    """A dead letter back to ``pending``, its attempts at 0, due now: the next delivery (a run,
    the scheduler, ``dialtone notify send``) tries it again. Its last error stays until then.
    ``access`` (here and in ``cancel``): a message outside the caller's scope is MessageNotFound."""
    _change(store, message_id, "retry", actor, audit,
            {"status": "pending", "attempts": 0, "not_before": store.now_text()}, access)


def cancel(store: Store, message_id: int, actor: str, audit, *, access: Access | None = None) -> None:
    """A pending message or a dead letter to ``cancelled``: never sent (kept, with its history)."""
    _change(store, message_id, "cancel", actor, audit, {"status": "cancelled"}, access)
