"""The cucm collector: Cisco CUCM CDR flat files, read by header name."""

from __future__ import annotations

import datetime as dt
import socket
import struct
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dialtone.collectors.cdr import ipv4_from_signed_le
from dialtone.engine.collect import collect
from dialtone.engine.config import load_config
from dialtone.engine.errors import CollectError

from .collectorkit import rejects
from .conftest import AS_OF

# The first columns of a CUCM 11.x CDR file, in the order of the CDR Field Descriptions.
COLUMNS = [
    ("cdrRecordType", "INTEGER"), ("globalCallID_callManagerId", "INTEGER"),
    ("globalCallID_callId", "INTEGER"), ("origLegCallIdentifier", "INTEGER"),
    ("dateTimeOrigination", "INTEGER"), ("origNodeId", "INTEGER"), ("origSpan", "INTEGER"),
    ("origIpAddr", "INTEGER"), ("callingPartyNumber", "VARCHAR(50)"),
    ("callingPartyUnicodeLoginUserID", "UNICODE(128)"), ("origCause_location", "INTEGER"),
    ("origCause_value", "INTEGER"), ("origPrecedenceLevel", "INTEGER"),
    ("destLegIdentifier", "INTEGER"), ("destNodeId", "INTEGER"), ("destSpan", "INTEGER"),
    ("destIpAddr", "INTEGER"), ("originalCalledPartyNumber", "VARCHAR(50)"),
    ("finalCalledPartyNumber", "VARCHAR(50)"), ("finalCalledPartyUnicodeLoginUserID", "UNICODE(128)"),
    ("destCause_location", "INTEGER"), ("destCause_value", "INTEGER"),
    ("dateTimeConnect", "INTEGER"), ("dateTimeDisconnect", "INTEGER"), ("lastRedirectDn", "VARCHAR(50)"),
    ("pkid", "UNIQUEIDENTIFIER"), ("originalCalledPartyNumberPartition", "VARCHAR(50)"),
    ("callingPartyNumberPartition", "VARCHAR(50)"), ("finalCalledPartyNumberPartition", "VARCHAR(50)"),
    ("lastRedirectDnPartition", "VARCHAR(50)"), ("duration", "INTEGER"),
    ("origDeviceName", "VARCHAR(129)"), ("destDeviceName", "VARCHAR(129)"),
]


def ip(dotted: str) -> int:
    """The address as CUCM writes it: a signed 32-bit integer of the octets little-endian."""
    return struct.unpack("<i", socket.inet_aton(dotted))[0]


def cdr_file(path: Path, rows: list[dict], columns=COLUMNS) -> Path:
    def value(name: str, kind: str, row: dict) -> str:
        v = row.get(name, 0 if kind == "INTEGER" else "")
        return str(v) if kind == "INTEGER" else '"' + str(v) + '"'

    lines = [",".join(f'"{n}"' for n, _ in columns), ",".join(f'"{k}"' for _, k in columns)]
    lines += [",".join(value(n, k, r) for n, k in columns) for r in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path


ANSWERED = {"cdrRecordType": 1, "globalCallID_callManagerId": 1, "globalCallID_callId": 1001,
            "origLegCallIdentifier": 20001, "dateTimeOrigination": 1719843302,
            "origIpAddr": ip("10.1.99.97"), "callingPartyNumber": "1000", "origCause_value": 16,
            "destIpAddr": ip("10.1.1.200"), "originalCalledPartyNumber": "1001",
            "finalCalledPartyNumber": "1001", "dateTimeConnect": 1719843307,
            "dateTimeDisconnect": 1719843367, "pkid": "0b1d2f3a-0000-4000-8000-000000000001",
            "duration": 60, "origDeviceName": "SEP000000000001"}
BUSY = {"cdrRecordType": 1, "globalCallID_callManagerId": 1, "globalCallID_callId": 1002,
        "origLegCallIdentifier": 20003, "dateTimeOrigination": 1719843400,
        "origIpAddr": ip("10.1.99.97"), "callingPartyNumber": "1000", "origCause_value": 0,
        "originalCalledPartyNumber": "1002", "finalCalledPartyNumber": "1002", "destCause_value": 17,
        "dateTimeConnect": 0, "dateTimeDisconnect": 1719843405,
        "pkid": "0b1d2f3a-0000-4000-8000-000000000002", "duration": 0}


def setup(tmp_path: Path, path: str = "./cdr") -> None:
    (tmp_path / "dialtone.yaml").write_text(
        f"sources:\n  cucm:\n    collector: cucm\n    path: {path}\n", encoding="utf-8")


def run(tmp_path: Path):
    return collect(load_config(tmp_path / "dialtone.yaml"), as_of=AS_OF)


def calls(result) -> list[dict]:
    return pq.read_table(result.snapshot.parquet("calls")).to_pylist()


def test_a_folder_of_cdr_files(tmp_path):
    setup(tmp_path)
    cdr_file(tmp_path / "cdr" / "cdr_StandAloneCluster_01_202407011415_1", [ANSWERED])
    cdr_file(tmp_path / "cdr" / "cdr_StandAloneCluster_01_202407011416_2", [BUSY])
    cdr_file(tmp_path / "cdr" / "cmr_StandAloneCluster_01_202407011415_1", [])   # not read
    result = run(tmp_path)
    assert result.rows == {"calls": 2} and result.rejects == 0
    answered, busy = calls(result)
    assert answered["id"] == "0b1d2f3a-0000-4000-8000-000000000001"
    assert answered["started_at"] == dt.datetime(2024, 7, 1, 14, 15, 2)     # epoch, UTC
    # CUCM's own `duration` is the connected time (60); the call lasted 65 s from origination.
    assert (answered["duration_s"], answered["billable_s"], answered["disposition"]) == (
        65, 60, "answered")
    assert (answered["source_ip"], answered["destination_ip"]) == ("10.1.99.97", "10.1.1.200")
    assert ip("10.1.1.200") < 0                                   # a negative one, converted
    # Never connected: dateTimeConnect 0, no billable time, the called side's Q.850 cause 17.
    assert (busy["billable_s"], busy["disposition"], busy["destination_ip"]) == (0, "busy", None)
    assert set(result.snapshot.manifest["sources"]["cucm"]["inputs"]) == {
        "cdr_StandAloneCluster_01_202407011415_1", "cdr_StandAloneCluster_01_202407011416_2"}


def test_columns_are_found_by_name_whatever_their_order_and_number(tmp_path):
    setup(tmp_path, "./cdr_one")
    newer = COLUMNS[:5] + [("huntPilotDN", "VARCHAR(50)")] + COLUMNS[5:][::-1] + [
        ("wasCallQueued", "INTEGER")]
    cdr_file(tmp_path / "cdr_one", [{**ANSWERED, "huntPilotDN": "8000"}], newer)
    (got,) = calls(run(tmp_path))
    assert got["id"] == ANSWERED["pkid"] and got["destination"] == "1001"


def test_records_other_than_end_of_call_are_left_out_with_a_warning(tmp_path):
    setup(tmp_path)
    cdr_file(tmp_path / "cdr" / "cdr_x_01_202407011415_1", [ANSWERED, {**BUSY, "cdrRecordType": 0}])
    result = run(tmp_path)
    assert result.rows == {"calls": 1}
    assert any("1 record(s) that are not end-of-call" in w for w in result.warnings)


def test_a_malformed_row_is_a_reject_with_its_line_and_reason(tmp_path):
    setup(tmp_path)
    f = cdr_file(tmp_path / "cdr" / "cdr_x_01_202407011415_1",
                 [ANSWERED, {**BUSY, "dateTimeOrigination": "yesterday"}])
    with f.open("a", encoding="utf-8") as fh:
        fh.write('1,1,1003,"short row"\r\n')
    result = run(tmp_path)
    assert [c["id"] for c in calls(result)] == [ANSWERED["pkid"]]
    assert [(r["row"], r["field"], r["value"], r["reason"]) for r in rejects(result)] == [
        ("4", "dateTimeOrigination", "yesterday", "expected UTC epoch seconds"),
        ("5", "", '1,1,1003,"short row"', f"expected {len(COLUMNS)} fields (as the header), found 4"),
    ]


def test_a_file_that_is_not_a_cdr_file_fails_with_what_it_has(tmp_path):
    setup(tmp_path)
    (tmp_path / "cdr").mkdir()
    (tmp_path / "cdr" / "cdr_bogus").write_text('"a","b"\n"INTEGER","INTEGER"\n1,2\n', encoding="utf-8")
    with pytest.raises(CollectError, match="not a CUCM CDR file: no column.*cdrRecordType.*it has a, b"):
        run(tmp_path)


def test_ip_conversion_of_the_signed_little_endian_integers():
    got = ipv4_from_signed_le(pa.array([str(ip("192.168.1.20")), str(ip("10.1.1.200")), "0", "",
                                        "-1", "x"]))
    assert got.to_pylist() == ["192.168.1.20", "10.1.1.200", None, None, "255.255.255.255", "x"]


def test_the_parties_numbers_give_direction_line_and_places(tmp_path):
    """CUCM has no direction field: an extension calling a number is outbound (its line is
    the caller's), a number calling an extension inbound, two extensions internal."""
    (tmp_path / "dialtone.yaml").write_text(
        "sources:\n  cucm:\n    collector: cucm\n    path: ./cdr\n    default_region: US\n",
        encoding="utf-8")
    out = {**ANSWERED, "pkid": "out", "callingPartyNumber": "1000",
           "finalCalledPartyNumber": "1 (415) 555-0100"}
    inbound = {**ANSWERED, "pkid": "in", "callingPartyNumber": "+442071234567",
               "finalCalledPartyNumber": "1001"}
    both = {**ANSWERED, "pkid": "e164", "callingPartyNumber": "+13125550100",
            "finalCalledPartyNumber": "+14155550100"}
    cdr_file(tmp_path / "cdr" / "cdr_StandAloneCluster_01_202407011415_1",
             [out, inbound, ANSWERED, both])
    result = run(tmp_path)
    got = {c["id"]: c for c in calls(result)}
    assert (got["out"]["direction"], got["out"]["line_id"], got["out"]["destination"],
            got["out"]["destination_region"]) == ("outbound", "1000", "+14155550100", "CA")
    assert (got["in"]["direction"], got["in"]["line_id"], got["in"]["source_country"]) == (
        "inbound", "1001", "GB")
    assert got["0b1d2f3a-0000-4000-8000-000000000001"]["direction"] == "internal"
    # Two full numbers say nothing of the direction: no line, and a warning that says so.
    assert (got["e164"]["direction"], got["e164"]["line_id"]) == (None, None)
    assert any("cucm: 1 call(s) have no direction" in w and "Set line_by" in w
               for w in result.warnings)


def test_a_forwarded_call_names_the_number_first_dialled(tmp_path):
    """Call forward: CUCM keeps the number dialled (originalCalledPartyNumber) beside the one
    that answered (finalCalledPartyNumber). The first is the call's forwarded_from, an
    extension written as its DID, so a DID forwarded to a mobile is seen in use."""
    (tmp_path / "dialtone.yaml").write_text(
        "sources:\n  cucm:\n    collector: cucm\n    path: ./cdr\n    default_region: US\n"
        "    extension_number: '+1312555{ext}'\n", encoding="utf-8")
    forwarded = {**ANSWERED, "pkid": "fwd", "callingPartyNumber": "4155550100",
                 "originalCalledPartyNumber": "2142", "finalCalledPartyNumber": "3125550177"}
    direct = {**ANSWERED, "pkid": "direct", "callingPartyNumber": "4155550100",
              "originalCalledPartyNumber": "2150", "finalCalledPartyNumber": "2150"}
    cdr_file(tmp_path / "cdr" / "cdr_StandAloneCluster_01_202407011415_1", [forwarded, direct])
    got = {c["id"]: c for c in calls(run(tmp_path))}
    assert (got["fwd"]["forwarded_from"], got["fwd"]["destination"]) == ("+13125552142", "+13125550177")
    assert got["direct"]["forwarded_from"] is None


def test_duration_is_the_whole_call_and_billable_the_connected_time(tmp_path):
    # Cisco's CDR field descriptions: `duration` is the time between connect and disconnect, 0
    # for a call that never connected. A busy or unanswered call that rang still lasted from
    # its origination to its disconnect; it was read as lasting 0 s (duration_s is the total).
    setup(tmp_path)
    rang = {**BUSY, "globalCallID_callId": 1003, "pkid": "0b1d2f3a-0000-4000-8000-000000000003",
            "destCause_value": 19, "dateTimeDisconnect": 1719843430}          # 30 s of ringing
    cdr_file(tmp_path / "cdr" / "cdr_StandAloneCluster_01_202407011416_3", [ANSWERED, BUSY, rang])
    result = run(tmp_path)
    by_id = {c["id"]: (c["duration_s"], c["billable_s"], c["disposition"]) for c in calls(result)}
    assert by_id == {ANSWERED["pkid"]: (65, 60, "answered"), BUSY["pkid"]: (5, 0, "busy"),
                     rang["pkid"]: (30, 0, "no_answer")}
