"""Evidence packages: exported for a quarter of the demo estate, verified, tampered and caught,
OSCAL valid against the official 1.2.1 schemas and compliance-trestle's models, byte-identical."""

from __future__ import annotations

import io
import json
import re
import time
import warnings
import zipfile
from pathlib import Path

import pytest
import regex
from jsonschema import Draft7Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError

SCHEMAS = Path(__file__).parent / "schemas" / "oscal"


def _pattern(validator, pattern, instance, schema):
    # The OSCAL schemas use \p{L}; Python's re cannot compile it, the regex module can.
    if validator.is_type(instance, "string") and not regex.search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


OscalValidator = validators.extend(Draft7Validator, {"pattern": _pattern})


def oscal_errors(doc: dict, schema_file: str) -> list[str]:
    schema = json.loads((SCHEMAS / schema_file).read_text())
    checker = FormatChecker()
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in OscalValidator(schema, format_checker=checker).iter_errors(doc)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo workspace, its evaluation recorded, with some remediation history."""
    from click.testing import CliRunner

    from dialtone.engine.demo import run_demo
    from dialtone.web.cli import cli

    root = tmp_path_factory.mktemp("evidence")
    list(run_demo(root / "demo"))
    runner = CliRunner()
    cfg = str(root / "demo" / "dialtone.yaml")
    env = {"DIALTONE_USER": "alice@example.com"}
    # Findings are assigned to accounts only: bob is an officer of this workspace.
    added = runner.invoke(cli, ["--config", cfg, "users", "add", "bob@example.com", "--role", "officer",
                                "--password-stdin"], input="a long enough passphrase\n", env=env)
    assert added.exit_code == 0, added.output
    for args in (["findings", "assign", "1", "bob@example.com"],
                 ["findings", "comment", "1", "called +1 212 555 0100 about it"],
                 ["findings", "review", "2", "--outcome", "false_positive", "--justification", "test"],
                 ["evidence", "keygen", "--out", str(root / "org")]):
        result = runner.invoke(cli, ["--config", cfg, *args], env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    snapshot = json.loads(runner.invoke(cli, ["--config", cfg, "snapshots", "list", "--format", "json"])
                          .stdout)[0]
    return {"root": root, "cfg": cfg, "runner": runner, "cli": cli, "as_of": snapshot["as_of"]}


def _quarter(as_of: str) -> tuple[str, str]:
    year, month = int(as_of[:4]), int(as_of[5:7])
    first = 3 * ((month - 1) // 3) + 1
    last_day = {3: 31, 6: 30, 9: 30, 12: 31}[first + 2]
    return f"{year}-{first:02d}-01", f"{year}-{first + 2:02d}-{last_day}"


def export(demo, name: str, *extra: str) -> Path:
    start, end = _quarter(demo["as_of"])
    out = demo["root"] / name
    # The demo's snapshot is dated in the past and evaluated today: its quarter by snapshot date.
    result = demo["runner"].invoke(demo["cli"], ["--config", demo["cfg"], "export", "evidence", "--by",
                                                 "snapshot", "--from", start, "--to", end, "-o", str(out),
                                                 *extra],
                                   catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


def verify(demo, package: Path, *extra: str):
    return demo["runner"].invoke(demo["cli"], ["evidence", "verify", str(package), *extra],
                                 catch_exceptions=False)


def members(package: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(package) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def rewrite(package: Path, out: Path, changes: dict[str, bytes]) -> Path:
    files = {**members(package), **changes}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(files):
            zf.writestr(name, files[name])
    out.write_bytes(buf.getvalue())
    return out


@pytest.fixture(scope="module")
def signed(demo):
    return export(demo, "signed.zip", "--sign-with", str(demo["root"] / "org.pem"))


def test_a_signed_quarter_of_the_demo_estate_verifies(demo, signed):
    result = verify(demo, signed, "--key", str(demo["root"] / "org.pub.pem"))
    assert result.exit_code == 0, result.output
    assert "signature verified" in result.output and "OK:" in result.output
    files = members(signed)
    manifest = json.loads(files["manifest.json"])
    assert {f["path"] for f in manifest["files"]} == set(files) - {"manifest.json",
                                                                   "attestation.intoto.dsse.json"}
    assert manifest["counts"]["findings"] > 200 and manifest["signed"] is True
    head = json.loads(files["events/chain-head.json"])
    assert head["verified_at_export"] is True and head["seq"] == manifest["chain_head"]["seq"]
    assert any(name.startswith("policies/") for name in files)
    runs = json.loads(files["evaluations/1/runs.json"])
    assert all(r["sql"] and "evaluated" in r for r in runs)


def test_the_oscal_documents_validate_against_the_official_schemas(signed):
    files = members(signed)
    for path, schema in (("oscal/assessment-results.json", "oscal_assessment-results_schema-1.2.1.json"),
                         ("oscal/assessment-plan.json", "oscal_assessment-plan_schema-1.2.1.json"),
                         ("oscal/poam.json", "oscal_poam_schema-1.2.1.json")):
        errors = oscal_errors(json.loads(files[path]), schema)
        assert not errors, (path, errors[:5])


def test_the_oscal_documents_load_as_trestle_models_and_references_resolve(signed):
    from trestle.oscal.assessment_plan import AssessmentPlan
    from trestle.oscal.assessment_results import AssessmentResults
    from trestle.oscal.poam import PlanOfActionAndMilestones

    files = members(signed)
    ar_doc = json.loads(files["oscal/assessment-results.json"])
    ar = AssessmentResults.model_validate(ar_doc["assessment-results"])
    AssessmentPlan.model_validate(json.loads(files["oscal/assessment-plan.json"])["assessment-plan"])
    PlanOfActionAndMilestones.model_validate(
        json.loads(files["oscal/poam.json"])["plan-of-action-and-milestones"])
    text = json.dumps(ar_doc)
    back_matter = {r.uuid: r for r in ar.back_matter.resources}
    for ref in set(re.findall(r'"href": "#([0-9a-f-]{36})"', text)):
        assert ref in back_matter
    for resource in back_matter.values():  # every evidence file it points at is in the package, hashed
        (link,) = resource.rlinks
        assert link.hashes[0].value == __import__("hashlib").sha256(files[link.href]).hexdigest()
    result = ar.results[-1]
    observations = {o.uuid for o in result.observations}
    for finding in result.findings:
        assert {r.observation_uuid for r in finding.related_observations or []} <= observations
    assert {f.target.status.state.value if hasattr(f.target.status.state, "value")
            else f.target.status.state for f in result.findings} >= {"not-satisfied"}
    assert any(r.risk_log and len(r.risk_log.entries) >= 3 for r in result.risks)  # opened, assigned, …


def test_two_exports_of_the_same_inputs_are_byte_identical(demo, signed):
    again = export(demo, "signed-again.zip", "--sign-with", str(demo["root"] / "org.pem"))
    assert again.read_bytes() == signed.read_bytes()


def test_one_changed_byte_in_a_file_is_caught(demo, signed, tmp_path):
    body = bytearray(members(signed)["findings.json"])
    body[100] ^= 0x01
    bad = rewrite(signed, tmp_path / "byte.zip", {"findings.json": bytes(body)})
    result = verify(demo, bad, "--key", str(demo["root"] / "org.pub.pem"))
    assert result.exit_code == 1
    assert "findings.json: content does not match its SHA-256 in the manifest" in result.output


def test_an_edited_event_is_caught_even_with_a_consistent_manifest(demo, tmp_path):
    from dialtone.engine.evidence.package import canonical, sha256

    unsigned = export(demo, "unsigned.zip")
    files = members(unsigned)
    lines = files["events/events.jsonl"].decode().splitlines()
    event = json.loads(lines[3])
    event["actor"] = "mallory"
    lines[3] = json.dumps(event, sort_keys=True)
    events = ("\n".join(lines) + "\n").encode()
    manifest = json.loads(files["manifest.json"])
    for f in manifest["files"]:
        if f["path"] == "events/events.jsonl":
            f["sha256"], f["bytes"] = sha256(events), len(events)
    bad = rewrite(unsigned, tmp_path / "event.zip",
                  {"events/events.jsonl": events, "manifest.json": canonical(manifest)})
    result = verify(demo, bad)
    assert result.exit_code == 1
    assert f"history: event {event['seq']} was altered" in result.output


def test_a_changed_manifest_or_signature_is_caught(demo, signed, tmp_path):
    files = members(signed)
    manifest = json.loads(files["manifest.json"])
    manifest["period"]["to"] = "2099-12-31"
    from dialtone.engine.evidence.package import canonical

    bad = rewrite(signed, tmp_path / "manifest.zip", {"manifest.json": canonical(manifest)})
    result = verify(demo, bad, "--key", str(demo["root"] / "org.pub.pem"))
    assert result.exit_code == 1 and "manifest.json: not covered by the signed statement" in result.output

    envelope = json.loads(files["attestation.intoto.dsse.json"])
    sig = envelope["signatures"][0]["sig"]
    envelope["signatures"][0]["sig"] = ("A" if sig[0] != "A" else "B") + sig[1:]
    bad = rewrite(signed, tmp_path / "sig.zip", {"attestation.intoto.dsse.json": canonical(envelope)})
    result = verify(demo, bad, "--key", str(demo["root"] / "org.pub.pem"))
    assert result.exit_code == 1 and "signature does not verify" in result.output


def test_an_unsigned_package_says_so(demo):
    unsigned = export(demo, "unsigned-2.zip")
    files = members(unsigned)
    assert "attestation.intoto.dsse.json" not in files
    assert b"not signed" in files["index.html"]
    result = verify(demo, unsigned)
    assert result.exit_code == 0 and "note: the package is not signed" in result.output
    refused = verify(demo, unsigned, "--key", str(demo["root"] / "org.pub.pem"))
    assert refused.exit_code == 1 and "not signed, but a key was given" in refused.output


def test_masking_pii_is_consistent_and_leaves_no_numbers_or_addresses(demo):
    first = members(export(demo, "masked-1.zip", "--mask-pii"))
    second = members(export(demo, "masked-2.zip", "--mask-pii"))
    assert first == second
    evidence = first["evidence/findings.jsonl"].decode()
    assert not re.search(r"\+\d{10,}", evidence)
    assert not re.search(r"[\w.]+@[\w.-]+\.\w+", evidence)
    assert "[phone:" in evidence
    events = first["events/events.jsonl"].decode()
    assert "555 0100" not in events and "[phone:" in events
    unmasked = members(export(demo, "plain.zip"))["evidence/findings.jsonl"].decode()
    assert re.search(r"\+\d{10,}", unmasked)


def test_scope_errors_are_clear(demo):
    runner, cli = demo["runner"], demo["cli"]
    base = ["--config", demo["cfg"], "export", "evidence", "-o", str(demo["root"] / "x.zip")]
    result = runner.invoke(cli, [*base, "--by", "snapshot", "--from", "1999-01-01", "--to", "1999-03-31"])
    assert result.exit_code == 2
    assert "No evaluation covers a snapshot dated between 1 Jan and 31 Mar 1999." in result.output
    start, end = _quarter(demo["as_of"])
    result = runner.invoke(cli, [*base, "--by", "snapshot", "--from", start, "--to", end,
                                 "--framework", "finra4511"])
    assert result.exit_code == 2 and "Did you mean 'finra-4511'" in result.output


def test_the_schema_check_rejects_an_invalid_assessment_result(signed):
    doc = json.loads(members(signed)["oscal/assessment-results.json"])
    doc["assessment-results"]["results"][0]["findings"][0]["target"]["status"]["state"] = "resolved"
    doc["assessment-results"]["results"][0]["start"] = "2026-06-30T00:00:00"   # no time zone
    errors = oscal_errors(doc, "oscal_assessment-results_schema-1.2.1.json")
    assert len(errors) >= 2


# -- hostile packages: every problem a clean FAIL, memory bounded (review E-8, E-9, E-13, E-15) --

def relisted(package: Path, out: Path, changes: dict[str, bytes], extra: list[tuple[str, bytes]] = ()
             ) -> Path:
    """An unsigned package with ``changes`` applied and the manifest recomputed to match them, so
    that only the check under test can fail; ``extra`` members are appended as they are (names
    may repeat)."""
    from dialtone.engine.evidence.package import canonical, sha256

    files = {**members(package), **changes}
    manifest = json.loads(files["manifest.json"])
    for f in manifest["files"]:
        if f["path"] in changes:
            f["sha256"], f["bytes"] = sha256(changes[f["path"]]), len(changes[f["path"]])
    files["manifest.json"] = canonical(manifest)
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        warnings.simplefilter("ignore")          # zipfile warns of a duplicate name: the attack
        for name in sorted(files):
            zf.writestr(name, files[name])
        for name, body in extra:
            zf.writestr(name, body)
    return out


@pytest.fixture(scope="module")
def unsigned(demo):
    return export(demo, "unsigned-hostile.zip")


def test_a_tampered_duplicate_of_a_signed_file_fails_whichever_copy_comes_first(demo, signed, tmp_path):
    # E-9: the tampered copy first, the genuine package after it; a first-entry reader (unzip -n)
    # gets the tampered findings.json, so the package must not verify.
    bad = members(signed)["findings.json"].replace(b'"open"', b'"opem"', 1)
    out = tmp_path / "dup.zip"
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        warnings.simplefilter("ignore")
        zf.writestr(zipfile.ZipInfo("findings.json", (1980, 1, 1, 0, 0, 0)), bad)
        for name, body in sorted(members(signed).items()):
            zf.writestr(name, body)
    result = verify(demo, out, "--key", str(demo["root"] / "org.pub.pem"))
    assert result.exit_code == 1
    assert ("FAIL: findings.json: 2 entries with this name in the package (readers disagree on which "
            "one counts)") in result.output
    assert "OK:" not in result.output


@pytest.mark.parametrize(("name", "why"), [
    ("../../../../tmp/pwn", "a '..' component"),
    ("evidence/../../pwn", "a '..' component"),
    ("/etc/pwn", "an absolute path"),
    ("..\\..\\pwn", "a backslash"),
    ("C:/Windows/pwn", "a drive letter"),
    ("c:pwn", "a drive letter"),
])
def test_a_member_name_that_could_escape_the_folder_fails_even_when_listed(demo, unsigned, tmp_path,
                                                                           name, why):
    # E-8: listed in the manifest with its right hash, so only the name can fail it.
    from dialtone.engine.evidence.package import canonical, sha256

    files = members(unsigned)
    manifest = json.loads(files["manifest.json"])
    manifest["files"].append({"path": name, "sha256": sha256(b"pwn"), "bytes": 3, "media_type": "text/plain"})
    out = relisted(unsigned, tmp_path / "slip.zip", {"manifest.json": canonical(manifest)},
                   extra=[(name, b"pwn")])
    result = verify(demo, out)
    assert result.exit_code == 1
    assert f"FAIL: {name!r}: unsafe member name ({why})" in result.output
    assert f"FAIL: {name!r}: unsafe path in the manifest ({why})" in result.output


def test_a_member_larger_than_the_manifest_states_is_not_read(demo, unsigned, tmp_path, monkeypatch):
    # E-15: 64 MiB of zeros (64 KiB compressed) listed as 10 bytes: refused from the zip's
    # directory, without decompressing it.
    from dialtone.engine.evidence.package import canonical, sha256

    manifest = json.loads(members(unsigned)["manifest.json"])
    manifest["files"].insert(0, {"path": "bomb.bin", "sha256": sha256(b"0" * 10), "bytes": 10,
                                 "media_type": "application/octet-stream"})
    out = relisted(unsigned, tmp_path / "bomb.zip", {"manifest.json": canonical(manifest)},
                   extra=[("bomb.bin", b"\0" * (64 << 20))])
    assert out.stat().st_size < 2 << 20

    def never(*_args, **_kwargs):
        raise AssertionError("bomb.bin was decompressed")

    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, member, *a, **k: never() if getattr(
        member, "filename", member) == "bomb.bin" else real_open(self, member, *a, **k))
    result = verify(demo, out)
    assert result.exit_code == 1
    assert ("FAIL: bomb.bin: 67,108,864 bytes uncompressed, more than what the manifest states (10); "
            "not read") in result.output


def test_a_member_over_the_size_cap_is_refused_even_when_the_manifest_agrees(demo, unsigned, tmp_path,
                                                                           monkeypatch):
    from dialtone.engine.evidence import verify as verifying

    monkeypatch.setattr(verifying, "MAX_MEMBER_BYTES", 1000)
    report = verifying.verify_package(unsigned)
    assert not report.ok
    assert any(p.startswith("findings.json: ") and "more than the 1,000 bytes a member may hold" in p
               for p in report.problems)


def _first_listed(package: Path, path: str) -> dict:
    return next(f for f in json.loads(members(package)["manifest.json"])["files"] if f["path"] == path)


@pytest.mark.parametrize(("member", "mangle", "message"), [
    ("manifest.json", lambda m: {**m, "files": [{k: v for k, v in f.items() if k != "sha256"}
                                                for f in m["files"]]},
     "manifest.json is not a valid manifest (files[0] needs a 'path', a 'sha256'"),
    ("manifest.json", lambda m: {**m, "files": [{**f, "bytes": "12"} for f in m["files"]]},
     "manifest.json is not a valid manifest (files[0] needs"),
    ("manifest.json", lambda m: {**m, "files": m["files"] + m["files"][:1]},
     "manifest.json is not a valid manifest (disputes.json is listed twice)"),
    ("manifest.json", lambda m: [m], "manifest.json is not a valid manifest (expected an object"),
    ("events/events.jsonl", b"[1,2,3]\n", "events/events.jsonl line 1: expected an object"),
    ("events/events.jsonl", lambda lines: [{k: v for k, v in lines[0].items() if k != "at"}] + lines[1:],
     "events/events.jsonl line 1: 'at' is missing or of the wrong type"),
    ("events/events.jsonl", lambda lines: [{**lines[0], "seq": True}] + lines[1:],
     "events/events.jsonl line 1: 'seq' is missing"),
    ("events/events.jsonl", b"{" * 100_000 + b"\n", "events/events.jsonl line 1: not JSON"),
    ("events/chain-head.json", b"[1, 2]", "events/chain-head.json: expected an object with 'seq'"),
    ("events/chain.jsonl", b"[1, \"a\"]\n", "events/chain.jsonl line 1: expected [seq, prev_hash, hash]"),
])
def test_a_malformed_manifest_or_history_is_a_clean_failure(demo, unsigned, tmp_path, member, mangle,
                                                           message):
    # E-13: each of these was a KeyError or TypeError traceback.
    from dialtone.engine.evidence.package import canonical, jsonl

    files = members(unsigned)
    if member == "manifest.json":
        body = canonical(mangle(json.loads(files[member])))
        out = rewrite(unsigned, tmp_path / "m.zip", {member: body})
    elif callable(mangle):
        body = jsonl(mangle([json.loads(line) for line in files[member].splitlines()]))
        out = relisted(unsigned, tmp_path / "m.zip", {member: body})
    else:
        out = relisted(unsigned, tmp_path / "m.zip", {member: mangle})
    result = verify(demo, out)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_masking_masks_what_it_masked_before_on_normal_text():
    # The patterns Python's re used; RE2 must find exactly the same matches, Unicode digits included.
    from dialtone.engine.evidence.masking import Masker

    old_phone = re.compile(r"\+?\d[\d ().-]{6,}\d")
    old_email = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
    masker = Masker(b"k" * 32)

    def old_text(value: str) -> str:
        value = old_email.sub(lambda m: masker.token("email", m.group(0).lower()), value)
        return old_phone.sub(lambda m: masker.token("phone", re.sub(r"[^\d+]", "", m.group(0))), value)

    for text in ["called +1 212 555 0100 about it",
                 "mail Bob.Smith@Example.COM, cc ops-team+alerts@corp.co.uk",
                 "(212) 555-0100 or 212.555.0101 ext 7", "IMEI 356938035643809; since 2026-01-15",
                 "a@b.co1x@y.com", "٠١٢٣٤٥٦٧٨٩ and ０１２３４５６７８", "no digits here", "12345 67", "",
                 "émile.zola@exemple.fr appelle +33 1 23 45 67 89", "x" * 70 + "@" + "d" * 300 + ".com"]:
        assert masker.text(text) == old_text(text), text


@pytest.mark.parametrize("hostile", [
    "C" * 1_000_000, "a@" * 500_000, ("x" * 60 + "@" + "b." * 100 + "-") * 3000, "1" + " " * 1_000_000,
    "a@b.cc " * 140_000, "9(" * 500_000])
def test_masking_a_1mb_hostile_value_takes_linear_time(hostile):
    # W-M1: re took ~16 minutes on 1 MB of "C" (quadratic); RE2 scans it once.
    from dialtone.engine.evidence.masking import Masker

    started = time.perf_counter()
    Masker(b"k" * 32).text(hostile)
    assert time.perf_counter() - started < 5
