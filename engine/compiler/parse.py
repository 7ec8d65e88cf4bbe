"""Pass 1: parse each SQL fragment of a policy into a sqlglot tree."""

from __future__ import annotations

import re
from dataclasses import replace

from sqlglot import exp, parse_one
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType

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


#: Tokens that are names already (or not words): a word of any other type is an SQL keyword.
_NAME_TOKENS = frozenset({TokenType.VAR, TokenType.IDENTIFIER, TokenType.STRING,
                          TokenType.NUMBER, TokenType.PARAMETER, TokenType.PLACEHOLDER})
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_NAME_START = re.compile(r'[A-Za-z_"]')


def quote_keyword_paths(text: str) -> tuple[str, list[int]]:
    """Quote every SQL keyword that begins a dotted name, so ``call.line.number`` (a recording's
    call) is a path and not DuckDB's CALL statement; ``call`` alone stays a keyword.

    Returns the new text and the offsets, in it, of the quotes added (ascending). A relation
    or alias may be named like a keyword (call, order, case...): the estate model names
    relations for what they are, not around SQL's grammar, and a policy author should not have
    to know which words are reserved. Nothing else can follow a keyword directly with ``.name``.
    """
    added: list[int] = []
    if "." not in text:
        return text, added
    tokenize = Dialect.get_or_raise(SOURCE_DIALECT).tokenize
    # A statement keyword (CALL, SHOW...) swallows the rest of its statement as one token, so
    # once quoted the text is tokenised again; one statement is all a fragment may hold, so a
    # few rounds are plenty (the parser reports what is left).
    for _ in range(4):
        try:
            tokens = tokenize(text)
        except TokenError:
            break  # the parser reports it
        heads = [t for t in tokens
                 if t.token_type not in _NAME_TOKENS and _WORD.match(t.text)
                 and text[t.end + 1:t.end + 2] == "."
                 and _NAME_START.match(text[t.end + 2:t.end + 3])
                 and (t.start == 0 or text[t.start - 1] != ".")]
        if not heads:
            break
        # Quotes added before: each head quoted ahead of one moves it by two.
        added = [p + 2 * sum(1 for t in heads if t.end < p) for p in added]
        for i, t in enumerate(heads):
            added += [t.start + 2 * i, t.end + 2 * i + 2]
        for t in reversed(heads):
            text = f'{text[:t.start]}"{text[t.start:t.end + 1]}"{text[t.end + 1:]}'
        if not any(t.token_type is TokenType.COMMAND for t in heads):
            break
    return text, sorted(added)


def _original_offset(offset: int, added: list[int]) -> int:
    """An offset in the quoted text → the same character's offset in the policy's text."""
    return offset - sum(1 for pos in added if pos < offset)


def _unshift_positions(tree: exp.Expr, added: list[int]) -> None:
    for node in tree.walk():
        if node.meta:
            for key in ("start", "end"):
                if node.meta.get(key) is not None:
                    node.meta[key] = _original_offset(node.meta[key], added)


def _parse(ctx: CompileContext, name: str, into: type | None) -> exp.Expr | None:
    frag = ctx.fragments[name]
    text, added = quote_keyword_paths(frag.text)
    try:
        if into is None:
            tree = parse_one(text, read=SOURCE_DIALECT, max_nodes=MAX_NODES)
        else:
            tree = parse_one(text, read=SOURCE_DIALECT, into=into, max_nodes=MAX_NODES)
    except ParseError as exc:
        err = exc.errors[0] if exc.errors else {}
        desc = err.get("description", str(exc))
        line, col = err.get("line"), err.get("col")
        if added and line and col:
            # Positions in the quoted text: back to the policy's own.
            before = text.split("\n")
            offset = sum(len(x) + 1 for x in before[:line - 1]) + col - 1
            fline, fcol = frag.locate(_original_offset(offset, added))
        elif line and col and frag.line is not None:
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
    if added:
        _unshift_positions(tree, added)
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
        if name.startswith("evidence[") and isinstance(tree, exp.Column) and '"' in ctx.fragments[name].text:
            # A quoted path names its evidence as written unquoted: "call".line.number is
            # the same key as call.line.number.
            i = int(name[len("evidence["):-1])
            if ctx.evidence_names[i] == ctx.fragments[name].text.strip():
                ctx.evidence_names[i] = ".".join(p.name for p in tree.parts)
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
