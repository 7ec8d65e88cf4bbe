"""What the interchange formats share: the finding key, severities, the tool version."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping

from ..policy.model import Policy

TOOL_NAME = "Dialtone"


def finding_key(policy_id: str, resource_type: str, resource_id: str) -> str:
    """A finding's identity across runs: (policy id, resource type, resource id)."""
    return f"{policy_id}|{resource_type}|{resource_id}"


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def tool_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dialtone")
    except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
        return "0.0.0"


def policy_map(policies) -> dict[str, Policy]:
    """Policies by id from a LoadedPolicies, a mapping or an iterable of Policy (or None)."""
    if policies is None:
        return {}
    if hasattr(policies, "policies"):
        policies = policies.policies
    if isinstance(policies, Mapping):
        return dict(policies)
    return {p.id: p for p in policies if isinstance(p, Policy)}


def snapshot_midnight_ms(as_of: dt.date) -> int:
    """The snapshot's as-of date as milliseconds since the epoch (00:00 UTC)."""
    moment = dt.datetime(as_of.year, as_of.month, as_of.day, tzinfo=dt.UTC)
    return int(moment.timestamp()) * 1000


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def frameworks_of(frameworks: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    return {fw: list(reqs) for fw, reqs in sorted(frameworks.items())}
