"""Exceptions: the requests awaiting a decision, the decisions, and what each covers."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for

from dialtone.engine.errors import DialtoneError
from dialtone.engine.store import exceptions as exc_mod
from dialtone.engine.store import queries

from ...security import ACT, READ, roles
from .. import fields
from ..fields import MAX_TEXT
from . import bp, current_store, web_audit


@bp.route("/exceptions")
@roles(*READ)
def exceptions_page():
    return _exceptions_page(request.args.get("view", "requested"))


def _exceptions_page(view: str, typed: dict | None = None, status: int = 200):
    """The exceptions of one view; ``typed``: the refused decision's note, kept in its form."""
    if view not in queries.EXCEPTION_VIEWS:
        view = "all"
    rows = queries.list_exceptions(current_store(), view)
    return render_template("exceptions.html", rows=rows, view=view, views=queries.EXCEPTION_VIEWS,
                           typed=typed or {}), status


@bp.route("/exceptions/<id:exception_id>/decide", methods=["POST"])
@roles(*ACT)
def decide_exception(exception_id: int):
    decision = request.form.get("decision")
    if decision not in ("approve", "reject", "revoke"):
        abort(400)
    view = request.form.get("view", "requested")
    raw_note = request.form.get("note", "")
    try:
        note = fields.text_value(raw_note, "note", MAX_TEXT, multiline=True).strip() or None
        exc_mod.decide(current_store(), exception_id, decision, g.user.username, note, audit=web_audit())
    except DialtoneError as exc:
        flash(str(exc))
        return _exceptions_page(view, {"exception_id": exception_id, "note": raw_note}, 400)
    flash(f"Exception {exception_id}: {decision}d.")
    return redirect(url_for("pages.exceptions_page",
                            view=view if view in queries.EXCEPTION_VIEWS else "requested"))
