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

Direction: ``${direction}`` is the leg's direction *relative to FreeSWITCH* (a desk
phone calling the PSTN is an ``inbound`` A-leg), so it is not read. The call's
direction comes from its dialplan ``${context}`` instead — in the vanilla
configuration ``public`` is where calls from outside land (inbound) and ``default``
where registered phones' calls do (outbound, or internal between two extensions) —
changed with ``direction_by_context``.

Disposition: ``NORMAL_CLEARING`` says only that the call ended normally, answered or
not; a call is ``answered`` when it has an answer time (else billsec > 0), and an
unanswered one keeps its Q.850 cause name, which the engine's vocabulary maps
(``NO_ANSWER`` → ``no_answer``, ``USER_BUSY`` → ``busy``…; ``NORMAL_CLEARING``
unanswered → ``no_answer``, as CUCM reads cause 16; an unanswered call's cause the vocabulary
has no word for → ``failed``, never kept as written, which policies would read as a conversation).
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from dialtone.engine.collector_api import ROW_COLUMN, RawBatch, RawReject, SourceData, settings_schema
from dialtone.engine.completeness import require_complete_last_line
from dialtone.engine.errors import ConfigError, did_you_mean
from dialtone.engine.estate.vocabulary import key, load_vocabulary
from dialtone.engine.phone import check_region
from dialtone.engine.snapshots import sha256_file

from .cdr import (
    DEFAULT_REGION_SCHEMA,
    DIRECTION_BY_CONTEXT_SCHEMA,
    EXTENSION_NUMBER_SCHEMA,
    LINE_BY_SCHEMA,
    TIMEZONE_SCHEMA,
    DirectionCount,
    by_context,
    check_encoding,
    check_timezone,
    complete_direction,
    empty_to_null,
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
    with_numbers,
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
    "answer": ("answer_stamp", "answer_epoch"),
    "context": ("context",),
    "source": ("caller_id_number", "ani"),
    "destination": ("destination_number",),
    "disposition": ("hangup_cause",),
    "source_ip": ("network_addr", "sip_network_ip"),
}
#: The vanilla configuration's contexts (conf/vanilla/dialplan): ``public`` takes calls from
#: outside (gateways, unauthenticated callers), ``default`` the calls of registered phones.
DEFAULT_DIRECTIONS = {"public": "inbound", "default": "outbound"}
#: A cleared call with an answer time: answered whatever its Q.850 cause.
ANSWERED = "answered"
#: Causes of an unanswered call that mean nobody picked up (Q.850 16 and 31 without a connect,
#: as the cucm collector reads them).
NO_ANSWER_CAUSES = ("NORMAL_CLEARING", "NORMAL_UNSPECIFIED")


def template_variables(template: str) -> list[str]:
    """The variables of a template, in order (one CSV field each)."""
    return _VAR.findall(template)


class FreeSwitchCollector:
    """FreeSWITCH mod_cdr_csv files, by template."""

    config_schema = settings_schema(
        required=["path", "timezone"],
        properties={
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
            "extension_number": EXTENSION_NUMBER_SCHEMA,
            "direction_by_context": DIRECTION_BY_CONTEXT_SCHEMA,
            "default_region": DEFAULT_REGION_SCHEMA,
        },
    )
    secret_settings = ()
    #: What a collect can fill (docs/collectors/freeswitch.md, "What it feeds").
    fills = {"calls": ("id", "line_id", "started_at", "duration_s", "billable_s", "direction", "source",
                       "destination", "source_ip", "source_country", "source_region", "destination_country",
                       "destination_region", "disposition")}

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
        self.extension_number = settings.get("extension_number")
        self.directions = settings.get("direction_by_context", DEFAULT_DIRECTIONS)
        self.region = check_region(source, settings.get("default_region"))
        check_timezone(source, self.tz)
        self.encoding = check_encoding(source, settings.get("encoding", "utf-8"))

    def collect(self) -> SourceData:
        files = input_files(self.source, self.path, self.pattern)
        data = SourceData()
        count = DirectionCount()
        for f in files:
            data.watch(f)
            require_complete_last_line(f)
            data.inputs[f.name] = sha256_file(f)
            data.batches.append(RawBatch.streamed("calls", f.name,
                                                  self._chunks(f, data, count, f == files[-1])))
        return data

    def _chunks(self, path: Path, data: SourceData, count: DirectionCount | None = None,
                last: bool = False):
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
                    yield self.to_calls(table, path.name, data.rejects, count)
            warning = count.warning("direction_by_context") if count is not None and last else None
            if warning and self.line_by == "auto":
                data.warnings.append(warning)
        return chunks

    def to_calls(self, t: pa.Table, origin: str, rejects: list[RawReject],
                 count: DirectionCount | None = None) -> pa.Table:
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
        for target in ("source", "destination", "source_ip"):
            if col(target) is not None:
                out[target] = col(target)
        if col("disposition") is not None:
            out["disposition"] = self._disposition(col("disposition"), col("answer"),
                                                   out.get("billable_s"))
        out = with_numbers(out, self.region)
        out["direction"] = complete_direction(
            by_context(col("context"), self.directions, t.num_rows),
            out.get("source"), out.get("destination"), t.num_rows)
        line = line_reference(self.line_by, out, self.extension_number)
        if line is not None:
            out["line_id"] = line
        out[ROW_COLUMN] = t.column(ROW_COLUMN)
        if col("context") is not None:
            out["__context"] = col("context")
        table = pa.table(out)
        if pc.any(bad).as_py():
            table = table.filter(pc.invert(bad))
        if count is not None:
            count.add(table.column("direction"),
                      table.column("__context") if "__context" in table.column_names else None)
        return table.drop_columns([c for c in table.column_names if c == "__context"])

    @staticmethod
    def _disposition(cause, answer, billsec):
        """``answered`` for a call with an answer time (or, without one in the template,
        billable seconds); otherwise the hangup cause as written, for the engine's vocabulary."""
        if answer is not None:
            answered = pc.fill_null(pc.is_valid(empty_to_null(answer)), False)
            # answer_epoch is 0 for a call never answered.
            answered = pc.and_(answered, pc.fill_null(pc.not_equal(answer, "0"), False))
        elif billsec is not None:
            answered = pc.fill_null(pc.greater(billsec, 0), False)
        else:
            return cause
        # Cleared normally but never answered: the caller gave up or nobody picked up (Q.850
        # cause 16 without a connect, which the cucm collector reads the same way). Any other
        # cause the vocabulary has no word for (SUBSCRIBER_ABSENT, MEDIA_TIMEOUT…) is a call that
        # failed: kept as written, the policies would read it as a conversation.
        cause = empty_to_null(cause)
        cleared = pc.fill_null(pc.is_in(cause, pa.array(NO_ANSWER_CAUSES)), False)
        kept = pc.or_(pc.is_in(cause, pa.array(_known_causes(cause), pa.string())),
                      pc.is_null(cause))
        unanswered = pc.if_else(cleared, "no_answer", pc.if_else(kept, cause, "failed"))
        return pc.if_else(answered, ANSWERED, unanswered)


def _known_causes(cause) -> list[str]:
    """The distinct causes (a handful per file) that the estate's vocabulary reads as a call
    not answered."""
    vocab = load_vocabulary().of("calls", "disposition")
    words = {k for k, v in vocab.words.items() if v is not None and v != ANSWERED}
    return [c for c in pc.unique(cause).to_pylist() if c is not None and key(c) in words]
