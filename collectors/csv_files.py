"""The ``csv`` collector: canonical CSV/JSONL files, or one mapped export.

Two ways to use it.

A folder of canonical files, one per entity, named ``<entity>.csv`` or
``<entity>.jsonl``, with the estate model's field names as headers::

    sources:
      estate:
        collector: csv
        path: ./estate

One export file, with its own headers mapped to canonical fields::

    sources:
      carrier_lines:
        collector: csv
        path: ./exports/wireless_inventory.csv
        entity: lines
        columns:
          Wireless Number: number
          Line Status: status
          Device Type: kind
        delimiter: ";"
        encoding: latin-1
        date_format: "%m/%d/%Y"
        decimal: ","
        thousands: "."

List-valued fields are written ``a;b;c`` in CSV (``list_separator`` changes
the ``;``) and as JSON arrays in JSONL.

Values a source writes in its own words are mapped before validation with
``values`` (exact matches, per field); the engine's vocabulary
(engine/estate/synonyms.yaml) then puts them in canonical form. Phone numbers
(``lines.number``, ``calls.source``/``destination`` and references to lines by
number) are put in E.164, national ones read in ``default_region``::

    values:
      status: {"Suspended - Lost/Stolen": suspended}
      purpose: {"ELEVATOR 3": lift}
    default_region: US
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from dialtone.engine.collector_api import (
    ROW_COLUMN,
    ParseOptions,
    RawBatch,
    RawReject,
    SourceData,
    settings_schema,
    text_value,
)
from dialtone.engine.completeness import require_complete_last_line
from dialtone.engine.errors import CollectError, ConfigError, did_you_mean
from dialtone.engine.estate.model import Entity, Field, load_model
from dialtone.engine.estate.vocabulary import load_vocabulary
from dialtone.engine.phone import REGION_SCHEMA, check_region, normalise_numbers, number_places
from dialtone.engine.snapshots import sha256_file

_STR_OR_LIST = {"oneOf": [{"type": "string", "minLength": 1},
                          {"type": "array", "items": {"type": "string"}, "minItems": 1}]}


#: Hashes large input files beside their parse (one thread: a second would compete with it).
_HASHING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dialtone-csv-sha256")

#: Bytes pyarrow's CSV reader takes at a time: a cell must fit in one block.
CSV_BLOCK_BYTES = 64 << 20
#: CSV files larger than this are streamed: read a block at a time, validated chunk by chunk and
#: written to disk as they go (engine/collect.py), so a collect's memory does not grow with them.
STREAM_ABOVE_BYTES = 16 << 20
#: The blocks a streamed file is read in (small blocks parse fastest); a value longer than one
#: makes the reader start over with CSV_BLOCK_BYTES.
STREAM_BLOCK_BYTES = 4 << 20


def _as_tuple(value) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


#: Fields that hold a phone number (besides references to lines, which may name one by number).
PHONE_FIELDS = {("lines", "number"), ("calls", "source"), ("calls", "destination")}


def _phone_fields(entity: Entity) -> list[str]:
    return [f.name for f in entity.fields if (entity.name, f.name) in PHONE_FIELDS
            or (f.relation is not None and f.relation.entity == "lines" and f.type == "string")]


def _allowed(entity: Entity, f: Field) -> tuple[str, ...] | None:
    """The values ``values:`` may map to for a field with a closed vocabulary (None: any)."""
    if f.enum:
        return f.enum
    vocab = load_vocabulary().of(entity.name, f.name)
    if vocab is not None and vocab.canonical and not vocab.open and not vocab.upper:
        return vocab.canonical
    return None


def _target_problem(entity: Entity, f: Field, target) -> str | None:
    """Why ``target`` cannot be a value of ``f``, or None."""
    import re

    if target is None:
        return "required" if f.required else None
    if f.type == "list":
        return "values: maps single values; it does not apply to lists"
    if f.type == "boolean":
        return None if isinstance(target, bool) or str(target).lower() in ("true", "false") \
            else "expected true or false"
    if f.type in ("integer", "number"):
        return None if isinstance(target, (int, float)) and not isinstance(target, bool) \
            else f"expected a {'whole ' if f.type == 'integer' else ''}number"
    if not isinstance(target, str):
        return "expected text"
    allowed = _allowed(entity, f)
    if allowed is not None and target not in allowed:
        return f"allowed: {', '.join(allowed)}"
    if f.pattern and not re.search(f.pattern, target):
        return f"does not match {f.pattern}"
    return None


class CsvCollector:
    """Canonical ``<entity>.csv`` / ``.jsonl`` files, or one export mapped by ``columns``."""

    config_schema = settings_schema(
        required=["path"],
        properties={
            "path": {"type": "string", "minLength": 1},
            "entity": {"type": "string"},
            "columns": {"type": "object", "additionalProperties": {"type": "string"}},
            "delimiter": {"type": "string", "minLength": 1, "maxLength": 1},
            "encoding": {"type": "string"},
            "date_format": _STR_OR_LIST,
            "datetime_format": _STR_OR_LIST,
            "decimal": {"enum": [".", ","]},
            "thousands": {"enum": ["", ",", ".", " ", "'"]},
            "list_separator": {"type": "string", "minLength": 1},
            "true_values": {"type": "array", "items": {"type": "string"}},
            "false_values": {"type": "array", "items": {"type": "string"}},
            "values": {
                "type": "object",
                "description": "field (or entity.field) → {value as written: canonical value}",
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": {"type": ["string", "number", "boolean", "null"]}},
            },
            "default_region": REGION_SCHEMA,
        },
    )
    secret_settings = ()
    #: Every field of every entity it is given (docs/collectors.md, "What it feeds").
    fills = {name: ("*",) for name in load_model().entities}

    def __init__(self, source: str, settings: dict, base_dir: Path):
        self.source = source
        self.settings = settings
        self.path = (base_dir / settings["path"]).resolve()
        self.model = load_model()
        self.delimiter = settings.get("delimiter", ",")
        encoding = settings.get("encoding", "utf-8")
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ConfigError(f"sources.{source}.encoding: unknown encoding '{encoding}'") from None
        self.encoding = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
        defaults = ParseOptions()
        self.options = ParseOptions(
            date_formats=_as_tuple(settings.get("date_format", defaults.date_formats)),
            datetime_formats=_as_tuple(settings.get("datetime_format", ())),
            decimal=settings.get("decimal", "."),
            thousands=settings.get("thousands", ""),
            list_separator=settings.get("list_separator", ";"),
            true_values=tuple(v.lower() for v in settings.get("true_values", defaults.true_values)),
            false_values=tuple(v.lower() for v in settings.get("false_values", defaults.false_values)),
        )
        if self.options.decimal == self.options.thousands:
            raise ConfigError(f"sources.{source}: decimal and thousands separators must differ")
        self.region = check_region(source, settings.get("default_region"))
        self.values = self._check_values(settings.get("values") or {})

    def _check_values(self, spec: dict) -> dict[tuple[str, str], dict[str, str | None]]:
        """``values:`` as {(entity, field): {written: target}}; a mapping to an unknown field, or
        to a value the field does not allow, is a configuration error naming both."""
        one = self.settings.get("entity") or (
            None if self.path.is_dir() else self.path.name.split(".")[0])
        out: dict[tuple[str, str], dict[str, str | None]] = {}
        for name, mapping in spec.items():
            where = f"sources.{self.source}.values.{name}"
            entity_name, _, field_name = name.rpartition(".")
            if not entity_name:
                if one is None or one not in self.model.entities:
                    raise ConfigError(f"{where}: name the field as entity.field (this source is a "
                                      "folder of several entities)")
                entity_name = one
            if entity_name not in self.model.entities:
                raise ConfigError(f"{where}: no entity '{entity_name}'."
                                  f"{did_you_mean(entity_name, self.model.entities)}")
            entity = self.model.entity(entity_name)
            if field_name not in entity.field_names:
                raise ConfigError(f"{where}: {entity_name} has no field '{field_name}'."
                                  f"{did_you_mean(field_name, entity.field_names)}")
            f = entity.field(field_name)
            for written, target in mapping.items():
                if isinstance(written, bool) or written is None:
                    raise ConfigError(f"{where}: put the value {written!r} in quotes (YAML reads "
                                      "On, Off, Yes, No and ~ unquoted as true, false and null)")
                problem = _target_problem(entity, f, target)
                if problem:
                    raise ConfigError(f"{where}: {written!r} maps to {target!r}, which "
                                      f"{entity_name}.{field_name} does not take ({problem})")
            out[(entity_name, field_name)] = {
                str(written).strip(): None if target is None else
                (str(target).lower() if isinstance(target, bool) else str(target))
                for written, target in mapping.items()}
        return out

    # -- entry point -----------------------------------------------------------------------
    def collect(self) -> SourceData:
        if not self.path.exists():
            raise CollectError(f"source '{self.source}': {self.path} does not exist")
        data = SourceData()
        if self.path.is_dir():
            if "entity" in self.settings or "columns" in self.settings:
                raise ConfigError(
                    f"sources.{self.source}: 'entity' and 'columns' apply to one file; "
                    f"{self.path} is a folder of canonical <entity>.csv files")
            self._collect_folder(data)
        else:
            entity = self.settings.get("entity") or self.path.name.split(".")[0]
            if entity not in self.model.entities:
                raise ConfigError(
                    f"sources.{self.source}: set 'entity:' to the estate entity this file holds"
                    f" (no entity '{entity}').{did_you_mean(entity, self.model.entities)}")
            self._collect_file(data, self.path, self.model.entity(entity),
                               self.settings.get("columns"))
        return data

    def _collect_folder(self, data: SourceData) -> None:
        found = False
        for f in sorted(self.path.iterdir()):
            if f.suffix.lower() not in (".csv", ".jsonl") or not f.is_file():
                continue
            name = f.name.rsplit(".", 1)[0]
            if name not in self.model.entities:
                data.warnings.append(
                    f"{f.name}: ignored, no entity '{name}'.{did_you_mean(name, self.model.entities)}")
                continue
            found = True
            self._collect_file(data, f, self.model.entity(name), None)
        if not found:
            raise CollectError(
                f"source '{self.source}': no <entity>.csv or <entity>.jsonl files in {self.path}")

    def _collect_file(self, data: SourceData, path: Path, entity: Entity,
                      mapping: dict[str, str] | None) -> None:
        data.watch(path)
        require_complete_last_line(path)
        if mapping:
            for header, target in mapping.items():
                if target not in entity.field_names:
                    raise ConfigError(
                        f"sources.{self.source}.columns: '{header}' maps to unknown field "
                        f"'{target}' of {entity.name}.{did_you_mean(target, entity.field_names)}")
        if path.suffix.lower() != ".jsonl" and path.stat().st_size > STREAM_ABOVE_BYTES:
            header = self._header(path)
            if header:
                rename = self._rename(data, path, entity, header, mapping)
                # Hashed in a thread while the file is parsed (the parse leaves a core idle); the
                # digest is the source's by its last chunk. The file is watched meanwhile: one
                # changed while read fails the source (engine/completeness.py).
                digest = _HASHING.submit(sha256_file, path)

                def chunks():
                    read = False
                    try:
                        for table in self._stream_csv(data, path, entity, header):
                            yield self._numbers(entity, self._mapped_values(
                                entity, _renamed(table, rename)))
                        read = True
                    finally:
                        if not read:      # stopped early: a hash still queued is not wanted
                            digest.cancel()
                    data.inputs[path.name] = digest.result()

                data.batches.append(RawBatch.streamed(entity.name, path.name, chunks, self.options))
                return
        data.inputs[path.name] = sha256_file(path)
        if path.suffix.lower() == ".jsonl":
            table = self._read_jsonl(data, path, entity)
        else:
            table = self._read_csv(data, path, entity)
        table = self._canonical_columns(data, path, entity, table, mapping)
        table = self._mapped_values(entity, table)
        table = self._numbers(entity, table)
        data.batches.append(RawBatch(entity.name, table, path.name, self.options))

    def _mapped_values(self, entity: Entity, table: pa.Table) -> pa.Table:
        """Apply ``values:``: a value written exactly as a key (spaces around it aside) becomes
        the key's target; the rest stay. Set-based: one hash lookup per row, in Arrow."""
        for (entity_name, name), mapping in self.values.items():
            if entity_name != entity.name or name not in table.column_names:
                continue
            col = table.column(name)
            if not pa.types.is_string(col.type):
                continue
            keys = pa.array(list(mapping), pa.string())
            index = pc.index_in(pc.utf8_trim_whitespace(col), value_set=keys)
            mapped = pc.take(pa.array(list(mapping.values()), pa.string()), index)
            table = table.set_column(table.schema.get_field_index(name), name,
                                     pc.if_else(pc.is_valid(index), mapped, col))
        return table

    def _numbers(self, entity: Entity, table: pa.Table) -> pa.Table:
        """Phone numbers in E.164; calls without their parties' countries and regions get them
        from the numbers, as the CDR collectors do."""
        for name in _phone_fields(entity):
            if name in table.column_names and pa.types.is_string(table.column(name).type):
                table = table.set_column(table.schema.get_field_index(name), name,
                                         normalise_numbers(table.column(name), self.region))
        if entity.name == "calls":
            for party in ("source", "destination"):
                country, region = f"{party}_country", f"{party}_region"
                if party in table.column_names and country not in table.column_names \
                        and region not in table.column_names:
                    places = number_places(table.column(party))
                    table = table.append_column(country, places[0]).append_column(region, places[1])
        return table

    # -- CSV -------------------------------------------------------------------------------
    def _header(self, path: Path) -> list[str]:
        """The file's header, checked: decodable, no column named twice."""
        try:
            with path.open(encoding=self.encoding, newline="") as fh:
                header = next(csv.reader(fh, delimiter=self.delimiter), None)
        except UnicodeDecodeError as exc:
            raise CollectError(
                f"{path.name}: cannot decode the header as {self.encoding}: {exc.reason}."
                " Set 'encoding:' for this source.") from None
        if header and len(set(header)) != len(header):
            dup = sorted({h for h in header if header.count(h) > 1})
            raise CollectError(f"{path.name}: duplicate column(s) in the header: {', '.join(dup)}")
        return header or []

    def _csv_options(self, data: SourceData, path: Path, entity: Entity, header: list[str],
                     bad_rows: list[int], block_size: int = CSV_BLOCK_BYTES) -> dict:
        """pyarrow's options for this source's CSV: every column text, rows with the wrong
        number of columns rejected (their row numbers noted in ``bad_rows``, once each)."""
        seen = set(bad_rows)

        def on_invalid(row) -> str:
            if row.number is not None and row.number in seen:
                return "skip"             # reported before a streamed read started over
            seen.add(row.number)
            bad_rows.append(row.number)
            data.rejects.append(RawReject(
                path.name, row.number, "", (row.text or "")[:200],
                f"expected {row.expected_columns} columns, found {row.actual_columns}",
                entity.name))
            return "skip"

        return {
            "read_options": pacsv.ReadOptions(encoding=self.encoding, use_threads=False,
                                              block_size=block_size),
            "parse_options": pacsv.ParseOptions(delimiter=self.delimiter, invalid_row_handler=on_invalid,
                                                newlines_in_values=True),
            "convert_options": pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header},
                strings_can_be_null=True, quoted_strings_can_be_null=True, null_values=[""]),
        }

    def _read_csv(self, data: SourceData, path: Path, entity: Entity) -> pa.Table:
        header = self._header(path)
        if not header:
            return pa.table({ROW_COLUMN: pa.array([], pa.int64())})
        bad_rows: list[int] = []
        with _csv_errors(path):
            # Blocks large enough for an outsized cell (validation rejects the row it is in).
            table = pacsv.read_csv(path, **self._csv_options(data, path, entity, header, bad_rows))
        return table.append_column(ROW_COLUMN, _row_numbers(0, table.num_rows, bad_rows))

    def _stream_csv(self, data: SourceData, path: Path, entity: Entity,
                    header: list[str]) -> Iterator[pa.Table]:
        """The file's rows a block at a time, each with its spreadsheet row numbers.

        Small blocks read fastest; a value longer than a block makes the reader start over
        with blocks large enough for it, skipping the rows it has already given."""
        bad_rows: list[int] = []
        read = 0
        block = min(STREAM_BLOCK_BYTES, CSV_BLOCK_BYTES)
        with _csv_errors(path):
            while True:
                skip = read
                try:
                    reader = pacsv.open_csv(path, **self._csv_options(data, path, entity, header, bad_rows,
                                                                      block))
                    for batch in reader:
                        if skip:
                            if batch.num_rows <= skip:
                                skip -= batch.num_rows
                                continue
                            batch, skip = batch.slice(skip), 0
                        # A block's invalid rows are reported while it is parsed, before its batch.
                        rows = _row_numbers(read, batch.num_rows, bad_rows)
                        read += batch.num_rows
                        yield pa.Table.from_batches([batch]).append_column(ROW_COLUMN, rows)
                    return
                except pa.ArrowInvalid as exc:
                    if "straddl" not in str(exc) or block >= CSV_BLOCK_BYTES:
                        raise
                    block = CSV_BLOCK_BYTES

    # -- JSONL -----------------------------------------------------------------------------
    def _read_jsonl(self, data: SourceData, path: Path, entity: Entity) -> pa.Table:
        fields = {f.name: f for f in entity.fields}
        columns: dict[str, list] = {}
        rows: list[int] = []
        n = 0
        try:
            with path.open(encoding=self.encoding) as fh:
                for lineno, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except ValueError as exc:
                        data.rejects.append(RawReject(path.name, lineno, "", line.strip()[:200],
                                                      f"invalid JSON: {exc}", entity.name))
                        continue
                    if not isinstance(record, dict):
                        data.rejects.append(RawReject(path.name, lineno, "", line.strip()[:200],
                                                      "expected a JSON object", entity.name))
                        continue
                    for key, value in record.items():
                        col = columns.setdefault(key, [None] * n)
                        f = fields.get(key)
                        col.append(text_value(value, f is not None and f.type == "list"))
                    n += 1
                    rows.append(lineno)
                    for col in columns.values():
                        if len(col) < n:
                            col.append(None)
        except UnicodeDecodeError as exc:
            raise CollectError(f"{path.name}: cannot decode as {self.encoding}: {exc.reason}") from None
        arrays = {}
        for key, values in columns.items():
            f = fields.get(key)
            typ = pa.list_(pa.string()) if f is not None and f.type == "list" else pa.string()
            arrays[key] = pa.array(values, typ)
        arrays[ROW_COLUMN] = pa.array(rows, pa.int64())
        return pa.table(arrays)

    # -- mapping ---------------------------------------------------------------------------
    def _rename(self, data: SourceData, path: Path, entity: Entity, present: list[str],
                mapping: dict[str, str] | None) -> dict[str, str]:
        """Each column kept and the field it feeds (``columns:`` or the canonical names); the
        file's other columns are ignored with a warning."""
        if mapping:
            missing = [h for h in mapping if h not in present]
            if missing:
                raise CollectError(
                    f"{path.name}: mapped column(s) not in the file: {', '.join(missing)}."
                    f" The file has: {', '.join(present)}")
            rename = {h: mapping[h] for h in present if h in mapping}
        else:
            rename = {}
            for h in present:
                if h in entity.field_names:
                    rename[h] = h
                else:
                    data.warnings.append(
                        f"{path.name}: ignored unknown column '{h}'."
                        f"{did_you_mean(h, entity.field_names)}")
        if path.suffix.lower() != ".jsonl":   # a JSON record may leave an empty field out
            data.columns.setdefault(entity.name, set()).update(rename.values())
        return rename

    def _canonical_columns(self, data: SourceData, path: Path, entity: Entity, table: pa.Table,
                           mapping: dict[str, str] | None) -> pa.Table:
        present = [c for c in table.column_names if c != ROW_COLUMN]
        rename = self._rename(data, path, entity, present, mapping)
        if not table.num_rows and not present:
            return table
        return _renamed(table, rename)


def _renamed(table: pa.Table, rename: dict[str, str]) -> pa.Table:
    keep = {new: table.column(old) for old, new in rename.items()}
    keep[ROW_COLUMN] = table.column(ROW_COLUMN)
    return pa.table(keep)


def _row_numbers(start: int, count: int, skipped: list[int | None]) -> pa.Array:
    """Spreadsheet row numbers (the header is row 1) of ``count`` rows after the first ``start``
    read; the rows skipped as invalid keep the numbering true."""
    rows = np.arange(start + 2, start + count + 2, dtype=np.int64)
    lines = np.unique(np.array([r for r in skipped if r is not None], dtype=np.int64))
    # Row n moves down by the number of skipped lines at or above where it lands: with the
    # skipped lines sorted, the i-th one moves row n when lines[i] - i <= n (a non-decreasing
    # sequence, so one binary search per row rather than a pass per skipped line).
    return pa.array(rows + np.searchsorted(lines - np.arange(len(lines)), rows, side="right"))


@contextmanager
def _csv_errors(path: Path) -> Iterator[None]:
    """pyarrow's failures to read a CSV file as one clear message."""
    try:
        yield
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        if "straddl" in str(exc):
            raise CollectError(f"{path.name}: cannot read as CSV: a value is longer than "
                               f"{CSV_BLOCK_BYTES >> 20} MB") from None
        raise CollectError(f"{path.name}: cannot read as CSV: {exc}") from None
