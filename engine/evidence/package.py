"""Write an evidence package: a zip whose every file is listed with its SHA-256 in
``manifest.json``, optionally signed (an in-toto statement over every file, in a
DSSE envelope, Ed25519), byte-identical for the same inputs.

Layout::

    manifest.json                      export id, period (and how it selects), scope, tool, chain head, files
    index.html                         a readable summary, requirement titles, the files, how to verify
    evaluations/<id>/evaluation.json   the evaluation record
    evaluations/<id>/runs.json         per policy: status, counts, parameters, compiled SQL
    snapshots/<id>/manifest.json       the snapshot manifest (sources, rows, rejects, file hashes)
    policies/<policy id>.yaml          the policy text evaluated (when it can be recovered)
    findings.json                      the findings in scope with status, dates, exception, tickets
    evidence/findings.jsonl            the evidence rows behind each finding
    exceptions.json                    the exceptions involved, with their approvals
    disputes.json                      the disputes of the findings, their charges and credits
    savings-ledger.json                the savings ledger of the policies in scope (money.py)
    events/events.jsonl                the findings' full history: the hash-chained events
    events/chain.jsonl                 the whole chain up to its head: (seq, prev_hash, hash)
    events/chain-head.json             the head, and the chain verified at export time
    oscal/assessment-results.json      OSCAL 1.2.1
    oscal/assessment-plan.json
    oscal/poam.json
    attestation.intoto.dsse.json       only when signed
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from ..gitcli import GitError, git, git_or_none
from ..store import Store, chain, outbox_reads
from ..store.lifecycle import EXCEPTED, NEEDS_WORK
from . import money, oscal
from .masking import Masker, mask_key
from .scope import PERIOD_KINDS, EvidenceData, Scope, gather, say_period

MANIFEST = "manifest.json"
ATTESTATION = "attestation.intoto.dsse.json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://dialtone.dev/evidence-package/v1"
ZIP_TIME = (1980, 1, 1, 0, 0, 0)

MEDIA = {".json": "application/json", ".jsonl": "application/jsonl", ".yaml": "application/yaml",
         ".html": "text/html", ".sql": "application/sql"}


def canonical(doc: object) -> bytes:
    return (json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False, default=str) + "\n").encode()


def jsonl(rows: list) -> bytes:
    return "".join(json.dumps(r, sort_keys=True, ensure_ascii=False, default=str) + "\n"
                   for r in rows).encode()


def media_type(path: str) -> str:
    return MEDIA.get(Path(path).suffix, "application/octet-stream")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ExportResult:
    path: Path
    export_id: str
    files: int
    findings: int
    evaluations: int
    signed: bool


def _policy_text(policy_id: str, policy_hash: str | None, evaluation: dict, sources: dict) -> bytes | None:
    """The text of the policy as evaluated: from git at the commit, or the current file if unchanged."""
    current = sources.get(policy_id)
    if evaluation["policies_source"] == "git" and current is not None:
        path = Path(current.abspath)
        top = git_or_none(path.parent, "rev-parse", "--show-toplevel")
        if top:
            rel = path.resolve().relative_to(Path(top).resolve()).as_posix()
            try:
                return git(top, "show", f"{evaluation['policies_version']}:{rel}", binary=True)
            except GitError:
                pass
    if current is not None and current.abspath:
        text = Path(current.abspath).read_bytes()
        if policy_hash is None or current.source_hash == policy_hash:
            return text
    return None


#: What the package says of a finding's ticket: closure evidence auditors ask for (as the
#: store holds it when the package is written).
TICKET_FIELDS = ("target", "key", "url", "state", "remote_status", "opened_at", "claimed_at", "closed_at")


def _files(data: EvidenceData, export_id: str, snapshots_dir: Path, loaded_policies: dict,
           masker: Masker | None, tickets: dict[int, list[dict]]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for ev in data.evaluations:
        files[f"evaluations/{ev['id']}/evaluation.json"] = canonical(ev)
        runs = [r for r in data.runs if r["evaluation_id"] == ev["id"]]
        files[f"evaluations/{ev['id']}/runs.json"] = canonical(
            [{**r, "params": json.loads(r["params"] or "{}")} for r in runs])
        manifest = snapshots_dir / ev["snapshot_id"] / "manifest.json"
        if manifest.exists():
            files[f"snapshots/{ev['snapshot_id']}/manifest.json"] = manifest.read_bytes()
    last_eval = data.evaluations[-1]
    for p in data.policies:
        text = _policy_text(p["id"], p["policy_hash"], last_eval, loaded_policies)
        if text is not None:
            files[f"policies/{p['id']}.yaml"] = text

    def mask_text(value):
        return masker.text(value) if masker and isinstance(value, str) else value

    findings_doc = []
    evidence_rows = []
    for f in data.findings:
        rid = mask_text(f["resource_id"])
        findings_doc.append({k: (mask_text(v) if k in ("reason", "review_note") else v)
                             for k, v in f.items() if k != "evidence"}
                            | {"resource_id": rid, "tickets": [{k: t[k] for k in TICKET_FIELDS}
                                                              for t in tickets.get(f["id"], [])]})
        evidence_rows.append({"finding_id": f["id"], "policy_id": f["policy_id"],
                              "resource_type": f["resource_type"], "resource_id": rid,
                              "reason": mask_text(f["reason"]), "savings": f["savings"],
                              "evidence": masker.evidence(f["evidence"]) if masker else f["evidence"]})
    files["findings.json"] = canonical(findings_doc)
    files["evidence/findings.jsonl"] = jsonl(evidence_rows)
    files["exceptions.json"] = canonical(data.exceptions)
    events_out = []
    for e in data.events:
        row = {k: e[k] for k in ("seq", "at", "actor", "kind", "finding_id", "exception_id",
                                 "evaluation_id", "prev_hash", "hash")}
        if e.get("withheld"):
            # About a dispute the export's access scope cannot read: the verifier matches a
            # masked event's hash to the chain without recomputing it from the data.
            row["data"], row["masked"], row["withheld"] = e["data"], True, True
        elif masker:
            row["data"] = masker.value("data", e["data"])
            row["masked"] = True
        else:
            row["data"] = e["data_text"]
        events_out.append(row)
    files["events/events.jsonl"] = jsonl(events_out)
    files["events/chain.jsonl"] = jsonl([list(s) for s in data.skeleton])
    report = verify_skeleton(data.skeleton, data.head_seq, data.head_hash)
    files["events/chain-head.json"] = canonical({
        "seq": data.head_seq, "hash": data.head_hash, "at": data.head_at,
        "verified_at_export": report is None, "problem": report})
    return files


def verify_skeleton(skeleton: list, head_seq: int, head_hash: str) -> str | None:
    """Linkage of the whole chain up to its head; None when intact."""
    prev, expected = chain.GENESIS, 1
    for seq, prev_hash, digest in skeleton:
        if seq != expected:
            return f"event {expected} is missing from the chain"
        if prev_hash != prev:
            return f"event {seq} does not follow event {seq - 1}"
        prev, expected = digest, seq + 1
    if expected - 1 != head_seq or prev != head_hash:
        return f"the chain ends at event {expected - 1} but its head records event {head_seq}"
    return None


def load_signer(key_path: Path):
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from securesystemslib.signer import CryptoSigner

    try:
        private = load_pem_private_key(Path(key_path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        from .scope import EvidenceError

        raise EvidenceError(f"{key_path}: not a readable unencrypted PEM private key ({exc})") from None
    return CryptoSigner(private)


def statement(files: dict[str, bytes], predicate: dict) -> bytes:
    subject = [{"name": path, "digest": {"sha256": sha256(body)}} for path, body in sorted(files.items())]
    return json.dumps({"_type": STATEMENT_TYPE, "subject": subject, "predicateType": PREDICATE_TYPE,
                       "predicate": predicate}, sort_keys=True, separators=(",", ":")).encode()


def sign(files: dict[str, bytes], predicate: dict, key_path: Path) -> bytes:
    from securesystemslib.dsse import Envelope

    envelope = Envelope(statement(files, predicate), PAYLOAD_TYPE, {})
    envelope.sign(load_signer(key_path))
    doc = envelope.to_dict()
    doc["signatures"] = sorted(doc["signatures"], key=lambda s: s["keyid"])
    return canonical(doc)


def _when(value: str | None) -> str:
    # The store's ``2026-12-06T02:19:57.123456Z`` as people read it, to the second; the engine
    # keeps its own copy of the web's format (the engine does not import the web layer).
    return f"{value[:10]} {value[11:19]} UTC" if value and len(value) >= 19 else (value or "—")


def requirement_titles(data: EvidenceData, catalogue) -> dict[str, dict]:
    """The titles of the frameworks and requirements in scope, from the frameworks catalogue:
    ``{framework: {"title": ..., "requirements": {id: title}}}``; the ids stand in for what the
    catalogue does not know (or when there is no catalogue)."""
    out: dict[str, dict] = {}
    for r in data.requirements:
        fw = catalogue.frameworks.get(r["framework"]) if catalogue is not None else None
        entry = out.setdefault(r["framework"], {"title": fw.title if fw else r["framework"],
                                                "requirements": {}})
        req = fw.requirement(r["requirement"]) if fw else None
        entry["requirements"][r["requirement"]] = req.title if req else r["requirement"]
    return out


def _index(data: EvidenceData, manifest: dict, signed: bool, findings_doc: list, titles: dict,
           paths: list[str], money: dict | None = None) -> bytes:
    env = Environment(loader=PackageLoader("dialtone.engine.evidence", "templates"),
                      autoescape=select_autoescape(["html"]), keep_trailing_newline=True)
    env.filters["when"] = _when
    reqs: dict[tuple[str, str], dict] = {}
    status_of = {}
    for run in data.runs:
        if run["evaluation_id"] == data.evaluations[-1]["id"]:
            status_of[run["policy_id"]] = run["status"]
    for r in data.requirements:
        key = (r["framework"], r["requirement"])
        fw = titles.get(r["framework"], {})
        row = reqs.setdefault(key, {"framework": r["framework"], "requirement": r["requirement"],
                                    "framework_title": fw.get("title", r["framework"]),
                                    "title": fw.get("requirements", {}).get(r["requirement"],
                                                                           r["requirement"]),
                                    "policies": [], "state": "satisfied"})
        row["policies"].append(r["policy_id"])
        st = status_of.get(r["policy_id"])
        if st is None:
            row["state"] = "not evaluated" if row["state"] == "satisfied" else row["state"]
        elif st != "ok":
            row["state"] = "not satisfied"
    counts = {
        "open": sum(1 for f in findings_doc if f["status"] in NEEDS_WORK),
        "excepted": sum(1 for f in findings_doc if f["status"] in EXCEPTED),
        "closed": sum(1 for f in findings_doc if f["status"] not in NEEDS_WORK + EXCEPTED),
    }
    html = env.get_template("index.html").render(
        manifest=manifest, data=data, requirements=[reqs[k] for k in sorted(reqs)], counts=counts,
        signed=signed, findings=findings_doc[:500], more=max(0, len(findings_doc) - 500),
        period_text=say_period(data.scope.start, data.scope.end, joiner="to"),
        period_kind=PERIOD_KINDS[data.scope.by], paths=paths,
        framework_title=titles.get(data.scope.framework, {}).get("title", data.scope.framework),
        money=money or {"disputes": [], "ledger": {}},
        policy_files={p.removeprefix("policies/").removesuffix(".yaml") for p in paths
                      if p.startswith("policies/")})
    return html.encode()


def export_evidence(store: Store, scope: Scope, out: Path, *, snapshots_dir: Path,
                    loaded_policies: dict, data_dir: Path, signing_key: Path | None = None,
                    catalogue=None) -> ExportResult:
    """Write the package for ``scope`` to ``out``; ``catalogue`` (the frameworks catalogue) gives
    the requirements their titles in index.html and OSCAL."""
    data = gather(store, scope)
    titles = requirement_titles(data, catalogue)
    export_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "https://dialtone.dev/evidence/" + json.dumps(
        {"scope": scope.as_dict(), "head": data.head_hash, "seq": data.head_seq}, sort_keys=True)))
    masker = Masker(mask_key(data_dir)) if scope.mask_pii else None
    tickets = outbox_reads.tickets_for_findings(store, [f["id"] for f in data.findings], scope.access)
    files = _files(data, export_id, snapshots_dir, loaded_policies, masker, tickets)
    disputes_doc = money.disputes_doc(store, {f["id"] for f in data.findings}, scope.access)
    ledger_doc = money.ledger_doc(store, data, data_dir)
    if masker:   # as the findings' evidence and history are: phone numbers, e-mails, names
        disputes_doc, ledger_doc = masker.value("disputes", disputes_doc), masker.value("ledger", ledger_doc)
    files["disputes.json"] = canonical(disputes_doc)
    files["savings-ledger.json"] = canonical(ledger_doc)
    tool_version = package_version("dialtone")
    last_modified = data.head_at or f"{scope.end.isoformat()}T23:59:59Z"
    resources = {
        path: {"sha256": sha256(body), "media_type": media_type(path), "title": path}
        for path, body in files.items()}
    docs = oscal.build({
        "export_id": export_id, "scope": scope.as_dict(), "evaluations": data.evaluations,
        "runs": data.runs, "policies": data.policies, "requirements": data.requirements,
        "findings": data.findings, "events": data.events, "exceptions": data.exceptions,
        "resources": resources, "last_modified": last_modified, "tool_version": tool_version,
        "titles": titles})
    for path, doc in docs.items():
        files[path] = canonical(doc)
    findings_doc = json.loads(files["findings.json"])
    manifest = {
        "export_id": export_id,
        # ``by``: whether the dates are when the evaluations ran or their snapshots' as-of dates.
        "period": {"from": scope.start.isoformat(), "to": scope.end.isoformat(), "by": scope.by},
        "scope": scope.as_dict(), "tool": {"name": "dialtone", "version": tool_version},
        "chain_head": {"seq": data.head_seq, "hash": data.head_hash},
        "signed": signing_key is not None,
        "counts": {"evaluations": len(data.evaluations), "findings": len(data.findings),
                   "events": len(data.events), "exceptions": len(data.exceptions)},
    }
    files["index.html"] = _index(data, manifest, signing_key is not None, findings_doc, titles,
                                 sorted([*files, MANIFEST]), money={"disputes": disputes_doc,
                                                                   "ledger": ledger_doc})
    manifest["files"] = [{"path": p, "sha256": sha256(b), "bytes": len(b), "media_type": media_type(p)}
                         for p, b in sorted(files.items())]
    files[MANIFEST] = canonical(manifest)
    if signing_key is not None:
        predicate = {"export_id": export_id, "period": manifest["period"], "scope": manifest["scope"],
                     "chain_head": manifest["chain_head"]}
        files[ATTESTATION] = sign(files, predicate, signing_key)
    _write_zip(out, files)
    return ExportResult(out, export_id, len(files), len(data.findings), len(data.evaluations),
                        signing_key is not None)


def _write_zip(out: Path, files: dict[str, bytes]) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            zf.writestr(info, files[path], compresslevel=6)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(out)
