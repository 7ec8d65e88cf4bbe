"""The pages: thin views over the store's read models and the workflow functions."""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import date
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from werkzeug.datastructures import MultiDict

from dialtone.engine import csvsafe
from dialtone.engine.errors import DialtoneError
from dialtone.engine.policy.model import CATEGORIES, SEVERITIES
from dialtone.engine.store import STATUSES, queries, reads, workflow
from dialtone.engine.store import exceptions as exc_mod
from dialtone.engine.store.lifecycle import STANDING

from ..security import ACT, ADMIN, READ, client_address, roles, safe_next
from . import fields
from .fields import LIMITS, MAX_FRAMEWORK, MAX_NAME, MAX_POLICY, MAX_SEARCH, MAX_TEXT, FieldError

bp = Blueprint("pages", __name__)
PAGE = 50


def _store():
    return current_app.extensions["dialtone.store"]


def _config():
    return current_app.extensions["dialtone.config"]


def _audit():
    # The peer's address, or the client's as a trusted proxy gave it (never a header a client
    # could set itself).
    return workflow.audit_writer(_store(), f"web:{client_address()}")


@bp.app_context_processor
def _limits() -> dict:
    return {"limits": LIMITS}


_catalogues: dict[tuple, object] = {}


def _catalogue():
    """The frameworks catalogue, parsed again only when one of its files changed (a stat per
    file instead of parsing every YAML file on every dashboard view)."""
    from dialtone.engine.frameworks import framework_dirs, load_catalogue

    paths = _config().policy_paths
    stamp = [str(paths)]
    for folder in framework_dirs(paths):
        if folder.is_dir():
            stamp += [(str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in sorted(folder.glob("*.yaml"))]
    key = tuple(stamp)
    if key not in _catalogues:
        try:
            catalogue = load_catalogue(paths)
        except DialtoneError:
            catalogue = None
        _catalogues.clear()
        _catalogues[key] = catalogue
    return _catalogues[key]


@bp.route("/")
@roles(*READ)
def dashboard():
    from dialtone.engine.store.dashboard import posture

    figures = posture(_store(), _catalogue())
    return render_template("dashboard.html", p=figures, severities=SEVERITIES[::-1],
                           freshness=_freshness())


def _freshness() -> dict | None:
    """Each source of the latest snapshot: its status in that collect, when its data was last
    collected and how old that is now, against its ``max_age``; and the entities the snapshot
    already held too old (policies reading only them report an error)."""
    from dialtone.engine.freshness import describe_age, stale_entities
    from dialtone.engine.snapshots import SnapshotStore

    from .runs import moment

    try:
        snap = SnapshotStore(_config().data_dir).get(None)
    except DialtoneError:
        return None
    now = _store().now()
    rows = []
    for name, src in sorted((snap.manifest.get("sources") or {}).items()):
        collected = moment(src.get("collected_at"))
        age = (now - collected).total_seconds() if collected else None
        limit = src.get("max_age_seconds")
        status = src.get("status") or "collected"   # snapshots from before statuses were recorded
        past = limit is not None and (age is None or age > limit)
        rows.append({"source": name, "collector": src.get("collector"), "status": status,
                     "collected_at": src.get("collected_at"),
                     "age": describe_age(max(age, 0)) if age is not None else None,
                     "max_age": describe_age(limit) if limit is not None else None,
                     "past_max_age": past, "problem": status in ("stale", "failed") or past,
                     "error": src.get("error"), "failed_at": src.get("failed_at"),
                     "rows": sum((src.get("rows") or {}).values()) if isinstance(src.get("rows"), dict)
                     else src.get("rows"), "rejects": src.get("rejects")})
    return {"snapshot": snap.id, "as_of": snap.as_of.isoformat(),
            "created_at": snap.manifest.get("created_at"), "sources": rows,
            "stale_entities": sorted(stale_entities(snap.manifest).items())}


def _single(args: MultiDict, name: str, limit: int) -> str | None:
    value = args.get(name) or None
    return None if value is None else fields.text_value(value, name, limit)


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
        framework=_single(args, "framework", MAX_FRAMEWORK),
        overdue=args.get("overdue") == "1",
        assignee=_single(args, "assignee", MAX_NAME),
        search=_single(args, "q", MAX_SEARCH),
    )


@bp.route("/findings")
@roles(*READ)
def findings():
    fmt = request.args.get("format")
    if fmt in ("csv", "json"):
        return _download(queries.list_findings(_store(), _filter_from(request.args)), fmt)
    return _findings_page(request.args)


def _findings_page(args: MultiDict, typed: dict | None = None, status: int = 200):
    """The findings page for the filter in ``args``; ``typed``: what the bulk-assign form held
    when it was refused (shown again with the message)."""
    flt = _filter_from(args)
    after = fields.cursor_value(args.get("after"), "after")
    rows = queries.list_findings(_store(), queries.FindingFilter(**{**flt.__dict__, "limit": PAGE + 1,
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
        missing = sorted(set(ids) - reads.existing_findings(_store(), ids))
        if missing:
            raise FieldError(f"no finding {missing[0]}")
    except FieldError as exc:
        # The findings page the form was on, with what was typed and ticked, and why not.
        flash(str(exc))
        return _findings_page(_referrer_args(), {"assignee": raw_assignee, "selected": set(raw_ids)}, 400)
    for fid in ids:
        workflow.assign(_store(), fid, assignee, g.user.username, _audit())
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


@bp.route("/findings/<id:finding_id>")
@roles(*READ)
def finding(finding_id: int):
    return _finding_page(finding_id)


def _finding_page(finding_id: int, typed: dict | None = None, status: int = 200):
    """A finding; ``typed``: what an action's form held when it was refused (shown again)."""
    detail = queries.finding_detail(_store(), finding_id)
    if detail is None:
        abort(404)
    others = queries.resource_findings(_store(), detail["resource_type"], detail["resource_id"],
                                       exclude=finding_id)
    run = reads.policy_run(_store(), detail["policy_id"], detail["last_seen_evaluation"])
    return render_template("finding.html", f=detail, others=others, run=run,
                           timeline=_timeline(detail["history"], _exception_requests(detail)),
                           min_expiry=_store().today().isoformat(), typed=typed or {}), status


def _exception_requests(detail: dict) -> list[dict]:
    """Exception requests made in the product that cover this finding but are not in its history
    (they join it once the exception applies): shown from the exceptions, marked as outside the
    finding's chain."""
    seen = {e["exception_id"] for e in detail["history"] if e.get("exception_id") is not None}
    return [r for r in reads.exception_requests(_store(), detail["policy_id"], detail["resource_id"])
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
    store, actor, audit = _store(), g.user.username, _audit()
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


@bp.route("/exceptions")
@roles(*READ)
def exceptions_page():
    return _exceptions_page(request.args.get("view", "requested"))


def _exceptions_page(view: str, typed: dict | None = None, status: int = 200):
    """The exceptions of one view; ``typed``: the refused decision's note, kept in its form."""
    if view not in queries.EXCEPTION_VIEWS:
        view = "all"
    rows = queries.list_exceptions(_store(), view)
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
        exc_mod.decide(_store(), exception_id, decision, g.user.username, note, audit=_audit())
    except DialtoneError as exc:
        flash(str(exc))
        return _exceptions_page(view, {"exception_id": exception_id, "note": raw_note}, 400)
    flash(f"Exception {exception_id}: {decision}d.")
    return redirect(url_for("pages.exceptions_page",
                            view=view if view in queries.EXCEPTION_VIEWS else "requested"))


@bp.route("/policies")
@roles(*READ)
def policies_page():
    return render_template("policies.html", rows=reads.list_policies(_store()))


@bp.route("/policies/<policy_id>")
@roles(*READ)
def policy_page(policy_id: str):
    from dialtone.engine.compiler import compile_policy
    from dialtone.engine.policy.loader import load_policies
    from dialtone.engine.replay import ReplayError, policy_history

    loaded = load_policies(_config().policy_paths)
    policy = loaded.by_id().get(policy_id)
    if policy is None:
        abort(404)
    params = {**policy.defaults(), **loaded.overrides(_config().params).get(policy_id, {})}
    try:
        sql = compile_policy(policy).sql
    except DialtoneError as exc:
        sql = {"error": str(exc)}
    try:
        history = policy_history(Path(policy.abspath))
    except ReplayError:
        history = []
    text = Path(policy.abspath).read_text(encoding="utf-8")
    return render_template("policy.html", p=policy, params=params, sql=sql, history=history[:30],
                           text=text)


@bp.route("/evaluations")
@roles(*READ)
def evaluations_page():
    return render_template("evaluations.html", rows=reads.list_evaluations(_store()))


@bp.route("/evaluations/<id:evaluation_id>")
@roles(*READ)
def evaluation_page(evaluation_id: int):
    detail = reads.evaluation_detail(_store(), evaluation_id)
    if detail is None:
        abort(404)
    return render_template("evaluation.html", ev=detail, runs=detail["runs"], summary=detail["summary"])


@bp.route("/snapshots")
@roles(*READ)
def snapshots_page():
    from dialtone.engine.snapshots import SnapshotStore

    snaps = SnapshotStore(_config().data_dir).list()
    return render_template("snapshots.html", snaps=snaps)


@bp.route("/audit")
@roles(*ADMIN)
def audit_page():
    before = request.args.get("before")
    rows = reads.audit_page(_store(), PAGE + 1,
                            None if before is None else fields.id_value(before, "before"))
    more = len(rows) > PAGE
    return render_template("audit.html", rows=rows[:PAGE], more=more,
                           next_before=rows[PAGE - 1]["id"] if more else None)


@bp.route("/users")
@roles(*ADMIN)
def users_page():
    from dialtone.engine.store.accounts import list_tokens, list_users

    return render_template("users.html", rows=list_users(_store()), tokens=list_tokens(_store()))


@bp.route("/evidence", methods=["GET", "POST"])
@roles(*READ)
def evidence_page():
    if request.method == "POST":
        from dialtone.engine.evidence.package import export_evidence
        from dialtone.engine.evidence.scope import Scope
        from dialtone.engine.policy.loader import load_policies

        config = _config()
        try:
            framework = _single(request.form, "framework", MAX_FRAMEWORK)
            start, end = (date.fromisoformat(request.form[k]) for k in ("from", "to"))
        except (KeyError, ValueError):
            flash("Give the period as two dates, YYYY-MM-DD.")
            return redirect(url_for("pages.evidence_page"))
        scope = Scope(start, end, framework, (), request.form.get("mask_pii") == "1")
        folder = Path(tempfile.mkdtemp(prefix="dialtone-evidence-"))
        try:
            result = export_evidence(_store(), scope, folder / "evidence.zip",
                                     snapshots_dir=config.data_dir / "snapshots",
                                     loaded_policies=load_policies(config.policy_paths).by_id(),
                                     data_dir=config.data_dir, signing_key=config.signing_key)
            # Opened, then removed from the disk: the response streams from the open file, and
            # nothing is left behind however the download ends (finished, or the client gone).
            package = (folder / "evidence.zip").open("rb")
        except DialtoneError as exc:
            flash(str(exc))
            return redirect(url_for("pages.evidence_page"))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        _log_export(scope, result.export_id)
        name = f"dialtone-evidence-{scope.start}-{scope.end}.zip"
        return send_file(package, mimetype="application/zip", as_attachment=True, download_name=name)
    choices = reads.evidence_choices(_store())
    return render_template("evidence.html", frameworks=choices["frameworks"], span=choices["span"],
                           signing=_config().signing_key is not None)


def _log_export(scope, export_id: str) -> None:
    workflow.record(_store(), _audit(), g.user.username, "evidence_export", f"export:{export_id}",
                    scope.as_dict())
