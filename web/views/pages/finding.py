"""One finding: its facts, evidence and history, and the actions on it."""

from __future__ import annotations

from datetime import date

from flask import abort, flash, g, redirect, render_template, request, url_for

from dialtone.engine.errors import DialtoneError
from dialtone.engine.store import exceptions as exc_mod
from dialtone.engine.store import queries, reads, workflow

from ...security import ACT, READ, roles
from .. import fields
from ..fields import MAX_NAME, MAX_TEXT, FieldError
from . import bp, current_store, web_audit


@bp.route("/findings/<id:finding_id>")
@roles(*READ)
def finding(finding_id: int):
    return _finding_page(finding_id)


def _finding_page(finding_id: int, typed: dict | None = None, status: int = 200):
    """A finding; ``typed``: what an action's form held when it was refused (shown again)."""
    detail = queries.finding_detail(current_store(), finding_id)
    if detail is None:
        abort(404)
    others = queries.resource_findings(current_store(), detail["resource_type"], detail["resource_id"],
                                       exclude=finding_id)
    run = reads.policy_run(current_store(), detail["policy_id"], detail["last_seen_evaluation"])
    return render_template("finding.html", f=detail, others=others, run=run,
                           timeline=_timeline(detail["history"], _exception_requests(detail)),
                           min_expiry=current_store().today().isoformat(), typed=typed or {}), status


def _exception_requests(detail: dict) -> list[dict]:
    """Exception requests made in the product that cover this finding but are not in its history
    (they join it once the exception applies): shown from the exceptions, marked as outside the
    finding's chain."""
    seen = {e["exception_id"] for e in detail["history"] if e.get("exception_id") is not None}
    return [r for r in reads.exception_requests(current_store(), detail["policy_id"], detail["resource_id"])
            if r["id"] not in seen]


def _timeline(history: list[dict], requests: list[dict]) -> list[dict]:
    """The finding's events in chain order, each request slotted in where the chain has it
    (its ``exception_requested`` event on the exception: exact even when timestamps tie)."""
    out: list[dict] = []
    pending = sorted(requests, key=lambda r: (r["seq"] is None, r["seq"] or 0, r["id"]))
    for event in history:
        while pending and pending[0]["seq"] is not None and pending[0]["seq"] < event["seq"]:
            out.append({"request": pending.pop(0)})
        out.append({"event": event})
    return out + [{"request": r} for r in pending]


ACTIONS = ("assign", "comment", "resolve", "reopen", "false_positive", "not_applicable", "request_exception")


@bp.route("/findings/<id:finding_id>/action", methods=["POST"])
@roles(*ACT)
def finding_action(finding_id: int):
    action = request.form.get("action")
    if action not in ACTIONS:
        abort(400)
    form = request.form
    typed = {"action": action, "text": form.get("text", ""), "assignee": form.get("assignee", ""),
             "ticket": form.get("ticket", ""), "expires_on": form.get("expires_on", "")}
    store, actor, audit = current_store(), g.user.username, web_audit()
    if queries.finding_detail(store, finding_id) is None:
        abort(404)
    try:
        text = fields.text_value(typed["text"], "text", MAX_TEXT, multiline=True).strip()
        if action == "assign":
            assignee = fields.text_value(typed["assignee"], "assignee", MAX_NAME).strip() or actor
            workflow.assign(store, finding_id, assignee, actor, audit)
        elif action == "comment":
            workflow.comment(store, finding_id, text, actor, audit)
        elif action == "resolve":
            workflow.resolve_manual(store, finding_id, text, actor, audit)
        elif action == "reopen":
            workflow.reopen(store, finding_id, text, actor, audit)
        elif action in ("false_positive", "not_applicable"):
            workflow.review(store, finding_id, action, text, actor, audit)
        else:
            detail = queries.finding_detail(store, finding_id)
            ticket = fields.text_value(typed["ticket"], "ticket", MAX_NAME).strip() or None
            try:
                expires = date.fromisoformat(typed["expires_on"])
            except ValueError:
                raise FieldError("Give the expiry date as YYYY-MM-DD.") from None
            exc_mod.request(store, exc_mod.ExceptionSpec(
                policy_id=detail["policy_id"], justification=text, expires_on=expires, requested_by=actor,
                resources=(detail["resource_id"],), ticket=ticket), audit=audit)
    except DialtoneError as exc:
        # Refused (a limit, or the workflow's rules): the page again, with what was typed kept.
        flash(str(exc))
        return _finding_page(finding_id, typed, 400)
    flash("Done.")
    return redirect(url_for("pages.finding", finding_id=finding_id))
