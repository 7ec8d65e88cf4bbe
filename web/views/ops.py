"""For load balancers and monitoring: ``/healthz``, ``/readyz`` and ``/metrics`` (docs/operations.md).

All three are ``@public`` (a load balancer has no account) and GET only, so CSRF never applies;
the application does not load a user or touch the session for them (web/app.py). Their bodies
carry no secret and no personal data: no store URL, no database error text (that goes to the
server's log), no user. ``/metrics`` asks for ``Authorization: Bearer <token>`` when
``ops.metrics_token_file`` or ``$DIALTONE_METRICS_TOKEN`` sets one.
"""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dialtone.engine.errors import DialtoneError

from ..security import public

log = logging.getLogger(__name__)
bp = Blueprint("ops", __name__)

SCHEMA_BEHIND = "schema behind: run `dialtone db upgrade`"


def schema_state(app) -> tuple[bool, str | None]:
    """(current, what is wrong): whether the store's schema is this version's. Once current it
    stays so for this process (migrations only go forward), so a current schema costs nothing
    after the first check; until then each call reads the one-row alembic_version table."""
    if app.extensions.get("dialtone.schema_current"):
        return True, None
    from dialtone.engine.store.ops_reads import schema_revision

    revision = schema_revision(app.extensions["dialtone.store"])
    if revision == app.extensions["dialtone.head_revision"]:
        app.extensions["dialtone.schema_current"] = True
        # What waited for the schema (the exceptions' expiry): started once, by whichever
        # request finds it current first (dict.pop is atomic).
        start = app.extensions.pop("dialtone.when_schema_current", None)
        if start is not None:
            start()
        return True, None
    if revision is None:
        return False, "store empty: run `dialtone db upgrade`"
    from dialtone.engine.store.backup import known_revision

    if not known_revision(revision):
        # Upgrading cannot help: the store was migrated by a newer Dialtone than this one.
        return False, f"schema {revision} is newer than this version of Dialtone: run the newer version"
    return False, SCHEMA_BEHIND


@bp.route("/healthz")
@public
def healthz():
    """The process is up and answering; nothing else is checked (no store access)."""
    return jsonify({"status": "ok"})


@bp.route("/readyz")
@public
def readyz():
    """Ready for traffic: the store answers, its schema is current, and (with
    ``ops.max_run_age``) the last completed run is recent enough. 503 names each failed check."""
    checks: dict[str, dict] = {}
    app = current_app._get_current_object()
    try:
        current, problem = schema_state(app)
        checks["store"] = {"ok": True}
        checks["schema"] = {"ok": current} if current else {"ok": False, "detail": problem}
        if current:
            checks["last_run"] = _run_age_check(app)
    except DialtoneError as exc:
        log.error("readiness: the store cannot be read: %s", exc)
        checks["store"] = {"ok": False, "detail": "the store cannot be reached (the server's log says why)"}
    ready = all(c["ok"] for c in checks.values())
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    if not ready:
        body["failed"] = [name for name, c in checks.items() if not c["ok"]]
    response = jsonify(body)
    response.status_code = 200 if ready else 503
    return response


def _run_age_check(app) -> dict:
    from dialtone.engine.store.ops_reads import last_completed_run

    from ..metrics import parse_time

    config = app.extensions["dialtone.config"]
    max_age = config.ops.max_run_age
    if max_age is None:
        return {"ok": True, "detail": "not checked (ops.max_run_age is not set)"}
    store = app.extensions["dialtone.store"]
    row = last_completed_run(store)
    if row is None:
        return {"ok": False, "detail": "no completed run recorded yet",
                "max_age_seconds": max_age.total_seconds()}
    age = (store.now() - parse_time(row.finished_at or row.started_at)).total_seconds()
    result = {"ok": age <= max_age.total_seconds(), "age_seconds": round(max(age, 0.0)),
              "max_age_seconds": max_age.total_seconds()}
    if not result["ok"]:
        result["detail"] = "the last completed run is older than ops.max_run_age"
    return result


@bp.route("/metrics")
@public
def metrics():
    """Prometheus text exposition of the store's figures and this process's request latency."""
    config = current_app.extensions["dialtone.config"]
    try:
        token = config.ops.metrics_token()
    except DialtoneError as exc:
        # A misconfigured token never opens the endpoint.
        log.error("metrics: %s", exc)
        return _plain(503, "metrics unavailable: the metrics token cannot be read (the server's log says "
                           "why)")
    if token is not None:
        header = request.headers.get("Authorization", "")
        given = header[len("Bearer "):].strip() if header.startswith("Bearer ") else ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            response = _plain(401, "send Authorization: Bearer <metrics token>")
            response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    app = current_app._get_current_object()
    try:
        current, problem = schema_state(app)
        if not current:
            return _plain(503, problem)
        payload = generate_latest(app.extensions["dialtone.metrics"].registry)
    except DialtoneError as exc:
        log.error("metrics: the store cannot be read: %s", exc)
        return _plain(503, "the store cannot be reached (the server's log says why)")
    return Response(payload, mimetype=None, content_type=CONTENT_TYPE_LATEST)


def _plain(status: int, text: str) -> Response:
    return Response(text + "\n", status=status, content_type="text/plain; charset=utf-8")
