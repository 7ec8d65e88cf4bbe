"""An exception as written, by a requester in the product or in a repository file, and the
rule every expiry date obeys. The store records and applies exceptions (engine/store/
exceptions.py); the repository's files are read by exceptions_file.py beside this module."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta

from ..canonical_json import canonical_data
from ..errors import DialtoneError


class ExceptionError(DialtoneError):
    pass


@dataclass(frozen=True)
class ExceptionSpec:
    """An exception as written: by a requester in the product or in a repository file."""

    policy_id: str
    justification: str
    expires_on: date
    requested_by: str
    resources: tuple[str, ...] = ()
    resource_patterns: tuple[str, ...] = ()
    ticket: str | None = None
    # Repository exceptions arrive already approved (the pull request was the review).
    key: str | None = None
    approver: str | None = None
    approved_on: date | None = None
    file: str | None = None

    def selector(self) -> dict:
        return {"resources": list(self.resources), "resource_patterns": list(self.resource_patterns)}

    def content_hash(self) -> str:
        doc = {"policy": self.policy_id, "selector": self.selector(), "justification": self.justification,
               "expires_on": self.expires_on.isoformat(), "requested_by": self.requested_by,
               "approver": self.approver, "ticket": self.ticket,
               "approved_on": self.approved_on.isoformat() if self.approved_on else None}
        return hashlib.sha256(canonical_data(doc).encode()).hexdigest()


def check_expiry(expires_on: date, severity: str, decided_on: date, max_days: dict[str, int]) -> None:
    """Refuse an expiry in the past or further out than the severity allows."""
    if expires_on < decided_on:
        raise ExceptionError(f"expires_on {expires_on.isoformat()} is before "
                             f"{decided_on.isoformat()}")
    limit = decided_on + timedelta(days=max_days[severity])
    if expires_on > limit:
        raise ExceptionError(
            f"expires_on {expires_on.isoformat()} is more than {max_days[severity]} days after "
            f"{decided_on.isoformat()}, the most a {severity} policy allows (latest "
            f"{limit.isoformat()}; configurable as exceptions.max_days.{severity})")
