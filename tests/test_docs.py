"""Docs that cannot drift: generated references are fresh and examples really work."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dialtone.engine.collector_api import check_settings, collectors
from dialtone.engine.compiler import compile_policy
from dialtone.engine.config import load_config
from dialtone.engine.policy.loader import parse_policy
from dialtone.engine.yamlio import safe_load

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"


def yaml_blocks(path: Path) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


def test_cli_reference_is_generated_from_the_commands():
    from dialtone.web.cli.reference import reference

    assert (DOCS / "cli.md").read_text(encoding="utf-8") == reference(), \
        "docs/cli.md is stale: run `make docs`"


POLICY_EXAMPLES = [b for b in yaml_blocks(DOCS / "policies.md") if b.startswith("id:") and "resource:" in b]


@pytest.mark.parametrize("block", POLICY_EXAMPLES)
def test_policy_examples_in_the_docs_compile(block):
    compile_policy(parse_policy(block, "docs/policies.md"))


QUERY_EXAMPLES = [b for b in yaml_blocks(DOCS / "policies.md") if b.startswith("query:")]


@pytest.mark.parametrize("query", QUERY_EXAMPLES)
def test_the_query_examples_compile_as_policies(query):
    head = "id: docs.example\ntitle: Example\ncategory: cost\nseverity: low\nresource: lines\n"
    compile_policy(parse_policy(head + query, "docs/policies.md"))


#: Every page with configuration examples; each collector's page is found, not listed.
CONFIG_DOCS = ["configuration.md", "collectors.md", "scale-out.md",
               *sorted(f"collectors/{p.name}" for p in (DOCS / "collectors").glob("*.md"))]


def test_every_collector_has_a_documented_example():
    documented = {p.stem for p in (DOCS / "collectors").glob("*.md")} | {"csv"}
    assert set(collectors.names()) <= documented
    for name in documented - {"csv"}:
        assert any(f"collector: {name}" in b for b in yaml_blocks(DOCS / "collectors" / f"{name}.md"))


@pytest.mark.parametrize("block", [b for d in CONFIG_DOCS for b in yaml_blocks(DOCS / d)
                                   if d != "scale-out.md" or "engine:" in b]
                         + [b for b in yaml_blocks(ROOT / "README.md") if "sources:" in b])
def test_configuration_examples_are_valid(tmp_path, block):
    cfg = tmp_path / "dialtone.yaml"
    cfg.write_text(block, encoding="utf-8")
    config = load_config(cfg)
    for source in config.sources.values():
        check_settings(collectors.get(source.collector), source.name, source.settings)


def test_every_command_in_the_readme_exists():
    from dialtone.web.cli import cli

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for line in re.findall(r"^dialtone ([a-z]+(?: [a-z]+)?)", readme, re.M):
        words = line.split()
        command = cli
        for word in words:
            if not hasattr(command, "commands") or word not in command.commands:
                break
            command = command.commands[word]
        assert command is not cli, f"README mentions an unknown command: dialtone {line}"


def test_policy_test_file_example_in_the_docs_is_valid():
    from jsonschema import Draft202012Validator

    from dialtone.engine.policy_tests import TEST_SCHEMA

    (block,) = [b for b in yaml_blocks(DOCS / "policies.md") if b.startswith("snapshot_date")]
    Draft202012Validator(TEST_SCHEMA).validate(safe_load(block))


def test_the_framework_example_in_the_docs_loads(tmp_path):
    from dialtone.engine.frameworks import load_catalogue

    (block,) = [b for b in yaml_blocks(DOCS / "policies.md") if b.startswith("id: acme-records")]
    (tmp_path / "frameworks").mkdir()
    (tmp_path / "frameworks" / "acme-records.yaml").write_text(block, encoding="utf-8")
    fw = load_catalogue([tmp_path]).frameworks["acme-records"]
    assert [r.id for r in fw.requirements] == ["keep-five-years", "train-staff"]


def test_the_repository_exception_example_in_the_docs_is_valid(tmp_path):
    from dialtone.engine.config import DEFAULT_EXCEPTION_MAX_DAYS
    from dialtone.engine.policy.exceptions_file import load_exceptions
    from dialtone.engine.policy.loader import load_policies

    (block,) = [b for b in yaml_blocks(DOCS / "findings.md") if b.startswith("# exceptions/")]
    (tmp_path / "example.yaml").write_text(block, encoding="utf-8")
    specs, problems = load_exceptions(tmp_path, load_policies().by_id(), DEFAULT_EXCEPTION_MAX_DAYS)
    assert not problems and [s.key for s in specs] == ["repository:example.yaml#elevator-phones"]


def test_the_store_example_in_the_findings_doc_is_a_valid_configuration(tmp_path):
    (block,) = [b for b in yaml_blocks(DOCS / "findings.md") if b.startswith("store:")]
    cfg = tmp_path / "dialtone.yaml"
    cfg.write_text(block, encoding="utf-8")
    assert load_config(cfg).store.url.startswith("postgresql+psycopg://")
