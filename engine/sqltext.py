"""SQL text the engine writes itself (never policy text): identifiers and string literals quoted
for DuckDB and PostgreSQL, doubling the quote character, so no name or value can end its quotes.
Spark quotes identifiers with backticks (backends/spark.py)."""

from __future__ import annotations


def ident(name: str) -> str:
    """``name`` as a quoted identifier: ``"a""b"``."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """``text`` as a string literal: ``'it''s'``."""
    return "'" + text.replace("'", "''") + "'"
