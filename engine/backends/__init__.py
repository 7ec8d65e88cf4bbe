"""Backends run compiled policy SQL against a snapshot; keyed by sqlglot dialect."""

from __future__ import annotations

import typing as t

import pyarrow as pa

from ..config import EvaluationLimits
from ..registry import Registry
from ..snapshots import Snapshot

if t.TYPE_CHECKING:
    from ..compiler import CompiledPolicy
    from ..compiler.cache import CompiledQuery

    #: A policy's compiled SQL: fresh from the compiler, or its cached form.
    Compiled = CompiledPolicy | CompiledQuery


class PolicyRunError(Exception):
    """One policy failed on the backend (timeout, memory, runtime error)."""


class Session(t.Protocol):
    provided: frozenset[str]

    def count(self, entity: str) -> int: ...

    def run(self, compiled: Compiled, params: dict[str, object]) -> pa.Table:
        """The findings query's result: resource_id, reason, savings, ev0…evN (reads the
        compiled form's ``sql`` and ``params`` only)."""

    def close(self) -> None: ...


class Backend(t.Protocol):
    dialect: t.ClassVar[str]

    def __init__(self, limits: EvaluationLimits) -> None: ...

    def open(self, snapshot: Snapshot) -> Session: ...


backends: Registry[type[Backend]] = Registry("engine", "dialtone.backends")
