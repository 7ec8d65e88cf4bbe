"""Sending the outbox, and keeping tickets in step with their trackers.

``notify(store, config, snapshot)`` is what ``dialtone run``, the scheduler and ``dialtone
notify send`` call: route the history's new events and what the date brings (one transaction),
send what is due, then read the trackers (tickets closed there → "fix claimed"; people's
comments → the finding's history). A ticket with an update still waiting in the outbox is not
read until the update is through. A run also reads the trackers before it evaluates.

Delivery is in ``id`` order per target: a message that fails with a retryable error waits
(``retry_seconds``, doubled at each attempt up to ``max_retry_seconds``, or the service's own
Retry-After) and the messages behind it for the same target wait with it, so a recipient never
sees them out of order. A message a target refuses for good (a rejected address, a request the
tracker will never take) is a dead letter at once; after ``max_attempts`` retryable failures
too. Each message is marked sent in its own transaction with an event in the history of every
finding it was about. A crash between writing the outbox and sending leaves the message
pending for the next round; a crash between sending and marking it sent can repeat that one
message, which the receiver can recognise (the e-mail's Message-ID and the webhook's delivery id
are the outbox id; a tracker is asked for the ticket by its correlation id before one is opened).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field

from sqlalchemy import select, text, update

from ..config import Config
from ..errors import ConfigError
from ..evidence.masking import Masker, mask_key
from ..notifier_api import DeliveryError, Message, Target, Ticket, TicketTarget, notifiers
from ..notify_settings import NotifySettings
from ..snapshots import Snapshot
from ..store import Store, chain, iso, outbox
from ..store.lifecycle import NEEDS_WORK, STANDING, sql_list
from ..store.tables import notify_outbox, notify_tickets
from .render import Renderer
from .routing import RouteSummary, route_clock, route_events

log = logging.getLogger(__name__)

#: A tracker comment copied into a finding's history is cut to the length of a comment typed in
#: Dialtone (web/views/fields.MAX_TEXT): a tracker's text is not ours to bound.
COMMENT_LIMIT = 10_000


@dataclass
class DeliverySummary:
    routed: RouteSummary = field(default_factory=RouteSummary)
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    claimed: int = 0
    comments: int = 0
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        parts = [f"{self.sent} sent"]
        if self.retrying:
            parts.append(f"{self.retrying} to retry")
        if self.dead:
            parts.append(f"{self.dead} dead letters")
        if self.claimed:
            parts.append(f"{self.claimed} tickets closed on their tracker (fix claimed)")
        if self.comments:
            parts.append(f"{self.comments} comments from trackers")
        return "notifications: " + ", ".join(parts)


def correlation(ticket_id: int) -> str:
    """What a tracker is asked for before a ticket is opened (its label or correlation id)."""
    return f"t{ticket_id}"


class _Targets:
    """The configured targets, each made once per round and closed at its end."""

    def __init__(self, config: Config, made: dict[str, Target] | None = None) -> None:
        self.config = config
        self.made: dict[str, Target] = dict(made or {})

    def get(self, name: str) -> Target:
        if name not in self.made:
            spec = self.config.notifications.targets[name]
            self.made[name] = notifiers.get(spec.type)(name, spec.settings, self.config.base_dir)
        return self.made[name]

    def close(self) -> None:
        for target in self.made.values():
            try:
                target.close()
            except Exception:  # noqa: BLE001 — closing never hides the round's outcome
                log.debug("closing a notification target failed", exc_info=True)


def route(store: Store, settings: NotifySettings, snapshot: Snapshot | None) -> RouteSummary:
    """Route the history since the cursor and what today brings, in one transaction."""
    with store.write() as conn:
        summary = route_events(conn, settings, now=store.now_text(), snapshot=snapshot)
        summary.add(route_clock(conn, settings, now=store.now_text(), today=store.today(),
                                snapshot=snapshot))
    return summary


def notify(store: Store, config: Config, snapshot: Snapshot | None, *, only_target: str | None = None,
           targets: dict[str, Target] | None = None) -> DeliverySummary:
    """Route, read the trackers, send what is due. Errors of one target never stop the others."""
    settings = config.notifications
    summary = DeliverySummary()
    if not settings.targets:
        return summary
    if settings.rules:
        summary.routed = route(store, settings, snapshot)
    made = _Targets(config, targets)
    try:
        # Sent first, so that the trackers show what Dialtone asked of them (a ticket reopened)
        # before they are read back.
        _send(store, config, made, summary, only_target)
        _sync_tickets(store, settings, made, summary, only_target)
    finally:
        made.close()
    return summary


def read_trackers(store: Store, config: Config, *,
                  targets: dict[str, Target] | None = None) -> DeliverySummary:
    """Only read the trackers: a run does this before it evaluates, so that a ticket closed
    there since the last run is a claim this run's evaluation confirms or refutes."""
    summary = DeliverySummary()
    if not config.notifications.targets:
        return summary
    made = _Targets(config, targets)
    try:
        _sync_tickets(store, config.notifications, made, summary, None)
    finally:
        made.close()
    return summary


# -- sending --------------------------------------------------------------------------------------
def _send(store: Store, config: Config, made: _Targets, summary: DeliverySummary,
          only_target: str | None) -> None:
    settings = config.notifications
    renderer = Renderer(settings, Masker(mask_key(config.data_dir)))
    with store.read() as conn:
        query = select(notify_outbox.c.id, notify_outbox.c.target).where(notify_outbox.c.status == "pending")
        if only_target:
            query = query.where(notify_outbox.c.target == only_target)
        pending = conn.execute(query.order_by(notify_outbox.c.id)).all()
    by_target: dict[str, list[int]] = {}
    for mid, target in pending:
        by_target.setdefault(target, []).append(mid)
    for name, ids in by_target.items():
        if name not in settings.targets:
            with store.write() as conn:
                for mid in ids:
                    outbox.mark_failed(conn, mid, error=f"the target {name} is no longer configured",
                                       not_before=store.now_text(), dead=True)
            summary.dead += len(ids)
            continue
        try:
            target = made.get(name)
        except Exception as exc:  # a plugin that cannot start: its messages wait
            summary.errors.append(f"notifications.targets.{name}: {exc}")
            continue
        for mid in ids:
            if not _send_one(store, settings, renderer, target, mid, summary):
                break


def _send_one(store: Store, settings: NotifySettings, renderer: Renderer, target: Target, mid: int,
              summary: DeliverySummary) -> bool:
    """Send one message; False when the target's later messages must wait behind it."""
    now = store.now_text()
    with store.read() as conn:
        row = conn.execute(select(notify_outbox).where(notify_outbox.c.id == mid)).first()
        if row is None or row.status != "pending":
            return True
        if row.not_before > now:
            # A digest waiting for its period's end does not hold up other messages; a retry does.
            return row.kind == "digest" and row.attempts == 0
        message = renderer.message(conn, row, settings.targets[target.name])
        finding_ids = _finding_ids(conn, row)
        ticket = _ticket(conn, row.ticket_id) if row.ticket_id is not None else None
    try:
        ref, opened = _dispatch(target, row, message, ticket)
    except (DeliveryError, ConfigError, ValueError) as exc:
        # A target's own configuration problem or a value it refuses will not pass by waiting.
        retryable = isinstance(exc, DeliveryError) and exc.retryable
        attempts = row.attempts + 1
        dead = not retryable or attempts >= settings.max_attempts
        asked = getattr(exc, "retry_after", None)
        wait = asked if asked is not None else \
            min(settings.retry_seconds * 2 ** (attempts - 1), settings.max_retry_seconds)
        with store.write() as conn:
            outbox.mark_failed(conn, mid, error=str(exc), dead=dead, subject=message.subject,
                               not_before=iso(store.now() + dt.timedelta(seconds=wait)))
        summary.errors.append(f"message {mid} to {target.name}: {exc}")
        if dead:
            summary.dead += 1
            return True
        summary.retrying += 1
        return False
    with store.write() as conn:
        outbox.mark_sent(conn, mid, now=store.now_text(), ref=ref, subject=message.subject)
        if opened is not None:
            conn.execute(update(notify_tickets).where(notify_tickets.c.id == row.ticket_id).values(
                key=opened.key, url=opened.url, remote_id=opened.remote_id))
        outbox.record_delivery(conn, now=store.now_text(), message_id=mid, target=target.name,
                               kind=row.kind, recipient=row.recipient, ref=ref, finding_ids=finding_ids)
    summary.sent += 1
    return True


def _dispatch(target: Target, row, message: Message, ticket) -> tuple[str | None, Ticket | None]:
    """Send a message, or carry out a ticket operation; returns (what to record, a ticket
    just opened)."""
    if not isinstance(target, TicketTarget):
        return target.send(message), None
    corr = correlation(row.ticket_id)
    if row.kind == "ticket_open":
        found = target.find(corr) or target.create(corr, message)
        return found.key, found
    current = Ticket(ticket.key, ticket.url, ticket.remote_id) if ticket and ticket.key else target.find(corr)
    if current is None:
        raise DeliveryError(f"notifications.targets.{target.name}: the ticket for this update was never "
                            "opened (its opening message is a dead letter)", retryable=False)
    if row.kind == "ticket_comment":
        target.comment(current, message.text)
    elif row.kind == "ticket_close":
        target.close_ticket(current, message.text)
    elif row.kind == "ticket_reopen":
        target.reopen_ticket(current, message.text)
    return current.key, None if ticket and ticket.key else current


def _finding_ids(conn, row) -> list[int]:
    if row.kind == "digest":
        return [r[0] for r in conn.execute(text(
            "SELECT DISTINCT finding_id FROM notify_items WHERE message_id = :m ORDER BY finding_id"),
            {"m": row.id})]
    payload = json.loads(row.payload or "{}")
    if "findings" in payload:
        return sorted(set(payload["findings"]))
    return [row.finding_id] if row.finding_id is not None else []


def _ticket(conn, ticket_id: int):
    return conn.execute(select(notify_tickets).where(notify_tickets.c.id == ticket_id)).first()


# -- reading the trackers -------------------------------------------------------------------------
def _sync_tickets(store: Store, settings: NotifySettings, made: _Targets, summary: DeliverySummary,
                  only_target: str | None) -> None:
    for name, spec in settings.targets.items():
        if only_target and name != only_target:
            continue
        cls = notifiers.get(spec.type)
        if cls.kind != "ticket":
            continue
        with store.read() as conn:
            # A ticket with an update still in the outbox is not read: the tracker does not yet
            # show what Dialtone asked (a reopened ticket would read as still closed).
            waiting = select(notify_outbox.c.ticket_id).where(notify_outbox.c.status == "pending",
                                                              notify_outbox.c.ticket_id.is_not(None))
            rows = conn.execute(select(notify_tickets).where(
                notify_tickets.c.target == name, notify_tickets.c.state == "open",
                notify_tickets.c.key.is_not(None), notify_tickets.c.id.not_in(waiting))
                .order_by(notify_tickets.c.id)).all()
        if not rows:
            continue
        try:
            target = made.get(name)
            remote = target.poll([Ticket(r.key, r.url, r.remote_id) for r in rows],
                                 {r.key: r.comment_cursor for r in rows})
        except (DeliveryError, ConfigError, ValueError) as exc:
            summary.errors.append(f"reading tickets from {name}: {exc}")
            continue
        by_key = {r.key: r for r in rows}
        with store.write() as conn:
            now = store.now_text()
            for seen in remote:
                ticket = by_key.get(seen.key)
                if ticket is None:
                    continue
                members = conn.execute(text(f"""
                    SELECT f.id, f.status FROM notify_ticket_findings l JOIN findings f ON f.id = l.finding_id
                    WHERE l.ticket_id = :t AND f.status IN {sql_list(STANDING)} ORDER BY f.id"""),
                    {"t": ticket.id}).all()
                values: dict = {"polled_at": now, "remote_status": seen.status[:100]}
                events = []
                for c in seen.comments:
                    body = c.body if len(c.body) <= COMMENT_LIMIT else \
                        c.body[:COMMENT_LIMIT] + f" … (cut: the comment on {seen.key} is longer)"
                    data = chain.canonical_data({"comment": body, "via": name, "ticket": seen.key,
                                                 "author": c.author[:200]})
                    events += [(now, f"{name}:{c.author}"[:200], "commented", m.id, None, None, data)
                               for m in members]
                    values["comment_cursor"] = c.id
                    summary.comments += 1
                if seen.closed:
                    claimed = [m for m in members if m.status in NEEDS_WORK]
                    values.update(state="claimed" if claimed else "closed", claimed_at=now)
                    if not claimed:
                        values["closed_at"] = now
                    data = chain.canonical_data({"target": name, "ticket": seen.key, "status": seen.status})
                    events += [(now, f"{name}", "fix_claimed", m.id, None, None, data) for m in claimed]
                    summary.claimed += 1
                conn.execute(update(notify_tickets).where(notify_tickets.c.id == ticket.id).values(**values))
                if events:
                    chain.append(conn, events)
