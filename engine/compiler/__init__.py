"""The policy compiler: an ordered tuple of small passes over one context.

parse → allow-list → time functions → relations → build SELECT → qualify →
render. Each pass reads and updates a :class:`CompileContext`; problems are
collected with positions and raised together as a PolicyError.

Modules: one per pass (``parse``, ``allowlist``, ``time_functions``, ``relations``, ``build``,
``qualify``, ``render``) over ``context``; ``spark_semantics`` (DuckDB's meaning in Spark SQL),
``columns`` (the fields a policy reads), ``cache`` (compiled policies kept between evaluations).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlglot import exp

from ..errors import PolicyError, Problem, did_you_mean
from ..estate.model import EstateModel, load_model
from ..policy.model import Policy
from .allowlist import check_allowlist
from .build import UNDECIDABLE_COLUMN, build_select, evidence_column
from .context import SNAPSHOT_DATE, SNAPSHOT_TIMEZONE, CompileContext
from .parse import parse_fragments
from .qualify import qualify_select
from .relations import resolve_relations
from .render import render, render_all
from .time_functions import expand_time_functions

PASSES = (
    parse_fragments,
    check_allowlist,
    expand_time_functions,
    resolve_relations,
    build_select,
    qualify_select,
)

__all__ = ["CompiledPolicy", "compile_policy", "PASSES", "SNAPSHOT_DATE", "SNAPSHOT_TIMEZONE",
           "UNDECIDABLE_COLUMN", "evidence_column",
           "render"]


@dataclass(frozen=True)
class CompiledPolicy:
    policy: Policy
    select: exp.Select
    sql: dict[str, str]             # dialect → SQL text with named parameters
    tables: tuple[str, ...]         # estate entities the policy reads
    condition_tables: tuple[str, ...]  # those its condition needs (the rest feed evidence)
    params: tuple[str, ...]         # parameter names the SQL binds
    evidence_names: tuple[str, ...]  # evidence keys, in the policy's order
    #: The policy's ``undecidable`` condition compiled as a query of its own (its resources).
    undecidable: CompiledPolicy | None = None
    #: The query returns its undecidable resources among its rows, flagged in the last column.
    inline_undecidable: bool = False

    def fields_read(self, with_evidence: bool = False) -> dict[str, set[str]]:
        """Entity → the fields the decision reads (its condition and its undecidable condition;
        with ``with_evidence``, the reason, evidence and savings too)."""
        from .columns import fields_read

        if with_evidence:
            found = fields_read(self.select)
        else:
            trimmed = self.select.copy()
            trimmed.set("expressions", [exp.alias_(exp.column("resource_id"), "resource_id")]
                        if self.policy.query is not None else trimmed.expressions[:1])
            found = fields_read(trimmed)
        if self.undecidable is not None:
            for entity, names in self.undecidable.fields_read().items():
                found.setdefault(entity, set()).update(names)
        return found

    def required_fields(self) -> dict[str, set[str]]:
        """``fields_read()`` without the policy's optional entities: what a source must give for
        the policy to decide (an optional entity only sharpens it where an estate has one)."""
        return {e: f for e, f in self.fields_read().items() if e not in self.policy.optional}

    @property
    def input_tables(self) -> tuple[str, ...]:
        """Every table a decision reads: the condition's and the undecidable condition's."""
        extra = self.undecidable.condition_tables if self.undecidable else ()
        return tuple(sorted(set(self.condition_tables) | set(extra)))


def compile_policy(policy: Policy, model: EstateModel | None = None) -> CompiledPolicy:
    """Compile a policy to SQL, or raise PolicyError listing every problem found."""
    ctx = CompileContext(policy=policy, model=model or load_model())
    for step in PASSES:
        step(ctx)
        ctx.raise_if_problems()
    sql = render_all(ctx)
    duplicates = sorted({n for n in ctx.evidence_names if ctx.evidence_names.count(n) > 1})
    if duplicates:
        ctx.problem("evidence[0]", f"evidence: duplicate name(s) {', '.join(duplicates)}")
    for name in policy.optional:
        if name not in ctx.model.entities:
            ctx.problems.append(Problem(
                f"optional: unknown entity '{name}'.{did_you_mean(name, ctx.model.entities)}",
                policy.path))
    undecidable = None
    if policy.undecidable is not None:
        try:
            undecidable = compile_policy(replace(
                policy, where=policy.undecidable, query=None, evidence=(), reason=None,
                savings=None, savings_key=None, currency=None, undecidable=None), ctx.model)
        except PolicyError as exc:
            ctx.problems += [replace(p, message=p.message.replace("where:", "undecidable:", 1))
                             for p in exc.problems]
    ctx.raise_if_problems()
    return CompiledPolicy(
        policy=policy,
        select=ctx.select,
        sql=sql,
        tables=tuple(sorted(ctx.tables_read)),
        condition_tables=tuple(sorted(ctx.condition_tables)),
        params=tuple(sorted(ctx.params_used)),
        evidence_names=tuple(ctx.evidence_names),
        undecidable=undecidable,
        inline_undecidable=UNDECIDABLE_COLUMN in ctx.select.named_selects,
    )
