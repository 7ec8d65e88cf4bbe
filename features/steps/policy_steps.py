"""Steps shared by the feature files: policies on disk, estates, the CLI."""

from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from pytest_bdd import given, parsers, then, when

HEAD = "id: {id}\ntitle: A policy under test\ncategory: cost\nseverity: high\nresource: {resource}\n"


@pytest.fixture
def world(tmp_path: Path) -> dict:
    """State shared by the steps of one scenario."""
    (tmp_path / "policies").mkdir()
    return {"root": tmp_path, "runner": CliRunner(), "results": []}


def _invoke(world: dict, *args: str):
    from dialtone.web.cli import cli

    return world["runner"].invoke(cli, list(args), catch_exceptions=False)


def _write_policy(world: dict, relpath: str, policy_id: str, resource: str, where: str,
                  params: str = "") -> None:
    path = world["root"] / "policies" / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    body = HEAD.format(id=policy_id, resource=resource)
    body += "where: |\n" + textwrap.indent(where.strip(), "  ") + "\n" + params
    path.write_text(body, encoding="utf-8")
    world["policy_file"] = path


# -- policies ----------------------------------------------------------------------------------
@given(parsers.parse('a policy file "{relpath}" with the condition:'))
def policy_file(world: dict, relpath: str, docstring: str) -> None:
    policy_id = "test." + Path(relpath).stem
    _write_policy(world, relpath, policy_id, "lines", docstring)


@given(parsers.parse('the policy "{policy_id}" on {resource} where:'))
def policy_on(world: dict, policy_id: str, resource: str, docstring: str) -> None:
    world["policy"] = (policy_id, resource, docstring)
    _write_policy(world, "p.yaml", policy_id, resource, docstring)


@given(parsers.parse("the policy takes the parameter {name} with default {default:d}"))
def policy_param(world: dict, name: str, default: int) -> None:
    policy_id, resource, where = world["policy"]
    _write_policy(world, "p.yaml", policy_id, resource, where,
                  params=f"params:\n  {name}: {{default: {default}}}\n")


@when("I validate the policies")
def validate(world: dict) -> None:
    world["validation"] = _invoke(world, "policy", "validate", str(world["root"] / "policies"))


@then("validation fails")
def validation_fails(world: dict) -> None:
    assert world["validation"].exit_code == 1, world["validation"].output


@then(parsers.parse('the error names "{file}" line {line:d} column {column:d}'))
def error_position(world: dict, file: str, line: int, column: int) -> None:
    assert f"{file}:{line}:{column}:" in world["validation"].output, world["validation"].output


@then(parsers.parse('the error says "{message}"'))
def error_says(world: dict, message: str) -> None:
    assert message in world["validation"].output, world["validation"].output


# -- estates and evaluation -----------------------------------------------------------------
def _write_entity(world: dict, entity: str, table: list[list[str]]) -> None:
    folder = world["root"] / "estate"
    folder.mkdir(exist_ok=True)
    with (folder / f"{entity}.csv").open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(table)
    world.setdefault("tables", {})[entity] = table


@given("an estate folder with lines:")
def estate_lines(world: dict, datatable: list[list[str]]) -> None:
    (world["root"] / "dialtone.yaml").write_text(
        "sources:\n  estate:\n    collector: csv\n    path: ./estate\n"
        "policies: [./policies]\n", encoding="utf-8")
    _write_entity(world, "lines", datatable)


@given("people:")
def estate_people(world: dict, datatable: list[list[str]]) -> None:
    _write_entity(world, "people", datatable)


@when(parsers.parse('person "{person}" becomes active again'))
def reinstate(world: dict, person: str) -> None:
    table = world["tables"]["people"]
    header = table[0]
    for row in table[1:]:
        if row[0] == person:
            row[header.index("status")] = "active"
            row[header.index("terminated_on")] = ""
    _write_entity(world, "people", table)


@when(parsers.parse('I collect the estate as of "{as_of}"'))
def collect_estate(world: dict, as_of: str) -> None:
    result = _invoke(world, "--config", str(world["root"] / "dialtone.yaml"), "collect",
                     "--as-of", as_of)
    assert result.exit_code == 0, result.output


@when("I evaluate the policies")
def evaluate_policies(world: dict) -> None:
    result = _invoke(world, "--config", str(world["root"] / "dialtone.yaml"), "evaluate",
                     "--format", "json")
    assert result.exit_code == 0, result.output
    world["evaluation"] = json.loads(result.stdout)


@when("I evaluate the policies as JSON twice")
def evaluate_twice(world: dict) -> None:
    for _ in range(2):
        result = _invoke(world, "--config", str(world["root"] / "dialtone.yaml"), "evaluate",
                         "--format", "json")
        assert result.exit_code == 0, result.output
        world["results"].append(result.stdout)


def _outcome(world: dict, policy_id: str) -> dict:
    return next(r for r in world["evaluation"]["results"] if r["policy_id"] == policy_id)


@then(parsers.parse('the policy "{policy_id}" is in alarm'))
def in_alarm(world: dict, policy_id: str) -> None:
    assert _outcome(world, policy_id)["status"] == "alarm"


@then(parsers.parse('the policy "{policy_id}" is ok'))
def is_ok(world: dict, policy_id: str) -> None:
    outcome = _outcome(world, policy_id)
    assert outcome["status"] == "ok", outcome


@then(parsers.parse('line "{line_id}" is found'))
def line_found(world: dict, line_id: str) -> None:
    found = {f["resource_id"] for r in world["evaluation"]["results"] for f in r["findings"]}
    assert line_id in found


@then(parsers.parse('line "{line_id}" is not found'))
def line_not_found(world: dict, line_id: str) -> None:
    found = {f["resource_id"] for r in world["evaluation"]["results"] for f in r["findings"]}
    assert line_id not in found


@then("both outputs are byte-identical")
def identical(world: dict) -> None:
    first, second = world["results"]
    assert first == second
    assert json.loads(first)["results"], "the evaluation produced results"
