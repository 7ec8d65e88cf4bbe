"""Pass 5: build the SELECT that returns one row per finding.

Output columns: ``resource_id``, ``reason``, ``savings`` and one ``ev<i>``
column per evidence expression, ordered by ``resource_id`` so every backend
returns findings in the same order.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from ..errors import did_you_mean
from .context import CompileContext

#: The last column of a query policy whose SELECT returns `undecidable`: true for the rows that
#: are undecidable resources rather than findings (engine/evaluation.py splits them).
UNDECIDABLE_COLUMN = "__undecidable"


def evidence_column(i: int) -> str:
    return f"ev{i}"


def _resource_id(ctx: CompileContext) -> exp.Expr:
    key = ctx.model.entity(ctx.base).key
    cols: list[exp.Expr] = [
        exp.Cast(this=exp.column(k, table=ctx.base), to=exp.DataType.build("VARCHAR"))
        for k in key
    ]
    expr = cols[0]
    for col in cols[1:]:
        expr = exp.DPipe(this=exp.DPipe(this=expr, expression=exp.Literal.string("/")),
                         expression=col, safe=True)
    return expr


def _as_text(node: exp.Expr) -> exp.Expr:
    return exp.Coalesce(
        this=exp.Cast(this=node, to=exp.DataType.build("VARCHAR")),
        expressions=[exp.Literal.string("unknown")],
    )


def _reason(ctx: CompileContext) -> exp.Expr:
    if not ctx.reason_parts:
        return exp.Literal.string(ctx.policy.title)
    pieces = [
        exp.Literal.string(value) if kind == "text" else _as_text(ctx.trees[value])
        for kind, value in ctx.reason_parts
    ]
    return pieces[0] if len(pieces) == 1 else exp.Concat(expressions=pieces, safe=True)


def _savings(ctx: CompileContext) -> exp.Expr:
    if "savings" not in ctx.trees:
        return exp.Cast(this=exp.Null(), to=exp.DataType.build("DOUBLE"))
    value = exp.Cast(this=ctx.trees["savings"], to=exp.DataType.build("DOUBLE"))
    return exp.Round(this=value, decimals=exp.Literal.number(2))


def _text(node: exp.Expr) -> exp.Expr:
    return exp.Cast(this=node, to=exp.DataType.build("VARCHAR"))


def _savings_key(ctx: CompileContext, resource_id: exp.Expr, has_savings: bool) -> exp.Expr:
    """The billable object a saving claims: the policy's ``savings_key``, or the resource."""
    if not has_savings:
        return exp.Cast(this=exp.Null(), to=exp.DataType.build("VARCHAR"))
    if "savings_key" in ctx.trees:
        return _text(ctx.trees["savings_key"])
    return exp.DPipe(this=exp.Literal.string(f"{ctx.base}:"), expression=resource_id, safe=True)


def _currency(ctx: CompileContext, has_savings: bool) -> exp.Expr:
    if not has_savings:
        return exp.Cast(this=exp.Null(), to=exp.DataType.build("VARCHAR"))
    if "currency" in ctx.trees:
        return _text(ctx.trees["currency"])
    if "currency" in ctx.model.entity(ctx.base).field_names and "query" not in ctx.trees:
        return _text(exp.column("currency", table=ctx.base))
    return exp.Cast(this=exp.Null(), to=exp.DataType.build("VARCHAR"))


def _evidence(ctx: CompileContext) -> list[exp.Expr]:
    return [
        exp.alias_(ctx.trees[f"evidence[{i}]"], evidence_column(i))
        for i in range(len(ctx.policy.evidence))
    ]


def _table(name: str, alias: str) -> exp.Table:
    return exp.alias_(exp.to_table(name), alias, table=True)


def _build_where(ctx: CompileContext) -> exp.Select:
    base = ctx.base
    select = sqlglot.select(
        exp.alias_(_resource_id(ctx), "resource_id"),
        exp.alias_(_reason(ctx), "reason"),
        exp.alias_(_savings(ctx), "savings"),
        exp.alias_(_savings_key(ctx, _resource_id(ctx), "savings" in ctx.trees), "savings_key"),
        exp.alias_(_currency(ctx, "savings" in ctx.trees), "currency"),
        *_evidence(ctx),
        copy=False,
    ).from_(_table(base, base), copy=False)
    # The builders work in place (copy=False): every node here is new or owned by this
    # compilation, and copying the growing SELECT once per join cost more than building it.
    for join in ctx.joins.values():
        on = exp.column("id", table=join.alias).eq(exp.column(join.on_field, table=join.on_alias))
        select = select.join(_table(join.entity, join.alias), on=on, join_type="left", copy=False)
    return select.where(ctx.trees["where"], copy=False).order_by(exp.column("resource_id"),
                                                                 copy=False)


def _build_query(ctx: CompileContext) -> exp.Select:
    """Wrap a policy's own SELECT; reason/savings/evidence read its output columns."""
    inner = ctx.trees["query"]
    names = set(inner.named_selects)
    if "resource_id" not in names:
        ctx.problem("query", "query: the SELECT must return a column named resource_id", inner)
        return inner
    q = "q"
    for name, tree in ctx.trees.items():
        if name == "query":
            continue
        for col in tree.find_all(exp.Column):
            if col.find_ancestor(exp.Select) is None and col.name not in names:
                ctx.problem(name, f"{name}: unknown column '{col.name}' of the query's output."
                            f"{did_you_mean(col.name, names)} It returns: "
                            f"{', '.join(sorted(names))}.", col)

    def outer(node: exp.Expr) -> exp.Expr:
        return node.transform(
            lambda n: exp.column(n.name, table=q) if isinstance(n, exp.Column) else n
        )

    reason = (
        exp.column("reason", table=q) if "reason" in names and not ctx.reason_parts
        else outer(_reason(ctx))
    )
    savings = (
        exp.Round(this=exp.Cast(this=exp.column("savings", table=q),
                                to=exp.DataType.build("DOUBLE")), decimals=exp.Literal.number(2))
        if "savings" in names and "savings" not in ctx.trees else outer(_savings(ctx))
    )
    evidence = [
        exp.alias_(outer(ctx.trees[f"evidence[{i}]"]), evidence_column(i))
        for i in range(len(ctx.policy.evidence))
    ]
    resource_id = exp.Cast(this=exp.column("resource_id", table=q), to=exp.DataType.build("VARCHAR"))
    has_savings = "savings" in names or "savings" in ctx.trees
    savings_key = (_text(exp.column("savings_key", table=q))
                   if "savings_key" in names and "savings_key" not in ctx.trees
                   else outer(_savings_key(ctx, resource_id.copy(), has_savings)))
    currency = (_text(exp.column("currency", table=q))
                if "currency" in names and "currency" not in ctx.trees
                else outer(_currency(ctx, has_savings)))
    # A query may say itself which of its rows are undecidable (a boolean `undecidable` column):
    # one pass over its tables instead of a second query for the `undecidable` condition.
    flag = ([exp.alias_(exp.func("coalesce", exp.Cast(this=exp.column("undecidable", table=q),
                                                      to=exp.DataType.build("BOOLEAN")),
                                 exp.false()), UNDECIDABLE_COLUMN)]
            if "undecidable" in names else [])
    if flag and ctx.policy.undecidable is not None:
        ctx.problem("query", "query: returns an undecidable column and the policy has an "
                    "undecidable condition: say it once", inner)
    return (
        sqlglot.select(
            exp.alias_(resource_id, "resource_id"),
            exp.alias_(reason, "reason"),
            exp.alias_(savings, "savings"),
            exp.alias_(savings_key, "savings_key"),
            exp.alias_(currency, "currency"),
            *evidence,
            *flag,
            copy=False,
        )
        .from_(exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(q))),
               copy=False)
        .order_by(exp.column("resource_id"), copy=False)
    )


def build_select(ctx: CompileContext) -> None:
    ctx.select = _build_query(ctx) if "query" in ctx.trees else _build_where(ctx)
