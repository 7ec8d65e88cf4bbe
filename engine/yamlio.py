"""YAML reading with positions, and without YAML 1.1 surprises.

Dates stay strings (``2024-01-31`` is not turned into a ``date``), so values
validate against JSON Schema as written; every mapping key and value keeps its
line and column so errors can point into the file.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

import yaml

from .errors import Problem


class _Loader(yaml.SafeLoader):
    """SafeLoader minus the timestamp resolver."""


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class YamlDocument:
    """Parsed data plus the node tree it came from."""

    data: t.Any
    node: yaml.Node | None
    file: str | None

    def node_at(self, path: t.Sequence[str | int]) -> yaml.Node | None:
        """The deepest node along ``path`` (keys and list indexes) that exists."""
        node = self.node
        for part in path:
            if isinstance(node, yaml.MappingNode):
                nxt = next((v for k, v in node.value if k.value == part), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                nxt = node.value[part] if part < len(node.value) else None
            else:
                nxt = None
            if nxt is None:
                break
            node = nxt
        return node

    def key_position(self, path: t.Sequence[str | int]) -> tuple[int | None, int | None]:
        """Line and column of the key that ends ``path`` (of the value when it has no key)."""
        parent = self.node_at(path[:-1])
        if isinstance(parent, yaml.MappingNode):
            for k, _ in parent.value:
                if k.value == path[-1]:
                    return k.start_mark.line + 1, k.start_mark.column + 1
        return self.position(path)

    def key_node(self, key: str) -> yaml.Node | None:
        if isinstance(self.node, yaml.MappingNode):
            return next((k for k, _ in self.node.value if k.value == key), None)
        return None

    def position(self, path: t.Sequence[str | int]) -> tuple[int | None, int | None]:
        node = self.node_at(path)
        if node is None:
            return None, None
        return node.start_mark.line + 1, node.start_mark.column + 1

    def scalar_start(self, path: t.Sequence[str | int]) -> tuple[int | None, int | None]:
        """Line and column where a scalar's text begins (block scalars: next line)."""
        node = self.node_at(path)
        if not isinstance(node, yaml.ScalarNode):
            return None, None
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        if node.style in ("|", ">"):
            # Content starts on the next line, at the block's indentation.
            raw = node.start_mark.buffer
            if raw:
                lines = raw.split("\n")
                nxt = lines[line] if line < len(lines) else ""
                return line + 1, len(nxt) - len(nxt.lstrip(" ")) + 1
            return line + 1, col
        if node.style in ("'", '"'):
            return line, col + 1
        return line, col


def load_yaml(text: str, file: str | None = None) -> YamlDocument:
    """Parse one YAML document; a syntax error becomes a positioned Problem."""
    from .errors import PolicyError

    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        msg = getattr(exc, "problem", None) or str(exc)
        raise PolicyError([Problem(f"invalid YAML: {msg}", file, line, col)]) from None
    return YamlDocument(data, node, file)


def safe_load(text: str) -> t.Any:
    """Plain data from YAML text, with dates kept as strings."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506
