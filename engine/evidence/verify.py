"""Verify an evidence package: every file's hash, the signature, the history chain inside."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..store import chain
from .package import ATTESTATION, MANIFEST, PAYLOAD_TYPE, sha256, verify_skeleton


@dataclass
class VerifyReport:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked_files: int = 0
    checked_events: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _load_public_key(path: Path):
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.signer import SSlibKey

    return SSlibKey.from_crypto(load_pem_public_key(Path(path).read_bytes()))


def verify_package(path: Path, public_key: Path | None = None) -> VerifyReport:
    report = VerifyReport()
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        report.problems.append(f"{path}: not a readable zip file ({exc})")
        return report
    with zf:
        names = set(zf.namelist())
        if MANIFEST not in names:
            report.problems.append("manifest.json is missing")
            return report
        raw_manifest = zf.read(MANIFEST)
        try:
            manifest = json.loads(raw_manifest)
            listed = {f["path"]: f for f in manifest["files"]}
        except (ValueError, KeyError, TypeError) as exc:
            report.problems.append(f"manifest.json is not a valid manifest ({exc})")
            return report
        contents = {}
        for name, entry in sorted(listed.items()):
            if name not in names:
                report.problems.append(f"{name}: listed in the manifest but missing from the package")
                continue
            body = zf.read(name)
            contents[name] = body
            report.checked_files += 1
            if sha256(body) != entry["sha256"] or len(body) != entry["bytes"]:
                report.problems.append(f"{name}: content does not match its SHA-256 in the manifest")
        for extra in sorted(names - set(listed) - {MANIFEST, ATTESTATION}):
            report.problems.append(f"{extra}: in the package but not in the manifest")
        contents[MANIFEST] = raw_manifest
        _check_signature(zf, names, manifest, contents, public_key, report)
        _check_chain(contents, report)
    return report


def _check_signature(zf, names, manifest, contents, public_key, report: VerifyReport) -> None:
    if ATTESTATION not in names:
        if public_key is not None:
            report.problems.append("the package is not signed, but a key was given to check a signature")
        else:
            report.notes.append("the package is not signed")
        if manifest.get("signed"):
            report.problems.append("the manifest says the package was signed, but the signature is missing")
        return
    try:
        envelope_doc = json.loads(zf.read(ATTESTATION))
        from securesystemslib.dsse import Envelope

        envelope = Envelope.from_dict(envelope_doc)
        statement = json.loads(envelope.payload)
    except Exception as exc:  # noqa: BLE001 - any malformed envelope is one problem to report
        report.problems.append(f"{ATTESTATION}: not a valid DSSE envelope ({exc})")
        return
    if envelope.payload_type != PAYLOAD_TYPE:
        report.problems.append(f"{ATTESTATION}: unexpected payload type {envelope.payload_type}")
    subjects = {s["name"]: s["digest"]["sha256"] for s in statement.get("subject", [])}
    for name, body in sorted(contents.items()):
        if subjects.get(name) != sha256(body):
            report.problems.append(f"{name}: not covered by the signed statement with this content")
    for name in sorted(set(subjects) - set(contents)):
        report.problems.append(f"{name}: signed but missing from the package")
    if public_key is None:
        report.notes.append("signature present but not checked: pass --key with the organisation's "
                            "public key")
        return
    try:
        envelope.verify([_load_public_key(public_key)], 1)
    except Exception as exc:  # noqa: BLE001 - securesystemslib raises several kinds
        report.problems.append(f"{ATTESTATION}: the signature does not verify with {public_key} ({exc})")
    else:
        report.notes.append(f"signature verified with {public_key}")


def _check_chain(contents: dict[str, bytes], report: VerifyReport) -> None:
    try:
        head = json.loads(contents["events/chain-head.json"])
        skeleton = [tuple(json.loads(line)) for line in contents["events/chain.jsonl"].splitlines()]
        events = [json.loads(line) for line in contents["events/events.jsonl"].splitlines()]
    except (KeyError, ValueError) as exc:
        report.problems.append(f"the history files are missing or unreadable ({exc})")
        return
    problem = verify_skeleton(skeleton, head["seq"], head["hash"])
    if problem:
        report.problems.append(f"history chain: {problem}")
        return
    by_seq = {seq: (prev, digest) for seq, prev, digest in skeleton}
    masked = 0
    for e in events:
        link = by_seq.get(e["seq"])
        if link is None or link != (e["prev_hash"], e["hash"]):
            report.problems.append(f"history: event {e['seq']} is not the event at that place in the chain")
            continue
        if e.get("masked"):
            masked += 1
            continue
        digest = chain.event_hash(e["prev_hash"], e["seq"], e["at"], e["actor"], e["kind"],
                                  e["finding_id"], e["exception_id"], e["evaluation_id"], e["data"])
        if digest != e["hash"]:
            report.problems.append(f"history: event {e['seq']} was altered (its content does not match "
                                   "its hash)")
        report.checked_events += 1
    if masked:
        report.notes.append(f"{masked} events have masked contents; their hashes were matched to the "
                            "chain but cannot be recomputed")
