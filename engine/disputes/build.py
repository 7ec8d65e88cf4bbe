"""A dispute's charges, read from findings and the latest snapshot (the bills as last collected).

Only billing errors are disputed: findings on a charge (overbilled against the contract, a
duplicate, billed after cancellation, a late fee, a service not in the inventory). A finding
about a line, a seat or a contract is a cancellation or a negotiation, not a claim on a bill; one
about a whole invoice (a tax share or a spend spike) names no charge nor amount: both are refused
with the reason.

What is claimed is what the bill got wrong on that charge: the ``overbilled`` amount the finding's
evidence names where there is one (a rate above contract), else its ``uncredited`` amount (what a
partial credit left of a charge after cancellation), else the charge's amount. Never the
finding's *savings*, which for a recurring overcharge is a year's run rate, not money on a bill.
The findings are grouped into one dispute per billing account and currency (a carrier takes a
claim per account).
"""

from __future__ import annotations

import json
import typing as t
from dataclasses import dataclass, field

from sqlalchemy import select

from ..access import Access
from ..dispute_settings import DisputeSettings
from ..errors import DialtoneError
from ..resource_attributes import connect
from ..snapshots import Snapshot
from ..store import Store
from ..store.disputes import DisputeError, ItemSpec, open_dispute
from ..store.tables import findings

#: Resource types a dispute can be opened on.
DISPUTABLE = ("charges",)
#: Finding statuses that can still be disputed (a resolved or excepted finding is not a claim).
ACTIVE = ("open", "in_progress")


@dataclass
class DisputePlan:
    """One dispute to open: one account and currency, and its charges."""

    account_id: str
    vendor: str | None
    currency: str | None
    window_days: int
    items: list[ItemSpec] = field(default_factory=list)
    #: Findings on a charge another finding of the request already claims (money counted once:
    #: the larger claim is kept): finding id → the finding whose claim stands.
    merged: dict[int, int] = field(default_factory=dict)


def _findings(store: Store, finding_ids: t.Sequence[int]) -> list:
    with store.read() as conn:
        rows = conn.execute(select(findings).where(findings.c.id.in_(list(finding_ids)))).all()
    missing = sorted(set(finding_ids) - {r.id for r in rows})
    if missing:
        raise DisputeError(f"There is no finding {missing[0]}.")
    return sorted(rows, key=lambda r: r.id)


def _bills(snapshot: Snapshot, charge_ids: list[str], invoice_ids: list[str]) -> tuple[dict, dict]:
    """Charges by id and invoices by id (with their account), from the snapshot."""
    for entity in ("invoices", "accounts"):
        if entity not in snapshot.entities:
            raise DisputeError(f"The snapshot {snapshot.id} has no {entity}: a dispute needs the bill "
                               "and its account.")
    con = connect(snapshot)
    try:
        charges: dict[str, dict] = {}
        if charge_ids:
            if "charges" not in snapshot.entities:
                raise DisputeError(f"The snapshot {snapshot.id} has no charges.")
            cur = con.execute("""
                SELECT CAST(c.id AS VARCHAR) AS id, CAST(c.invoice_id AS VARCHAR) AS invoice_id,
                       CAST(c.line_id AS VARCHAR) AS line_id, c.charge_code, c.description,
                       c.amount, c.currency
                FROM charges c WHERE CAST(c.id AS VARCHAR) IN (SELECT unnest(?))""", [charge_ids])
            names = [d[0] for d in cur.description]
            charges = {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}
        wanted = sorted({*invoice_ids, *(c["invoice_id"] for c in charges.values() if c["invoice_id"])})
        cur = con.execute("""
            SELECT CAST(i.id AS VARCHAR) AS id, i.invoice_number, CAST(i.issued_on AS VARCHAR) AS issued_on,
                   CAST(i.account_id AS VARCHAR) AS account_id, i.currency,
                   a.vendor, a.dispute_window_days, a.currency AS account_currency
            FROM invoices i LEFT JOIN accounts a ON CAST(a.id AS VARCHAR) = CAST(i.account_id AS VARCHAR)
            WHERE CAST(i.id AS VARCHAR) IN (SELECT unnest(?))""", [wanted])
        names = [d[0] for d in cur.description]
        invoices = {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}
    finally:
        con.close()
    return charges, invoices


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None   # NaN is no amount


def plan(store: Store, snapshot: Snapshot, finding_ids: t.Sequence[int],
         settings: DisputeSettings) -> list[DisputePlan]:
    """The disputes ``finding_ids`` make, one per account and currency; DisputeError names the
    first finding that cannot be disputed and why."""
    if not finding_ids:
        raise DisputeError("Choose at least one finding to dispute.")
    rows = _findings(store, finding_ids)
    for r in rows:
        if r.resource_type not in DISPUTABLE:
            raise DisputeError(
                f"Finding {r.id} is about {r.resource_type} ({r.policy_id}): only billing errors on "
                "charges are disputed with a carrier; "
                + ("dispute the charges of the invoice it points to." if r.resource_type == "invoices"
                   else "this one is fixed by cancelling or changing the service."))
        if r.status not in ACTIVE:
            raise DisputeError(f"Finding {r.id} is {r.status}: only open or in-progress findings are "
                               "disputed.")
    charge_ids = [r.resource_id for r in rows if r.resource_type == "charges"]
    invoice_ids = [r.resource_id for r in rows if r.resource_type == "invoices"]
    charges, invoices = _bills(snapshot, charge_ids, invoice_ids)
    plans: dict[tuple, DisputePlan] = {}
    for r in rows:
        evidence = json.loads(r.evidence or "{}")
        charge = charges.get(r.resource_id) if r.resource_type == "charges" else None
        if r.resource_type == "charges" and charge is None:
            raise DisputeError(f"Finding {r.id}: charge {r.resource_id} is not in snapshot {snapshot.id}.")
        invoice_id = charge["invoice_id"] if charge else r.resource_id
        invoice = invoices.get(invoice_id or "")
        if invoice is None or not invoice["account_id"]:
            raise DisputeError(f"Finding {r.id}: the bill of {r.resource_type} {r.resource_id} (invoice "
                               f"{invoice_id or 'unknown'}) and its account are not in snapshot "
                               f"{snapshot.id}; a dispute is made to an account.")
        billed = _number(charge["amount"]) if charge else None
        overbilled = _number(evidence.get("overbilled"))
        # a charge the carrier already credited in part is claimed for the rest only
        uncredited = _number(evidence.get("uncredited"))
        if overbilled is not None:
            claimed = overbilled
        elif uncredited is not None:
            claimed = uncredited
        else:
            claimed = billed if charge else _number(r.savings)
        if claimed is None or claimed <= 0:
            raise DisputeError(f"Finding {r.id} names no amount billed in error to claim.")
        currency = (charge or {}).get("currency") or invoice["currency"] or invoice["account_currency"] \
            or r.currency
        contracted = None
        if overbilled is not None and billed is not None:
            contracted = round(billed - overbilled, 2)
        key = (invoice["account_id"], currency)
        if key not in plans:
            plans[key] = DisputePlan(
                account_id=invoice["account_id"], vendor=invoice["vendor"], currency=currency,
                window_days=settings.window_for(invoice["vendor"], invoice["dispute_window_days"]))
        item = ItemSpec(
            finding_id=r.id, policy_id=r.policy_id, charge_id=charge["id"] if charge else None,
            invoice_id=invoice_id, invoice_number=invoice["invoice_number"],
            bill_date=invoice["issued_on"], line_id=(charge or {}).get("line_id"),
            charge_code=(charge or {}).get("charge_code"), description=(charge or {}).get("description"),
            billed_amount=billed, contracted_amount=contracted, claimed_amount=round(claimed, 2),
            reason=r.reason)
        _add(plans[key], item)
    return [plans[k] for k in sorted(plans, key=lambda k: (k[0], k[1] or ""))]


def _add(p: DisputePlan, item: ItemSpec) -> None:
    """Add ``item`` unless its charge is already claimed; the larger claim on a charge stands."""
    same = next((i for i in p.items if item.charge_id and i.charge_id == item.charge_id), None)
    if same is None:
        p.items.append(item)
    elif item.claimed_amount > same.claimed_amount:
        p.items[p.items.index(same)] = item
        p.merged[same.finding_id] = item.finding_id
    else:
        p.merged[item.finding_id] = same.finding_id


def open_from_findings(store: Store, snapshot: Snapshot, finding_ids: t.Sequence[int],
                       settings: DisputeSettings, actor: str, audit, note: str | None = None, *,
                       access: Access | None = None) -> list[int]:
    """Open one draft dispute per account and currency of ``finding_ids``; returns their ids.
    All or nothing: a finding that cannot be disputed stops the whole request before any opens.
    ``access``: the caller's scope (``open_dispute`` checks it as it opens each)."""
    plans = plan(store, snapshot, finding_ids, settings)
    opened = []
    try:
        for p in plans:
            opened.append(open_dispute(store, p.items, account_id=p.account_id, vendor=p.vendor,
                                       currency=p.currency, window_days=p.window_days, actor=actor,
                                       audit=audit, note=note, snapshot_id=snapshot.id, access=access))
    except DialtoneError as exc:
        if opened:   # a later account's charge was claimed meanwhile: say what did open
            raise DisputeError(f"Opened {len(opened)} of {len(plans)} disputes; then: {exc} See the "
                               "disputes list.") from None
        raise
    return opened
