"""Pass 4: resolve names against the estate model.

Bare columns belong to the policy's resource; dotted to-one relations
(``owner.status``, ``owner.office_location.country``) become LEFT JOINs
with one alias per path; tables in subqueries must be estate entities.
"""

from __future__ import annotations

from sqlglot import exp

from ..errors import did_you_mean
from .context import CompileContext, Join


def _scope_aliases(node: exp.Expr) -> dict[str, str]:
    """Alias → table name for every enclosing SELECT of ``node``."""
    aliases: dict[str, str] = {}
    select = node.find_ancestor(exp.Select)
    while select is not None:
        for table in select.find_all(exp.Table):
            if table.find_ancestor(exp.Select) is select:
                aliases.setdefault(table.alias_or_name, table.name)
        select = select.find_ancestor(exp.Select)
    return aliases


def _ctes_in_scope(table: exp.Table) -> set[str]:
    """The CTE names ``table`` can mean: those of every WITH around it, and inside a CTE only the
    ones defined before it (none recurses: a name a CTE cannot see is a table, or a file to
    DuckDB's replacement scan)."""
    names: set[str] = set()
    child, node = table, table.parent
    while node is not None:
        if isinstance(node, exp.With):
            for cte in node.expressions:
                if cte is child:
                    break
                names.add(cte.alias)
        else:
            with_ = node.args.get("with_") or node.args.get("with")
            if isinstance(with_, exp.With) and with_ is not child:
                names.update(cte.alias for cte in with_.expressions)
        child, node = node, node.parent
    return names


def _check_tables(ctx: CompileContext, name: str, tree: exp.Expr, ctes: set[str]) -> None:
    for table in tree.find_all(exp.Table):
        if table.args.get("db") or table.args.get("catalog"):
            ctx.problem(name, f"{name}: table names cannot be qualified ('{table.sql()}')", table)
        elif table.name in ctes and table.name in _ctes_in_scope(table):
            continue
        elif table.name not in ctx.model.entities:
            ctx.problem(
                name,
                f"{name}: unknown table '{table.name}'.{did_you_mean(table.name, ctx.model.entities)}",
                table,
            )
        else:
            ctx.read(name, table.name)


def _field_problem(ctx: CompileContext, entity: str, column: str) -> str | None:
    ent = ctx.model.entity(entity)
    if column in ent.field_names:
        return None
    hint = did_you_mean(column, ent.field_names)
    if column in ent.relations:
        hint = f" '{column}' is a relation: write {column}.<field>."
    return f"unknown column '{column}' of {entity}.{hint}"


#: Relations renamed in the estate model: old name -> new name. A policy written with the old
#: name gets an error that says what to write instead (its evidence keys change with it, so the
#: old name is not quietly accepted).
RENAMED_RELATIONS = {"assignee": "owner"}


def _join_for(ctx: CompileContext, name: str, path: list[str], node: exp.Expr) -> str | None:
    """Register the joins for a relation path and return the final alias."""
    entity, alias = ctx.base, ctx.base
    for part in path:
        rel = ctx.model.entity(entity).relations.get(part)
        if rel is None:
            rels = ctx.model.entity(entity).relations
            known = ", ".join(sorted(rels)) or "none"
            renamed = RENAMED_RELATIONS.get(part)
            hint = (f" The relation '{part}' is now called '{renamed}': write {renamed}.<field> (its "
                    f"evidence keys read {renamed}.* too)." if renamed in rels
                    else did_you_mean(part, rels))
            ctx.problem(
                name,
                f"{name}: {entity} has no relation '{part}'.{hint} Relations of {entity}: {known}.",
                node,
            )
            return None
        new_alias = part if alias == ctx.base else f"{alias}__{part}"
        ctx.joins.setdefault(new_alias, Join(new_alias, rel.entity, alias, rel.field))
        ctx.read(name, rel.entity)
        entity, alias = rel.entity, new_alias
    return alias


def _resolve_column(ctx: CompileContext, name: str, col: exp.Column) -> exp.Expr:
    parts = [p.name for p in col.parts[:-1]]
    in_subquery = col.find_ancestor(exp.Select) is not None
    if in_subquery:
        aliases = _scope_aliases(col)
        if not parts or parts[0] in aliases:
            return col
    if parts and parts[0] == ctx.base and parts[0] not in ctx.model.entity(ctx.base).relations:
        parts = parts[1:]
    if not parts:
        problem = _field_problem(ctx, ctx.base, col.name)
        if problem:
            ctx.problem(name, f"{name}: {problem}", col)
            return col
        alias = ctx.base
    else:
        alias = _join_for(ctx, name, parts, col)
        if alias is None:
            return col
        problem = _field_problem(ctx, ctx.joins[alias].entity, col.name)
        if problem:
            ctx.problem(name, f"{name}: {problem}", col)
            return col
    return exp.Column(this=col.this.copy(), table=exp.to_identifier(alias))


def resolve_relations(ctx: CompileContext) -> None:
    if ctx.base not in ctx.model.entities:
        ctx.problem("where" if "where" in ctx.fragments else "query",
                    f"resource: unknown entity '{ctx.base}'.{did_you_mean(ctx.base, ctx.model.entities)}")
        return
    ctx.read("where", ctx.base)
    query_mode = "query" in ctx.trees
    for name in list(ctx.trees):
        tree = ctx.trees[name]
        ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
        _check_tables(ctx, name, tree, ctes)
        if query_mode:
            # A full query names its own tables (qualify checks its columns); evidence,
            # reason and savings then read the query's output columns.
            continue
        if isinstance(tree, exp.Column):
            ctx.trees[name] = _resolve_column(ctx, name, tree)
            continue
        for col in list(tree.find_all(exp.Column)):
            new = _resolve_column(ctx, name, col)
            if new is not col:
                col.replace(new)
