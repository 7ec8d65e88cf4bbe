"""The audit log (administrators and auditors, read-only) and the accounts (administrators)."""

from __future__ import annotations

from flask import abort, g, render_template, request

from dialtone.engine.store import reads

from ...security import ADMIN, AUDIT_LOG, roles
from .. import fields
from ..fields import MAX_NAME
from ..scope import caller
from . import PAGE, bp, current_store, single_value

#: The longest action name the audit log stores.
MAX_ACTION = 40


@bp.route("/audit")
@roles(*AUDIT_LOG)
def audit_page():
    if caller().restricted:
        # Every account's actions on every finding: not filtered by scope, so not shown to an
        # account limited to one (docs/access.md).
        abort(403, "The audit log records the whole store's actions: an account limited to a scope "
                   "cannot read it.")
    before = request.args.get("before")
    action = single_value(request.args, "action", MAX_ACTION)
    actor = single_value(request.args, "actor", MAX_NAME)
    actor = actor.strip() if actor else None
    rows = reads.audit_entries(current_store(), PAGE + 1,
                               None if before is None else fields.id_value(before, "before"),
                               action=action, actor=actor or None)
    more = len(rows) > PAGE
    return render_template("audit.html", rows=rows[:PAGE], more=more,
                           next_before=rows[PAGE - 1]["id"] if more else None,
                           actions=reads.audit_actions(current_store()), action=action or "",
                           actor=actor or "", admin=g.user.role in ADMIN)


@bp.route("/users")
@roles(*ADMIN)
def users_page():
    from dialtone.engine.store.accounts import list_tokens, list_users

    store = current_store()
    return render_template("users.html", rows=list_users(store), tokens=list_tokens(store))
