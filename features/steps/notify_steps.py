"""Steps for notifications: a Jira project served by the loopback fake tracker
(tests/ticket_servers.py), a carrier export, `dialtone run`."""

from __future__ import annotations

import json

import pytest
from pytest_bdd import given, parsers, then, when

from tests.ticket_servers import FakeJira

from .source_steps import _config

TOKEN = "jira-feature-t0ken"
HEADER = "id,kind,purpose,status,number,cost_center,monthly_cost\n"


@pytest.fixture
def jira_server():
    server = FakeJira(token=TOKEN).start()
    yield server
    server.stop()


@given(parsers.parse('a Jira project "{project}" where Dialtone files its critical findings'))
def jira_project(world: dict, jira_server: FakeJira, project: str, monkeypatch) -> None:
    monkeypatch.setenv("FEATURE_JIRA_TOKEN", TOKEN)
    world["jira"] = jira_server
    world["notifications"] = f"""notifications:
  base_url: https://dialtone.example.com
  targets:
    jira:
      type: jira
      url: {jira_server.url}
      project: {project}
      email: {jira_server.email}
      token_env: FEATURE_JIRA_TOKEN
      evidence: full
  rules:
    - name: critical-to-jira
      match: {{severity: [critical]}}
      when: [new, reopened]
      targets: [jira]
"""


def _write_lines(world: dict, status: str) -> None:
    folder = world["root"] / "carrier"
    folder.mkdir(exist_ok=True)
    (folder / "lines.csv").write_text(HEADER + f"L7,landline,lift,{status},+15551230007,CC-1,25\n",
                                      encoding="utf-8")


@given(parsers.parse('a carrier export with the lift line "{line}", suspended'))
def carrier_with_lift_line(world: dict, line: str) -> None:
    _write_lines(world, "suspended")
    _config(world).write_text("sources:\n  carrier: {collector: csv, path: ./carrier}\n"
                              + world["notifications"], encoding="utf-8")


@when(parsers.parse('the lift line "{line}" is cancelled in the carrier export'))
def lift_line_cancelled(world: dict, line: str) -> None:
    _write_lines(world, "cancelled")


@when("someone closes the ticket in Jira")
def close_in_jira(world: dict) -> None:
    (key,) = world["jira"].issues
    world["jira"].person_move(key, "Done")


def _issue(world: dict) -> dict:
    (issue,) = world["jira"].issues.values()
    return issue


@then(parsers.parse('Jira has {n:d} ticket, about the lift line "{line}", labelled for Dialtone'))
def jira_has_ticket(world: dict, n: int, line: str) -> None:
    assert len(world["jira"].issues) == n
    issue = _issue(world)
    fields = issue["fields"]
    assert line in fields["summary"] and "dialtone" in fields["labels"]
    assert any(label.startswith("dialtone-t") for label in fields["labels"])
    assert world["run"]["notifications"]["sent"] == 1


@then(parsers.parse("Jira still has {n:d} ticket"))
def jira_still(world: dict, n: int) -> None:
    assert len(world["jira"].issues) == n


def _finding(world: dict, line: str) -> dict:
    from dialtone.web.cli import cli

    result = world["runner"].invoke(cli, ["--config", str(_config(world)), "findings", "list", "--all",
                                          "--format", "json"])
    (finding,) = [f for f in json.loads(result.stdout)
                  if f["resource_id"] == line and f["policy_id"] == "regulatory.life-safety-line-integrity"]
    return finding


def _history(world: dict, line: str) -> list[str]:
    from dialtone.web.cli import cli

    fid = _finding(world, line)["id"]
    result = world["runner"].invoke(cli, ["--config", str(_config(world)), "findings", "show", str(fid),
                                          "--format", "json"])
    return [e["kind"] for e in json.loads(result.stdout)["history"]]


@then("the ticket is open again in Jira, with a comment that the violation is still found and its evidence")
def reopened_in_jira(world: dict) -> None:
    issue = _issue(world)
    assert issue["status"] != "Done"
    text = json.dumps(issue["comments"][-1]["body"])
    assert "still finds it" in text and "L7" in text and "suspended" in text


@then(parsers.parse('the history of the finding about "{line}" records the fix as claimed, then refuted'))
def claimed_refuted(world: dict, line: str) -> None:
    kinds = _history(world, line)
    assert "fix_claimed" in kinds and "fix_refuted" in kinds
    assert kinds.index("fix_claimed") < kinds.index("fix_refuted")


@then(parsers.parse('the finding about "{line}" is still open'))
def still_open(world: dict, line: str) -> None:
    assert _finding(world, line)["status"] == "open"


@then(parsers.parse('the finding about "{line}" is resolved'))
def resolved(world: dict, line: str) -> None:
    assert _finding(world, line)["status"] == "resolved"


@then("the ticket is closed in Jira")
def closed_in_jira(world: dict) -> None:
    assert _issue(world)["status"] == "Done"



