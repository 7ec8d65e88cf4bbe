"""Verify an evidence package: every file's hash, the signature, the history chain inside.

A package may come from anyone, so it is read as hostile input: every problem is
one line of the report (never a traceback), and memory stays bounded whatever the
zip holds. Members are hashed while they are streamed, never loaded whole; a
member is not read at all when the zip says it is larger than the manifest states
or than ``MAX_MEMBER_BYTES``; the files parsed whole (the manifest, the signature,
the chain head) may hold at most ``MAX_DOCUMENT_BYTES``, and the history files are
read a line at a time, each line at most ``MAX_LINE_BYTES``. Names that an
extracting tool could write outside its folder, or that appear twice (readers
disagree on which copy counts), fail the package.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..store import chain
from .package import ATTESTATION, MANIFEST, PAYLOAD_TYPE, verify_skeleton

#: The largest member read, uncompressed (2 GiB): a year of history for millions of findings fits.
MAX_MEMBER_BYTES = 2 << 30
#: The largest manifest, signature envelope or chain head (16 MiB), which are parsed whole.
MAX_DOCUMENT_BYTES = 16 << 20
#: The longest line of the history files (64 MiB): one event with a very long comment fits.
MAX_LINE_BYTES = 64 << 20
_CHUNK = 1 << 20
CHAIN_HEAD = "events/chain-head.json"
CHAIN = "events/chain.jsonl"
EVENTS = "events/events.jsonl"
#: What reading a damaged, unsupported or encrypted member can raise.
_READ_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error,
                NotImplementedError, RuntimeError, ValueError)
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass
class VerifyReport:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked_files: int = 0
    checked_events: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


class _Malformed(Exception):
    """A member whose content is not what the package format says; the message says how."""


def _load_public_key(path: Path):
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.signer import SSlibKey

    return SSlibKey.from_crypto(load_pem_public_key(Path(path).read_bytes()))


def unsafe_name(name: str) -> str | None:
    """Why a member name could escape the folder it is extracted into, or None when it cannot."""
    if not name:
        return "an empty name"
    if "\\" in name:
        return "a backslash"
    if "\0" in name:
        return "a NUL character"
    if name.startswith("/"):
        return "an absolute path"
    if re.match(r"[A-Za-z]:", name):
        return "a drive letter"
    if ".." in name.split("/"):
        return "a '..' component"
    return None


def verify_package(path: Path, public_key: Path | None = None) -> VerifyReport:
    report = VerifyReport()
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        report.problems.append(f"{path}: not a readable zip file ({exc})")
        return report
    with zf:
        members = _members(zf, report)
        if MANIFEST not in members:
            report.problems.append("manifest.json is missing")
            return report
        try:
            raw_manifest = _read_document(zf, members[MANIFEST])
            manifest, listed = _manifest(raw_manifest)
        except _Malformed as exc:
            report.problems.append(f"manifest.json is not a valid manifest ({exc})")
            return report
        digests = _check_files(zf, members, listed, report)
        digests[MANIFEST] = hashlib.sha256(raw_manifest).hexdigest()
        _check_signature(zf, members, manifest, digests, public_key, report)
        _check_chain(zf, members, digests, report)
    return report


def _members(zf: zipfile.ZipFile, report: VerifyReport) -> dict[str, zipfile.ZipInfo]:
    """The members by name; names given twice or that could escape a folder are problems."""
    infos = zf.infolist()
    for name, count in sorted(Counter(i.filename for i in infos).items()):
        if count > 1:
            report.problems.append(f"{name}: {count} entries with this name in the package (readers "
                                   "disagree on which one counts)")
    for info in infos:
        why = unsafe_name(info.filename)
        if why:
            report.problems.append(f"{info.filename!r}: unsafe member name ({why}): extracting it "
                                   "could write outside the destination folder")
    return {i.filename: i for i in infos}


def _read_document(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A member parsed whole (manifest, envelope, chain head): at most MAX_DOCUMENT_BYTES."""
    if info.file_size > MAX_DOCUMENT_BYTES:
        raise _Malformed(f"{info.file_size:,} bytes, more than the {MAX_DOCUMENT_BYTES:,} allowed")
    try:
        with zf.open(info) as fh:
            body = fh.read(MAX_DOCUMENT_BYTES + 1)
    except _READ_ERRORS as exc:
        raise _Malformed(f"cannot be read: {exc}") from None
    if len(body) > MAX_DOCUMENT_BYTES:
        raise _Malformed(f"more than the {MAX_DOCUMENT_BYTES:,} bytes allowed")
    return body


def _json(body: bytes | str) -> object:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep to parse
        raise _Malformed(f"not JSON: {str(exc)[:200]}") from None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _manifest(raw: bytes) -> tuple[dict, dict[str, tuple[str, int]]]:
    """The manifest and its files: path -> (sha256, bytes), every entry checked for shape."""
    manifest = _json(raw)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise _Malformed("expected an object with a 'files' list")
    listed: dict[str, tuple[str, int]] = {}
    for i, entry in enumerate(manifest["files"]):
        if not (isinstance(entry, dict) and isinstance(entry.get("path"), str)
                and isinstance(entry.get("sha256"), str) and _SHA256.fullmatch(entry["sha256"])
                and _is_int(entry.get("bytes")) and entry["bytes"] >= 0):
            raise _Malformed(f"files[{i}] needs a 'path', a 'sha256' of 64 hex digits and a "
                             "whole number of 'bytes'")
        if entry["path"] in listed:
            raise _Malformed(f"{entry['path']} is listed twice")
        listed[entry["path"]] = (entry["sha256"], entry["bytes"])
    return manifest, listed


def _check_files(zf: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo],
                 listed: dict[str, tuple[str, int]], report: VerifyReport) -> dict[str, str]:
    """Hash every listed member, streamed; returns path -> SHA-256 of those read."""
    digests: dict[str, str] = {}
    for name, (expected, size) in sorted(listed.items()):
        why = unsafe_name(name)
        if why:
            report.problems.append(f"{name!r}: unsafe path in the manifest ({why})")
            continue
        info = members.get(name)
        if info is None:
            report.problems.append(f"{name}: listed in the manifest but missing from the package")
            continue
        if info.file_size > size or info.file_size > MAX_MEMBER_BYTES:
            limit = "what the manifest states" if info.file_size > size else \
                f"the {MAX_MEMBER_BYTES:,} bytes a member may hold"
            report.problems.append(f"{name}: {info.file_size:,} bytes uncompressed, more than {limit} "
                                   f"({size:,}); not read")
            continue
        try:
            digest, read = _hash_member(zf, info, size)
        except _Malformed as exc:
            report.problems.append(f"{name}: {exc}")
            continue
        digests[name] = digest
        report.checked_files += 1
        if digest != expected or read != size:
            report.problems.append(f"{name}: content does not match its SHA-256 in the manifest")
    for extra in sorted(set(members) - set(listed) - {MANIFEST, ATTESTATION}):
        report.problems.append(f"{extra}: in the package but not in the manifest")
    return digests


def _hash_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> tuple[str, int]:
    """SHA-256 and length of a member, read in chunks; stops past ``limit`` bytes."""
    digest, read = hashlib.sha256(), 0
    try:
        with zf.open(info) as fh:
            while chunk := fh.read(_CHUNK):
                read += len(chunk)
                if read > limit:
                    raise _Malformed(f"holds more than the {limit:,} bytes the manifest states")
                digest.update(chunk)
    except _READ_ERRORS as exc:
        raise _Malformed(f"cannot be read: {exc}") from None
    return digest.hexdigest(), read


def _check_signature(zf, members, manifest: dict, digests: dict[str, str], public_key,
                     report: VerifyReport) -> None:
    if ATTESTATION not in members:
        if public_key is not None:
            report.problems.append("the package is not signed, but a key was given to check a signature")
        else:
            report.notes.append("the package is not signed")
        if manifest.get("signed"):
            report.problems.append("the manifest says the package was signed, but the signature is missing")
        return
    try:
        envelope_doc = _json(_read_document(zf, members[ATTESTATION]))
        from securesystemslib.dsse import Envelope

        envelope = Envelope.from_dict(envelope_doc)
        subjects = _subjects(_json(envelope.payload))
    except Exception as exc:  # noqa: BLE001 - any malformed envelope is one problem to report
        report.problems.append(f"{ATTESTATION}: not a valid DSSE envelope ({exc})")
        return
    if envelope.payload_type != PAYLOAD_TYPE:
        report.problems.append(f"{ATTESTATION}: unexpected payload type {envelope.payload_type}")
    for name, digest in sorted(digests.items()):
        if subjects.get(name) != digest:
            report.problems.append(f"{name}: not covered by the signed statement with this content")
    for name in sorted(set(subjects) - set(digests) - set(members)):
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


def _subjects(statement: object) -> dict[str, str]:
    """The in-toto statement's subjects: name -> SHA-256."""
    subjects = statement.get("subject", []) if isinstance(statement, dict) else None
    if not isinstance(subjects, list):
        raise _Malformed("the statement has no list of subjects")
    out = {}
    for s in subjects:
        digest = s.get("digest") if isinstance(s, dict) else None
        if not (isinstance(s, dict) and isinstance(s.get("name"), str) and isinstance(digest, dict)
                and isinstance(digest.get("sha256"), str)):
            raise _Malformed("a subject without a name and a sha256 digest")
        out[s["name"]] = digest["sha256"]
    return out


def _lines(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> Iterator[tuple[int, object]]:
    """(line number, parsed JSON) of a JSON-lines member, read a line at a time."""
    try:
        with zf.open(info) as fh:
            number = 0
            while line := fh.readline(MAX_LINE_BYTES + 1):
                number += 1
                if len(line) > MAX_LINE_BYTES:
                    raise _Malformed(f"{name} line {number} is longer than {MAX_LINE_BYTES:,} bytes")
                if line.strip():
                    try:
                        yield number, _json(line)
                    except _Malformed as exc:
                        raise _Malformed(f"{name} line {number}: {exc}") from None
    except _READ_ERRORS as exc:
        raise _Malformed(f"{name} cannot be read: {exc}") from None


_OPTIONAL_ID = (int, type(None))
#: Each event's fields and the types they must have to be hashed as the store hashed them.
_EVENT_FIELDS = {"seq": int, "at": str, "actor": str, "kind": str, "finding_id": _OPTIONAL_ID,
                 "exception_id": _OPTIONAL_ID, "evaluation_id": _OPTIONAL_ID, "prev_hash": str,
                 "hash": str}


def _event(number: int, e: object) -> dict:
    if not isinstance(e, dict):
        raise _Malformed(f"{EVENTS} line {number}: expected an object")
    for key, kind in _EVENT_FIELDS.items():
        if key not in e or not isinstance(e[key], kind) or isinstance(e[key], bool):
            raise _Malformed(f"{EVENTS} line {number}: '{key}' is missing or of the wrong type")
    if not e.get("masked") and not isinstance(e.get("data"), str):
        raise _Malformed(f"{EVENTS} line {number}: 'data' must be the event's JSON text")
    return e


def _skeleton(zf, info, wanted: dict[int, tuple[str, str]], found: dict[int, tuple[str, str]]
              ) -> Iterator[tuple[int, str, str]]:
    """The chain's links (seq, prev_hash, hash), streamed; the links of ``wanted`` events are
    kept in ``found`` on the way, so the chain is never held in memory whole."""
    for number, link in _lines(zf, info, CHAIN):
        if not (isinstance(link, list) and len(link) == 3 and _is_int(link[0])
                and isinstance(link[1], str) and isinstance(link[2], str)):
            raise _Malformed(f"{CHAIN} line {number}: expected [seq, prev_hash, hash]")
        seq, prev, digest = link
        if seq in wanted:
            found[seq] = (prev, digest)
        yield seq, prev, digest


def _check_chain(zf, members: dict[str, zipfile.ZipInfo], digests: dict[str, str],
                 report: VerifyReport) -> None:
    # Only members that were read within their limits above (hence in ``digests``) are parsed.
    missing = [n for n in (CHAIN_HEAD, CHAIN, EVENTS) if n not in digests]
    if missing:
        report.problems.append(f"the history files are missing or unreadable ({', '.join(missing)})")
        return
    try:
        head = _json(_read_document(zf, members[CHAIN_HEAD]))
        if not (isinstance(head, dict) and _is_int(head.get("seq")) and isinstance(head.get("hash"), str)):
            raise _Malformed(f"{CHAIN_HEAD}: expected an object with 'seq' and 'hash'")
        # seq -> the link the event claims, and whether its content still gives its hash (None:
        # masked, cannot be recomputed). Kept per event, not per chain link.
        wanted: dict[int, tuple[str, str]] = {}
        intact: dict[int, bool | None] = {}
        for number, raw in _lines(zf, members[EVENTS], EVENTS):
            e = _event(number, raw)
            wanted[e["seq"]] = (e["prev_hash"], e["hash"])
            intact[e["seq"]] = None if e.get("masked") else chain.event_hash(
                e["prev_hash"], e["seq"], e["at"], e["actor"], e["kind"], e["finding_id"],
                e["exception_id"], e["evaluation_id"], e["data"]) == e["hash"]
        found: dict[int, tuple[str, str]] = {}
        problem = verify_skeleton(_skeleton(zf, members[CHAIN], wanted, found), head["seq"], head["hash"])
    except _Malformed as exc:
        report.problems.append(f"the history files are malformed: {exc}")
        return
    except UnicodeEncodeError as exc:  # a lone surrogate in an event's text cannot be hashed
        report.problems.append(f"the history files are malformed: {exc}")
        return
    if problem:
        report.problems.append(f"history chain: {problem}")
        return
    masked = 0
    for seq, link in sorted(wanted.items()):
        if found.get(seq) != link:
            report.problems.append(f"history: event {seq} is not the event at that place in the chain")
        elif intact[seq] is None:
            masked += 1
        else:
            report.checked_events += 1
            if not intact[seq]:
                report.problems.append(f"history: event {seq} was altered (its content does not match "
                                       "its hash)")
    if masked:
        report.notes.append(f"{masked} events have masked contents; their hashes were matched to the "
                            "chain but cannot be recomputed")
