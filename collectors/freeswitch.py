"""The ``freeswitch`` collector: FreeSWITCH ``mod_cdr_csv`` files → ``calls``.

::

    sources:
      fs:
        collector: freeswitch
        path: /var/log/freeswitch/cdr-csv      # Master.csv and its rotations, or one file
        timezone: Europe/Madrid                 # start_stamp is the server's local time

mod_cdr_csv writes one line per call leg from a *template* of channel
variables (``cdr_csv.conf.xml``). The shipped default template, ``example``,
has 15 quoted fields::

    "${caller_id_name}","${caller_id_number}","${destination_number}","${context}",
    "${start_stamp}","${answer_stamp}","${end_stamp}","${duration}","${billsec}",
    "${hangup_cause}","${uuid}","${bleg_uuid}","${accountcode}","${read_codec}","${write_codec}"

``template`` names another shipped template (``asterisk``, ``snom``,
``linksys``) or is the template text itself, copied from the configuration.
The files have no header; an unanswered call has an empty ``answer_stamp``.
Every run reads the files whole (FreeSWITCH rotates Master.csv on HUP),
streamed in blocks.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from dialtone.engine.collector_api import ROW_COLUMN, RawBatch, RawReject, SourceData
from dialtone.engine.completeness import require_complete_last_line
from dialtone.engine.errors import ConfigError, did_you_mean
from dialtone.engine.snapshots import sha256_file

from .cdr import (
    LINE_BY_SCHEMA,
    TIMEZONE_SCHEMA,
    check_encoding,
    check_timezone,
    epochs,
    input_files,
    line_reference,
    parse_block,
    parse_ints,
    parse_times,
    read_blocks,
    reject_masked,
    to_utc,
    unparsed,
)

#: Templates shipped in conf/vanilla/autoload_configs/cdr_csv.conf.xml (``sql`` is not CSV).
TEMPLATES = {
    "example": '"${caller_id_name}","${caller_id_number}","${destination_number}","${context}",'
               '"${start_stamp}","${answer_stamp}","${end_stamp}","${duration}","${billsec}",'
               '"${hangup_cause}","${uuid}","${bleg_uuid}","${accountcode}","${read_codec}",'
               '"${write_codec}"',
    "asterisk": '"${accountcode}","${caller_id_number}","${destination_number}","${context}",'
                '"${caller_id}","${channel_name}","${bridge_channel}","${last_app}","${last_arg}",'
                '"${start_stamp}","${answer_stamp}","${end_stamp}","${duration}","${billsec}",'
                '"${hangup_cause}","${amaflags}","${uuid}","${userfield}"',
    "snom": '"${caller_id_name}","${caller_id_number}","${destination_number}","${context}",'
            '"${start_stamp}","${answer_stamp}","${end_stamp}","${duration}","${billsec}",'
            '"${hangup_cause}","${uuid}","${bleg_uuid}", "${accountcode}","${read_codec}",'
            '"${write_codec}","${sip_user_agent}","${call_clientcode}","${sip_rtp_rxstat}",'
            '"${sip_rtp_txstat}","${sofia_record_file}"',
    "linksys": '"${caller_id_name}","${caller_id_number}","${destination_number}","${context}",'
               '"${start_stamp}","${answer_stamp}","${end_stamp}","${duration}","${billsec}",'
               '"${hangup_cause}","${uuid}","${bleg_uuid}","${accountcode}","${read_codec}",'
               '"${write_codec}","${sip_user_agent}","${sip_p_rtp_stat}"',
}
_VAR = re.compile(r"\$\{([^}]+)\}")
#: calls field ← the first of these variables the template has.
SOURCES = {
    "id": ("uuid", "call_uuid"),
    "start_epoch": ("start_epoch",),
    "start_stamp": ("start_stamp",),
    "duration_s": ("duration",),
    "billable_s": ("billsec",),
    "direction": ("direction",),
    "source": ("caller_id_number", "ani"),
    "destination": ("destination_number",),
    "disposition": ("hangup_cause",),
    "source_ip": ("network_addr", "sip_network_ip"),
}


def template_variables(template: str) -> list[str]:
    """The variables of a template, in order (one CSV field each)."""
    return _VAR.findall(template)


class FreeSwitchCollector:
    """FreeSWITCH mod_cdr_csv files, by template."""

    config_schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "required": ["path", "timezone"],
        "properties": {
            "path": {"type": "string", "minLength": 1,
                     "description": "A mod_cdr_csv file, or the cdr-csv folder"},
            "template": {"type": "string", "minLength": 1,
                         "description": "example (default), asterisk, snom, linksys, or the "
                                        "template text with ${variables}"},
            "files": {"type": "string", "minLength": 1,
                      "description": "In a folder, the files to read (glob; default Master.csv*)"},
            "timezone": TIMEZONE_SCHEMA,
            "encoding": {"type": "string", "minLength": 1},
            "line_by": LINE_BY_SCHEMA,
        },
    }
    secret_settings = ()

    def __init__(self, source: str, settings: dict, base_dir: Path):
        self.source = source
        self.path = (base_dir / settings["path"]).resolve()
        self.pattern = settings.get("files", "Master.csv*")
        template = settings.get("template", "example")
        if "${" not in template:
            if template not in TEMPLATES:
                raise ConfigError(
                    f"sources.{source}.template: no shipped template '{template}'."
                    f"{did_you_mean(template, TEMPLATES)} Give one of {', '.join(TEMPLATES)}, "
                    "or the template text with its ${variables}")
            template = TEMPLATES[template]
        self.variables = template_variables(template)
        self.columns = {}
        for target, candidates in SOURCES.items():
            for var in candidates:
                if var in self.variables:
                    self.columns[target] = self.variables.index(var)
                    break
        if "id" not in self.columns:
            raise ConfigError(f"sources.{source}.template: the template has no ${{uuid}}, "
                              "which identifies each call")
        if "start_epoch" not in self.columns and "start_stamp" not in self.columns:
            raise ConfigError(f"sources.{source}.template: the template has neither "
                              "${start_stamp} nor ${start_epoch}")
        self.tz = settings["timezone"]
        self.line_by = settings.get("line_by", "auto")
        check_timezone(source, self.tz)
        self.encoding = check_encoding(source, settings.get("encoding", "utf-8"))

    def collect(self) -> SourceData:
        files = input_files(self.source, self.path, self.pattern)
        data = SourceData()
        for f in files:
            data.watch(f)
            require_complete_last_line(f)
            data.inputs[f.name] = sha256_file(f)
            data.batches.append(RawBatch.streamed("calls", f.name, self._chunks(f, data)))
        return data

    def _chunks(self, path: Path, data: SourceData):
        width = len(self.variables)
        wanted = sorted(set(self.columns.values()))

        def chunks():
            line = 1
            for block in read_blocks(path):
                tables, n = parse_block(
                    block, line, {width}, path.name, "calls", data.rejects, self.encoding,
                    bad_width=lambda k: f"expected {width} fields (the template's), found {k}",
                    include=lambda k: wanted if k == width else range(k))
                line += n
                table = tables.get(width)
                if table is not None and table.num_rows:
                    yield self.to_calls(table, path.name, data.rejects)
        return chunks

    def to_calls(self, t: pa.Table, origin: str, rejects: list[RawReject]) -> pa.Table:
        """Template fields (text) → calls fields, vectorised; unreadable times and numbers
        become rejects."""
        def col(target: str):
            i = self.columns.get(target)
            return None if i is None else t.column(f"c{i}")

        out = {"id": col("id")}
        bad = None

        def check(name: str, raw, parsed, reason: str, required: bool = False):
            nonlocal bad
            mask = unparsed(raw, parsed, required)
            reject_masked(rejects, origin, t, mask, name, raw, reason)
            bad = mask if bad is None else pc.or_(bad, mask)

        if col("start_epoch") is not None:
            started = epochs(col("start_epoch"))
            check("start_epoch", col("start_epoch"), started, "expected UTC epoch seconds",
                  required=True)
        else:
            started = to_utc(parse_times(col("start_stamp")), self.tz)
            check("start_stamp", col("start_stamp"), started,
                  "expected the call's start time, YYYY-MM-DD HH:MM:SS", required=True)
        out["started_at"] = started
        for target, var in (("duration_s", "duration"), ("billable_s", "billsec")):
            if col(target) is not None:
                out[target] = parse_ints(col(target))
                check(var, col(target), out[target], "expected whole seconds")
        for target in ("direction", "source", "destination", "disposition", "source_ip"):
            if col(target) is not None:
                out[target] = col(target)
        line = line_reference(self.line_by, out)
        if line is not None:
            out["line_id"] = line
        out[ROW_COLUMN] = t.column(ROW_COLUMN)
        table = pa.table(out)
        return table.filter(pc.invert(bad)) if pc.any(bad).as_py() else table

