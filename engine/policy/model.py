"""Typed, frozen policy objects built once from validated YAML."""

from __future__ import annotations

from dataclasses import dataclass, field

CATEGORIES = ("cost", "retention", "regulatory", "security", "lifecycle")
SEVERITIES = ("info", "low", "medium", "high", "critical")


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


@dataclass(frozen=True)
class Fragment:
    """A piece of SQL text from a policy file, with where it starts in the file.

    ``block`` is true for YAML block scalars (``|``, ``>``), whose text starts on
    the line after the key at column ``column``.
    """

    text: str
    file: str | None = None
    line: int | None = None
    column: int | None = None

    def locate(self, offset: int) -> tuple[int | None, int | None]:
        """File line and column of a character offset inside ``text``."""
        if self.line is None:
            return None, None
        before = self.text[:offset]
        rel_line = before.count("\n")
        rel_col = offset - (before.rfind("\n") + 1)
        if rel_line == 0:
            return self.line, (self.column or 1) + rel_col
        return self.line + rel_line, (self.column or 1) + rel_col


@dataclass(frozen=True)
class Param:
    name: str
    default: object
    description: str = ""
    #: An obligations-catalogue id (policies/frameworks/obligations.yaml) whose minimum, in
    #: days, is the default: the catalogue the auditor reads and the policy share one number.
    obligation: str | None = None


@dataclass(frozen=True)
class Policy:
    id: str
    title: str
    category: str
    severity: str
    resource: str
    path: str | None
    source_hash: str
    description: str = ""
    where: Fragment | None = None
    query: Fragment | None = None
    params: tuple[Param, ...] = ()
    evidence: tuple[Fragment, ...] = ()
    reason: Fragment | None = None
    savings: Fragment | None = None
    #: The billable object the saving claims (``'lines:' || line_id``); one object's money is
    #: counted once however many policies find it. Default: the resource itself.
    savings_key: Fragment | None = None
    #: The saving's ISO 4217 currency. Default: the resource's ``currency`` field, if it has one.
    currency: Fragment | None = None
    #: Entities read as empty when no source provides them (the result notes it), instead of
    #: skipping the policy: e.g. call records an estate may or may not have.
    optional: tuple[str, ...] = ()
    #: A condition over the resource: in the policy's scope, but the data to decide is
    #: missing. Such resources are counted and listed, never found and never silently ok.
    undecidable: Fragment | None = None
    frameworks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    remediation: str = ""
    tags: tuple[str, ...] = ()
    abspath: str | None = None  # where the file is on disk, to find its test file
    #: framework id → (line, column) of its key in the file, for error messages
    framework_positions: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)

    def defaults(self) -> dict[str, object]:
        return {p.name: p.default for p in self.params}
