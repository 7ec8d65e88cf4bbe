"""The estate model: entities and fields, read from the JSON Schema files.

The schema files in ``schemas/`` are the single source of truth. Relations are
declared on a field as ``"x-relation": {"entity": ..., "name": ...}``; the name
is what a policy condition writes before the dot (``owner.status``). An entity
whose rows are parts of one resource names the field that groups them,
``"x-grouped-by"`` (disputes: a row per disputed charge, grouped by ``reference``).
"""

from __future__ import annotations

import json
import typing as t
from dataclasses import dataclass
from functools import cache
from importlib import resources

import pyarrow as pa

from ..errors import DialtoneError, did_you_mean

#: Logical field type → (DuckDB/sqlglot type, Arrow type).
FIELD_TYPES: dict[str, tuple[str, pa.DataType]] = {
    "string": ("VARCHAR", pa.string()),
    "integer": ("BIGINT", pa.int64()),
    "number": ("DOUBLE", pa.float64()),
    "boolean": ("BOOLEAN", pa.bool_()),
    "date": ("DATE", pa.date32()),
    "datetime": ("TIMESTAMP", pa.timestamp("us")),
    "list": ("VARCHAR[]", pa.list_(pa.string())),
}


@dataclass(frozen=True)
class Relation:
    name: str
    field: str
    entity: str


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    description: str
    required: bool = False
    enum: tuple[str, ...] = ()
    pattern: str | None = None
    minimum: float | None = None
    item_enum: tuple[str, ...] = ()
    format: str | None = None
    relation: Relation | None = None

    @property
    def sql_type(self) -> str:
        return FIELD_TYPES[self.type][0]

    @property
    def arrow_type(self) -> pa.DataType:
        return FIELD_TYPES[self.type][1]


@dataclass(frozen=True)
class Entity:
    name: str
    description: str
    key: tuple[str, ...]
    fields: tuple[Field, ...]
    schema: dict
    #: The field whose rows of one value are one resource (``x-grouped-by``): what a policy on the
    #: entity judges and finds (one finding per dispute, not per disputed charge). A row with no
    #: value is a resource of its own. None: each row (one per key) is a resource.
    grouped_by: str | None = None

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise DialtoneError(
            f"Entity '{self.name}' has no field '{name}'.{did_you_mean(name, self.field_names)}"
        )

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def relations(self) -> dict[str, Relation]:
        return {f.relation.name: f.relation for f in self.fields if f.relation}

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(f.name, f.arrow_type) for f in self.fields])

    def count_sql(self, quote: t.Callable[[str], str]) -> str:
        """SQL counting the entity's resources in its table (named as the entity), identifiers
        quoted by ``quote`` for the backend's dialect: its rows, one per key (``count(*)``, read
        from the files' metadata, however large the table); where rows are grouped
        (``grouped_by``), the distinct values plus the rows without one, in one pass."""
        table = quote(self.name)
        if self.grouped_by is None:
            return f"SELECT count(*) FROM {table}"
        by = quote(self.grouped_by)
        return f"SELECT count(DISTINCT {by}) + count(*) - count({by}) FROM {table}"

    @property
    def resource_id_sql(self) -> str:
        """How a resource of this entity is named in findings: its key, joined by '/'."""
        return " || '/' || ".join(f'"{k}"' for k in self.key)


def _field_type(spec: dict) -> str:
    types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    base = next(t for t in types if t != "null")
    if base == "string" and spec.get("format") == "date":
        return "date"
    if base == "string" and spec.get("format") == "date-time":
        return "datetime"
    return {"array": "list"}.get(base, base)


def _entity_from_schema(schema: dict) -> Entity:
    required = set(schema.get("required", []))
    fields = []
    for name, spec in schema["properties"].items():
        rel = spec.get("x-relation")
        fields.append(
            Field(
                name=name,
                type=_field_type(spec),
                description=spec.get("description", ""),
                required=name in required,
                enum=tuple(v for v in spec.get("enum", []) if v is not None),
                pattern=spec.get("pattern"),
                minimum=spec.get("minimum"),
                item_enum=tuple(spec.get("items", {}).get("enum", [])),
                format=spec.get("format"),
                relation=Relation(rel["name"], name, rel["entity"]) if rel else None,
            )
        )
    return Entity(
        name=schema["title"],
        description=schema.get("description", ""),
        key=tuple(schema["x-key"]),
        fields=tuple(fields),
        schema=schema,
        grouped_by=schema.get("x-grouped-by"),
    )


@dataclass(frozen=True)
class EstateModel:
    entities: dict[str, Entity]

    def entity(self, name: str) -> Entity:
        try:
            return self.entities[name]
        except KeyError:
            raise DialtoneError(
                f"Unknown entity '{name}'.{did_you_mean(name, self.entities)}"
                f" Known: {', '.join(sorted(self.entities))}."
            ) from None

    def sql_schema(self) -> dict[str, dict[str, str]]:
        """``{table: {column: type}}`` for sqlglot's MappingSchema."""
        return {
            e.name: {f.name: f.sql_type for f in e.fields} for e in self.entities.values()
        }


@cache
def load_model() -> EstateModel:
    """The estate model shipped with the engine."""
    folder = resources.files(__package__) / "schemas"
    entities = {}
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".json"):
            schema = json.loads(item.read_text(encoding="utf-8"))
            entity = _entity_from_schema(schema)
            entities[entity.name] = entity
    return EstateModel(entities)
