"""Compiled policies kept between evaluations, so an unchanged policy is not compiled again.

Compiling the built-in packs costs over a second of CPU per evaluation (sqlglot parses,
qualifies and renders every policy), and on a small machine that second is taken from the
queries running beside it. What an evaluation needs from a compiled policy (its SQL, the
parameters it binds, the tables it reads, its evidence names, its undecidable query) depends
only on the policy's text, the estate model and the compiler itself, so it is keyed by a hash of
exactly those and reused: in the process (a bounded map) and, where the caller gives one, in a
folder of JSON files (``<data_dir>/cache/compiled``) that the next ``dialtone run`` reads.

Only a policy that compiled cleanly is kept, so a cached entry has passed the validator; the
backend's lock-down applies to its SQL like any other. A damaged or foreign entry is a miss,
never an error: the policy is compiled again and the entry rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import typing as t
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from importlib import metadata, resources
from pathlib import Path

from ..estate.model import EstateModel
from ..policy.model import Fragment, Policy

#: Bumped when the entry layout changes; part of every key.
FORMAT = 1
#: Entries kept in the process; the packs are ~70 policies, tests compile a few hundred.
MEMORY_ENTRIES = 1024
#: Files kept in a cache folder; the least recently written go first.
DISK_ENTRIES = 2000


@dataclass(frozen=True)
class CompiledQuery:
    """What evaluating a compiled policy needs, without the syntax tree it came from."""

    sql: dict[str, str]
    params: tuple[str, ...]
    tables: tuple[str, ...]
    condition_tables: tuple[str, ...]
    evidence_names: tuple[str, ...]
    inline_undecidable: bool = False
    undecidable: CompiledQuery | None = None

    @property
    def input_tables(self) -> tuple[str, ...]:
        """Every table a decision reads: the condition's and the undecidable condition's."""
        extra = self.undecidable.condition_tables if self.undecidable else ()
        return tuple(sorted(set(self.condition_tables) | set(extra)))

    @classmethod
    def of(cls, compiled: t.Any, dialects: t.Iterable[str]) -> CompiledQuery:
        """The parts of a :class:`CompiledPolicy` an evaluation reads, in ``dialects``."""
        return cls(
            sql={d: compiled.sql[d] for d in dialects},
            params=tuple(compiled.params),
            tables=tuple(compiled.tables),
            condition_tables=tuple(compiled.condition_tables),
            evidence_names=tuple(compiled.evidence_names),
            inline_undecidable=bool(compiled.inline_undecidable),
            undecidable=(cls.of(compiled.undecidable, dialects)
                         if compiled.undecidable is not None else None),
        )

    def as_json(self) -> dict:
        return {"sql": self.sql, "params": list(self.params), "tables": list(self.tables),
                "condition_tables": list(self.condition_tables),
                "evidence_names": list(self.evidence_names),
                "inline_undecidable": self.inline_undecidable,
                "undecidable": self.undecidable.as_json() if self.undecidable else None}

    @classmethod
    def from_json(cls, data: dict) -> CompiledQuery:
        sql = data["sql"]
        if not (isinstance(sql, dict) and all(isinstance(v, str) for v in sql.values())):
            raise ValueError("sql must map dialects to text")
        return cls(
            sql=dict(sql),
            params=tuple(str(p) for p in data["params"]),
            tables=tuple(str(x) for x in data["tables"]),
            condition_tables=tuple(str(x) for x in data["condition_tables"]),
            evidence_names=tuple(str(x) for x in data["evidence_names"]),
            inline_undecidable=bool(data["inline_undecidable"]),
            undecidable=cls.from_json(data["undecidable"]) if data["undecidable"] else None,
        )


def _text(fragment: Fragment | None) -> str | None:
    return fragment.text if fragment is not None else None


def _policy_material(policy: Policy) -> dict:
    """Everything in a policy the compiler reads (positions only shape error messages, and
    only clean compiles are kept)."""
    return {
        "id": policy.id, "resource": policy.resource,
        "where": _text(policy.where), "query": _text(policy.query),
        "params": [p.name for p in policy.params],
        "evidence": [e.text for e in policy.evidence], "reason": _text(policy.reason),
        "savings": _text(policy.savings), "savings_key": _text(policy.savings_key),
        "currency": _text(policy.currency), "optional": list(policy.optional),
        "undecidable": _text(policy.undecidable),
    }


@cache
def compiler_fingerprint() -> str:
    """A hash of the compiler's own code, the estate model's schemas and sqlglot's version:
    an upgrade, or any edit to them, starts from an empty cache."""
    digest = hashlib.sha256(f"format {FORMAT}\n".encode())
    try:
        digest.update(f"sqlglot {metadata.version('sqlglot')}\n".encode())
    except metadata.PackageNotFoundError:  # pragma: no cover - sqlglot is a dependency
        digest.update(b"sqlglot ?\n")
    package = resources.files(__package__.rsplit(".", 1)[0])  # the engine package
    folders = [package / "compiler", package / "estate" / "schemas"]
    files = [package / "estate" / "model.py", package / "policy" / "model.py"]
    for folder in folders:
        files += [f for f in folder.iterdir() if f.name.endswith((".py", ".json", ".yaml"))]
    for file in sorted(files, key=lambda f: str(f)):
        digest.update(f"{file.name}\n".encode())
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


#: id(model) → (model, hash); the model is held, so its id is never reused while listed.
_model_hashes: dict[int, tuple[EstateModel, str]] = {}


def _model_hash(model: EstateModel) -> str:
    known = _model_hashes.get(id(model))
    if known is None or known[0] is not model:
        schemas = {name: entity.schema for name, entity in sorted(model.entities.items())}
        text = json.dumps(schemas, sort_keys=True, default=str)
        known = _model_hashes[id(model)] = (model, hashlib.sha256(text.encode()).hexdigest())
        while len(_model_hashes) > 8:
            _model_hashes.pop(next(iter(_model_hashes)))
    return known[1]


def compile_key(policy: Policy, model: EstateModel, dialects: tuple[str, ...]) -> str:
    """The key of a policy's compiled form: its text, the model, the compiler, the dialects."""
    material = {"policy": _policy_material(policy), "dialects": list(dialects),
                "compiler": compiler_fingerprint(), "model": _model_hash(model)}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


class CompileCache:
    """Compiled policies by key: a bounded map in the process, and optionally a folder."""

    def __init__(self, directory: Path | None = None):
        self.directory = directory
        self._memory: OrderedDict[str, CompiledQuery] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def compile(self, policy: Policy, model: EstateModel,
                dialects: tuple[str, ...] = ("duckdb",)) -> CompiledQuery:
        """The policy's compiled form with its SQL in ``dialects`` (those the backend reads),
        from the cache or compiled now (a PolicyError propagates and nothing is kept)."""
        from . import compile_policy

        key = compile_key(policy, model, dialects)
        found = self._recall(key)
        if found is not None:
            return found
        compiled = CompiledQuery.of(compile_policy(policy, model), dialects)
        self._keep(key, compiled)
        return compiled

    def _recall(self, key: str) -> CompiledQuery | None:
        with self._lock:
            found = self._memory.get(key)
            if found is not None:
                self._memory.move_to_end(key)
                self.hits += 1
                return found
        found = self._read(key)
        with self._lock:
            if found is None:
                self.misses += 1
                return None
            self.hits += 1
            self._remember(key, found)
        return found

    def _keep(self, key: str, compiled: CompiledQuery) -> None:
        with self._lock:
            self._remember(key, compiled)
        self._write(key, compiled)

    def _remember(self, key: str, compiled: CompiledQuery) -> None:
        self._memory[key] = compiled
        self._memory.move_to_end(key)
        while len(self._memory) > MEMORY_ENTRIES:
            self._memory.popitem(last=False)

    def _path(self, key: str) -> Path | None:
        return self.directory / f"{key}.json" if self.directory is not None else None

    def _read(self, key: str) -> CompiledQuery | None:
        path = self._path(key)
        if path is None:
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("key") != key:
                return None
            return CompiledQuery.from_json(data["compiled"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None  # absent, damaged or foreign: compile again and rewrite it

    def _write(self, key: str, compiled: CompiledQuery) -> None:
        path = self._path(key)
        if path is None:
            return
        # A cache that cannot be written (read-only or full disk) only costs a compile.
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        except OSError:
            return
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump({"key": key, "compiled": compiled.as_json()}, out, sort_keys=True)
            os.replace(tmp, path)
            self._prune(path.parent)
        except OSError:
            Path(tmp).unlink(missing_ok=True)

    @staticmethod
    def _prune(folder: Path) -> None:
        entries = list(folder.glob("*.json"))
        if len(entries) <= DISK_ENTRIES:
            return
        entries.sort(key=lambda p: p.stat().st_mtime)
        for old in entries[: len(entries) - DISK_ENTRIES]:
            old.unlink(missing_ok=True)


#: The process's cache, without a folder: shared by every evaluation that is not given one.
PROCESS_CACHE = CompileCache()

_folders: dict[Path, CompileCache] = {}
_folders_lock = threading.Lock()


def cache_for(directory: Path | None) -> CompileCache:
    """The process's cache for ``directory`` (one object per folder, so its map is shared)."""
    if directory is None:
        return PROCESS_CACHE
    with _folders_lock:
        return _folders.setdefault(Path(directory), CompileCache(Path(directory)))
