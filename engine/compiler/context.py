"""State shared by the compiler passes: the policy, the model and the problems found."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from ..errors import PolicyError, Problem
from ..estate.model import EstateModel
from ..policy.model import Fragment, Policy

#: The parameter every policy may use: the snapshot's as-of date.
SNAPSHOT_DATE = "snapshot_date"
#: The organisation's time zone, recorded in the snapshot: ``local_date(x)`` takes a UTC
#: timestamp to the day it was there.
SNAPSHOT_TIMEZONE = "snapshot_timezone"


@dataclass
class Join:
    alias: str
    entity: str
    on_alias: str
    on_field: str


@dataclass
class CompileContext:
    policy: Policy
    model: EstateModel
    problems: list[Problem] = field(default_factory=list)
    # name → parsed tree, for where/query/savings/evidence[i]/reason[i]
    trees: dict[str, exp.Expr] = field(default_factory=dict)
    fragments: dict[str, Fragment] = field(default_factory=dict)
    evidence_names: list[str] = field(default_factory=list)
    reason_parts: list[tuple[str, str]] = field(default_factory=list)  # ("text"|"expr", value)
    joins: dict[str, Join] = field(default_factory=dict)
    tables_read: set[str] = field(default_factory=set)
    #: Tables the condition itself (where/query) needs; the rest only feed evidence or reason.
    condition_tables: set[str] = field(default_factory=set)
    params_used: set[str] = field(default_factory=set)
    select: exp.Select | None = None

    @property
    def base(self) -> str:
        return self.policy.resource

    def problem(self, name: str, message: str, node: exp.Expr | None = None) -> None:
        """Record a problem in fragment ``name``, positioned at ``node`` when it has a leaf."""
        frag = self.fragments.get(name)
        offset = _first_offset(node) if node is not None else None
        if offset is None and node is not None and frag is not None:
            offset = _search(frag.text, node)
        line = col = None
        if frag is not None:
            line, col = frag.locate(offset or 0)
        file = frag.file if frag else self.policy.path
        self.problems.append(Problem(message, file, line, col))

    def read(self, fragment: str, table: str) -> None:
        self.tables_read.add(table)
        if fragment in ("where", "query"):
            self.condition_tables.add(table)

    def raise_if_problems(self) -> None:
        if self.problems:
            raise PolicyError(self.problems)


def _search(text: str, node: exp.Expr) -> int | None:
    """Offset of a node without position metadata, found by its text."""
    needle = f":{node.name}" if isinstance(node, exp.Placeholder) else node.sql("duckdb")
    pos = text.lower().find(needle.lower().rstrip("()"))
    return pos if pos >= 0 else None


def _first_offset(node: exp.Expr) -> int | None:
    for n in node.walk(bfs=False):
        start = n.meta.get("start") if n.meta else None
        if start is not None:
            return start
    return None
