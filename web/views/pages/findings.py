"""The findings list: its filter, sort, count, views, downloads and bulk actions."""

from __future__ import annotations

import json
import re
from datetime import date
from urllib.parse import parse_qsl, urlsplit

from flask import Response, flash, g, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from dialtone.engine import csvsafe
from dialtone.engine.errors import DialtoneError
from dialtone.engine.policy.model import CATEGORIES, SEVERITIES
from dialtone.engine.store import STATUSES, outbox_reads, queries, reads, workflow
from dialtone.engine.store import exceptions as exc_mod
from dialtone.engine.store.accounts import assignable_users
from dialtone.engine.store.lifecycle import STANDING

from ... import display
from ...security import ACT, READ, roles, safe_next
from .. import fields
from ..fields import MAX_FRAMEWORK, MAX_NAME, MAX_POLICY, MAX_SEARCH, MAX_TEXT, FieldError
from ..scope import caller
from . import PAGE, bp, current_store, single_value, web_audit

#: The sorts, as the page names them in its header and messages.
SORT_LABELS = {"id": "finding number", "due": "due date", "severity": "severity", "savings": "savings",
               "first_seen": "first seen", "policy": "policy"}
#: The direction a column sorts in on the first click: the most urgent or largest first.
FIRST_DIRECTION = {"id": "asc", "due": "asc", "severity": "desc", "savings": "desc", "first_seen": "desc",
                   "policy": "asc"}
FORMATS = ("csv", "json")


def _people(values) -> str:
    return ", ".join(v.replace("_", " ") for v in values)


def _choices(args: MultiDict, name: str, label: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """A repeatable filter whose values must be among ``allowed``: an unknown one is refused with
    a message naming it and what is allowed (never left out without a word)."""
    values = fields.filter_values(args, name, MAX_NAME)
    for value in values:
        if value not in allowed:
            raise FieldError(f"{label} “{value}” is not one of: {_people(allowed)}.")
    return values


def _filter_from(args: MultiDict) -> queries.FindingFilter:
    """The filter of the findings page and its downloads; a value outside what the page offers
    is a FieldError (a 400 naming the value and what is allowed)."""
    status = _choices(args, "status", "Status", STATUSES)
    if not status and args.get("all") != "1":
        status = STANDING
    sort = args.get("sort") or "id"
    if sort not in queries.SORTS:
        raise FieldError(f"Sort “{sort}” is not one of: {', '.join(SORT_LABELS.values())}.")
    direction = args.get("dir") or "asc"
    if direction not in ("asc", "desc"):
        raise FieldError(f"Sort direction “{direction}” is not asc or desc.")
    raw_after = args.get("after")
    after = None
    if raw_after is not None:
        try:
            after = fields.cursor_value(raw_after, "after")
        except FieldError:
            raise FieldError(f"The page start “{raw_after}” is not a finding number; use the "
                             "Next page link.") from None
    after_key = single_value(args, "after_key", MAX_POLICY)
    if after is not None and sort in ("severity", "policy", "first_seen") and after_key is None:
        raise FieldError(f"A page of the {SORT_LABELS[sort]} order starts after a value; use the "
                         "Next page link.")
    if sort == "severity" and after_key is not None and after_key not in SEVERITIES:
        raise FieldError(f"The page start “{after_key}” is not a severity; use the Next page link.")
    if sort == "savings" and after_key is not None:
        try:
            float(after_key)
        except ValueError:
            raise FieldError(f"The page start “{after_key}” is not an amount; use the Next page link.") \
                from None
    opened_in = None
    if args.get("opened_in"):
        try:
            opened_in = fields.id_value(args.get("opened_in"), "opened_in")
        except FieldError:
            raise FieldError(f"Evaluation “{args.get('opened_in')}” is not an evaluation number.") from None
    if args.get("new") == "1":
        opened_in = queries.latest_evaluation_id(current_store()) or 0
    assignee = single_value(args, "assignee", MAX_NAME)
    if args.get("mine") == "1":
        assignee = g.user.username
    return queries.FindingFilter(
        status=status,
        policy=fields.filter_values(args, "policy", MAX_POLICY),
        severity=_choices(args, "severity", "Severity", SEVERITIES),
        category=_choices(args, "category", "Category", CATEGORIES),
        framework=single_value(args, "framework", MAX_FRAMEWORK),
        overdue=args.get("overdue") == "1",
        assignee=assignee,
        search=(single_value(args, "q", MAX_SEARCH) or "").strip() or None,
        opened_in=opened_in,
        sort=sort,
        descending=direction == "desc",
        after_id=after,
        after_key=after_key,
        access=caller(),
    )


@bp.route("/findings")
@roles(*READ)
def findings():
    fmt = request.args.get("format")
    if fmt is not None:
        try:
            if fmt not in FORMATS:
                raise FieldError(f"The download format must be csv or json, not “{fmt}”.")
            flt = _filter_from(request.args)
        except (FieldError, queries.SearchError, queries.SortError) as exc:
            return _findings_page(MultiDict(), problem=str(exc), status=400)
        unpaged = queries.FindingFilter(**{**flt.__dict__, "after_id": None, "after_key": None})
        return _download(queries.list_findings(current_store(), unpaged), fmt, request.args)
    return _findings_page(request.args)


def _findings_page(args: MultiDict, typed: dict | None = None, status: int = 200, problem: str | None = None):
    """The findings page for the filter in ``args``; ``typed``: what the bulk form held when it
    was refused (shown again with the message); ``problem``: why the filter cannot be shown."""
    try:
        if problem:
            raise FieldError(problem)
        flt = _filter_from(args)
        rows = queries.list_findings(current_store(), queries.FindingFilter(**{**flt.__dict__,
                                                                               "limit": PAGE + 1}))
        count = queries.count_findings(current_store(), flt)
    except (FieldError, queries.SearchError, queries.SortError) as exc:
        # The page with the filter as typed and what is wrong with it; no results for a filter
        # that does not mean anything.
        problem, status, rows, count = str(exc), 400, [], None
        flt = queries.FindingFilter(status=STANDING)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    link_args = args.to_dict(flat=False)
    for name in ("after", "after_key", "format"):
        link_args.pop(name, None)
    next_url = None
    if more:
        key, last = queries.cursor(flt, rows[-1])
        next_url = url_for("pages.findings", **link_args, after=last,
                           **({"after_key": key} if key is not None else {}))
    store = current_store()
    return render_template(
        "findings.html", rows=rows, flt=flt, more=more, args=link_args, next_url=next_url,
        statuses=STATUSES, severities=SEVERITIES, categories=CATEGORIES, first_page=flt.after_id is None,
        typed=typed or {}, count=count, problem=problem, sorts=_sort_links(flt, link_args),
        raw=args, assignees=assignable_users(store) if g.user.can_act else [],
        min_expiry=store.today().isoformat()), status


def _sort_links(flt: queries.FindingFilter, link_args: dict) -> dict:
    """Per sortable column: its link (the filter kept, the first page) and its aria-sort."""
    base = {k: v for k, v in link_args.items() if k not in ("sort", "dir")}
    out = {}
    for key in queries.SORTS:
        current = flt.sort == key
        direction = ("asc" if flt.descending else "desc") if current else FIRST_DIRECTION[key]
        out[key] = {"url": url_for("pages.findings", **base, sort=key, dir=direction),
                    "aria": ("descending" if flt.descending else "ascending") if current else None,
                    "label": SORT_LABELS[key], "next": "descending" if direction == "desc" else "ascending"}
    return out


#: The findings download's columns.
DOWNLOAD_COLUMNS = ("id", "title", "policy_id", "severity", "category", "resource_type", "resource_id",
                    "status", "reason", "savings", "currency", "savings_counted", "due_on", "overdue",
                    "assignee", "frameworks", "first_seen_at", "last_seen_at", "tickets")


def _download(rows: list[dict], fmt: str, args: MultiDict) -> Response:
    store = current_store()
    counted = queries.counted_savings(store, [r["id"] for r in rows], caller())
    name = _file_name(args, store.today(), fmt)
    tickets = outbox_reads.tickets_for_findings(store, [r["id"] for r in rows], caller())
    if fmt == "json":
        for r in rows:
            r["savings_counted"] = r["id"] in counted
            r["tickets"] = [{k: t[k] for k in ("target", "key", "url", "state")}
                            for t in tickets.get(r["id"], [])]
        body = json.dumps(rows, indent=2, sort_keys=True, ensure_ascii=False)
        return Response(body, mimetype="application/json",
                        headers={"Content-Disposition": f"attachment; filename={name}"})
    frameworks = queries.policy_frameworks(store)
    # Values for people (as the pages show them); savings stay plain numbers a spreadsheet sums.
    table = [{
        **r, "status": r["status"].replace("_", " "),
        "savings": "" if r["savings"] is None else f"{r['savings']:.2f}",
        "currency": r["currency"] or "",
        "savings_counted": display.yes_no(r["id"] in counted) if r["savings"] is not None else "no",
        "overdue": display.yes_no(r["overdue"]), "assignee": r["assignee"] or "",
        "frameworks": "; ".join(f"{fw}: {req}" for fw, req in frameworks.get(r["policy_id"], [])),
        "first_seen_at": display.when(r["first_seen_at"]), "last_seen_at": display.when(r["last_seen_at"]),
        "due_on": r["due_on"] or "",
        "tickets": outbox_reads.ticket_summary(tickets.get(r["id"], [])),
    } for r in rows]
    # The one CSV writer: formula-like cells neutralised, every text cell quoted (a CR inside a
    # value cannot start a row).
    return Response(csvsafe.rows_to_text(DOWNLOAD_COLUMNS, table), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={name}"})


def _file_name(args: MultiDict, today: date, fmt: str) -> str:
    """``findings-critical-open-2026-12-06.csv``: the filter's values, then the date."""
    parts: list[str] = []
    for name in ("severity", "status", "category", "policy"):
        parts += args.getlist(name)
    parts += [args.get(name) or "" for name in ("framework", "assignee")]
    parts += [label for name, label in (("overdue", "overdue"), ("new", "new"), ("mine", "mine"),
                                        ("all", "all")) if args.get(name) == "1"]
    if args.get("opened_in"):
        parts.append(f"opened-in-{args.get('opened_in')}")
    if args.get("q"):
        parts.append(f"search-{args.get('q')}")
    slug = "-".join(p for p in (re.sub(r"[^a-z0-9]+", "-", part.lower()).strip("-") for part in parts) if p)
    return f"findings-{slug[:80].rstrip('-') + '-' if slug else ''}{today.isoformat()}.{fmt}"


BULK_ACTIONS = {"assign": "assigned", "comment": "commented on", "resolve": "resolved",
                "false_positive": "marked false positive",
                "request_exception": "covered by an exception request"}


@bp.route("/findings/bulk", methods=["POST"])
@bp.route("/findings/bulk-assign", methods=["POST"])
@roles(*ACT)
def bulk_assign():
    form = request.form
    action = form.get("action") or "assign"
    raw_ids = form.getlist("finding")
    typed = {"selected": set(raw_ids), "assignee": form.get("assignee", ""), "text": form.get("text", ""),
             "expires_on": form.get("expires_on", ""), "ticket": form.get("ticket", ""), "action": action}
    store, actor, audit, access = current_store(), g.user.username, web_audit(), caller()
    try:
        if action not in BULK_ACTIONS:
            raise FieldError("Choose one of the actions under the list.")
        if len(raw_ids) > PAGE:
            raise FieldError(f"Choose at most {PAGE} findings at once (a page).")
        ids = list(dict.fromkeys(fields.id_value(i, "finding") for i in raw_ids))
        if not ids:
            raise FieldError("Choose findings first: tick them in the list.")
        # Checked again by each act, in its own transaction (engine/store/scoping.py).
        missing = sorted(set(ids) - reads.existing_findings(store, ids, access))
        if missing:
            raise FieldError(f"There is no finding {missing[0]}.")
        text = fields.text_value(typed["text"], "text", MAX_TEXT, multiline=True).strip()
        assignee = fields.text_value(typed["assignee"], "assignee", MAX_NAME).strip()
        if action == "assign":
            if not assignee:
                raise FieldError("Choose whom to assign the selected findings to.")
            if assignee not in assignable_users(store):
                raise FieldError(f"“{assignee}” is not someone findings can be assigned to: choose a "
                                 "name from the list.")
        if action == "request_exception":
            ticket = fields.text_value(typed["ticket"], "ticket", MAX_NAME).strip() or None
            try:
                expires = date.fromisoformat(typed["expires_on"])
            except ValueError:
                raise FieldError("Give the date the exception should end.") from None
    except FieldError as exc:
        flash(str(exc))
        return _findings_page(_referrer_args(), typed, 400)
    done: list[int] = []
    failed: tuple[str, str] | None = None
    if action == "request_exception":
        # One request per policy among the selected, covering their resources.
        by_policy: dict[str, list[dict]] = {}
        for fid in ids:
            detail = queries.finding_detail(store, fid, access)
            if detail is None:   # left the scope since the check above
                failed = (f"finding {fid}", f"There is no finding {fid}.")
                break
            by_policy.setdefault(detail["policy_id"], []).append(detail)
        for policy_id, chosen in by_policy.items() if failed is None else ():
            try:
                exc_mod.request(store, exc_mod.ExceptionSpec(
                    policy_id=policy_id, justification=text, expires_on=expires, requested_by=actor,
                    resources=tuple(dict.fromkeys(d["resource_id"] for d in chosen)), ticket=ticket),
                    audit=audit, access=access)
                done += [d["id"] for d in chosen]
            except DialtoneError as exc:
                failed = (f"the findings of {policy_id} (" + ", ".join(str(d["id"]) for d in chosen) + ")",
                          str(exc))
                break
    else:
        for fid in ids:
            try:
                if action == "assign":
                    workflow.assign(store, fid, assignee, actor, audit, access=access)
                elif action == "comment":
                    workflow.comment(store, fid, text, actor, audit, access=access)
                elif action == "resolve":
                    workflow.resolve_manual(store, fid, text, actor, audit, access=access)
                else:
                    workflow.review(store, fid, "false_positive", text, actor, audit, access=access)
                done.append(fid)
            except DialtoneError as exc:
                failed = (f"finding {fid}", str(exc))
                break
    what = BULK_ACTIONS[action] + (f" to {assignee}" if action == "assign" else "")
    if failed:
        # What was done stays done (each action is recorded on its own); the rest stays selected
        # with what was typed, and the message says which one stopped and why.
        left = [str(i) for i in ids if i not in done]
        flash((f"{_findings(len(done))} {what}; " if done else "")
              + f"{failed[0]} could not be: {failed[1]}. Still selected: {', '.join(left)}.")
        return _findings_page(_referrer_args(), {**typed, "selected": set(left)}, 400)
    flash(f"{_findings(len(done))} {what}.")
    return redirect(request.referrer if _same_site(request.referrer) else url_for("pages.findings"))


def _findings(n: int) -> str:
    return f"{n:,} finding{'s' if n != 1 else ''}"


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
