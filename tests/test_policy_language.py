"""The policy language for missing data, money and time: undecidable, optional, savings_key and
currency, local_date, and thresholds taken from the obligations catalogue."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest

from dialtone.engine.evaluation import evaluate
from dialtone.engine.frameworks import load_catalogue
from dialtone.engine.obligations import load_obligations, longest_days
from dialtone.engine.policy.loader import LoadedPolicies, load_policies, parse_policy
from dialtone.engine.policy_tests import run_policy_tests
from dialtone.engine.snapshots import SnapshotStore

AS_OF = dt.date(2026, 6, 30)


def snapshot(tmp_path: Path, tables: dict[str, list[dict]], timezone: str = "UTC"):
    from dialtone.engine.policy_tests import _tables

    return SnapshotStore(tmp_path).write(_tables(tables, "test"), as_of=AS_OF, sources={},
                                         now=dt.datetime(2026, 6, 30, tzinfo=dt.UTC),
                                         timezone=timezone)


def run(tmp_path: Path, text: str, tables: dict, timezone: str = "UTC", params: dict | None = None):
    policy = parse_policy(textwrap.dedent(text), "p.yaml")
    result = evaluate(snapshot(tmp_path, tables, timezone), LoadedPolicies((policy,), (), "v"),
                      overrides={policy.id: params or {}})
    return result.outcomes[0]


IDLE = """\
id: test.idle
title: Idle lines
category: cost
severity: medium
resource: lines
where: |
  status = 'active'
  AND EXISTS (SELECT 1 FROM usage u WHERE u.line_id = lines.id)
  AND NOT EXISTS (SELECT 1 FROM usage u WHERE u.line_id = lines.id AND u.voice_minutes > 0)
undecidable: |
  status = 'active' AND NOT EXISTS (SELECT 1 FROM usage u WHERE u.line_id = lines.id)
savings: monthly_cost * 12
"""
LINES = [{"id": "L1", "kind": "mobile", "status": "active", "monthly_cost": 40, "currency": "GBP"},
         {"id": "L2", "kind": "mobile", "status": "active", "monthly_cost": 40},
         {"id": "L3", "kind": "mobile", "status": "active", "monthly_cost": 40}]


def test_resources_without_the_data_to_decide_are_undecidable_not_found_and_not_ok(tmp_path):
    outcome = run(tmp_path, IDLE, {"lines": LINES, "usage": [
        {"line_id": "L1", "period": "2026-06", "voice_minutes": 0},
        {"line_id": "L2", "period": "2026-06", "voice_minutes": 31}]})
    assert [f["resource_id"] for f in outcome.findings] == ["L1"]
    assert outcome.undecidable_count == 1 and outcome.undecidable_sample() == ["L3"]
    result = outcome.as_dict()
    assert (result["undecidable_count"], result["undecidable"]) == (1, ["L3"])


def test_savings_claim_the_resource_in_its_currency_by_default_or_what_the_policy_says(tmp_path):
    tables = {"lines": LINES, "usage": [{"line_id": "L1", "period": "2026-06", "voice_minutes": 0}],
              "devices": [{"id": "D1", "line_id": "L1", "status": "lost"}]}
    (finding,) = run(tmp_path, IDLE, tables).findings
    assert (finding["savings"], finding["savings_key"], finding["currency"]) == (480.0, "lines:L1", "GBP")
    lost = """\
        id: test.lost
        title: Lost devices whose line is billed
        category: cost
        severity: medium
        resource: devices
        where: status = 'lost' AND line.status = 'active'
        savings: line.monthly_cost * 12
        savings_key: "'lines:' || line_id"
        currency: line.currency
        """
    (finding,) = run(tmp_path / "b", lost, tables).findings
    assert (finding["resource_id"], finding["savings_key"], finding["currency"]) == ("D1", "lines:L1", "GBP")


def test_a_query_policy_returns_its_own_savings_key_and_currency(tmp_path):
    text = """\
        id: test.q
        title: Query
        category: cost
        severity: low
        resource: lines
        query: |
          SELECT l.id AS resource_id, l.monthly_cost * 12 AS savings, 'acct:A' AS savings_key,
                 'EUR' AS currency
          FROM lines l WHERE l.status = 'active'
        """
    findings = run(tmp_path, text, {"lines": LINES}).findings
    assert {(f["savings_key"], f["currency"]) for f in findings} == {("acct:A", "EUR")}


def test_an_optional_entity_no_source_provides_is_read_as_empty_and_noted(tmp_path):
    text = """\
        id: test.calls
        title: Numbers without calls
        category: cost
        severity: low
        resource: lines
        optional: [calls]
        where: status = 'active' AND id NOT IN (SELECT c.line_id FROM calls c WHERE c.line_id IS NOT NULL)
        """
    without = run(tmp_path, text, {"lines": LINES})
    assert without.status == "alarm" and without.read_as_empty == ["calls"]
    assert without.as_dict()["read_as_empty"] == ["calls"]
    with_calls = run(tmp_path / "b", text, {"lines": LINES, "calls": [
        {"id": "C1", "line_id": "L1", "started_at": "2026-06-01T10:00:00Z"}]})
    assert with_calls.read_as_empty == []
    assert [f["resource_id"] for f in with_calls.findings] == ["L2", "L3"]
    required = run(tmp_path / "c", text.replace("        optional: [calls]\n", ""), {"lines": LINES})
    assert required.status == "skip" and required.skip_reason == "no source provides calls"


def test_an_unknown_optional_entity_is_a_policy_error(tmp_path):
    from dialtone.engine.compiler import compile_policy
    from dialtone.engine.errors import PolicyError

    policy = parse_policy(IDLE.replace("savings:", "optional: [call]\nsavings:"), "p.yaml")
    with pytest.raises(PolicyError, match="optional: unknown entity 'call'. Did you mean 'calls'"):
        compile_policy(policy)


def test_local_date_is_the_day_in_the_organisation_s_time_zone(tmp_path):
    text = """\
        id: test.day
        title: Calls on the first of April
        category: regulatory
        severity: low
        resource: calls
        where: local_date(started_at) = DATE '2026-04-01'
        evidence: [local_date(started_at) AS day]
        """
    # 01:30 UTC on 2 April is 20:30 on 1 April in Chicago.
    calls = {"calls": [{"id": "C1", "started_at": "2026-04-02T01:30:00Z"},
                       {"id": "C2", "started_at": "2026-04-01T12:00:00Z"}]}
    assert [f["resource_id"] for f in run(tmp_path, text, calls).findings] == ["C2"]
    chicago = run(tmp_path / "b", text, calls, timezone="America/Chicago").findings
    assert [(f["resource_id"], f["evidence"]["day"]) for f in chicago] == [
        ("C1", "2026-04-01"), ("C2", "2026-04-01")]


def test_the_time_zone_comes_from_the_configuration_into_the_snapshot(tmp_path):
    from dialtone.engine.collect import collect
    from dialtone.engine.config import load_config
    from dialtone.engine.errors import ConfigError

    (tmp_path / "estate").mkdir()
    (tmp_path / "estate" / "lines.csv").write_text("id,kind,status\nL1,mobile,active\n")
    (tmp_path / "dialtone.yaml").write_text(
        "timezone: America/Chicago\nsources:\n  e: {collector: csv, path: ./estate}\n")
    snap = collect(load_config(tmp_path / "dialtone.yaml")).snapshot
    assert snap.manifest["timezone"] == "America/Chicago" and snap.timezone == "America/Chicago"
    (tmp_path / "dialtone.yaml").write_text(
        "timezone: Mars/Olympus\nsources:\n  e: {collector: csv, path: ./estate}\n")
    with pytest.raises(ConfigError, match="dialtone.yaml:1: timezone: unknown time zone 'Mars/Olympus'"):
        load_config(tmp_path / "dialtone.yaml")


# -- obligations ---------------------------------------------------------------------------------
def test_a_period_of_years_is_its_longest_span_in_days():
    assert [longest_days({"years": n}) for n in (1, 3, 5, 6, 7)] == [366, 1096, 1827, 2192, 2557]
    # 5 years from 2024-01-15 hold two 29 Februaries: 1,827 days, never fewer.
    assert (dt.date(2029, 1, 15) - dt.date(2024, 1, 15)).days == longest_days({"years": 5})


def test_a_parameter_takes_its_default_from_the_obligations_catalogue(tmp_path):
    folder = tmp_path / "pols"
    folder.mkdir()
    (folder / "keep.yaml").write_text(textwrap.dedent("""\
        id: acme.keep
        title: Stores keep communications long enough
        category: retention
        severity: high
        resource: retention_policies
        where: retention_days < :min_days
        params:
          min_days: {obligation: sec-17a-4-b4, description: Days to keep}
        """))
    (folder / "bad.yaml").write_text((folder / "keep.yaml").read_text().replace(
        "acme.keep", "acme.bad").replace("sec-17a-4-b4", "sec-17a4-b4"))
    loaded = load_policies([folder])
    assert loaded.by_id()["acme.keep"].defaults() == {"min_days": 1096}
    ((file, err),) = loaded.failures
    assert file == "bad.yaml" and "unknown obligation 'sec-17a4-b4'. Did you mean 'sec-17a-4-b4'" in str(err)


def test_an_organisation_adds_obligations_and_may_not_redefine_one(tmp_path):
    frameworks = tmp_path / "frameworks"
    frameworks.mkdir(parents=True)
    (frameworks / "obligations.yaml").write_text(textwrap.dedent("""\
        obligations:
          - id: acme-voice
            regime: acme
            title: ACME keeps trader calls seven years
            record_types: [communication.voice]
            minimum: {years: 7}
            clock: created
            citation: ACME policy 4.2
        """))
    assert load_obligations([tmp_path]).get("acme-voice").value == 2557
    (frameworks / "obligations.yaml").write_text((frameworks / "obligations.yaml").read_text()
                                                 .replace("acme-voice", "sec-17a-4-b4"))
    from dialtone.engine.errors import PolicyError

    with pytest.raises(PolicyError, match=r"obligation 'sec-17a-4-b4' is defined twice, differently "
                                          r"\(first in the built-in catalogue\)"):
        load_obligations([tmp_path])


def test_a_copy_of_the_built_in_packs_loads_beside_them(tmp_path):
    """A policy folder holding the built-in packs (vendored to be changed, or a past revision's)
    repeats the obligations catalogue word for word: the same definition is no redefinition."""
    import shutil

    from dialtone.engine.policy.loader import load_policies
    from dialtone.policies import builtin_policy_dir

    shutil.copytree(builtin_policy_dir(), tmp_path / "policies")
    loaded = load_policies([tmp_path / "policies"])
    assert not loaded.failures and len(loaded.policies) == len(load_policies().policies)


def test_the_catalogue_states_thresholds_from_where_the_control_runs(tmp_path):
    frameworks = tmp_path / "frameworks"
    frameworks.mkdir()
    (frameworks / "acme.yaml").write_text(textwrap.dedent("""\
        id: acme
        title: ACME
        authority: ACME
        citation: internal
        requirements:
          - id: keep
            title: Keep communications
            citation: ACME 1
            summary: Communications are kept {value}.
            obligation: sec-17a-4-b4
          - id: idle
            title: Cancel idle lines
            citation: ACME 2
            summary: A line idle for {value} is cancelled.
            parameter: test.idle.idle_days
            unit: days
        """))
    policy = parse_policy(IDLE + "params:\n  idle_days: {default: 90}\n", "p.yaml")
    catalogue = load_catalogue([tmp_path]).resolve([policy], {"test.idle": {"idle_days": 60}})
    keep, idle = catalogue.frameworks["acme"].requirements
    assert keep.summary == "Communications are kept at least 3 years (1,096 days) from sent or received."
    assert keep.figures["minimum_days"] == 1096
    assert idle.summary == "A line idle for 60 days is cancelled." and idle.figures["number"] == 60


# -- the policy test runner ---------------------------------------------------------------------
def test_policy_tests_check_undecidable_savings_and_reasons_and_refuse_missing_data_as_a_finding(tmp_path):
    folder = tmp_path / "pols"
    folder.mkdir()
    (folder / "idle.yaml").write_text(IDLE + 'reason: "idle, {monthly_cost} a month"\n')
    (folder / "idle.test.yaml").write_text(textwrap.dedent("""\
        snapshot_date: "2026-06-30"
        estate:
          lines:
            - {id: L1, kind: mobile, status: active, monthly_cost: 40, currency: GBP}
            - {id: L3, kind: mobile, status: active, monthly_cost: 40}
          usage:
            - {line_id: L1, period: "2026-06", voice_minutes: 0}
        cases:
          - name: right
            found: [L1]
            undecidable: [L3]
            savings: {L1: 480}
            savings_key: {L1: "lines:L1"}
            currency: {L1: GBP}
            reason_contains: {L1: "40.0 a month"}
          - name: wrong
            undecidable: [L1]
            decided: [L3]
            savings: {L1: 100}
        """))
    report = run_policy_tests(load_policies([folder]))
    right, wrong = report.cases
    assert right.ok, right.detail
    assert not wrong.ok
    assert wrong.detail == ("not undecidable: L1; undecidable but should be decided: L3; "
                            "savings of L1: expected 100, got 480.0")
    # A where that fires on the very resources the policy calls undecidable is a bug.
    any_usage = "AND EXISTS (SELECT 1 FROM usage u WHERE u.line_id = lines.id)\n"
    (folder / "idle.yaml").write_text(IDLE.replace(any_usage, ""))
    right_only = (folder / "idle.test.yaml").read_text().split("  - name: wrong")[0]
    (folder / "idle.test.yaml").write_text(right_only)
    (case,) = run_policy_tests(load_policies([folder])).cases
    assert "found although undecidable (missing data read as a violation): L3" in case.detail


def test_the_evaluation_json_carries_the_new_fields(tmp_path):
    outcome = run(tmp_path, IDLE, {"lines": LINES, "usage": []})
    data = json.loads(json.dumps(outcome.as_dict()))
    assert {"incomplete_inputs", "read_as_empty", "undecidable_count", "undecidable"} <= set(data)
    assert isinstance(outcome.undecidable, pa.Array)


def test_days_since_a_local_date_expands_both(tmp_path):
    text = """\
        id: test.since
        title: Calls more than a day before the snapshot, local time
        category: regulatory
        severity: low
        resource: calls
        where: days_since(local_date(started_at)) >= 1
        """
    calls = {"calls": [{"id": "C1", "started_at": "2026-06-30T02:00:00Z"}]}   # 29 June in Chicago
    assert run(tmp_path, text, calls).findings == []
    chicago = run(tmp_path / "b", text, calls, timezone="America/Chicago")
    assert [f["resource_id"] for f in chicago.findings] == ["C1"]


def test_a_query_flags_its_own_undecidable_rows_in_one_pass(tmp_path):
    text = """\
        id: test.qu
        title: Idle lines, one pass
        category: cost
        severity: medium
        resource: lines
        query: |
          SELECT l.id AS resource_id, l.monthly_cost * 12 AS savings,
                 count(u.line_id) = 0 AS undecidable
          FROM lines l LEFT JOIN usage u ON u.line_id = l.id
          WHERE l.status = 'active'
          GROUP BY l.id, l.monthly_cost
          HAVING count(u.line_id) = 0 OR max(u.voice_minutes) = 0
        """
    outcome = run(tmp_path, text, {"lines": LINES, "usage": [
        {"line_id": "L1", "period": "2026-06", "voice_minutes": 0},
        {"line_id": "L2", "period": "2026-06", "voice_minutes": 31}]})
    assert [f["resource_id"] for f in outcome.findings] == ["L1"]
    assert outcome.undecidable_sample() == ["L3"]
    assert all(set(f) == {"resource_type", "resource_id", "reason", "savings", "savings_key",
                          "currency", "evidence"} for f in outcome.findings)
    from dialtone.engine.compiler import compile_policy
    from dialtone.engine.errors import PolicyError

    both = text.replace("        query:", "        undecidable: status = 'active'\n        query:")
    with pytest.raises(PolicyError, match="say it once"):
        compile_policy(parse_policy(textwrap.dedent(both), "p.yaml"))


def test_a_relation_path_starting_with_a_keyword_is_evidence_and_a_condition(tmp_path):
    # `call` is an SQL keyword (CALL): the path through a recording's call to its line was a
    # parse error as an evidence item.
    text = """\
        id: test.callpath
        title: Inbound recordings
        category: regulatory
        severity: low
        resource: recordings
        where: call.direction = 'inbound'
        evidence: [call.line.number, call.direction]
        reason: "recorded on {call.line.number}"
        """
    outcome = run(tmp_path, text, {
        "recordings": [{"id": "R1", "call_id": "C1"}, {"id": "R2", "call_id": "C2"}],
        "calls": [{"id": "C1", "line_id": "L1", "direction": "inbound", "started_at": "2026-06-01T10:00:00Z"},
                  {"id": "C2", "line_id": "L1", "direction": "outbound",
                   "started_at": "2026-06-01T11:00:00Z"}],
        "lines": [{"id": "L1", "kind": "mobile", "status": "active", "number": "+15125550100"}]})
    assert [(f["resource_id"], f["evidence"], f["reason"]) for f in outcome.findings] == [
        ("R1", {"call.line.number": "+15125550100", "call.direction": "inbound"},
         "recorded on +15125550100")]
