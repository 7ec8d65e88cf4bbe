"""Phone numbers: E.164 with phonenumbers and a default region per source, each distinct value
parsed once; both parties of a call placed; one number in three spellings is one line."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import phonenumbers
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dialtone.engine import phone
from dialtone.engine.collect import collect
from dialtone.engine.config import load_config
from dialtone.engine.errors import ConfigError
from dialtone.engine.phone import normalise_numbers, number_places

from .conftest import AS_OF

SAMPLE = Path(__file__).parent / "samples" / "freeswitch-cdr-csv-master-sample.csv"


@pytest.mark.parametrize(("written", "region", "e164"), [
    ("(312) 555-0100", "US", "+13125550100"),           # national, read in the source's region
    ("+1 312 555 0100", None, "+13125550100"),           # international
    ("0044 20 7123 4567", "GB", "+442071234567"),
    ("0044 20 7123 4567", "US", "+442071234567"),        # 00 read as an international prefix
    ("011 44 20 7123 4567", "US", "+442071234567"),
    ("+1 312 555 0100 x123", None, "+13125550100"),      # the extension is dropped
    ("+1-312-555-0100;ext=123", None, "+13125550100"),
    ("sip:+14155550100@10.0.0.1", None, "+14155550100"),
    ("0034688886392", "ES", "+34688886392"),
    ("34688886392", "ES", "+34688886392"),               # the country code without its +
    ("2001", "US", "2001"),                              # an extension: not a number
    ("*97", "US", "*97"),
    ("555-0100", "US", "555-0100"),                      # no area code: no one line
    ("(312) 555-0100", None, "(312) 555-0100"),          # national, but no region to read it in
    ("anonymous", "US", "anonymous"),
])
def test_one_number_written_many_ways_has_one_e164_form(written, region, e164):
    assert normalise_numbers(pa.array([written]), region).to_pylist() == [e164]


def test_e164_values_skip_the_library_and_the_others_are_parsed_once_each():
    values = pa.chunked_array([["+13125550100", "(312) 555-0101", None, "+13125550100"],
                               ["(312) 555-0101", "2001", "(312) 555-0101"]])
    phone.e164.cache_clear()     # values are remembered between chunks: start from none
    with mock.patch.object(phone.phonenumbers, "parse", wraps=phonenumbers.parse) as parse:
        out = normalise_numbers(values, "US")
    assert out.to_pylist() == ["+13125550100", "+13125550101", None, "+13125550100",
                               "+13125550101", "2001", "+13125550101"]
    assert [c.args[0] for c in parse.call_args_list] == ["(312) 555-0101"]   # not per row, not E.164
    with mock.patch.object(phone.phonenumbers, "parse") as parse:
        clean = pa.array(["+13125550100"] * 1000)
        assert normalise_numbers(clean, "US") is clean
    parse.assert_not_called()


def test_numbers_are_placed_in_their_country_and_us_state_or_canadian_province():
    numbers = pa.array(["+14155550100", "+13125550100", "+16175550100", "+14165550100",
                        "+442071234567", "+34688886392", "+18005550100", "2001", None])
    country, region = number_places(numbers)
    assert country.to_pylist() == ["US", "US", "US", "CA", "GB", "ES", "US", None, None]
    # "San Francisco, CA", "Chicago, IL", "Massachusetts", "Ontario"; toll-free has no state.
    assert region.to_pylist() == ["CA", "IL", "MA", "ON", None, None, None, None, None]


def test_an_unknown_region_is_a_configuration_error(tmp_path):
    (tmp_path / "dialtone.yaml").write_text(
        "sources:\n  fs:\n    collector: freeswitch\n    path: ./cdr\n    timezone: UTC\n"
        "    default_region: XX\n", encoding="utf-8")
    (tmp_path / "cdr").mkdir()
    (tmp_path / "cdr" / "Master.csv").write_text("")
    with pytest.raises(ConfigError, match="sources.fs.default_region: 'XX' is not a region"):
        collect(load_config(tmp_path / "dialtone.yaml"), as_of=AS_OF)


def test_national_numbers_of_a_carrier_file_validate_as_e164_with_a_default_region(tmp_path):
    (tmp_path / "carrier").mkdir()
    (tmp_path / "carrier" / "lines.csv").write_text(
        "id,kind,status,number\nL1,mobile,active,(312) 555-0100\nL2,mobile,active,312 555 0101\n",
        encoding="utf-8")
    config = "sources:\n  carrier:\n    collector: csv\n    path: ./carrier\n"
    (tmp_path / "dialtone.yaml").write_text(config, encoding="utf-8")
    without = collect(load_config(tmp_path / "dialtone.yaml"), as_of=AS_OF)
    assert without.rejects == 2                 # no region: a national number is no E.164 number
    (tmp_path / "dialtone.yaml").write_text(config + "    default_region: US\n", encoding="utf-8")
    result = collect(load_config(tmp_path / "dialtone.yaml"), as_of=AS_OF)
    got = pq.read_table(result.snapshot.parquet("lines")).to_pylist()
    assert result.rejects == 0
    assert [r["number"] for r in got] == ["+13125550100", "+13125550101"]


def fs_config(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "cdr").mkdir(exist_ok=True)
    (tmp_path / "estate").mkdir(exist_ok=True)
    (tmp_path / "dialtone.yaml").write_text(
        "sources:\n  fs:\n    collector: freeswitch\n    path: ./cdr\n    timezone: Europe/Madrid\n"
        f"{extra}  estate:\n    collector: csv\n    path: ./estate\n", encoding="utf-8")
    return tmp_path / "cdr" / "Master.csv"


def calls(result) -> dict[str, dict]:
    return {c["id"]: c for c in pq.read_table(result.snapshot.parquet("calls")).to_pylist()}


def test_one_spanish_number_in_three_spellings_resolves_to_one_line(tmp_path):
    """The published FreeSWITCH sample: 0034688886392, +34688886392, 34688886392 (and
    00034688886392, one zero too many) called from extensions 9007 and 9008."""
    fs_config(tmp_path, "    default_region: ES\n    line_by: destination\n").write_bytes(
        SAMPLE.read_bytes())
    (tmp_path / "estate" / "lines.csv").write_text(
        "id,kind,status,number\nES-1,mobile,active,+34 688 88 63 92\n", encoding="utf-8")
    result = collect(load_config(tmp_path / "dialtone.yaml"), as_of=AS_OF)
    got = calls(result)
    assert [c["destination"] for c in got.values()] == [
        "+34688886392", "+34688886392", "+34688886392", "+34688886392", "00034688886392"]
    assert [c["line_id"] for c in got.values()] == ["ES-1"] * 4 + ["00034688886392"]
    assert {c["destination_country"] for c in list(got.values())[:4]} == {"ES"}
    # Cleared without an answer time: not answered.
    assert {c["disposition"] for c in got.values()} == {"no_answer"}
    identity = result.snapshot.manifest["sources"]["fs"]["identity"]["fields"]["calls.line_id"]
    assert identity == {"resolved": 4, "unresolved": 1, "ambiguous": 0}


def line(*fields: str) -> str:
    return ",".join('"' + f.replace('"', '""') + '"' for f in fields) + "\n"


def test_calls_get_both_parties_places_and_a_direction_from_the_vanilla_contexts(tmp_path):
    master = fs_config(tmp_path, "    default_region: US\n")
    master.write_text(
        # From outside (context public): a San Francisco caller to the firm's Chicago DID.
        line("", "(415) 555-0100", "3125550100", "public", "2026-06-01 10:00:00",
             "2026-06-01 10:00:05", "2026-06-01 10:05:00", "300", "295", "NORMAL_CLEARING", "u-1",
             "", "", "", "")
        # A registered phone (context default) calling London.
        + line("", "2001", "011 44 20 7123 4567", "default", "2026-06-01 11:00:00",
               "2026-06-01 11:00:03", "2026-06-01 11:01:00", "60", "57", "NORMAL_CLEARING", "u-2",
               "", "", "", "")
        # Busy, never answered.
        + line("", "2001", "+1 617 555 0100", "default", "2026-06-01 12:00:00", "",
               "2026-06-01 12:00:03", "3", "0", "USER_BUSY", "u-3", "", "", "", ""), encoding="utf-8")
    (tmp_path / "estate" / "lines.csv").write_text(
        "id,kind,status,number\nDID-1,did,active,+13125550100\n", encoding="utf-8")
    got = calls(collect(load_config(tmp_path / "dialtone.yaml"), as_of=AS_OF))
    inbound, london, busy = got["u-1"], got["u-2"], got["u-3"]
    assert (inbound["direction"], inbound["line_id"], inbound["disposition"]) == (
        "inbound", "DID-1", "answered")
    assert (inbound["source"], inbound["source_country"], inbound["source_region"]) == (
        "+14155550100", "US", "CA")
    assert (inbound["destination_country"], inbound["destination_region"]) == ("US", "IL")
    assert (london["direction"], london["destination"], london["destination_country"],
            london["destination_region"]) == ("outbound", "+442071234567", "GB", None)
    assert (london["source_country"], london["line_id"]) == (None, "2001")   # an extension
    assert (busy["disposition"], busy["destination_region"]) == ("busy", "MA")


def test_calls_whose_direction_nothing_tells_are_counted_in_a_warning(tmp_path):
    master = fs_config(tmp_path, "    default_region: US\n    direction_by_context: {}\n")
    master.write_text(line("", "+13125550100", "+14155550100", "gateway-in", "2026-06-01 10:00:00", "",
                           "2026-06-01 10:00:05", "5", "0", "NO_ANSWER", "u-1", "", "", "", ""),
                      encoding="utf-8")
    (tmp_path / "estate" / "lines.csv").write_text("id,kind,status\nL1,did,active\n", encoding="utf-8")
    result = collect(load_config(tmp_path / "dialtone.yaml"), as_of=AS_OF)
    assert calls(result)["u-1"]["line_id"] is None
    assert any("fs: 1 call(s) have no direction" in w and "gateway-in (1)" in w
               and "Set direction_by_context" in w for w in result.warnings)
