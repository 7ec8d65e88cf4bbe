"""Shared machinery of the call-detail-record collectors (asterisk, freeswitch, cucm).

CDR files grow to millions of rows, so they are never read whole: bytes are
read in blocks cut at line ends, each block is parsed by pyarrow's CSV reader
(all columns as text) and turned into the ``calls`` fields with
pyarrow.compute — set-based, no per-row Python. Memory depends on the block
size, not on the file size.

A row whose field count is wrong becomes a reject with its line number; a
line the CSV parser cannot read at all fails the collect with the file and
line, never silently.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from dialtone.engine.collector_api import ROW_COLUMN, RawReject
from dialtone.engine.errors import CollectError, ConfigError
from dialtone.engine.phone import REGION_SCHEMA, SHORT_EXTENSION, is_number, normalise_numbers, number_places

#: Bytes read and parsed at a time; bounds the memory of every CDR collector.
BLOCK_BYTES = 32 << 20
#: The calls fields the CDR collectors produce (as text, for the engine to validate).

TIMEZONE_SCHEMA = {"type": "string", "minLength": 1,
                   "description": "IANA time zone of the timestamps, e.g. America/Chicago"}


def check_timezone(source: str, tz: str | None) -> None:
    """Fail at config load on a time zone name pyarrow cannot resolve."""
    if tz is None:
        return
    try:
        pc.assume_timezone(pa.array([0], pa.timestamp("s")), tz)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise ConfigError(f"sources.{source}.timezone: unknown time zone '{tz}' "
                          "(use an IANA name such as America/Chicago, or UTC)") from None


def input_files(source: str, path: Path, pattern: str) -> list[Path]:
    """One file, or the files of a folder matching ``pattern`` (sorted); a clear error if none."""
    if not path.exists():
        raise CollectError(f"source '{source}': {path} does not exist")
    if not path.is_dir():
        return [path]
    files = sorted(f for f in path.glob(pattern) if f.is_file())
    if not files:
        raise CollectError(f"source '{source}': no files matching '{pattern}' in {path}")
    return files


def check_encoding(source: str, encoding: str) -> str:
    import codecs

    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise ConfigError(f"sources.{source}.encoding: unknown encoding '{encoding}'") from None


# -- reading ---------------------------------------------------------------------------------

@dataclass
class Block:
    """Whole lines of a file, bytes ``start`` to ``end``."""

    data: bytes | memoryview
    start: int
    end: int


def read_blocks(path: Path, start: int = 0, end: int | None = None,
                complete_only: bool = False, digest: t.Any = None,
                block_bytes: int = BLOCK_BYTES) -> t.Iterator[Block]:
    """Blocks of whole lines of ``path`` between byte ``start`` and ``end``.

    With ``complete_only`` a last line without its newline (a record still being
    written) is left out; otherwise it is included. ``digest`` (a hashlib object)
    is fed every byte yielded. The reader of the blocks counts lines.
    """
    with path.open("rb") as fh:
        pos = start
        while end is None or pos < end:
            fh.seek(pos)
            want = block_bytes if end is None else min(block_bytes, end - pos)
            chunk = fh.read(want)
            if not chunk:
                return
            cut = chunk.rfind(b"\n") + 1
            last = len(chunk) < want or (end is not None and pos + len(chunk) >= end)
            if cut == 0 or (last and cut < len(chunk)):
                if not last:            # a line longer than a block: read a bigger one
                    block_bytes *= 2
                    continue
                if complete_only:
                    if cut == 0:
                        return
                else:
                    cut = len(chunk)
            body = chunk if cut == len(chunk) else memoryview(chunk)[:cut]
            if digest is not None:
                digest.update(body)
            yield Block(body, pos, pos + cut)
            pos += cut


def _names(width: int) -> list[str]:
    return [f"c{i}" for i in range(width)]


def _read(data: bytes, width: int, encoding: str, threads: bool, on_invalid, skip_rows: int = 0,
          include: t.Collection[int] | None = None):
    names = _names(width)
    keep = names if include is None else [names[i] for i in sorted(include) if i < width]
    return pacsv.read_csv(
        pa.py_buffer(data),
        read_options=pacsv.ReadOptions(column_names=names, use_threads=threads,
                                       encoding=encoding, skip_rows=skip_rows,
                                       block_size=8 << 20),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid, ignore_empty_lines=False,
                                         newlines_in_values=False),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=True,
            quoted_strings_can_be_null=False, null_values=[""], include_columns=keep),
    )


def first_width(data: bytes | memoryview, encoding: str) -> int:
    """Field count of the first non-empty line of ``data`` (0: none in its first 64 lines).
    The line is read whole, however long: cut short, a long quoted field would be left open.
    Raises pyarrow's ArrowInvalid when the line is no CSV it can read."""
    start = 0
    for _ in range(64):
        end = _line_end(data, start)
        line = bytes(data[start:end])
        if line.strip():
            table = pacsv.read_csv(pa.py_buffer(line + b"\n"), read_options=pacsv.ReadOptions(
                autogenerate_column_names=True, encoding=encoding, block_size=len(line) + 2))
            return table.num_columns
        if end >= len(data):
            break
        start = end + 1
    return 0


def _line_end(data: bytes | memoryview, start: int) -> int:
    """The offset of the first newline from ``start`` (the data's length when none), looked for
    in the next 64 KiB before the rest: a block is megabytes, its lines are short."""
    near = bytes(data[start:start + 65536]).find(b"\n")
    if near >= 0:
        return start + near
    far = bytes(data[start:]).find(b"\n")
    return len(data) if far < 0 else start + far


def parse_block(block: Block, first_line: int, widths: t.Collection[int], origin: str,
                entity: str, rejects: list[RawReject], encoding: str = "utf8", skip_lines: int = 0,
                bad_width: t.Callable[[int], str] | None = None,
                include: t.Callable[[int], t.Collection[int]] | None = None,
                ) -> tuple[dict[int, pa.Table], int]:
    """Parse a block into one text table per field count, each with its line numbers (``__row``).

    The block starts on line ``first_line``; its main field count is its first
    line's; lines with another count in ``widths`` are parsed in a second,
    vectorised pass; any other count is a reject (``bad_width(n)`` words the
    reason). Blank lines are skipped. ``include(width)`` limits the columns read
    (by position). Returns the tables by field count and the lines the block held.
    """
    data = block.data
    try:
        width = first_width(data, encoding)
    except pa.ArrowInvalid as exc:
        raise CollectError(f"{origin}: cannot read as CSV near line {first_line}: {exc}."
                           " If the file is not UTF-8, set 'encoding:'.") from None
    if not width:
        return {}, bytes(data).count(b"\n") + (0 if bytes(data[-1:]) == b"\n" else 1)
    bad: list[tuple[int | None, str]] = []

    def on_invalid(row) -> str:
        bad.append((row.number, row.text or ""))
        return "skip"

    def read(threads: bool):
        try:
            return _read(data, width, encoding, threads, on_invalid, skip_lines,
                         include(width) if include else None)
        except pa.ArrowInvalid as exc:
            raise CollectError(f"{origin}: cannot read as CSV near line {first_line}: {exc}."
                               " If the file is not UTF-8, set 'encoding:'.") from None

    table = read(True)
    first = first_line + skip_lines
    rows = np.arange(first, first + table.num_rows, dtype=np.int64)
    if bad:
        # Rare path: row numbers of skipped lines are only known to a single-threaded read.
        bad.clear()
        table = read(False)
        rows = np.arange(first, first + table.num_rows, dtype=np.int64)
        for number, _ in sorted(bad, key=lambda b: b[0] or 0):
            rows[rows >= first_line + number - 1] += 1  # numbers count skipped lines too
    lines = skip_lines + table.num_rows + len(bad)
    out = {width: table.append_column(ROW_COLUMN, pa.array(rows))}
    by_width: dict[int, list[tuple[int, str]]] = {}
    for number, text in bad:
        line = first_line + (number or 1) - 1
        try:
            n = first_width(text.encode("utf-8", "surrogateescape") + b"\n", "utf8") if text else 0
        except pa.ArrowInvalid:
            n = 0           # rejected below all the same, as a line of no fields it can count
        if n in widths and n != width:
            by_width.setdefault(n, []).append((line, text))
        else:
            reason = bad_width(n) if bad_width else f"found {n} fields"
            rejects.append(RawReject(origin, line, "", text[:200], reason, entity))
    for n, items in by_width.items():
        extra = _read("\n".join(text for _, text in items).encode() + b"\n", n, "utf8", True, None,
                      include=include(n) if include else None)
        extra = extra.append_column(ROW_COLUMN, pa.array([line for line, _ in items], pa.int64()))
        out[n] = pa.concat_tables([out[n], extra]) if n in out else extra
    for n, part in list(out.items()):
        out[n] = _drop_blank(part)
    return out, lines


def _drop_blank(table: pa.Table) -> pa.Table:
    """Blank lines read as rows of nulls: leave them out."""
    cols = [c for c in table.column_names if c != ROW_COLUMN]
    if not table.num_rows or table.column(cols[0]).null_count == 0:
        return table
    blank = pc.is_null(table.column(cols[0]))
    for c in cols[1:]:
        blank = pc.and_(blank, pc.is_null(table.column(c)))
    return table.filter(pc.invert(blank))


# -- values ---------------------------------------------------------------------------------
#
# Times and whole numbers are handed to the engine already typed (naive UTC
# timestamps, int64): it checks them without parsing text again. A value that
# does not parse becomes a reject here, with the line and the text as written.

_NULL_STR = pa.scalar(None, pa.string())


def empty_to_null(col):
    return pc.if_else(pc.equal(col, ""), _NULL_STR, col)


def parse_times(col, fmt: str = "%Y-%m-%d %H:%M:%S"):
    """Text ``YYYY-MM-DD HH:MM:SS`` → naive timestamp[s]; NULL where it does not parse."""
    try:
        return pc.cast(col, pa.timestamp("s"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pc.strptime(col, format=fmt, unit="s", error_is_null=True)


def to_utc(ts, tz: str | None):
    """Naive wall-clock timestamps in ``tz`` (None: already UTC) → naive UTC timestamps.

    In the hour repeated when clocks go back the earlier (summer-time) instant
    is taken; a time in the hour skipped when they go forward is read as after it.
    """
    if tz is None:
        return ts
    aware = pc.assume_timezone(ts, tz, ambiguous="earliest", nonexistent="latest")
    return aware.cast(pa.timestamp("s", "UTC")).cast(pa.timestamp("s"))


def parse_ints(col):
    """Text → int64; NULL where empty or not a whole number."""
    try:
        return pc.cast(col, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        ok = pc.match_substring_regex(col, r"^[+-]?[0-9]{1,18}$")
        return pc.cast(pc.if_else(ok, col, _NULL_STR), pa.int64())


def epochs(col):
    """UTC epoch seconds as text → naive UTC timestamps; 0 and empty (not set) are NULL."""
    n = parse_ints(col)
    return pc.if_else(pc.greater(n, 0), n, pa.scalar(None, pa.int64())).cast(pa.timestamp("s"))


def unparsed(raw, parsed, required: bool = False):
    """Mask of values written but not understood (and, if ``required``, of missing ones)."""
    written = pc.fill_null(pc.not_equal(raw, ""), False)
    bad = pc.and_(written, pc.is_null(parsed))
    if required:
        bad = pc.or_(bad, pc.invert(written))
    return pc.fill_null(bad, True)


def reject_masked(rejects: list[RawReject], origin: str, table: pa.Table, mask, field: str,
                  raw, reason: str, entity: str = "calls") -> None:
    """Add a reject for every row where ``mask`` is true (few rows: the bad ones)."""
    if not pc.any(mask).as_py():
        return
    rows = pc.filter(table.column(ROW_COLUMN), mask).to_pylist()
    values = pc.filter(raw, mask).to_pylist()
    rejects.extend(RawReject(origin, r, field, (v or "")[:200], reason, entity)
                   for r, v in zip(rows, values, strict=True))


def ipv4_from_signed_le(col):
    """CUCM's IP address form — a signed 32-bit integer whose low byte is the first
    octet (``1633878282`` = 0x6163010A → ``10.1.99.97``) — to dotted quad text.

    0 and empty are NULL; text that is not such an integer is kept as it is.
    """
    n = parse_ints(col)
    n = pc.if_else(pc.or_kleene(pc.less(n, -(1 << 31)), pc.greater_equal(n, 1 << 32)),
                   pa.scalar(None, pa.int64()), n)
    u = pc.bit_wise_and(n, 0xFFFFFFFF)
    octets = [pc.cast(pc.bit_wise_and(pc.shift_right(u, 8 * i), 0xFF), pa.string()) for i in range(4)]
    quad = pc.binary_join_element_wise(*octets, ".")
    quad = pc.if_else(pc.equal(n, 0), _NULL_STR, quad)
    return pc.if_else(pc.is_null(n), empty_to_null(col), quad)


#: The ``line_by`` setting every CDR collector takes: which number of a call names the
#: estate's line, so that identity resolution (by ``lines.number``) ties calls to lines.
LINE_BY_SCHEMA = {
    "enum": ["auto", "source", "destination", "none"],
    "description": "Which number names the estate's line: auto (inbound calls: destination; "
                   "outbound and internal: source; unknown direction: none), source, "
                   "destination, or none",
}


#: The ``default_region`` setting of the CDR collectors: the country whose national numbers
#: the PBX writes (``3125550100`` read in US is +13125550100).
DEFAULT_REGION_SCHEMA = REGION_SCHEMA
#: The ``direction_by_context`` setting: a dialplan context → the call's direction.
DIRECTION_BY_CONTEXT_SCHEMA = {
    "type": "object",
    "additionalProperties": {"enum": ["inbound", "outbound", "internal"]},
    "description": "dialplan context → call direction",
}


def by_context(context, mapping: dict[str, str], n: int):
    """The direction each call's context names in ``mapping`` (NULL where none does)."""
    direction = pa.nulls(n, pa.string())
    if context is None:
        return direction
    for name, value in mapping.items():
        direction = pc.if_else(pc.fill_null(pc.equal(context, name), False), value, direction)
    return direction


def _extension(col):
    """Mask of the values that are internal extensions (3 to 6 digits), not phone numbers."""
    return pc.fill_null(pc.match_substring_regex(col, f"^{SHORT_EXTENSION.pattern}$"), False)


def complete_direction(direction, source, destination, n: int):
    """Fill in what the two parties' numbers say for certain.

    A call between two internal extensions is ``internal``, whatever its context says
    (an extension dialling another from the context of outbound calls); where the
    direction is still unknown, an extension calling a phone number is ``outbound`` and
    a phone number calling an extension ``inbound``. Two phone numbers (a call that
    came in on a DID, or went out with the DID as caller ID) say nothing: the direction
    stays unknown unless the configuration gives it.
    """
    if source is None or destination is None:
        return direction if direction is not None else pa.nulls(n, pa.string())
    direction = direction if direction is not None else pa.nulls(n, pa.string())
    src_ext, dst_ext = _extension(source), _extension(destination)
    src_num, dst_num = is_number(source), is_number(destination)
    direction = pc.if_else(pc.and_(src_ext, dst_ext), "internal", direction)
    unknown = pc.is_null(direction)
    direction = pc.if_else(pc.and_(unknown, pc.and_(src_ext, dst_num)), "outbound", direction)
    return pc.if_else(pc.and_(unknown, pc.and_(src_num, dst_ext)), "inbound", direction)


def with_numbers(columns: dict, region: str | None) -> dict:
    """``source`` and ``destination`` in E.164 (read in ``region``), their countries and (US,
    Canada) states or provinces; each distinct number is parsed and placed once."""
    for party in ("source", "destination"):
        col = columns.get(party)
        if col is None:
            continue
        col = normalise_numbers(empty_to_null(col), region)
        columns[party] = col
        columns[f"{party}_country"], columns[f"{party}_region"] = number_places(col)
    return columns


class DirectionCount:
    """Counts, over a source's chunks, the calls whose direction stayed unknown, and what
    their contexts were, for one warning at the end (the settings that would fix it)."""

    def __init__(self) -> None:
        self.unknown = 0
        self.contexts: dict[str, int] = {}

    def add(self, direction, context=None) -> None:
        unknown = pc.is_null(direction)
        n = pc.sum(unknown).as_py() or 0
        self.unknown += n
        if n and context is not None:
            for item in pc.value_counts(pc.filter(context, unknown)).to_pylist():
                name = item["values"] if item["values"] is not None else ""
                self.contexts[name] = self.contexts.get(name, 0) + item["counts"]

    def warning(self, setting: str | None) -> str | None:
        if not self.unknown:
            return None
        text = (f"{self.unknown} call(s) have no direction (both parties are phone numbers, or "
                "neither is), so they name no line with line_by: auto")
        if self.contexts:
            top = sorted(self.contexts.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
            text += "; their contexts: " + ", ".join(f"{k or '(empty)'} ({v})" for k, v in top)
        if setting:
            text += f". Set {setting} (or line_by)"
        return text


#: The ``extension_number`` setting every CDR collector takes: the phone number of an extension,
#: so that a call an extension places is tied to its DID's line.
EXTENSION_NUMBER_SCHEMA = {
    "type": "string", "pattern": "^[^{}]*\\{ext\\}[^{}]*$",
    "description": "The phone number of an internal extension, its digits in place of {ext}: "
                   "+1312555{ext} where each DID's last four digits are its extension",
}


def extension_numbers(value, template: str | None):
    """Extensions (3 to 6 digits) written as the numbers ``template`` gives them; the rest as is."""
    if template is None or value is None:
        return value
    before, _, after = template.partition("{ext}")
    numbers = pc.binary_join_element_wise(pa.scalar(before), value, pa.scalar(after), "")
    return pc.if_else(_extension(value), numbers, value)


def line_reference(mode: str, columns: dict,
                   extension_number: str | None = None) -> pa.Array | pa.ChunkedArray | None:
    """``calls.line_id`` (a number, resolved to a line when the snapshot is built), or None.
    With ``extension_number``, an extension names the line of its number."""
    return extension_numbers(_line_reference(mode, columns), extension_number)


def _line_reference(mode: str, columns: dict) -> pa.Array | pa.ChunkedArray | None:
    source, destination = columns.get("source"), columns.get("destination")
    if mode == "none":
        return None
    if mode == "source":
        return source
    if mode == "destination":
        return destination
    direction = columns.get("direction")
    if direction is None or source is None:
        return None
    inbound = pc.fill_null(pc.equal(direction, "inbound"), False)
    outward = pc.fill_null(pc.is_in(direction, pa.array(["outbound", "internal"])), False)
    none = pa.nulls(len(source), pa.string())
    chosen = pc.if_else(outward, source, none)
    if destination is not None:
        chosen = pc.if_else(inbound, destination, chosen)
    return chosen
