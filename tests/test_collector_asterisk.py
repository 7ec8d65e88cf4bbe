"""The asterisk collector: cdr_csv Master.csv in its 16/18/21-column layouts, incrementally."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from dialtone.engine.collect import collect
from dialtone.engine.collector_api import check_settings, collectors
from dialtone.engine.config import load_config
from dialtone.engine.errors import CollectError, ConfigError

from .collectorkit import rejects
from .conftest import AS_OF

DOCS = Path(__file__).parents[1] / "docs" / "collectors"


def record(src: str, dst: str, start: str, answer: str | None, end: str, duration: int,
           billsec: int, disposition: str, uniqueid: str | None = None, userfield: str = "",
           sequence: int | None = None, clid: str | None = None, lastdata: str = "",
           dstchannel: str | None = None) -> str:
    """One line as cdr_csv.c writes it: strings quoted ("" escaped), numbers bare, unset time empty."""
    def s(v: str) -> str:
        return '"' + v.replace('"', '""') + '"'

    fields = [s(""), s(src), s(dst), s("from-internal"), s(clid or f'"Ext {src}" <{src}>'),
              s(f"SIP/{src}-0000000a"),
              s(dstchannel if dstchannel is not None else "SIP/trunk-0000000b" if answer else ""),
              s("Dial"),
              s(lastdata or f"SIP/trunk/{dst},30"), s(start), s(answer) if answer else "", s(end),
              str(duration), str(billsec), s(disposition), s("DOCUMENTATION")]
    if uniqueid is not None:
        fields += [s(uniqueid), s(userfield)]
    if sequence is not None:
        fields += [s(""), s(uniqueid or ""), str(sequence)]
    return ",".join(fields) + "\n"


ANSWERED = record("1001", "13125550100", "2024-07-01 09:15:02", "2024-07-01 09:15:07",
                  "2024-07-01 09:16:07", 65, 60, "ANSWERED", "1719843302.1")
UNANSWERED = record("1002", "13125550101", "2024-07-01 09:20:00", None, "2024-07-01 09:20:20",
                    20, 0, "NO ANSWER", "1719843600.2")


def setup(tmp_path: Path, extra: str = "", timezone: str = "America/Chicago") -> Path:
    (tmp_path / "dialtone.yaml").write_text(
        "sources:\n  pbx:\n    collector: asterisk\n    path: ./cdr-csv/Master.csv\n"
        f"    timezone: {timezone}\n{extra}", encoding="utf-8")
    (tmp_path / "cdr-csv").mkdir(exist_ok=True)
    return tmp_path / "cdr-csv" / "Master.csv"


def run(tmp_path: Path):
    return collect(load_config(tmp_path / "dialtone.yaml"), as_of=AS_OF)


def calls(result) -> list[dict]:
    return pq.read_table(result.snapshot.parquet("calls")).to_pylist()


def test_the_18_column_layout_of_the_shipped_cdr_conf(tmp_path):
    master = setup(tmp_path)
    master.write_text(ANSWERED + UNANSWERED, encoding="utf-8")
    result = run(tmp_path)
    assert result.rows == {"calls": 2} and result.rejects == 0
    first, second = calls(result)
    assert first["id"] == "1719843302.1"
    assert first["started_at"] == dt.datetime(2024, 7, 1, 14, 15, 2)   # CDT is UTC-5
    assert (first["duration_s"], first["billable_s"]) == (65, 60)
    # Dispositions in the estate's words: ANSWERED → answered, NO ANSWER → no_answer.
    assert (first["source"], first["destination"], first["disposition"]) == (
        "1001", "13125550100", "answered")
    assert first["_source"] == "pbx"
    # The unanswered call: empty answer time, no billable seconds.
    assert (second["billable_s"], second["disposition"]) == (0, "no_answer")
    meta = result.snapshot.manifest["sources"]["pbx"]
    assert meta["collector"] == "asterisk" and meta["rows"] == {"calls": 2}
    assert list(meta["inputs"]) == [f"Master.csv bytes 0-{master.stat().st_size}"]


def test_the_16_column_layout_has_no_uniqueid_and_the_21_column_one_a_sequence(tmp_path):
    master = setup(tmp_path)
    master.write_text(
        record("1001", "100", "2024-01-15 10:00:00", "2024-01-15 10:00:01", "2024-01-15 10:00:11",
               11, 10, "ANSWERED")
        + record("1002", "101", "2024-01-15 11:00:00", "2024-01-15 11:00:02", "2024-01-15 11:00:12",
                 12, 10, "ANSWERED", "1705338000.7", "vip", sequence=42), encoding="utf-8")
    result = run(tmp_path)
    assert result.rejects == 0
    sixteen, twenty_one = calls(result)
    # No uniqueid in 16 columns: the channel and its start time identify the call.
    assert sixteen["id"] == "SIP/1001-0000000a/2024-01-15 10:00:00"
    assert sixteen["started_at"] == dt.datetime(2024, 1, 15, 16, 0)    # CST is UTC-6
    assert twenty_one["id"] == "1705338000.7/42"                       # uniqueid/sequence


def test_quoting_is_undone(tmp_path):
    master = setup(tmp_path)
    master.write_text(record("1001", "100", "2024-01-15 10:00:00", None, "2024-01-15 10:00:05", 5, 0,
                             "BUSY", "1705338000.1", clid='"O\'Brien, ""Pat""" <1001>',
                             lastdata='SIP/trunk/100,30,"tT"'), encoding="utf-8")
    result = run(tmp_path)
    assert result.rejects == 0 and calls(result)[0]["disposition"] == "busy"


def test_usegmtime_takes_times_as_utc(tmp_path):
    (tmp_path / "cdr-csv").mkdir()
    (tmp_path / "dialtone.yaml").write_text(
        "sources:\n  pbx:\n    collector: asterisk\n    path: ./cdr-csv/Master.csv\n"
        "    usegmtime: true\n", encoding="utf-8")
    (tmp_path / "cdr-csv" / "Master.csv").write_text(ANSWERED, encoding="utf-8")
    assert calls(run(tmp_path))[0]["started_at"] == dt.datetime(2024, 7, 1, 9, 15, 2)


def test_the_repeated_hour_of_the_autumn_change_takes_the_summer_time(tmp_path):
    master = setup(tmp_path)
    master.write_text(record("1001", "100", "2024-11-03 01:30:00", None, "2024-11-03 01:30:09", 9, 0,
                             "NO ANSWER", "1730615400.1"), encoding="utf-8")
    assert calls(run(tmp_path))[0]["started_at"] == dt.datetime(2024, 11, 3, 6, 30)  # CDT


def test_a_malformed_row_is_a_reject_with_its_line_and_reason(tmp_path):
    master = setup(tmp_path)
    bad_time = record("1003", "102", "2024-07-01 25:00:00", None, "2024-07-01 09:30:00", 1, 0,
                      "FAILED", "1719844000.3")
    master.write_text(ANSWERED + '"only","three","fields"\n' + bad_time + "\n" + UNANSWERED,
                      encoding="utf-8")
    result = run(tmp_path)
    assert [c["id"] for c in calls(result)] == ["1719843302.1", "1719843600.2"]
    got = [(r["origin"], r["row"], r["field"], r["reason"]) for r in rejects(result)]
    assert got == [
        ("Master.csv", "2", "", "expected 16, 18, 19 or 21 fields (Asterisk cdr_csv), found 3"),
        ("Master.csv", "3", "start", "expected the call's start time, YYYY-MM-DD HH:MM:SS"),
    ]
    assert rejects(result)[1]["value"] == "2024-07-01 25:00:00"


def test_layouts_mixed_in_one_file_are_each_read(tmp_path):
    master = setup(tmp_path)
    sixteen = record("1001", "100", "2024-01-15 10:00:00", None, "2024-01-15 10:00:05", 5, 0, "BUSY")
    master.write_text(ANSWERED + sixteen + UNANSWERED, encoding="utf-8")
    result = run(tmp_path)
    assert result.rejects == 0
    assert sorted(c["id"] for c in calls(result)) == [
        "1719843302.1", "1719843600.2", "SIP/1001-0000000a/2024-01-15 10:00:00"]


def test_declared_cdr_conf_options_fix_the_layout(tmp_path):
    master = setup(tmp_path, "    loguniqueid: true\n    loguserfield: false\n")
    seventeen = ANSWERED.rsplit(",", 1)[0] + "\n"            # uniqueid, no userfield
    master.write_text(seventeen + UNANSWERED, encoding="utf-8")
    result = run(tmp_path)
    assert [c["id"] for c in calls(result)] == ["1719843302.1"]
    assert [(r["row"], r["reason"]) for r in rejects(result)] == [
        ("2", "expected 17 fields (Asterisk cdr_csv), found 18")]


# -- incremental -----------------------------------------------------------------------------

def test_a_growing_file_is_read_from_where_the_last_run_stopped(tmp_path):
    master = setup(tmp_path)
    master.write_text(ANSWERED, encoding="utf-8")
    first = run(tmp_path)
    with master.open("a", encoding="utf-8") as fh:
        fh.write(UNANSWERED)
    second = run(tmp_path)
    assert [c["id"] for c in calls(second)] == ["1719843302.1", "1719843600.2"]
    assert second.rejects == 0                          # nothing read twice: no duplicate keys
    start = len(ANSWERED.encode())
    assert list(second.snapshot.manifest["sources"]["pbx"]["inputs"]) == [
        f"Master.csv bytes {start}-{master.stat().st_size}"]
    third = run(tmp_path)                                # nothing new: the same calls again
    assert calls(third) == calls(second) and third.snapshot.manifest["sources"]["pbx"]["inputs"] == {}
    assert first.snapshot.id != second.snapshot.id


def test_a_line_still_being_written_waits_for_the_next_run(tmp_path):
    master = setup(tmp_path)
    master.write_text(ANSWERED + UNANSWERED[:40], encoding="utf-8")
    assert [c["id"] for c in calls(run(tmp_path))] == ["1719843302.1"]
    with master.open("a", encoding="utf-8") as fh:
        fh.write(UNANSWERED[40:])
    result = run(tmp_path)
    assert [c["id"] for c in calls(result)] == ["1719843302.1", "1719843600.2"]
    assert result.rejects == 0


def test_rotation_reads_the_rest_of_the_old_file_then_the_new_one(tmp_path):
    master = setup(tmp_path)
    master.write_text(ANSWERED, encoding="utf-8")
    run(tmp_path)
    late = record("1004", "103", "2024-07-01 23:59:00", None, "2024-07-01 23:59:09", 9, 0,
                  "NO ANSWER", "1719896340.4")
    with master.open("a", encoding="utf-8") as fh:       # written after the run, before rotation
        fh.write(late)
    os.rename(master, master.with_name("Master.csv.1"))  # logrotate: rename, create
    master.write_text(UNANSWERED, encoding="utf-8")
    result = run(tmp_path)
    assert [c["id"] for c in calls(result)] == ["1719843302.1", "1719896340.4", "1719843600.2"]
    assert result.rejects == 0
    assert any("rotated" in w for w in result.warnings)


def test_truncation_starts_the_file_again_without_losing_the_calls_read(tmp_path):
    master = setup(tmp_path)
    master.write_text(ANSWERED + UNANSWERED, encoding="utf-8")
    run(tmp_path)
    third = record("1005", "104", "2024-07-02 08:00:00", None, "2024-07-02 08:00:03", 3, 0,
                   "NO ANSWER", "1719925200.5")
    with master.open("r+", encoding="utf-8") as fh:       # truncated in place (same inode)
        fh.truncate(0)
        fh.write(third)
    result = run(tmp_path)
    assert [c["id"] for c in calls(result)] == ["1719843302.1", "1719843600.2", "1719925200.5"]
    assert any("truncated" in w for w in result.warnings)
    # Rows of the second generation of the file are told apart in rejects.
    with master.open("a", encoding="utf-8") as fh:
        fh.write('"x"\n')
    assert [(r["origin"], r["row"]) for r in rejects(run(tmp_path))] == [("Master.csv#2", "2")]


def test_a_file_rewritten_with_other_content_is_read_again_from_its_start(tmp_path):
    master = setup(tmp_path)
    master.write_text(ANSWERED, encoding="utf-8")
    run(tmp_path)
    longer = UNANSWERED + record("1006", "105", "2024-07-03 08:00:00", None, "2024-07-03 08:00:03",
                                 3, 0, "NO ANSWER", "1720011600.6")
    master.write_text(longer, encoding="utf-8")           # bigger than the offset, other first bytes
    ids = [c["id"] for c in calls(run(tmp_path))]
    assert ids == ["1719843302.1", "1719843600.2", "1720011600.6"]


def test_rejects_of_earlier_runs_stay_in_every_snapshot(tmp_path):
    master = setup(tmp_path)
    master.write_text('"broken"\n' + ANSWERED, encoding="utf-8")
    assert run(tmp_path).rejects == 1
    with master.open("a", encoding="utf-8") as fh:
        fh.write(UNANSWERED)
    result = run(tmp_path)
    assert result.rows == {"calls": 2} and [r["row"] for r in rejects(result)] == ["1"]


def test_changed_time_zone_applies_to_calls_already_read(tmp_path):
    master = setup(tmp_path)
    master.write_text(ANSWERED, encoding="utf-8")
    run(tmp_path)
    setup(tmp_path, timezone="Europe/London")
    assert calls(run(tmp_path))[0]["started_at"] == dt.datetime(2024, 7, 1, 8, 15, 2)  # BST


def test_other_sources_collected_alone_carry_the_calls_forward(tmp_path):
    master = setup(tmp_path, "  estate:\n    collector: csv\n    path: ./estate\n")
    (tmp_path / "estate").mkdir()
    (tmp_path / "estate" / "people.csv").write_text("id,name,status\nP1,Ada,active\n", encoding="utf-8")
    master.write_text(ANSWERED + UNANSWERED, encoding="utf-8")
    run(tmp_path)
    result = collect(load_config(tmp_path / "dialtone.yaml"), only=["estate"], as_of=AS_OF)
    assert result.rows == {"calls": 2, "people": 1}
    assert result.snapshot.manifest["sources"]["pbx"]["carried_from"]


def test_a_missing_file_fails_the_first_run_and_is_a_warning_later(tmp_path):
    master = setup(tmp_path)
    with pytest.raises(CollectError, match="does not exist"):
        run(tmp_path)
    master.write_text(ANSWERED, encoding="utf-8")
    run(tmp_path)
    master.unlink()
    result = run(tmp_path)
    assert result.rows == {"calls": 1} and "keeping the 1 calls already read" in result.warnings[0]


def test_the_cli_collects_it(tmp_path):
    from dialtone.web.cli import cli

    master = setup(tmp_path)
    master.write_text(ANSWERED + UNANSWERED, encoding="utf-8")
    out = CliRunner().invoke(cli, ["--config", str(tmp_path / "dialtone.yaml"), "collect",
                                   "--as-of", "2026-06-30"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert re.search(r"calls\D+2", out.output)


# -- configuration ---------------------------------------------------------------------------

def test_the_configuration_from_the_issue_is_valid_as_written(tmp_path):
    (tmp_path / "dialtone.yaml").write_text(
        "sources:\n  pbx:\n    collector: asterisk\n    path: /var/log/asterisk/cdr-csv/Master.csv\n"
        "    timezone: America/Chicago          # Asterisk writes local time unless usegmtime=yes\n",
        encoding="utf-8")
    src = load_config(tmp_path / "dialtone.yaml").sources["pbx"]
    check_settings(collectors.get("asterisk"), "pbx", src.settings)


@pytest.mark.parametrize("settings, message", [
    ({"path": "Master.csv"}, "sources.pbx: 'timezone' is a required property"),
    ({"path": "Master.csv", "timezone": "UTC", "usegmtime": "yes"}, "sources.pbx.usegmtime"),
    ({"path": "Master.csv", "timezone": "UTC", "logunqueid": True}, "logunqueid"),
    ({"path": "Master.csv", "usegmtime": True, "direction_by_context": {"x": "sideways"}},
     "sources.pbx.direction_by_context.x"),
])
def test_bad_settings_are_named(settings, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_settings(collectors.get("asterisk"), "pbx", settings)


def test_an_unknown_time_zone_is_a_configuration_error(tmp_path):
    setup(tmp_path, timezone="America/Chicgo")
    with pytest.raises(ConfigError, match="unknown time zone 'America/Chicgo'"):
        run(tmp_path)


def test_direction_by_context(tmp_path):
    master = setup(tmp_path, "    direction_by_context:\n      from-internal: outbound\n")
    master.write_text(ANSWERED, encoding="utf-8")
    assert calls(run(tmp_path))[0]["direction"] == "outbound"


def yaml_blocks(path: Path) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("block", [b for p in sorted(DOCS.glob("*.md")) for b in yaml_blocks(p)])
def test_configuration_examples_in_the_collector_pages_are_valid(tmp_path, block):
    (tmp_path / "dialtone.yaml").write_text(block, encoding="utf-8")
    config = load_config(tmp_path / "dialtone.yaml")
    assert config.sources
    for source in config.sources.values():
        check_settings(collectors.get(source.collector), source.name, source.settings)


# -- the engine's streamed path ----------------------------------------------------------------

def test_a_repeated_uniqueid_is_a_duplicate_reject_naming_the_first(tmp_path):
    master = setup(tmp_path)
    master.write_text(ANSWERED + UNANSWERED + ANSWERED, encoding="utf-8")
    result = run(tmp_path)
    assert [c["id"] for c in calls(result)] == ["1719843302.1", "1719843600.2"]
    assert [(r["origin"], r["row"], r["field"], r["value"], r["reason"]) for r in rejects(result)] == [
        ("Master.csv", "3", "id", "1719843302.1", "duplicate key (first seen in Master.csv row 1)")]


def test_streamed_and_in_memory_sources_of_calls_meet_in_one_snapshot(tmp_path):
    master = setup(tmp_path, "  estate:\n    collector: csv\n    path: ./estate\n")
    (tmp_path / "estate").mkdir()
    (tmp_path / "estate" / "calls.csv").write_text(
        "id,started_at,duration_s\nC1,2024-07-01T10:00:00Z,5\n1719843302.1,2024-07-01T10:00:00Z,5\n",
        encoding="utf-8")
    master.write_text(ANSWERED + UNANSWERED, encoding="utf-8")
    result = run(tmp_path)
    got = sorted((c["id"], c["_source"]) for c in calls(result))
    assert got == [("1719843302.1", "pbx"), ("1719843600.2", "pbx"), ("C1", "estate")]
    assert [(r["source"], r["origin"], r["row"], r["reason"]) for r in rejects(result)] == [
        ("estate", "calls.csv", "3", "duplicate key (first seen in Master.csv row 1)")]
    assert result.snapshot.manifest["entities"]["calls"]["sources"] == ["estate", "pbx"]
    # Collected alone, the csv source keeps the asterisk calls, carried forward.
    alone = collect(load_config(tmp_path / "dialtone.yaml"), only=["estate"], as_of=AS_OF)
    carried = sorted(c["id"] for c in calls(alone) if c["_source"] == "pbx")
    assert carried == ["1719843302.1", "1719843600.2"]
    assert alone.snapshot.verify() == []


def test_calls_name_their_line_by_number_and_resolve_to_the_estate_lines(tmp_path):
    master = setup(tmp_path, "    direction_by_context: {from-internal: outbound, from-pstn: inbound}\n"
                             "  estate:\n    collector: csv\n    path: ./estate\n")
    (tmp_path / "estate").mkdir()
    (tmp_path / "estate" / "lines.csv").write_text(
        "id,kind,status,number\nL-A,did,active,+13125550100\nL-B,did,active,+13125550177\n",
        encoding="utf-8")
    outbound = record("13125550100", "442071234567", "2024-07-01 09:15:02", "2024-07-01 09:15:07",
                      "2024-07-01 09:16:07", 65, 60, "ANSWERED", "1.1")
    inbound = record("442071234567", "+1-312-555-0177", "2024-07-01 09:20:00",
                     "2024-07-01 09:20:01", "2024-07-01 09:20:20", 20, 19, "ANSWERED", "1.2")
    inbound = inbound.replace('"from-internal"', '"from-pstn"')
    unknown = record("1001", "1002", "2024-07-01 09:30:00", None, "2024-07-01 09:30:05", 5, 0,
                     "NO ANSWER", "1.3")
    master.write_text(outbound + inbound + unknown, encoding="utf-8")
    result = run(tmp_path)
    by_id = {c["id"]: c["line_id"] for c in calls(result)}
    # Outbound: the caller's number; inbound: the number called; digits are what count.
    assert by_id == {"1.1": "L-A", "1.2": "L-B", "1.3": "1001"}
    identity = result.snapshot.manifest["sources"]["pbx"]["identity"]
    assert identity["fields"]["calls.line_id"] == {"resolved": 2, "unresolved": 1, "ambiguous": 0}
    config = (tmp_path / "dialtone.yaml").read_text().replace(
        "    direction_by_context", "    line_by: none\n    direction_by_context")
    (tmp_path / "dialtone.yaml").write_text(config)
    assert {c["line_id"] for c in calls(run(tmp_path))} == {None}


def test_a_call_an_extension_places_names_the_line_of_the_extension_s_did(tmp_path):
    """Outbound calls carry the extension as their source, not the DID: with extension_number
    the extension names its DID's line, so a busy desk number is never called idle."""
    master = setup(tmp_path, "    default_region: US\n    extension_number: \"+1312555{ext}\"\n"
                             "    direction_by_context: {from-pstn: inbound}\n"
                             "  estate:\n    collector: csv\n    path: ./estate\n")
    (tmp_path / "estate").mkdir()
    (tmp_path / "estate" / "lines.csv").write_text(
        "id,kind,status,number\nL-DESK,did,active,+13125552142\n", encoding="utf-8")
    outbound = record("2142", "4155550100", "2024-07-01 09:15:02", "2024-07-01 09:15:07",
                      "2024-07-01 09:16:07", 65, 60, "ANSWERED", "1.1")
    internal = record("2142", "2143", "2024-07-01 09:30:00", "2024-07-01 09:30:01",
                      "2024-07-01 09:30:05", 5, 4, "ANSWERED", "1.2")
    master.write_text(outbound + internal, encoding="utf-8")
    by_id = {c["id"]: (c["line_id"], c["direction"]) for c in calls(run(tmp_path))}
    assert by_id == {"1.1": ("L-DESK", "outbound"), "1.2": ("L-DESK", "internal")}
    (tmp_path / "dialtone.yaml").write_text((tmp_path / "dialtone.yaml").read_text().replace(
        "{ext}", "{extension}"))
    from dialtone.engine.errors import ConfigError

    with pytest.raises(ConfigError, match="extension_number"):
        load_config(tmp_path / "dialtone.yaml")


def test_asterisk_dispositions_become_the_estate_s(tmp_path):
    master = setup(tmp_path)
    master.write_text("".join(
        record("1001", "100", f"2024-01-15 10:00:0{i}", None, f"2024-01-15 10:00:0{i}", 5, 0, disposition,
               f"1705338000.{i}")
        for i, disposition in enumerate(["ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CONGESTION"])),
        encoding="utf-8")
    result = run(tmp_path)
    assert [c["disposition"] for c in calls(result)] == [
        "answered", "no_answer", "busy", "failed", "failed"]
    # Extension to extension: internal, whatever the context.
    assert {c["direction"] for c in calls(result)} == {"internal"}


def test_national_numbers_are_read_in_the_default_region_and_placed(tmp_path):
    master = setup(tmp_path, "    default_region: US\n")
    master.write_text(record("2001", "(415) 555-0100", "2024-07-01 09:15:02", "2024-07-01 09:15:07",
                             "2024-07-01 09:16:07", 65, 60, "ANSWERED", "1.1"), encoding="utf-8")
    (call,) = calls(run(tmp_path))
    assert (call["destination"], call["destination_country"], call["destination_region"]) == (
        "+14155550100", "US", "CA")
    assert (call["direction"], call["line_id"]) == ("outbound", "2001")


def test_a_ring_group_call_keeps_the_record_of_every_extension_rung(tmp_path):
    # Asterisk 12+ writes one record per party B of a Dial to several channels (a ring group),
    # all with party A's uniqueid; without newcdrcolumns no sequence tells them apart. The
    # first (extension 201, not answered) was kept and the answered one (202) rejected as a
    # duplicate key: an answered, recorded call looked unanswered (out of every consent check).
    master = setup(tmp_path)
    rung = dict(start="2024-07-01 09:30:00", end="2024-07-01 09:31:00", uniqueid="1719844200.9")
    master.write_text(
        record("13125550199", "600", answer=None, duration=20, billsec=0, disposition="NO ANSWER",
               dstchannel="SIP/201-00000011", **rung)
        + record("13125550199", "600", answer="2024-07-01 09:30:20", duration=60, billsec=40,
                 disposition="ANSWERED", dstchannel="SIP/202-00000012", **rung)
        + ANSWERED + ANSWERED, encoding="utf-8")     # a line written twice is still one call
    result = run(tmp_path)
    got = {c["id"]: c["disposition"] for c in calls(result)}
    # The answered leg keeps the uniqueid (a recorder names the call by it).
    assert got == {"1719844200.9/SIP/201-00000011": "no_answer", "1719844200.9": "answered",
                   "1719843302.1": "answered"}
    assert [(r["row"], r["reason"]) for r in rejects(result)] == [
        ("4", "duplicate key (first seen in Master.csv row 3)")]
