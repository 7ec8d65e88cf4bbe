"""Disputes: the list with totals per currency, one dispute with its actions by state, opening
disputes from findings (a confirmation page showing the plan first), and the claim package.

Officers and administrators act; auditors read and download claim packages. A write-off is
approved by someone other than who asked (the store refuses it; the page hides the buttons)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl

from flask import Response, abort, flash, g, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from dialtone.engine.disputes import reads as dispute_reads
from dialtone.engine.disputes.build import ACTIVE, DISPUTABLE
from dialtone.engine.errors import DialtoneError
from dialtone.engine.store import disputes as sd
from dialtone.engine.store import queries, reads

from ...security import ACT, READ, roles
from .. import fields
from ..fields import MAX_NAME, MAX_TEXT, FieldError
from ..scope import caller
from . import PAGE, bp, current_config, current_store, single_value, web_audit

#: At most this many findings are disputed from one filtered list (a larger filter is refused
#: with a message: narrow it, e.g. by policy or severity).
MAX_FINDINGS = 500
#: The actions on one dispute, as the pages and the API name them.
ACTIONS = ("file", "acknowledge", "reference", "withdraw", "deny", "accept", "approve", "reject")
#: What the store calls each (engine/store/disputes.py TRANSITIONS).
STORE_ACTION = {"reference": "set_reference"}


def latest_snapshot():
    from dialtone.engine.snapshots import SnapshotStore

    return SnapshotStore(current_config().data_dir).get(None)


def deadline_of(p) -> str | None:
    """The last day to file a planned dispute: its earliest bill plus the carrier's window."""
    dates = sorted(i.bill_date for i in p.items if i.bill_date)
    return (dt.date.fromisoformat(dates[0]) + dt.timedelta(days=p.window_days)).isoformat() \
        if dates else None


def perform(dispute_id: int, action: str, actor: str, audit, *, note: str = "",
            carrier_reference: str | None = None) -> str:
    """One action on a dispute (ACTIONS); returns what was done, in words. DisputeError when the
    dispute's state or the rules refuse it; DisputeOutOfScope when it is outside the caller's
    scope (checked again in the transaction that acts)."""
    store, access = current_store(), caller()
    ref = sd.reference_of(dispute_id)
    if action == "file":
        in_time = sd.file(store, dispute_id, actor, audit, carrier_reference=carrier_reference,
                          access=access)
        d = sd.get(store, dispute_id)
        return (f"{ref} filed." if in_time else
                f"{ref} filed after its deadline ({d['deadline']}): the carrier may refuse it; the "
                "lateness is recorded in its history.")
    if action == "acknowledge":
        sd.acknowledge(store, dispute_id, actor, audit, carrier_reference=carrier_reference,
                       access=access)
        return f"{ref} acknowledged by the carrier."
    if action == "reference":
        sd.set_reference(store, dispute_id, carrier_reference or "", actor, audit, access=access)
        return f"{ref}: the carrier's reference is {(carrier_reference or '').strip()}."
    if action in ("withdraw", "deny", "accept"):
        if sd.request_writeoff(store, dispute_id, action, note, actor, audit, access=access):
            return f"{ref} withdrawn (a draft: nothing was claimed from the carrier)."
        return f"{ref}: {WRITEOFF_WORDS[action]} requested; someone else approves or rejects it."
    sd.decide_writeoff(store, dispute_id, action == "approve", actor, audit, note, access=access)
    d = sd.get(store, dispute_id)
    return (f"{ref}: write-off approved; it is {d['status'].replace('_', ' ')}." if action == "approve"
            else f"{ref}: write-off rejected; it stays {d['status'].replace('_', ' ')}.")


WRITEOFF_WORDS = {"withdraw": "withdrawal", "deny": "recording it as denied",
                  "accept": "accepting the partial credit as final"}


def available_actions(d: dict, username: str) -> list[str]:
    """What can be done to the dispute now, by this person (approve/reject: never their own)."""
    if d["writeoff_action"]:
        out = ["reference"] if d["status"] in sd.TRANSITIONS["set_reference"] else []
        return out + ([] if d["writeoff_requested_by"] == username else ["approve", "reject"])
    return [a for a in ACTIONS[:6] if d["status"] in sd.TRANSITIONS[STORE_ACTION.get(a, a)]]


def _filters() -> tuple[tuple[str, ...], str | None, int | None]:
    args = request.args
    status = fields.filter_values(args, "status", MAX_NAME)
    for s in status:
        if s not in sd.STATUSES:
            raise FieldError(f"Status “{s}” is not one of: {', '.join(sd.STATUSES)}.")
    account = single_value(args, "account", MAX_NAME)
    before = args.get("before")
    return status, account, None if before is None else fields.id_value(before, "before")


@bp.route("/disputes")
@roles(*READ)
def disputes_page():
    try:
        status, account, before = _filters()
    except FieldError as exc:
        flash(str(exc))
        status, account, before, code = (), None, None, 400
    else:
        code = 200
    store = current_store()
    rows = dispute_reads.page(store, status=status, account_id=account, before_id=before, limit=PAGE + 1,
                              access=caller())
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    return render_template(
        "disputes.html", rows=rows, statuses=sd.STATUSES, status=status, account=account or "",
        accounts=dispute_reads.accounts(store, caller()),
        totals=dispute_reads.totals(store, status=status, account_id=account, access=caller()),
        next_before=rows[-1]["id"] if more else None, first_page=before is None), code


def _dispute_or_404(ref: str) -> int:
    dispute_id = dispute_reads.dispute_id(ref)
    if dispute_id is None or not sd.is_visible(current_store(), dispute_id, caller()):
        abort(404)
    return dispute_id


def _dispute_page(dispute_id: int, typed: dict | None = None, status: int = 200):
    store = current_store()
    try:
        d = sd.get(store, dispute_id)
    except sd.DisputeError:
        abort(404)
    return render_template("dispute.html", d=d, history=sd.history(store, dispute_id),
                           actions=available_actions(d, g.user.username) if g.user.can_act else [],
                           typed=typed or {}), status


@bp.route("/disputes/<string:ref>")
@roles(*READ)
def dispute_page(ref: str):
    return _dispute_page(_dispute_or_404(ref))


@bp.route("/disputes/<string:ref>/<string:action>", methods=["POST"])
@roles(*ACT)
def dispute_action(ref: str, action: str):
    dispute_id = _dispute_or_404(ref)
    if action not in ACTIONS:
        abort(404)
    form = request.form
    typed = {"action": action, "note": form.get("note", ""),
             "carrier_reference": form.get("carrier_reference", "")}
    try:
        sd.get(current_store(), dispute_id)
    except sd.DisputeError:
        abort(404)
    try:
        note = fields.text_value(typed["note"], "note", MAX_TEXT, multiline=True).strip()
        carrier_ref = fields.text_value(typed["carrier_reference"], "carrier reference",
                                        MAX_NAME).strip() or None
        done = perform(dispute_id, action, g.user.username, web_audit(), note=note,
                       carrier_reference=carrier_ref)
    except sd.DisputeOutOfScope:
        abort(404)
    except DialtoneError as exc:
        flash(str(exc))
        return _dispute_page(dispute_id, typed, 400)
    flash(done)
    return redirect(url_for("pages.dispute_page", ref=sd.reference_of(dispute_id)))


def _from_filter(raw: str) -> tuple[list[int], list[str]]:
    """The disputable findings of a findings-list filter (its query string), and what was left
    out and why."""
    from .findings import _filter_from

    flt = _filter_from(MultiDict(parse_qsl(raw, keep_blank_values=True)))
    flt = queries.FindingFilter(**{**flt.__dict__, "after_id": None, "after_key": None,
                                   "limit": MAX_FINDINGS * 4 + 1})
    rows = queries.list_findings(current_store(), flt)
    ids = [r["id"] for r in rows if r["resource_type"] in DISPUTABLE and r["status"] in ACTIVE]
    skipped = len(rows) - len(ids)
    notes = []
    if skipped:
        notes.append(f"{skipped:,} finding(s) of the filter left out: not on a charge, or "
                     "not open or in progress.")
    if len(ids) > MAX_FINDINGS:
        raise FieldError(f"The filter has more than {MAX_FINDINGS:,} findings that could be disputed; "
                         "narrow it (by policy, severity or search) and try again.")
    if len(rows) > MAX_FINDINGS * 4:
        # Read no further than this: the findings that could be disputed are a part of them.
        raise FieldError(f"The filter matches more than {MAX_FINDINGS * 4:,} findings; narrow it (by "
                         "policy, severity or search) to at most "
                         f"{MAX_FINDINGS:,} that could be disputed and try again.")
    return ids, notes


def _without_live(ids: list[int]) -> tuple[list[int], list[str]]:
    """Leave out findings already in a live dispute (the store would refuse the whole request),
    naming only the disputes the caller may read."""
    taken = sd.claiming(current_store(), ids, caller())
    notes = []
    for fid, refs in sorted(taken.items()):
        named = list(dict.fromkeys(r for r in refs if r is not None))
        where = " and in ".join(filter(None, (", ".join(named), sd.UNSEEN if None in refs else "")))
        notes.append(f"Finding {fid} is already {'disputed' if named else 'claimed'} in {where}: left out.")
    return [i for i in ids if i not in taken], notes


@bp.route("/disputes", methods=["POST"])
@roles(*ACT)
def open_disputes():
    """Step 1 (no ``confirm``): the plan for the chosen findings, or a filter's. Step 2
    (``confirm=1``): open them."""
    from dialtone.engine.disputes.build import open_from_findings, plan

    form = request.form
    raw_note = form.get("note", "")
    notes: list[str] = []
    try:
        if "filter" in form:
            ids, notes = _from_filter(fields.text_value(form["filter"], "filter", MAX_TEXT))
        else:
            raw = form.getlist("finding")
            if len(raw) > MAX_FINDINGS:
                raise FieldError(f"Choose at most {MAX_FINDINGS:,} findings at once.")
            ids = list(dict.fromkeys(fields.id_value(i, "finding") for i in raw))
            # Findings outside the caller's scope are as missing ones (never disputed for them).
            outside = sorted(set(ids) - reads.existing_findings(current_store(), ids, caller()))
            if outside:
                raise FieldError(f"There is no finding {outside[0]}.")
        if form.get("confirm") != "1":
            ids, taken = _without_live(ids)
            notes += taken
        if not ids:
            raise FieldError("None of these findings can be disputed now" + (": " + " ".join(notes)
                             if notes else "."))
        note = fields.text_value(raw_note, "note", MAX_TEXT, multiline=True).strip() or None
        snapshot = latest_snapshot()
        settings = current_config().disputes
        if form.get("confirm") == "1":
            opened = open_from_findings(current_store(), snapshot, ids, settings, g.user.username,
                                        web_audit(), note, access=caller())
        else:
            plans = plan(current_store(), snapshot, ids, settings)
    except DialtoneError as exc:
        return render_template("dispute_confirm.html", plans=[], ids=[], notes=notes, problem=str(exc),
                               note=raw_note, deadline_of=deadline_of), 400
    if form.get("confirm") != "1":
        return render_template("dispute_confirm.html", plans=plans, ids=ids, notes=notes, problem=None,
                               note=raw_note, deadline_of=deadline_of)
    refs = [sd.reference_of(i) for i in opened]
    flash(f"Opened {len(refs)} draft dispute(s): {', '.join(refs)}. File each with the carrier, then "
          "record it here.")
    if len(opened) == 1:
        return redirect(url_for("pages.dispute_page", ref=refs[0]))
    return redirect(url_for("pages.disputes_page", status="draft"))


@bp.route("/disputes/<string:ref>/package/<string:fmt>")
@roles(*READ)
def dispute_package(ref: str, fmt: str):
    """The claim package: ``zip`` (both files), ``csv`` or ``html`` (printable)."""
    from dialtone.engine.disputes.package import STYLE_HASH, file_stem, package_files, package_zip
    from dialtone.engine.snapshots import SnapshotStore

    dispute_id = _dispute_or_404(ref)
    if fmt not in ("zip", "csv", "html"):
        abort(404)
    try:
        files = package_files(current_store(), dispute_id,
                              snapshots=SnapshotStore(current_config().data_dir))
    except sd.DisputeError:
        abort(404)
    stem = file_stem(sd.reference_of(dispute_id))
    if fmt == "zip":
        return Response(package_zip(files), mimetype="application/zip",
                        headers={"Content-Disposition": f"attachment; filename={stem}.zip"})
    if fmt == "csv":
        return Response(files[f"{stem}.csv"], mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment; filename={stem}.csv"})
    response = Response(files[f"{stem}.html"], mimetype="text/html")
    # The printable page: its one style block allowed by hash; no script, nothing loaded.
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src '{STYLE_HASH}'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'none'")
    return response


@bp.app_template_global()
def dispute_offer(f: dict) -> dict:
    """A finding page's Disputes section: the disputes the caller may read that claim the finding
    (``disputes``); whether "Dispute" is offered (``offer``: a billing error still standing that no
    live dispute claims, by itself or through its charge); and, when a live dispute the section
    does not list holds the claim, why it is not (``claimed``), in the words of the plan page
    that would refuse it: a dispute the caller cannot see is not named."""
    store, access = current_store(), caller()
    listed = sd.for_findings(store, [f["id"]], access).get(f["id"], [])
    claimed = None
    if f["resource_type"] in DISPUTABLE and f["status"] in ACTIVE:
        refs = sd.claiming(store, [f["id"]], access).get(f["id"], [])
        shown = {d["reference"] for d in listed}
        elsewhere = list(dict.fromkeys(r for r in refs if r is not None and r not in shown))
        if None in refs:
            claimed = f"This finding is already claimed in {sd.UNSEEN}: it cannot be disputed again."
        elif elsewhere:
            claimed = (f"This finding's charge is already disputed in {', '.join(elsewhere)}: it cannot "
                       "be disputed again.")
        offer = not refs
    else:
        offer = False
    return {"disputes": listed, "offer": offer, "claimed": claimed}
