"""Evaluate policies against a snapshot.

Evaluation is a pure function of (snapshot, policy text, parameters): time is
the snapshot's as-of date, results are sorted, and nothing in the output
depends on the wall clock, so the same inputs give byte-identical JSON.
An error in one policy never stops the others.
"""

from __future__ import annotations

import functools
import itertools
import json
import queue
import threading
import time
import typing as t
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from .backends import PolicyRunError, backends
from .compiler import SNAPSHOT_DATE, SNAPSHOT_TIMEZONE, UNDECIDABLE_COLUMN
from .compiler.cache import cache_for
from .errors import DialtoneError, PolicyError, did_you_mean
from .estate.model import load_model
from .freshness import incomplete_entities, stale_entities
from .limits import EvaluationLimits
from .policy.loader import LoadedPolicies
from .policy.model import Policy, severity_rank
from .snapshots import Snapshot

STATUSES = ("alarm", "ok", "skip", "error")
#: Undecidable resources listed by id in the JSON result (the count covers all of them).
UNDECIDABLE_SAMPLE = 50


@dataclass
class PolicyOutcome:
    policy_id: str
    title: str
    category: str
    severity: str
    status: str
    evaluated: int = 0
    error: str | None = None
    skip_reason: str | None = None
    #: The findings query's result, kept as Arrow: the JSON-ready ``findings`` are derived
    #: from it only when asked for, so evaluation itself stays columnar.
    rows: pa.Table | None = None
    evidence_names: tuple[str, ...] = ()
    resource_type: str = ""
    policy_hash: str | None = None
    params: dict = field(default_factory=dict)
    frameworks: dict = field(default_factory=dict)
    #: Why this run's silence about a resource proves nothing: inputs that are partly rows
    #: carried forward from a source that failed. Findings it no longer reports are then
    #: not re-checked, not resolved (engine/store/sync.py).
    incomplete_inputs: list[str] = field(default_factory=list)
    #: Optional entities no source provides, read as empty (``optional:`` in the policy).
    read_as_empty: list[str] = field(default_factory=list)
    #: Resources in scope the policy could not decide for (``undecidable:``): never found,
    #: never silently ok; counted and listed.
    undecidable: pa.Array | None = None
    seconds: float = 0.0  # wall time; kept out of the JSON document
    sql: str | None = None  # the compiled SQL that ran; recorded by the findings store

    @property
    def finding_count(self) -> int:
        return self.rows.num_rows if self.rows is not None else 0

    @property
    def undecidable_count(self) -> int:
        return len(self.undecidable) if self.undecidable is not None else 0

    def undecidable_sample(self, limit: int = UNDECIDABLE_SAMPLE) -> list[str]:
        """The first ``limit`` undecidable resources, by id (all of them in the count)."""
        if self.undecidable is None or not len(self.undecidable):
            return []
        first = pc.sort_indices(self.undecidable)[:limit]
        return pc.take(self.undecidable, first).to_pylist()

    @functools.cached_property
    def findings(self) -> list[dict]:
        """One JSON-ready dict per finding (resource, reason, savings, evidence)."""
        if self.rows is None:
            return []
        return _findings(self.resource_type, self.evidence_names, self.rows)

    def as_dict(self) -> dict:
        return {
            "policy_id": self.policy_id,
            "title": self.title,
            "category": self.category,
            "severity": self.severity,
            "status": self.status,
            "evaluated": self.evaluated,
            "error": self.error,
            "skip_reason": self.skip_reason,
            "incomplete_inputs": self.incomplete_inputs,
            "read_as_empty": self.read_as_empty,
            "undecidable_count": self.undecidable_count,
            "undecidable": self.undecidable_sample(),
            "policy_hash": self.policy_hash,
            "params": self.params,
            "frameworks": {k: list(v) for k, v in self.frameworks.items()},
            "finding_count": self.finding_count,
            "findings": self.findings,
        }


@dataclass
class Evaluation:
    snapshot: Snapshot
    policies_version: str
    engine: str
    outcomes: list[PolicyOutcome]

    def as_dict(self) -> dict:
        return {
            "snapshot": {"id": self.snapshot.id, "as_of": self.snapshot.as_of.isoformat(),
                         "manifest_sha256": self.snapshot.manifest_hash},
            "policies_version": self.policies_version,
            "engine": self.engine,
            "results": [o.as_dict() for o in self.outcomes],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    def findings_at_or_above(self, severity: str) -> int:
        rank = severity_rank(severity)
        return sum(o.finding_count for o in self.outcomes if severity_rank(o.severity) >= rank)


def _json_column(column: pa.ChunkedArray) -> list:
    """A result column as JSON-ready Python values, converted column-wise in Arrow."""
    typ = column.type
    if pa.types.is_timestamp(typ):
        column = pc.strftime(column, format="%Y-%m-%dT%H:%M:%SZ")
    elif pa.types.is_date(typ):
        column = pc.strftime(column, format="%Y-%m-%d")
    elif pa.types.is_decimal(typ):
        column = column.cast(pa.float64())
    if pa.types.is_floating(column.type):
        # NaN and infinities have no JSON form.
        column = pc.if_else(pc.is_finite(column), column, pa.scalar(None, column.type))
    return column.to_pylist()


def resolve_params(policy: Policy, overrides: dict) -> dict[str, object]:
    """The policy's defaults with the organisation's overrides, type-checked."""
    values = policy.defaults()
    for p in policy.params:
        if values[p.name] is None and p.name not in (overrides or {}):
            raise DialtoneError(f"params.{p.name}: takes its default from obligation "
                                f"'{p.obligation}', which no obligations catalogue loaded defines")
    for name, value in (overrides or {}).items():
        if name not in values:
            raise DialtoneError(
                f"params.{policy.id}: the policy has no parameter '{name}'."
                f"{did_you_mean(name, values)}")
        default = values[name]
        ok = (isinstance(value, bool) == isinstance(default, bool)) and (
            isinstance(value, (int, float)) if isinstance(default, (int, float))
            else isinstance(value, type(default)))
        if not ok:
            raise DialtoneError(
                f"params.{policy.id}.{name}: expected a {type(default).__name__} like "
                f"{default!r}, got {value!r}")
        values[name] = value
    return values


def _split_undecidable(rows: pa.Table) -> tuple[pa.Table, pa.Array]:
    """A query's findings and its undecidable resources, told apart by its flag column."""
    flag = pc.fill_null(rows.column(UNDECIDABLE_COLUMN), False)
    undecidable = rows.filter(flag).column("resource_id").combine_chunks()
    return rows.filter(pc.invert(flag)).drop_columns([UNDECIDABLE_COLUMN]), undecidable


def _findings(resource_type: str, names: tuple[str, ...], rows: pa.Table) -> list[dict]:
    ids, reasons, savings, keys, currencies, *evidence = (_json_column(c) for c in rows.columns)
    return [
        {"resource_type": resource_type, "resource_id": rid, "reason": reason,
         "savings": saving, "savings_key": key if saving is not None else None,
         "currency": currency if saving is not None else None,
         "evidence": dict(zip(names, values, strict=True))}
        for rid, reason, saving, key, currency, *values
        in zip(ids, reasons, savings, keys, currencies, *evidence, strict=True)
    ]


@dataclass(frozen=True)
class _Context:
    """What every policy of one evaluation reads besides its own text."""

    stale: dict[str, str]
    incomplete: dict[str, str]
    snapshot: Snapshot
    engine: str
    overrides: dict[str, dict]


def _evaluate_one(policy: Policy, compiling, session, context: _Context) -> PolicyOutcome:
    """One policy on one session: its parameters, its compiled SQL, its findings."""
    started = time.perf_counter()
    outcome = PolicyOutcome(policy.id, policy.title, policy.category, policy.severity,
                            status="ok", policy_hash=policy.source_hash,
                            frameworks=dict(policy.frameworks))
    try:
        params = resolve_params(policy, context.overrides.get(policy.id, {}))
        outcome.params = params
        compiled = compiling.result()
    except (PolicyError, DialtoneError) as exc:
        outcome.status, outcome.error = "error", str(exc)
        return outcome
    # Only the condition decides: a table that merely feeds evidence reads as empty, and
    # so does one the policy declares optional (noted in the result).
    inputs = compiled.input_tables
    missing = [e for e in inputs if e not in session.provided and e not in policy.optional]
    if missing:
        outcome.status = "skip"
        outcome.skip_reason = f"no source provides {', '.join(missing)}"
        return outcome
    outcome.read_as_empty = [e for e in inputs if e not in session.provided]
    # Data past its source's max_age must not pass as "ok": say how old it is.
    too_old = [context.stale[e] for e in inputs if e in context.stale]
    if too_old:
        outcome.status, outcome.error = "error", "; ".join(too_old)
        return outcome
    try:
        outcome.evaluated = session.count(policy.resource)
        bound = {**params, SNAPSHOT_DATE: context.snapshot.as_of,
                 SNAPSHOT_TIMEZONE: context.snapshot.timezone}
        rows = session.run(compiled, bound)
        if compiled.inline_undecidable:
            rows, outcome.undecidable = _split_undecidable(rows)
        if compiled.undecidable is not None:
            outcome.undecidable = session.run(compiled.undecidable, bound).column(
                "resource_id").combine_chunks()
    except PolicyRunError as exc:
        outcome.status, outcome.error = "error", str(exc)
        outcome.seconds = time.perf_counter() - started
        return outcome
    outcome.rows = rows
    outcome.incomplete_inputs = [context.incomplete[e] for e in inputs if e in context.incomplete]
    outcome.sql = compiled.sql.get(context.engine)
    outcome.evidence_names = compiled.evidence_names
    outcome.resource_type = policy.resource
    outcome.status = "alarm" if rows.num_rows else "ok"
    outcome.seconds = time.perf_counter() - started
    return outcome


def evaluate(
    snapshot: Snapshot,
    loaded: LoadedPolicies,
    *,
    overrides: dict[str, dict] | None = None,
    engine: str = "duckdb",
    limits: EvaluationLimits | None = None,
    policy_ids: list[str] | None = None,
    engine_settings: dict | None = None,
    progress: t.Callable[[int, str], None] | None = None,
    compile_cache: Path | None = None,
) -> Evaluation:
    """Evaluate the policies against the snapshot; ``progress(n, policy_id)`` is called as
    the n-th policy starts. Compiled policies are reused from the process and, given a
    ``compile_cache`` folder, from earlier runs (engine/compiler/cache.py)."""

    overrides = overrides or {}
    by_id = loaded.by_id()
    selected = list(loaded.policies)
    if policy_ids:
        unknown = [p for p in policy_ids if p not in by_id]
        if unknown:
            raise DialtoneError(
                f"Unknown policy '{unknown[0]}'.{did_you_mean(unknown[0], by_id)}")
        selected = [by_id[p] for p in sorted(set(policy_ids))]

    outcomes: list[PolicyOutcome] = []
    if not policy_ids:
        for file, err in loaded.failures:
            outcomes.append(PolicyOutcome(
                policy_id=f"invalid:{file}", title=file, category="", severity="info",
                status="error", error=str(err)))

    model = load_model()
    context = _Context(stale_entities(snapshot.manifest), incomplete_entities(snapshot.manifest),
                       snapshot, engine, overrides)
    # engine_settings: the config section named after the engine (`spark:`), if any.
    backend_cls = backends.get(engine)
    backend = backend_cls(limits or EvaluationLimits(), settings=engine_settings)
    session = backend.open(snapshot)
    # Policies run on a few sessions of the one sandboxed database at once (a backend that
    # cannot, runs them one by one): small queries leave cores idle that the next policy uses.
    # Compiling is pure Python and a query runs without the GIL, so the policies are compiled on
    # one background thread ahead of the queries. Each policy is compiled and run on its own,
    # and the results are sorted, so the outcome is the same whatever ran first.
    sessions = [session, *getattr(session, "forks", ())]
    compiler = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dialtone-compile")
    runners = ThreadPoolExecutor(max_workers=len(sessions), thread_name_prefix="dialtone-policy")
    started_count = itertools.count(1)
    free = queue.SimpleQueue()
    for s in sessions:
        free.put(s)
    announce = threading.Lock()

    def run_one(policy: Policy, compiling) -> PolicyOutcome:
        if progress:
            with announce:
                progress(next(started_count), policy.id)
        own = free.get()
        try:
            return _evaluate_one(policy, compiling, own, context)
        finally:
            free.put(own)

    try:
        compiled_forms = cache_for(compile_cache)
        pending = [compiler.submit(compiled_forms.compile, policy, model, backend_cls.dialects)
                   for policy in selected]
        futures = [runners.submit(run_one, policy, compiling)
                   for policy, compiling in zip(selected, pending, strict=True)]
        outcomes += [f.result() for f in futures]
    finally:
        runners.shutdown(wait=True, cancel_futures=True)
        compiler.shutdown(wait=True, cancel_futures=True)
        for s in sessions:
            s.close()
    outcomes.sort(key=lambda o: o.policy_id)
    return Evaluation(snapshot, loaded.version, engine, outcomes)
