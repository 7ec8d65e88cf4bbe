"""``dialtone demo``: a synthetic estate written as CSV, collected, evaluated, summarised.

The demo goes through the same path as a real installation: canonical CSV
files read by the ``csv`` collector, validated into a snapshot, and evaluated
with the built-in policies. Only the estate is invented (engine/synthetic/).
Each entity's CSV file is written as soon as the generator has built it, so the
estate is never held in memory whole. Running it again into the same folder
overwrites the CSV files and adds a new snapshot beside the old ones.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .config import load_config
from .errors import DialtoneError
from .evaluation import Evaluation
from .policy.model import SEVERITIES
from .synthetic import Streamed, stream_estate

#: Lines at scale 1.
DEMO_LINES = 500
CONFIG_TEXT = """\
sources:
  estate:
    collector: csv
    path: ./estate
"""
CATEGORIES = ("cost", "retention", "regulatory", "security", "lifecycle")


def canonical_csv_table(table: pa.Table) -> pa.Table:
    """The table as the csv collector reads it: lists ``a;b;c``, date-times ISO 8601 with Z.

    Dates, numbers and booleans already print canonically; NULL prints as an empty field.
    """
    columns = []
    for field in table.schema:
        col = table.column(field.name)
        if pa.types.is_list(field.type):
            col = pc.binary_join(col, ";")
        elif pa.types.is_timestamp(field.type):
            col = pc.strftime(col.cast(pa.timestamp("s"), safe=False), format="%Y-%m-%dT%H:%M:%SZ")
        columns.append(col)
    return pa.Table.from_arrays(columns, names=table.column_names)


def write_entity_csv(folder: Path, name: str, table: pa.Table) -> Path:
    """Write ``<name>.csv`` into ``folder`` (which must exist), replacing it atomically. With
    ``folder`` bound, a sink for ``stream_estate``: one file as each entity is built."""
    path = folder / f"{name}.csv"
    tmp = folder / f".{name}.csv.tmp"
    pacsv.write_csv(canonical_csv_table(table), tmp)
    os.replace(tmp, path)
    return path


def write_canonical_csv(tables: dict[str, pa.Table], folder: Path) -> list[Path]:
    """Write ``<entity>.csv`` per table into ``folder``, each replaced atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    return [write_entity_csv(folder, name, table) for name, table in tables.items()]


def write_estate_csv(folder: Path, lines: int, seed: int) -> Streamed:
    """Generate the synthetic estate into ``folder`` as canonical CSV, entity by entity (the
    generator never holds the whole estate); returns what was written (``Streamed``)."""
    folder.mkdir(parents=True, exist_ok=True)
    return stream_estate(lines, partial(write_entity_csv, folder), seed=seed)


def run_demo(workdir: Path, scale: int = 1, seed: int = 7) -> Iterator[str]:
    """Build the demo workspace in ``workdir`` and yield a readable summary, line by line."""
    workdir = Path(workdir)
    lines = DEMO_LINES * scale
    yield f"Dialtone demo: a synthetic estate of {lines:,} lines (seed {seed}) in {workdir}/"

    started = time.perf_counter()
    written = write_estate_csv(workdir / "estate", lines, seed)
    files, rows, as_of = len(written.entity_rows), written.rows, written.as_of
    config_path = workdir / "dialtone.yaml"
    config_path.write_text(CONFIG_TEXT, encoding="utf-8")
    yield (f"  wrote {files} canonical CSV files ({rows:,} rows) to "
           f"{workdir / 'estate'}/ in {time.perf_counter() - started:.1f}s")

    config = load_config(config_path)
    from .runs import run_once
    from .store import Store

    # One run, as `dialtone run` does it, so the demo's store has a run record too.
    marks = {"collect": time.perf_counter()}

    def timing(stage: str, _message: str) -> None:
        marks.setdefault(stage, time.perf_counter())

    store = Store.from_config(config)
    try:
        outcome = run_once(config, actor="demo", store=store, progress=timing, as_of=as_of)
        if outcome.status == "failed":
            raise DialtoneError(f"the demo run failed: {outcome.error}")
        accounts = demo_accounts(store, config.data_dir)
        from .store.reads import evaluation_detail

        recorded_summary = evaluation_detail(store, outcome.evaluation_id)["summary"]
    finally:
        store.close()
    result, evaluation, recorded = outcome.collected, outcome.evaluation, outcome.recorded
    snapshot = result.snapshot
    yield ""
    yield (f"Collected snapshot {snapshot.id} (as of {snapshot.as_of.isoformat()}) "
           f"in {marks.get('evaluate', marks['collect']) - marks['collect']:.1f}s")
    for warning in result.warnings:
        yield f"  warning: {warning}"
    yield from _rows_grid(result.rows)
    if result.rejects:
        yield (f"  {result.rejects:,} row(s) rejected: see {snapshot.path / 'rejects.csv'}")
    else:
        yield "  0 rows rejected"
    seconds = marks.get("record", marks["collect"]) - marks.get("evaluate", marks["collect"])
    (workdir / "evaluation.json").write_text(evaluation.to_json(), encoding="utf-8")
    yield ""
    yield from _summary(evaluation, seconds)
    yield from _savings(recorded.evaluation_id, recorded_summary)
    yield ""
    yield f"Findings store ({config.data_dir / 'dialtone.db'}): run {outcome.run_id}, {recorded.line()}"
    yield ""
    yield "Web accounts (demo only; passwords are new on every run):"
    for username, role, password in accounts:
        yield f"  {username:<10} {role:<8} {password}"

    cfg = workdir / "dialtone.yaml"
    top = min(evaluation.outcomes, key=lambda o: (-o.finding_count, o.policy_id), default=None)
    yield ""
    yield "Next steps:"
    yield f"  dialtone --config {cfg} evaluate                 # every policy, as a table"
    if top is not None:
        yield f"  dialtone --config {cfg} policy show {top.policy_id}"
    yield f"  dialtone --config {cfg} snapshots show latest"
    yield f"  dialtone --config {cfg} findings list --severity high     # the findings store"
    yield f"  dialtone --config {cfg} audit verify                      # the hash-chained history"
    yield f"  full results with evidence: {workdir / 'evaluation.json'}"


DEMO_USERS = (("admin", "admin"), ("officer", "officer"), ("officer2", "officer"), ("auditor", "auditor"))


def demo_accounts(store, data_dir: Path) -> list[tuple[str, str, str]]:
    """One account per role (two officers, so exceptions can be approved by someone else) with
    fresh random passwords, and a secret key for the web session, all local to the demo."""
    import secrets

    from .private_files import write_new_secret
    from .store.accounts import AccountError, add_user, set_password

    write_new_secret(Path(data_dir) / "secret_key")
    accounts = []
    for username, role in DEMO_USERS:
        password = secrets.token_urlsafe(12)
        try:
            add_user(store, username, role, password)
        except AccountError:
            set_password(store, username, password)
        accounts.append((username, role, password))
    return accounts


def _rows_grid(rows: dict[str, int]) -> Iterator[str]:
    items = [f"{name:<19}{count:>11,}" for name, count in sorted(rows.items())]
    for i in range(0, len(items), 2):
        yield "  " + "    ".join(items[i:i + 2])


def _summary(evaluation: Evaluation, seconds: float) -> Iterator[str]:
    outcomes = evaluation.outcomes
    total = sum(o.finding_count for o in outcomes)
    statuses = {s: sum(1 for o in outcomes if o.status == s) for s in ("alarm", "ok", "skip", "error")}
    yield (f"Evaluated {len(outcomes)} policies in {seconds:.1f}s: {total:,} findings ("
           + ", ".join(f"{n} {s}" for s, n in statuses.items()) + ")")
    for o in outcomes:
        why = o.error or o.skip_reason
        if o.status in ("error", "skip") and why:
            yield f"  {o.status}: {o.policy_id}: {why.splitlines()[0]}"

    severities = tuple(reversed(SEVERITIES))
    counts: dict[tuple[str, str], int] = {}
    for o in outcomes:
        counts[o.category, o.severity] = counts.get((o.category, o.severity), 0) + o.finding_count
    categories = [c for c in CATEGORIES if any(k[0] == c for k in counts)]
    categories += sorted({k[0] for k in counts} - set(categories) - {""})
    yield ""
    yield "Findings by category and severity:"
    yield "  " + f"{'':<12}" + "".join(f"{s:>10}" for s in severities) + f"{'total':>10}"
    for c in categories:
        row = [counts.get((c, s), 0) for s in severities]
        yield ("  " + f"{c:<12}" + "".join(f"{n or '.':>10}" for n in row) + f"{sum(row):>10,}")

    ranked = sorted((o for o in outcomes if o.finding_count), key=lambda o: (-o.finding_count, o.policy_id))
    if ranked:
        yield ""
        yield "Top policies by findings:"
        for o in ranked[:5]:
            yield f"  {o.finding_count:>8,}  {o.severity:<8}  {o.policy_id:<46} {o.title}"


def _savings(evaluation_id: int, summary: dict) -> Iterator[str]:
    """The savings the evaluation left in the store, per currency, each billable object counted
    once: the figures the dashboard, the savings page and the evaluation page show
    (engine/store/claims.py)."""
    from .savings import describe_recorded

    yield ""
    yield (f"Savings a year after evaluation {evaluation_id}: {describe_recorded(summary)} "
           "(each line, seat or charge counted once; never added across currencies)")
