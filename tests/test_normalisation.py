"""Collect-time normalisation: the words sources use become the estate's canonical values
(engine/estate/synonyms.yaml), a source's own words are mapped with ``values:``, and a
value that matches nothing is still a reject that shows what was written."""

from __future__ import annotations

import csv

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dialtone.engine.collect import collect
from dialtone.engine.collector_api import ROW_COLUMN, ParseOptions, RawBatch
from dialtone.engine.config import load_config
from dialtone.engine.errors import ConfigError, DialtoneError
from dialtone.engine.estate.model import load_model
from dialtone.engine.estate.vocabulary import build, key, load_vocabulary
from dialtone.engine.validate import validate_batch

from .conftest import AS_OF, write_csv

# A US carrier's wireless inventory, as exported: its own headers, statuses in three
# spellings and a seasonal suspension, device types for kinds, national numbers.
CARRIER_EXPORT = (
    "Wireless Number,Line Status,Device Type,Usage Purpose,Monthly Charge,Currency,Recording\n"
    "(312) 555-0100,Active,Smartphone,,40.00,usd,Off\n"
    "312.555.0101,ACTIVE,Basic Phone,ELEVATOR 3,12.50,US$,On\n"
    "+1 312 555 0102,Suspended - Seasonal,Jetpack,Mobile Hotspot,20.00,USD,N\n"
    "1-312-555-0103, active ,Smartphone,Elevator,35.00,USD,\n"
    "312-555-0104,Suspended - Lost/Stolen,Smartphone,,35.00,USD,\n"
    "312-555-0105,Pending Activation,Smartphone,,35.00,USD,\n"
)
CARRIER_SOURCE = """\
  carrier:
    collector: csv
    path: ./exports/wireless.csv
    entity: lines
    columns:
      Wireless Number: number
      Line Status: status
      Device Type: kind
      Usage Purpose: purpose
      Monthly Charge: monthly_cost
      Currency: currency
      Recording: recorded
    default_region: US
    values:
      purpose: {"ELEVATOR 3": lift}
"""


def configure(tmp_path, sources: str):
    (tmp_path / "dialtone.yaml").write_text("sources:\n" + sources, encoding="utf-8")
    return load_config(tmp_path / "dialtone.yaml")


def rows(result, entity: str) -> list[dict]:
    return pq.read_table(result.snapshot.parquet(entity)).to_pylist()


def rejects(result) -> list[dict]:
    path = result.snapshot.path / "rejects.csv"
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def carrier(tmp_path, export: str = CARRIER_EXPORT, source: str = CARRIER_SOURCE):
    """Collect the export, each row given a line id L1, L2… in a first column."""
    path = tmp_path / "exports" / "wireless.csv"
    path.parent.mkdir(exist_ok=True)
    header, *body = export.splitlines()
    path.write_text("\n".join([f"Line,{header}"] + [f"L{i},{row}" for i, row in enumerate(body, 1)])
                    + "\n", encoding="utf-8")
    source = source.replace("    columns:\n", "    columns:\n      Line: id\n")
    return collect(configure(tmp_path, source), as_of=AS_OF)


def test_a_carrier_export_in_its_own_words_loads_in_canonical_values(tmp_path):
    result = carrier(tmp_path)
    got = {r["id"]: r for r in rows(result, "lines")}
    assert sorted(got) == ["L1", "L2", "L3", "L4", "L5"]
    assert [got[i]["status"] for i in sorted(got)] == [
        "active", "active", "suspended", "active", "suspended"]
    assert [got[i]["kind"] for i in sorted(got)] == ["mobile"] * 5
    # Engine words (Elevator, Mobile Hotspot) and the source's own (ELEVATOR 3, by values:).
    assert [got[i]["purpose"] for i in sorted(got)] == [None, "lift", "hotspot", "lift", None]
    # National numbers read in the US: one E.164 form whatever the punctuation.
    assert [got[i]["number"] for i in sorted(got)] == [
        "+13125550100", "+13125550101", "+13125550102", "+13125550103", "+13125550104"]
    assert {got[i]["currency"] for i in got} == {"USD"}                 # usd, US$, USD
    assert [got[i]["recorded"] for i in sorted(got)] == [False, True, False, None, None]
    # A status that is no canonical value nor a synonym of one: a reject that shows the word.
    (bad,) = rejects(result)
    assert (bad["row"], bad["field"], bad["value"]) == ("7", "status", "Pending Activation")
    assert bad["reason"] == ("expected one of: active, suspended, cancelled, or a synonym of one; "
                             "got 'Pending Activation'")


@pytest.mark.parametrize(("entity", "header", "written", "canonical"), [
    ("devices", "compliance_state", ["inGracePeriod", "configManager", "noncompliant", "Non-compliant",
                                     "Compliant", "something new"],
     ["in_grace_period", "managed_elsewhere", "noncompliant", "noncompliant", "compliant",
      "something new"]),
    ("devices", "ownership", ["Corporate", "BYOD", "unknown", "COPE"],
     ["company", "personal", None, "company"]),
    ("people", "status", ["LOA", "Leave of Absence", "Separated", "Employed", "T"],
     ["leave", "leave", "terminated", "active", "terminated"]),
    ("calls", "disposition", ["ANSWERED", "NO ANSWER", "CONGESTION", "completed", "no-answer",
                              "canceled", "USER_BUSY", "ORIGINATOR_CANCEL", "NORMAL_CLEARING"],
     ["answered", "no_answer", "failed", "answered", "no_answer", "cancelled", "busy", "cancelled",
      "NORMAL_CLEARING"]),
    ("calls", "direction", ["outbound-api", "trunking-terminating", "trunking-originating", "user_in",
                            "Outbound"],
     ["outbound", "outbound", "inbound", "inbound", "outbound"]),
    ("licenses", "status", ["Enabled", "inactive", "Invited"], ["active", "disabled", "pending"]),
    ("licenses", "product", ["Microsoft Teams", "Zoom Meetings", "BlueJeans"],
     ["teams", "zoom", "BlueJeans"]),
    ("charges", "charge_type", ["MRC", "Sales Tax", "USF", "Late Payment Charge", "NRC"],
     ["recurring", "tax", "surcharge", "late_fee", "one_time"]),
    ("disputes", "status", ["Closed Won", "In Review", "Denied"], ["credited", "open", "denied"]),
    ("recordings", "purpose", ["QA", "MiFID", "PCI"], ["quality", "regulatory", "payment"]),
    ("retention_policies", "action", ["KeepAndDelete", "Keep", "Delete"],
     ["keep_and_delete", "keep", "delete"]),
    ("lines", "kind", ["POTS", "PRI", "Toll Free", "M2M", "SIP Trunk", "DDI"],
     ["landline", "circuit", "toll_free", "iot", "sip_trunk", "did"]),
    ("lines", "status", ["In Service", "Disconnected", "Ported Out", "pendingTerminate", "terminated"],
     ["active", "cancelled", "cancelled", "active", "cancelled"]),
    ("people", "country", ["us", "UK", "USA", "gb"], ["US", "GB", "US", "GB"]),
    # An asset register's phone out for repair or in the loaner pool: status unknown, not a
    # reject (the line then looked as if it had no device at all).
    ("devices", "status", ["In Repair", "RMA", "Loaner", "In Stock", "Deployed"],
     [None, None, None, "spare", "in_use"]),
])
def test_words_of_real_sources_become_canonical_values(entity, header, written, canonical):
    model = load_model()
    ent = model.entity(entity)
    key_fields = {k: [f"K{i}" for i in range(len(written))] for k in ent.key}
    required = {f.name: ["x"] * len(written) for f in ent.fields if f.required and f.name not in key_fields
                and f.name != header and f.type == "string" and not f.enum}
    if entity == "calls":
        required["started_at"] = ["2026-06-01T10:00:00Z"] * len(written)
    if entity == "people":
        required["status"] = ["active"] * len(written)
    if entity == "lines":
        required.update(kind=["mobile"] * len(written), status=["active"] * len(written))
    if entity == "charges":
        required["amount"] = ["1"] * len(written)
    if entity == "retention_policies":
        required["system"] = ["Purview"] * len(written)
    table = pa.table({**key_fields, **required, header: written,
                      ROW_COLUMN: list(range(2, len(written) + 2))})
    out = validate_batch(duckdb.connect(), ent, RawBatch(entity, table, "f.csv"), "s")
    assert out.rejects.num_rows == 0, out.rejects.to_pylist()
    assert out.table.column(header).to_pylist() == canonical


def test_list_items_and_booleans_use_the_vocabulary_too():
    ent = load_model().entity("people")
    table = pa.table({"id": ["P1"], "status": ["active"], "regulatory_scopes": ["FINRA;MiFID II;pci"],
                      ROW_COLUMN: [2]})
    out = validate_batch(duckdb.connect(), ent, RawBatch("people", table, "p.csv"), "s")
    assert out.table.column("regulatory_scopes").to_pylist() == [["finra_bd", "mifid", "pci"]]
    ent = load_model().entity("devices")
    table = pa.table({"id": ["D1", "D2", "D3"], "encrypted": ["Encrypted", "Off", "maybe"],
                      "mdm_enrolled": ["Managed", "Not Enrolled", "y"], ROW_COLUMN: [2, 3, 4]})
    out = validate_batch(duckdb.connect(), ent, RawBatch("devices", table, "d.csv"), "s")
    assert out.table.column("encrypted").to_pylist() == [True, False]
    assert out.table.column("mdm_enrolled").to_pylist() == [True, False]
    assert [(r["field"], r["value"], r["reason"]) for r in out.rejects.to_pylist()] == [
        ("encrypted", "maybe", "expected true or false")]


def test_a_trunk_whose_encryption_is_only_offered_reads_as_not_encrypted():
    """An SBC export's "Optional" / "Best effort" SRTP or TLS (encrypted only when the far end
    agrees, else cleartext) is off, not a rejected row that never reaches the policy."""
    ent = load_model().entity("lines")
    table = pa.table({"id": ["T1", "T2", "T3"], "kind": ["sip_trunk"] * 3, "status": ["active"] * 3,
                      "srtp_enabled": ["Optional", "Best effort", "Required"],
                      "tls_enabled": ["best-effort", "Mandatory", "Preferred"], ROW_COLUMN: [2, 3, 4]})
    out = validate_batch(duckdb.connect(), ent, RawBatch("lines", table, "trunks.csv"), "s")
    assert out.rejects.num_rows == 0, out.rejects.to_pylist()
    assert out.table.column("srtp_enabled").to_pylist() == [False, False, True]
    assert out.table.column("tls_enabled").to_pylist() == [False, True, False]


def test_a_source_s_own_true_and_false_values_come_before_the_engine_s_words():
    ent = load_model().entity("devices")
    table = pa.table({"id": ["D1"], "encrypted": ["Off"], ROW_COLUMN: [2]})
    # The source's settings say "Off" is true (say, a column "Encryption off-loaded"): believed.
    options = ParseOptions(true_values=("off",))
    out = validate_batch(duckdb.connect(), ent, RawBatch("devices", table, "d.csv", options), "s")
    assert out.table.column("encrypted").to_pylist() == [True]


@pytest.mark.parametrize(("values", "message"), [
    ('      statuss: {"Suspended - Lost/Stolen": suspended}\n',
     "sources.carrier.values.statuss: lines has no field 'statuss'. Did you mean 'status'?"),
    ('      status: {"Suspended - Lost/Stolen": suspnded}\n',
     "sources.carrier.values.status: 'Suspended - Lost/Stolen' maps to 'suspnded', which lines.status "
     "does not take (allowed: active, suspended, cancelled)"),
    ("      devices.compliance_state: {Grace: grace}\n",
     "maps to 'grace', which devices.compliance_state does not take (allowed: compliant, noncompliant"),
    ("      currency: {$: dollars}\n", "does not take (does not match ^[A-Z]{3}$)"),
    ("      recorded: {On: true}\n", "put the value True in quotes"),
    ("      nosuch.status: {x: y}\n", "no entity 'nosuch'"),
])
def test_values_that_name_an_unknown_field_or_a_value_it_does_not_take_are_config_errors(
        tmp_path, values, message):
    source = CARRIER_SOURCE.replace('      purpose: {"ELEVATOR 3": lift}\n', values)
    with pytest.raises(ConfigError) as info:
        carrier(tmp_path, source=source)
    assert message in str(info.value)


def test_values_in_a_folder_source_name_the_entity(tmp_path):
    write_csv(tmp_path / "estate", "lines", ["id", "kind", "status"], [["L1", "Cell", "Hotlined"]])
    write_csv(tmp_path / "estate", "charges", ["id", "invoice_id", "amount", "currency"],
              [["C1", "I1", "10", "$"]])
    with pytest.raises(ConfigError, match="name the field as entity.field"):
        collect(configure(tmp_path, "  estate:\n    collector: csv\n    path: ./estate\n"
                                    "    values: {kind: {Cell: mobile}}\n"), as_of=AS_OF)
    # A bare $ names no one currency: the source says which it means.
    result = collect(configure(tmp_path, "  estate:\n    collector: csv\n    path: ./estate\n"
                                         "    values: {charges.currency: {$: USD}}\n"), as_of=AS_OF)
    assert rows(result, "charges")[0]["currency"] == "USD"
    assert (rows(result, "lines")[0]["kind"], rows(result, "lines")[0]["status"]) == ("mobile", "suspended")


def test_the_vocabulary_agrees_with_the_model():
    model = load_model()
    vocabulary = load_vocabulary()
    for entity in model.entities.values():
        for f in entity.fields:
            allowed = f.item_enum if f.type == "list" else f.enum
            if not allowed:
                continue
            vocab = vocabulary.of(entity.name, f.name)
            assert vocab is not None and vocab.canonical == allowed, f"{entity.name}.{f.name}"
            assert all(v is None or v in allowed for v in vocab.words.values())
    # The review's A.5 examples.
    assert vocabulary.of("lines", "purpose").canonical_of("elevator") == "lift"
    assert vocabulary.of("devices", "ownership").canonical_of("Unknown") is None
    assert vocabulary.of("lines", "status").canonical_of("no such status") is False


def test_a_word_with_two_meanings_or_a_value_the_model_lacks_is_refused():
    model = load_model()
    with pytest.raises(DialtoneError, match="'gone' would mean both 'cancelled' and 'suspended'"):
        build({"fields": {"lines.status": {"cancelled": ["Gone"], "suspended": ["gone"]}}}, model)
    with pytest.raises(DialtoneError, match="paused not allowed by the model"):
        build({"fields": {"lines.status": {"paused": ["Hold"]}}}, model)
    with pytest.raises(DialtoneError, match="quote On, Off"):
        build({"booleans": {"*": {True: [True]}}}, model)
    assert key(" In-Service_ ") == key("in service") == "inservice"
