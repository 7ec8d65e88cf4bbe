"""The pages: thin views over the store's read models and the workflow functions, one module per
area (posture, findings, a finding, exceptions, policies and snapshots, evaluations, evidence,
administration), all on one blueprint so that every endpoint keeps its ``pages.*`` name."""

from __future__ import annotations

from flask import Blueprint, current_app, g
from werkzeug.datastructures import MultiDict

from dialtone.engine.errors import DialtoneError
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


_catalogues: dict[tuple, object] = {}


def catalogue():
    """The frameworks catalogue, parsed again only when one of its files changed (a stat per
    file instead of parsing every YAML file on every dashboard view)."""
    from dialtone.engine.frameworks import framework_dirs, load_catalogue

    paths = current_config().policy_paths
    stamp = [str(paths)]
    for folder in framework_dirs(paths):
        if folder.is_dir():
            stamp += [(str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in sorted(folder.glob("*.yaml"))]
    key = tuple(stamp)
    if key not in _catalogues:
        try:
            catalogue = load_catalogue(paths)
        except DialtoneError:
            catalogue = None
        _catalogues.clear()
        _catalogues[key] = catalogue
    return _catalogues[key]


def framework_title(framework: str) -> str:
    """A framework's title (``SEC Rule 17a-4``) for its id; the id when the catalogue lacks it."""
    found = _cached_catalogue()
    fw = found.frameworks.get(framework) if found else None
    return fw.title if fw else framework


def requirement_title(framework: str, requirement: str) -> str:
    """A requirement's title for its framework and id; the id when the catalogue lacks it."""
    found = _cached_catalogue()
    fw = found.frameworks.get(framework) if found else None
    req = fw.requirement(requirement) if fw else None
    return req.title if req else requirement


def _cached_catalogue():
    # One look at the catalogue's files per request, however many titles a page shows.
    if "dialtone_catalogue" not in g:
        g.dialtone_catalogue = catalogue()
    return g.dialtone_catalogue


@bp.app_context_processor
def _titles() -> dict:
    return {"framework_title": framework_title, "requirement_title": requirement_title}


def single_value(args: MultiDict, name: str, limit: int) -> str | None:
    value = args.get(name) or None
    return None if value is None else fields.text_value(value, name, limit)


# The routes, registered on ``bp`` as each module is imported.
from . import (  # noqa: E402,F401
    admin,
    catalog,
    disputes,
    evaluations,
    evidence,
    exceptions,
    finding,
    findings,
    notifications,
    posture,
)
