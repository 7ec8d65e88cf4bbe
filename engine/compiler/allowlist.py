"""Pass 2: reject every node that is not on the allow-list.

A successful parse proves nothing (sqlglot is a transpiler, not a validator),
so the check is on exact node types: ``isinstance(node, exp.Func)`` would also
match ``And`` and ``Or``. Unknown functions parse as ``exp.Anonymous`` and are
allowed only when they are one of Dialtone's time functions.
"""

from __future__ import annotations

from sqlglot import exp

from ..errors import did_you_mean
from .context import SNAPSHOT_DATE, SNAPSHOT_TIMEZONE, CompileContext

OPERATORS: frozenset[type] = frozenset({
    exp.And, exp.Or, exp.Not, exp.Paren, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE,
    exp.NullSafeEQ, exp.NullSafeNEQ, exp.In, exp.Is, exp.Like, exp.ILike, exp.Between,
    exp.Tuple, exp.Neg, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.DPipe,
    exp.Case, exp.If, exp.Cast, exp.TryCast, exp.DataType, exp.Interval, exp.Var,
    exp.Column, exp.Identifier, exp.Literal, exp.Null, exp.Boolean, exp.Placeholder,
    exp.Distinct, exp.Star,
})

#: Allowed functions: sqlglot node → the name users write (for messages and docs).
FUNCTIONS: dict[type, str] = {
    exp.Lower: "lower", exp.Upper: "upper", exp.Length: "length", exp.Trim: "trim",
    exp.Substring: "substring", exp.Concat: "concat", exp.StartsWith: "starts_with",
    exp.RegexpLike: "regexp_matches", exp.Coalesce: "coalesce", exp.Nullif: "nullif",
    # Literal text, no patterns: the same on every backend, linear in the text.
    exp.Replace: "replace", exp.StrPosition: "strpos",
    # One ASCII character by its code (a line feed, a tab: the policy language has no escapes).
    exp.Chr: "chr",
    exp.Abs: "abs", exp.Round: "round", exp.Floor: "floor", exp.Ceil: "ceil",
    exp.Greatest: "greatest", exp.Least: "least",
    exp.DateDiff: "date_diff", exp.Extract: "extract", exp.Year: "year", exp.Month: "month",
    exp.ArraySize: "array_length", exp.ArrayContains: "list_contains",
}

#: Aggregates: only inside subqueries or a `query:`.
AGGREGATES: dict[type, str] = {
    exp.Count: "count", exp.Sum: "sum", exp.Avg: "avg", exp.Min: "min", exp.Max: "max",
}

#: Nodes a scalar subquery, EXISTS, IN (SELECT …) or a `query:` may use.
QUERY_NODES: frozenset[type] = frozenset({
    exp.Subquery, exp.Select, exp.From, exp.Where, exp.Table, exp.TableAlias, exp.Join,
    exp.Exists, exp.Alias, exp.Group, exp.Having, exp.Order, exp.Ordered, exp.With, exp.CTE,
    exp.Window, exp.Lag, exp.Lead, exp.RowNumber, exp.Filter,
})

#: Dialtone's own functions (expanded by the ``expand_time_functions`` pass).
TIME_FUNCTIONS = {"days_since": "days between x and the snapshot date",
                  "days_until": "days from the snapshot date until x",
                  "local_date": "the day a UTC timestamp fell on in the organisation's time zone"}

_CLOCK = (exp.CurrentDate, exp.CurrentTimestamp, exp.CurrentTime)
_CLOCK_NAMES = {"now", "today", "current_date", "current_timestamp", "get_current_time",
                "get_current_timestamp", "transaction_timestamp", "current_localtimestamp"}
_RANDOM_NAMES = {"random", "rand", "uuid", "gen_random_uuid", "setseed"}
_CLOCK_HINT = ("evaluation uses only the snapshot's time: use snapshot_date, "
               "days_since(x) or days_until(x)")
#: Pattern replacement stays out. On the Spark backend a regular expression runs in Java's
#: backtracking matcher: '^(a|a){1,99}b$' took 0.8 s on 24 a's and 13.5 s on 28 (Java 17,
#: 2026-12-07), doubling with each further character, and Spark cancels a task by interrupting
#: its thread, which java.util.regex does not check. That pattern has no backreference and no
#: nested quantifier, so a validator refusing those would promise more than it checks. DuckDB and
#: Spark also disagree on it: DuckDB replaces the first match unless 'g' is given, Spark every
#: match; a group is \1 in one and $1 in the other.
_REGEXP_REPLACE = ("regexp_replace() is not allowed: on the Spark backend a pattern can run in "
                   "exponential time, and the backends replace differently. "
                   "Use replace(text, 'from', 'to') for literal text, strpos(text, 'part') to find "
                   "it (docs/policies.md)")
#: Arguments the backends do not agree on (a start position, an occurrence, a missing
#: replacement that Spark reads as ''): refused so the text means one thing everywhere.
_ARITY = {exp.Replace: (("replacement",), (), "replace(text, from, to) takes three arguments"),
          exp.StrPosition: ((), ("position", "occurrence", "clamp_position"),
                            "strpos(text, part) takes two arguments")}


#: chr(n) only for a literal code of the ASCII range: above it DuckDB reads a Unicode code point
#: and Spark the code modulo 256.
_CHR = "chr(n) takes one whole number from 1 to 127 (an ASCII character, e.g. chr(10) a line feed)"


def _chr_problem(node: exp.Chr) -> str | None:
    args = node.expressions
    if (len(args) != 1 or not isinstance(args[0], exp.Literal) or args[0].is_string
            or node.args.get("charset")):
        return _CHR
    try:
        code = int(args[0].this)
    except ValueError:
        return _CHR
    return None if 1 <= code <= 127 else _CHR


def allowed_function_names() -> list[str]:
    return sorted({*FUNCTIONS.values(), *AGGREGATES.values(), *TIME_FUNCTIONS})


def _why(node: exp.Expr, in_query: bool) -> str | None:
    """Why ``node`` is not allowed, or None when it is."""
    kind = type(node)
    if kind is exp.Chr:
        return _chr_problem(node)
    if kind in _ARITY:
        required, refused, message = _ARITY[kind]
        if any(node.args.get(a) is None for a in required) or any(
                node.args.get(a) is not None for a in refused):
            return message
    if kind in OPERATORS or kind in FUNCTIONS:
        return None
    if kind is exp.RegexpReplace or (kind is exp.Anonymous and node.name.lower() == "regexp_replace"):
        return _REGEXP_REPLACE
    if kind in AGGREGATES or kind in QUERY_NODES:
        if kind is exp.Table and not isinstance(node.this, exp.Identifier):
            return "table functions and file or network access are not allowed"
        if kind in AGGREGATES and not in_query:
            return (f"aggregate {AGGREGATES[kind]}() is only allowed inside a subquery, "
                    "e.g. (SELECT count(*) FROM usage u WHERE u.line_id = lines.id)")
        return None
    if kind is exp.Anonymous:
        name = node.name.lower()
        if name in TIME_FUNCTIONS:
            return None
        if name in _CLOCK_NAMES:
            return f"{name}() is not allowed: {_CLOCK_HINT}"
        if name in _RANDOM_NAMES:
            return f"{name}() is not allowed: evaluation must be reproducible"
        return (f"function {name}() is not allowed."
                f"{did_you_mean(name, allowed_function_names())}"
                f" Allowed: {', '.join(allowed_function_names())}")
    if isinstance(node, _CLOCK):
        return f"{node.sql(dialect='duckdb').lower()} is not allowed: {_CLOCK_HINT}"
    if kind.__name__ in ("Rand", "Randn", "Uuid", "Random"):
        return "random values are not allowed: evaluation must be reproducible"
    if kind.__name__ in (
        "Drop", "Create", "Insert", "Update", "Delete", "Merge", "Copy", "Command", "Pragma",
        "Set", "Use", "Attach", "Detach", "Install", "Load",
    ):
        return "only read-only SQL is allowed (no DDL, DML or commands)"
    if kind.__name__.startswith("Read") or kind.__name__ in ("ReadCSV", "ReadParquet"):
        return "table functions and file or network access are not allowed"
    if isinstance(node, exp.Func):
        name = node.sql_name().lower() if hasattr(node, "sql_name") else kind.__name__.lower()
        return (f"function {name}() is not allowed."
                f"{did_you_mean(name, allowed_function_names())}"
                f" Allowed: {', '.join(allowed_function_names())}")
    return f"{kind.__name__} is not allowed in a policy"


def check_allowlist(ctx: CompileContext) -> None:
    for name, tree in ctx.trees.items():
        in_query_root = name == "query"
        for node in tree.walk():
            in_query = in_query_root or node.find_ancestor(exp.Select) is not None
            why = _why(node, in_query)
            if why:
                ctx.problem(name, f"{name}: {why}", node)
                break  # the first problem per fragment; the rest are usually knock-ons
            if isinstance(node, exp.Placeholder):
                pname = node.name
                declared = {p.name for p in ctx.policy.params}
                if not pname:
                    ctx.problem(name, f"{name}: parameters must be named, e.g. :idle_days", node)
                elif pname not in (SNAPSHOT_DATE, SNAPSHOT_TIMEZONE) and pname not in declared:
                    ctx.problem(
                        name,
                        f"{name}: unbound parameter :{pname}; declare it under params."
                        f"{did_you_mean(pname, declared)}",
                        node,
                    )
                else:
                    ctx.params_used.add(pname)
