"""Exceptions: the requests awaiting a decision, the decisions, and what each covers."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for

from dialtone.engine.errors import DialtoneError
from dialtone.engine.store import exceptions as exc_mod
from dialtone.engine.store import queries, reads

from ...security import ACT, READ, roles
from .. import drafts, fields
from ..fields import MAX_TEXT
from ..scope import caller
from . import bp, current_store, web_audit


@bp.route("/exceptions")
@roles(*READ)
def exceptions_page():
    # A decision sent after the session expired comes back here after sign-in (drafts.py).
    return _exceptions_page(request.args.get("view", "requested"), drafts.take(request.path))


def _exceptions_page(view: str, typed: dict | None = None, status: int = 200):
    """The exceptions of one view; ``typed``: the refused decision's note, kept in its form."""
    if view not in queries.EXCEPTION_VIEWS:
        view = "all"
    rows = queries.list_exceptions(current_store(), view, access=caller())
    # What a request would except once approved: the approver sees it before deciding.
    requested = [r["id"] for r in rows if r["status"] == "requested"]
    would = reads.exceptions_would_cover(current_store(), requested, caller())
    return render_template("exceptions.html", rows=rows, view=view, views=queries.EXCEPTION_VIEWS,
                           would=would, typed=typed or {}), status


@bp.route("/exceptions/<id:exception_id>")
@roles(*READ)
def exception_page(exception_id: int):
    """One exception: what it says, who asked and decided, and the findings it covers (or, while
    requested, would cover) with their reasons and evidence."""
    detail = reads.exception_findings(current_store(), exception_id, access=caller())
    if detail is None:
        abort(404)
    return render_template("exception.html", e=detail, shown=reads.EXCEPTION_FINDINGS_SHOWN,
                           typed=drafts.take(request.path) or {})


@bp.route("/exceptions/<id:exception_id>/decide", methods=["POST"])
@roles(*ACT)
def decide_exception(exception_id: int):
    decision = request.form.get("decision")
    if decision not in ("approve", "reject", "revoke"):
        abort(400)
    view = request.form.get("view", "requested")
    back = request.form.get("back")
    raw_note = request.form.get("note", "")
    try:
        note = fields.text_value(raw_note, "note", MAX_TEXT, multiline=True).strip() or None
        exc_mod.decide(current_store(), exception_id, decision, g.user.username, note, audit=web_audit(),
                       access=caller())
    except exc_mod.ExceptionOutOfScope:
        abort(404)
    except DialtoneError as exc:
        flash(str(exc))
        typed = {"exception_id": exception_id, "note": raw_note}
        if back == "detail":
            detail = reads.exception_findings(current_store(), exception_id, access=caller())
            return render_template("exception.html", e=detail, shown=reads.EXCEPTION_FINDINGS_SHOWN,
                                   typed=typed), 400
        return _exceptions_page(view, typed, 400)
    flash(f"Exception {exception_id} {DONE[decision]}.")
    if back == "detail":
        return redirect(url_for("pages.exception_page", exception_id=exception_id))
    return redirect(url_for("pages.exceptions_page",
                            view=view if view in queries.EXCEPTION_VIEWS else "requested"))


DONE = {"approve": "approved: it applies to the findings it covers",
        "reject": "rejected", "revoke": "revoked: its findings await work again"}
