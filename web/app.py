"""The Flask application: thin views over the engine's store, findings and evidence functions."""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import os
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, g, redirect, render_template, request, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

from dialtone.engine.config import Config
from dialtone.engine.errors import DialtoneError
from dialtone.engine.freshness import describe_age
from dialtone.engine.store import StoreError

from .security import load_user, require_declared_roles, safe_next, security_headers, store_unavailable
from .views import drafts
from .views.fields import IdConverter

SECRET_ENV = "DIALTONE_SECRET_KEY"


class WebConfigError(DialtoneError):
    pass


def secret_key(config: Config) -> str:
    """From $DIALTONE_SECRET_KEY or the file ``<data_dir>/secret_key`` (``dialtone demo`` writes
    one); never a built-in default."""
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV]
    path = config.data_dir / "secret_key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    raise WebConfigError(f"no secret key: set ${SECRET_ENV} or write a random value to {path} "
                         f"(e.g. python -c 'import secrets; print(secrets.token_hex(32))' > {path})")


def ensure_secret_key(config: Config) -> Path | None:
    """A first ``dialtone serve`` in a workspace creates the session key it needs: a random
    value in ``<data_dir>/secret_key`` (0600). Returns the file when it was created now; None
    when $DIALTONE_SECRET_KEY is set or the file exists (it is never replaced)."""
    from dialtone.engine.private_files import write_new_secret

    if os.environ.get(SECRET_ENV):
        return None
    path = config.data_dir / "secret_key"
    return path if write_new_secret(path) else None


def create_app(config: Config, *, store=None, testing: bool = False, key: str | None = None,
               secure_cookies: bool = True, schema_gate: bool = False) -> Flask:
    """The application. ``schema_gate``: the store may be behind this version's schema (opened
    unchecked); /healthz answers, /readyz and every other page answer 503 until ``dialtone db
    upgrade`` has run (docs/operations.md)."""
    from dialtone.engine.store import Store
    from dialtone.engine.store.db import head_revision

    check_web_settings(config)
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.config.update(
        SECRET_KEY=key or secret_key(config),
        TESTING=testing,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure_cookies,
        SESSION_COOKIE_NAME="dialtone_session",
        PERMANENT_SESSION_LIFETIME=config.web.session_lifetime,
        WTF_CSRF_TIME_LIMIT=int(config.web.session_lifetime.total_seconds()),
        MAX_CONTENT_LENGTH=1 << 20,
    )
    app.url_map.converters["id"] = IdConverter   # before the blueprints add their routes
    app.extensions["dialtone.config"] = config
    app.extensions["dialtone.store"] = store or Store.from_config(config, check=not schema_gate)
    app.extensions["dialtone.head_revision"] = head_revision()
    app.extensions["dialtone.schema_current"] = not schema_gate   # else web/views/ops.py checks
    from .metrics import AppMetrics

    app.extensions["dialtone.metrics"] = AppMetrics(app.extensions["dialtone.store"])
    if not testing:
        # Pages and the API only read; what expires on a day with no evaluation or action
        # expires at midnight all the same (engine/store/exceptions.py).
        from dialtone.engine.store.exceptions import keep_expiring

        stop = threading.Event()
        app.extensions["dialtone.expiry"] = stop
        if schema_gate:   # it writes: not before the schema is current (web/views/ops.py)
            app.extensions["dialtone.when_schema_current"] = functools.partial(
                keep_expiring, app.extensions["dialtone.store"], stop)
        else:
            keep_expiring(app.extensions["dialtone.store"], stop)
    csrf = CSRFProtect(app)

    from .views import api, auth, finance, oidc, ops, pages, runs

    app.register_blueprint(ops.bp)
    oidc.setup(app, config.oidc)
    app.register_blueprint(auth.bp)
    app.register_blueprint(oidc.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(finance.bp)
    app.register_blueprint(runs.bp)
    app.register_blueprint(api.bp, url_prefix="/api/v1")
    csrf.exempt(api.bp)  # bearer tokens only: no ambient cookie to forge requests with

    from . import request_log

    request_log.install(app, config)   # first: it times whatever the other hooks do
    if schema_gate:
        app.before_request(_schema_gate)
    app.before_request(_not_for_ops(load_user))
    app.before_request(_not_for_ops(_keep_expired_draft))
    app.before_request(require_declared_roles)
    app.after_request(security_headers)
    _limit_sign_in(app, config)

    from .charts import line_chart

    def trend_chart(rows):
        # Savings are per currency and cannot share one axis: the chart draws open findings,
        # the table under it gives each evaluation's savings per currency.
        return line_chart(rows, [("open_after", "open findings", "c-open")])

    @app.context_processor
    def _globals():
        return {"user": g.get("user"), "trend_chart": trend_chart}

    from . import display

    store_of = app.extensions["dialtone.store"]
    app.add_template_filter(display.when, "when")
    app.add_template_filter(display.day, "day")
    app.add_template_filter(display.num, "num")
    app.add_template_filter(display.show, "show")
    # Relative to the store's clock (a test's fixed clock, the server's otherwise).
    app.add_template_filter(lambda value: display.due(value, store_of.today()), "due")
    app.add_template_filter(lambda value: display.ago(value, store_of.now()), "ago")

    @app.template_filter("money")
    def _money(value) -> str:
        """Amounts per currency (``{"GBP": 1200.0}`` → ``GBP 1,200``), never added together."""
        from dialtone.engine.savings import format_totals

        if isinstance(value, dict):
            return format_totals({k: v for k, v in value.items() if v}) if any(value.values()) \
                else "none"
        # Evaluations recorded before savings were kept per currency: one mixed figure.
        return f"{value:,.2f} (currencies not told apart)" if value else "none"

    @app.errorhandler(403)
    def _forbidden(_):
        return render_template("error.html", title="Not allowed",
                               message="Your role cannot open this page or do this."), 403

    @app.errorhandler(404)
    def _not_found(_):
        return render_template("error.html", title="Not found", message="There is nothing here."), 404

    @app.errorhandler(DialtoneError)
    def _user_error(exc):
        return render_template("error.html", title="Cannot do that", message=str(exc)), 400

    app.register_error_handler(StoreError, store_unavailable)

    @app.errorhandler(429)
    def _too_many(exc):
        # Only logging in is limited (the API's own handler would answer there in its shape).
        breached = app.extensions["dialtone.limiter"].current_limit
        wait = describe_age(max(60.0, breached.reset_at - time.time())) if breached else "a while"
        return render_template("error.html", title="Too many attempts",
                               message="Too many sign-in attempts from this address or for this "
                                       f"account. Try again in {wait}."), 429

    from flask_wtf.csrf import CSRFError

    @app.errorhandler(CSRFError)
    def _csrf(exc):
        # The token is checked before the user is loaded: load them to know where to go.
        load_user()
        page = drafts.keep()
        if page is not None:
            # A form of this site whose token expired: what was typed is kept for the page.
            if g.user is None:
                return redirect(url_for("auth.login", next=page))
            return redirect(page)
        back = request.referrer if drafts.from_this_site() else None
        return render_template("error.html", title="Form expired",
                               message="This form's security token has expired or is missing (it was open "
                                       "too long, or was not sent from Dialtone's own page). Open the "
                                       "page again and send it from there.",
                               back=safe_next(urlsplit(back).path) if back else None,
                               sign_in=g.user is None), 400

    return app


def _not_for_ops(hook):
    """``hook``, skipped for /healthz, /readyz and /metrics: they read no session and no user
    (a health check must not touch the store, and none of them has a user)."""
    @functools.wraps(hook)
    def wrapped():
        return None if request.blueprint == "ops" else hook()
    return wrapped


def _schema_gate():
    """Under ``schema_gate``: every page but the ops endpoints answers 503 while the schema is
    behind (checked per request until it is current, then never again)."""
    from flask import current_app, jsonify

    from .views.ops import schema_state

    if request.blueprint == "ops" or request.endpoint == "static":
        return None
    try:
        current, problem = schema_state(current_app)
    except StoreError:
        current, problem = False, "the store cannot be reached"
    if current:
        return None
    response = jsonify({"error": {"status": 503, "code": "not_ready",
                                  "message": f"Dialtone is not ready: {problem}"}})
    response.status_code = 503
    response.headers["Retry-After"] = "30"
    return response


def _keep_expired_draft():
    """A page's form sent after its session ended (expired, or signed out elsewhere): its draft
    is kept, and sign-in leads back to the page the form was on rather than to the form's
    address (web/views/drafts.py)."""
    if g.user is None and request.method == "POST" and request.blueprint == "pages":
        page = drafts.keep()
        if page is not None:
            return redirect(url_for("auth.login", next=page))
    return None


def check_web_settings(config: Config) -> None:
    """What the configuration's schema cannot check about ``web:``."""
    proxy = config.web.trusted_proxy
    if proxy not in (None, "*"):
        try:
            ipaddress.ip_address(proxy)
        except ValueError:
            raise WebConfigError(f"web.trusted_proxy: {proxy!r} is not an IP address (or '*' for any "
                                 "peer)") from None


def _account_key() -> str:
    # Keyed by a digest: the limiter's storage never holds what was typed as a username.
    username = request.form.get("username", "")
    return "account:" + hashlib.sha256(username.encode("utf-8", "replace")).hexdigest()


def _limit_sign_in(app: Flask, config: Config) -> None:
    """Rate limits on login attempts (POST /login), per client address and per account, from
    ``web.sign_in_limit_per_*`` (Flask-Limiter; its storage: ``web.rate_limit_storage``,
    in memory by default). Each attempt costs an Argon2 verification: without a limit, a flood of
    attempts takes the CPU from everybody else. A limit reached answers 429."""
    from limits.errors import ConfigurationError

    web = config.web
    try:
        # A shared storage that cannot be reached falls back to counting in memory: still limited.
        limiter = Limiter(key_func=get_remote_address, app=app, storage_uri=web.rate_limit_storage,
                          headers_enabled=True, in_memory_fallback_enabled=True)
    except ConfigurationError as exc:
        raise WebConfigError(f"web.rate_limit_storage: {exc}") from None
    login = app.view_functions["auth.login"]
    # Checked in this order: every attempt counts against its address, even one its account's
    # limit then refuses.
    login = limiter.limit(web.sign_in_limit_per_address, methods=["POST"])(login)
    login = limiter.limit(web.sign_in_limit_per_account, key_func=_account_key, methods=["POST"])(login)
    app.view_functions["auth.login"] = login
    app.extensions["dialtone.limiter"] = limiter


def static_path() -> Path:
    return Path(__file__).parent / "static"
