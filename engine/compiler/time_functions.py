"""Pass 3: expand Dialtone's time functions into portable SQL.

Time comes only from the snapshot: ``snapshot_date`` is a bound parameter, and
``days_since(x)`` / ``days_until(x)`` are whole days between ``x`` and it.
``local_date(ts)`` is the day a UTC timestamp fell on in the organisation's time
zone (``timezone:`` in the configuration, recorded in the snapshot): a call at
20:30 in Chicago on 1 April is on 1 April, not on 2 April as its UTC date says.
"""

from __future__ import annotations

from sqlglot import exp

from .context import SNAPSHOT_DATE, SNAPSHOT_TIMEZONE, CompileContext


def snapshot_date() -> exp.Placeholder:
    return exp.Placeholder(this=SNAPSHOT_DATE)


def _as_date(node: exp.Expr) -> exp.Expr:
    return exp.Cast(this=node, to=exp.DataType.build("DATE"))


def _days_between(start: exp.Expr, end: exp.Expr) -> exp.Expr:
    return exp.DateDiff(this=end, expression=start, unit=exp.Var(this="DAY"))


def _expand(ctx: CompileContext, name: str, node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Column) and not node.table and node.name == SNAPSHOT_DATE:
        ctx.params_used.add(SNAPSHOT_DATE)
        return snapshot_date()
    if isinstance(node, exp.Anonymous) and node.name.lower() == "local_date":
        if len(node.expressions) != 1:
            ctx.problem(name, f"{name}: local_date() takes exactly one argument", node)
            return node
        ctx.params_used.add(SNAPSHOT_TIMEZONE)
        return _as_date(exp.ConvertTimezone(source_tz=exp.Literal.string("UTC"),
                                            target_tz=exp.Placeholder(this=SNAPSHOT_TIMEZONE),
                                            timestamp=node.expressions[0]))
    if isinstance(node, exp.Anonymous) and node.name.lower() in ("days_since", "days_until"):
        args = node.expressions
        fname = node.name.lower()
        if len(args) != 1:
            ctx.problem(name, f"{name}: {fname}() takes exactly one argument", node)
            return node
        ctx.params_used.add(SNAPSHOT_DATE)
        # The argument may itself use a time function: days_since(local_date(x)).
        arg = _as_date(args[0].transform(lambda n: _expand(ctx, name, n)))
        if fname == "days_since":
            return _days_between(arg, snapshot_date())
        return _days_between(snapshot_date(), arg)
    return node


def expand_time_functions(ctx: CompileContext) -> None:
    for name in list(ctx.trees):
        ctx.trees[name] = ctx.trees[name].transform(lambda n, name=name: _expand(ctx, name, n))
