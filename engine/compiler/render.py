"""Pass 7: render the compiled SELECT for each backend's dialect.

Rendering raises on any construct a dialect cannot express, so "transpiles"
never silently means "runs differently". The Spark text also gets DuckDB's
semantics where the engines differ (spark_semantics.py); that rewrite is done
when the Spark SQL is first asked for, so evaluating on DuckDB never pays for it.
"""

from __future__ import annotations

import threading
import typing as t
from collections.abc import Mapping

from sqlglot import ErrorLevel, exp
from sqlglot.errors import SqlglotError

from .context import CompileContext
from .spark_semantics import spark_semantics

DIALECTS = ("duckdb", "spark")
#: Dialect → the rewrite giving its SQL DuckDB's meaning where the engines differ (policies are
#: written, tested and explained in DuckDB's); a dialect without one is rendered as it is.
SEMANTICS: dict[str, t.Callable[[exp.Expr, dict], exp.Expr]] = {"spark": spark_semantics}


def render(select: exp.Expr, dialect: str, pretty: bool = False, schema: dict | None = None) -> str:
    rewrite = SEMANTICS.get(dialect)
    if rewrite is not None:
        if schema is None:
            from ..estate.model import load_model

            schema = load_model().sql_schema()
        select = rewrite(select, schema)
    return select.sql(dialect=dialect, pretty=pretty, unsupported_level=ErrorLevel.RAISE)


class RenderedSQL(Mapping):
    """dialect → SQL text; a value given as a callable is rendered on first access."""

    def __init__(self, values: dict[str, str | t.Callable[[], str]]):
        self._values = dict(values)
        self._lock = threading.Lock()

    def __getitem__(self, dialect: str) -> str:
        value = self._values[dialect]
        if callable(value):
            with self._lock:
                value = self._values[dialect]
                if callable(value):
                    value = self._values[dialect] = value()
        return value

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"RenderedSQL({dict(self)!r})"


def render_all(ctx: CompileContext) -> RenderedSQL:
    out: dict[str, str | t.Callable[[], str]] = {}
    for dialect in DIALECTS:
        try:
            # Every dialect is rendered now, so a construct one cannot express is reported
            # at compile time with the policy's position.
            out[dialect] = ctx.select.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE)
        except SqlglotError as exc:
            name = "query" if "query" in ctx.trees else "where"
            ctx.problem(name, f"{name}: cannot be expressed in {dialect} SQL: {exc}")
    select, schema = ctx.select, ctx.model.sql_schema()
    for dialect in SEMANTICS.keys() & out.keys():
        out[dialect] = lambda dialect=dialect: render(select, dialect, schema=schema)
    return RenderedSQL(out)
