"""The ``cucm`` collector: Cisco Unified CM CDR flat files → ``calls``.

::

    sources:
      cucm:
        collector: cucm
        path: /srv/cdr/cucm        # a folder of cdr_* files (from the billing server), or one file

A CDR file (``cdr_<cluster>_<node>_<YYYYMMDDhhmm>_<seq>``) has a line of
column names, a line of column types (``INTEGER``, ``VARCHAR(50)``…), then one
line per record. Fields are read by name, since every release adds some.
Times are UTC epoch seconds (0: never happened, e.g. ``dateTimeConnect`` of a
call not answered); IP addresses are signed 32-bit integers whose low byte is
the first octet, turned into dotted quads. Only end-of-call records
(``cdrRecordType`` 1) are calls; CMR files (``cmr_*``) are not read.

CUCM records carry no direction. The parties' numbers tell it where they can: an
extension calling a phone number is outbound, a phone number calling an extension
inbound, two extensions internal; calls between two full numbers (a globalized dial
plan, +E.164 directory numbers) stay without one, and a warning says how many.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from dialtone.engine.collector_api import ROW_COLUMN, RawBatch, RawReject, SourceData, settings_schema
from dialtone.engine.completeness import require_complete_last_line
from dialtone.engine.errors import CollectError
from dialtone.engine.phone import check_region, normalise_numbers
from dialtone.engine.snapshots import sha256_file

from .cdr import (
    DEFAULT_REGION_SCHEMA,
    EXTENSION_NUMBER_SCHEMA,
    LINE_BY_SCHEMA,
    DirectionCount,
    check_encoding,
    complete_direction,
    empty_to_null,
    epochs,
    extension_numbers,
    input_files,
    ipv4_from_signed_le,
    line_reference,
    parse_block,
    parse_ints,
    read_blocks,
    reject_masked,
    unparsed,
    with_numbers,
)

REQUIRED = ("cdrRecordType", "globalCallID_callManagerId", "globalCallID_callId",
            "dateTimeOrigination", "callingPartyNumber", "dateTimeConnect", "dateTimeDisconnect",
            "duration")
OPTIONAL = ("pkid", "origLegCallIdentifier", "originalCalledPartyNumber", "finalCalledPartyNumber",
            "origIpAddr", "destIpAddr", "origCause_value", "destCause_value")
END_OF_CALL = "1"
#: Q.850 causes of a call that was not connected → the estate's disposition (a connected call is
#: ``answered``; other causes are ``failed``).
BUSY_CAUSES = ("17",)
NO_ANSWER_CAUSES = ("0", "16", "18", "19", "31")


class CucmCollector:
    """Cisco CUCM CDR flat files, parsed by header name."""

    config_schema = settings_schema(
        required=["path"],
        properties={
            "path": {"type": "string", "minLength": 1,
                     "description": "A folder of cdr_* files, or one CDR file"},
            "files": {"type": "string", "minLength": 1,
                      "description": "In a folder, the files to read (glob; default cdr_*)"},
            "encoding": {"type": "string", "minLength": 1},
            "line_by": LINE_BY_SCHEMA,
            "extension_number": EXTENSION_NUMBER_SCHEMA,
            "default_region": DEFAULT_REGION_SCHEMA,
        },
    )
    secret_settings = ()
    #: What a collect can fill (docs/collectors/cucm.md, "What it feeds").
    fills = {"calls": ("id", "line_id", "started_at", "duration_s", "billable_s", "direction", "source",
                       "destination", "source_ip", "destination_ip", "source_country", "source_region",
                       "destination_country", "destination_region", "disposition", "forwarded_from")}

    def __init__(self, source: str, settings: dict, base_dir: Path):
        self.source = source
        self.path = (base_dir / settings["path"]).resolve()
        self.pattern = settings.get("files", "cdr_*")
        self.encoding = check_encoding(source, settings.get("encoding", "utf-8"))
        self.line_by = settings.get("line_by", "auto")
        self.extension_number = settings.get("extension_number")
        self.region = check_region(source, settings.get("default_region"))

    def collect(self) -> SourceData:
        files = input_files(self.source, self.path, self.pattern)
        data = SourceData()
        self.count = DirectionCount()
        for f in files:
            header = self._header(f)
            if header is None:
                data.warnings.append(f"{f.name}: empty file")
                continue
            data.watch(f)
            require_complete_last_line(f)
            data.inputs[f.name] = sha256_file(f)
            data.batches.append(RawBatch.streamed("calls", f.name,
                                                  self._chunks(f, header, data, f == files[-1])))
        return data

    def _header(self, path: Path) -> list[str] | None:
        with path.open("rb") as fh:
            first = fh.readline()
        if not first.strip():
            return None
        try:
            names = pacsv.read_csv(pa.py_buffer(first), read_options=pacsv.ReadOptions(
                encoding=self.encoding)).column_names
        except pa.ArrowInvalid as exc:
            raise CollectError(f"{path.name}: cannot read the header line: {exc}") from None
        missing = [c for c in REQUIRED if c not in names]
        if missing:
            raise CollectError(
                f"{path.name}: not a CUCM CDR file: no column(s) {', '.join(missing)} in its "
                f"header (it has {', '.join(names[:8])}{'…' if len(names) > 8 else ''})")
        return names

    def _chunks(self, path: Path, header: list[str], data: SourceData, last: bool = False):
        width = len(header)
        wanted = [header.index(c) for c in REQUIRED + OPTIONAL if c in header]
        index = {c: header.index(c) for c in REQUIRED + OPTIONAL if c in header}

        def chunks():
            line, skip = 1, 2   # the names and the types lines
            for block in read_blocks(path):
                tables, n = parse_block(
                    block, line, {width}, path.name, "calls", data.rejects, self.encoding,
                    skip_lines=skip,
                    bad_width=lambda k: f"expected {width} fields (as the header), found {k}",
                    include=lambda k: wanted if k == width else range(k))
                line, skip = line + n, 0
                table = tables.get(width)
                if table is not None and table.num_rows:
                    calls = self.to_calls(table, index, path.name, data)
                    if "direction" in calls.column_names:
                        self.count.add(calls.column("direction"))
                    yield calls
            warning = self.count.warning("line_by") if last else None
            if warning and self.line_by == "auto":
                data.warnings.append(warning)
        return chunks

    def to_calls(self, t: pa.Table, index: dict[str, int], origin: str, data: SourceData) -> pa.Table:
        """CDR fields (text) → calls fields, vectorised."""
        def col(name: str):
            return t.column(f"c{index[name]}") if name in index else None

        kind = col("cdrRecordType")
        calls = pc.fill_null(pc.equal(kind, END_OF_CALL), False)
        others = t.num_rows - (pc.sum(calls).as_py() or 0)
        if others:
            data.warnings.append(f"{origin}: {others} record(s) that are not end-of-call CDRs "
                                 "(cdrRecordType other than 1) left out")
            t = t.filter(calls)
        if not t.num_rows:
            return pa.table({"id": pa.array([], pa.string()), ROW_COLUMN: pa.array([], pa.int64())})
        rejects: list[RawReject] = data.rejects
        started = epochs(col("dateTimeOrigination"))
        connect = epochs(col("dateTimeConnect"))
        disconnect = epochs(col("dateTimeDisconnect"))
        duration = parse_ints(col("duration"))
        bad = None
        for name, parsed, reason, required in (
                ("dateTimeOrigination", started, "expected UTC epoch seconds", True),
                ("dateTimeConnect", connect, "expected UTC epoch seconds (0: not connected)", False),
                ("dateTimeDisconnect", disconnect, "expected UTC epoch seconds", False),
                ("duration", duration, "expected whole seconds", False)):
            raw = col(name)
            mask = unparsed(raw, parsed, required)
            if name in ("dateTimeConnect", "dateTimeDisconnect"):
                mask = pc.and_(mask, pc.not_equal(raw, "0"))
            reject_masked(rejects, origin, t, mask, name, raw, reason)
            bad = mask if bad is None else pc.or_(bad, mask)
        connected = pc.is_valid(connect)
        # CUCM's `duration` is the connected time (0 for a call never connected), so it is the
        # billable time, not the call's length: that runs from origination to disconnect.
        billable = pc.if_else(
            connected,
            pc.coalesce(_seconds(disconnect, connect), duration),
            pa.scalar(0, pa.int64()))
        total = _seconds(disconnect, started)
        pkid = col("pkid")
        composite = pc.binary_join_element_wise(
            col("globalCallID_callManagerId"), col("globalCallID_callId"),
            col("origLegCallIdentifier") if "origLegCallIdentifier" in index
            else pa.nulls(t.num_rows, pa.string()), "-")
        composite = pc.coalesce(composite, pc.binary_join_element_wise(
            col("globalCallID_callManagerId"), col("globalCallID_callId"), "-"))
        ids = composite if pkid is None else pc.coalesce(empty_to_null(pkid), composite)
        final = col("finalCalledPartyNumber")
        original = col("originalCalledPartyNumber")
        destination = (pc.coalesce(*(empty_to_null(c) for c in (final, original) if c is not None))
                       if final is not None or original is not None else None)
        cause = self._cause(col("destCause_value"), col("origCause_value"), t.num_rows)
        disposition = pc.if_else(
            connected, "answered",
            pc.if_else(pc.is_in(cause, pa.array(BUSY_CAUSES)), "busy",
                       pc.if_else(pc.is_in(cause, pa.array(NO_ANSWER_CAUSES)), "no_answer", "failed")))
        out = {
            "id": ids,
            "started_at": started,
            "duration_s": total,
            "billable_s": billable,
            "source": col("callingPartyNumber"),
            "disposition": disposition,
        }
        if destination is not None:
            out["destination"] = destination
        out = with_numbers(out, self.region)
        out["direction"] = complete_direction(None, out.get("source"), out.get("destination"), t.num_rows)
        if final is not None and original is not None:
            out["forwarded_from"] = self._forwarded_from(original, out["destination"])
        line = line_reference(self.line_by, out, self.extension_number)
        if line is not None:
            out["line_id"] = line
        for target, name in (("source_ip", "origIpAddr"), ("destination_ip", "destIpAddr")):
            if name in index:
                out[target] = ipv4_from_signed_le(col(name))
        out[ROW_COLUMN] = t.column(ROW_COLUMN)
        table = pa.table(out)
        return table.filter(pc.invert(bad)) if pc.any(bad).as_py() else table

    def _forwarded_from(self, original, destination):
        """The number first dialled, where the call was forwarded elsewhere (CUCM writes the
        original called party beside the final one): that line was called too, so a DID
        forwarded to a mobile is not idle. An extension becomes its number as the line does."""
        first = extension_numbers(normalise_numbers(empty_to_null(original), self.region),
                                  self.extension_number)
        final = extension_numbers(destination, self.extension_number)
        forwarded = pc.fill_null(pc.not_equal(first, final), False)
        return pc.if_else(forwarded, first, pa.nulls(len(first), pa.string()))

    @staticmethod
    def _cause(dest, orig, n: int):
        """The Q.850 cause that ended the call: the called side's, else the caller's."""
        none = pa.nulls(n, pa.string())
        dest = none if dest is None else pc.if_else(pc.equal(dest, "0"), none, empty_to_null(dest))
        orig = none if orig is None else empty_to_null(orig)
        return pc.fill_null(pc.coalesce(dest, orig), "0")


def _seconds(end, start):
    """Whole seconds from ``start`` to ``end`` (timestamps); NULL where either is unknown or the
    clocks of two nodes put the end first."""
    span = pc.cast(pc.subtract(end, start), pa.int64())
    return pc.if_else(pc.less(span, 0), pa.scalar(None, pa.int64()), span)
