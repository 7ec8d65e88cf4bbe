"""The ``asterisk`` collector: Asterisk ``cdr_csv`` Master.csv → ``calls``, incrementally.

::

    sources:
      pbx:
        collector: asterisk
        path: /var/log/asterisk/cdr-csv/Master.csv
        timezone: America/Chicago   # Asterisk writes local time unless usegmtime=yes

The file has no header. ``cdr_csv.c`` (``build_csv_record``) writes 16 columns
(accountcode, src, dst, dcontext, clid, channel, dstchannel, lastapp, lastdata,
start, answer, end, duration, billsec, disposition, amaflags), then uniqueid
(``loguniqueid``), userfield (``loguserfield``) and peeraccount, linkedid,
sequence (``newcdrcolumns``). Strings are quoted with ``""`` escaping, numbers
are bare, an unset time (no answer) is an empty bare field.

Incremental: the collector remembers, in its state folder, how far it read the
file and a fingerprint of the file's first bytes. A run reads only the lines
added since; a file that is shorter than that position or starts differently
was rotated or truncated and is read from its start (after reading the end of
the old file, if it is still beside it). Every row read is kept, as read, in a
Parquet part in the state folder, so every snapshot holds all the calls ever
read — nothing twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dialtone.engine.collector_api import ROW_COLUMN, RawBatch, RawReject, SourceData, settings_schema
from dialtone.engine.errors import CollectError
from dialtone.engine.phone import check_region
from dialtone.engine.snapshots import iter_parquet

from .cdr import (
    DEFAULT_REGION_SCHEMA,
    DIRECTION_BY_CONTEXT_SCHEMA,
    EXTENSION_NUMBER_SCHEMA,
    LINE_BY_SCHEMA,
    TIMEZONE_SCHEMA,
    Block,
    DirectionCount,
    by_context,
    check_encoding,
    check_timezone,
    complete_direction,
    line_reference,
    parse_block,
    parse_ints,
    parse_times,
    read_blocks,
    reject_masked,
    to_utc,
    unparsed,
    with_numbers,
)

BASE_COLUMNS = ("accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp",
                "lastdata", "start", "answer", "end", "duration", "billsec", "disposition", "amaflags")
UNIQUEID, USERFIELD = ("uniqueid",), ("userfield",)
NEW_COLUMNS = ("peeraccount", "linkedid", "sequence")
ALL_COLUMNS = BASE_COLUMNS + UNIQUEID + USERFIELD + NEW_COLUMNS
#: The columns the calls are made of (the others are not read).
USED = ("src", "dst", "dcontext", "channel", "dstchannel", "start", "duration", "billsec",
        "disposition", "uniqueid", "sequence")
#: Field count → columns, when the cdr.conf options are not given (17 and 20 are ambiguous).
AUTO_LAYOUTS = {
    16: BASE_COLUMNS,
    18: BASE_COLUMNS + UNIQUEID + USERFIELD,
    19: BASE_COLUMNS + NEW_COLUMNS,
    21: ALL_COLUMNS,
}
#: What the state keeps of each row: what the calls need, parsed but not yet interpreted
#: (times as written, in the PBX's wall clock), so changed settings apply to every row.
PART_SCHEMA = pa.schema([
    ("id", pa.string()), ("start", pa.timestamp("s")), ("duration", pa.int64()),
    ("billsec", pa.int64()), ("src", pa.string()), ("dst", pa.string()),
    ("dcontext", pa.string()), ("disposition", pa.string()), (ROW_COLUMN, pa.int64()),
])
#: Bytes of the file's start remembered to recognise it on the next run.
HEAD_BYTES = 4096
#: Rows per chunk handed to the engine.
CHUNK_ROWS = 1 << 19
STATE_VERSION = 1


def layout_for(loguniqueid: bool, loguserfield: bool, newcdrcolumns: bool) -> tuple[str, ...]:
    return (BASE_COLUMNS + (UNIQUEID if loguniqueid else ()) + (USERFIELD if loguserfield else ())
            + (NEW_COLUMNS if newcdrcolumns else ()))


@dataclass
class _Read:
    """What one run read from one file."""

    origin: str
    path: Path
    start: int
    end: int
    lines: int          # lines read so far in this file
    rows: int
    rejects: list[RawReject]
    part: str | None


class AsteriskCollector:
    """Asterisk ``cdr_csv`` Master.csv, read incrementally into ``calls``."""

    config_schema = settings_schema(
        required=["path"],
        properties={
            "path": {"type": "string", "minLength": 1,
                     "description": "The cdr_csv file, e.g. /var/log/asterisk/cdr-csv/Master.csv"},
            "timezone": TIMEZONE_SCHEMA,
            "usegmtime": {"type": "boolean", "description": "cdr.conf usegmtime: times are UTC"},
            "loguniqueid": {"type": "boolean"},
            "loguserfield": {"type": "boolean"},
            "newcdrcolumns": {"type": "boolean"},
            "encoding": {"type": "string", "minLength": 1},
            "line_by": LINE_BY_SCHEMA,
            "extension_number": EXTENSION_NUMBER_SCHEMA,
            "direction_by_context": DIRECTION_BY_CONTEXT_SCHEMA,
            "default_region": DEFAULT_REGION_SCHEMA,
        },
        # Asterisk writes local time unless usegmtime=yes: the zone must be said.
        **{"if": {"not": {"required": ["usegmtime"], "properties": {"usegmtime": {"const": True}}}},
           "then": {"required": ["timezone"]}},
    )
    secret_settings = ()
    #: What a collect can fill (docs/collectors/asterisk.md, "What it feeds").
    fills = {"calls": ("id", "line_id", "started_at", "duration_s", "billable_s", "direction", "source",
                       "destination", "source_country", "source_region", "destination_country",
                       "destination_region", "disposition")}
    stateful = True

    def __init__(self, source: str, settings: dict, base_dir: Path, state_dir: Path | None = None):
        self.source = source
        self.settings = settings
        self.path = (base_dir / settings["path"]).resolve()
        self.state_dir = state_dir or (base_dir / ".dialtone" / "collector-state" / source)
        self.tz = None if settings.get("usegmtime") else settings.get("timezone")
        check_timezone(source, self.tz)
        self.encoding = check_encoding(source, settings.get("encoding", "utf-8"))
        flags = [k for k in ("loguniqueid", "loguserfield", "newcdrcolumns") if k in settings]
        if flags:
            cols = layout_for(*(bool(settings.get(k)) for k in
                                ("loguniqueid", "loguserfield", "newcdrcolumns")))
            self.layouts = {len(cols): cols}
        else:
            self.layouts = dict(AUTO_LAYOUTS)
        self.directions = settings.get("direction_by_context", {})
        self.line_by = settings.get("line_by", "auto")
        self.extension_number = settings.get("extension_number")
        self.region = check_region(source, settings.get("default_region"))

    # -- entry point -----------------------------------------------------------------------
    def collect(self) -> SourceData:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "parts").mkdir(exist_ok=True)
        data = SourceData()
        with self._locked():
            state = self._load_state()
            before = json.dumps(state.get("file"), sort_keys=True)
            reads = self._read_new(state, data)
            for r in reads:
                if r.part is not None or r.rejects:
                    state["parts"].append({
                        "file": r.part, "origin": r.origin, "rows": r.rows,
                        "bytes": [r.start, r.end],
                        "read_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "rejects": [[j.row, j.field, j.value, j.reason] for j in r.rejects],
                    })
            if reads or json.dumps(state.get("file"), sort_keys=True) != before:
                self._save_state(state)
        files = [p for p in state["parts"] if p["file"]]
        count = DirectionCount()
        for part in state["parts"]:
            data.rejects += [RawReject(part["origin"], row, field, value, reason, "calls")
                             for row, field, value, reason in part["rejects"]]
            if part["file"]:
                last = part is files[-1]
                data.batches.append(RawBatch.streamed(
                    "calls", part["origin"], self._chunks(self.state_dir / "parts" / part["file"],
                                                          data, count, last)))
        return data

    # -- reading the file ------------------------------------------------------------------
    def _read_new(self, state: dict, data: SourceData) -> list[_Read]:
        """Read what the file gained since the last run; update ``state['file']``."""
        known = state.get("file")
        if not self.path.exists():
            if not known:
                raise CollectError(f"source '{self.source}': {self.path} does not exist")
            data.warnings.append(f"{self.path} does not exist (rotated away?); keeping the "
                                 f"{sum(p['rows'] for p in state['parts'])} calls already read")
            return []
        if self.path.is_dir():
            raise CollectError(f"source '{self.source}': {self.path} is a folder; "
                               "'path' is the cdr_csv file, e.g. .../cdr-csv/Master.csv")
        # Asterisk appends to Master.csv while it is read: it may grow, not shrink or be replaced.
        data.watch(self.path, growing=True)
        st = self.path.stat()
        reads = []
        if known and st.st_size >= known["offset"] and self._head(self.path, known["head_len"]) \
                == known["head"]:
            start, lines, generation = known["offset"], known["lines"], known["generation"]
        else:
            generation = 1
            if known:
                generation = known["generation"] + 1
                old = self._rotated(known)
                why = ("truncated" if st.st_ino == known["ino"] and st.st_size < known["offset"]
                       else "rotated or replaced")
                if old is not None:
                    data.warnings.append(f"{self.path.name} was {why} since the last run; read the "
                                         f"rest of the old file from {old.name}, then the new one")
                    reads.append(self._read(old, known["generation"], known["offset"],
                                            known["lines"], st_end=old.stat().st_size, data=data))
                else:
                    data.warnings.append(
                        f"{self.path.name} was {why} since the last run; reading it from the start "
                        "(lines written to the old file after the last run were not found beside it)")
            start, lines = 0, 0
        if st.st_size > start:
            r = self._read(self.path, generation, start, lines, st_end=st.st_size, data=data)
            reads.append(r)
            end, lines = r.end, r.lines
        else:
            end = start
        if end or known:
            head_len = min(end, HEAD_BYTES)
            state["file"] = {"dev": st.st_dev, "ino": st.st_ino, "offset": end, "lines": lines,
                             "head_len": head_len, "head": self._head(self.path, head_len),
                             "generation": generation, "path": str(self.path)}
        return reads

    def _read(self, path: Path, generation: int, start: int, lines: int, st_end: int,
              data: SourceData) -> _Read:
        origin = self.path.name if generation == 1 else f"{self.path.name}#{generation}"
        digest = hashlib.sha256()
        rejects: list[RawReject] = []
        part_name = f"{uuid.uuid4().hex}.parquet"
        tmp = self.state_dir / "parts" / f".tmp-{part_name}"
        rows, end, writer = 0, start, None
        ns = [str(n) for n in sorted(self.layouts)]
        widths = ns[0] if len(ns) == 1 else ", ".join(ns[:-1]) + " or " + ns[-1]
        try:
            for block in read_blocks(path, start, st_end, complete_only=True, digest=digest):
                end = block.end
                table, n = self._parse(block, lines + 1, origin, rejects, widths)
                lines += n
                if table is None or not table.num_rows:
                    continue
                if writer is None:
                    writer = pq.ParquetWriter(tmp, PART_SCHEMA, compression="lz4",
                                              use_dictionary=["src", "dst", "dcontext", "disposition"])
                writer.write_table(table)
                rows += table.num_rows
        except BaseException:
            if writer is not None:
                writer.close()
            tmp.unlink(missing_ok=True)
            raise
        part = None
        if writer is not None:
            writer.close()
            with tmp.open("rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, self.state_dir / "parts" / part_name)
            part = part_name
        if end > start:
            data.inputs[f"{path.name} bytes {start}-{end}"] = digest.hexdigest()
        return _Read(origin, path, start, end, lines, rows, rejects, part)

    def _parse(self, block: Block, first_line: int, origin: str, rejects: list[RawReject],
               widths: str) -> tuple[pa.Table | None, int]:
        def bad_width(n: int) -> str:
            if n in (17, 20) and len(self.layouts) > 1:
                return (f"{n} fields: set loguniqueid, loguserfield and newcdrcolumns as in "
                        "cdr.conf to say which optional columns the file has")
            return f"expected {widths} fields (Asterisk cdr_csv), found {n}"

        def include(width: int) -> list[int]:
            cols = self.layouts.get(width)
            return [cols.index(c) for c in USED if c in cols] if cols else list(range(width))

        tables, lines = parse_block(block, first_line, self.layouts, origin, "calls", rejects,
                                    self.encoding, bad_width=bad_width, include=include)
        out = []
        for width, table in tables.items():
            cols = self.layouts.get(width)
            if cols is None:
                # The block's main width is not an Asterisk layout: every row is a reject.
                rows = table.column(ROW_COLUMN).to_pylist()
                rejects.extend(RawReject(origin, r, "", "", bad_width(width), "calls") for r in rows)
                continue
            named = {c: table.column(f"c{cols.index(c)}") for c in USED if c in cols}
            out.append(self._part(table, named, origin, rejects))
        return (pa.concat_tables(out) if out else None), lines

    @staticmethod
    def _part(table: pa.Table, named: dict, origin: str, rejects: list[RawReject]) -> pa.Table:
        """One layout's rows → the part's columns; rows whose times or numbers do not parse
        become rejects."""
        start = parse_times(named["start"])
        duration, billsec = parse_ints(named["duration"]), parse_ints(named["billsec"])
        checks = [("start", named["start"], unparsed(named["start"], start, required=True),
                   "expected the call's start time, YYYY-MM-DD HH:MM:SS"),
                  ("duration", named["duration"], unparsed(named["duration"], duration),
                   "expected whole seconds"),
                  ("billsec", named["billsec"], unparsed(named["billsec"], billsec),
                   "expected whole seconds")]
        bad = None
        for field, raw, mask, reason in checks:
            reject_masked(rejects, origin, table, mask, field, raw, reason)
            bad = mask if bad is None else pc.or_(bad, mask)
        uid = named.get("uniqueid")
        seq = named.get("sequence")
        fallback = pc.binary_join_element_wise(named["channel"], named["start"], "/")
        if uid is None:
            ids = fallback
        else:
            with_seq = uid if seq is None else pc.binary_join_element_wise(uid, seq, "/")
            ids = pc.if_else(pc.fill_null(pc.not_equal(uid, ""), False), with_seq, fallback)
        if seq is None:
            # Asterisk 12+ writes one record per party B of a call (each extension a ring group
            # rang), all with party A's uniqueid, channel and start; only the sequence
            # (newcdrcolumns) numbers them. Without it the first record written kept the id and
            # the answered one could be the duplicate rejected. So a leg not answered is named
            # by its party B channel too; the answered leg keeps the uniqueid, by which a
            # recorder (MixMonitor) names the call.
            leg = named["dstchannel"]
            unanswered = pc.fill_null(pc.and_(pc.not_equal(leg, ""),
                                              pc.not_equal(named["disposition"], "ANSWERED")), False)
            ids = pc.if_else(unanswered, pc.binary_join_element_wise(ids, leg, "/"), ids)
        part = pa.table([ids, start, duration, billsec, named["src"], named["dst"],
                         named["dcontext"], named["disposition"], table.column(ROW_COLUMN)],
                        schema=PART_SCHEMA)
        return part.filter(pc.invert(bad)) if pc.any(bad).as_py() else part

    # -- rows → calls ----------------------------------------------------------------------
    def _chunks(self, part: Path, data: SourceData | None = None, count: DirectionCount | None = None,
                last: bool = False):
        def chunks():
            for table in iter_parquet(part, CHUNK_ROWS):
                calls = self.to_calls(table)
                if count is not None:
                    count.add(calls.column("direction"), table.column("dcontext"))
                yield calls
            # The last part read ends the source: one warning for all of its calls.
            warning = count.warning("direction_by_context") if count is not None and last else None
            if warning and data is not None and self.line_by == "auto":
                data.warnings.append(warning)
        return chunks

    def to_calls(self, t: pa.Table) -> pa.Table:
        """A state part's rows → calls fields, vectorised: times to UTC, numbers to E.164 and
        placed, direction by context (and by the parties where the context says nothing).

        Dispositions go as Asterisk wrote them (``ANSWERED``, ``NO ANSWER``…): the engine's
        vocabulary makes them ``answered``, ``no_answer``…"""
        cols = with_numbers({
            "id": t.column("id"),
            "started_at": to_utc(t.column("start"), self.tz),
            "duration_s": t.column("duration"),
            "billable_s": t.column("billsec"),
            "source": t.column("src"),
            "destination": t.column("dst"),
            "disposition": t.column("disposition"),
        }, self.region)
        cols["direction"] = complete_direction(
            by_context(t.column("dcontext"), self.directions, t.num_rows),
            cols["source"], cols["destination"], t.num_rows)
        line = line_reference(self.line_by, cols, self.extension_number)
        if line is not None:
            cols["line_id"] = line
        cols[ROW_COLUMN] = t.column(ROW_COLUMN)
        return pa.table(cols)

    # -- state -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self):
        with (self.state_dir / ".lock").open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise CollectError(f"source '{self.source}': another collect is reading it "
                                   f"(lock {self.state_dir / '.lock'})") from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _load_state(self) -> dict:
        f = self.state_dir / "state.json"
        if not f.exists():
            return {"version": STATE_VERSION, "parts": []}
        try:
            state = json.loads(f.read_text(encoding="utf-8"))
            assert state["version"] == STATE_VERSION and isinstance(state["parts"], list)
        except (ValueError, KeyError, AssertionError) as exc:
            raise CollectError(
                f"source '{self.source}': unreadable state {f} ({exc!r}). Delete {self.state_dir} "
                "to read the file again from its start (calls no longer in it are then lost)"
            ) from None
        for part in state["parts"]:
            if part["file"] and not (self.state_dir / "parts" / part["file"]).exists():
                raise CollectError(f"source '{self.source}': state part {part['file']} is missing "
                                   f"from {self.state_dir / 'parts'}")
        return state

    def _save_state(self, state: dict) -> None:
        f = self.state_dir / "state.json"
        tmp = f.with_name(f".state-{uuid.uuid4().hex}.json")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, f)
        keep = {p["file"] for p in state["parts"] if p["file"]}
        for stray in (self.state_dir / "parts").iterdir():
            if stray.name not in keep:  # parts of runs that failed before saving the state
                stray.unlink(missing_ok=True)

    @staticmethod
    def _head(path: Path, n: int) -> str:
        with path.open("rb") as fh:
            return hashlib.sha256(fh.read(n)).hexdigest()

    def _rotated(self, known: dict) -> Path | None:
        """The old file beside the current one (renamed or copied by the rotation), if any."""
        candidates = []
        for f in self.path.parent.iterdir():
            if f == self.path or not f.is_file() or f.name.startswith("."):
                continue
            try:
                st = f.stat()
            except OSError:
                continue
            if st.st_size < known["offset"] or st.st_size > (1 << 40):
                continue
            same_inode = (st.st_ino, st.st_dev) == (known["ino"], known["dev"])
            if (same_inode or f.name.startswith(self.path.name)) \
                    and self._head(f, known["head_len"]) == known["head"]:
                candidates.append((not same_inode, f.name, f))
        return min(candidates)[2] if candidates else None

