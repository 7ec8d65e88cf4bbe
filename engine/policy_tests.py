"""Policy tests: a small inline estate and the resources that must (not) be found.

A policy ``cost/zero-usage-lines.yaml`` is tested by ``cost/zero-usage-lines.test.yaml``::

    snapshot_date: "2026-06-30"
    estate:                      # rows per entity, shared by every case
      lines:
        - {id: L1, kind: mobile, status: active}
    cases:
      - name: an idle line is found
        estate: {usage: [{line_id: L1, period: "2026-01", last_activity_on: "2026-01-03"}]}
        found: [L1]
      - name: a line used last week is not
        params: {idle_days: 30}
        estate: {usage: [{line_id: L1, period: "2026-06", last_activity_on: "2026-06-25"}]}
        not_found: [L1]

An entity absent from the estate is "not provided" (the policy is skipped);
write ``usage: []`` for a provided but empty table, and ``usage: null`` in a
case to remove an entity the shared estate provides. Rows go through the same
validation as collected data.

A case may also check what the policy could not decide (``undecidable: [ids]``,
resources counted as undecidable, never found), the money a finding claims
(``savings: {id: amount}``, ``savings_key: {id: key}``, ``currency: {id: code}``),
words of its reason (``reason_contains: {id: text}``) and which optional
entities were read as empty (``read_as_empty: [entity]``); ``timezone:`` sets
the snapshot's time zone for ``local_date``. A resource both found and
undecidable fails every case: missing data must never read as a violation.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from .collector_api import ROW_COLUMN, RawBatch, text_value
from .errors import DialtoneError, PolicyError
from .estate.model import load_model
from .evaluation import evaluate
from .policy.loader import TEST_SUFFIX, LoadedPolicies
from .snapshots import SnapshotStore
from .validate import validate_batch
from .yamlio import load_yaml_file

TEST_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["cases"],
    "properties": {
        "snapshot_date": {"type": "string", "format": "date"},
        "estate": {"$ref": "#/$defs/estate"},
        "cases": {"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "snapshot_date": {"type": "string", "format": "date"},
                "params": {"type": "object"},
                "estate": {"$ref": "#/$defs/estate"},
                "found": {"type": "array", "items": {"type": "string"}},
                "not_found": {"type": "array", "items": {"type": "string"}},
                "status": {"enum": ["alarm", "ok", "skip"]},
                "undecidable": {"type": "array", "items": {"type": "string"}},
                "decided": {"type": "array", "items": {"type": "string"}},
                "savings": {"type": "object", "additionalProperties": {"type": ["number", "null"]}},
                "savings_key": {"type": "object", "additionalProperties": {"type": "string"}},
                "currency": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
                "reason_contains": {"type": "object", "additionalProperties": {"type": "string"}},
                "read_as_empty": {"type": "array", "items": {"type": "string"}},
                "timezone": {"type": "string"},
            }}},
    },
    "$defs": {"estate": {"type": "object", "additionalProperties": {
        "type": ["array", "null"], "items": {"type": "object"}}}},
}


@dataclass
class CaseResult:
    policy_id: str
    name: str
    ok: bool
    detail: str = ""


@dataclass
class TestReport:
    cases: list[CaseResult] = field(default_factory=list)
    untested: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and all(c.ok for c in self.cases)

    def lines(self) -> list[str]:
        out = []
        for c in self.cases:
            out.append(f"{'PASS' if c.ok else 'FAIL'} {c.policy_id}: {c.name}")
            if c.detail:
                out.append(f"     {c.detail}")
        out += [f"ERROR {e}" for e in self.errors]
        out += [f"NO TESTS {p}" for p in self.untested]
        passed = sum(c.ok for c in self.cases)
        out.append(f"{passed} passed, {len(self.cases) - passed} failed"
                   + (f", {len(self.errors)} errors" if self.errors else "")
                   + (f"; {len(self.untested)} policies without tests" if self.untested else ""))
        return out


def _tables(estate: dict[str, list[dict]], origin: str) -> dict[str, pa.Table]:
    """Validate and type the inline rows; any bad row is an error in the test file."""
    model = load_model()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    out = {}
    for name, rows in estate.items():
        entity = model.entity(name)
        unknown = sorted({k for r in rows for k in r} - set(entity.field_names))
        if unknown:
            raise DialtoneError(f"{origin}: {name} has no field(s) {', '.join(unknown)}")
        cols = {}
        for f in entity.fields:
            typ = pa.list_(pa.string()) if f.type == "list" else pa.string()
            cols[f.name] = pa.array([text_value(r.get(f.name), f.type == "list") for r in rows], typ)
        cols[ROW_COLUMN] = pa.array(range(1, len(rows) + 1), pa.int64())
        result = validate_batch(con, entity, RawBatch(name, pa.table(cols), origin), "test")
        if result.rejects.num_rows:
            r = result.rejects.to_pylist()[0]
            raise DialtoneError(f"{origin}: {name} row {r['row']}: {r['field']}: {r['reason']}")
        out[name] = result.table.drop_columns(["__origin", "__batch", "__row"])
    return out


def _check_schema(data, origin: str) -> None:
    err = best_match(Draft202012Validator(
        TEST_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER).iter_errors(data))
    if err is not None:
        where = ".".join(str(p) for p in err.absolute_path) or "test file"
        raise DialtoneError(f"{origin}: {where}: {err.message}")


def run_policy_tests(loaded: LoadedPolicies) -> TestReport:
    report = TestReport()
    for file, err in loaded.failures:
        if file in loaded.override_files:  # an override's target may be outside the tested folders
            continue
        report.errors.append(f"{file}: invalid policy\n{err}")
    for policy in loaded.policies:
        test_file = Path(policy.abspath).with_name(Path(policy.abspath).stem + TEST_SUFFIX) \
            if policy.abspath else None
        if test_file is None or not test_file.exists():
            report.untested.append(policy.id)
            continue
        origin = str(Path(policy.path).with_name(test_file.name)) if policy.path else test_file.name
        try:
            data = load_yaml_file(test_file, origin).data
            _check_schema(data, origin)
            for case in data["cases"]:
                report.cases.append(_run_case(loaded, policy, data, case, origin))
        except (DialtoneError, PolicyError) as exc:
            report.errors.append(str(exc))
    return report


def _run_case(loaded, policy, data: dict, case: dict, origin: str) -> CaseResult:
    merged = {**(data.get("estate") or {}), **(case.get("estate") or {})}
    estate = {name: rows for name, rows in merged.items() if rows is not None}  # null: not provided
    as_of = dt.date.fromisoformat(case.get("snapshot_date") or data.get("snapshot_date")
                                  or "2026-01-01")
    tables = _tables(estate, f"{origin} ({case['name']})")
    one = LoadedPolicies((policy,), (), loaded.version)
    with tempfile.TemporaryDirectory(prefix="dialtone-test-") as tmp:
        snap = SnapshotStore(Path(tmp)).write(tables, as_of=as_of, sources={},
                                              now=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
                                              timezone=case.get("timezone", "UTC"))
        result = evaluate(snap, one, overrides={policy.id: case.get("params") or {}})
    outcome = result.outcomes[0]
    found = {f["resource_id"] for f in outcome.findings}
    expected_status = case.get("status")
    problems = []
    if outcome.status == "error":
        problems.append(f"policy errored: {outcome.error}")
    elif expected_status and outcome.status != expected_status:
        problems.append(f"expected status {expected_status}, got {outcome.status}"
                        + (f" ({outcome.skip_reason})" if outcome.skip_reason else ""))
    elif outcome.status == "skip" and expected_status != "skip":
        problems.append(f"policy was skipped: {outcome.skip_reason}")
    missing = [r for r in case.get("found", []) if r not in found]
    wrong = [r for r in case.get("not_found", []) if r in found]
    if missing:
        problems.append(f"not found: {', '.join(missing)}")
    if wrong:
        problems.append(f"found but should not be: {', '.join(wrong)}")
    problems += _check_details(case, outcome, found)
    return CaseResult(policy.id, case["name"], not problems, "; ".join(problems))


def _check_details(case: dict, outcome, found: set[str]) -> list[str]:
    """Undecidable resources, the money a finding claims, its reason, entities read as empty."""
    problems = []
    undecidable = set(outcome.undecidable.to_pylist()) if outcome.undecidable is not None else set()
    both = sorted(found & undecidable)
    if both:
        problems.append(f"found although undecidable (missing data read as a violation): "
                        f"{', '.join(both)}")
    missing = [r for r in case.get("undecidable", []) if r not in undecidable]
    if missing:
        problems.append(f"not undecidable: {', '.join(missing)}")
    wrongly = [r for r in case.get("decided", []) if r in undecidable]
    if wrongly:
        problems.append(f"undecidable but should be decided: {', '.join(wrongly)}")
    by_id = {f["resource_id"]: f for f in outcome.findings}
    for key in ("savings", "savings_key", "currency"):
        for rid, want in (case.get(key) or {}).items():
            if rid not in by_id:
                problems.append(f"{key}: {rid} is not a finding")
            elif by_id[rid][key] != want:
                problems.append(f"{key} of {rid}: expected {want!r}, got {by_id[rid][key]!r}")
    for rid, text in (case.get("reason_contains") or {}).items():
        if rid not in by_id:
            problems.append(f"reason_contains: {rid} is not a finding")
        elif text not in (by_id[rid]["reason"] or ""):
            problems.append(f"reason of {rid} lacks {text!r}: {by_id[rid]['reason']!r}")
    if "read_as_empty" in case and sorted(case["read_as_empty"]) != sorted(outcome.read_as_empty):
        problems.append(f"read as empty: expected {sorted(case['read_as_empty'])}, "
                        f"got {sorted(outcome.read_as_empty)}")
    return problems
