"""CSV that a spreadsheet opens as data: the one writer for every CSV Dialtone produces.

Two things make a CSV file dangerous or broken in a spreadsheet. A cell that
starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a
formula (OWASP "CSV injection"): such text cells get a leading ``'``. A value
holding a line break (CR, LF or both) splits the row unless it is quoted: every
text cell is quoted. Numbers stay numbers, so a negative amount is not altered.

``rows_to_text``/``write_rows`` serve Python rows (web and CLI exports);
``write_arrow`` serves Arrow tables (rejects, unresolved references) set-based,
without a Python loop over the rows.
"""

from __future__ import annotations

import csv
import io
import typing as t
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

#: Leading characters a spreadsheet reads as the start of a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_REGEX = r"^[=+\-@\t\r]"


def safe_cell(value: t.Any) -> t.Any:
    """A cell value a spreadsheet shows as text: formula-like text gets a leading ``'``.

    Numbers, booleans and None pass unchanged (None becomes an empty cell)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _writer(fh: t.TextIO) -> t.Any:
    # QUOTE_NONNUMERIC: every text cell is quoted, so CR or LF inside one never splits a row.
    return csv.writer(fh, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")


def _plain(value: t.Any) -> t.Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    return safe_cell(str(value))


def write_rows(fh: t.TextIO, header: t.Sequence[str],
               rows: t.Iterable[t.Sequence[t.Any] | t.Mapping[str, t.Any]]) -> None:
    """Write a header and rows (sequences, or mappings read by the header's names)."""
    w = _writer(fh)
    w.writerow(list(header))
    for row in rows:
        values = [row.get(k) for k in header] if isinstance(row, t.Mapping) else row
        w.writerow([_plain(v) for v in values])


def rows_to_text(header: t.Sequence[str],
                 rows: t.Iterable[t.Sequence[t.Any] | t.Mapping[str, t.Any]]) -> str:
    buf = io.StringIO()
    write_rows(buf, header, rows)
    return buf.getvalue()


def neutralise_table(table: pa.Table) -> pa.Table:
    """The table with every formula-like text cell prefixed by ``'`` (column-wise)."""
    columns = []
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            risky = pc.fill_null(pc.match_substring_regex(column, _FORMULA_REGEX), False)
            column = pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def write_arrow(table: pa.Table, path: Path) -> None:
    """Write an Arrow table as CSV: formula-like text neutralised, every text cell quoted."""
    pacsv.write_csv(neutralise_table(table), path,
                    write_options=pacsv.WriteOptions(quoting_style="all_valid"))
