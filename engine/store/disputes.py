"""Billing disputes: a claim to a carrier built from findings, worked until credited or written off.

States (``TRANSITIONS``)::

    draft ──file──▶ filed ──acknowledge──▶ acknowledged
      │               │                        │
      └─withdraw      ├── credits matched on later bills ──▶ credited | partially_credited
                      └── deny | withdraw | accept (a partial credit): written off, approved

A decision that writes money off (the carrier denied it, it is withdrawn once filed, a partial
credit is accepted as final) is *requested* by one person and *approved* by another, as for
exceptions; until then the dispute keeps its state. A draft is withdrawn at once: nothing was
claimed from the carrier yet.

Each change is one transaction that updates the dispute, appends an event to the history of every
disputed finding (``dispute_*`` kinds, data naming the dispute's reference) and writes the audit
log. Disputes never change a finding's status: the finding stands while the billing error does
(engine/store/history_state.py lists the kinds that do).
"""

from __future__ import annotations

import datetime as dt
import typing as t
from dataclasses import dataclass

from sqlalchemy import Connection, case, func, insert, null, select, update

from ..access import Access
from ..errors import DialtoneError
from . import Store, chain, scoping
from .tables import dispute_credits, dispute_items, disputes

STATUSES = ("draft", "filed", "acknowledged", "credited", "partially_credited", "accepted", "denied",
            "withdrawn")
#: Disputes still worth money to the organisation: credits can still be matched to them.
LIVE = ("draft", "filed", "acknowledged", "partially_credited")
#: Disputes that hold a claim on their charges: a charge in one of these is never claimed again
#: (a credited or accepted charge was paid, or its rest written off). Only a charge whose dispute
#: was withdrawn or denied may be disputed anew.
CLAIMING = LIVE + ("credited", "accepted")
#: With the carrier: a credit on a later bill is matched to these.
WITH_CARRIER = ("filed", "acknowledged", "partially_credited")
#: Which states each action applies to.
TRANSITIONS = {
    "file": ("draft",),
    "acknowledge": ("filed",),
    "set_reference": ("filed", "acknowledged", "partially_credited"),
    "withdraw": LIVE,
    "withdraw_draft": ("draft",),
    "deny": ("filed", "acknowledged", "partially_credited"),
    "accept": ("partially_credited",),
}
#: Write-off decisions and the state each leaves the dispute in once approved.
WRITEOFFS = {"deny": "denied", "withdraw": "withdrawn", "accept": "accepted"}


class DisputeError(DialtoneError):
    """A dispute action that cannot be done as asked (the message says why)."""


class DisputeOutOfScope(DisputeError):
    """A dispute, or a finding to dispute, the caller's scope does not allow (answered as a
    missing one: 404)."""


@dataclass(frozen=True)
class ItemSpec:
    """One disputed charge, as read from a finding and the snapshot (engine/disputes/build.py)."""

    finding_id: int | None
    policy_id: str | None
    charge_id: str | None
    invoice_id: str | None
    invoice_number: str | None
    bill_date: str | None          # YYYY-MM-DD
    line_id: str | None
    charge_code: str | None
    description: str | None
    billed_amount: float | None
    contracted_amount: float | None
    claimed_amount: float
    reason: str | None


@dataclass(frozen=True)
class CreditMatch:
    """A credit line of a bill matched to a disputed charge (engine/disputes/credits.py)."""

    dispute_id: int
    item_id: int | None
    charge_id: str
    invoice_id: str | None
    invoice_number: str | None
    bill_date: str | None
    amount: float                  # positive
    currency: str | None
    basis: str                     # reference | account_code_amount


def reference_of(dispute_id: int) -> str:
    return f"DSP-{dispute_id:06d}"


def _events(conn: Connection, store: Store, dispute_id: int, actor: str, kind: str,
            data: dict) -> None:
    """One event per disputed finding (an item without a finding: one event with none)."""
    ref = conn.execute(select(disputes.c.reference).where(disputes.c.id == dispute_id)).scalar_one()
    finding_ids = sorted({r for (r,) in conn.execute(
        select(dispute_items.c.finding_id).where(dispute_items.c.dispute_id == dispute_id))
        if r is not None}) or [None]
    at = store.now_text()
    body = chain.canonical_data({"dispute": ref, **data})
    chain.append(conn, [(at, actor, kind, fid, None, None, body) for fid in finding_ids])


def _get(conn: Connection, dispute_id: int, access: Access | None = None):
    """The dispute; ``access`` restricted: only one it may read (DisputeOutOfScope otherwise),
    checked after ``scoping.hold``, so in the transaction that acts on it."""
    query = select(disputes).where(disputes.c.id == dispute_id)
    if scoping.restricted(access):
        scoping.hold(conn, access)
        query = query.where(visible(access))
    row = conn.execute(query).first()
    if row is None:
        cls = DisputeOutOfScope if scoping.restricted(access) else DisputeError
        raise cls(f"There is no dispute {reference_of(dispute_id)}.")
    return row


def _check(row, action: str) -> None:
    if row.status not in TRANSITIONS[action]:
        allowed = ", ".join(TRANSITIONS[action])
        raise DisputeError(f"Dispute {row.reference} is {row.status}; it can be {_DONE[action]} "
                           f"only when {allowed}.")
    if row.writeoff_action and action not in ("set_reference",):
        raise DisputeError(f"Dispute {row.reference} has a {row.writeoff_action} request awaiting "
                           "approval; approve or reject it first.")


_DONE = {"file": "filed", "acknowledge": "acknowledged", "set_reference": "given a carrier reference",
         "withdraw": "withdrawn", "withdraw_draft": "withdrawn at once", "deny": "recorded as denied",
         "accept": "accepted as final"}


def parse_id(text: str | int) -> int:
    """``12``, ``DSP-000012`` or ``dsp-12`` → 12; anything else is a DisputeError."""
    if isinstance(text, int):
        return text
    value = text.strip()
    if value.upper().startswith("DSP-"):
        value = value[4:]
    if not value.isdigit():
        raise DisputeError(f"'{text}' is not a dispute (expected a number or DSP-000012).")
    return int(value)


def open_dispute(store: Store, items: t.Sequence[ItemSpec], *, account_id: str, vendor: str | None,
                 currency: str | None, window_days: int, actor: str, audit, note: str | None = None,
                 snapshot_id: str | None = None, access: Access | None = None) -> int:
    """A draft dispute of ``items`` (one account, one currency); returns its id.

    A charge already in a live dispute, or a finding already disputed in one, is refused: the
    same money is never claimed twice. The refusal names that dispute when ``access`` may read
    it, and only says it exists otherwise. A scoped caller (``access``) disputes findings of
    their scope only, checked in this transaction: another is DisputeOutOfScope."""
    if not items:
        raise DisputeError("A dispute needs at least one disputed charge.")
    bad = [i for i in items if not (i.claimed_amount and i.claimed_amount > 0)]
    if bad:
        raise DisputeError(f"Nothing to claim on {_describe(bad[0])}: the claimed amount must be "
                           "more than zero.")
    dates = sorted(i.bill_date for i in items if i.bill_date)
    bill_date = dates[0] if dates else None
    deadline = ((dt.date.fromisoformat(bill_date) + dt.timedelta(days=window_days)).isoformat()
                if bill_date else None)
    with store.write() as conn:
        # Hold the history's head first: two requests for the same charge then run one after
        # the other, and the second sees the first's dispute (PostgreSQL; SQLite's writer
        # already holds the database).
        chain.head(conn, lock=True)
        if scoping.restricted(access):
            # Held since chain.head above: no evaluation moves these findings until the commit.
            allowed = scoping.allowed(conn, [i.finding_id for i in items if i.finding_id is not None],
                                      access)
            outside = [i for i in items if i.finding_id not in allowed]
            if outside:
                raise DisputeOutOfScope(f"There is no {_describe(outside[0])}.")
        _refuse_double_claims(conn, items, access)
        now = store.now_text()
        dispute_id = conn.execute(insert(disputes).values(
            reference=f"pending-{now}", account_id=account_id, vendor=vendor, currency=currency,
            status="draft", claimed_total=round(sum(i.claimed_amount for i in items), 2),
            credited_total=0.0, bill_date=bill_date, window_days=window_days, deadline=deadline,
            note=note, snapshot_id=snapshot_id, created_at=now, created_by=actor, updated_at=now,
        )).inserted_primary_key[0]
        ref = reference_of(dispute_id)
        conn.execute(update(disputes).where(disputes.c.id == dispute_id).values(reference=ref))
        conn.execute(insert(dispute_items), [
            {"dispute_id": dispute_id, "credited_amount": 0.0, **i.__dict__} for i in items])
        _events(conn, store, dispute_id, actor, "dispute_opened", {
            "account": account_id, "currency": currency, "claimed": round(
                sum(i.claimed_amount for i in items), 2), "deadline": deadline,
            "charges": [i.charge_id for i in items]})
        audit(conn, actor, "dispute_opened", f"dispute:{ref}",
              {"account": account_id, "findings": [i.finding_id for i in items]})
    return dispute_id


def _describe(item: ItemSpec) -> str:
    if item.finding_id is not None:
        return f"finding {item.finding_id}"
    return f"charge {item.charge_id}"


#: What a refusal says of a claiming dispute the caller may not read (its reference is not read).
UNSEEN = "another dispute you cannot see"


def _claims(access: Access | None):
    """Items of the disputes that hold a claim (CLAIMING), with their dispute's reference where
    ``access`` may read that dispute, NULL where not."""
    return select(dispute_items.c.charge_id, dispute_items.c.finding_id, disputes.c.id.label("dispute"),
                  case((visible(access), disputes.c.reference), else_=null()).label("reference")).join(
        disputes, disputes.c.id == dispute_items.c.dispute_id).where(disputes.c.status.in_(CLAIMING))


def _refuse_double_claims(conn: Connection, items: t.Sequence[ItemSpec], access: Access | None) -> None:
    charges = [i.charge_id for i in items if i.charge_id]
    found = [i.finding_id for i in items if i.finding_id is not None]
    for charge_id, finding_id, _dispute, ref in conn.execute(_claims(access).where(
            dispute_items.c.charge_id.in_(charges) | dispute_items.c.finding_id.in_(found))
            .order_by(disputes.c.id)):
        what = f"charge {charge_id}" if charge_id in charges else f"finding {finding_id}"
        if ref is None:
            raise DisputeError(f"The {what} is already claimed in {UNSEEN}.")
        raise DisputeError(f"The {what} is already disputed in {ref}.")


def _act(store: Store, dispute_id: int, action: str, actor: str, audit, kind: str, data: dict,
         values: dict, access: Access | None = None) -> None:
    with store.write() as conn:
        chain.head(conn, lock=True)   # one change to a dispute at a time (PostgreSQL)
        row = _get(conn, dispute_id, access)
        _check(row, action)
        conn.execute(update(disputes).where(disputes.c.id == dispute_id)
                     .values(updated_at=store.now_text(), **values))
        _events(conn, store, dispute_id, actor, kind, {"from": row.status, **data})
        audit(conn, actor, kind, f"dispute:{row.reference}", data)


def file(store: Store, dispute_id: int, actor: str, audit, *, carrier_reference: str | None = None,
         today: dt.date | None = None, access: Access | None = None) -> bool:
    """Filed with the carrier; returns False when filed after the deadline (recorded as late).
    ``access`` (here and in the other actions): the caller's scope, checked in the transaction
    that acts; a dispute outside it is DisputeOutOfScope."""
    today = today or store.today()
    with store.read() as conn:
        row = _get(conn, dispute_id)
    in_time = row.deadline is None or today.isoformat() <= row.deadline
    data = {"carrier_reference": carrier_reference, "in_window": in_time, "deadline": row.deadline}
    _act(store, dispute_id, "file", actor, audit, "dispute_filed", data,
         {"status": "filed", "filed_at": store.now_text(),
          **({"carrier_reference": carrier_reference} if carrier_reference else {})}, access)
    return in_time


def acknowledge(store: Store, dispute_id: int, actor: str, audit, *,
                carrier_reference: str | None = None, access: Access | None = None) -> None:
    """The carrier accepted the claim for review (a credit promised)."""
    _act(store, dispute_id, "acknowledge", actor, audit, "dispute_acknowledged",
         {"carrier_reference": carrier_reference},
         {"status": "acknowledged", "acknowledged_at": store.now_text(),
          **({"carrier_reference": carrier_reference} if carrier_reference else {})}, access)


def set_reference(store: Store, dispute_id: int, carrier_reference: str, actor: str, audit, *,
                  access: Access | None = None) -> None:
    if not carrier_reference.strip():
        raise DisputeError("The carrier's reference is empty.")
    _act(store, dispute_id, "set_reference", actor, audit, "dispute_reference_set",
         {"carrier_reference": carrier_reference.strip()},
         {"carrier_reference": carrier_reference.strip()}, access)


def request_writeoff(store: Store, dispute_id: int, action: str, note: str, actor: str, audit, *,
                     access: Access | None = None) -> bool:
    """Ask to deny, withdraw or accept (a partial credit as final). Returns True when done at once
    (withdrawing a draft), False when it awaits another person's approval."""
    if action not in WRITEOFFS:
        raise DisputeError(f"'{action}' is not a write-off (deny, withdraw or accept).")
    if not note.strip():
        raise DisputeError("Say why: the note is kept in the history.")
    with store.read() as conn:
        row = _get(conn, dispute_id)
    if action == "withdraw" and row.status == "draft":
        # Checked again under the lock: filed meanwhile, this refuses rather than withdraw a
        # claim with the carrier without a second person.
        _act(store, dispute_id, "withdraw_draft", actor, audit, "dispute_withdrawn", {"note": note},
             {"status": "withdrawn", "closed_at": store.now_text()}, access)
        return True
    _act(store, dispute_id, action, actor, audit, "dispute_writeoff_requested",
         {"action": action, "note": note, "unrecovered": round(row.claimed_total - row.credited_total, 2)},
         {"writeoff_action": action, "writeoff_note": note, "writeoff_requested_by": actor,
          "writeoff_requested_at": store.now_text()}, access)
    return False


def decide_writeoff(store: Store, dispute_id: int, approve: bool, actor: str, audit,
                    note: str = "", *, access: Access | None = None) -> None:
    """Approve or reject a pending write-off; the requester can never decide their own."""
    with store.write() as conn:
        chain.head(conn, lock=True)
        row = _get(conn, dispute_id, access)
        if not row.writeoff_action:
            raise DisputeError(f"Dispute {row.reference} has no write-off awaiting approval.")
        if row.writeoff_requested_by == actor:
            raise DisputeError("A write-off must be approved by someone other than who asked for it.")
        if approve and row.status not in TRANSITIONS[row.writeoff_action]:
            raise DisputeError(f"Dispute {row.reference} is {row.status} now; the {row.writeoff_action} "
                               "asked for no longer applies: reject it.")
        clear = {"writeoff_action": None, "writeoff_note": None, "writeoff_requested_by": None,
                 "writeoff_requested_at": None}
        if approve:
            status = WRITEOFFS[row.writeoff_action]
            values = {**clear, "status": status, "closed_at": store.now_text(),
                      "writeoff_approved_by": actor}
            kind = f"dispute_{status}"
            data = {"from": row.status, "requested_by": row.writeoff_requested_by,
                    "request_note": row.writeoff_note, "approver_note": note,
                    "unrecovered": round(row.claimed_total - row.credited_total, 2)}
        else:
            values, kind = clear, "dispute_writeoff_rejected"
            data = {"action": row.writeoff_action, "requested_by": row.writeoff_requested_by,
                    "note": note}
        conn.execute(update(disputes).where(disputes.c.id == dispute_id)
                     .values(updated_at=store.now_text(), **values))
        _events(conn, store, dispute_id, actor, kind, data)
        audit(conn, actor, kind, f"dispute:{row.reference}", data)


def apply_credits(store: Store, matches: t.Sequence[CreditMatch], snapshot_id: str, *,
                  tolerance: float = 0.01, actor: str = "dialtone") -> int:
    """Record credits matched on a snapshot's bills, in one transaction; a credit line already
    recorded is skipped (matching the same snapshot again changes nothing). A dispute whose
    credits reach its claim (within ``tolerance``) is ``credited``, else ``partially_credited``.
    Returns how many credits were recorded."""
    if not matches:
        return 0
    with store.write() as conn:
        chain.head(conn, lock=True)   # two matchers at once: the second sees the first's credits
        known = {c for (c,) in conn.execute(select(dispute_credits.c.charge_id).where(
            dispute_credits.c.charge_id.in_([m.charge_id for m in matches])))}
        fresh = [m for m in matches if m.charge_id not in known]
        if not fresh:
            return 0
        now = store.now_text()
        conn.execute(insert(dispute_credits), [
            {**m.__dict__, "snapshot_id": snapshot_id, "matched_at": now} for m in fresh])
        for dispute_id in sorted({m.dispute_id for m in fresh}):
            row = _get(conn, dispute_id)
            mine = [m for m in fresh if m.dispute_id == dispute_id]
            for m in mine:
                _credit_items(conn, dispute_id, m)
            total = conn.execute(select(func.coalesce(func.sum(dispute_credits.c.amount), 0.0)).where(
                dispute_credits.c.dispute_id == dispute_id)).scalar_one()
            whole = total >= row.claimed_total - tolerance
            status = "credited" if whole else "partially_credited"
            values = {"credited_total": round(total, 2), "status": status, "updated_at": now}
            cancelled = None
            if whole:
                values["closed_at"] = now
                if row.writeoff_action:   # paid in full: nothing is left to write off
                    cancelled = row.writeoff_action
                    values.update(writeoff_action=None, writeoff_note=None, writeoff_requested_by=None,
                                  writeoff_requested_at=None)
            conn.execute(update(disputes).where(disputes.c.id == dispute_id).values(**values))
            _events(conn, store, dispute_id, actor, "dispute_credited", {
                "from": row.status, "to": status, "credited_total": round(total, 2),
                **({"writeoff_cancelled": cancelled} if cancelled else {}),
                "credits": [{"charge": m.charge_id, "invoice": m.invoice_number, "amount": m.amount,
                             "basis": m.basis} for m in mine]})
        return len(fresh)


def _credit_items(conn: Connection, dispute_id: int, match: CreditMatch) -> None:
    """Credit the matched charge; a credit paying the dispute as a whole (no charge named) is
    shared over its charges in order, each up to what is left of its claim."""
    items = conn.execute(select(dispute_items.c.id, dispute_items.c.claimed_amount,
                                dispute_items.c.credited_amount)
                         .where(dispute_items.c.dispute_id == dispute_id)
                         .order_by(dispute_items.c.id)).all()
    if match.item_id is not None:
        shares = {match.item_id: match.amount}
    else:
        shares, rest = {}, match.amount
        for item_id, claimed, credited in items:
            share = min(rest, max(claimed - credited, 0.0))
            if share > 0:
                shares[item_id] = share
                rest -= share
    for item_id, amount in shares.items():
        conn.execute(update(dispute_items).where(dispute_items.c.id == item_id).values(
            credited_amount=dispute_items.c.credited_amount + round(amount, 2)))


# -- reads --------------------------------------------------------------------------------------

def visible(access):
    """A condition on ``disputes``: the disputes ``access`` may read, those all of whose items'
    findings it allows (a dispute's totals are its items' money: one item outside the scope and
    the dispute is another entity's business too). Everything when unrestricted."""
    from sqlalchemy import and_, exists, not_, or_, true

    from .tables import findings

    if access is None or not access.restricted:
        return true()
    # Aliases: the callers' own queries read these tables (no correlation with them).
    found = findings.alias("visible_f")
    allowed = select(found.c.id).where(access.predicate(found))
    item = dispute_items.alias("visible_i")
    return and_(
        exists(select(item.c.id).where(item.c.dispute_id == disputes.c.id)),
        not_(exists(select(item.c.id).where(
            item.c.dispute_id == disputes.c.id,
            or_(item.c.finding_id.is_(None), item.c.finding_id.not_in(allowed))))))


#: What a restricted caller reads of an event about a dispute it may not read (docs/access.md).
WITHHELD = {"withheld": "a dispute you cannot see"}
_REFS_PER_QUERY = 500


def unseen_events(conn: Connection, history: t.Sequence[dict], access: Access | None) -> set[int]:
    """The seqs of ``history`` (events as dicts, ``data`` as JSON text or parsed) about a dispute
    ``access`` may not read. Each such event sits in the history of every disputed finding, and
    its data names the dispute, its account, its whole claim and every charge: another scope's
    too. A dispute event that names no dispute is counted unseen (fail closed). None for an
    unrestricted caller."""
    if not scoping.restricted(access):
        return set()
    import json

    about: dict[int, object] = {}
    for e in history:
        if e["kind"].startswith("dispute_"):
            data = json.loads(e["data"] or "{}") if isinstance(e["data"], str) else e["data"]
            about[e["seq"]] = data.get("dispute") if isinstance(data, dict) else None
    refs = sorted({r for r in about.values() if isinstance(r, str)})
    seen: set[str] = set()
    for start in range(0, len(refs), _REFS_PER_QUERY):
        seen.update(conn.execute(select(disputes.c.reference).where(
            disputes.c.reference.in_(refs[start:start + _REFS_PER_QUERY]), visible(access))).scalars())
    return {seq for seq, ref in about.items() if ref not in seen}


def withhold(event: dict) -> dict:
    """``event`` as a caller who may not read its dispute reads it: its kind, time, actor and
    hashes, not its data."""
    return {**event, "data": dict(WITHHELD)}


def is_visible(store: Store, dispute_id: int, access) -> bool:
    with store.read() as conn:
        return conn.execute(select(disputes.c.id).where(disputes.c.id == dispute_id, visible(access))
                            ).first() is not None


def get(store: Store, dispute_id: int) -> dict:
    """The dispute, its items and its credits, as plain dicts."""
    with store.read() as conn:
        row = _get(conn, dispute_id)
        items = conn.execute(select(dispute_items).where(dispute_items.c.dispute_id == dispute_id)
                             .order_by(dispute_items.c.id)).mappings().all()
        credits = conn.execute(select(dispute_credits).where(dispute_credits.c.dispute_id == dispute_id)
                               .order_by(dispute_credits.c.id)).mappings().all()
    return {**row._mapping, "items": [dict(i) for i in items], "credits": [dict(c) for c in credits]}


def list_disputes(store: Store, *, status: t.Sequence[str] | None = None, account_id: str | None = None,
                  limit: int = 100, offset: int = 0) -> list[dict]:
    query = select(disputes).order_by(disputes.c.id.desc()).limit(limit).offset(offset)
    if status:
        query = query.where(disputes.c.status.in_(list(status)))
    if account_id:
        query = query.where(disputes.c.account_id == account_id)
    with store.read() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def for_findings(store: Store, finding_ids: t.Sequence[int], access=None) -> dict[int, list[dict]]:
    """The disputes each finding is in (reference, status, claimed on it), by finding id; of
    those ``access`` may read."""
    if not finding_ids:
        return {}
    query = (select(dispute_items.c.finding_id, disputes.c.id, disputes.c.reference, disputes.c.status,
                    dispute_items.c.claimed_amount, dispute_items.c.credited_amount, disputes.c.currency)
             .join(disputes, disputes.c.id == dispute_items.c.dispute_id)
             .where(dispute_items.c.finding_id.in_(list(finding_ids)), visible(access))
             .order_by(disputes.c.id))
    out: dict[int, list[dict]] = {}
    with store.read() as conn:
        for r in conn.execute(query).mappings():
            out.setdefault(r["finding_id"], []).append(dict(r))
    return out


def claiming(store: Store, finding_ids: t.Sequence[int], access: Access | None = None) -> dict[int, list]:
    """For each of ``finding_ids`` claimed in a dispute that holds its claim (CLAIMING), those
    disputes' references, oldest first; None stands for one ``access`` may not read (whose
    reference is not read). A finding is claimed by itself, or through its charge: a charge is
    claimed once, so a finding merged into another's claim on the same charge (or on a charge a
    dispute claims for another finding) cannot be disputed either (the store would refuse it)."""
    if not finding_ids:
        return {}
    from sqlalchemy import union

    from .tables import findings

    ids = list(finding_ids)
    claims = _claims(access).subquery()
    own = select(claims.c.finding_id.label("finding"), claims.c.dispute,
                 claims.c.reference).where(claims.c.finding_id.in_(ids))
    by_charge = (select(findings.c.id.label("finding"), claims.c.dispute, claims.c.reference)
                 .join(claims, claims.c.charge_id == findings.c.resource_id)
                 .where(findings.c.id.in_(ids), findings.c.resource_type == "charges"))
    both = union(own, by_charge).subquery()
    out: dict[int, list] = {}
    with store.read() as conn:
        for finding_id, _dispute, ref in conn.execute(select(both).order_by(both.c.dispute)):
            out.setdefault(finding_id, []).append(ref)
    return out


def history(store: Store, dispute_id: int) -> list[dict]:
    """The dispute's events (one per change: the copies on its other findings left out)."""
    from .tables import events

    with store.read() as conn:
        ref = _get(conn, dispute_id).reference
        finding_ids = [r for (r,) in conn.execute(select(dispute_items.c.finding_id).where(
            dispute_items.c.dispute_id == dispute_id)) if r is not None]
        query = select(events.c.seq, events.c.at, events.c.actor, events.c.kind, events.c.data).where(
            events.c.kind.like("dispute%"))
        query = query.where(events.c.finding_id == min(finding_ids)) if finding_ids else \
            query.where(events.c.finding_id.is_(None))
        rows = conn.execute(query.order_by(events.c.seq)).mappings().all()
    import json

    out = []
    for r in rows:
        data = json.loads(r["data"] or "{}")
        if data.get("dispute") == ref:
            out.append({**r, "data": data})
    return out
