"""The JSON API (``/api/v1``): the same read models and actions as the pages, for scripts.

Authenticated by ``Authorization: Bearer <token>`` only (``dialtone tokens create``);
the same role checks as the pages; one error shape: ``{"error": {"status", "code", "message"}}``.
"""

from __future__ import annotations

import json
import re

from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from dialtone.engine.errors import DialtoneError
from dialtone.engine.policy.model import CATEGORIES, SEVERITIES
from dialtone.engine.store import STATUSES, StoreError, outbox_reads, queries, reads, workflow

from ..openapi import HAS_TEXT, spec
from ..security import ACT, NOTIFICATIONS, READ, api_error, client_address, public, roles, store_unavailable
from . import fields
from .fields import MAX_FRAMEWORK, MAX_NAME, MAX_POLICY, MAX_SEARCH, MAX_TEXT, FieldError
from .scope import caller

bp = Blueprint("api", __name__)
MAX_LIMIT = 500


@bp.before_app_request
def _json_routing_errors():
    """An unknown path or method under the API answers in the API's error shape, not with the
    HTML error page (routing errors never reach a blueprint's error handlers)."""
    exc = request.routing_exception
    if isinstance(exc, HTTPException) and (exc.code or 500) >= 400 and request.path.startswith("/api/v1/"):
        return _http_error(exc)
    return None


_HAS_TEXT = re.compile(HAS_TEXT)


def _declared_query() -> dict[tuple[str, str], dict[str, bool]]:
    """(path, METHOD) -> {query parameter: repeatable?}, from the OpenAPI document."""
    out = {}
    for path, item in spec()["paths"].items():
        for method, op in item.items():
            out[(path, method.upper())] = {p["name"]: p["schema"].get("type") == "array"
                                           for p in op.get("parameters", ()) if p["in"] == "query"}
    return out


_QUERY = _declared_query()


@bp.before_request
def _known_query_parameters():
    """Refuse what the document does not declare: an unknown query parameter (a typo such as
    ``severty=high`` would otherwise silently widen the result) or a repeated single one."""
    rule = request.url_rule.rule.removeprefix("/api/v1")
    declared = _QUERY.get((re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule), request.method))
    if declared is None:
        return None
    for name in request.args:
        if name not in declared:
            return _bad(f"unknown query parameter {name!r}"
                        + (f"; this endpoint takes {', '.join(sorted(declared))}" if declared else ""))
        if not declared[name] and len(request.args.getlist(name)) > 1:
            return _bad(f"{name}: give it once")
    return None


def _store():
    return current_app.extensions["dialtone.store"]


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return api_error(exc.code or 500, (exc.name or "error").lower().replace(" ", "_"), exc.description or "")


@bp.errorhandler(DialtoneError)
def _user_error(exc: DialtoneError):
    return api_error(400, "invalid_request", str(exc))


# Here too: the blueprint's DialtoneError handler would otherwise answer a StoreError (one kind
# of DialtoneError) with the store's own words.
bp.register_error_handler(StoreError, store_unavailable)


def _bad(message: str):
    return api_error(400, "invalid_request", message)


@bp.route("/openapi.json")
@public
def openapi():
    return jsonify(spec())


def _single(name: str, limit: int) -> str | None:
    value = request.args.get(name) or None
    return None if value is None else fields.text_value(value, name, limit)


@bp.route("/findings")
@roles(*READ)
def findings():
    args = request.args
    if args.get("overdue", "0") not in ("1", "true", "0", "false"):
        return _bad("overdue: one of 1, true, 0, false")
    limit = _limit(100)
    flt = queries.FindingFilter(
        status=fields.filter_values(args, "status", MAX_NAME, STATUSES),
        policy=fields.filter_values(args, "policy", MAX_POLICY),
        severity=fields.filter_values(args, "severity", MAX_NAME, SEVERITIES),
        category=fields.filter_values(args, "category", MAX_NAME, CATEGORIES),
        framework=_single("framework", MAX_FRAMEWORK), overdue=args.get("overdue") in ("1", "true"),
        assignee=_single("assignee", MAX_NAME), search=_single("q", MAX_SEARCH),
        opened_in=fields.id_value(args["opened_in"], "opened_in") if "opened_in" in args else None,
        sort=args.get("sort") or "id", descending=args.get("dir") == "desc",
        limit=limit + 1, after_id=fields.cursor_value(args.get("after"), "after"),
        after_key=_single("after_key", MAX_POLICY), access=caller())
    if args.get("dir", "asc") not in ("asc", "desc"):
        return _bad("dir: one of asc, desc")
    rows = queries.list_findings(_store(), flt)
    more = len(rows) > limit
    rows = rows[:limit]
    _with_tickets(rows)
    _with_disputes(rows)
    key, last = queries.cursor(flt, rows[-1]) if more else (None, None)
    # The page the same filter and sort gives on the findings page; next_after_key goes with
    # next_after as after_key (null: an empty due date or saving, or the id order).
    return jsonify({"items": rows, "next_after": last, "next_after_key": key})


def _limit(default: int) -> int:
    """``limit``: a page size, at most MAX_LIMIT (more is read as MAX_LIMIT)."""
    raw = request.args.get("limit")
    if raw is None:
        return default
    if not re.fullmatch(r"-?[0-9]{1,19}", raw) or not 1 <= int(raw) <= fields.MAX_ID:
        raise FieldError(f"limit: give a whole number from 1 to {fields.MAX_ID}")
    return min(int(raw), MAX_LIMIT)


@bp.route("/findings/<id:finding_id>")
@roles(*READ)
def finding(finding_id: int):
    detail = queries.finding_detail(_store(), finding_id, caller())
    if detail is None:
        return api_error(404, "not_found", f"no finding {finding_id}")
    detail.pop("history")
    _with_tickets([detail])
    _with_disputes([detail])
    return jsonify(detail)


def _with_tickets(rows: list[dict]) -> None:
    """Each finding's tickets on trackers (``[{target, key, url, state}]``), in one read."""
    found = outbox_reads.tickets_for_findings(_store(), [r["id"] for r in rows], caller())
    for r in rows:
        r["tickets"] = [{k: t[k] for k in TICKET_FIELDS} for t in found.get(r["id"], [])]


def _with_disputes(rows: list[dict]) -> None:
    """Each finding's disputes with carriers (their references, oldest first), in one read."""
    from dialtone.engine.store.disputes import for_findings

    found = for_findings(_store(), [r["id"] for r in rows], caller())
    for r in rows:
        r["disputes"] = [d["reference"] for d in found.get(r["id"], [])]


#: What the API says of a finding's ticket.
TICKET_FIELDS = ("target", "key", "url", "state")


@bp.route("/findings/<id:finding_id>/events")
@roles(*READ)
def finding_events(finding_id: int):
    detail = queries.finding_detail(_store(), finding_id, caller())
    if detail is None:
        return api_error(404, "not_found", f"no finding {finding_id}")
    return jsonify({"items": detail["history"]})


def _body() -> dict:
    """The request's JSON object. Parsed here rather than by ``request.get_json``, whose parser
    lets a RecursionError (a body nested thousands deep) through as a 500."""
    if not request.is_json:
        raise FieldError("send a JSON object (Content-Type: application/json)")
    try:
        data = json.loads(request.get_data(cache=True))
    except (ValueError, RecursionError):
        raise FieldError("send a JSON object: the body is not valid JSON, or nests too deeply") from None
    if not isinstance(data, dict):
        raise FieldError("send a JSON object")
    fields.check_json(data)
    return data


def _audit():
    return workflow.audit_writer(_store(), f"api:{client_address()}")


@bp.route("/findings/<id:finding_id>/comments", methods=["POST"])
@roles(*ACT)
def comment(finding_id: int):
    text = fields.json_text(_body(), "text", MAX_TEXT, multiline=True)
    if text is None or not _HAS_TEXT.search(text):
        return _bad("text: a string with something other than spaces is required")
    try:
        # The scope is checked in the transaction that comments (engine/store/scoping.py).
        workflow.comment(_store(), finding_id, text, g.user.username, _audit(), access=caller())
    except workflow.FindingNotFound:
        return api_error(404, "not_found", f"no finding {finding_id}")
    return jsonify({"ok": True}), 201


@bp.route("/findings/<id:finding_id>/assignment", methods=["POST"])
@roles(*ACT)
def assign(finding_id: int):
    assignee = fields.json_text(_body(), "assignee", MAX_NAME)
    if assignee is None or not _HAS_TEXT.search(assignee):
        return _bad("assignee: a non-empty string is required")
    try:
        workflow.assign(_store(), finding_id, assignee.strip(), g.user.username, _audit(), access=caller())
    except workflow.FindingNotFound:
        return api_error(404, "not_found", f"no finding {finding_id}")
    except workflow.NotAssignable as exc:
        # A well-formed name that is not an account working findings now: it conflicts with the
        # accounts as they are (another may be added), not with the request's form.
        return api_error(409, "not_assignable", str(exc))
    return jsonify({"ok": True})


@bp.route("/exceptions")
@roles(*READ)
def exceptions():
    view = request.args.get("view", "all")
    if view not in queries.EXCEPTION_VIEWS:
        return _bad(f"view: one of {', '.join(queries.EXCEPTION_VIEWS)}")
    return jsonify({"items": queries.list_exceptions(_store(), view, access=caller())})


@bp.route("/policies")
@roles(*READ)
def policies():
    return jsonify({"items": reads.list_policies(_store(), caller())})


@bp.route("/evaluations")
@roles(*READ)
def evaluations():
    access = caller()
    return jsonify({"items": [reads.scoped_evaluation(e, access) for e in reads.list_evaluations(_store())]})


@bp.route("/evaluations/<id:evaluation_id>")
@roles(*READ)
def evaluation(evaluation_id: int):
    detail = reads.evaluation_detail(_store(), evaluation_id)
    if detail is None:
        return api_error(404, "not_found", f"no evaluation {evaluation_id}")
    return jsonify(reads.scoped_evaluation(detail, caller(), _store()))


@bp.route("/snapshots")
@roles(*READ)
def snapshots():
    from dialtone.engine.snapshots import SnapshotStore

    config = current_app.extensions["dialtone.config"]
    items = [{"id": s.id, "as_of": s.as_of.isoformat(), "manifest": s.manifest}
             for s in SnapshotStore(config.data_dir).list()]
    return jsonify({"items": items})


@bp.route("/runs")
@roles(*READ)
def runs() -> Response:
    from dialtone.engine.runs import current_lock, list_runs

    store = _store()
    from .runs import _scoped

    return jsonify({"items": [_scoped(r) for r in list_runs(store, _limit(50))],
                    "in_progress": current_lock(store)})


@bp.route("/runs/<id:run_id>")
@roles(*READ)
def run(run_id: int) -> Response:
    from dialtone.engine.runs import get_run

    found = get_run(_store(), run_id)
    if found is None:
        return api_error(404, "not_found", f"no run {run_id}")
    from .runs import _scoped

    return jsonify(_scoped(found))


@bp.route("/notifications")
@roles(*NOTIFICATIONS)
def notifications():
    """The outbox, newest first: keyset paged by ``after`` (the previous page's ``next_after``)."""
    status = _single("status", MAX_NAME)
    if status is not None and status not in outbox_reads.OUTBOX_STATUSES:
        return _bad(f"status: one of {', '.join(outbox_reads.OUTBOX_STATUSES)}")
    limit = _limit(100)
    rows = outbox_reads.outbox_page(_store(), status=status, target=_single("target", MAX_NAME),
                                    after_id=fields.cursor_value(request.args.get("after"), "after"),
                                    limit=limit + 1, access=caller())
    more = len(rows) > limit
    rows = rows[:limit]
    return jsonify({"items": rows, "next_after": rows[-1]["id"] if more else None})


@bp.route("/notifications/<id:message_id>")
@roles(*NOTIFICATIONS)
def notification(message_id: int):
    found = outbox_reads.outbox_message(_store(), message_id, access=caller())
    if found is None:
        return api_error(404, "not_found", f"no notification {message_id}")
    return jsonify(found)


# -- disputes -------------------------------------------------------------------------------

#: Findings in one request to open disputes (as on the pages: web/views/pages/disputes.py).
MAX_DISPUTE_FINDINGS = 500


def _dispute_json(dispute_id: int) -> dict | None:
    from dialtone.engine.store import disputes as sd

    if not sd.is_visible(_store(), dispute_id, caller()):
        return None
    try:
        return {**sd.get(_store(), dispute_id), "history": sd.history(_store(), dispute_id)}
    except sd.DisputeError:
        return None


@bp.route("/disputes")
@roles(*READ)
def disputes():
    """Disputes newest first: keyset paged by ``after`` (the previous page's ``next_after``)."""
    from dialtone.engine.disputes.reads import page
    from dialtone.engine.store.disputes import STATUSES as DISPUTE_STATUSES

    status = fields.filter_values(request.args, "status", MAX_NAME, DISPUTE_STATUSES)
    limit = _limit(100)
    rows = page(_store(), status=status, account_id=_single("account", MAX_NAME),
                before_id=fields.cursor_value(request.args.get("after"), "after"), limit=limit + 1,
                access=caller())
    more = len(rows) > limit
    rows = rows[:limit]
    return jsonify({"items": rows, "next_after": rows[-1]["id"] if more else None})


@bp.route("/disputes/<string:ref>")
@roles(*READ)
def dispute(ref: str):
    from dialtone.engine.disputes.reads import dispute_id

    found = None if dispute_id(ref) is None else _dispute_json(dispute_id(ref))
    if found is None:
        return api_error(404, "not_found", f"no dispute {ref}")
    return jsonify(found)


@bp.route("/disputes", methods=["POST"])
@roles(*ACT)
def open_disputes():
    """Open draft disputes from findings (one per account and currency); all or nothing."""
    from dialtone.engine.disputes.build import open_from_findings
    from dialtone.engine.snapshots import SnapshotStore
    from dialtone.engine.store.disputes import DisputeOutOfScope

    body = _body()
    raw = body.get("findings")
    # JSON has one number type: 12.0 is the id 12 (as the document's integer says).
    if not isinstance(raw, list) or not raw or len(raw) > MAX_DISPUTE_FINDINGS or not all(
            isinstance(i, int | float) and not isinstance(i, bool) and float(i).is_integer()
            and 1 <= i <= fields.MAX_ID for i in raw):
        return _bad(f"findings: a list of 1 to {MAX_DISPUTE_FINDINGS} finding ids is required")
    raw = [int(i) for i in raw]
    if "note" in body and body["note"] is not None and not isinstance(body["note"], str):
        return _bad("note: a string")
    note = (fields.json_text(body, "note", MAX_TEXT, multiline=True) or "").strip() or None
    ids = list(dict.fromkeys(raw))
    missing = sorted(set(ids) - reads.existing_findings(_store(), ids, caller()))
    if missing:
        return api_error(404, "not_found", f"no finding {missing[0]}")
    config = current_app.extensions["dialtone.config"]
    try:
        snapshot = SnapshotStore(config.data_dir).get(None)
        opened = open_from_findings(_store(), snapshot, ids, config.disputes, g.user.username, _audit(),
                                    note, access=caller())
    except StoreError:
        raise
    except DisputeOutOfScope as exc:
        # Left the caller's scope since the check above (the store checks again as it opens).
        return api_error(404, "not_found", str(exc))
    except DialtoneError as exc:
        # Well-formed, but these findings cannot be disputed as things stand (not a billing
        # error, no longer open, already claimed, no snapshot with their bills).
        return api_error(409, "not_disputable", str(exc))
    return jsonify({"items": [_dispute_json(i) for i in opened]}), 201


#: The actions on a dispute; those that need a note or a reference.
DISPUTE_ACTIONS = ("file", "acknowledge", "reference", "withdraw", "deny", "accept", "approve", "reject")


@bp.route("/disputes/<string:ref>/<string:action>", methods=["POST"])
@roles(*ACT)
def dispute_action(ref: str, action: str):
    from dialtone.engine.disputes.reads import dispute_id
    from dialtone.engine.store.disputes import DisputeError, DisputeOutOfScope

    from .pages.disputes import perform

    if action not in DISPUTE_ACTIONS:
        return api_error(404, "not_found", f"no action {action!r}; one of {', '.join(DISPUTE_ACTIONS)}")
    found = dispute_id(ref)
    if found is None or _dispute_json(found) is None:
        return api_error(404, "not_found", f"no dispute {ref}")
    body = _body() if request.get_data(cache=True) else {}
    for name in ("note", "carrier_reference"):
        if body.get(name) is not None and not isinstance(body[name], str):
            return _bad(f"{name}: a string")
    note = (fields.json_text(body, "note", MAX_TEXT, multiline=True) or "").strip()
    carrier_ref = (fields.json_text(body, "carrier_reference", MAX_NAME) or "").strip() or None
    if action in ("withdraw", "deny", "accept") and not note:
        return _bad("note: say why (a non-empty string; the approver reads it)")
    if action == "reference" and not carrier_ref:
        return _bad("carrier_reference: a non-empty string is required")
    try:
        done = perform(found, action, g.user.username, _audit(), note=note, carrier_reference=carrier_ref)
    except DisputeOutOfScope:
        return api_error(404, "not_found", f"no dispute {ref}")
    except DisputeError as exc:
        # The dispute's state or the approval rule refuses it: a conflict with the dispute as it
        # stands, not a malformed request.
        return api_error(409, "conflict", str(exc))
    return jsonify({"message": done, "dispute": _dispute_json(found)})
