"""Do the disputes say what their history says? Part of ``dialtone audit verify``.

The chain proves the events were not edited; this proves the disputes were not edited around
them (``UPDATE disputes SET status = 'credited'`` leaves the chain intact). Each dispute's status
is recomputed from the last of its events that sets one, and its credited total from the last
``dispute_credited`` event and from the credits recorded against it; all three must agree.

| event (data names the dispute) | status |
|---|---|
| ``dispute_opened`` | draft |
| ``dispute_filed`` | filed |
| ``dispute_acknowledged`` | acknowledged |
| ``dispute_credited`` | its ``to`` (credited or partially_credited) |
| ``dispute_denied``, ``dispute_withdrawn`` | the kind |
| ``dispute_accepted`` | partially_credited (accepted as final) |

A dispute's events are copied onto each of its findings' histories; one copy per change counts.
Disputes are few (one per claim to a carrier), so their events are read and compared here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import Connection, func, select

from .tables import dispute_credits, disputes, events

_SETS = {"dispute_opened": "draft", "dispute_filed": "filed", "dispute_acknowledged": "acknowledged",
         "dispute_denied": "denied", "dispute_withdrawn": "withdrawn",
         "dispute_accepted": "partially_credited"}
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
                               disputes.c.id)).all()
    if not rows:
        return DisputeReport(0)
    status: dict[str, str] = {}
    credited: dict[str, float] = {}
    seen: set[tuple[str, str, str, str]] = set()
    query = (select(events.c.seq, events.c.at, events.c.kind, events.c.data)
             .where(events.c.kind.like("dispute%")).order_by(events.c.seq))
    for _seq, at, kind, data in conn.execute(query):
        body = json.loads(data or "{}")
        ref = body.get("dispute")
        if ref is None or (ref, at, kind, data) in seen:
            continue    # the copy of one change on the dispute's other findings
        seen.add((ref, at, kind, data))
        if kind == "dispute_credited":
            status[ref] = body.get("to")
            credited[ref] = float(body.get("credited_total") or 0)
        elif kind in _SETS:
            status[ref] = _SETS[kind]
    sums = dict(conn.execute(select(dispute_credits.c.dispute_id, func.sum(dispute_credits.c.amount))
                             .group_by(dispute_credits.c.dispute_id)).all())
    bad: list[str] = []
    for ref, recorded, total, dispute_id in rows:
        history = status.get(ref)
        if history is None:
            bad.append(f"dispute {ref}: status is {recorded!r}, it has no history")
        elif recorded != history:
            bad.append(f"dispute {ref}: status is {recorded!r}, its history says {history!r}")
        elif abs((total or 0) - credited.get(ref, 0.0)) > 0.005:
            bad.append(f"dispute {ref}: credited total is {total}, its history says {credited.get(ref, 0.0)}")
        elif abs((total or 0) - round(sums.get(dispute_id) or 0.0, 2)) > 0.005:
            bad.append(f"dispute {ref}: credited total is {total}, its recorded credits add up to "
                       f"{round(sums.get(dispute_id) or 0.0, 2)}")
    return DisputeReport(len(rows), bad[:sample], len(bad))
