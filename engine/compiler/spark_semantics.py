"""DuckDB's semantics in Spark SQL: the rewrites the Spark rendering needs to agree.

The compiled SELECT is written in DuckDB's dialect and DuckDB's meaning is the
reference; sqlglot transpiles syntax, not semantics. Where Spark SQL (ANSI
mode) computes something else for the same text, the Spark rendering is
rewritten here, each case pinned by a differential test
(tests/test_spark_semantics.py):

- ``a / b``: DuckDB divides in DOUBLE and gives ±inf/NaN for a zero divisor;
  Spark keeps DECIMAL for decimals and raises DIVIDE_BY_ZERO.
- ``round(x, d)`` of a DOUBLE: DuckDB rounds the exact binary value half away
  from zero (round(2.675, 2) = 2.67); Spark rounds the shortest decimal text
  (2.68). Rewritten as exact arithmetic (Dekker's split for the error of x·10^d).
- ``CAST(x AS VARCHAR)`` of a DOUBLE: DuckDB prints 12345678.9 and 1e+16,
  Java prints 1.23456789E7 and 1.0E16.
- ``list_contains(list, x)``: a list holding NULL without x is false in DuckDB,
  NULL in Spark.
- ``substring(s, 0, n)``: DuckDB counts position 0 (n - 1 characters), Spark
  treats 0 as 1.
- ``extract(dow ...)``: DuckDB 0-6 from Sunday, Spark 1-7; ``isodow`` is
  Spark's ``dayofweek_iso``.
- ``date_diff(unit, a, b)``: DuckDB counts the unit's boundaries crossed (2 April to
  1 June is 2 months; 23:59 to 00:01 is a day), Spark the whole units elapsed (1
  month; 0 days). Day, month and year differences are spelt out on dates.
- ``local_date(ts)`` is ``CONVERT_TIMEZONE``, allowed by the Spark sandbox.
- A correlated ``lines.id`` inside ``SELECT … FROM legal_holds h``: DuckDB takes
  ``lines`` for the outer table; Spark first looks for a column ``lines`` in the
  subquery (legal_holds has one) and reads ``h.lines['id']``. The outer table
  gets an alias no column can shadow.

Known and not rewritten (documented in docs/scale-out.md): ``upper``/``lower``
use Java's full case mapping in Spark ('ß' → 'SS') and Unicode's simple one in
DuckDB ('ß' → 'ẞ'); regular expressions are RE2 in DuckDB and java.util.regex
in Spark (the same for the usual classes, anchors and quantifiers).
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.schema import MappingSchema

T = exp.DataType.Type
_FLOATS = {T.DOUBLE, T.FLOAT}
_TEXT = {T.VARCHAR, T.TEXT}
#: Beyond this, x·10^d has no fractional part left: rounding is the identity.
_EXACT = 4503599627370496.0  # 2^52
_SPLIT = 134217729.0  # 2^27 + 1, Dekker's splitter


def _double(node: exp.Expr) -> exp.Expr:
    return exp.Cast(this=node, to=exp.DataType.build("DOUBLE"))


def _num(value: float | int) -> exp.Expr:
    return _double(exp.Literal.number(repr(value) if isinstance(value, float) else value))


def _is_float(node: exp.Expr) -> bool:
    typ = getattr(node, "type", None)
    if typ is not None and typ.this in _FLOATS:
        return True
    # Parameters are typed only when bound: arithmetic over a DOUBLE column is DOUBLE.
    if (typ is None or typ.this is T.UNKNOWN) and isinstance(
            node, (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Neg, exp.Paren)):
        return any(getattr(n, "type", None) is not None and n.type.this in _FLOATS
                       for n in node.walk() if n is not node)
    return False


def _has_data(node: exp.Expr) -> bool:
    return node.find(exp.Column, exp.Placeholder, exp.Subquery, exp.Select) is not None


def _div(node: exp.Div) -> exp.Expr:
    a, b = _double(node.this.copy()), _double(node.expression.copy())
    inf = exp.Cast(this=exp.Literal.string("Infinity"), to=exp.DataType.build("DOUBLE"))
    return exp.Paren(this=exp.Case(
        ifs=[exp.If(this=exp.EQ(this=b.copy(), expression=_num(0)),
                    true=exp.Mul(this=a.copy(), expression=inf))],
        default=exp.Div(this=a, expression=b),
    ))


def _round(node: exp.Round) -> exp.Expr:
    digits = node.args.get("decimals")
    d = 0 if digits is None else (int(digits.name) if isinstance(digits, exp.Literal)
                                  and digits.is_int else None)
    if d is None or not 0 <= d <= 15:
        return node
    v = _double(node.this.copy())
    scale = _num(float(10 ** d))
    a = exp.Abs(this=v.copy())

    def p():  # fl(|v| * 10^d)
        return exp.Paren(this=exp.Mul(this=a.copy(), expression=scale.copy()))

    def f():
        return _double(exp.Floor(this=p()))

    frac = exp.Paren(this=exp.Sub(this=p(), expression=f()))
    c = exp.Paren(this=exp.Mul(this=a.copy(), expression=_num(_SPLIT)))
    hi = exp.Paren(this=exp.Sub(this=c.copy(), expression=exp.Paren(
        this=exp.Sub(this=c.copy(), expression=a.copy()))))
    lo = exp.Paren(this=exp.Sub(this=a.copy(), expression=hi.copy()))
    # The exact error of p: |v|·10^d = p + err (10^d has at most 50 bits... and d <= 15).
    err = exp.Paren(this=exp.Add(
        this=exp.Paren(this=exp.Sub(this=exp.Mul(this=hi, expression=scale.copy()), expression=p())),
        expression=exp.Mul(this=lo, expression=scale.copy())))
    up = exp.Or(this=exp.GT(this=frac.copy(), expression=_num(0.5)),
                expression=exp.Paren(this=exp.And(
                    this=exp.EQ(this=frac.copy(), expression=_num(0.5)),
                    expression=exp.GTE(this=err, expression=_num(0)))))
    n = exp.Paren(this=exp.Add(this=f(), expression=exp.Case(
        ifs=[exp.If(this=up, true=_num(1))], default=_num(0))))
    signed = exp.Case(ifs=[exp.If(this=exp.LT(this=v.copy(), expression=_num(0)),
                                  true=exp.Neg(this=n.copy()))], default=n)
    rounded = exp.Div(this=exp.Paren(this=signed), expression=scale.copy())
    small = exp.LT(this=exp.Mul(this=a.copy(), expression=scale.copy()), expression=_num(_EXACT))
    # NULL stays NULL through the arithmetic; NaN and ±inf (not small) come back as they are.
    return exp.Paren(this=exp.Case(ifs=[exp.If(this=exp.Not(this=exp.Paren(this=small)), true=v.copy())],
                                   default=rounded))


def _regexp_replace(node: exp.Expr, pattern: str, replacement: str) -> exp.Expr:
    return exp.RegexpReplace(this=node, expression=exp.Literal.string(pattern),
                             replacement=exp.Literal.string(replacement))


def _plain(v: exp.Expr, scale: int) -> exp.Expr:
    text = exp.Cast(this=exp.Cast(this=v.copy(), to=exp.DataType.build(f"DECIMAL(38, {scale})")),
                    to=exp.DataType.build("STRING"))
    return _regexp_replace(text, r"(\.[0-9]*[1-9]|\.0)0*$", "$1")


def _format_double(node: exp.Cast) -> exp.Expr:
    v = _double(node.this.copy())
    a = exp.Abs(this=v.copy())
    java = exp.Cast(this=v.copy(), to=exp.DataType.build("STRING"))
    # Both print in exponent form: Java's 1.5E-5 / 1.0E16 → DuckDB's 1.5e-05 / 1e+16.
    sci = _regexp_replace(java, r"\.0E", "E")
    sci = _regexp_replace(sci, r"E(-?)([0-9])$", "E$10$2")
    sci = _regexp_replace(sci, r"E([0-9])", "e+$1")
    sci = _regexp_replace(sci, "E-", "e-")
    between = exp.Between
    return exp.Paren(this=exp.Case(ifs=[
        exp.If(this=between(this=a.copy(), low=_num(1e7), high=_num(1e16)).and_(
            exp.LT(this=a.copy(), expression=_num(1e16))), true=_plain(v, 10)),
        exp.If(this=between(this=a.copy(), low=_num(1e-4), high=_num(1e-3)).and_(
            exp.LT(this=a.copy(), expression=_num(1e-3))), true=_plain(v, 25)),
        exp.If(this=exp.EQ(this=java.copy(), expression=exp.Literal.string("NaN")),
               true=exp.Literal.string("nan")),
        exp.If(this=exp.EQ(this=java.copy(), expression=exp.Literal.string("Infinity")),
               true=exp.Literal.string("inf")),
        exp.If(this=exp.EQ(this=java.copy(), expression=exp.Literal.string("-Infinity")),
               true=exp.Literal.string("-inf")),
        exp.If(this=exp.Or(this=exp.GTE(this=a.copy(), expression=_num(1e16)),
                           expression=exp.LT(this=a.copy(), expression=_num(1e-4))).and_(
            exp.GT(this=a.copy(), expression=_num(0))), true=sci),
    ], default=java))


def _substring(node: exp.Substring) -> exp.Expr:
    start, length = node.args.get("start"), node.args.get("length")
    if start is None or length is None or (isinstance(start, exp.Literal) and start.is_int
                                           and int(start.name) >= 1):
        return node
    zero = exp.EQ(this=start.copy(), expression=exp.Literal.number(0))
    shorter = exp.Substring(this=node.this.copy(), start=exp.Literal.number(1),
                            length=exp.Sub(this=length.copy(), expression=exp.Literal.number(1)))
    return exp.Paren(this=exp.Case(ifs=[exp.If(this=zero, true=shorter)], default=node.copy()))


def _array_contains(node: exp.ArrayContains) -> exp.Expr:
    compact = exp.Anonymous(this="ARRAY_COMPACT", expressions=[node.this.copy()])
    return exp.ArrayContains(this=compact, expression=node.expression.copy())


def _extract(node: exp.Extract) -> exp.Expr:
    unit = node.this.name.upper()
    if unit in ("DOW", "DAYOFWEEK"):
        dow = exp.Extract(this=exp.var("DOW"), expression=node.expression.copy())
        return exp.Paren(this=exp.Sub(this=dow, expression=exp.Literal.number(1)))
    if unit in ("ISODOW", "DAYOFWEEK_ISO"):
        return exp.Extract(this=exp.var("DAYOFWEEK_ISO"), expression=node.expression.copy())
    return node


def _as_date(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Cast) and node.to.this is T.DATE:
        return node.copy()
    return exp.Cast(this=node.copy(), to=exp.DataType.build("DATE"))


def _months(node: exp.Expr) -> exp.Expr:
    return exp.Paren(this=exp.Add(
        this=exp.Mul(this=exp.Year(this=node.copy()), expression=exp.Literal.number(12)),
        expression=exp.Month(this=node.copy())))


def _date_diff(node: exp.DateDiff) -> exp.Expr:
    """DuckDB's date_diff: the number of unit boundaries between the two dates."""
    unit = (node.unit.name if node.args.get("unit") is not None else "DAY").upper()
    end, start = node.this, node.expression
    if unit in ("DAY", "DAYS"):
        return exp.DateDiff(this=_as_date(end), expression=_as_date(start), unit=exp.var("DAY"))
    if unit in ("MONTH", "MONTHS"):
        return exp.Paren(this=exp.Sub(this=_months(end), expression=_months(start)))
    if unit in ("YEAR", "YEARS"):
        return exp.Paren(this=exp.Sub(this=exp.Year(this=end.copy()),
                                      expression=exp.Year(this=start.copy())))
    return node


def _rewrite(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Div):
        return _div(node)
    # A literal-only argument is a DECIMAL in both engines (exact there): left alone.
    if isinstance(node, exp.Round) and _has_data(node.this) and (
            _is_float(node.this) or not getattr(node.this, "type", None)
            or node.this.type.this is T.UNKNOWN):
        return _round(node)
    if (isinstance(node, exp.Cast) and node.to.this in _TEXT and _is_float(node.this)):
        return _format_double(node)
    if isinstance(node, exp.Substring):
        return _substring(node)
    if isinstance(node, exp.ArrayContains):
        return _array_contains(node)
    if isinstance(node, exp.Extract):
        return _extract(node)
    if isinstance(node, exp.DateDiff):
        return _date_diff(node)
    return node


#: The alias the resource table takes in Spark when a subquery refers to it by name.
_UNSHADOWED = "{}__outer"


def _sources(select: exp.Select) -> set[str]:
    from_ = select.args.get("from_")
    tables = ([from_.this] if from_ is not None else []) + [j.this for j in select.args.get("joins") or []]
    return {t.alias_or_name for t in tables}


def _unshadow_outer_table(tree: exp.Expr) -> None:
    """Alias the outer FROM table when a subquery names it, so no inner column shadows it."""
    from_ = tree.args.get("from_") if isinstance(tree, exp.Select) else None
    table = from_.this if from_ is not None else None
    if not isinstance(table, exp.Table) or table.alias not in ("", table.name):
        return
    name = table.name
    outer_refs = []
    for column in tree.find_all(exp.Column):
        if column.table != name:
            continue
        scope = column.find_ancestor(exp.Select)
        # The nearest enclosing SELECT that has a source of that name owns the column.
        while scope is not tree and name not in _sources(scope):
            scope = scope.find_ancestor(exp.Select)
        if scope is tree:
            outer_refs.append(column)
    if not any(c.find_ancestor(exp.Select) is not tree for c in outer_refs):
        return
    alias = _UNSHADOWED.format(name)
    table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
    for column in outer_refs:
        column.set("table", exp.to_identifier(alias))


def spark_semantics(select: exp.Expr, schema: dict | None = None) -> exp.Expr:
    """A copy of ``select`` whose Spark rendering computes what DuckDB computes."""
    tree = select.copy()
    _unshadow_outer_table(tree)
    if schema is not None:
        tree = annotate_types(tree, schema=MappingSchema(schema, dialect="duckdb"), dialect="duckdb")
    # Children first (post-order), so a rewritten node's copies carry rewritten children.
    for node in list(tree.walk(bfs=False))[::-1]:
        new = _rewrite(node)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree
