"""No import loop among the engine's modules and packages, including imports made inside
functions (which hide a loop until the wrong module is imported first)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ENGINE = "dialtone.engine"


ROOT = Path(__file__).resolve().parents[1]
_GRAPH = """
import json, sys
import grimp
graph = grimp.build_graph("dialtone", cache_dir=None)
print(json.dumps({m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}))
"""


@pytest.fixture(scope="module")
def imports(tmp_path_factory) -> dict[str, list[str]]:
    """Module → the modules it imports, for the whole ``dialtone`` package. The folders are
    installed under ``dialtone`` by pyproject's package-dir, which grimp cannot see through an
    editable install, so it reads a root laid out like the installed package."""
    root = tmp_path_factory.mktemp("import-graph")
    package = root / "dialtone"
    package.mkdir()
    (package / "__init__.py").write_text((ROOT / "dialtone" / "__init__.py").read_text())
    for part in ("engine", "collectors", "web", "policies"):
        (package / part).symlink_to(ROOT / part, target_is_directory=True)
    done = subprocess.run([sys.executable, "-c", _GRAPH], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert "dialtone.engine.store.sync" in found and "dialtone.engine.compiler.cache" in found
    return found


def _part(module: str) -> str | None:
    """The engine's module or package ``module`` belongs to (``dialtone.engine.store``)."""
    parts = module.split(".")
    return ".".join(parts[:3]) if module.startswith(ENGINE + ".") and len(parts) > 2 else None


def _loops(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _edges(imports: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
    """part → imported part → the importing modules (every import, at any depth of a module)."""
    edges: dict[str, dict[str, list[str]]] = {}
    for module, imported_modules in imports.items():
        source = _part(module)
        if source is None:
            continue
        for imported in imported_modules:
            target = _part(imported)
            if target is not None and target != source:
                edges.setdefault(source, {}).setdefault(target, []).append(module)
    return edges


def test_the_engine_has_no_import_loop(imports):
    edges = _edges(imports)
    loops = _loops({a: set(b) for a, b in edges.items()})
    detail = [
        f"{a} → {b} (in {', '.join(sorted(edges[a][b])[:3])})"
        for loop in loops for a in loop for b in loop if b in edges.get(a, {})
    ]
    assert not loops, "import loop among engine modules:\n" + "\n".join(detail)


def test_the_loop_finder_finds_a_loop():
    assert _loops({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _loops({"a": {"b"}, "b": {"c"}}) == []


PACKAGES = sorted(p.parent.name for p in
                  (Path(__file__).resolve().parents[1] / "engine").glob("*/__init__.py"))


def test_the_packages_are_found():
    assert {"compiler", "policy", "store"} <= set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_each_engine_package_imports_alone(package):
    # A fresh interpreter per package: a loop hidden by import order fails here.
    done = subprocess.run([sys.executable, "-c", f"import {ENGINE}.{package}"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
