"""The money in an evidence package: the disputes of the findings in scope and the savings ledger.

``disputes.json``: each dispute that claims money on a finding in scope, with its state, who
filed and approved what and when, each disputed charge (claimed, credited) and each credit
matched to it with the bill that carried it and the basis of the match.

``savings-ledger.json``: the savings ledger (engine/disputes/ledger.py) of the policies in scope,
read against the snapshot of the package's last evaluation, with bills up to the period's last
day: its totals per state and currency, its rows per resource and period, and what the bills
showed for each resolved line, seat or subscription.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select

from ..errors import DialtoneError
from ..store import Store
from ..store.tables import dispute_credits, dispute_items, disputes
from .scope import EvidenceData

#: A dispute's fields in the package (the pending write-off's fields say who asked and why).
DISPUTE_FIELDS = ("id", "reference", "status", "account_id", "vendor", "currency", "claimed_total",
                  "credited_total", "bill_date", "window_days", "deadline", "carrier_reference", "note",
                  "snapshot_id", "created_at", "created_by", "filed_at", "acknowledged_at", "closed_at",
                  "writeoff_action", "writeoff_note", "writeoff_requested_by", "writeoff_requested_at",
                  "writeoff_approved_by")


def disputes_doc(store: Store, finding_ids: set[int], access=None) -> list[dict]:
    """The disputes with an item on one of ``finding_ids``, their items and credits, by id; of
    those ``access`` may read (engine/store/disputes.py ``visible``)."""
    from ..store.disputes import visible

    with store.read() as conn:
        pairs = conn.execute(select(dispute_items.c.dispute_id, dispute_items.c.finding_id)
                             .join(disputes, disputes.c.id == dispute_items.c.dispute_id)
                             .where(visible(access))).all()
        ids = sorted({d for d, f in pairs if f in finding_ids})
        if not ids:
            return []
        rows = conn.execute(select(disputes).where(disputes.c.id.in_(ids)).order_by(disputes.c.id)) \
            .mappings().all()
        items = conn.execute(select(dispute_items).where(dispute_items.c.dispute_id.in_(ids))
                             .order_by(dispute_items.c.id)).mappings().all()
        credits = conn.execute(select(dispute_credits).where(dispute_credits.c.dispute_id.in_(ids))
                               .order_by(dispute_credits.c.id)).mappings().all()
    out = []
    for r in rows:
        doc = {k: r[k] for k in DISPUTE_FIELDS}
        doc["unrecovered"] = round(max(r["claimed_total"] - r["credited_total"], 0.0), 2)
        doc["items"] = [{k: v for k, v in i.items() if k != "dispute_id"}
                        for i in items if i["dispute_id"] == r["id"]]
        doc["credits"] = [{k: v for k, v in c.items() if k != "dispute_id"}
                          for c in credits if c["dispute_id"] == r["id"]]
        out.append(doc)
    return out


def ledger_doc(store: Store, data: EvidenceData, data_dir: Path) -> dict:
    """The savings ledger of the policies in scope (see the module's docstring)."""
    from ..disputes.ledger import Ledger, ledger
    from ..snapshots import SnapshotStore

    snapshot_id = data.evaluations[-1]["snapshot_id"]
    doc: dict = {"as_of": data.scope.end.isoformat(), "snapshot": snapshot_id,
                 "states": ["identified", "disputed", "recovered", "avoided", "written_off"],
                 "apart": ["unverified"]}
    try:
        snap = SnapshotStore(data_dir).get(snapshot_id)
    except DialtoneError:
        return {**doc, "unavailable": f"snapshot {snapshot_id} is no longer in the data directory: "
                                      "no bills to read the ledger from"}
    book = ledger(store, snap, data.scope.end, data.scope.access)
    policies = pa.array(sorted(p["id"] for p in data.policies), pa.string())
    table = book.table.filter(pc.is_in(book.table.column("policy_id"), value_set=policies))
    checks = book.checks.filter(pc.is_in(book.checks.column("policy_id"), value_set=policies))
    scoped = Ledger(table, checks, book.today)
    return {**doc, "totals": scoped.totals, "rows": table.to_pylist(), "checks": checks.to_pylist()}
