"""The estate model: JSON Schema files, relations, and the generated reference."""

from __future__ import annotations

from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from dialtone.engine.estate.model import load_model
from dialtone.engine.estate.reference import model_reference

MODEL = load_model()
ROOT = Path(__file__).parents[1]


@pytest.mark.parametrize("name", sorted(MODEL.entities))
def test_every_entity_schema_is_valid_2020_12(name):
    schema = MODEL.entity(name).schema
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    assert set(schema["x-key"]) <= set(schema["properties"])
    assert schema["x-key"][0] in schema["required"]
    # Rows grouped into one resource (disputes: a row per charge) are grouped by one of its fields.
    assert schema.get("x-grouped-by", schema["x-key"][0]) in schema["properties"]


def test_the_entities_of_the_design_are_all_there():
    assert set(MODEL.entities) == {
        "people", "contracts", "rates", "accounts", "invoices", "charges", "disputes", "lines",
        "usage", "calls", "devices", "device_apps", "subscriptions", "licenses", "channels", "legal_holds",
        "retention_policies", "recordings", "e911_locations"}


def test_relations_point_at_entities_keyed_by_id():
    for entity in MODEL.entities.values():
        for rel in entity.relations.values():
            assert MODEL.entity(rel.entity).key == ("id",), (entity.name, rel)
    assert MODEL.entity("lines").relations["owner"].entity == "people"
    assert MODEL.entity("charges").relations["invoice"].field == "invoice_id"


def test_a_row_valid_by_json_schema_has_the_declared_types():
    validator = Draft202012Validator(MODEL.entity("lines").schema,
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert not list(validator.iter_errors({"id": "L1", "kind": "mobile", "status": "active",
                                           "activated_on": "2024-01-10"}))
    bad = {e.validator for e in validator.iter_errors(
        {"id": "L1", "kind": "pager", "status": "active", "activated_on": "yesterday"})}
    assert bad == {"enum", "format"}


def test_docs_estate_md_is_generated_from_the_schemas():
    on_disk = (ROOT / "docs" / "estate.md").read_text(encoding="utf-8")
    assert on_disk == model_reference(MODEL), "docs/estate.md is stale: run `make docs`"
