"""Pass 7: render the compiled SELECT for each backend's dialect.

Rendering raises on any construct a dialect cannot express, so "transpiles"
never silently means "runs differently".
"""

from __future__ import annotations

from sqlglot import ErrorLevel, exp
from sqlglot.errors import SqlglotError

from .context import CompileContext

DIALECTS = ("duckdb", "spark")


def render(select: exp.Expr, dialect: str, pretty: bool = False) -> str:
    return select.sql(dialect=dialect, pretty=pretty, unsupported_level=ErrorLevel.RAISE)


def render_all(ctx: CompileContext) -> dict[str, str]:
    out = {}
    for dialect in DIALECTS:
        try:
            out[dialect] = render(ctx.select, dialect)
        except SqlglotError as exc:
            name = "query" if "query" in ctx.trees else "where"
            ctx.problem(name, f"{name}: cannot be expressed in {dialect} SQL: {exc}")
    return out
