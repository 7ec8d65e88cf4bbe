"""The synthetic estate: deterministic, schema-exact, valid, consistent, with known violations."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from dialtone.engine.estate.model import load_model
from dialtone.engine.evaluation import evaluate
from dialtone.engine.policy.loader import load_policies
from dialtone.engine.snapshots import SnapshotStore
from dialtone.engine.synthetic import MIN_LINES, generate_estate

from .conftest import AS_OF

LINES = 300


@pytest.fixture(scope="module")
def estate():
    return generate_estate(LINES, seed=11)


def test_the_same_seed_gives_identical_tables_and_plants(estate):
    again = generate_estate(LINES, seed=11)
    assert list(again.tables) == list(estate.tables)
    for name, table in estate.tables.items():
        assert again.tables[name].equals(table), name
    assert again.planted == estate.planted


def test_another_seed_gives_another_estate(estate):
    other = generate_estate(LINES, seed=12)
    assert not other.tables["lines"].equals(estate.tables["lines"])
    assert not other.tables["people"].equals(estate.tables["people"])
    assert other.planted != estate.planted


def test_every_entity_is_present_with_exactly_the_model_schema(estate):
    model = load_model()
    assert list(estate.tables) == list(model.entities)
    for name, entity in model.entities.items():
        assert estate.tables[name].schema.equals(entity.arrow_schema), name
        assert estate.tables[name].num_rows > 0, name
    assert estate.as_of == AS_OF


def test_sizes_scale_with_the_number_of_lines(estate):
    rows = {name: t.num_rows for name, t in estate.tables.items()}
    assert rows["lines"] == LINES
    assert rows["usage"] == 12 * LINES
    assert rows["calls"] == 5 * LINES
    assert rows["people"] == round(0.8 * LINES)
    assert 0.85 * LINES <= rows["devices"] <= 1.05 * LINES


def test_every_value_satisfies_the_model(estate):
    """Required fields, enums, patterns and minimums, checked the way the collector does."""
    for name, entity in load_model().entities.items():
        table = estate.tables[name]
        for f in entity.fields:
            col = table.column(f.name)
            where = f"{name}.{f.name}"
            if f.required:
                assert col.null_count == 0, where
                if f.type == "string":
                    assert pc.min(pc.utf8_length(col)).as_py() >= 1, where
            values = col.drop_null()
            if not len(values):
                continue
            if f.enum:
                assert set(pc.unique(values).to_pylist()) <= set(f.enum), where
            if f.pattern:
                assert pc.all(pc.match_substring_regex(values, f.pattern)).as_py(), where
            if f.minimum is not None:
                assert pc.min(values).as_py() >= f.minimum, where
            if f.item_enum:
                assert set(pc.unique(pc.list_flatten(values)).to_pylist()) <= set(f.item_enum), where


def test_keys_are_unique(estate):
    for name, entity in load_model().entities.items():
        table = estate.tables[name]
        distinct = table.group_by(list(entity.key)).aggregate([]).num_rows
        assert distinct == table.num_rows, name


def test_relations_point_at_existing_rows_except_the_planted_orphans(estate):
    model = load_model()
    orphans = set(estate.planted["cost.orphan-lines"])
    dangling_lines = set()
    for name, entity in model.entities.items():
        table = estate.tables[name]
        for rel in entity.relations.values():
            targets = estate.tables[rel.entity].column("id")
            values = table.column(rel.field)
            missing = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=targets)))
            if name == "lines" and rel.field == "assigned_to":
                dangling_lines = set(table.filter(missing).column("id").to_pylist())
                continue
            assert not pc.any(missing).as_py(), f"{name}.{rel.field} → {rel.entity}"
    assert dangling_lines  # ghost assignees are one way a line is orphaned
    assert dangling_lines <= orphans


def test_every_policy_gets_at_least_three_planted_resources_that_exist(estate):
    entity_of = {"L-": "lines", "D-": "devices", "REC-": "recordings", "CHG-": "charges",
                 "LIC-": "licenses"}
    assert len(estate.planted) == 14
    for policy_id, ids in estate.planted.items():
        assert len(ids) >= 3, policy_id
        assert ids == sorted(set(ids)), policy_id
        entity = entity_of[ids[0].split("-")[0] + "-"]
        existing = set(estate.tables[entity].column("id").to_pylist())
        assert set(ids) <= existing, policy_id


def test_each_planted_line_breaks_one_rule_only(estate):
    line_policies = [p for p, ids in estate.planted.items() if ids[0].startswith("L-")]
    assert len(line_policies) == 6
    seen: dict[str, str] = {}
    for policy_id in line_policies:
        for line_id in estate.planted[policy_id]:
            assert line_id not in seen, (line_id, policy_id, seen.get(line_id))
            seen[line_id] = policy_id


def test_values_look_like_the_real_thing(estate):
    people = estate.tables["people"]
    emails = people.column("email").to_pylist()
    assert len(set(emails)) == len(emails)
    assert all(e.endswith("@example.com") and e.isascii() for e in emails)
    assert set(people.column("country").to_pylist()) == {"US", "GB", "DE", "FR", "IE"}
    traders = people.filter(pc.equal(people.column("department"), "Trading"))
    assert traders.column("regulatory_scopes").null_count == 0
    numbers = estate.tables["lines"].column("number").drop_null().to_pylist()
    assert len(set(numbers)) == len(numbers)
    for imei in estate.tables["devices"].column("imei").drop_null().to_pylist():
        digits = [int(d) for d in imei]
        total = sum(d if i % 2 == 0 else (2 * d) // 10 + (2 * d) % 10
                    for i, d in enumerate(reversed(digits)))
        assert len(imei) == 15 and total % 10 == 0, imei
    periods = estate.tables["usage"].column("period").unique().to_pylist()
    assert sorted(periods) == [f"2025-{m:02d}" for m in range(7, 13)] + [
        f"2026-{m:02d}" for m in range(1, 7)]
    charges = estate.tables["charges"]
    assert {"recurring", "usage", "tax", "surcharge", "late_fee"} <= set(
        charges.column("charge_type").unique().to_pylist())


def test_too_few_lines_is_refused():
    with pytest.raises(ValueError, match=f"at least {MIN_LINES} lines"):
        generate_estate(MIN_LINES - 1)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_built_in_policies_find_exactly_what_was_planted(tmp_path, seed):
    estate = generate_estate(MIN_LINES, seed=seed)
    snapshot = SnapshotStore(tmp_path).write(estate.tables, as_of=estate.as_of, sources={})
    loaded = load_policies()
    result = evaluate(snapshot, loaded)
    by_id = {o.policy_id: o for o in result.outcomes}
    checked = 0
    for policy_id, planted in estate.planted.items():
        if policy_id not in by_id:
            continue  # a policy not shipped (yet) has nothing to find
        outcome = by_id[policy_id]
        assert outcome.status == "alarm", (policy_id, outcome.error)
        found = sorted(f["resource_id"] for f in outcome.findings)
        assert set(planted) <= set(found), policy_id
        assert found == planted, policy_id
        checked += 1
    assert checked >= 1


def test_tables_are_plain_arrow_tables_without_extra_columns(estate):
    for table in estate.tables.values():
        assert isinstance(table, pa.Table)
        assert "_source" not in table.column_names
