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
    frameworks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    remediation: str = ""
    tags: tuple[str, ...] = ()
    abspath: str | None = None  # where the file is on disk, to find its test file
    #: framework id → (line, column) of its key in the file, for error messages
    framework_positions: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)

    def defaults(self) -> dict[str, object]:
        return {p.name: p.default for p in self.params}
