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
from dialtone.engine.store import STATUSES, queries, workflow

from ..openapi import HAS_TEXT, spec
from ..security import ACT, READ, api_error, public, roles

bp = Blueprint("api", __name__)
MAX_LIMIT = 500
MAX_ID = 2**63 - 1   # ids are 64-bit integers in the store: anything larger names nothing


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


def _too_big(*ids: int | None) -> bool:
    return any(i is not None and not -MAX_ID <= i <= MAX_ID for i in ids)


def _store():
    return current_app.extensions["dialtone.store"]


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return api_error(exc.code or 500, (exc.name or "error").lower().replace(" ", "_"), exc.description or "")


@bp.errorhandler(DialtoneError)
def _user_error(exc: DialtoneError):
    return api_error(400, "invalid_request", str(exc))


def _bad(message: str):
    return api_error(400, "invalid_request", message)


@bp.route("/openapi.json")
@public
def openapi():
    return jsonify(spec())


@bp.route("/findings")
@roles(*READ)
def findings():
    args = request.args
    for name, allowed in (("status", STATUSES), ("severity", SEVERITIES), ("category", CATEGORIES)):
        bad = [v for v in args.getlist(name) if v not in allowed]
        if bad:
            return _bad(f"{name}: '{bad[0]}' is not one of {', '.join(allowed)}")
    if args.get("overdue", "0") not in ("1", "true", "0", "false"):
        return _bad("overdue: one of 1, true, 0, false")
    try:
        limit = min(int(args.get("limit", 100)), MAX_LIMIT)
        after = int(args["after"]) if "after" in args else None
    except ValueError:
        return _bad("limit and after must be integers")
    if limit < 1:
        return _bad("limit must be at least 1")
    if _too_big(after):
        return _bad(f"after must be at most {MAX_ID}")
    flt = queries.FindingFilter(
        status=tuple(args.getlist("status")), policy=tuple(args.getlist("policy")),
        severity=tuple(args.getlist("severity")), category=tuple(args.getlist("category")),
        framework=args.get("framework") or None, overdue=args.get("overdue") in ("1", "true"),
        assignee=args.get("assignee") or None, search=args.get("q") or None,
        limit=limit + 1, after_id=after)
    rows = queries.list_findings(_store(), flt)
    more = len(rows) > limit
    rows = rows[:limit]
    return jsonify({"items": rows, "next_after": rows[-1]["id"] if more else None})


@bp.route("/findings/<int:finding_id>")
@roles(*READ)
def finding(finding_id: int):
    if _too_big(finding_id):
        return api_error(404, "not_found", f"no finding {finding_id}")
    detail = queries.finding_detail(_store(), finding_id)
    if detail is None:
        return api_error(404, "not_found", f"no finding {finding_id}")
    detail.pop("history")
    return jsonify(detail)


@bp.route("/findings/<int:finding_id>/events")
@roles(*READ)
def finding_events(finding_id: int):
    if _too_big(finding_id):
        return api_error(404, "not_found", f"no finding {finding_id}")
    detail = queries.finding_detail(_store(), finding_id)
    if detail is None:
        return api_error(404, "not_found", f"no finding {finding_id}")
    return jsonify({"items": detail["history"]})


def _body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise DialtoneError("send a JSON object")
    return data


def _audit():
    return workflow.audit_writer(_store(), f"api:{request.remote_addr}")


@bp.route("/findings/<int:finding_id>/comments", methods=["POST"])
@roles(*ACT)
def comment(finding_id: int):
    text = _body().get("text")
    if not isinstance(text, str) or not _HAS_TEXT.search(text):
        return _bad("text: a string with something other than spaces is required")
    if _too_big(finding_id) or queries.finding_detail(_store(), finding_id) is None:
        return api_error(404, "not_found", f"no finding {finding_id}")
    workflow.comment(_store(), finding_id, text, g.user.username, _audit())
    return jsonify({"ok": True}), 201


@bp.route("/findings/<int:finding_id>/assignment", methods=["POST"])
@roles(*ACT)
def assign(finding_id: int):
    assignee = _body().get("assignee")
    if not isinstance(assignee, str) or not _HAS_TEXT.search(assignee):
        return _bad("assignee: a non-empty string is required")
    if _too_big(finding_id) or queries.finding_detail(_store(), finding_id) is None:
        return api_error(404, "not_found", f"no finding {finding_id}")
    workflow.assign(_store(), finding_id, assignee.strip(), g.user.username, _audit())
    return jsonify({"ok": True})


@bp.route("/exceptions")
@roles(*READ)
def exceptions():
    view = request.args.get("view", "all")
    if view not in queries.EXCEPTION_VIEWS:
        return _bad(f"view: one of {', '.join(queries.EXCEPTION_VIEWS)}")
    store = _store()
    queries.refresh_exceptions_if_changed(store)  # the one expiry rule, when anything can be due
    return jsonify({"items": queries.list_exceptions(store, view)})


@bp.route("/policies")
@roles(*READ)
def policies():
    from sqlalchemy import text

    with _store().read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text("""
            SELECT p.id, p.title, p.category, p.severity, p.resource_type, p.policy_hash, p.in_set,
                   r.status AS last_status, r.finding_count AS last_finding_count,
                   r.evaluated AS last_evaluated, p.last_run_evaluation
            FROM policies p LEFT JOIN policy_runs r
              ON r.policy_id = p.id AND r.evaluation_id = p.last_run_evaluation
            ORDER BY p.id"""))]
    for r in rows:
        r["in_set"] = bool(r["in_set"])
    return jsonify({"items": rows})


def _evaluation_dict(row) -> dict:
    out = dict(row._mapping)
    out["summary"] = json.loads(out["summary"] or "{}")
    out["policies_dirty"] = None if out["policies_dirty"] is None else bool(out["policies_dirty"])
    return out


@bp.route("/evaluations")
@roles(*READ)
def evaluations():
    from sqlalchemy import select

    from dialtone.engine.store.tables import evaluations as table

    with _store().read() as conn:
        query = select(table).order_by(table.c.id.desc()).limit(200)
        rows = [_evaluation_dict(r) for r in conn.execute(query)]
    return jsonify({"items": rows})


@bp.route("/evaluations/<int:evaluation_id>")
@roles(*READ)
def evaluation(evaluation_id: int):
    from sqlalchemy import select

    from dialtone.engine.store.tables import evaluations as table
    from dialtone.engine.store.tables import policy_runs

    if _too_big(evaluation_id):
        return api_error(404, "not_found", f"no evaluation {evaluation_id}")
    with _store().read() as conn:
        row = conn.execute(select(table).where(table.c.id == evaluation_id)).first()
        if row is None:
            return api_error(404, "not_found", f"no evaluation {evaluation_id}")
        runs = [dict(r._mapping) for r in conn.execute(
            select(policy_runs).where(policy_runs.c.evaluation_id == evaluation_id)
            .order_by(policy_runs.c.policy_id))]
    for r in runs:
        r["params"] = json.loads(r["params"] or "{}")
    return jsonify({**_evaluation_dict(row), "runs": runs})


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

    try:
        limit = min(int(request.args.get("limit", 50)), MAX_LIMIT)
    except ValueError:
        return _bad("limit must be an integer")
    if limit < 1:
        return _bad("limit must be at least 1")
    store = _store()
    return jsonify({"items": list_runs(store, limit), "in_progress": current_lock(store)})


@bp.route("/runs/<int:run_id>")
@roles(*READ)
def run(run_id: int) -> Response:
    from dialtone.engine.runs import get_run

    found = None if _too_big(run_id) else get_run(_store(), run_id)
    if found is None:
        return api_error(404, "not_found", f"no run {run_id}")
    return jsonify(found)
