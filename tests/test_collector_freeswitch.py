"""The freeswitch collector: mod_cdr_csv files by template."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dialtone.engine.collect import collect
from dialtone.engine.collector_api import check_settings, collectors
from dialtone.engine.config import load_config
from dialtone.engine.errors import CollectError, ConfigError

from .collectorkit import rejects
from .conftest import AS_OF

# The "Sample CSV CDR" (Master.csv) of the FreeSWITCH documentation, Configuration/CDR.
SAMPLE = Path(__file__).parent / "samples" / "freeswitch-cdr-csv-master-sample.csv"


def line(*fields: str) -> str:
    return ",".join('"' + f.replace('"', '""') + '"' for f in fields) + "\n"


# The shipped "example" template: 15 quoted fields.
ANSWERED = line("Alice", "1000", "+34911234567", "default", "2024-07-01 10:00:00",
                "2024-07-01 10:00:04", "2024-07-01 10:02:04", "124", "120", "NORMAL_CLEARING",
                "5b2a7c1e-0000-4000-8000-000000000001", "5b2a7c1e-0000-4000-8000-000000000002", "",
                "PCMA", "PCMA")
UNANSWERED = line("Bob", "1001", "1002", "default", "2024-07-01 11:00:00", "",
                  "2024-07-01 11:00:30", "30", "0", "NO_ANSWER",
                  "5b2a7c1e-0000-4000-8000-000000000003", "", "", "", "")


def setup(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "cdr-csv").mkdir(exist_ok=True)
    (tmp_path / "dialtone.yaml").write_text(
        "sources:\n  fs:\n    collector: freeswitch\n    path: ./cdr-csv\n"
        f"    timezone: Europe/Madrid\n{extra}", encoding="utf-8")
    return tmp_path / "cdr-csv" / "Master.csv"


def run(tmp_path: Path):
    return collect(load_config(tmp_path / "dialtone.yaml"), as_of=AS_OF)


def calls(result) -> list[dict]:
    return pq.read_table(result.snapshot.parquet("calls")).to_pylist()


def test_the_default_example_template(tmp_path):
    setup(tmp_path).write_text(ANSWERED + UNANSWERED, encoding="utf-8")
    result = run(tmp_path)
    assert result.rows == {"calls": 2} and result.rejects == 0
    answered, unanswered = calls(result)
    assert answered["id"] == "5b2a7c1e-0000-4000-8000-000000000001"
    assert answered["started_at"] == dt.datetime(2024, 7, 1, 8, 0)      # CEST is UTC+2
    assert (answered["duration_s"], answered["billable_s"]) == (124, 120)
    # NORMAL_CLEARING with an answer time is answered; Q.850 NO_ANSWER is no_answer.
    assert (answered["source"], answered["destination"], answered["disposition"]) == (
        "1000", "+34911234567", "answered")
    assert (unanswered["billable_s"], unanswered["disposition"]) == (0, "no_answer")
    # Context "default": the calls of registered phones; one to an extension is internal.
    assert (answered["direction"], unanswered["direction"]) == ("outbound", "internal")
    assert (answered["line_id"], unanswered["line_id"]) == ("1000", "1001")


def test_an_unanswered_call_whose_cause_the_vocabulary_lacks_is_no_conversation(tmp_path):
    # Q.850 names the engine's vocabulary does not know were kept as written, and the recording
    # policies read any disposition but no_answer, busy, failed and cancelled as a conversation:
    # a call to an unregistered phone (SUBSCRIBER_ABSENT, never answered) needed recording.
    def unanswered(n: int, cause: str) -> str:
        return line("Bob", "1001", "+34911234567", "default", "2024-07-01 11:00:00", "",
                    "2024-07-01 11:00:30", "30", "0", cause, f"5b2a7c1e-0000-4000-8000-00000000010{n}",
                    "", "", "", "")

    causes = ["SUBSCRIBER_ABSENT", "USER_NOT_REGISTERED", "MEDIA_TIMEOUT", "NORMAL_UNSPECIFIED",
              "USER_BUSY", "ORIGINATOR_CANCEL"]
    setup(tmp_path).write_text("".join(unanswered(n, c) for n, c in enumerate(causes)),
                               encoding="utf-8")
    result = run(tmp_path)
    assert result.rejects == 0
    assert [c["disposition"] for c in calls(result)] == [
        "failed", "failed", "failed", "no_answer", "busy", "cancelled"]


def test_the_published_sample_master_csv(tmp_path):
    setup(tmp_path).write_bytes(SAMPLE.read_bytes())
    got = calls(run(tmp_path))
    assert len(got) == 5
    assert got[0]["id"] == "a5c9f6c0-e752-11e3-8bfb-65b6c3cdac7d"
    assert got[0]["started_at"] == dt.datetime(2014, 5, 29, 14, 59, 50)
    assert {c["destination"] for c in got} >= {"+34688886392", "00034688886392"}


def test_rotated_files_in_the_folder_are_read_too(tmp_path):
    master = setup(tmp_path)
    master.with_name("Master.csv.2024-07-01-23-59-59").write_text(ANSWERED, encoding="utf-8")
    master.write_text(UNANSWERED, encoding="utf-8")
    (tmp_path / "cdr-csv" / "1000.csv").write_text(ANSWERED, encoding="utf-8")   # per-user copy
    result = run(tmp_path)
    assert result.rows == {"calls": 2} and result.rejects == 0


def test_a_template_given_as_text(tmp_path):
    template = ('"${uuid}","${direction}","${caller_id_number}","${destination_number}",'
                '"${start_epoch}","${duration}","${billsec}","${hangup_cause}","${network_addr}"')
    master = setup(tmp_path, f"    template: '{template}'\n")
    master.write_text(line("u-1", "outbound", "1000", "+15551230000", "1719828000", "70", "60",
                           "NORMAL_CLEARING", "192.0.2.10"), encoding="utf-8")
    (got,) = calls(run(tmp_path))
    assert got["started_at"] == dt.datetime(2024, 7, 1, 10, 0)           # epoch: UTC already
    assert (got["direction"], got["source_ip"]) == ("outbound", "192.0.2.10")


def test_the_asterisk_compatible_template(tmp_path):
    master = setup(tmp_path, "    template: asterisk\n")
    master.write_text(line("", "1000", "2000", "default", "Alice <1000>", "sofia/internal/1000",
                           "sofia/internal/2000", "bridge", "user/2000", "2024-01-10 09:00:00",
                           "2024-01-10 09:00:02", "2024-01-10 09:01:02", "62", "60",
                           "NORMAL_CLEARING", "DOCUMENTATION", "u-77", ""), encoding="utf-8")
    (got,) = calls(run(tmp_path))
    assert got["id"] == "u-77" and got["started_at"] == dt.datetime(2024, 1, 10, 8, 0)  # CET


def test_a_malformed_row_is_a_reject_with_its_line_and_reason(tmp_path):
    bad_number = line("Carol", "1002", "1003", "default", "2024-07-01 12:00:00", "",
                      "2024-07-01 12:00:10", "ten", "0", "NO_ANSWER", "u-3", "", "", "", "")
    setup(tmp_path).write_text(ANSWERED + line("short", "row") + bad_number, encoding="utf-8")
    result = run(tmp_path)
    assert [c["id"] for c in calls(result)] == ["5b2a7c1e-0000-4000-8000-000000000001"]
    assert [(r["origin"], r["row"], r["field"], r["value"], r["reason"]) for r in rejects(result)] == [
        ("Master.csv", "2", "", '"short","row"', "expected 15 fields (the template's), found 2"),
        ("Master.csv", "3", "duration", "ten", "expected whole seconds"),
    ]


def test_a_first_line_longer_than_64_kib_is_read_whole(tmp_path):
    # Security review 2026-12-07: the field count was taken from the first 64 KiB of the block's
    # first line, cutting a long quoted field open: pyarrow's ArrowInvalid escaped and the whole
    # collect (every source) ended in a traceback.
    long_name = line("A" * 70_000, "1000", "+34911234567", "default", "2024-07-01 09:00:00", "",
                     "2024-07-01 09:00:10", "10", "0", "NO_ANSWER", "u-long", "", "", "", "")
    setup(tmp_path).write_text(long_name + ANSWERED + UNANSWERED, encoding="utf-8")
    result = run(tmp_path)
    assert [c["id"] for c in calls(result)][:1] == ["u-long"] and result.rows == {"calls": 3}


def test_a_first_line_pyarrow_cannot_read_fails_the_source_with_its_line(tmp_path):
    path = setup(tmp_path)
    path.write_text('"' + "A" * 70_000 + '","1000\n' + ANSWERED, encoding="utf-8")
    with pytest.raises(CollectError) as err:
        run(tmp_path)
    assert "source 'fs': Master.csv: cannot read as CSV near line 1:" in str(err.value)


@pytest.mark.parametrize("settings, message", [
    ({"path": "x"}, "'timezone' is a required property"),
    ({"path": "x", "timezone": "UTC", "templat": "example"}, "templat"),
])
def test_bad_settings_are_named(settings, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_settings(collectors.get("freeswitch"), "fs", settings)


def test_a_template_without_uuid_or_an_unknown_name_is_refused(tmp_path):
    setup(tmp_path, "    template: '\"${caller_id_number}\",\"${start_stamp}\"'\n")
    with pytest.raises(ConfigError, match="no \\$\\{uuid\\}"):
        run(tmp_path)
    setup(tmp_path, "    template: exampel\n")
    with pytest.raises(ConfigError, match="Did you mean 'example'"):
        run(tmp_path)


def test_an_empty_folder_fails(tmp_path):
    setup(tmp_path)
    with pytest.raises(CollectError, match="no files matching 'Master.csv\\*'"):
        run(tmp_path)
