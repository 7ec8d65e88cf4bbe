"""The notifications outbox: counts by state (dead letters first), the messages filtered by state
and target, one message with its findings; administrators send a dead letter again or cancel a
message. Administrators and officers read it; auditors do not (its recipients are people's
addresses), and see a finding's tickets on the finding's page and in evidence packages."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for

from dialtone.engine.store import outbox_actions, outbox_reads

from ...security import ADMIN, NOTIFICATIONS, roles
from .. import fields
from ..fields import MAX_NAME, FieldError
from ..scope import caller
from . import PAGE, bp, current_config, current_store, single_value, web_audit


def _filters() -> tuple[str | None, str | None, int | None]:
    status = single_value(request.args, "status", MAX_NAME)
    if status is not None and status not in outbox_reads.OUTBOX_STATUSES:
        raise FieldError(f"Status “{status}” is not one of: {', '.join(outbox_reads.OUTBOX_STATUSES)}.")
    target = single_value(request.args, "target", MAX_NAME)
    before = request.args.get("before")
    return status, target, None if before is None else fields.id_value(before, "before")


@bp.route("/notifications")
@roles(*NOTIFICATIONS)
def notifications_page():
    status, target, before = _filters()
    store = current_store()
    rows = outbox_reads.outbox_page(store, status=status, target=target, after_id=before, limit=PAGE + 1,
                                    access=caller())
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    counts = outbox_reads.outbox_counts(store, caller())
    return render_template(
        "notifications.html", rows=rows, more=more, next_before=rows[-1]["id"] if more else None,
        counts=counts, per_target=outbox_reads.target_counts(store, caller()), status=status or "",
        target=target or "", statuses=outbox_reads.OUTBOX_STATUSES,
        targets=outbox_reads.outbox_targets(store, caller()),
        configured=current_config().notifications.enabled,
        empty=not any(counts.values()), admin=g.user.role in ADMIN)


@bp.route("/notifications/<id:message_id>")
@roles(*NOTIFICATIONS)
def notification_page(message_id: int):
    message = outbox_reads.outbox_message(current_store(), message_id, access=caller())
    if message is None:
        abort(404)
    return render_template("notification.html", m=message, admin=g.user.role in ADMIN)


@bp.route("/notifications/<id:message_id>/<any(retry, cancel):action>", methods=["POST"])
@roles(*ADMIN)
def notification_action(message_id: int, action: str):
    store, access = current_store(), caller()
    if outbox_reads.outbox_message(store, message_id, limit=0, access=access) is None:
        abort(404)
    try:
        if action == "retry":
            outbox_actions.retry(store, message_id, g.user.username, web_audit(), access=access)
            flash(f"Message {message_id} is due again: the next delivery sends it.")
        else:
            outbox_actions.cancel(store, message_id, g.user.username, web_audit(), access=access)
            flash(f"Message {message_id} is cancelled: it will not be sent.")
    except outbox_actions.MessageNotFound:
        abort(404)
    except outbox_actions.OutboxError as exc:
        # Refused (sent or cancelled meanwhile): the message as it stands now, and why.
        flash(str(exc))
        message = outbox_reads.outbox_message(store, message_id, access=access)
        if message is None:
            abort(404)
        return render_template("notification.html", admin=True, m=message), 409
    return redirect(url_for("pages.notification_page", message_id=message_id))
