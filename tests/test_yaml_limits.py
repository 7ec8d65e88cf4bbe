"""YAML limits (engine/yamlio.py): keys given twice, nesting, aliases, file size — each a
positioned error, in policies, policy tests, exception files and dialtone.yaml; a broken
policy file is one error outcome and the other policies still run."""

from __future__ import annotations

import textwrap

import pytest

from dialtone.engine import yamlio
from dialtone.engine.collect import collect
from dialtone.engine.errors import PolicyError
from dialtone.engine.evaluation import evaluate
from dialtone.engine.policy.exceptions_file import load_exceptions
from dialtone.engine.policy.loader import load_policies, parse_policy
from dialtone.engine.policy_tests import run_policy_tests
from dialtone.engine.yamlio import MAX_ALIAS_NODES, MAX_BYTES, MAX_DEPTH, load_yaml

from .conftest import AS_OF

HEAD = "id: hostile.{name}\ntitle: hostile {name}\ncategory: cost\nseverity: low\nresource: lines\n"


def hostile(name: str, body: str) -> str:
    return HEAD.format(name=name) + body


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def bomb(key: str = "tags") -> str:
    """The review's 'billion laughs' (P-12): nine levels of nine aliases, 9^9 items."""
    lines = ["where: status = 'active'", "x-anchors:", "  l0: &a0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
    lines += [f"  l{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    return hostile("bomb", "\n".join(lines) + f"\n{key}\n")


def problem(exc: pytest.ExceptionInfo) -> str:
    (only,) = exc.value.problems
    return str(only)


def test_a_key_given_twice_names_both_lines_instead_of_the_last_one_winning():
    # P-13: a reviewer reads the first `where`, the engine would have run the second.
    text = hostile("dup", "where: status = 'retired'\ndescription: looks harmless\n"
                          "where: status = 'active'\n")
    with pytest.raises(PolicyError) as exc:
        parse_policy(text, "pol/dup.yaml")
    assert problem(exc) == "pol/dup.yaml:8:1: 'where' is given twice: line 6 and line 8"


def test_keys_given_twice_are_found_at_any_depth_but_a_merge_may_override():
    with pytest.raises(PolicyError) as exc:
        load_yaml("params:\n  days:\n    default: 1\n    default: 2\n", "p.yaml")
    assert problem(exc) == "p.yaml:4:5: 'default' is given twice: line 3 and line 4"
    merged = load_yaml("base: &b {kind: mobile, status: active}\nrow:\n  <<: *b\n  status: retired\n")
    assert merged.data["row"] == {"kind": "mobile", "status": "retired"}


def test_nesting_deeper_than_the_limit_is_a_positioned_error_not_a_recursion_error():
    # P-11: 1,500 levels used to end in a RecursionError traceback.
    with pytest.raises(PolicyError) as exc:
        parse_policy(hostile("deep", f"where: status = 'active'\ntags: {deep(1500)}\n"), "deep.yaml")
    assert problem(exc) == f"deep.yaml:7:{6 + MAX_DEPTH}: nested deeper than {MAX_DEPTH} levels"
    block = "".join("  " * i + "a:\n" for i in range(300)) + "  " * 300 + "b\n"
    with pytest.raises(PolicyError, match=f"block.yaml:{MAX_DEPTH + 1}:.*nested deeper than"):
        load_yaml(block, "block.yaml")
    # The limit itself is fine: the root mapping and MAX_DEPTH - 1 lists.
    assert load_yaml(f"x: {deep(MAX_DEPTH - 1)}\n").data["x"] is not None


@pytest.mark.parametrize("key", ["tags: *a8", "params: {p: {default: *a8}}"])
def test_an_anchors_bomb_is_refused_at_the_alias_that_crosses_the_budget(key):
    with pytest.raises(PolicyError) as exc:
        parse_policy(bomb(key), "bomb.yaml")
    # l4's first alias: those of l1..l3 expand to 90 + 819 + 7,380 nodes, *a3 to 7,381 more.
    assert problem(exc) == (f"bomb.yaml:12:12: aliases expand to more than {MAX_ALIAS_NODES:,} nodes; "
                            "write the values out instead of nesting aliases")


def test_an_alias_inside_its_own_anchor_is_refused():
    with pytest.raises(PolicyError) as exc:
        load_yaml("tags: &a [x, *a]\n", "loop.yaml")
    assert problem(exc) == "loop.yaml:1:14: an alias refers to a collection that contains it"


def test_aliases_within_the_budget_still_work():
    doc = load_yaml(textwrap.dedent("""\
        row: &row {kind: mobile, status: active, activated_on: 2024-01-10}
        lines: [*row, *row, *row]
        """))
    assert doc.data["lines"] == [{"kind": "mobile", "status": "active", "activated_on": "2024-01-10"}] * 3


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path, monkeypatch):
    # P-14: a 100 MB policy took 109 s and 978 MB to be accepted; one byte over the limit is
    # refused without the parser ever seeing it.
    big = tmp_path / "big.yaml"
    filler = MAX_BYTES - len(hostile("big", "where: status = 'active'\ndescription: \"\"\n")) + 1
    big.write_text(hostile("big", f"where: status = 'active'\ndescription: \"{'A' * filler}\"\n"))
    assert big.stat().st_size == MAX_BYTES + 1

    def no_parsing(*_a, **_k):
        raise AssertionError("the oversized file was parsed")

    monkeypatch.setattr(yamlio, "_Loader", no_parsing)
    loaded = load_policies([tmp_path])
    ((file, err),) = loaded.failures
    assert file == "big.yaml"
    assert str(err) == ("big.yaml:1:1: the file is too large: a YAML file may hold at most "
                        f"{MAX_BYTES:,} bytes")
    with pytest.raises(PolicyError, match="too large"):
        load_yaml("x" * (MAX_BYTES + 1))


def test_a_file_at_the_size_limit_is_read(tmp_path):
    ok = tmp_path / "ok.yaml"
    filler = MAX_BYTES - len(hostile("big", "where: status = 'active'\ndescription: \"\"\n"))
    ok.write_text(hostile("big", f"where: status = 'active'\ndescription: \"{'A' * filler}\"\n"))
    assert ok.stat().st_size == MAX_BYTES
    loaded = load_policies([tmp_path])
    assert not loaded.failures and [p.id for p in loaded.policies] == ["hostile.big"]


@pytest.fixture
def broken_folder(tmp_path):
    folder = tmp_path / "pol"
    folder.mkdir()
    (folder / "ok.yaml").write_text(hostile("ok", "where: status = 'active'\n"))
    (folder / "deep.yaml").write_text(hostile("deep", f"where: status = 'active'\ntags: {deep(1500)}\n"))
    (folder / "bomb.yaml").write_text(bomb("tags: *a8"))
    (folder / "dup.yaml").write_text(hostile("dup", "where: a = 1\nwhere: b = 2\n"))
    (folder / "big.yaml").write_bytes(b"id: x\n" + b"#" * MAX_BYTES)
    (folder / "dir.yaml").mkdir()            # unreadable as a file
    (folder / "latin1.yaml").write_bytes(b"id: caf\xe9\n")
    return folder


def test_broken_files_are_failures_and_the_other_policies_load(broken_folder):
    loaded = load_policies([broken_folder])
    assert [p.id for p in loaded.policies] == ["hostile.ok"]
    failed = {file: str(err) for file, err in loaded.failures}
    assert sorted(failed) == ["big.yaml", "bomb.yaml", "deep.yaml", "dir.yaml", "dup.yaml", "latin1.yaml"]
    assert "nested deeper than" in failed["deep.yaml"]
    assert "aliases expand" in failed["bomb.yaml"]
    assert "'where' is given twice: line 6 and line 7" in failed["dup.yaml"]
    assert "too large" in failed["big.yaml"]
    assert "cannot read policy file" in failed["dir.yaml"]
    assert "cannot read policy file" in failed["latin1.yaml"]


def test_a_broken_policy_file_is_one_error_outcome_and_the_others_still_run(broken_folder, config):
    snapshot = collect(config, as_of=AS_OF).snapshot
    result = evaluate(snapshot, load_policies([broken_folder]))
    statuses = {o.policy_id: o.status for o in result.outcomes}
    assert statuses.pop("hostile.ok") == "alarm"
    assert statuses == {f"invalid:{f}": "error" for f in
                        ("big.yaml", "bomb.yaml", "deep.yaml", "dir.yaml", "dup.yaml", "latin1.yaml")}


def test_a_policy_test_file_with_a_key_given_twice_is_an_error(tmp_path):
    (tmp_path / "ok.yaml").write_text(hostile("ok", "where: status = 'active'\n"))
    (tmp_path / "ok.test.yaml").write_text(
        "estate:\n  lines: []\ncases:\n  - name: a\n    status: ok\n    status: alarm\n")
    report = run_policy_tests(load_policies([tmp_path]))
    assert report.errors == ["ok.test.yaml:6:5: 'status' is given twice: line 5 and line 6"]


def test_an_exception_file_nested_too_deep_is_a_problem(tmp_path):
    (tmp_path / "deep.yaml").write_text(f"exceptions: {deep(200)}\n")
    (tmp_path / "latin1.yaml").write_bytes(b"exceptions: [caf\xe9]\n")
    specs, problems = load_exceptions(tmp_path, {}, {})
    assert specs == []
    assert [str(p).split(": ")[0] for p in problems] == [f"deep.yaml:1:{13 + MAX_DEPTH - 1}", "latin1.yaml"]
    assert "cannot read" in str(problems[1])


@pytest.mark.parametrize(("body", "message"), [
    (f"x: {deep(3000)}\n", f"dialtone.yaml:3:{3 + MAX_DEPTH}: nested deeper than {MAX_DEPTH} levels"),
    ("sources:\n  other: {collector: csv, path: /nonexistent}\n",
     "dialtone.yaml:3:1: 'sources' is given twice: line 1 and line 3"),
])
def test_a_configuration_too_deep_or_with_a_key_given_twice_exits_2(runner, cli, tmp_path, body, message):
    # P-15: a RecursionError traceback, or the second `sources:` silently replacing the first.
    cfg = tmp_path / "dialtone.yaml"
    cfg.write_text("sources:\n  estate: {collector: csv, path: ./estate}\n" + body)
    result = runner.invoke(cli, ["--config", str(cfg), "snapshots", "list"])
    assert result.exit_code == 2
    assert result.output == f"error: {tmp_path}/{message}\n"
