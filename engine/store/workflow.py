"""Human actions on findings: assign, comment, resolve by hand, reopen, review.

Each action is one transaction that brings the exceptions up to date (the one expiry rule,
``exceptions.refresh_exceptions``: the finding is acted on as it stands today), changes the
finding, appends an event to the chain and writes the audit log (who, what, when, from where).
Which action applies to which statuses is ``lifecycle.TRANSITIONS``.
"""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update

from ..access import Access
from ..errors import DialtoneError
from . import Store, chain, scoping
from .accounts import AccountError, check_assignee
from .exceptions import refresh_exceptions
from .lifecycle import REVIEW_OUTCOMES, allowed_from, assigned_status, refusal
from .tables import audit_log, findings


class WorkflowError(DialtoneError):
    pass


class FindingNotFound(WorkflowError):
    """No such finding, or one the caller's scope does not allow (answered alike: 404)."""


def audit_writer(store: Store, origin: str):
    """An audit-log writer bound to where the actions come from (``cli:host``, an IP…)."""

    def write(conn: Connection, actor: str, action: str, target: str, data: dict) -> None:
        conn.execute(insert(audit_log).values(at=store.now_text(), actor=actor, action=action,
                                              target=target, origin=origin,
                                              data=chain.canonical_data(data)))
    return write


def record(store: Store, audit, actor: str, action: str, target: str, data: dict) -> None:
    """An audit-log entry on its own (an action that changes nothing in the store, such as an
    evidence export)."""
    with store.write() as conn:
        audit(conn, actor, action, target, data)


def _finding(conn: Connection, finding_id: int, access: Access | None = None):
    query = select(findings).where(findings.c.id == finding_id)
    if scoping.restricted(access):
        query = query.where(access.predicate(findings))
    row = conn.execute(query).first()
    if row is None:
        raise FindingNotFound(f"There is no finding {finding_id}.")
    return row


def _act(store: Store, finding_id: int, actor: str, kind: str, data: dict, audit, *,
         action: str | None = None, values=None, access: Access | None = None) -> None:
    """``action``: its entry in ``lifecycle.TRANSITIONS`` (which statuses it applies to);
    ``values``: the finding's new values, or a function of its connection and row giving them;
    ``access``: the caller's scope, checked in this transaction (engine/store/scoping.py): a
    finding outside it is FindingNotFound, as a missing one."""
    with store.write() as conn:
        scoping.hold(conn, access, findings, [finding_id])
        refresh_exceptions(conn, store)
        row = _finding(conn, finding_id, access)
        if action is not None and row.status not in allowed_from(action):
            raise WorkflowError(refusal(action, row.status))
        if callable(values):
            values = values(conn, row)
        if values:
            conn.execute(update(findings).where(findings.c.id == finding_id)
                         .values(updated_at=store.now_text(), **values))
        if "status" in (values or {}):
            data = {"from": row.status, **data}
        chain.append(conn, [(store.now_text(), actor, kind, finding_id, None, None,
                             chain.canonical_data(data))])
        audit(conn, actor, kind, f"finding:{finding_id}", data)


class NotAssignable(WorkflowError):
    """The assignee is not an account that works findings (unknown, disabled, an auditor)."""


def assign(store: Store, finding_id: int, assignee: str, actor: str, audit, *,
           access: Access | None = None) -> str:
    """Assign to an officer's or admin's account (``accounts.check_assignee``: a name nobody
    has is refused); returns the name as the account spells it."""
    data = {"assignee": assignee}

    def values(conn: Connection, row) -> dict:
        try:
            data["assignee"] = check_assignee(conn, assignee)
        except AccountError as exc:
            raise NotAssignable(str(exc)) from None
        data["previous"] = row.assignee
        changed = assigned_status(row.status)
        return {"assignee": data["assignee"], **({"status": changed} if changed != row.status else {})}

    _act(store, finding_id, actor, "assigned", data, audit, action="assign", values=values, access=access)
    return data["assignee"]


def comment(store: Store, finding_id: int, body: str, actor: str, audit, *,
            access: Access | None = None) -> None:
    if not body.strip():
        raise WorkflowError("The comment is empty.")
    _act(store, finding_id, actor, "commented", {"comment": body}, audit, access=access)


def resolve_manual(store: Store, finding_id: int, note: str, actor: str, audit, *,
                   access: Access | None = None) -> None:
    """Fixed outside the snapshot cadence; the next evaluation reopens it if it still violates."""
    if not note.strip():
        raise WorkflowError("Say how it was fixed.")
    _act(store, finding_id, actor, "resolved", {"manual": True, "note": note}, audit,
         action="resolve",
         values={"status": "resolved", "resolved_at": store.now_text(), "review_note": note},
         access=access)


def reopen(store: Store, finding_id: int, note: str, actor: str, audit, *,
           access: Access | None = None) -> None:
    _act(store, finding_id, actor, "reopened", {"manual": True, "note": note}, audit,
         action="reopen",
         values={"status": "open", "resolved_at": None, "review_note": None}, access=access)


def review(store: Store, finding_id: int, outcome: str, justification: str, actor: str, audit, *,
           access: Access | None = None) -> None:
    """Close as false positive or not applicable: a reviewed outcome, not an exception."""
    if outcome not in REVIEW_OUTCOMES:
        raise WorkflowError("A finding can be closed as a false positive or as not applicable.")
    if not justification.strip():
        raise WorkflowError("Give a justification.")
    _act(store, finding_id, actor, "status_changed", {"to": outcome, "justification": justification},
         audit, action="review",
         values={"status": outcome, "review_note": justification}, access=access)
