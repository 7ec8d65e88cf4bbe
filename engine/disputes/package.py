"""The claim package a carrier is sent for one dispute: the disputed charges as a CSV in the
carrier's own terms (its account number, bill date, invoice number, charge code) and a printable
HTML page with the same table, the totals and the evidence references (finding and policy ids).

Both are built from the dispute as stored (engine/store/disputes.py); the account's number and
each line's telephone number are read from the snapshot the dispute's charges came from, when
that snapshot is still kept (else the account's id and the line's id stand in).
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from .. import csvsafe
from ..errors import DialtoneError
from ..store import Store
from ..store import disputes as store_disputes

#: The CSV's columns, in the order a carrier's dispute form asks for them.
COLUMNS = ("dispute_reference", "carrier_reference", "account_number", "bill_date", "invoice_number",
           "charge_code", "description", "line", "number", "billed_amount", "contracted_amount",
           "claimed_amount", "currency", "reason", "finding_id", "policy_id")
#: The printable page's only style, allowed by its hash where the page is served
#: (web/views/pages/disputes.py): the page carries no script and loads nothing.
STYLE = ("body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#111}"
         "table{border-collapse:collapse;width:100%}th,td{border:1px solid #999;padding:4px 6px;"
         "text-align:left;vertical-align:top}td.num,th.num{text-align:right}"
         "dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dt{font-weight:600}"
         "@media print{body{margin:0}a{color:inherit;text-decoration:none}}")
STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()

_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(["html"], default=True), trim_blocks=True,
                   lstrip_blocks=True)


def _names(dispute: dict, snapshots) -> tuple[str | None, dict[str, str]]:
    """The account's number and line id → telephone number, from the dispute's snapshot."""
    if snapshots is None or not dispute.get("snapshot_id"):
        return None, {}
    import duckdb

    from ..resource_attributes import connect

    try:
        snapshot = snapshots.get(dispute["snapshot_id"])
    except DialtoneError:
        return None, {}     # pruned since: the ids stand in
    con = connect(snapshot)
    number, lines = None, {}
    try:
        if "accounts" in snapshot.entities:
            try:
                row = con.execute("SELECT CAST(account_number AS VARCHAR) FROM accounts "
                                  "WHERE CAST(id AS VARCHAR) = ?", [dispute["account_id"]]).fetchone()
                number = row[0] if row else None
            except duckdb.Error:
                number = None       # an estate without account numbers
        wanted = sorted({i["line_id"] for i in dispute["items"] if i["line_id"]})
        if wanted and "lines" in snapshot.entities:
            try:
                lines = dict(con.execute(
                    "SELECT CAST(id AS VARCHAR), CAST(number AS VARCHAR) FROM lines "
                    "WHERE CAST(id AS VARCHAR) IN (SELECT unnest(?))", [wanted]).fetchall())
            except duckdb.Error:
                lines = {}
    finally:
        con.close()
    return number, {k: v for k, v in lines.items() if v}


def claim(store: Store, dispute_id: int, *, snapshots=None) -> dict:
    """The dispute with what the package shows: ``rows`` (one per disputed charge, by COLUMNS),
    ``account_number``, ``findings`` and ``policies`` (the evidence references)."""
    dispute = store_disputes.get(store, dispute_id)
    number, lines = _names(dispute, snapshots)
    account_number = number or dispute["account_id"]
    rows = [{
        "dispute_reference": dispute["reference"], "carrier_reference": dispute["carrier_reference"],
        "account_number": account_number, "bill_date": i["bill_date"], "invoice_number": i["invoice_number"],
        "charge_code": i["charge_code"], "description": i["description"], "line": i["line_id"],
        "number": lines.get(i["line_id"] or ""), "billed_amount": i["billed_amount"],
        "contracted_amount": i["contracted_amount"], "claimed_amount": i["claimed_amount"],
        "currency": dispute["currency"], "reason": i["reason"], "finding_id": i["finding_id"],
        "policy_id": i["policy_id"],
    } for i in dispute["items"]]
    return {**dispute, "rows": rows, "account_number": account_number,
            "findings": sorted({i["finding_id"] for i in dispute["items"] if i["finding_id"] is not None}),
            "policies": sorted({i["policy_id"] for i in dispute["items"] if i["policy_id"]})}


def file_stem(reference: str) -> str:
    return f"claim-{reference}"


def package_files(store: Store, dispute_id: int, *, snapshots=None) -> dict[str, bytes]:
    """``{"claim-DSP-000001.csv": ..., "claim-DSP-000001.html": ...}`` for one dispute.

    ``snapshots`` (a SnapshotStore): where the account's number and the lines' numbers are read
    from; without it the package names the account and lines by their ids."""
    data = claim(store, dispute_id, snapshots=snapshots)
    stem = file_stem(data["reference"])
    csv_text = csvsafe.rows_to_text(COLUMNS, data["rows"])
    html = _env.get_template("claim.html").render(d=data, style=STYLE, columns=COLUMNS)
    return {f"{stem}.csv": csv_text.encode("utf-8"), f"{stem}.html": html.encode("utf-8")}


def package_zip(files: dict[str, bytes]) -> bytes:
    """The package's files in one zip (fixed timestamps: the same dispute gives the same bytes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[name])
    return buf.getvalue()


def write_package(store: Store, dispute_id: int, out: Path, *, snapshots=None) -> list[Path]:
    """Write the package's files into the folder ``out`` (created if missing); returns them."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, body in package_files(store, dispute_id, snapshots=snapshots).items():
        path = out / name
        path.write_bytes(body)
        written.append(path)
    return written
