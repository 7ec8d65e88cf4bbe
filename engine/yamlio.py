"""YAML reading with positions, within limits, and without YAML 1.1 surprises.

Dates stay strings (``2024-01-31`` is not turned into a ``date``), so values
validate against JSON Schema as written; every mapping key and value keeps its
line and column so errors can point into the file.

Every YAML file Dialtone reads (policies, policy tests, overrides, exception
files, frameworks, ``dialtone.yaml``) comes through here, so the limits that
keep hostile input cheap live here too: a file larger than ``MAX_BYTES`` is
refused before it is parsed, collections nested deeper than ``MAX_DEPTH`` are
refused while composing (before Python's recursion limit is near), aliases may
expand to at most ``MAX_ALIAS_NODES`` nodes (a "billion laughs" is a few lines
that expand to billions), and a mapping key given twice is an error naming
both lines instead of the last one silently winning. Each is a positioned
problem, like a syntax error.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import Problem

#: The largest YAML file read, in bytes (1 MiB): the biggest built-in policy or test is 20 KB.
MAX_BYTES = 1 << 20
#: The deepest nesting of mappings and sequences (a policy test's estate needs about 8).
MAX_DEPTH = 50
#: How many nodes all aliases of a document may expand to, together.
MAX_ALIAS_NODES = 10_000

_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlLimitError(yaml.MarkedYAMLError):
    """Input that is valid YAML but beyond what Dialtone reads (or ambiguous: a key given twice)."""

    def __init__(self, problem: str, mark: yaml.Mark | None) -> None:
        super().__init__(problem=problem, problem_mark=mark)


class _Loader(yaml.SafeLoader):
    """SafeLoader minus the timestamp resolver, with the limits above."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._alias_nodes = 0
        # id(node) -> how many nodes it stands for once every alias inside it is expanded.
        self._weights: dict[int, int] = {}

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            node = super().compose_node(parent, index)
            if isinstance(node, yaml.CollectionNode) and id(node) not in self._weights:
                # Still being composed: the alias is inside its own anchor, a structure without end.
                raise YamlLimitError("an alias refers to a collection that contains it", mark)
            self._alias_nodes += self._weights.get(id(node), 1)
            if self._alias_nodes > MAX_ALIAS_NODES:
                raise YamlLimitError(
                    f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes; write the values out "
                    "instead of nesting aliases", mark)
            return node
        if not self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise YamlLimitError(f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
        node = super().compose_node(parent, index)
        self._depth -= 1
        children = node.value if isinstance(node, yaml.SequenceNode) else [n for kv in node.value for n in kv]
        self._weights[id(node)] = 1 + sum(self._weights.get(id(c), 1) for c in children)
        return node

    def construct_mapping(self, node, deep=False):
        # Checked on the keys as written, before merge keys (<<) are flattened in: a key that
        # overrides a merged one is the point of merging, a key written twice is a mistake.
        if isinstance(node, yaml.MappingNode):
            first: dict[t.Any, yaml.Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node)
                if key in first:
                    raise YamlLimitError(
                        f"'{key}' is given twice: line {first[key].start_mark.line + 1} and line "
                        f"{key_node.start_mark.line + 1}", key_node.start_mark)
                first[key] = key_node
        return super().construct_mapping(node, deep=deep)


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


def _too_large(max_bytes: int, file: str | None):
    from .errors import PolicyError

    return PolicyError([Problem(
        f"the file is too large: a YAML file may hold at most {max_bytes:,} bytes", file, 1, 1)])


def read_bounded(path: Path, max_bytes: int = MAX_BYTES) -> bytes:
    """At most ``max_bytes + 1`` bytes of a file: enough to tell that it is too large, whatever
    the file system says its size is (a symlink to a device, a file still growing)."""
    with open(path, "rb") as fh:
        return fh.read(max_bytes + 1)


def check_size(data: bytes, file: str | None, max_bytes: int = MAX_BYTES) -> None:
    """PolicyError when ``data`` (from ``read_bounded``) is more than ``max_bytes``."""
    if len(data) > max_bytes:
        raise _too_large(max_bytes, file)


def load_yaml_file(path: Path, file: str | None = None, max_bytes: int = MAX_BYTES) -> YamlDocument:
    """Read and parse a YAML file; unreadable, too large or invalid is a PolicyError."""
    from .errors import PolicyError

    shown = file if file is not None else str(path)
    try:
        raw = read_bounded(path, max_bytes)
        check_size(raw, shown, max_bytes)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError([Problem(f"cannot read: {exc}", shown)]) from None
    return load_yaml(text, shown, max_bytes=max_bytes)


def load_yaml(text: str, file: str | None = None, *, max_bytes: int = MAX_BYTES) -> YamlDocument:
    """Parse one YAML document; a syntax error or a limit reached becomes a positioned Problem."""
    from .errors import PolicyError

    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise _too_large(max_bytes, file)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        msg = getattr(exc, "problem", None) or str(exc)
        if not isinstance(exc, YamlLimitError):
            msg = f"invalid YAML: {msg}"
        raise PolicyError([Problem(msg, file, line, col)]) from None
    finally:
        loader.dispose()
    return YamlDocument(data, node, file)


def safe_load(text: str) -> t.Any:
    """Plain data from YAML text, with dates kept as strings (PolicyError on invalid input)."""
    return load_yaml(text).data
