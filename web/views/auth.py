"""Logging in and out."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for

from dialtone.engine.store.accounts import AccountError, authenticate

from ..security import READ, public, roles, safe_next

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    error = None
    if request.method == "POST":
        store = current_app.extensions["dialtone.store"]
        try:
            user = authenticate(store, request.form.get("username", ""), request.form.get("password", ""))
        except AccountError as exc:
            error = str(exc)
        else:
            session.clear()
            session.permanent = True
            session["uid"], session["role"] = user.id, user.role
            return redirect(safe_next(request.args.get("next")))
    return render_template("login.html", error=error, next=request.args.get("next", "")), \
        (401 if error else 200)


@bp.route("/logout", methods=["POST"])
@roles(*READ)
def logout():
    session.clear()
    flash("You are logged out.")
    return redirect(url_for("auth.login"))
