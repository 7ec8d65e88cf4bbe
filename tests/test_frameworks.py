"""The frameworks catalogue: loading, policy mappings checked, coverage."""

from __future__ import annotations

import textwrap

import pytest

from dialtone.engine.errors import PolicyError
from dialtone.engine.frameworks import load_catalogue
from dialtone.engine.policy.loader import load_policies

from .conftest import policy_text

FRAMEWORK = """\
id: acme-rules
title: ACME internal rules
authority: ACME compliance
citation: internal
requirements:
  - id: keep-five-years
    title: Keep records five years
    citation: ACME 1.1
    summary: Records are kept for five years.
    minimum_days: 1826
  - id: train-staff
    title: Train staff yearly
    citation: ACME 1.2
    summary: Staff are trained every year.
    out_of_scope: Training records are not part of the estate.
  - id: encrypt-media
    title: Encrypt recordings
    citation: ACME 1.3
    summary: Recordings are encrypted at rest.
"""


@pytest.fixture
def pack(tmp_path):
    (tmp_path / "frameworks").mkdir()
    (tmp_path / "frameworks" / "acme-rules.yaml").write_text(FRAMEWORK)
    return tmp_path


def write_policy(folder, name, frameworks: str):
    text = policy_text("status = 'active'").replace("test.policy", f"test.{name}")
    (folder / f"{name}.yaml").write_text(text + textwrap.dedent(frameworks))


def test_mappings_to_unknown_frameworks_or_requirements_are_positioned_errors(pack):
    write_policy(pack, "a", "frameworks:\n  acme-rule: [keep-five-years]\n")
    write_policy(pack, "b", "frameworks:\n  acme-rules: [keep-5-years]\n")
    catalogue = load_catalogue([pack])
    by_id = load_policies([pack]).by_id()
    (a,) = catalogue.check_policy(by_id["test.a"])
    assert str(a) == "a.yaml:9:3: frameworks: unknown framework 'acme-rule'. Did you mean 'acme-rules'?"
    (b,) = catalogue.check_policy(by_id["test.b"])
    assert "unknown requirement 'keep-5-years'. Did you mean 'keep-five-years'?" in str(b)


def test_uncovered_requirements_leave_out_those_out_of_scope(pack):
    write_policy(pack, "a", "frameworks:\n  acme-rules: [keep-five-years]\n")
    catalogue = load_catalogue([pack])
    policies = load_policies([pack]).policies
    acme = [(f.id, r.id) for f, r in catalogue.uncovered(policies) if f.id == "acme-rules"]
    assert acme == [("acme-rules", "encrypt-media")]
    assert catalogue.coverage(policies)["acme-rules", "keep-five-years"] == ["test.a"]


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda t: t.replace("    citation: ACME 1.1\n", ""), "'citation' is a required property"),
    (lambda t: t.replace("id: acme-rules", "id: acme"), "must match the file name"),
    (lambda t: t.replace("id: train-staff", "id: keep-five-years"), "duplicate requirement id"),
    (lambda t: t.replace("minimum_days: 1826", "minimum_days: five years"), "is not of type"),
])
def test_broken_catalogue_files_are_reported(pack, mutate, message):
    path = pack / "frameworks" / "acme-rules.yaml"
    path.write_text(mutate(FRAMEWORK))
    with pytest.raises(PolicyError, match=message):
        load_catalogue([pack])


def test_validate_fails_on_a_bad_mapping_and_lists_uncovered(runner, cli, pack):
    write_policy(pack, "a", "frameworks:\n  acme-rules: [keep-five-years]\n")
    ok = runner.invoke(cli, ["policy", "validate", str(pack)])
    assert ok.exit_code == 0, ok.output
    assert "acme-rules: encrypt-media (ACME 1.3) Encrypt recordings" in ok.output
    assert "train-staff" not in ok.output
    write_policy(pack, "b", "frameworks:\n  acme-rules: [nope]\n")
    bad = runner.invoke(cli, ["policy", "validate", str(pack)])
    assert bad.exit_code == 1
    assert "b.yaml:9:3: frameworks.acme-rules: unknown requirement 'nope'" in bad.output


def test_the_built_in_catalogue_knows_every_built_in_mapping():
    catalogue = load_catalogue()
    problems = [str(p) for policy in load_policies().policies
                for p in catalogue.check_policy(policy)]
    assert not problems


def test_every_built_in_requirement_is_covered_or_out_of_scope_with_a_reason():
    catalogue = load_catalogue()
    uncovered = [f"{f.id}:{r.id}" for f, r in catalogue.uncovered(load_policies().policies)]
    assert not uncovered


def test_policy_list_filters_by_framework_and_category(runner, cli):
    result = runner.invoke(cli, ["policy", "list", "--framework", "pci-dss-4"])
    assert result.exit_code == 0
    assert "security.payment-recordings-unredacted" in result.output
    assert "cost.zero-usage-lines" not in result.output
    costs = runner.invoke(cli, ["policy", "list", "--category", "cost", "--format", "json"])
    import json

    assert {p["category"] for p in json.loads(costs.output)} == {"cost"}
    unknown = runner.invoke(cli, ["policy", "list", "--framework", "pci-dss"])
    assert unknown.exit_code == 2 and "Did you mean 'pci-dss-4'?" in unknown.output


def test_docs_policies_pages_are_generated_from_the_packs():
    from pathlib import Path

    from dialtone.engine.policy_docs import pages

    folder = Path(__file__).parents[1] / "docs" / "policies"
    expected = pages()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in folder.glob("*.md")}
    assert on_disk == expected, "docs/policies/ is stale: run `make docs`"


def test_every_threshold_an_auditor_reads_is_the_one_that_runs():
    """A requirement that a built-in policy maps to states no number of its own: its threshold
    comes from the policy's parameter or from the obligations catalogue, so the catalogue text
    (docs, OSCAL, the web) cannot drift from the control as it operates."""
    from dialtone.engine.frameworks import load_catalogue
    from dialtone.engine.obligations import load_obligations
    from dialtone.engine.policy.loader import load_policies

    loaded = load_policies()
    catalogue = load_catalogue()
    mapped = catalogue.coverage(loaded.policies)
    literal = [f"{fw.id}/{r.id}: {sorted(set(r.figures) - {'unit'})}"
               for fw in catalogue.frameworks.values() for r in fw.requirements
               if mapped[fw.id, r.id] and set(r.figures) - {"unit"}]
    assert not literal, "requirements state a threshold of their own: " + "; ".join(literal)
    resolved = catalogue.resolve(loaded.policies)
    unfilled = [f"{fw.id}/{r.id}" for fw in resolved.frameworks.values() for r in fw.requirements
                if "{value}" in r.summary]
    assert not unfilled, f"{{value}} left in: {unfilled}"
    # Every parameter that names an obligation runs with the obligation's figure.
    obligations = load_obligations()
    for policy in loaded.policies:
        for p in policy.params:
            if p.obligation:
                assert p.default == obligations.get(p.obligation).value, (policy.id, p.name)
