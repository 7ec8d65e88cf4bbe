"""The built-in source ``dialtone-disputes``: the store's disputes written into each snapshot.

Policies read only the snapshot (an evaluation can be repeated on it with the same result), so
the disputes worked in Dialtone are copied into the snapshot's ``disputes`` entity when it is
collected, one row per disputed charge, next to any disputes a configured source collected:

- ``id`` is ``<reference>/<item id>`` (``DSP-000001/1``); ``reference``, ``carrier_reference``,
  ``account_id``, ``currency`` and ``status`` are the dispute's;
- ``charge_id``, ``invoice_id``, ``charge_code`` and ``amount`` (the claim) are the charge's;
- ``opened_on``, ``filed_on`` and ``acknowledged_on`` are the days (UTC) the dispute was
  opened, filed and acknowledged; ``deadline`` the last day to file in the carrier's window;
- ``credited_amount`` is what credits matched on later bills paid on the charge so far (a
  credit quoting the dispute's reference that covered several charges at once is shared out
  over them in order, each up to its claim), ``credited_on`` the bill date of the latest.

The dispute policies read the rows of one reference as one dispute (one finding with the whole
claim, named by its first row), not one finding per charge.

The source appears in the snapshot's manifest like a configured one (``collector:
dialtone-disputes``), with its row count. A store that does not exist yet, or holds no dispute,
adds nothing (no rows and no manifest entry), so estates without disputes keep the ``disputes``
entity exactly as their sources give it. A store that cannot be read leaves the collect going:
the entry is ``failed`` with the error, and the collect's warnings say so.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pyarrow as pa
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from ..collector_api import ROW_COLUMN, RawBatch, SourceData
from ..config import Config
from ..errors import DialtoneError

#: The built-in source's name, in the manifest and in rejects.
SOURCE = "dialtone-disputes"
#: The columns it fills, in the order of ``engine/estate/schemas/disputes.json``.
COLUMNS = ("id", "reference", "carrier_reference", "account_id", "charge_id", "invoice_id",
           "charge_code", "opened_on", "filed_on", "acknowledged_on", "deadline", "amount",
           "currency", "credited_amount", "status", "credited_on")


def _store_exists(url: str) -> bool:
    """Whether there is a store to read; a SQLite file that is not there yet is none (and is
    not created here: collecting must not make a store as a side effect)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return True
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return False
    return Path(database).exists()


def _day(value: str | None) -> str | None:
    return value[:10] if value else None


def _amount(value: float | None) -> str | None:
    return None if value is None else f"{round(value, 2):.2f}"


def rows(store) -> list[dict]:
    """One row per disputed charge of every dispute in ``store``, in reference and item order."""
    from ..store.tables import dispute_credits, dispute_items, disputes

    with store.read() as conn:
        heads = {r.id: r for r in conn.execute(select(disputes))}
        items = conn.execute(select(dispute_items).order_by(dispute_items.c.dispute_id,
                                                            dispute_items.c.id)).all()
        credits = conn.execute(select(
            dispute_credits.c.dispute_id, dispute_credits.c.item_id,
            func.sum(dispute_credits.c.amount).label("amount"),
            func.max(dispute_credits.c.bill_date).label("last"),
        ).group_by(dispute_credits.c.dispute_id, dispute_credits.c.item_id)).all()
    # What each charge was credited is the store's (apply_credits shares a credit paying the
    # dispute as a whole over its charges); the day is that of the latest credit on the
    # charge, or on the dispute as a whole.
    last_on = {(c.dispute_id, c.item_id): c.last for c in credits}
    out = []
    for item in items:
        head = heads[item.dispute_id]
        credited = float(item.credited_amount or 0.0)
        last = max(filter(None, (last_on.get((item.dispute_id, item.id)),
                                 last_on.get((item.dispute_id, None)) if credited else None)),
                   default=None)
        out.append({
            "id": f"{head.reference}/{item.id}", "reference": head.reference,
            "carrier_reference": head.carrier_reference, "account_id": head.account_id,
            "charge_id": item.charge_id, "invoice_id": item.invoice_id,
            "charge_code": item.charge_code, "opened_on": _day(head.created_at),
            "filed_on": _day(head.filed_at), "acknowledged_on": _day(head.acknowledged_at),
            "deadline": head.deadline, "amount": _amount(item.claimed_amount),
            "currency": head.currency, "credited_amount": _amount(credited),
            "status": head.status, "credited_on": last,
        })
    return sorted(out, key=lambda r: (r["reference"], int(r["id"].rsplit("/", 1)[1])))


def read(config: Config, now: dt.datetime, fingerprint: str) -> tuple[SourceData, dict] | None:
    """The source's data and manifest entry, or None when there is nothing to add (no store
    yet, an empty one, or a configured source already named ``dialtone-disputes``).

    A store that cannot be read is an entry with ``status: failed`` and no data: the
    collect goes on without the store's disputes (its warnings say so)."""
    if SOURCE in config.sources or not _store_exists(config.store_url):
        return None
    from ..store import Store

    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    meta = {"collector": SOURCE, "settings_fingerprint": fingerprint}
    try:
        store = Store.from_config(config, check=False)
        try:
            found = rows(store)
        finally:
            store.close()
    except (SQLAlchemyError, DialtoneError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        error = (f"source '{SOURCE}': the store's disputes could not be read ({first}); the "
                 "snapshot has no disputes from Dialtone (is the store at the current schema? "
                 "`dialtone db upgrade`)")
        data = SourceData(warnings=[error])
        return data, {**meta, "status": "failed", "error": error, "failed_at": stamp,
                      "collected_at": None, "rows": {}, "rejects": 0}
    if not found:
        return None
    table = pa.table({**{c: pa.array([r[c] for r in found], pa.string()) for c in COLUMNS},
                      ROW_COLUMN: pa.array(range(1, len(found) + 1), pa.int64())})
    data = SourceData(batches=[RawBatch("disputes", table, "store:disputes")])
    # What the store gave, hashed like a source's input file: same disputes, same digest.
    digest = hashlib.sha256(json.dumps(found, sort_keys=True).encode()).hexdigest()
    return data, {**meta, "inputs": {"store:disputes": digest}}
