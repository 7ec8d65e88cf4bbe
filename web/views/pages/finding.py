"""One finding: its facts, evidence and history, and the actions on it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from flask import abort, flash, g, redirect, render_template, request, url_for

from dialtone.engine.errors import DialtoneError
from dialtone.engine.store import accounts, outbox_reads, queries, reads, workflow
from dialtone.engine.store import exceptions as exc_mod

from ...security import ACT, NOTIFICATIONS, READ, roles
from .. import drafts, fields
from ..fields import MAX_NAME, MAX_TEXT, FieldError
from ..scope import caller
from . import bp, current_config, current_store, web_audit


@bp.route("/findings/<id:finding_id>")
@roles(*READ)
def finding(finding_id: int):
    # A form sent after the session or its token expired comes back here, after sign-in, as it
    # was typed (web/views/drafts.py).
    return _finding_page(finding_id, drafts.take(request.path))


def _finding_page(finding_id: int, typed: dict | None = None, status: int = 200):
    """A finding; ``typed``: what an action's form held when it was refused (shown again)."""
    store = current_store()
    detail = queries.finding_detail(store, finding_id, caller())
    if detail is None:
        abort(404)
    others = queries.resource_findings(store, detail["resource_type"], detail["resource_id"],
                                       exclude=finding_id, access=caller())
    run = reads.policy_run(store, detail["policy_id"], detail["last_seen_evaluation"])
    first, last = exc_mod.expiry_limits(store, detail["severity"])
    people = accounts.assignable_users(store) if g.user.can_act else []
    # Tickets for everyone who reads findings (closure evidence); the messages only for those who
    # read the outbox (their recipients are people's addresses).
    tickets = outbox_reads.tickets_for_finding(store, finding_id, caller())
    messages = outbox_reads.messages_for_finding(store, finding_id, access=caller()) \
        if g.user.role in NOTIFICATIONS else []
    return render_template("finding.html", f=detail, others=others, run=run,
                           tickets=tickets, messages=messages,
                           timeline=_timeline(detail["history"], _exception_requests(detail)),
                           min_expiry=first.isoformat(), max_expiry=last.isoformat(), people=people,
                           remediation=remediation_advice(detail["policy_id"]), typed=typed or {}), status


_advice: dict[tuple, dict[str, str]] = {}


def remediation_advice(policy_id: str) -> str | None:
    """The policy's remediation advice (it lives in the policy files, not in the store), read
    again only when a policy file changed: one stat per file per view, not a parse."""
    from dialtone.engine.policy.loader import builtin_policy_dir, load_policies, policy_files

    paths = [Path(p) for p in (current_config().policy_paths or [builtin_policy_dir()])]
    key = tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in policy_files(paths))
    if key not in _advice:
        loaded = load_policies(paths)
        _advice.clear()
        _advice[key] = {p.id: p.remediation for p in loaded.policies if p.remediation}
    return _advice[key].get(policy_id)


def _exception_requests(detail: dict) -> list[dict]:
    """Exception requests made in the product that cover this finding but are not in its history
    (they join it once the exception applies): shown from the exceptions, marked as outside the
    finding's chain."""
    seen = {e["exception_id"] for e in detail["history"] if e.get("exception_id") is not None}
    return [r for r in reads.exception_requests(current_store(), detail["policy_id"], detail["resource_id"],
                                                     caller())
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
    store, actor, audit, access = current_store(), g.user.username, web_audit(), caller()
    # A 404 before the form is read; each act checks the scope again in the transaction that
    # records it (engine/store/scoping.py): the finding may have left the scope meanwhile.
    detail = queries.finding_detail(store, finding_id, access)
    if detail is None:
        abort(404)
    try:
        text = fields.text_value(typed["text"], "text", MAX_TEXT, multiline=True).strip()
        if action == "assign":
            assignee = fields.text_value(typed["assignee"], "assignee", MAX_NAME).strip() or actor
            name = workflow.assign(store, finding_id, assignee, actor, audit, access=access)
            done = f"Assigned to {name}."
        elif action == "comment":
            workflow.comment(store, finding_id, text, actor, audit, access=access)
            done = "Comment added."
        elif action == "resolve":
            workflow.resolve_manual(store, finding_id, text, actor, audit, access=access)
            done = "Resolved by hand; the next evaluation reopens it if it still finds the problem."
        elif action == "reopen":
            workflow.reopen(store, finding_id, text, actor, audit, access=access)
            done = "Reopened."
        elif action in ("false_positive", "not_applicable"):
            workflow.review(store, finding_id, action, text, actor, audit, access=access)
            done = ("Closed as a false positive." if action == "false_positive"
                    else "Closed as not applicable.")
        else:
            ticket = fields.text_value(typed["ticket"], "ticket", MAX_NAME).strip() or None
            try:
                expires = date.fromisoformat(typed["expires_on"])
            except ValueError:
                raise FieldError("Give the expiry date, the last day the exception is in force, as "
                                 "YYYY-MM-DD.") from None
            exception_id = exc_mod.request(store, exc_mod.ExceptionSpec(
                policy_id=detail["policy_id"], justification=text, expires_on=expires, requested_by=actor,
                resources=(detail["resource_id"],), ticket=ticket), audit=audit, access=access)
            done = f"Exception {exception_id} requested; another officer decides on it."
    except (workflow.FindingNotFound, exc_mod.ExceptionOutOfScope):
        abort(404)
    except DialtoneError as exc:
        # Refused (a limit, or the workflow's rules): the page again, with what was typed kept.
        flash(str(exc))
        return _finding_page(finding_id, typed, 400)
    flash(done)
    return redirect(url_for("pages.finding", finding_id=finding_id))
