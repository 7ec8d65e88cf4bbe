"""The posture dashboard: findings, savings, frameworks and the data's freshness."""

from __future__ import annotations

from flask import render_template

from dialtone.engine.errors import DialtoneError
from dialtone.engine.policy.model import SEVERITIES

from ...security import READ, roles
from ..scope import caller
from . import bp, catalogue, current_config, current_store


@bp.route("/")
@roles(*READ)
def dashboard():
    from dialtone.engine.store.dashboard import posture

    figures = posture(current_store(), catalogue(), caller())
    return render_template("dashboard.html", p=figures, severities=SEVERITIES[::-1],
                           freshness=_freshness(),
                           # the bills' money is the whole estate's: not a scoped account's
                           bills=None if caller().restricted else _bills_money())


def _bills_money() -> dict | None:
    """The savings ledger's totals (engine/disputes/ledger.py): the money seen on the latest
    snapshot's bills; None before any snapshot."""
    from dialtone.engine.disputes.ledger import cached_totals
    from dialtone.engine.snapshots import SnapshotStore

    try:
        snap = SnapshotStore(current_config().data_dir).get(None)
    except DialtoneError:
        return None
    if any(not meta.get("file") for meta in snap.entities.values()):
        return None   # a manifest without its data files: no bills to read (the freshness note still shows)
    return cached_totals(current_store(), snap, current_store().today())


def _freshness() -> dict | None:
    """Each source of the latest snapshot: its status in that collect, when its data was last
    collected and how old that is now, against its ``max_age``; and the entities the snapshot
    already held too old (policies reading only them report an error)."""
    from dialtone.engine.freshness import describe_age, stale_entities
    from dialtone.engine.snapshots import SnapshotStore

    from ...display import moment

    try:
        snap = SnapshotStore(current_config().data_dir).get(None)
    except DialtoneError:
        return None
    now = current_store().now()
    rows = []
    for name, src in sorted((snap.manifest.get("sources") or {}).items()):
        collected = moment(src.get("collected_at"))
        age = (now - collected).total_seconds() if collected else None
        limit = src.get("max_age_seconds")
        status = src.get("status") or "collected"   # snapshots from before statuses were recorded
        past = limit is not None and (age is None or age > limit)
        rows.append({"source": name, "collector": src.get("collector"), "status": status,
                     "collected_at": src.get("collected_at"),
                     "age": describe_age(max(age, 0)) if age is not None else None,
                     "max_age": describe_age(limit) if limit is not None else None,
                     "past_max_age": past, "problem": status in ("stale", "failed") or past,
                     "error": src.get("error"), "failed_at": src.get("failed_at"),
                     "rows": sum((src.get("rows") or {}).values()) if isinstance(src.get("rows"), dict)
                     else src.get("rows"), "rejects": src.get("rejects")})
    return {"snapshot": snap.id, "as_of": snap.as_of.isoformat(),
            "created_at": snap.manifest.get("created_at"), "sources": rows,
            "stale_entities": sorted(stale_entities(snap.manifest).items())}
