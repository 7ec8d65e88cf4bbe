"""Pass 6: qualify the built SELECT against the estate schema.

The relations pass already checked the resource's own names with positions;
this catches what remains (columns inside subqueries and `query:` policies).
"""

from __future__ import annotations

import re
import weakref

from sqlglot.errors import OptimizeError, SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from ..errors import did_you_mean
from .context import CompileContext
from .parse import SOURCE_DIALECT

_UNRESOLVED = re.compile(r"Column '([^']+)' could not be resolved|Unknown column: (\w+)")


#: One MappingSchema per estate model: building it normalises every table and column, which
#: costs more than qualifying a small policy. qualify() only reads the schema. Keyed by the
#: model's identity (the model is immutable but unhashable), held weakly.
_SCHEMAS: dict[int, tuple[weakref.ref, MappingSchema]] = {}


def _schema(model) -> MappingSchema:
    hit = _SCHEMAS.get(id(model))
    if hit is not None and hit[0]() is model:
        return hit[1]
    schema = MappingSchema(model.sql_schema(), dialect=SOURCE_DIALECT)
    key = id(model)
    _SCHEMAS[key] = (weakref.ref(model, lambda _, key=key: _SCHEMAS.pop(key, None)), schema)
    return schema


def qualify_select(ctx: CompileContext) -> None:
    schema = _schema(ctx.model)
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
