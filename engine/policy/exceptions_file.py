"""Exceptions kept in the policy repository: ``exceptions/*.yaml``, reviewed by pull request.

A file holds a list under ``exceptions:``; each entry names the policy, the
resources (exact ids and/or ``*``/``?`` patterns), the justification, who asked,
who approved (never the same person), when it was approved, when it expires
(no further out than ``exceptions.max_days`` for the policy's severity) and
optionally a ticket. ``dialtone policy validate`` checks them with the policies.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from jsonschema import Draft202012Validator

from ..errors import PolicyError, Problem, did_you_mean
from ..yamlio import load_yaml_file
from .exception_spec import ExceptionError, ExceptionSpec, check_expiry
from .model import Policy

_DATE = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
_TEXT = {"type": "string", "minLength": 1}
SCHEMA = {
    "type": "object",
    "required": ["exceptions"],
    "additionalProperties": False,
    "properties": {"exceptions": {"type": "array", "items": {
        "type": "object",
        "required": ["id", "policy", "justification", "requested_by", "approved_by", "approved_on",
                     "expires_on"],
        "additionalProperties": False,
        "anyOf": [{"required": ["resources"]}, {"required": ["resource_patterns"]}],
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]*$"},
            "policy": _TEXT,
            "resources": {"type": "array", "items": _TEXT, "minItems": 1},
            "resource_patterns": {"type": "array", "items": _TEXT, "minItems": 1},
            "justification": _TEXT,
            "requested_by": _TEXT,
            "approved_by": _TEXT,
            "approved_on": _DATE,
            "expires_on": _DATE,
            "ticket": _TEXT,
        },
    }}},
}


def exception_files(directory: Path | None) -> list[Path]:
    if directory is None or not directory.is_dir():
        return []
    return sorted(p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml"))


def load_exceptions(directory: Path | None, known: dict[str, Policy],
                    max_days: dict[str, int]) -> tuple[list[ExceptionSpec], list[Problem]]:
    """Every repository exception, and the problems of those that are invalid."""
    specs: list[ExceptionSpec] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for path in exception_files(directory):
        shown = str(path.relative_to(directory))
        try:
            doc = load_yaml_file(path, shown)
        except PolicyError as exc:
            problems += exc.problems
            continue
        data = doc.data
        errors = sorted(Draft202012Validator(SCHEMA).iter_errors(data),
                        key=lambda e: list(map(str, e.absolute_path)))
        if errors:
            for err in errors:
                line, col = doc.position(list(err.absolute_path))
                where = ".".join(str(p) for p in err.absolute_path) or "file"
                problems.append(Problem(f"{where}: {err.message}", shown, line, col))
            continue
        for i, entry in enumerate(data["exceptions"]):
            if entry["id"] in seen:
                spec, issue = None, (f"duplicate id (also in {seen[entry['id']]})", "id")
            else:
                seen[entry["id"]] = shown
                spec, issue = _check_entry(entry, shown, known, max_days)
            if issue:
                message, field = issue
                line, col = doc.position(["exceptions", i, field])
                problems.append(Problem(f"exception '{entry['id']}': {message}", shown, line, col))
            else:
                specs.append(spec)
    return specs, problems


def _check_entry(entry: dict, shown: str, known: dict[str, Policy], max_days: dict[str, int]
                 ) -> tuple[ExceptionSpec | None, tuple[str, str] | None]:
    policy = known.get(entry["policy"])
    if policy is None:
        return None, (f"unknown policy '{entry['policy']}'.{did_you_mean(entry['policy'], known)}",
                      "policy")
    if entry["approved_by"].strip().lower() == entry["requested_by"].strip().lower():
        return None, ("approved_by must be someone other than requested_by", "approved_by")
    try:
        approved_on = date.fromisoformat(entry["approved_on"])
    except ValueError as exc:
        return None, (f"not a date: {exc}", "approved_on")
    try:
        expires_on = date.fromisoformat(entry["expires_on"])
    except ValueError as exc:
        return None, (f"not a date: {exc}", "expires_on")
    try:
        check_expiry(expires_on, policy.severity, approved_on, max_days)
    except ExceptionError as exc:
        return None, (str(exc), "expires_on")
    return ExceptionSpec(
        policy_id=policy.id, justification=entry["justification"], expires_on=expires_on,
        requested_by=entry["requested_by"], resources=tuple(entry.get("resources", ())),
        resource_patterns=tuple(entry.get("resource_patterns", ())), ticket=entry.get("ticket"),
        key=f"repository:{shown}#{entry['id']}", approver=entry["approved_by"],
        approved_on=approved_on, file=shown), None
