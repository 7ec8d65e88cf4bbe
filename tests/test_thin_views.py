"""The views are thin: every read goes through the store's read models (engine/store/), so no
view builds SQL, touches a table or imports SQLAlchemy (issue 16)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

VIEWS = sorted((Path(__file__).parents[1] / "web" / "views").rglob("*.py"))

FORBIDDEN = {
    "an SQL statement": re.compile(r"(?<![\w.])(select|text|insert|update|delete)\("),
    "a table": re.compile(r"\.tables\b|store\.tables|\bfrom\s+\S*store\.tables\s+import"),
    "SQLAlchemy": re.compile(r"^\s*(from|import)\s+sqlalchemy\b", re.MULTILINE),
    "a connection": re.compile(r"\.(read|write)\(\)\s+as\s+conn\b|\bconn\.execute\("),
}


def test_there_are_views_to_check():
    assert {p.name for p in VIEWS} >= {"api.py", "runs.py", "finance.py"}


@pytest.mark.parametrize("path", VIEWS, ids=lambda p: p.name)
def test_a_view_reads_through_the_read_models_only(path):
    source = path.read_text(encoding="utf-8")
    found = [f"{what}: line {source[:m.start()].count(chr(10)) + 1}: {m.group().strip()}"
             for what, pattern in FORBIDDEN.items() for m in pattern.finditer(source)]
    assert not found, f"{path.name} reaches past the read models:\n" + "\n".join(found)
