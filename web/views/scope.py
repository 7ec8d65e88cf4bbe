"""The caller's access scope, for the views to pass down to the store's reads (docs/access.md).

Views stay thin: each read of findings (and of what hangs off them: savings, exceptions,
disputes, messages, evidence) takes ``caller()``; the store applies it in SQL."""

from __future__ import annotations

from flask import current_app, g

from dialtone.engine.access import EVERYTHING, Access, resolve


def caller() -> Access:
    """The signed-in account's scope and, for an API token with one, the token's: both apply.
    Nobody signed in (public pages read no findings): everything."""
    user = g.get("user")
    if user is None:
        return EVERYTHING
    return resolve(current_app.extensions["dialtone.config"].scopes, user.scope_names())
