"""Drafts: what a form held when it was sent after its session (or its security token) expired.

Instead of losing what was typed, the form's fields are kept on the server for a short time,
keyed by a random token in the signed session cookie (never in a URL), and the user is sent to
sign in and then back to the page the form was on, where the page shows them again to send.

Only a form sent from this site is kept: a cross-site post (a forged form) is refused as before
and leaves the session alone. Only the fields of the pages' forms are kept, each within its
limit; a draft lives ``LIFETIME``, is read once, and is given back only to the account that
typed it (another account signing in in the same browser does not see it).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from urllib.parse import urlsplit

from flask import g, request, session, url_for

from .fields import MAX_TEXT

#: How long a draft waits for its user to sign in again.
LIFETIME = 30 * 60
#: Drafts kept at most (the oldest go first): memory stays bounded whatever is posted.
MOST = 1000
SESSION_KEY = "draft"
#: The signed session's note of who signed in last in this browser: kept when an ended session is
#: cleared, so that a draft is given back only to the account that typed it.
WHO_KEY = "who"

_lock = threading.Lock()
_drafts: OrderedDict[str, tuple[float, str, dict, str | None]] = OrderedDict()


def _finding_draft(args: dict, form) -> tuple[str, dict]:
    typed = {k: form.get(k, "")[:MAX_TEXT] for k in ("action", "text", "assignee", "ticket", "expires_on")}
    return url_for("pages.finding", finding_id=args["finding_id"]), typed


def _decision_draft(args: dict, form) -> tuple[str, dict]:
    view = form.get("view", "requested")[:20]
    page = (url_for("pages.exception_page", exception_id=args["exception_id"]) if form.get("back") == "detail"
            else url_for("pages.exceptions_page", view=view))
    return (page,
            {"exception_id": args["exception_id"], "note": form.get("note", "")[:MAX_TEXT]})


#: The forms whose drafts are kept: endpoint -> (the page it was on, what it held).
FORMS = {"pages.finding_action": _finding_draft, "pages.decide_exception": _decision_draft}


def from_this_site() -> bool:
    """Whether the request was sent by one of this site's pages (its Origin, else its Referer,
    names this host): a forged cross-site form gets no draft."""
    source = request.headers.get("Origin") or request.headers.get("Referer")
    return bool(source) and urlsplit(source).netloc == request.host


def keep() -> str | None:
    """Keep the posted form as a draft when it is one of the pages' forms sent from this site;
    returns the page to come back to (None: nothing kept)."""
    make = FORMS.get(request.endpoint or "")
    if request.method != "POST" or make is None or not from_this_site():
        return None
    page, typed = make(request.view_args or {}, request.form)
    token = secrets.token_urlsafe(24)
    now = time.monotonic()
    with _lock:
        for old in [k for k, (at, *_) in _drafts.items() if at < now - LIFETIME]:
            del _drafts[old]
        while len(_drafts) >= MOST:
            _drafts.popitem(last=False)
        who = session.get(WHO_KEY)
        _drafts[token] = (now, urlsplit(page).path, typed, who if isinstance(who, str) else None)
    session[SESSION_KEY] = token
    return page


def kept_for(username: str) -> str | None:
    """At sign-in: the draft key to carry into the new session when the draft was typed by this
    account; a draft typed by someone else (or by nobody known) in this browser is dropped."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str):
        return None
    with _lock:
        found = _drafts.get(token)
        if found is None or found[3] != username:
            _drafts.pop(token, None)
            return None
    return token


def waiting() -> bool:
    """Whether this browser has a draft waiting (the sign-in page says so)."""
    token = session.get(SESSION_KEY)
    with _lock:
        found = _drafts.get(token) if isinstance(token, str) else None
    return found is not None and found[0] >= time.monotonic() - LIFETIME


def take(path: str) -> dict | None:
    """The draft kept for the page at ``path``, once (None when there is none)."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str):
        return None
    with _lock:
        found = _drafts.get(token)
        if found is None or found[1] != path:
            return None
        del _drafts[token]
    user = g.get("user")
    if user is None or found[3] != user.username:
        return None      # typed by another account in this browser: not shown to this one
    session.pop(SESSION_KEY, None)
    at, _, typed, _ = found
    if at < time.monotonic() - LIFETIME:
        return None
    from flask import flash

    flash("The form had expired; what you typed is kept below: check it and send it again.")
    return typed
