"""``dialtone init``: a policy repository that validates and tests out of the box, with the
built-in packs alongside and an override file that changes a built-in policy's parameters."""

from __future__ import annotations

import json

from dialtone.engine.policy.loader import load_policies
from tests.conftest import write_csv


def test_init_writes_a_repository_that_validates_and_tests(runner, cli, tmp_path, monkeypatch):
    result = runner.invoke(cli, ["init", str(tmp_path / "org")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    monkeypatch.chdir(tmp_path / "org")
    for name in ("dialtone.yaml", ".gitignore", "policies/org/high-cost-lines.yaml",
                 "policies/org/high-cost-lines.test.yaml", "exceptions/README.md",
                 ".github/workflows/policies.yml"):
        assert (tmp_path / "org" / name).exists(), name
    validated = runner.invoke(cli, ["policy", "validate"], catch_exceptions=False)
    assert validated.exit_code == 0, validated.output
    total = len(load_policies().policies) + 1                 # the built-in packs + the example
    assert f"{total} of {total} policies valid" in validated.output
    tested = runner.invoke(cli, ["policy", "test", "policies"], catch_exceptions=False)
    assert tested.exit_code == 0 and "PASS org.high-cost-lines" in tested.output
    again = runner.invoke(cli, ["init", str(tmp_path / "org")])
    assert again.exit_code == 2 and "dialtone.yaml already exists" in again.output


def test_overrides_change_or_disable_a_built_in_policy(runner, cli, tmp_path, monkeypatch):
    runner.invoke(cli, ["init", str(tmp_path / "org")], catch_exceptions=False)
    root = tmp_path / "org"
    monkeypatch.chdir(root)
    write_csv(root / "estate", "lines", ["id", "kind", "status", "monthly_cost", "activated_on"],
              [["L1", "mobile", "active", "200", "2024-01-10"]])
    # Last active 20 April, and the carrier measured nothing in May and June: idle 71 days on 30 June.
    write_csv(root / "estate", "usage",
              ["line_id", "period", "voice_minutes", "data_mb", "sms_count", "last_activity_on"],
              [["L1", "2026-04", "12", "300", "2", "2026-04-20"], ["L1", "2026-05", "0", "0", "0", ""],
               ["L1", "2026-06", "0", "0", "0", ""]])
    assert runner.invoke(cli, ["collect", "--as-of", "2026-06-30"]).exit_code == 0
    doc = json.loads(runner.invoke(cli, ["evaluate", "--dry-run", "--format", "json"],
                                   catch_exceptions=False).stdout)
    results = {r["policy_id"]: r for r in doc["results"]}
    assert results["cost.zero-usage-lines"]["params"]["idle_days"] == 60
    assert [f["resource_id"] for f in results["cost.zero-usage-lines"]["findings"]] == ["L1"]
    assert [f["resource_id"] for f in results["org.high-cost-lines"]["findings"]] == ["L1"]

    (root / "policies" / "overrides" / "refresh.yaml").write_text(
        "override: cost.device-past-refresh-age\nreason: Leased devices.\ndisabled: true\n")
    doc = json.loads(runner.invoke(cli, ["evaluate", "--dry-run", "--format", "json"]).stdout)
    assert "cost.device-past-refresh-age" not in {r["policy_id"] for r in doc["results"]}

    (root / "policies" / "overrides" / "typo.yaml").write_text(
        "override: cost.zero-usage-line\nreason: x\nparams: {idle_days: 30}\n")
    bad = runner.invoke(cli, ["policy", "validate"])
    assert bad.exit_code == 1
    assert "typo.yaml:1:1: override: no policy 'cost.zero-usage-line'. Did you mean" in bad.output
