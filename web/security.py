"""Who may do what in the web application, and the protections every response carries.

Every view declares the roles allowed to use it (``@roles(...)``) or that it is
public (``@public``); a request to a view that declares neither is refused,
so a forgotten decorator fails closed. Pages authenticate with the session
cookie, the JSON API with ``Authorization: Bearer <token>`` only (so it needs
no CSRF token and a stolen page session cannot drive it). The cookie names a
server-side session (engine/store/accounts.py), checked on every request, so
that logging out or changing the password ends it wherever it was copied to, and it ends after
``web.idle_timeout`` without a request. A session signed in through an OpenID provider re-reads
the person's groups every ``oidc.refresh_interval`` (web/views/oidc.py). A read-only API token is
refused on anything but GET and HEAD.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlsplit

from flask import abort, current_app, g, jsonify, redirect, render_template, request, session, url_for

log = logging.getLogger(__name__)

READ = ("admin", "officer", "auditor")
ACT = ("admin", "officer")
ADMIN = ("admin",)
#: Who may read the audit log: administrators, and auditors (read-only, as everything they see).
AUDIT_LOG = ("admin", "auditor")
#: Who may read the notifications outbox (its recipients are people's addresses: personal data
#: auditors have no need for; they see a finding's tickets on its page and in evidence packages).
NOTIFICATIONS = ("admin", "officer")
#: Strict-Transport-Security max-age on HTTPS responses: a year.
HSTS_SECONDS = 365 * 24 * 3600

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")


def roles(*allowed: str) -> Callable:
    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            user = g.get("user")
            if user is None:
                if request.blueprint == "api":
                    return api_error(401, "unauthenticated", "send Authorization: Bearer <token>")
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if user.role not in allowed:
                if request.blueprint == "api":
                    return api_error(403, "forbidden", f"the {user.role} role cannot do this")
                abort(403)
            return view(*args, **kwargs)

        wrapped.allowed_roles = allowed
        return wrapped
    return decorate


def public(view: Callable) -> Callable:
    view.allowed_roles = "public"
    return view


STORE_UNAVAILABLE = ("The findings store could not be read or written just now. Try again in a "
                     "moment; if it goes on, the server's log says why.")


def store_unavailable(exc: Exception):
    """A StoreError, on a page or the API. Its message names the store (a file path, or a
    database host and user) and the database's own words: for the server's log, not for whoever
    uses the pages."""
    log.error("%s %s: %s", request.method, request.path, exc)
    if request.blueprint == "api":
        return api_error(503, "store_unavailable", STORE_UNAVAILABLE)
    return render_template("error.html", title="Store unavailable", message=STORE_UNAVAILABLE), 503


def api_error(status: int, code: str, message: str):
    response = jsonify({"error": {"status": status, "code": code, "message": message}})
    response.status_code = status
    return response


#: The longest ``next`` followed, as the session cookie would carry it (JSON: a non-ASCII
#: character takes 6 or 12 bytes). An OpenID sign-in keeps it in the signed cookie while the
#: person is at the provider, and a browser drops a cookie over 4 KB without a word: that
#: browser's sign-ins would then fail. No page of the site needs a longer address.
NEXT_LONGEST = 2000


def safe_next(target: str | None) -> str:
    """Only a path on this site: no scheme, no host, no protocol-relative ``//evil``, no
    control character (a CR or LF cannot go into a Location header), and no longer than
    ``NEXT_LONGEST``; the dashboard otherwise."""
    if not target or _CONTROL.search(target) or len(target) > NEXT_LONGEST \
            or len(json.dumps(target)) - 2 > NEXT_LONGEST:
        return url_for("pages.dashboard")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return url_for("pages.dashboard")
    return target


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def client_address() -> str:
    """Where the request comes from: the peer, or the client a trusted proxy names
    (``web.trusted_proxy``; waitress rewrites the address before the application sees it)."""
    return request.remote_addr or "?"


#: What a read-only API token may do.
READ_ONLY_METHODS = ("GET", "HEAD")


def load_user():
    from dialtone.engine.oidc_settings import TOKEN_CONFIRMATION
    from dialtone.engine.store.accounts import TokenUnconfirmed, live_session, user_for_token

    store = current_app.extensions["dialtone.store"]
    config = current_app.extensions["dialtone.config"]
    local_accounts = config.oidc is None or config.oidc.local_accounts
    g.user = None
    if request.endpoint == "static":
        return None      # a stylesheet needs nobody, and must not re-read groups at the provider
    if request.blueprint == "api":
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            # OpenID accounts' tokens last while the provider confirms the account (also once
            # OpenID sign-in is turned off: nothing confirms them then).
            confirmation = config.oidc.token_confirmation if config.oidc else TOKEN_CONFIRMATION
            try:
                g.user = user_for_token(store, header[len("Bearer "):].strip(), origin=client_address(),
                                        local_accounts=local_accounts, confirmation=confirmation)
            except TokenUnconfirmed as exc:
                return api_error(401, "token_unconfirmed", str(exc))
        if g.user is not None and g.user.read_only and request.method not in READ_ONLY_METHODS:
            return api_error(403, "read_only_token",
                             "this API token is read-only: it can only read (GET and HEAD)")
        return None
    sid = session.get("sid")
    if isinstance(sid, str):
        live = live_session(store, sid, config.web.idle_timeout)
        g.user = None if live is None else live.user
        if g.user is not None and g.user.auth_source == "oidc":
            from .views.oidc import refresh

            g.user = refresh(store, sid, live)
            if g.user is not None:
                session["role"] = g.user.role     # the groups' role now: this session goes on with it
        elif g.user is not None and g.user.auth_source == "local" and not local_accounts \
                and g.user.role != "admin":
            g.user = None       # local accounts turned off since this session began
        if g.user is None or session.get("role") != g.user.role:
            # Ended (logout, new password, role change), expired or disabled. Who it was stays
            # noted, so a form sent now keeps its draft for that account only (views/drafts.py).
            who = session.get("who")
            session.clear()
            if isinstance(who, str):
                session["who"] = who
            g.user = None
    elif session.get("uid") is not None:
        session.clear()      # a cookie from before server-side sessions: log in again
    return None


def require_declared_roles() -> None:
    """Fail closed for any endpoint that forgot to declare who may use it."""
    if request.endpoint is None or request.endpoint == "static":
        return
    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, "allowed_roles", None) is None:
        abort(403)


def security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.blueprint != "static" and request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    if request.is_secure:
        # HTTPS (directly, or at a trusted proxy that said so): browsers keep to it for a year.
        response.headers.setdefault("Strict-Transport-Security", f"max-age={HSTS_SECONDS}")
    return response
