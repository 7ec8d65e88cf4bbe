"""The findings list: its filter, downloads and bulk actions."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

from flask import Response, flash, g, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from dialtone.engine import csvsafe
from dialtone.engine.policy.model import CATEGORIES, SEVERITIES
from dialtone.engine.store import STATUSES, queries, reads, workflow
from dialtone.engine.store.lifecycle import STANDING

from ...security import ACT, READ, roles, safe_next
from .. import fields
from ..fields import MAX_FRAMEWORK, MAX_NAME, MAX_POLICY, MAX_SEARCH, FieldError
from . import PAGE, bp, current_store, single_value, web_audit


def _filter_from(args: MultiDict) -> queries.FindingFilter:
    """The filter of the findings page and its downloads. Values the page's own form cannot send
    (an unknown status) are left out; too many values or overlong text are a FieldError (400)."""
    status = fields.filter_values(args, "status", MAX_NAME, STATUSES, strict=False)
    if not status and args.get("all") != "1":
        status = STANDING
    return queries.FindingFilter(
        status=status,
        policy=fields.filter_values(args, "policy", MAX_POLICY),
        severity=fields.filter_values(args, "severity", MAX_NAME, SEVERITIES, strict=False),
        category=fields.filter_values(args, "category", MAX_NAME, CATEGORIES, strict=False),
        framework=single_value(args, "framework", MAX_FRAMEWORK),
        overdue=args.get("overdue") == "1",
        assignee=single_value(args, "assignee", MAX_NAME),
        search=single_value(args, "q", MAX_SEARCH),
    )


@bp.route("/findings")
@roles(*READ)
def findings():
    fmt = request.args.get("format")
    if fmt in ("csv", "json"):
        return _download(queries.list_findings(current_store(), _filter_from(request.args)), fmt)
    return _findings_page(request.args)


def _findings_page(args: MultiDict, typed: dict | None = None, status: int = 200):
    """The findings page for the filter in ``args``; ``typed``: what the bulk-assign form held
    when it was refused (shown again with the message)."""
    flt = _filter_from(args)
    after = fields.cursor_value(args.get("after"), "after")
    rows = queries.list_findings(current_store(), queries.FindingFilter(**{**flt.__dict__, "limit": PAGE + 1,
                                                                    "after_id": after}))
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    link_args = args.to_dict(flat=False)
    link_args.pop("after", None)
    return render_template("findings.html", rows=rows, flt=flt, more=more, args=link_args,
                           next_after=rows[-1]["id"] if more else None, statuses=STATUSES,
                           severities=SEVERITIES, categories=CATEGORIES, first_page=after is None,
                           typed=typed or {}), status


#: The findings download's columns.
DOWNLOAD_COLUMNS = ("id", "policy_id", "severity", "category", "resource_type", "resource_id", "status",
                    "reason", "savings", "due_on", "overdue", "assignee", "first_seen_at", "last_seen_at")


def _download(rows: list[dict], fmt: str) -> Response:
    if fmt == "json":
        body = json.dumps(rows, indent=2, sort_keys=True, ensure_ascii=False)
        return Response(body, mimetype="application/json",
                        headers={"Content-Disposition": "attachment; filename=findings.json"})
    # The one CSV writer: formula-like cells neutralised, every text cell quoted (a CR inside a
    # value cannot start a row).
    return Response(csvsafe.rows_to_text(DOWNLOAD_COLUMNS, rows), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=findings.csv"})


@bp.route("/findings/bulk-assign", methods=["POST"])
@roles(*ACT)
def bulk_assign():
    raw_ids = request.form.getlist("finding")
    raw_assignee = request.form.get("assignee", "")
    try:
        if len(raw_ids) > PAGE:
            raise FieldError(f"finding: at most {PAGE} findings at once (a page)")
        ids = list(dict.fromkeys(fields.id_value(i, "finding") for i in raw_ids))
        assignee = fields.text_value(raw_assignee, "assignee", MAX_NAME).strip()
        if not assignee or not ids:
            raise FieldError("Choose findings and an assignee.")
        missing = sorted(set(ids) - reads.existing_findings(current_store(), ids))
        if missing:
            raise FieldError(f"no finding {missing[0]}")
    except FieldError as exc:
        # The findings page the form was on, with what was typed and ticked, and why not.
        flash(str(exc))
        return _findings_page(_referrer_args(), {"assignee": raw_assignee, "selected": set(raw_ids)}, 400)
    for fid in ids:
        workflow.assign(current_store(), fid, assignee, g.user.username, web_audit())
    flash(f"{len(ids)} finding(s) assigned to {assignee}.")
    return redirect(request.referrer if _same_site(request.referrer) else url_for("pages.findings"))


def _same_site(url: str | None) -> bool:
    if not url:
        return False
    parts = urlsplit(url)
    return parts.netloc == request.host and safe_next(parts.path) == parts.path


def _referrer_args() -> MultiDict:
    """The query of the findings page the request came from (its filter), if it came from one."""
    if not _same_site(request.referrer) or urlsplit(request.referrer).path != url_for("pages.findings"):
        return MultiDict()
    return MultiDict(parse_qsl(urlsplit(request.referrer).query, keep_blank_values=True))
