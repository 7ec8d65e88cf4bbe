"""Pass 6: qualify the built SELECT against the estate schema.

The relations pass already checked the resource's own names with positions;
this catches what remains (columns inside subqueries and `query:` policies).
"""

from __future__ import annotations

import re

from sqlglot.errors import OptimizeError, SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from ..errors import did_you_mean
from .context import CompileContext
from .parse import SOURCE_DIALECT

_UNRESOLVED = re.compile(r"Column '([^']+)' could not be resolved|Unknown column: (\w+)")


def qualify_select(ctx: CompileContext) -> None:
    schema = MappingSchema(ctx.model.sql_schema(), dialect=SOURCE_DIALECT)
    name = "query" if "query" in ctx.trees else "where"
    try:
        ctx.select = qualify(
            ctx.select,
            schema=schema,
            dialect=SOURCE_DIALECT,
            validate_qualify_columns=True,
            quote_identifiers=True,
            identify=True,
        )
    except OptimizeError as exc:
        message = str(exc).split(". Line:")[0]
        m = _UNRESOLVED.search(message)
        if m:
            column = m.group(1) or m.group(2)
            fields = {f for tbl in ctx.tables_read for f in ctx.model.entity(tbl).field_names}
            message = f"unknown column '{column}'.{did_you_mean(column, fields)}"
        ctx.problem(name, f"{name}: {message}")
    except SqlglotError as exc:
        ctx.problem(name, f"{name}: {exc}")
