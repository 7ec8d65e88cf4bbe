"""Who may do what in the web application, and the protections every response carries.

Every view declares the roles allowed to use it (``@roles(...)``) or that it is
public (``@public``); a request to a view that declares neither is refused,
so a forgotten decorator fails closed. Pages authenticate with the session
cookie, the JSON API with ``Authorization: Bearer <token>`` only (so it needs
no CSRF token and a stolen page session cannot drive it).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlsplit

from flask import abort, current_app, g, jsonify, redirect, request, session, url_for

READ = ("admin", "officer", "auditor")
ACT = ("admin", "officer")
ADMIN = ("admin",)

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


def api_error(status: int, code: str, message: str):
    response = jsonify({"error": {"status": status, "code": code, "message": message}})
    response.status_code = status
    return response


def safe_next(target: str | None) -> str:
    """Only a path on this site: no scheme, no host, no protocol-relative ``//evil``."""
    if not target:
        return url_for("pages.dashboard")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return url_for("pages.dashboard")
    return target


def load_user() -> None:
    from dialtone.engine.store.accounts import get_user, user_for_token

    store = current_app.extensions["dialtone.store"]
    g.user = None
    if request.blueprint == "api":
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            g.user = user_for_token(store, header[len("Bearer "):].strip())
        return
    uid = session.get("uid")
    if uid is not None:
        g.user = get_user(store, uid)
        if g.user is None or session.get("role") != g.user.role:
            session.clear()  # disabled, deleted or re-roled: log out
            g.user = None


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
    return response
