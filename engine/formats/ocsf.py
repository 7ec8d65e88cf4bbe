"""``dialtone evaluate --format ocsf``: OCSF 1.5.0 Compliance Finding events as NDJSON.

One JSON object per line, class ``compliance_finding`` (class_uid 2003, category
Findings, activity Create):

- one record per finding of a policy in ``alarm`` (``compliance.status_id`` 3
  Fail, ``severity_id`` from the policy's severity, the resource in
  ``resources``, its evidence in ``evidences[].data``);
- one record per policy in ``ok`` (1 Pass), so a SIEM sees which controls were
  checked and passed, not only failures;
- one record per policy in ``error`` or ``skip`` (0 Unknown, ``status_code``
  ``error``/``skip`` and the reason in ``status_details``): the control was not
  assessed.

Records that are not failures carry ``severity_id`` 1 (Informational); the
policy's own severity is in ``unmapped.dialtone.policy_severity``.
``finding_info.uid`` is the finding key ``policy|resource type|resource id``
(for a policy-level record, the policy id), stable across runs. ``time`` is the
snapshot's as-of date (00:00 UTC, ms since the epoch), never the wall clock.
The workflow ``status_id`` (New, In Progress, Resolved…) is left out: it belongs
to the findings store's lifecycle, which a stateless evaluation does not know.
"""

from __future__ import annotations

import json

from ..evaluation import Evaluation, PolicyOutcome
from ..policy.model import Policy
from .common import (
    TOOL_NAME,
    finding_key,
    frameworks_of,
    key_digest,
    policy_map,
    snapshot_midnight_ms,
    tool_version,
)

OCSF_VERSION = "1.5.0"
CLASS_UID, CLASS_NAME = 2003, "Compliance Finding"
CATEGORY_UID, CATEGORY_NAME = 2, "Findings"
ACTIVITY_ID, ACTIVITY_NAME = 1, "Create"
SEVERITY_IDS = {"info": (1, "Informational"), "low": (2, "Low"), "medium": (3, "Medium"),
                "high": (4, "High"), "critical": (5, "Critical")}
COMPLIANCE = {"alarm": (3, "Fail"), "ok": (1, "Pass"), "error": (0, "Unknown"), "skip": (0, "Unknown")}
ANALYTIC_RULE = 1


def render(evaluation: Evaluation, policies=None) -> str:
    """The evaluation as OCSF NDJSON: one compact, key-sorted JSON object per line."""
    return "".join(json.dumps(r, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
                   for r in records(evaluation, policies))


def records(evaluation: Evaluation, policies=None) -> list[dict]:
    by_id = policy_map(policies)
    out = []
    for outcome in evaluation.outcomes:
        policy = by_id.get(outcome.policy_id)
        if outcome.status == "alarm":
            out.extend(_record(evaluation, outcome, policy, f) for f in outcome.findings)
        else:
            out.append(_record(evaluation, outcome, policy, None))
    return out


def _record(evaluation: Evaluation, outcome: PolicyOutcome, policy: Policy | None,
            finding: dict | None) -> dict:
    snap = evaluation.snapshot
    version = tool_version()
    compliance_id, compliance_name = COMPLIANCE[outcome.status]
    if finding is not None:
        severity_id, severity = SEVERITY_IDS[outcome.severity]
        uid = finding_key(outcome.policy_id, finding["resource_type"], str(finding["resource_id"]))
        message = str(finding.get("reason") or "").strip() or outcome.title
    else:
        severity_id, severity = SEVERITY_IDS["info"]
        uid = outcome.policy_id
        message = {"ok": f"{outcome.policy_id}: passed ({outcome.evaluated} checked)",
                   "error": f"{outcome.policy_id}: not assessed (error)",
                   "skip": f"{outcome.policy_id}: not assessed (skipped)"}[outcome.status]
    frameworks = frameworks_of(outcome.frameworks)

    compliance: dict = {
        "control": outcome.policy_id,
        "status_id": compliance_id,
        "status": compliance_name,
        "status_code": outcome.status,
    }
    if outcome.category:
        compliance["category"] = outcome.category
    if frameworks:
        compliance["standards"] = list(frameworks)
        compliance["requirements"] = [f"{fw}/{req}" for fw, reqs in frameworks.items() for req in reqs]
    reason = outcome.error or outcome.skip_reason
    if reason:
        compliance["status_details"] = [reason]
    if outcome.params:
        compliance["control_parameters"] = [
            {"name": k, "value": json.dumps(v, sort_keys=True)} for k, v in sorted(outcome.params.items())]

    finding_info: dict = {
        "uid": uid,
        "title": outcome.title or outcome.policy_id,
        "analytic": {"uid": outcome.policy_id, "name": outcome.title or outcome.policy_id,
                     "type_id": ANALYTIC_RULE, "type": "Rule"},
        "types": ["Dialtone policy" + (f": {outcome.category}" if outcome.category else "")],
    }
    if policy is not None and policy.description:
        finding_info["desc"] = policy.description

    record: dict = {
        "activity_id": ACTIVITY_ID,
        "activity_name": ACTIVITY_NAME,
        "category_uid": CATEGORY_UID,
        "category_name": CATEGORY_NAME,
        "class_uid": CLASS_UID,
        "class_name": CLASS_NAME,
        "type_uid": CLASS_UID * 100 + ACTIVITY_ID,
        "type_name": f"{CLASS_NAME}: {ACTIVITY_NAME}",
        "severity_id": severity_id,
        "severity": severity,
        "time": snapshot_midnight_ms(snap.as_of),
        "message": message,
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": TOOL_NAME, "vendor_name": TOOL_NAME, "version": version},
            "event_code": outcome.policy_id,
            # Unique per (snapshot, finding): re-running the same evaluation gives the same uid.
            "uid": key_digest(f"{snap.id}|{uid}"),
        },
        "finding_info": finding_info,
        "compliance": compliance,
        "unmapped": {"dialtone": {
            "policy_severity": outcome.severity,
            "policy_hash": outcome.policy_hash,
            "evaluated": outcome.evaluated,
            "snapshot": {"id": snap.id, "as_of": snap.as_of.isoformat(),
                         "manifest_sha256": snap.manifest_hash},
            "policies_version": evaluation.policies_version,
            "engine": evaluation.engine,
        }},
    }
    if policy is not None and policy.remediation:
        record["remediation"] = {"desc": policy.remediation}
    if finding is not None:
        record["resources"] = [{"type": finding["resource_type"], "uid": str(finding["resource_id"])}]
        record["evidences"] = [{"name": "policy evidence", "data": finding["evidence"]}]
        record["unmapped"]["dialtone"]["savings"] = finding["savings"]
    return record
