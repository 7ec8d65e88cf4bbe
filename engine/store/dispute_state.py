"""Do the disputes say what their history says? Part of ``dialtone audit verify``.

The chain proves the events were not edited; this proves the disputes were not edited around
them (``UPDATE disputes SET status = 'credited'`` leaves the chain intact). Each dispute's status
is recomputed from the last of its events that sets one, its claim from ``dispute_opened`` and
from its charges, and its credited total from the last ``dispute_credited`` event, from the
credits recorded against it and from its charges; all must agree.

| event (data names the dispute) | status |
|---|---|
| ``dispute_opened`` | draft |
| ``dispute_filed`` | filed |
| ``dispute_acknowledged`` | acknowledged |
| ``dispute_credited`` | its ``to`` (credited or partially_credited) |
| ``dispute_denied``, ``dispute_withdrawn`` | the kind |
| ``dispute_accepted`` | accepted (a partial credit accepted as final) |

A dispute's events are copied onto each of its findings' histories; one copy per change counts.
Disputes are few (one per claim to a carrier), so their events are read and compared here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import Connection, func, select

from .tables import dispute_credits, dispute_items, disputes, events

_SETS = {"dispute_opened": "draft", "dispute_filed": "filed", "dispute_acknowledged": "acknowledged",
         "dispute_denied": "denied", "dispute_withdrawn": "withdrawn",
         "dispute_accepted": "accepted"}
SAMPLE = 10


@dataclass(frozen=True)
class DisputeReport:
    disputes: int
    disagreeing: list[str] = field(default_factory=list)   # the first SAMPLE, in words
    count: int = 0

    @property
    def ok(self) -> bool:
        return not self.count


def check(conn: Connection, sample: int = SAMPLE) -> DisputeReport:
    rows = conn.execute(select(disputes.c.reference, disputes.c.status, disputes.c.credited_total,
                               disputes.c.id, disputes.c.claimed_total)).all()
    if not rows:
        return DisputeReport(0)
    status: dict[str, str] = {}
    credited: dict[str, float] = {}
    claimed: dict[str, float] = {}
    seen: set[tuple[str, str, str, str]] = set()
    query = (select(events.c.seq, events.c.at, events.c.kind, events.c.data)
             .where(events.c.kind.like("dispute%")).order_by(events.c.seq))
    for _seq, at, kind, data in conn.execute(query):
        body = json.loads(data or "{}")
        ref = body.get("dispute")
        if ref is None or (ref, at, kind, data) in seen:
            continue    # the copy of one change on the dispute's other findings
        seen.add((ref, at, kind, data))
        if kind == "dispute_opened":
            claimed[ref] = float(body.get("claimed") or 0)
        if kind == "dispute_credited":
            status[ref] = body.get("to")
            credited[ref] = float(body.get("credited_total") or 0)
        elif kind in _SETS:
            status[ref] = _SETS[kind]
    sums = dict(conn.execute(select(dispute_credits.c.dispute_id, func.sum(dispute_credits.c.amount))
                             .group_by(dispute_credits.c.dispute_id)).all())
    per_items = {d: (c or 0.0, k or 0.0) for d, c, k in conn.execute(
        select(dispute_items.c.dispute_id, func.sum(dispute_items.c.claimed_amount),
               func.sum(dispute_items.c.credited_amount)).group_by(dispute_items.c.dispute_id))}
    bad: list[str] = []
    for ref, recorded, total, dispute_id, claim in rows:
        items_claimed, items_credited = (round(v, 2) for v in per_items.get(dispute_id, (0.0, 0.0)))
        history, total = status.get(ref), total or 0.0
        if history is None:
            bad.append(f"dispute {ref}: status is {recorded!r}, it has no history")
        elif recorded != history:
            bad.append(f"dispute {ref}: status is {recorded!r}, its history says {history!r}")
        elif abs(claim - claimed.get(ref, 0.0)) > 0.005 or abs(claim - items_claimed) > 0.005:
            bad.append(f"dispute {ref}: claims {claim}, its history says {claimed.get(ref, 0.0)} and "
                       f"its charges {items_claimed}")
        elif abs(total - credited.get(ref, 0.0)) > 0.005:
            bad.append(f"dispute {ref}: credited total is {total}, its history says {credited.get(ref, 0.0)}")
        elif abs(total - (recorded_credits := round(sums.get(dispute_id) or 0.0, 2))) > 0.005 \
                or abs(total - items_credited) > 0.005:
            bad.append(f"dispute {ref}: credited total is {total}, its recorded credits add up to "
                       f"{recorded_credits} and its charges were credited {items_credited}")
    return DisputeReport(len(rows), bad[:sample], len(bad))
