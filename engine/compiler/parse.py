"""Pass 1: parse each SQL fragment of a policy into a sqlglot tree."""

from __future__ import annotations

import re
from dataclasses import replace

from sqlglot import exp, parse_one
from sqlglot.errors import ParseError

from .context import CompileContext

#: Policy SQL is written in DuckDB's dialect and transpiled to the others.
SOURCE_DIALECT = "duckdb"
MAX_NODES = 2000
#: SQL expressions one policy may hold (its condition or query, evidence, reason placeholders,
#: savings): each is parsed and compiled on its own, so their number bounds the work (the
#: built-in policies hold at most 32).
MAX_FRAGMENTS = 200
_ALIAS = re.compile(r"^(?P<expr>.*\S)\s+AS\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*$", re.S | re.I)


def _split_alias(text: str) -> tuple[str, str]:
    """``expr AS name`` → (expr, name); otherwise the text names itself."""
    m = _ALIAS.match(text)
    if m:
        return m.group("expr"), m.group("name")
    return text, text.strip()


def _parse(ctx: CompileContext, name: str, into: type | None) -> exp.Expr | None:
    frag = ctx.fragments[name]
    try:
        if into is None:
            tree = parse_one(frag.text, read=SOURCE_DIALECT, max_nodes=MAX_NODES)
        else:
            tree = parse_one(frag.text, read=SOURCE_DIALECT, into=into, max_nodes=MAX_NODES)
    except ParseError as exc:
        err = exc.errors[0] if exc.errors else {}
        desc = err.get("description", str(exc))
        line, col = err.get("line"), err.get("col")
        if line and col and frag.line is not None:
            if line == 1:
                fline, fcol = frag.line, (frag.column or 1) + col - 1
            else:
                fline, fcol = frag.line + line - 1, (frag.column or 1) + col - 1
        else:
            fline, fcol = frag.locate(0)
        highlight = err.get("highlight")
        if ";" in frag.text and into is not None:
            desc = "only one SQL expression is allowed (found ';')"
        elif highlight:
            desc = f"{desc} near '{highlight}'"
        from ..errors import Problem

        ctx.problems.append(Problem(f"{name}: cannot parse SQL: {desc}", frag.file, fline, fcol))
        return None
    except Exception as exc:  # sqlglot raises a few other errors for odd input
        ctx.problem(name, f"{name}: cannot parse SQL: {exc}")
        return None
    return tree


def parse_fragments(ctx: CompileContext) -> None:
    policy = ctx.policy
    if policy.where is not None:
        ctx.fragments["where"] = policy.where
    if policy.query is not None:
        ctx.fragments["query"] = policy.query
    for name in ("savings", "savings_key", "currency"):
        if getattr(policy, name) is not None:
            ctx.fragments[name] = getattr(policy, name)
    for i, ev in enumerate(policy.evidence):
        text, name = _split_alias(ev.text)
        ctx.fragments[f"evidence[{i}]"] = replace(ev, text=text)
        ctx.evidence_names.append(name)
    if policy.reason is not None and not _split_reason(ctx):
        return
    if len(ctx.fragments) > MAX_FRAGMENTS:
        ctx.problem(next(iter(ctx.fragments)), _too_many(len(ctx.fragments)))
        return

    for name in list(ctx.fragments):
        if name == "reason" or name.startswith("reason{"):
            continue
        into = None if name == "query" else exp.Condition
        tree = _parse(ctx, name, into)
        if tree is None:
            continue
        if name == "query" and not isinstance(tree, exp.Select):
            ctx.problem(name, "query: only a single read-only SELECT is allowed", tree)
            continue
        ctx.trees[name] = tree
    for name in [n for n in ctx.fragments if n.startswith("reason{")]:
        tree = _parse(ctx, name, exp.Condition)
        if tree is not None:
            ctx.trees[name] = tree


def _placeholders(text: str) -> list[tuple[str, int, int]]:
    """Split a reason template into ("text", value, offset) and ("expr", value, offset) parts.

    ``{expression}`` is SQL (braces inside it, e.g. a regexp ``'[0-9]{3}'``, are matched, and
    quoted strings are skipped); ``{{`` and ``}}`` are literal braces. Raises ValueError with
    the offset of an unbalanced brace.
    """
    parts: list[tuple[str, str, int]] = []
    buf: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "{}" and text[i:i + 2] in ("{{", "}}"):
            buf.append(ch)
            i += 2
            continue
        if ch == "}":
            raise ValueError(f"unbalanced '}}' at offset {i} (write '}}}}' for a literal brace)")
        if ch != "{":
            buf.append(ch)
            i += 1
            continue
        if buf:
            parts.append(("text", "".join(buf), i - len(buf)))
            buf = []
        depth, j, quote = 1, i + 1, None
        while j < len(text) and depth:
            c = text[j]
            if quote:
                if c == quote:
                    quote = None
            elif c in "'\"":
                quote = c
            elif c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            j += 1
        if depth:
            raise ValueError(f"unbalanced '{{' at offset {i} (write '{{{{' for a literal brace)")
        parts.append(("expr", text[i + 1:j - 1], i + 1))
        i = j
    if buf:
        parts.append(("text", "".join(buf), len(text) - len(buf)))
    return parts


def _too_many(count: int) -> str:
    return (f"a policy may hold at most {MAX_FRAGMENTS} SQL expressions (its condition, evidence, "
            f"reason placeholders and savings); this one has {count:,}")


def _split_reason(ctx: CompileContext) -> bool:
    """Split the reason template into literal text and ``{expression}`` fragments; False (a
    problem recorded) when it cannot be, or would make too many fragments."""
    from ..errors import Problem
    from ..policy.model import Fragment

    frag = ctx.policy.reason
    text = frag.text.strip()
    lead = len(frag.text) - len(frag.text.lstrip())
    try:
        parts = _placeholders(text)
    except ValueError as exc:
        line, col = frag.locate(lead)
        ctx.problems.append(Problem(f"reason: {exc}", frag.file, line, col))
        return False
    count = len(ctx.fragments) + sum(kind == "expr" for kind, _, _ in parts)
    if count > MAX_FRAGMENTS:
        # Before each placeholder is located in the file: that alone is quadratic in them.
        line, col = frag.locate(lead)
        ctx.problems.append(Problem(f"reason: {_too_many(count)}", frag.file, line, col))
        return False
    n = 0
    for kind, value, offset in parts:
        if kind == "text":
            ctx.reason_parts.append(("text", value))
            continue
        line, col = frag.locate(lead + offset)
        name = f"reason{{{n}}}"
        n += 1
        ctx.fragments[name] = Fragment(value, frag.file, line, col)
        ctx.reason_parts.append(("expr", name))
    return True
