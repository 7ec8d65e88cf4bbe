"""Logging in and out.

Logging in starts a server-side session (engine/store/accounts.py); logging out ends that
session only, so that leaving a shared computer does not sign the user out of their other
browsers. A password change, disabling the account or changing its role ends all of them.
Login attempts are rate-limited per address and per account (web/app.py).
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for

from dialtone.engine.store.accounts import AccountError, authenticate, end_session, start_session

from ..security import READ, client_address, public, roles, safe_next
from . import drafts
from .fields import MAX_LOGIN_PASSWORD, MAX_LOGIN_USERNAME, FieldError, text_value

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    error, status = None, 200
    if request.method == "POST":
        store = current_app.extensions["dialtone.store"]
        password = request.form.get("password", "")
        try:
            username = text_value(request.form.get("username", ""), "username", MAX_LOGIN_USERNAME)
            if len(password) > MAX_LOGIN_PASSWORD:
                raise FieldError(f"password: at most {MAX_LOGIN_PASSWORD:,} characters")
            user = authenticate(store, username, password)
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
            session["sid"] = start_session(store, user, client_address())
            session["role"] = user.role
            return redirect(safe_next(request.args.get("next")))
    return render_template("login.html", error=error, next=request.args.get("next", ""),
                           draft=drafts.waiting()), status


@bp.route("/logout", methods=["POST"])
@roles(*READ)
def logout():
    sid = session.get("sid")
    if isinstance(sid, str):
        end_session(current_app.extensions["dialtone.store"], sid)
    session.clear()
    flash("You are logged out.")
    return redirect(url_for("auth.login"))
