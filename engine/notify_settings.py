"""``notifications:`` in ``dialtone.yaml``: targets, routing rules, delivery settings.

Read once with the rest of the configuration (``config.load_config``) into frozen
dataclasses; each target's own settings are checked against its plugin's schema there, so a
mistake is reported with its line before anything runs (docs/notifications.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError
from .policy.model import SEVERITIES

#: What a rule can fire on. Events of the history: a finding opened or reopened. Checked on a
#: clock by ``dialtone notify send`` and every run: due within N days, overdue, an exception
#: expiring within N days; and each run's outcome: failed, or a source stale or failed.
TRIGGERS = ("new", "reopened", "due_soon", "overdue", "exception_expiring", "run_failed",
            "source_stale")
#: Who a message is for, derived from the estate: the person the resource belongs to (the
#: ``owner`` relation: a line's, device's or licence's assignee, or the person), that person's
#: manager (``people.manager_id``), and the owner of the resource's cost centre
#: (``notifications.cost_center_owners``).
DERIVED_RECIPIENTS = ("owner", "manager", "cost_center_owner")
DELIVERIES = ("each", "digest")
DIGEST_PERIODS = ("run", "day", "week")
TICKET_GROUPS = ("finding", "policy", "resource")
MATCH_KEYS = ("policy", "category", "severity", "framework", "cost_center", "vendor", "owner")

_LIST = {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        # Links in messages go to this address's pages (the web application's public URL).
        "base_url": {"type": "string", "pattern": "^https?://"},
        # Attempts before a message becomes a dead letter; the first retry's wait, doubled each
        # time up to max_retry_seconds.
        "max_attempts": {"type": "integer", "minimum": 1, "maximum": 100},
        "retry_seconds": {"type": "integer", "minimum": 1},
        "max_retry_seconds": {"type": "integer", "minimum": 1},
        # Cost centre → the address of its owner (the cost_center_owner recipient).
        "cost_center_owners": {"type": "object", "additionalProperties": {"type": "string",
                                                                           "minLength": 3}},
        "targets": {
            "type": "object",
            "propertyNames": {"pattern": "^[A-Za-z0-9_-]+$"},
            "additionalProperties": {"type": "object", "required": ["type"]},
        },
        "rules": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "when", "targets"],
                "properties": {
                    "name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"},
                    "match": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            **{key: _LIST for key in MATCH_KEYS},
                            "severity": {"type": "array", "items": {"enum": list(SEVERITIES)},
                                         "minItems": 1},
                        },
                    },
                    "when": {"type": "array", "items": {"enum": list(TRIGGERS)}, "minItems": 1,
                             "uniqueItems": True},
                    "due_in_days": {"type": "integer", "minimum": 0},
                    "expiring_in_days": {"type": "integer", "minimum": 0},
                    "targets": {**_LIST, "uniqueItems": True},
                    "delivery": {"enum": list(DELIVERIES)},
                    "period": {"enum": list(DIGEST_PERIODS)},
                    "recipients": _LIST,
                    "fallback": {"type": "string", "minLength": 3},
                    "ticket_per": {"enum": list(TICKET_GROUPS)},
                },
            },
        },
    },
}


@dataclass(frozen=True)
class Rule:
    name: str
    when: tuple[str, ...]
    targets: tuple[str, ...]
    match: dict[str, tuple[str, ...]] = field(default_factory=dict)
    due_in_days: int = 7
    expiring_in_days: int = 14
    delivery: str = "each"
    period: str = "day"
    recipients: tuple[str, ...] = ()
    fallback: str | None = None
    ticket_per: str = "finding"


@dataclass(frozen=True)
class TargetSettings:
    name: str
    type: str
    evidence: str
    settings: dict          # the plugin's own settings (type and evidence left out)


@dataclass(frozen=True)
class NotifySettings:
    targets: dict[str, TargetSettings] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    base_url: str | None = None
    max_attempts: int = 10
    retry_seconds: int = 60
    max_retry_seconds: int = 6 * 3600
    cost_center_owners: dict[str, str] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return bool(self.rules)


def parse(section: dict | None, doc, path: Path) -> NotifySettings:
    """The section as validated by the configuration's schema, its targets checked against
    their plugins and its rules against its targets."""
    from .notifier_api import check_target_settings

    if not section:
        return NotifySettings()

    def line(at: list) -> int | None:
        return doc.position(at)[0]

    targets = {}
    for name, spec in (section.get("targets") or {}).items():
        check_target_settings(name, spec, line, str(path))
        evidence = spec.get("evidence", "masked")
        targets[name] = TargetSettings(name, spec["type"], evidence,
                                       {k: v for k, v in spec.items() if k not in ("type", "evidence")})
    rules = []
    seen: set[str] = set()
    for i, spec in enumerate(section.get("rules") or []):
        where = ["notifications", "rules", i]
        if spec["name"] in seen:
            raise ConfigError(f"{path}:{line([*where, 'name'])}: notifications.rules[{i}].name: "
                              f"a rule named '{spec['name']}' is defined twice")
        seen.add(spec["name"])
        for j, target in enumerate(spec["targets"]):
            if target not in targets:
                known = ", ".join(sorted(targets)) or "none are defined"
                raise ConfigError(f"{path}:{line([*where, 'targets', j])}: notifications.rules[{i}]"
                                  f".targets: no target named '{target}' (targets: {known})")
        recipients = tuple(spec.get("recipients") or ())
        for j, who in enumerate(recipients):
            if who not in DERIVED_RECIPIENTS and "@" not in who:
                raise ConfigError(
                    f"{path}:{line([*where, 'recipients', j])}: notifications.rules[{i}].recipients: "
                    f"'{who}' is neither an e-mail address nor one of {', '.join(DERIVED_RECIPIENTS)}")
        if spec.get("delivery") == "digest" and any(_is_tracker(targets[x].type) for x in spec["targets"]):
            raise ConfigError(f"{path}:{line([*where, 'delivery'])}: notifications.rules[{i}]: a "
                              "digest cannot go to a ticket tracker; use ticket_per to group "
                              "findings into one ticket")
        rules.append(Rule(
            name=spec["name"], when=tuple(spec["when"]), targets=tuple(spec["targets"]),
            match={k: tuple(v) for k, v in (spec.get("match") or {}).items()},
            due_in_days=spec.get("due_in_days", 7), expiring_in_days=spec.get("expiring_in_days", 14),
            delivery=spec.get("delivery", "each"), period=spec.get("period", "day"),
            recipients=recipients, fallback=spec.get("fallback"),
            ticket_per=spec.get("ticket_per", "finding")))
    return NotifySettings(
        targets=targets, rules=tuple(rules), base_url=(section.get("base_url") or "").rstrip("/") or None,
        max_attempts=section.get("max_attempts", 10), retry_seconds=section.get("retry_seconds", 60),
        max_retry_seconds=section.get("max_retry_seconds", 6 * 3600),
        cost_center_owners=dict(section.get("cost_center_owners") or {}))


def _is_tracker(type_name: str) -> bool:
    from .notifier_api import notifiers

    return notifiers.get(type_name).kind == "ticket"
