"""The pages: thin views over the store's read models and the workflow functions, one module per
area (posture, findings, a finding, exceptions, the catalogue of what was evaluated, evidence,
administration), all on one blueprint so that every endpoint keeps its ``pages.*`` name."""

from __future__ import annotations

from flask import Blueprint, current_app
from werkzeug.datastructures import MultiDict

from dialtone.engine.store import workflow

from ...security import client_address
from .. import fields
from ..fields import LIMITS

bp = Blueprint("pages", __name__)
PAGE = 50


def current_store():
    return current_app.extensions["dialtone.store"]


def current_config():
    return current_app.extensions["dialtone.config"]


def web_audit():
    # The peer's address, or the client's as a trusted proxy gave it (never a header a client
    # could set itself).
    return workflow.audit_writer(current_store(), f"web:{client_address()}")


@bp.app_context_processor
def _limits() -> dict:
    return {"limits": LIMITS}


def single_value(args: MultiDict, name: str, limit: int) -> str | None:
    value = args.get(name) or None
    return None if value is None else fields.text_value(value, name, limit)


# The routes, registered on ``bp`` as each module is imported.
from . import admin, catalog, evidence, exceptions, finding, findings, posture  # noqa: E402,F401
