"""The compiled-policy cache: the same SQL as a fresh compile, never a stale or damaged entry."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from dialtone.engine.collect import collect
from dialtone.engine.compiler import cache as cache_module
from dialtone.engine.compiler import compile_policy
from dialtone.engine.compiler.cache import CompileCache, CompiledQuery, compile_key
from dialtone.engine.errors import PolicyError
from dialtone.engine.estate.model import load_model
from dialtone.engine.evaluation import evaluate
from dialtone.engine.policy.loader import LoadedPolicies, load_policies, parse_policy

from .conftest import AS_OF, policy_text

IDLE = policy_text("status = 'active' AND monthly_cost > :floor",
                   extra="params: {floor: {default: 10}}\nevidence: [number, owner.name]\n")


def _one(text: str) -> LoadedPolicies:
    return LoadedPolicies((parse_policy(text, "p.yaml"),), (), "test")


def test_every_builtin_policy_reads_back_from_the_folder_as_it_compiles(tmp_path: Path):
    model = load_model()
    policies = load_policies().policies
    writer = CompileCache(tmp_path)
    for policy in policies:
        writer.compile(policy, model)
    assert len(list(tmp_path.glob("*.json"))) == len(policies)
    reader = CompileCache(tmp_path)  # a later process: nothing in memory, everything on disk
    for policy in policies:
        fresh = CompiledQuery.of(compile_policy(policy, model), ("duckdb",))
        assert reader.compile(policy, model) == fresh, policy.id
    assert (reader.hits, reader.misses) == (len(policies), 0)


def test_a_cached_evaluation_gives_the_same_result_and_records_the_same_sql(config, tmp_path):
    snapshot = collect(config, as_of=AS_OF).snapshot
    policies = _one(IDLE)
    first = evaluate(snapshot, policies, compile_cache=tmp_path / "cache")
    cache_module._folders.clear()  # the next evaluation reads the folder, as a new process would
    second = evaluate(snapshot, policies, compile_cache=tmp_path / "cache")
    assert cache_module.cache_for(tmp_path / "cache").hits == 1
    assert first.to_json() == second.to_json()
    assert first.outcomes[0].finding_count > 0
    assert second.outcomes[0].sql == compile_policy(policies.policies[0]).sql["duckdb"]


def test_an_edited_policy_is_compiled_again_never_read_stale(tmp_path: Path):
    model = load_model()
    cache = CompileCache(tmp_path)
    before = parse_policy(IDLE, "p.yaml")
    after = parse_policy(IDLE.replace("monthly_cost > :floor", "monthly_cost >= :floor"), "p.yaml")
    assert ">=" not in cache.compile(before, model).sql["duckdb"]
    edited = cache.compile(after, model)
    assert ">=" in edited.sql["duckdb"]
    assert cache.misses == 2
    # Only what the compiler reads is in the key: a new title is the same compiled policy.
    retitled = dataclasses.replace(before, title="Another title")
    assert compile_key(retitled, model, ("duckdb",)) == compile_key(before, model, ("duckdb",))
    assert compile_key(before, model, ("duckdb", "spark")) != compile_key(before, model, ("duckdb",))


def test_a_new_compiler_starts_from_an_empty_cache(tmp_path: Path, monkeypatch):
    model = load_model()
    policy = parse_policy(IDLE, "p.yaml")
    CompileCache(tmp_path).compile(policy, model)
    monkeypatch.setattr(cache_module, "compiler_fingerprint", lambda: "another compiler")
    reader = CompileCache(tmp_path)
    reader.compile(policy, model)
    assert (reader.hits, reader.misses) == (0, 1)
    assert len(list(tmp_path.glob("*.json"))) == 2


@pytest.mark.parametrize("damage", [
    "not json at all",
    json.dumps({"key": "someone else's", "compiled": {}}),
    None,  # the right key, but the SQL is not text
])
def test_a_damaged_entry_is_compiled_again_and_rewritten(tmp_path: Path, damage):
    model = load_model()
    policy = parse_policy(IDLE, "p.yaml")
    CompileCache(tmp_path).compile(policy, model)
    (entry,) = tmp_path.glob("*.json")
    if damage is None:
        data = json.loads(entry.read_text())
        data["compiled"]["sql"] = {"duckdb": ["DROP TABLE lines"]}
        damage = json.dumps(data)
    entry.write_text(damage)
    reader = CompileCache(tmp_path)
    got = reader.compile(policy, model)
    assert got == CompiledQuery.of(compile_policy(policy, model), ("duckdb",))
    assert reader.misses == 1
    assert json.loads(entry.read_text())["key"] == entry.stem


def test_a_policy_that_does_not_compile_is_never_kept(tmp_path: Path):
    cache = CompileCache(tmp_path)
    broken = parse_policy(policy_text("no_such_column = 1"), "p.yaml")
    for _ in range(2):
        with pytest.raises(PolicyError, match="no_such_column"):
            cache.compile(broken, load_model())
    assert cache.misses == 2
    assert not list(tmp_path.glob("*.json"))


def test_a_folder_that_cannot_be_written_only_costs_a_compile(config, tmp_path):
    snapshot = collect(config, as_of=AS_OF).snapshot
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = evaluate(snapshot, _one(IDLE), compile_cache=blocker / "cache")
    assert result.outcomes[0].status == "alarm"


def test_the_folder_keeps_the_latest_entries_up_to_its_limit(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(cache_module, "DISK_ENTRIES", 3)
    model = load_model()
    cache = CompileCache(tmp_path)
    for floor in range(5):
        cache.compile(parse_policy(IDLE.replace(":floor", f":floor + {floor}"), "p.yaml"), model)
    assert len(list(tmp_path.glob("*.json"))) == 3


def test_a_spark_entry_keeps_both_texts_the_backend_runs(tmp_path: Path):
    from dialtone.engine.backends import backends

    dialects = backends.get("spark").dialects
    compiled = CompileCache(tmp_path).compile(parse_policy(IDLE, "p.yaml"), load_model(), dialects)
    assert set(compiled.sql) == {"duckdb", "spark"}
    reread = CompileCache(tmp_path).compile(parse_policy(IDLE, "p.yaml"), load_model(), dialects)
    assert reread == compiled


def test_dialtone_evaluate_keeps_compiled_policies_in_the_data_folder(runner, cli, workspace: Path):
    for args in (["collect", "--as-of", AS_OF.isoformat()],
                 ["evaluate", "--policy", "cost.zero-usage-lines"]):
        result = runner.invoke(cli, ["--config", str(workspace / "dialtone.yaml"), *args],
                               catch_exceptions=False)
        assert result.exit_code in (0, 1), result.output  # 1: findings at or above --fail-on
    folder = workspace / ".dialtone" / "cache" / "compiled"
    (entry,) = folder.glob("*.json")
    assert "FROM" in json.loads(entry.read_text())["compiled"]["sql"]["duckdb"]
