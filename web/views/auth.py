"""Logging in and out.

Logging in starts a server-side session (engine/store/accounts.py); logging out ends that
session only, so that leaving a shared computer does not sign the user out of their other
browsers. A password change, disabling the account or changing its role ends all of them.
Login attempts are rate-limited per address and per account (web/app.py). Sign-ins, their
failures (with the reason, never the password) and sign-outs go to the audit log. When an
OpenID provider is configured the login page offers it (web/views/oidc.py), and logging out of
such a session also signs out at the provider when it offers that (RP-initiated logout).
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for

from dialtone.engine.store.accounts import (
    AccountError,
    authenticate,
    end_session,
    live_session,
    start_session,
)
from dialtone.engine.store.workflow import audit_writer

from ..security import READ, client_address, public, roles, safe_next
from . import drafts, oidc
from .fields import MAX_LOGIN_PASSWORD, MAX_LOGIN_USERNAME, FieldError, text_value

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    error, status = None, 200
    config = current_app.extensions["dialtone.config"]
    local_accounts = config.oidc is None or config.oidc.local_accounts
    if request.method == "POST":
        store = current_app.extensions["dialtone.store"]
        password = request.form.get("password", "")
        try:
            username = text_value(request.form.get("username", ""), "username", MAX_LOGIN_USERNAME)
            if len(password) > MAX_LOGIN_PASSWORD:
                raise FieldError(f"password: at most {MAX_LOGIN_PASSWORD:,} characters")
            user = authenticate(store, username, password, local_accounts=local_accounts,
                                audit=audit_writer(store, f"web:{client_address()}"))
        except FieldError as exc:
            error, status = str(exc), 400
        except AccountError as exc:
            error, status = str(exc), 401
        else:
            draft = drafts.kept_for(user.username)   # a form's draft waits for its own author
            session.clear()
            if draft is not None:
                session[drafts.SESSION_KEY] = draft
            session[drafts.WHO_KEY] = user.username
            session.permanent = True
            session["sid"] = start_session(store, user, client_address(),
                                           current_app.permanent_session_lifetime)
            session["role"] = user.role
            return redirect(safe_next(request.args.get("next")))
    return render_template("login.html", error=error, next=request.args.get("next", ""),
                           draft=drafts.waiting(), oidc=config.oidc, local_accounts=local_accounts), status


@bp.route("/logout", methods=["POST"])
@roles(*READ)
def logout():
    store = current_app.extensions["dialtone.store"]
    sid = session.get("sid")
    provider_logout = None
    if isinstance(sid, str):
        provider_logout = oidc.logout_url(live_session(store, sid))
        end_session(store, sid, audit=audit_writer(store, f"web:{client_address()}"),
                    actor=g.user.username)
    session.clear()
    if provider_logout:
        return redirect(provider_logout)
    flash("You are logged out.")
    return redirect(url_for("auth.login"))
