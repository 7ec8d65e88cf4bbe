"""Which estate fields a compiled policy reads: what it needs from the sources that feed it."""

from __future__ import annotations

from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope


def fields_read(select: exp.Select) -> dict[str, set[str]]:
    """Entity → the fields the query reads from it, through every alias and subquery."""
    out: dict[str, set[str]] = {}
    for scope in traverse_scope(select):
        for column in scope.columns:
            source = scope.sources.get(column.table)
            if isinstance(source, exp.Table):
                out.setdefault(source.name, set()).add(column.name)
    return out
