"""Validate and type raw records set-based, in DuckDB.

Each field's JSON Schema (type, format, enum, pattern, minimum, required)
becomes a SQL check; a row with any failed check goes to the rejects with its
row number, field and reason, and the rest are cast to the model's types in
one statement. No per-row Python.

Before the checks, values are put in the estate's vocabulary
(engine/estate/synonyms.yaml): ``Active``, `` ACTIVE `` and ``In Service`` become
``active``, ``inGracePeriod`` ``in_grace_period``. The words are looked up once per
*distinct* value of a column (a join in DuckDB), and the answer is spread back over
the rows with Arrow's ``index_in``/``take``; a column already in canonical form
is left as it is. Rejects show the value as the source wrote it.

A collector may hand a column over already typed (an Arrow integer, float,
boolean, date or timestamp column — timestamps naive UTC — for a field of that
type): it is checked (required, enum, minimum…) but not parsed again.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .collector_api import ROW_COLUMN, ParseOptions, RawBatch
from .errors import CollectError
from .estate.model import Entity, Field
from .estate.vocabulary import BooleanWords, FieldVocabulary, key, key_sql, load_vocabulary
from .snapshots import SOURCE_COLUMN
from .sqltext import ident, literal

ORIGIN_COLUMN = "__origin"
_EXTRA = (ORIGIN_COLUMN, "__batch", "__row")
#: Separates the parts of a problem string built in SQL (field, reason, value).
_SEP = "\x1f"
REJECT_SCHEMA = pa.schema([
    ("source", pa.string()), ("entity", pa.string()), ("origin", pa.string()),
    ("row", pa.int64()), ("field", pa.string()), ("value", pa.string()), ("reason", pa.string()),
])


def _list_lit(values) -> str:
    return "[" + ", ".join(literal(v) for v in values) + "]"


#: What DuckDB's ``trim`` takes off both ends of a text: the Unicode space separators (Zs).
SPACES = ("\u0020\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
          "\u2009\u200a\u202f\u205f\u3000")


def _text(f: Field, col: str | None = None) -> str:
    """The field's text, NULL when empty: ``col`` is a column already trimmed of ``SPACES``
    (validate_batch trims in Arrow, which looks at the ends only, where DuckDB's ``trim``
    decodes the whole text: a third of a validation's time); without it the raw column."""
    return f"NULLIF({col}, '')" if col else f"NULLIF(trim({ident(f.name)}), '')"


def _pretyped(f: Field, arrow_type: pa.DataType) -> bool:
    """Whether a raw column already holds the field's type (no text to parse)."""
    return {
        "integer": pa.types.is_integer, "number": lambda t: pa.types.is_floating(t)
        or pa.types.is_integer(t), "boolean": pa.types.is_boolean, "date": pa.types.is_date,
        "datetime": pa.types.is_timestamp,
    }.get(f.type, lambda t: False)(arrow_type)


def _typed(f: Field, o: ParseOptions, is_list: bool, pretyped: bool = False, col: str | None = None,
           vocab: FieldVocabulary | None = None, words: BooleanWords | None = None) -> str:
    """SQL for the typed value of field ``f`` (NULL when it does not parse), read from ``col``
    (the canonical column of a field with a vocabulary) or the field's raw column."""
    if pretyped:
        return f"CAST({ident(f.name)} AS {f.sql_type})"
    t = _text(f, col)
    if f.type == "string":
        return t
    if f.type in ("integer", "number"):
        num = t
        if o.thousands:
            num = f"replace({num}, {literal(o.thousands)}, '')"
        if o.decimal != ".":
            num = f"replace({num}, {literal(o.decimal)}, '.')"
        if f.type == "integer":
            return f"CASE WHEN regexp_full_match({num}, '[+-]?[0-9]+') THEN TRY_CAST({num} AS BIGINT) END"
        # NaN and infinities parse as doubles but are not amounts: in SQL NaN is greater than
        # every number, so a threshold policy would fire on it.
        return f"CASE WHEN isfinite(TRY_CAST({num} AS DOUBLE)) THEN TRY_CAST({num} AS DOUBLE) END"
    if f.type == "boolean":
        sql = (f"CASE WHEN list_contains({_list_lit(o.true_values)}, lower({t})) THEN true "
               f"WHEN list_contains({_list_lit(o.false_values)}, lower({t})) THEN false ")
        if words is not None and (words.true or words.false):
            # The engine's words for this field come after the source's own: a source that
            # says "Off" means true is believed. Per row, so plain replaces rather than the
            # regular expression of key_sql (the words hold no tabs or no-break spaces).
            k = f"replace(replace(replace(lower({t}), ' ', ''), '_', ''), '-', '')"
            sql += (f"WHEN list_contains({_list_lit(sorted({key(w) for w in words.true}))}, {k}) THEN true "
                    f"WHEN list_contains({_list_lit(sorted({key(w) for w in words.false}))}, {k}) "
                    "THEN false ")
        return sql + "END"
    if f.type == "date":
        return f"CAST(try_strptime({t}, {_list_lit(o.date_formats)}) AS DATE)"
    if f.type == "datetime":
        if o.datetime_formats:
            return f"CAST(try_strptime({t}, {_list_lit(o.datetime_formats)}) AS TIMESTAMP)"
        return f"CAST(TRY_CAST({t} AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS TIMESTAMP)"
    if f.type == "list":
        src = ident(f.name) if is_list else f"string_split({t}, {literal(o.list_separator)})"
        item = "trim(CAST(x AS VARCHAR))"
        if vocab is not None:
            # Lists are short: their items are looked up in a map of the field's words.
            pairs = ", ".join(f"{literal(k)}: {literal(v)}" for k, v in sorted(vocab.words.items()) if v)
            item = f"coalesce(MAP {{{pairs}}}[{key_sql(item)}], {item})"
        return f"list_filter(list_transform({src}, lambda x: {item}), lambda x: x <> '')"
    raise ValueError(f.type)


#: The longest text value an estate field takes; a longer cell is a reject, not a failed source.
MAX_TEXT = 8192

_EXPECTED = {
    "integer": "expected a whole number",
    "number": "expected a number",
    "boolean": "expected true or false",
    "date": "expected a date",
    "datetime": "expected an ISO 8601 date-time",
    "list": "expected a list",
}


def _checks(f: Field, o: ParseOptions, typed: str, is_list: bool,
            pretyped: bool = False, col: str | None = None,
            vocab: FieldVocabulary | None = None, raw_col: str | None = None) -> list[tuple[str, str]]:
    """(condition that flags a problem, reason SQL) pairs for field ``f`` (``col``: the
    trimmed column its value is read from; ``raw_col``: its raw text trimmed)."""
    raw_missing = f"{ident(f.name)} IS NULL" if is_list or pretyped else f"{_text(f, col)} IS NULL"
    checks = []
    if f.required:
        checks.append((raw_missing, literal("required field is missing")))
    if f.type == "string" and not pretyped:
        checks.append((f"length({_text(f, raw_col)}) > {MAX_TEXT}",
                       literal(f"longer than {MAX_TEXT:,} characters")))
    if f.type == "list" and is_list:
        checks.append((f"length(array_to_string({ident(f.name)}, ';')) > {MAX_TEXT}",
                       literal(f"longer than {MAX_TEXT:,} characters")))
    if f.type == "number" and pretyped:
        checks.append((f"NOT isfinite({typed})", literal("expected a number (not NaN or infinity)")))
    if f.type not in ("string", "list") and not pretyped:
        expected = _EXPECTED[f.type]
        if f.type == "date":
            expected += f" ({' or '.join(o.date_formats)})"
        if f.type == "datetime" and o.datetime_formats:
            expected = f"expected a date-time ({' or '.join(o.datetime_formats)})"
        checks.append((f"NOT ({raw_missing}) AND ({typed}) IS NULL", literal(expected)))
    if f.enum:
        # The value as the source wrote it stays in the reason: it matched no canonical value
        # and no synonym, and the reader needs to see which word that was.
        got = ("" if pretyped else
               f" || {literal('; got ' + chr(39))} || left(trim({ident(f.name)}), 100) || {literal(chr(39))}")
        also = ", or a synonym of one" if vocab is not None else ""
        checks.append((f"NOT list_contains({_list_lit(f.enum)}, {typed})",
                       literal(f"expected one of: {', '.join(f.enum)}{also}") + got))
    if f.pattern:
        checks.append((f"NOT regexp_matches({typed}, {literal(f.pattern)})",
                       literal(f"does not match the expected format {f.pattern}")))
    if f.format == "email":
        checks.append((f"NOT regexp_full_match({typed}, '[^@\\s]+@[^@\\s]+\\.[^@\\s]+')",
                       literal("expected an e-mail address")))
    if f.minimum is not None:
        checks.append((f"({typed}) < {f.minimum}", literal(f"must be at least {f.minimum:g}")))
    if f.item_enum:
        bad = f"list_filter({typed}, lambda x: NOT list_contains({_list_lit(f.item_enum)}, x))"
        checks.append((f"len({bad}) > 0",
                       f"'unknown value(s) ' || array_to_string({bad}, ', ') || "
                       + literal("; expected: " + ", ".join(f.item_enum))))
    return checks


@dataclass
class Validated:
    table: pa.Table
    rejects: pa.Table
    #: The rejected rows whose key fields read cleanly: rows the source still lists but could not
    #: read whole this time. The entity's fields as typed (a field that failed is NULL or the
    #: value it failed with) and ``__problems``, each problem's text starting with its field.
    unread: pa.Table | None = None


#: Prefix of the columns that hold a field's values put in canonical form (trimmed), and of
#: those that hold its raw text trimmed.
_CANON = "__canon_"
_TRIMMED = "__trimmed_"


def canonical_values(con: duckdb.DuckDBPyConnection, vocab: FieldVocabulary,
                     column: pa.ChunkedArray | pa.Array) -> pa.Array | None:
    """The column's values in canonical form, or None when it already is.

    The distinct values are matched in DuckDB (a join of their keys with the field's words);
    Arrow then maps every row through the few distinct answers, so the cost per row is
    one hash probe whatever the number of synonyms.
    """
    distinct = pc.drop_null(pc.unique(column))
    if not len(distinct):
        return None
    # The common case, a source already in canonical form, needs no lookup at all.
    if pc.all(pc.is_in(distinct, value_set=pa.array(vocab.canonical, pa.string()))).as_py():
        return None
    words = pa.table({"k": pa.array(list(vocab.words), pa.string()),
                      "c": pa.array(list(vocab.words.values()), pa.string())})
    con.register("__vocab_values", pa.table({"v": distinct}))
    con.register("__vocab_words", words)
    try:
        unmatched = "upper(trim(d.v))" if vocab.upper else "d.v"
        mapped = con.sql(
            f"SELECT v, c, c IS DISTINCT FROM v AS changed FROM (SELECT d.v, CASE WHEN w.k IS NULL "
            f"THEN {unmatched} ELSE w.c END AS c FROM __vocab_values d "
            f"LEFT JOIN __vocab_words w ON w.k = {key_sql('d.v')})"
        ).to_arrow_table()
    finally:
        con.unregister("__vocab_values")
        con.unregister("__vocab_words")
    if not pc.any(mapped.column("changed")).as_py():
        return None
    index = pc.index_in(column, value_set=mapped.column("v").combine_chunks())
    return pc.take(mapped.column("c").combine_chunks(), index)


def validate_batch(con: duckdb.DuckDBPyConnection, entity: Entity, batch: RawBatch,
                   source: str, batch_index: int = 0, with_origin: bool = True) -> Validated:
    """Type one raw batch; return the good rows and the rejects.

    Without ``with_origin`` the good rows lack the ``__origin`` text column
    (streamed entities: the origin is known per batch).
    """
    # Only the entity's fields and the row number take part: a collector's own working columns
    # can never stand in for the columns added here (the ordinal, the canonical values).
    fields = {f.name for f in entity.fields}
    wanted = [c for c in batch.table.column_names if c in fields or c == ROW_COLUMN]
    if len(set(wanted)) != len(wanted):
        twice = sorted({c for c in wanted if wanted.count(c) > 1})
        raise CollectError(f"{batch.origin}: {entity.name} column(s) {', '.join(twice)} given twice")
    raw = batch.table.select(wanted)
    present = set(raw.column_names)
    vocabulary = load_vocabulary()
    canon_cols: dict[str, str] = {}
    trimmed: dict[str, str] = {}
    for i, f in enumerate(entity.fields):
        vocab = vocabulary.of(entity.name, f.name)
        if vocab is None or f.type != "string" or f.name not in present \
                or not pa.types.is_string(raw.schema.field(f.name).type):
            continue
        canon = canonical_values(con, vocab, raw.column(f.name))
        if canon is not None:
            name = f"{_CANON}{i}"
            raw = raw.append_column(name, pc.utf8_trim(canon, characters=SPACES))
            canon_cols[f.name] = ident(name)
    for i, f in enumerate(entity.fields):
        if f.name in present and pa.types.is_string(raw.schema.field(f.name).type):
            name = f"{_TRIMMED}{i}"
            raw = raw.append_column(name, pc.utf8_trim(raw.column(f.name), characters=SPACES))
            trimmed[f.name] = ident(name)
    # DuckDB does not always return the rows of a scanned Arrow table in its order (pieces of
    # it can come back swapped); the ordinal puts them back, so a snapshot never depends on
    # thread timing.
    raw = raw.append_column("__ordinal", pa.array(np.arange(raw.num_rows, dtype=np.int64)))
    con.register("raw_batch", raw)
    try:
        typed_cols, problem_items = [], []
        for f in entity.fields:
            if f.name not in present:
                typed_cols.append(f"CAST(NULL AS {f.sql_type}) AS {ident(f.name)}")
                if f.required:
                    problem_items.append(
                        f"{literal(f.name + _SEP + 'required field is missing' + _SEP)}")
                continue
            arrow_type = raw.schema.field(f.name).type
            is_list = pa.types.is_list(arrow_type)
            pretyped = _pretyped(f, arrow_type)
            vocab = vocabulary.of(entity.name, f.name)
            col = canon_cols.get(f.name) or trimmed.get(f.name)
            typed = _typed(f, batch.options, is_list, pretyped, col, vocab if f.type == "list" else None,
                           vocabulary.boolean_words(entity.name, f.name))
            typed_cols.append(f"{typed} AS {ident(f.name)}")
            shown = (f"array_to_string({ident(f.name)}, ';')" if is_list
                     else f"coalesce(CAST({ident(f.name)} AS VARCHAR), '')")
            for cond, reason in _checks(f, batch.options, typed, is_list, pretyped, col, vocab,
                                        trimmed.get(f.name)):
                problem_items.append(
                    f"CASE WHEN coalesce({cond}, false) THEN "
                    f"{literal(f.name + _SEP)} || {reason} || {literal(_SEP)} || left({shown}, 200) END")
        problems = f"list_filter([{', '.join(problem_items) or 'NULL'}], lambda x: x IS NOT NULL)"
        # Straight to Arrow and split there: materialising the checked rows in a DuckDB table
        # first and selecting the good ones back out took twice as long (a 16 MB piece of calls:
        # 490 ms against 240 ms).
        checked = con.sql(
            f"SELECT {', '.join(typed_cols)}, CAST({ROW_COLUMN} AS BIGINT) AS __row, "
            f"{problems} AS __problems, __ordinal FROM raw_batch").to_arrow_table()
    finally:
        con.unregister("raw_batch")
    checked = _in_batch_order(checked)
    bad = pc.greater(pc.list_value_length(checked.column("__problems")), 0)
    any_bad = pc.any(bad).as_py()
    good = (checked.filter(pc.invert(bad)) if any_bad else checked).drop_columns(["__problems"])
    rejected = checked.filter(bad) if any_bad else None
    rejects = _rejects(con, rejected, source, entity.name, batch.origin) if any_bad \
        else REJECT_SCHEMA.empty_table()
    unread = _unread_rows(entity, rejected, rejects) if any_bad else None
    rows = good.column("__row")
    good = good.drop_columns(["__row"]).append_column(
        SOURCE_COLUMN, pa.repeat(pa.scalar(source, pa.string()), good.num_rows))
    if with_origin:
        good = good.append_column(ORIGIN_COLUMN, pc.binary_join_element_wise(
            batch.origin + _SEP, pc.cast(rows, pa.string()), ""))
    good = good.append_column("__batch", pa.repeat(pa.scalar(int(batch_index), pa.int64()), good.num_rows))
    good = good.append_column("__row", rows)
    schema = entity.arrow_schema.append(pa.field(SOURCE_COLUMN, pa.string()))
    if with_origin:
        schema = schema.append(pa.field(ORIGIN_COLUMN, pa.string()))
    schema = schema.append(pa.field("__batch", pa.int64())).append(pa.field("__row", pa.int64()))
    # One chunk per column: the Parquet writer's pages (where it gives up a dictionary) follow
    # the chunks, and DuckDB's chunks vary with its threads; the same rows must give the same file.
    return Validated(good.cast(schema).combine_chunks(), rejects.cast(REJECT_SCHEMA).combine_chunks(),
                     unread)


def failed_fields_sql(problems: str) -> str:
    """SQL: the names of the fields that failed, from an ``unread`` row's ``__problems``
    column (``problems``, an SQL expression)."""
    return f"list_transform({problems}, lambda x: split_part(x, {literal(_SEP)}, 1))"


def _unread_rows(entity: Entity, bad: pa.Table, rejects: pa.Table) -> pa.Table | None:
    """The rejected rows ``bad`` whose key fields had no problem (``rejects`` name each row's
    fields), as ``Validated.unread`` holds them, or None when there are none."""
    key_problem = pc.is_in(rejects.column("field"), value_set=pa.array(entity.key, pa.string()))
    unreadable = pc.unique(pc.filter(rejects.column("row"), key_problem))
    keep = pc.invert(pc.is_in(bad.column("__row"), value_set=unreadable))
    for k in entity.key:
        keep = pc.and_(keep, pc.is_valid(bad.column(k)))
    rows = bad.filter(keep).select([f.name for f in entity.fields] + ["__problems"])
    return rows if rows.num_rows else None


def _in_batch_order(table: pa.Table) -> pa.Table:
    """``table`` in the order of its ``__ordinal`` column (dropped): a check, and a sort only
    when DuckDB handed the rows back out of order."""
    ordinal = table.column("__ordinal")
    table = table.drop_columns(["__ordinal"])
    if len(ordinal) > 1 and not pc.all(pc.greater(ordinal[1:], ordinal[:-1])).as_py():
        table = table.take(pc.sort_indices(ordinal))
    return table


def _rejects(con: duckdb.DuckDBPyConnection, bad: pa.Table, source: str, entity: str,
             origin: str) -> pa.Table:
    """One reject per problem of each bad row (``__row`` and its ``__problems``), by row and field."""
    con.register("bad_rows", bad.select(["__row", "__problems"]))
    try:
        return con.sql(
            f"SELECT {literal(source)} AS source, {literal(entity)} AS entity, "
            f"{literal(origin)} AS origin, __row AS row, "
            f"split_part(p, {literal(_SEP)}, 1) AS field, split_part(p, {literal(_SEP)}, 3) AS value, "
            f"split_part(p, {literal(_SEP)}, 2) AS reason "
            f"FROM (SELECT __row, unnest(__problems) AS p FROM bad_rows) ORDER BY row, field, reason"
        ).to_arrow_table()
    finally:
        con.unregister("bad_rows")


def reject_duplicates(con: duckdb.DuckDBPyConnection, entity: Entity,
                      table: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Keep the first row of each key; the later ones become rejects.

    ``table`` is validated rows in source order, with the ``__origin`` column;
    the returned good rows drop it.
    """
    # The position in ``table`` breaks ties: a collector may number the rows of each table it
    # builds from 1 again within one batch, and the first of two copies must not be a toss-up.
    con.register("typed_rows", table.append_column(
        "__position", pa.array(np.arange(table.num_rows, dtype=np.int64))))
    order = "__batch, __row, __position"
    try:
        key = ", ".join(ident(k) for k in entity.key)
        key_text = " || '/' || ".join(f"CAST({ident(k)} AS VARCHAR)" for k in entity.key)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE ranked AS SELECT *, row_number() OVER "
            f"(PARTITION BY {key} ORDER BY {order}) AS __n, first({ORIGIN_COLUMN}) OVER "
            f"(PARTITION BY {key} ORDER BY {order}) AS __first FROM typed_rows"
        )
        cols = ", ".join(ident(c) for c in table.column_names if c not in _EXTRA)
        good = con.sql(
            f"SELECT {cols} FROM ranked WHERE __n = 1 ORDER BY {order}").to_arrow_table()
        dups = con.sql(
            f"SELECT {SOURCE_COLUMN} AS source, {literal(entity.name)} AS entity, "
            f"split_part({ORIGIN_COLUMN}, {literal(_SEP)}, 1) AS origin, "
            f"CAST(split_part({ORIGIN_COLUMN}, {literal(_SEP)}, 2) AS BIGINT) AS row, "
            f"{literal(', '.join(entity.key))} AS field, {key_text} AS value, "
            f"'duplicate key (first seen in ' || replace(__first, {literal(_SEP)}, ' row ') || ')' AS reason "
            f"FROM ranked WHERE __n > 1 ORDER BY {order}"
        ).to_arrow_table()
    finally:
        con.unregister("typed_rows")
    schema = pa.schema([f for f in table.schema if f.name not in _EXTRA])
    return good.cast(schema), dups.cast(REJECT_SCHEMA)


def find_duplicates(con: duckdb.DuckDBPyConnection, entity: Entity, path,
                    origins: dict[int, str],
                    exclude_sources: list[str] = ()) -> tuple[pa.Array, pa.Table]:
    """Duplicate keys of a streamed entity, from its keys file (key, ``_source``,
    ``__batch``, ``__row``, in the order the rows were written); ``origins`` names
    each batch.

    Returns the ordinals of the rows to leave out (every occurrence of a key but
    the first) and their rejects, worded as ``reject_duplicates`` words them.
    Only 64-bit hashes of the keys are grouped (DuckDB spills to disk past its
    memory limit); the rows stay in the file. Rows of ``exclude_sources`` (sources that
    failed half-way, whose rows are dropped anyway) take no part.
    """
    src = f"read_parquet({literal(str(path))}, file_row_number = true)"
    if exclude_sources:
        src = (f"(SELECT * FROM {src} WHERE {SOURCE_COLUMN} NOT IN "
               f"({', '.join(literal(s) for s in exclude_sources)}))")
    key = ", ".join(ident(k) for k in entity.key)
    key_text = " || '/' || ".join(f"CAST({ident(k)} AS VARCHAR)" for k in entity.key)
    names = pa.table({"__batch": pa.array(list(origins), pa.int64()),
                      "__name": pa.array(list(origins.values()), pa.string())})
    con.register("batch_origins", names)
    try:
        # Group 64-bit hashes of the keys, not the keys: a small, fixed-width table.
        # Rows whose hash repeats are the candidates; their keys are then compared.
        con.execute(f"CREATE OR REPLACE TEMP TABLE dup_hashes AS SELECT hash({key}) AS h "
                    f"FROM {src} GROUP BY h HAVING count(*) > 1")
        con.execute(f"CREATE OR REPLACE TEMP TABLE dup_candidates AS SELECT * FROM {src} "
                    f"WHERE hash({key}) IN (SELECT h FROM dup_hashes)")
        con.execute(f"CREATE OR REPLACE TEMP TABLE dup_keys AS SELECT {key} FROM dup_candidates "
                    f"GROUP BY {key} HAVING count(*) > 1")
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE dup_ranked AS SELECT d.*, o.__name || ' row ' || "
            f"CAST(d.__row AS VARCHAR) AS __where, row_number() OVER w AS __n FROM "
            f"(SELECT * FROM dup_candidates SEMI JOIN dup_keys USING ({key})) d "
            f"JOIN batch_origins o USING (__batch) WINDOW w AS (PARTITION BY {key} ORDER BY "
            f"d.__batch, d.__row, d.file_row_number)")
        drop = con.sql("SELECT file_row_number FROM dup_ranked WHERE __n > 1 ORDER BY 1"
                       ).to_arrow_table().column(0).combine_chunks()
        dups = con.sql(
            f"SELECT r.{SOURCE_COLUMN} AS source, {literal(entity.name)} AS entity, o.__name AS origin, "
            f"r.__row AS row, {literal(', '.join(entity.key))} AS field, {key_text} AS value, "
            f"'duplicate key (first seen in ' || f.__where || ')' AS reason "
            f"FROM dup_ranked r JOIN batch_origins o USING (__batch) "
            f"JOIN (SELECT {key}, __where FROM dup_ranked WHERE __n = 1) f USING ({key}) "
            f"WHERE r.__n > 1 ORDER BY r.__batch, r.__row, r.file_row_number"
        ).to_arrow_table()
    finally:
        con.execute("DROP TABLE IF EXISTS dup_hashes; DROP TABLE IF EXISTS dup_candidates; "
                    "DROP TABLE IF EXISTS dup_keys; DROP TABLE IF EXISTS dup_ranked")
        con.unregister("batch_origins")
    return drop.cast(pa.int64()), dups.cast(REJECT_SCHEMA)
