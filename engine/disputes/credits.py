"""Credits on later bills matched to the disputes that asked for them (docs/disputes.md).

A *credit line* is a charge of the snapshot with ``charge_type`` ``credit`` or a negative
amount. It can pay a dispute that is with the carrier (filed, acknowledged or partially
credited) on the same billing account, when its bill was issued on or after the day the dispute
was filed (the bill date, never the collect time: a bill collected late is still dated):

1. **by reference**: the credit's ``dispute_reference`` is the dispute's reference
   (``DSP-000001``) or the reference the carrier gave it, compared trimmed and case-blind. The
   credit pays the dispute's charge of the same charge code (else the one whose unpaid claim is
   nearest its amount), up to what is left of its claim; a credit larger than any one charge's
   unpaid claim pays the dispute as a whole, up to what is left of the dispute. A credit quoting
   a dispute in another currency is not matched: it is reported.
2. **else by account, charge code and amount**: a credit of the disputed charge's code whose
   amount is within ``disputes.credit_tolerance`` of that charge's claim not yet credited.

Each credit line pays at most one disputed charge (or one dispute), and each charge is credited
at most up to its claim; the credits are taken in bill date, then charge id, order, so the same
snapshot always gives the same matches. A credit line already recorded is skipped: matching the
same snapshot again records nothing (engine/store/disputes.py ``apply_credits``).

The candidates (credit lines of the disputed accounts, dated on or after filing, quoting a
reference or carrying a disputed charge code) are found in one DuckDB query over the snapshot;
only those few rows are then allocated in order, which is sequential by nature.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

import pyarrow as pa
from sqlalchemy import select

from ..dispute_settings import DisputeSettings
from ..resource_attributes import connect
from ..snapshots import Snapshot
from ..store import Store
from ..store.disputes import WITH_CARRIER, CreditMatch, apply_credits
from ..store.tables import dispute_credits, dispute_items, disputes

REFERENCE, ACCOUNT_CODE_AMOUNT = "reference", "account_code_amount"
#: Unmatched credits named in the one-line summary.
SHOWN = 3
#: A cent: amounts are compared to it after rounding, whatever the tolerance.
CENT = 0.005


@dataclass
class CreditReport:
    """What one matching did: credits recorded, and credits left unmatched with why."""

    recorded: int = 0
    matches: list[CreditMatch] = field(default_factory=list)
    #: Credit lines that name a dispute but could not pay it (another currency, nothing left
    #: to credit): one sentence each.
    unmatched: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        fresh = self.matches   # credit lines recorded before are never matched again
        if not fresh:
            text = "no new credits matched to disputes"
        else:
            disputes_n = len({m.dispute_id for m in fresh})
            totals: dict[str, float] = {}
            for m in fresh:
                totals[m.currency or "?"] = totals.get(m.currency or "?", 0.0) + m.amount
            money = ", ".join(f"{c} {v:,.2f}" for c, v in sorted(totals.items()))
            text = (f"{len(fresh)} credit{'s' if len(fresh) != 1 else ''} matched to {disputes_n} "
                    f"dispute{'s' if disputes_n != 1 else ''} ({money})")
        if self.unmatched:   # the first few in the summary line; all of them in .unmatched
            shown = self.unmatched[:SHOWN]
            more = f"; and {len(self.unmatched) - SHOWN} more" if len(self.unmatched) > SHOWN else ""
            text += f"; {len(self.unmatched)} not matched: " + "; ".join(shown) + more
        return text


def _claims(store: Store) -> tuple[pa.Table, dict[int, dict]]:
    """The disputed charges of disputes with the carrier, with what is left of each claim."""
    query = (select(disputes.c.id.label("dispute_id"), disputes.c.reference, disputes.c.carrier_reference,
                    disputes.c.account_id, disputes.c.currency, disputes.c.filed_at,
                    disputes.c.claimed_total, disputes.c.credited_total,
                    dispute_items.c.id.label("item_id"), dispute_items.c.charge_code,
                    dispute_items.c.claimed_amount, dispute_items.c.credited_amount)
             .join(dispute_items, dispute_items.c.dispute_id == disputes.c.id)
             .where(disputes.c.status.in_(WITH_CARRIER), disputes.c.filed_at.is_not(None))
             .order_by(disputes.c.id, dispute_items.c.id))
    with store.read() as conn:
        found = conn.execute(query).mappings().all()
    heads: dict[int, dict] = {}
    for r in found:
        head = heads.setdefault(r["dispute_id"], {
            "reference": r["reference"], "currency": (r["currency"] or "").upper() or None,
            "left": r["claimed_total"] - r["credited_total"], "items": {}})
        head["items"][r["item_id"]] = {"code": _norm(r["charge_code"]),
                                       "left": r["claimed_amount"] - r["credited_amount"]}
    table = pa.table({
        "dispute_id": pa.array([r["dispute_id"] for r in found], pa.int64()),
        "item_id": pa.array([r["item_id"] for r in found], pa.int64()),
        "account_id": pa.array([r["account_id"] for r in found], pa.string()),
        "filed_on": pa.array([r["filed_at"][:10] for r in found], pa.string()),
        "ref": pa.array([_norm(r["reference"]) for r in found], pa.string()),
        "carrier_ref": pa.array([_norm(r["carrier_reference"]) for r in found], pa.string()),
        "code": pa.array([_norm(r["charge_code"]) for r in found], pa.string()),
    })
    return table, heads


def _norm(text: str | None) -> str | None:
    value = (text or "").strip().casefold()
    return value or None


#: Credit lines that may pay a disputed charge: on the dispute's account, dated on or after its
#: filing, quoting its reference or carrying its charge code. ``claims`` is registered.
CANDIDATES = """
WITH credit_lines AS (
    SELECT CAST(c.id AS VARCHAR) AS charge_id, CAST(c.invoice_id AS VARCHAR) AS invoice_id,
           CAST(i.invoice_number AS VARCHAR) AS invoice_number,
           CAST(i.account_id AS VARCHAR) AS account_id, CAST(i.issued_on AS DATE) AS bill_date,
           nullif(lower(trim(CAST(c.charge_code AS VARCHAR))), '') AS code,
           round(abs(CAST(c.amount AS DOUBLE)), 2) AS amount,
           upper(coalesce(CAST(c.currency AS VARCHAR), CAST(i.currency AS VARCHAR))) AS currency,
           nullif(lower(trim(CAST(c.dispute_reference AS VARCHAR))), '') AS ref
    FROM charges c
    JOIN invoices i ON CAST(i.id AS VARCHAR) = CAST(c.invoice_id AS VARCHAR)
    WHERE (c.charge_type = 'credit' OR c.amount < 0) AND c.amount <> 0
      AND i.issued_on IS NOT NULL
      AND CAST(i.account_id AS VARCHAR) IN (SELECT account_id FROM claims)
)
SELECT cl.charge_id, cl.invoice_id, cl.invoice_number, CAST(cl.bill_date AS VARCHAR) AS bill_date,
       cl.amount, cl.currency, cl.code, k.dispute_id, k.item_id,
       coalesce(cl.ref = k.ref OR cl.ref = k.carrier_ref, false) AS by_reference
FROM credit_lines cl
JOIN claims k ON k.account_id = cl.account_id AND cl.bill_date >= CAST(k.filed_on AS DATE)
WHERE coalesce(cl.ref = k.ref OR cl.ref = k.carrier_ref, false) OR cl.code = k.code
ORDER BY cl.bill_date, cl.charge_id, k.dispute_id, k.item_id
"""


def _candidates(snapshot: Snapshot, claims: pa.Table) -> list[dict]:
    if not claims.num_rows or not {"charges", "invoices"} <= set(snapshot.entities):
        return []
    con = connect(snapshot)
    try:
        con.register("claims", claims)
        cur = con.execute(CANDIDATES)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def _recorded(store: Store, charge_ids: list[str]) -> set[str]:
    out: set[str] = set()
    with store.read() as conn:
        for start in range(0, len(charge_ids), 500):
            out |= {c for (c,) in conn.execute(select(dispute_credits.c.charge_id).where(
                dispute_credits.c.charge_id.in_(charge_ids[start:start + 500])))}
    return out


def allocate(candidates: t.Iterable[dict], heads: dict[int, dict],
             tolerance: float) -> tuple[list[CreditMatch], list[str]]:
    """Pay the disputed charges from the credit lines, in the candidates' order (bill date,
    charge id): the rules of this module's docstring. Returns the matches and the credits left
    unmatched with why. ``heads`` (from ``_claims``) is updated as claims are paid."""
    by_credit: dict[str, list[dict]] = {}
    for c in candidates:
        by_credit.setdefault(c["charge_id"], []).append(c)
    matches: list[CreditMatch] = []
    unmatched: list[str] = []
    for options in by_credit.values():
        credit = options[0]
        referenced = [o for o in options if o["by_reference"]]
        if referenced:
            dispute_id = min(o["dispute_id"] for o in referenced)
            match = _pay_reference(credit, dispute_id, heads[dispute_id], tolerance, unmatched)
        else:
            match = _pay_code_amount(credit, options, heads, tolerance)
        if match is not None:
            matches.append(match)
    return matches, unmatched


def _match(credit: dict, dispute_id: int, item_id: int | None, amount: float, currency: str | None,
           basis: str) -> CreditMatch:
    return CreditMatch(dispute_id=dispute_id, item_id=item_id, charge_id=credit["charge_id"],
                       invoice_id=credit["invoice_id"], invoice_number=credit["invoice_number"],
                       bill_date=credit["bill_date"], amount=round(amount, 2),
                       currency=credit["currency"] or currency, basis=basis)


def _pay_reference(credit: dict, dispute_id: int, head: dict, tolerance: float,
                   unmatched: list[str]) -> CreditMatch | None:
    where = f"credit {credit['charge_id']} on invoice {credit['invoice_number'] or credit['invoice_id']}"
    if credit["currency"] and head["currency"] and credit["currency"] != head["currency"]:
        unmatched.append(f"{where} quotes {head['reference']} but is in {credit['currency']}, the "
                         f"dispute in {head['currency']}")
        return None
    if head["left"] <= CENT:
        unmatched.append(f"{where} quotes {head['reference']}, which is already credited in full")
        return None
    items = {i: v for i, v in head["items"].items() if v["left"] > CENT}
    amount = credit["amount"]
    # The charge of the same code first, then the one whose unpaid claim is nearest the credit.
    ranked = sorted(items, key=lambda i: (items[i]["code"] != credit["code"],
                                          abs(items[i]["left"] - amount), i))
    best = ranked[0] if ranked else None
    if best is not None and amount <= items[best]["left"] + tolerance:
        paid = min(amount, items[best]["left"])
        items[best]["left"] -= paid
        head["left"] -= paid
        return _match(credit, dispute_id, best, paid, head["currency"], REFERENCE)
    # Larger than any one charge's unpaid claim: it pays the dispute as a whole, its charges
    # in order (so that a later credit by code and amount sees what is left of each).
    paid = min(amount, head["left"])
    head["left"] -= paid
    rest = paid
    for item in head["items"].values():
        share = min(rest, max(item["left"], 0.0))
        item["left"] -= share
        rest -= share
    return _match(credit, dispute_id, None, paid, head["currency"], REFERENCE)


def _pay_code_amount(credit: dict, options: list[dict], heads: dict[int, dict],
                     tolerance: float) -> CreditMatch | None:
    fits = []
    for o in options:
        head = heads[o["dispute_id"]]
        item = head["items"][o["item_id"]]
        if credit["currency"] and head["currency"] and credit["currency"] != head["currency"]:
            continue   # amounts in two currencies say nothing about each other
        if item["code"] is None or item["code"] != credit["code"] or item["left"] <= CENT:
            continue
        gap = abs(item["left"] - credit["amount"])
        if gap <= tolerance + 1e-9:
            fits.append((gap, o["dispute_id"], o["item_id"]))
    if not fits:
        return None
    _, dispute_id, item_id = min(fits)
    head = heads[dispute_id]
    item = head["items"][item_id]
    paid = min(credit["amount"], item["left"])
    item["left"] -= paid
    head["left"] -= paid
    return _match(credit, dispute_id, item_id, paid, head["currency"], ACCOUNT_CODE_AMOUNT)


def match_credits(store: Store, snapshot: Snapshot, settings: DisputeSettings, *,
                  actor: str = "dialtone") -> CreditReport:
    """Match the credit lines of ``snapshot`` to the disputes with the carrier and record them
    (once each); see the module's docstring for the rules."""
    claims, heads = _claims(store)
    candidates = _candidates(snapshot, claims)
    known = _recorded(store, sorted({c["charge_id"] for c in candidates}))
    matches, unmatched = allocate([c for c in candidates if c["charge_id"] not in known], heads,
                                  settings.credit_tolerance)
    recorded = apply_credits(store, matches, snapshot.id, tolerance=settings.credit_tolerance,
                             actor=actor)
    return CreditReport(recorded=recorded, matches=matches, unmatched=unmatched)
