"""What a policy change would do: findings it would open and close on the latest snapshot.

Compares the policies at a base git revision with the working tree. Only
policies whose text changed, or that were added or removed, are evaluated —
evaluation is a pure function of snapshot, text and parameters, so an
unchanged policy cannot change its findings.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .config import Config
from .configured import evaluate_configured
from .errors import DialtoneError
from .policy.loader import LoadedPolicies
from .policy.model import severity_rank
from .replay import policies_at


@dataclass
class PolicyChange:
    policy_id: str
    severity: str
    change: str                       # modified | added | removed
    opened: list[tuple[str, str]] = field(default_factory=list)   # (resource id, reason)
    closed: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None


@dataclass
class DiffReport:
    base: str
    snapshot_id: str
    changes: list[PolicyChange]

    def new_at_or_above(self, severity: str) -> int:
        rank = severity_rank(severity)
        return sum(len(c.opened) for c in self.changes if severity_rank(c.severity) >= rank)


def _found(outcome) -> dict[str, str]:
    if outcome is None or outcome.rows is None:
        return {}
    ids = outcome.rows.column(0).to_pylist()
    reasons = outcome.rows.column(1).to_pylist()
    return {str(i): r for i, r in zip(ids, reasons, strict=True)}


def policy_diff(snapshot, head: LoadedPolicies, config: Config, base_rev: str) -> DiffReport:
    """The findings each changed policy would open and close, evaluated as the configuration
    says (its engine and settings, limits and parameters) at ``base_rev`` and in the tree."""
    if head.failures:
        raise DialtoneError("fix the invalid policies first (dialtone policy validate):\n"
                            + "\n".join(str(err) for _, err in head.failures))
    with tempfile.TemporaryDirectory(prefix="dialtone-diff-") as tmp:
        base, commit = policies_at(base_rev, config.policy_paths, Path(tmp))
        old, new = base.by_id(), head.by_id()
        old_params, new_params = base.overrides(config.params), head.overrides(config.params)
        changed = sorted(pid for pid in set(old) | set(new)
                         if pid not in old or pid not in new or old[pid].source_hash != new[pid].source_hash
                         or old_params.get(pid) != new_params.get(pid))
        before = _outcomes(config, snapshot, base, [p for p in changed if p in old], old_params)
        after = _outcomes(config, snapshot, head, [p for p in changed if p in new], new_params)
    changes = []
    for pid in changed:
        policy = new.get(pid) or old[pid]
        kind = "added" if pid not in old else "removed" if pid not in new else "modified"
        item = PolicyChange(pid, policy.severity, kind)
        b, a = before.get(pid), after.get(pid)
        item.error = next((o.error or o.skip_reason for o in (a, b) if o is not None and o.status in
                           ("error", "skip")), None)
        was, now = _found(b), _found(a)
        item.opened = sorted((rid, now[rid]) for rid in set(now) - set(was))
        item.closed = sorted((rid, was[rid]) for rid in set(was) - set(now))
        changes.append(item)
    return DiffReport(commit, snapshot.id, changes)


def _outcomes(config: Config, snapshot, loaded, ids, overrides) -> dict:
    if not ids:
        return {}
    known = {k: v for k, v in overrides.items() if k in ids}
    result = evaluate_configured(config, snapshot, loaded, policy_ids=ids, overrides=known)
    return {o.policy_id: o for o in result.outcomes}


def render(report: DiffReport, fmt: str, limit: int = 50) -> str:
    opened = sum(len(c.opened) for c in report.changes)
    closed = sum(len(c.closed) for c in report.changes)
    md = fmt == "markdown"
    out = [f"{'### ' if md else ''}Policy change impact on snapshot {report.snapshot_id} "
           f"(base {report.base[:12]}): {opened} new, {closed} closed", ""]
    if not report.changes:
        out.append("No policy changed.")
    if md and report.changes:
        out += ["| policy | change | severity | new | closed |", "|---|---|---|---:|---:|"]
        out += [f"| `{c.policy_id}` | {c.change} | {c.severity} | {len(c.opened)} | {len(c.closed)} |"
                for c in report.changes]
        out.append("")
    for c in report.changes:
        head = f"{c.policy_id} ({c.change}, {c.severity}): +{len(c.opened)} new, -{len(c.closed)} closed"
        out.append(f"**{head}**" if md else head)
        if c.error:
            out.append(f"  cannot evaluate: {c.error}")
        for sign, rows in (("+", c.opened), ("-", c.closed)):
            for rid, reason in rows[:limit]:
                out.append(f"{'- ' if md else '  '}{sign} {rid}: {reason}")
            if len(rows) > limit:
                out.append(f"{'- ' if md else '  '}{sign} … and {len(rows) - limit} more")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
