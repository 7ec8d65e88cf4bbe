"""What one evaluation may use: a policy's time and memory, DuckDB's threads, how many policies
run at once (``evaluation:`` in dialtone.yaml; the backends read it, the configuration fills it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EvaluationLimits:
    timeout_seconds: float = 300.0
    memory_limit: str | None = None
    threads: int | None = None
    concurrency: int = 2
