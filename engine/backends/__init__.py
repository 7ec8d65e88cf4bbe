"""Backends run compiled policy SQL against a snapshot; keyed by sqlglot dialect.

Each backend is a plugin of the ``dialtone.backends`` entry-point group, like the collectors,
and says what the rest of Dialtone needs to know about it: the SQL dialects its sessions read
(``dialects``) and the JSON Schema of its own section of dialtone.yaml (``settings_schema``,
the section named after the backend, e.g. ``spark:``), which the configuration validates when
it is read. Modules: duckdb.py (the embedded default), spark.py (a cluster, docs/scale-out.md).
"""

from __future__ import annotations

import typing as t

from ..registry import Registry

if t.TYPE_CHECKING:
    import pyarrow as pa

    from ..compiler import CompiledPolicy
    from ..compiler.cache import CompiledQuery
    from ..limits import EvaluationLimits
    from ..snapshots import Snapshot

    #: A policy's compiled SQL: fresh from the compiler, or its cached form.
    Compiled = CompiledPolicy | CompiledQuery


class PolicyRunError(Exception):
    """One policy failed on the backend (timeout, memory, runtime error)."""


class Session(t.Protocol):
    provided: frozenset[str]

    def count(self, entity: str) -> int:
        """How many resources of ``entity`` a policy on it judges: ``Entity.count_sql`` (its
        rows, or for an entity whose rows are parts of one resource, those resources)."""

    def run(self, compiled: Compiled, params: dict[str, object]) -> pa.Table:
        """The findings query's result: resource_id, reason, savings, ev0…evN (reads the
        compiled form's ``sql`` and ``params`` only)."""

    def close(self) -> None: ...


class Backend(t.Protocol):
    dialect: t.ClassVar[str]
    #: The dialects of the compiled SQL its sessions read (Spark also types results by DuckDB's).
    dialects: t.ClassVar[tuple[str, ...]]
    #: JSON Schema (2020-12) of the backend's section of dialtone.yaml; None: it takes none.
    settings_schema: t.ClassVar[dict | None]

    def __init__(self, limits: EvaluationLimits, settings: dict | None = None) -> None: ...

    def open(self, snapshot: Snapshot) -> Session: ...


backends: Registry[type[Backend]] = Registry("engine", "dialtone.backends")
