"""Override files: an organisation's pack adjusting a built-in policy without forking it.

A YAML file in a policy folder whose top-level key is ``override`` changes the
default parameters of another policy, or disables it, with a reason::

    override: cost.zero-usage-lines
    reason: Our standby lines are tested monthly, so 60 days is idle enough.
    params:
      idle_days: 60

    override: cost.device-past-refresh-age
    reason: Devices are leased; the lessor refreshes them.
    disabled: true

Because they live in the policy repository, overrides are versioned with it:
the policy set version an evaluation records covers them, and each policy
run records the parameters that were in force.
"""

from __future__ import annotations

from dataclasses import dataclass

from jsonschema import Draft202012Validator

from ..errors import PolicyError, Problem
from ..yamlio import YamlDocument

SCHEMA = {
    "type": "object",
    "required": ["override", "reason"],
    "additionalProperties": False,
    "anyOf": [{"required": ["params"]}, {"required": ["disabled"]}],
    "properties": {
        "override": {"type": "string", "minLength": 1},
        "reason": {"type": "string", "minLength": 1},
        "params": {"type": "object", "minProperties": 1},
        "disabled": {"type": "boolean"},
    },
}


@dataclass(frozen=True)
class PolicyOverride:
    policy_id: str
    reason: str
    file: str
    params: dict
    disabled: bool = False


def is_override(doc: YamlDocument) -> bool:
    return isinstance(doc.data, dict) and "override" in doc.data


def parse_override(doc: YamlDocument, file: str) -> PolicyOverride:
    errors = sorted(Draft202012Validator(SCHEMA).iter_errors(doc.data),
                    key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        problems = []
        for err in errors:
            line, col = doc.position(list(err.absolute_path))
            where = ".".join(str(p) for p in err.absolute_path) or "override"
            problems.append(Problem(f"{where}: {err.message}", file, line, col))
        raise PolicyError(problems)
    data = doc.data
    return PolicyOverride(data["override"], data["reason"].strip(), file, dict(data.get("params") or {}),
                          bool(data.get("disabled", False)))


def apply_overrides(policies: list, overrides: list[PolicyOverride]
                    ) -> tuple[list, dict[str, dict], list[tuple[str, PolicyError]]]:
    """(policies still enabled, parameter overrides by policy, failures)."""
    from ..errors import did_you_mean

    by_id = {p.id: p for p in policies}
    params: dict[str, dict] = {}
    disabled: set[str] = set()
    failures = []
    seen: dict[str, str] = {}
    for o in overrides:
        if o.policy_id not in by_id:
            failures.append((o.file, PolicyError([Problem(
                f"override: no policy '{o.policy_id}'.{did_you_mean(o.policy_id, by_id)}", o.file, 1, 1)])))
            continue
        if o.policy_id in seen:
            failures.append((o.file, PolicyError([Problem(
                f"override: '{o.policy_id}' is already overridden in {seen[o.policy_id]}", o.file, 1, 1)])))
            continue
        seen[o.policy_id] = o.file
        defaults = by_id[o.policy_id].defaults()
        unknown = sorted(set(o.params) - set(defaults))
        if unknown:
            failures.append((o.file, PolicyError([Problem(
                f"params: '{o.policy_id}' has no parameter '{unknown[0]}'."
                f"{did_you_mean(unknown[0], defaults)}", o.file, 1, 1)])))
            continue
        if o.disabled:
            disabled.add(o.policy_id)
        if o.params:
            params[o.policy_id] = o.params
    return [p for p in policies if p.id not in disabled], params, failures
