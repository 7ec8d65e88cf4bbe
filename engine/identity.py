"""Identity resolution: references to people, lines and devices, made by other keys, → ids.

Sources name the same person differently: the HR export by employee number, the
directory by sign-in name, Zoom by e-mail address; a device by IMEI, a line by
its number. When a snapshot is built, each reference field whose relation points
at a resolvable entity (``people``, ``lines``, ``devices``) is checked against
that entity's ``id``; a value that is not an id is looked up, case-insensitively,
among the entity's identity keys (the configuration's ``identity:`` section);
IMEIs are compared by their digits only, and phone numbers by their E.164 form
(engine/phone.py): the collectors put the numbers they read in E.164 with their
source's default region, and a reference still written otherwise (``+1 312 555 0100``,
``0034688886392``, ``sip:+34688886392@pbx``) is parsed here once per distinct value.
One match: the value becomes that id. Several: the reference is *ambiguous*;
none: *unresolved*. Either way the value is kept as it was and reported — per
source in the manifest and row by row in the snapshot's ``unresolved.csv`` —
so nothing is dropped silently.

Everything is set-based: DuckDB finds the distinct values that are not ids and
matches them (only the distinct references not already in E.164 form go through
the phone number library); Arrow's ``index_in`` rewrites the column.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .phone import E164, e164
from .snapshots import SNAPSHOT_COMPRESSION, SOURCE_COLUMN, iter_parquet
from .sqltext import ident, literal

#: Columns of the snapshot's unresolved.csv.
REPORT_SCHEMA = pa.schema([
    ("source", pa.string()), ("entity", pa.string()), ("field", pa.string()),
    ("value", pa.string()), ("status", pa.string()), ("rows", pa.int64()),
    ("candidates", pa.string()),
])
#: Rows per piece when a large entity's file is rewritten.
REWRITE_ROWS = 262_144


@dataclass
class IdentityReport:
    #: One row per (source, entity, field, value) that is unresolved or ambiguous.
    report: pa.Table = field(default_factory=REPORT_SCHEMA.empty_table)
    #: Per source: {"resolved": rows, "unresolved": rows, "ambiguous": rows,
    #: "fields": {"entity.field": {...the same three...}}}.
    by_source: dict[str, dict] = field(default_factory=dict)

    def count(self, source: str, ref: str, status: str, rows: int) -> None:
        entry = self.by_source.setdefault(
            source, {"resolved": 0, "unresolved": 0, "ambiguous": 0, "fields": {}})
        entry[status] += rows
        per_field = entry["fields"].setdefault(ref, {"resolved": 0, "unresolved": 0, "ambiguous": 0})
        per_field[status] += rows


def _relation(con: duckdb.DuckDBPyConnection, value: pa.Table | Path, name: str) -> str:
    """A SQL name for an entity's rows, whether in memory or a Parquet file."""
    if isinstance(value, Path):
        return f"read_parquet('{str(value).replace(chr(39), chr(39) * 2)}')"
    con.register(name, value)
    return ident(name)


def resolve_references(con: duckdb.DuckDBPyConnection, final: dict[str, pa.Table | Path], model,
                       keys: dict[str, tuple[str, ...]], work: Path) -> IdentityReport:
    """Resolve reference fields in ``final`` (entity → table or Parquet file) in place."""
    out = IdentityReport()
    report_parts: list[pa.Table] = []
    registered: list[str] = []
    try:
        for entity_name in sorted(final):
            entity = model.entity(entity_name)
            for fld in entity.fields:
                target = fld.relation.entity if fld.relation else None
                if target not in keys or target not in final or fld.type != "string":
                    continue
                alias_table = f"__aliases_{target}"
                if alias_table not in registered:
                    _aliases(con, final[target], target, keys[target], alias_table)
                    registered.append(alias_table)
                rows_name = f"__rows_{entity_name}"
                rows = _relation(con, final[entity_name], rows_name)
                if rows_name not in registered and not isinstance(final[entity_name], Path):
                    registered.append(rows_name)
                mapping = _resolve_field(con, rows, entity_name, fld.name, target, alias_table,
                                         out, report_parts, keys[target])
                if mapping is not None:
                    final[entity_name] = _rewrite(final[entity_name], fld.name, mapping, work)
                    if not isinstance(final[entity_name], Path):
                        con.register(rows_name, final[entity_name])
    finally:
        for name in registered:
            if name.startswith("__rows_"):
                con.unregister(name)
            else:
                con.execute(f"DROP TABLE IF EXISTS {ident(name)}")
    if report_parts:
        out.report = pa.concat_tables(report_parts).sort_by(
            [("source", "ascending"), ("entity", "ascending"), ("field", "ascending"),
             ("value", "ascending")])
    return out


#: Keys compared by their digits only: an IMEI with or without spaces is the same device.
DIGIT_KEYS = frozenset({"imei"})
#: Keys that are phone numbers, compared by their E.164 form: +1 312 555 0100, (312) 555-0100
#: read in the US and 13125550100 are the same line once their collector has put them in E.164.
NUMBER_KEYS = frozenset({"number"})
_DIGITS = re.compile(r"[1-9][0-9]{7,14}")
#: Fewer digits than this is no IMEI (a short extension or a name with a digit in it).
MIN_DIGITS = 7


def _alias(expr: str, kind: str = "text") -> str:
    """The comparable form of a key or a reference: lower-cased text, '#' and its digits, or
    'tel:' and its E.164 number (the prefixes keep the three kinds of alias apart)."""
    text = f"CAST({expr} AS VARCHAR)"
    if kind == "number":
        return f"'tel:' || trim({text})"
    if kind == "text":
        return f"lower(trim({text}))"
    only = f"regexp_replace({text}, '[^0-9]', '', 'g')"
    return f"CASE WHEN length({only}) >= {MIN_DIGITS} THEN '#' || {only} END"


def _kind(key_field: str) -> str:
    return "digits" if key_field in DIGIT_KEYS else "number" if key_field in NUMBER_KEYS else "text"


def _aliases(con, target_rows: pa.Table | Path, target: str, key_fields: tuple[str, ...],
             name: str) -> None:
    """Table ``name``: (alias, id) for the target's ids and identity keys, lower-cased."""
    rows = _relation(con, target_rows, f"__target_{target}")
    try:
        selects = [f"SELECT {_alias(ident(k), _kind(k))} AS alias, id FROM {rows} "
                   f"WHERE {ident(k)} IS NOT NULL" for k in ("id", *key_fields)]
        con.execute(f"CREATE OR REPLACE TEMP TABLE {ident(name)} AS SELECT DISTINCT alias, id FROM ("
                    + " UNION ALL ".join(selects) + ")")
        con.execute(f"CREATE OR REPLACE TEMP TABLE {ident(name + '_ids')} AS "
                    f"SELECT DISTINCT id FROM {rows}")
    finally:
        if not isinstance(target_rows, Path):
            con.unregister(f"__target_{target}")


def _number_forms(con, rows: str, col: str, ids_table: str) -> None:
    """Table ``__numbers`` (value, e164): the distinct references not in strict E.164 form that
    are phone numbers written otherwise, parsed once each. There is no region here: a
    reference in a national form was put in E.164 by its collector, which knows the source's
    region. Digits alone are read as an international number without its '+'
    (``13125550100``, ``34688886392``), as CDRs often write them; the reading only ever
    matches a number that is a line of the estate."""
    others = con.sql(
        f"SELECT DISTINCT {col} AS value FROM {rows} WHERE {col} IS NOT NULL AND "
        f"NOT regexp_full_match(trim({col}), '{E164[1:-1]}') AND {col} NOT IN "
        f"(SELECT id FROM {ident(ids_table)})").to_arrow_table().column(0).to_pylist()
    forms = [e164(v, None) or (e164("+" + v.strip(), None) if _DIGITS.fullmatch(v.strip()) else None)
             for v in others]
    con.register("__numbers", pa.table({"value": pa.array(others, pa.string()),
                                        "e164": pa.array(forms, pa.string())}))


def _resolve_field(con, rows: str, entity: str, fld: str, target: str, alias_table: str,
                   out: IdentityReport, report_parts: list[pa.Table],
                   key_fields: tuple[str, ...] = ()) -> pa.Table | None:
    """Classify the values of ``entity.fld`` that are not ids of ``target``; return the
    (value, id) mapping of those that resolve, or None when there are none."""
    col = ident(fld)
    kinds = {_kind(k) for k in key_fields}
    # One equi-join per kind of alias, not one join ON ... OR ...: an OR cannot be hashed.
    joins = [f"SELECT DISTINCT r.value, a.id FROM (SELECT DISTINCT value FROM refs) r "
             f"JOIN {ident(alias_table)} a ON a.alias = {_alias('r.value', 'text')}"]
    if "digits" in kinds:
        joins.append(f"SELECT DISTINCT r.value, a.id FROM (SELECT DISTINCT value FROM refs) r "
                     f"JOIN {ident(alias_table)} a ON a.alias = {_alias('r.value', 'digits')}")
    if "number" in kinds:
        _number_forms(con, rows, col, alias_table + "_ids")
        joins.append(f"SELECT DISTINCT r.value, a.id FROM (SELECT DISTINCT value FROM refs) r "
                     f"LEFT JOIN __numbers n USING (value) JOIN {ident(alias_table)} a "
                     f"ON a.alias = {_alias('coalesce(n.e164, r.value)', 'number')}")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE __classified AS "
        f"WITH refs AS (SELECT {SOURCE_COLUMN} AS source, {col} AS value, count(*) AS n "
        f"FROM {rows} WHERE {col} IS NOT NULL AND {col} NOT IN "
        f"(SELECT id FROM {ident(alias_table + '_ids')}) GROUP BY ALL), "
        f"hits AS ({' UNION '.join(joins)}), "
        f"matched AS (SELECT r.source, r.value, r.n, list(DISTINCT h.id ORDER BY h.id) "
        f"FILTER (WHERE h.id IS NOT NULL) AS candidates FROM refs r "
        f"LEFT JOIN hits h USING (value) GROUP BY ALL) "
        f"SELECT *, CASE coalesce(len(candidates), 0) WHEN 0 THEN 'unresolved' WHEN 1 THEN "
        f"'resolved' ELSE 'ambiguous' END AS status FROM matched")
    try:
        counts = con.sql("SELECT coalesce(source, '') AS source, status, sum(n)::BIGINT AS n "
                         "FROM __classified GROUP BY ALL ORDER BY ALL").fetchall()
        if not counts:
            return None
        ref = f"{entity}.{fld}"
        for source, status, n in counts:
            out.count(source, ref, status, n)
        report = con.sql(
            f"SELECT coalesce(source, '') AS source, {literal(entity)} AS entity, {literal(fld)} AS field, "
            f"value, status, n AS rows, array_to_string(coalesce(candidates, []), ';') AS candidates "
            f"FROM __classified WHERE status <> 'resolved'").to_arrow_table()
        if report.num_rows:
            report_parts.append(report.cast(REPORT_SCHEMA))
        mapping = con.sql("SELECT DISTINCT value, candidates[1] AS id FROM __classified "
                          "WHERE status = 'resolved'").to_arrow_table()
    finally:
        con.execute("DROP TABLE IF EXISTS __classified")
        if "number" in kinds:
            con.unregister("__numbers")
    return mapping if mapping.num_rows else None


def _replace(table: pa.Table, fld: str, mapping: pa.Table) -> pa.Table:
    column = table.column(fld)
    index = pc.index_in(column, value_set=mapping.column("value"))
    resolved = pc.take(mapping.column("id"), index)
    return table.set_column(table.schema.get_field_index(fld), fld,
                            pc.coalesce(resolved, column))


def _rewrite(value: pa.Table | Path, fld: str, mapping: pa.Table, work: Path) -> pa.Table | Path:
    if isinstance(value, pa.Table):
        return _replace(value, fld, mapping)
    schema = pq.ParquetFile(value).schema_arrow
    out = work / f"{value.stem}.resolved-{uuid.uuid4().hex[:8]}.parquet"
    with pq.ParquetWriter(out, schema, compression=SNAPSHOT_COMPRESSION) as writer:
        for piece in iter_parquet(value, REWRITE_ROWS):
            writer.write_table(_replace(piece, fld, mapping))
    value.unlink()
    return out
