"""The audit log (administrators and auditors) and the accounts (administrators)."""

from __future__ import annotations

from flask import render_template, request

from dialtone.engine.store import reads

from ...security import ADMIN, AUDIT_LOG, roles
from .. import fields
from . import PAGE, bp, current_store


@bp.route("/audit")
@roles(*AUDIT_LOG)
def audit_page():
    before = request.args.get("before")
    rows = reads.audit_page(current_store(), PAGE + 1,
                            None if before is None else fields.id_value(before, "before"))
    more = len(rows) > PAGE
    return render_template("audit.html", rows=rows[:PAGE], more=more,
                           next_before=rows[PAGE - 1]["id"] if more else None)


@bp.route("/users")
@roles(*ADMIN)
def users_page():
    from dialtone.engine.store.accounts import list_tokens, list_users

    store = current_store()
    return render_template("users.html", rows=list_users(store), tokens=list_tokens(store))
