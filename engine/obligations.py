"""The obligations catalogue: how long each regime makes a record type be kept, and the cited
lists of jurisdictions a rule names (``policies/frameworks/obligations.yaml``).

Policies take thresholds from it (``params: {min_days: {obligation: sec-17a-4-b4}}``) and
framework requirements state them from it (``obligation: sec-17a-4-b4``): one number for the
control that runs and the control the auditor reads. A policy folder may add a
``frameworks/obligations.yaml`` of its own; its obligations are added to (never silently
replace) the built-in ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from dialtone.policies import builtin_policy_dir

from .errors import PolicyError, Problem, did_you_mean
from .yamlio import load_yaml, read_bounded

FILE = "obligations.yaml"

_PERIOD = {"type": "object", "additionalProperties": False, "minProperties": 1,
           "properties": {"years": {"type": "integer", "minimum": 1},
                          "days": {"type": "integer", "minimum": 1}}}
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["obligations"],
    "properties": {
        "record_types": {"type": "object", "additionalProperties": {"type": "string"}},
        "obligations": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "regime", "title", "citation"],
                "oneOf": [{"required": ["minimum", "clock", "record_types"]},
                          {"required": ["jurisdictions"]}],
                "properties": {
                    "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
                    "regime": {"type": "string"},
                    "title": {"type": "string"},
                    "scopes": {"type": "array", "items": {"type": "string"}},
                    "record_types": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    "minimum": _PERIOD,
                    "extendable_to": _PERIOD,
                    "clock": {"type": "string"},
                    "citation": {"type": "string"},
                    "jurisdictions": {
                        "type": "array", "minItems": 1,
                        "items": {"type": "object", "additionalProperties": False,
                                  "required": ["code", "citation"],
                                  "properties": {"code": {"type": "string"},
                                                 "citation": {"type": "string"}}}},
                },
            },
        },
    },
}


def longest_days(period: dict) -> int:
    """The most days a calendar period can span: N years hold at most ceil(N/4) 29 Februaries."""
    years = period.get("years", 0)
    return years * 365 + math.ceil(years / 4) + period.get("days", 0)


@dataclass(frozen=True)
class Obligation:
    id: str
    regime: str
    title: str
    citation: str
    scopes: tuple[str, ...] = ()
    record_types: tuple[str, ...] = ()
    minimum: dict | None = None
    extendable_to: dict | None = None
    clock: str | None = None
    jurisdictions: tuple[tuple[str, str], ...] = ()   # (code, citation)

    @property
    def minimum_days(self) -> int | None:
        return longest_days(self.minimum) if self.minimum else None

    @property
    def value(self) -> object:
        """What a policy parameter taking this obligation defaults to: the minimum in days,
        or the list of jurisdiction codes."""
        if self.minimum:
            return self.minimum_days
        return [code for code, _ in self.jurisdictions]

    def describe(self) -> str:
        """The obligation in words, for the catalogue text."""
        if self.minimum:
            years = self.minimum.get("years")
            span = f"{years} year{'s' if years != 1 else ''}" if years else f"{self.minimum['days']} days"
            more = (f", up to {self.extendable_to['years']} years on request"
                    if self.extendable_to else "")
            return f"at least {span} ({self.minimum_days:,} days) from {self.clock}{more}"
        return ", ".join(f"{code} ({citation})" for code, citation in self.jurisdictions)


@dataclass(frozen=True)
class Obligations:
    by_id: dict[str, Obligation]
    record_types: dict[str, str]

    def get(self, obligation_id: str, where: str = "obligation") -> Obligation:
        try:
            return self.by_id[obligation_id]
        except KeyError:
            raise PolicyError([Problem(
                f"{where}: unknown obligation '{obligation_id}'."
                f"{did_you_mean(obligation_id, self.by_id)}")]) from None


def obligation_files(policy_paths: Iterable[Path] | None) -> list[Path]:
    """The built-in obligations file, then those of the policy folders (in their order)."""
    files = [builtin_policy_dir() / "frameworks" / FILE]
    for root in policy_paths or ():
        f = Path(root) / "frameworks" / FILE
        if f.is_file() and f.resolve() not in {x.resolve() for x in files}:
            files.append(f)
    return files


def load_obligations(policy_paths: Iterable[Path] | None = None) -> Obligations:
    """Every obligations file of the built-in packs and the policy folders; an obligation id
    defined twice differently is an error (an organisation adds obligations, it does not
    redefine one). The same definition again is not: a policy folder holding a copy of the
    built-in packs (vendored, or a past revision's) repeats the catalogue word for word."""
    by_id: dict[str, Obligation] = {}
    defined: dict[str, tuple[dict, str]] = {}
    record_types: dict[str, str] = {}
    problems: list[Problem] = []
    builtin = builtin_policy_dir() / "frameworks" / FILE
    for path in obligation_files(policy_paths):
        shown = f"{path.parent.name}/{path.name}"
        try:
            doc = load_yaml(read_bounded(path).decode("utf-8"), shown)
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(f"cannot read the obligations catalogue: {exc}", shown))
            continue
        except PolicyError as exc:
            problems += exc.problems
            continue
        err = best_match(Draft202012Validator(SCHEMA).iter_errors(doc.data))
        if err is not None:
            line, col = doc.position(list(err.absolute_path))
            where = ".".join(str(p) for p in err.absolute_path) or "obligations"
            problems.append(Problem(f"{where}: {err.message}", shown, line, col))
            continue
        record_types.update(doc.data.get("record_types") or {})
        for i, item in enumerate(doc.data["obligations"]):
            if item["id"] in defined:
                first, where = defined[item["id"]]
                if item != first:
                    line, col = doc.position(["obligations", i, "id"])
                    problems.append(Problem(f"obligation '{item['id']}' is defined twice, "
                                            f"differently (first in {where})", shown, line, col))
                continue
            defined[item["id"]] = (item, "the built-in catalogue" if path == builtin else str(path))
            unknown = [r for r in item.get("record_types", []) if r not in record_types]
            if unknown:
                line, col = doc.position(["obligations", i, "record_types"])
                problems.append(Problem(
                    f"obligation '{item['id']}': unknown record type '{unknown[0]}'."
                    f"{did_you_mean(unknown[0], record_types)}", shown, line, col))
                continue
            by_id[item["id"]] = Obligation(
                id=item["id"], regime=item["regime"], title=item["title"],
                citation=item["citation"], scopes=tuple(item.get("scopes", [])),
                record_types=tuple(item.get("record_types", [])), minimum=item.get("minimum"),
                extendable_to=item.get("extendable_to"), clock=item.get("clock"),
                jurisdictions=tuple((j["code"], j["citation"]) for j in item.get("jurisdictions", [])))
    if problems:
        raise PolicyError(problems)
    return Obligations(by_id, record_types)
