"""``dialtone evaluate --format sarif``: SARIF 2.1.0 for GitHub code scanning.

One run; ``tool.driver`` is Dialtone with one rule per evaluated policy. Each
finding is a result whose physical location is the policy file (the lines of its
``where``/``query``), relative to the source root (the directory the command
ran in: the repository root in CI) and whose logical location is the estate
resource (kind ``resource``, ``lines/L-0001``). ``partialFingerprints`` derive
from the finding key only, so an alert keeps its identity across runs.

GitHub's constraints (docs "SARIF support for code scanning") are followed:
required texts are never empty, descriptions at most 1,024 characters, rule
names at most 255, at most 10 tags per rule, and at most ``MAX_RESULTS``
(25,000) results per run — past that GitHub rejects the file, so the lowest
severities are left out and a notification says how many.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..evaluation import Evaluation, PolicyOutcome
from ..policy.model import Policy, severity_rank
from .common import TOOL_NAME, clip, finding_key, frameworks_of, key_digest, policy_map, tool_version

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
#: GitHub rejects a run with more results than this.
MAX_RESULTS = 25_000
MAX_TAGS = 10
#: The base of repository-relative URIs, and of URIs relative to a policy folder
#: that lies outside the source root (the built-in packs of an installed Dialtone).
SRCROOT = "%SRCROOT%"
POLICYROOT = "POLICYROOT"
FINGERPRINT_KEY = "dialtoneFindingKey/v1"

LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
PROBLEM_SEVERITY = {"error": "error", "warning": "warning", "note": "recommendation"}
#: GitHub's security-severity score (critical > 9.0, high 7.0–8.9, medium 4.0–6.9,
#: low 0.1–3.9), given to rules of the ``security`` category only.
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}


def render(evaluation: Evaluation, policies=None, *, source_root: Path | str | None = None,
           max_results: int = MAX_RESULTS) -> str:
    """The evaluation as a SARIF 2.1.0 log (JSON text, keys sorted)."""
    log = build(evaluation, policies, source_root=source_root, max_results=max_results)
    return json.dumps(log, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def build(evaluation: Evaluation, policies=None, *, source_root: Path | str | None = None,
          max_results: int = MAX_RESULTS) -> dict:
    by_id = policy_map(policies)
    root = Path(source_root) if source_root is not None else Path.cwd()
    root = root.resolve()
    outcomes = [o for o in evaluation.outcomes if not o.policy_id.startswith("invalid:")]
    rules = [_rule(o, by_id.get(o.policy_id), root) for o in outcomes]
    locations = [_physical_location(o, by_id.get(o.policy_id), root) for o in outcomes]
    index = {o.policy_id: i for i, o in enumerate(outcomes)}

    # Results in evaluation order (policy id, then resource id); when GitHub's limit
    # would be passed, keep the most severe findings (ties: that same order).
    candidates = [(o, f) for o in outcomes for f in o.findings]
    omitted = 0
    if len(candidates) > max_results:
        ranked = sorted(range(len(candidates)),
                        key=lambda i: (-severity_rank(candidates[i][0].severity), i))
        keep = set(ranked[:max_results])
        omitted = len(candidates) - max_results
        candidates = [c for i, c in enumerate(candidates) if i in keep]
    results = [_result(o, f, index[o.policy_id], locations[index[o.policy_id]])
               for o, f in candidates]

    notifications = []
    for o in evaluation.outcomes:
        if o.status not in ("error", "skip"):
            continue
        text = (f"{o.policy_id}: " + (o.error or o.skip_reason or o.status)).strip()
        note = {"level": "error" if o.status == "error" else "note",
                "message": {"text": text},
                "properties": {"status": o.status}}
        if o.policy_id in index:
            note["associatedRule"] = {"id": o.policy_id, "index": index[o.policy_id]}
        notifications.append(note)
    if omitted:
        notifications.append({
            "level": "warning",
            "message": {"text": f"{omitted} finding(s) of the lowest severities were left out: "
                                f"GitHub code scanning accepts at most {max_results} results per run."},
            "properties": {"omittedResults": omitted}})

    snap = evaluation.snapshot
    version = tool_version()
    run = {
        "tool": {"driver": {"name": TOOL_NAME, "version": version, "semanticVersion": version,
                            "rules": rules}},
        "automationDetails": {"id": f"dialtone/{snap.id}"},
        "originalUriBaseIds": {
            SRCROOT: {"description": {"text": "The directory `dialtone evaluate` ran in "
                                              "(the repository root in CI)."}},
            POLICYROOT: {"description": {"text": "The policy folder a policy file was loaded "
                                                 "from, when it lies outside the source root."}},
        },
        "invocations": [{"executionSuccessful": True,
                         **({"toolExecutionNotifications": notifications} if notifications else {})}],
        "columnKind": "unicodeCodePoints",
        "results": results,
        "properties": {
            "snapshot": {"id": snap.id, "as_of": snap.as_of.isoformat(),
                         "manifest_sha256": snap.manifest_hash},
            "policies_version": evaluation.policies_version,
            "engine": evaluation.engine,
        },
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def rule_name(policy_id: str) -> str:
    """``cost.leaver-lines`` → ``CostLeaverLines`` (a language-neutral identifier)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", policy_id) if part)


def _artifact(outcome: PolicyOutcome, policy: Policy | None, root: Path) -> dict:
    if policy is not None and policy.abspath:
        path = Path(policy.abspath)
        if path.is_relative_to(root):
            return {"uri": path.relative_to(root).as_posix(), "uriBaseId": SRCROOT}
    if policy is not None and policy.path and not Path(policy.path).is_absolute():
        return {"uri": Path(policy.path).as_posix(), "uriBaseId": POLICYROOT}
    return {"uri": outcome.policy_id + ".yaml", "uriBaseId": POLICYROOT}


def _region(policy: Policy | None) -> dict:
    """The lines of the policy's condition (``where`` or ``query``); line 1 when unknown."""
    fragment = policy and (policy.where or policy.query)
    if not fragment or fragment.line is None:
        return {"startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 1}
    lines = fragment.text.rstrip("\n").split("\n") or [""]
    column = fragment.column or 1
    return {"startLine": fragment.line, "startColumn": column,
            "endLine": fragment.line + len(lines) - 1, "endColumn": column + len(lines[-1])}


def _rule(outcome: PolicyOutcome, policy: Policy | None, root: Path) -> dict:
    title = (outcome.title or outcome.policy_id).strip()
    description = (policy.description if policy else "") or title
    remediation = (policy.remediation if policy else "") or ""
    frameworks = frameworks_of(outcome.frameworks)
    level = LEVELS[outcome.severity]
    artifact = _artifact(outcome, policy, root)

    help_text = remediation or "No remediation is documented for this policy."
    markdown = [f"**Remediation.** {help_text}", "", f"Policy `{outcome.policy_id}` "
                f"({outcome.category}, severity {outcome.severity}): `{artifact['uri']}`."]
    if frameworks:
        markdown += ["", "Frameworks: " + "; ".join(
            f"{fw}: {', '.join(reqs)}" for fw, reqs in frameworks.items()) + "."]

    tags = ["compliance", outcome.category, *frameworks, *(policy.tags if policy else ())]
    tags = list(dict.fromkeys(t for t in tags if t))[:MAX_TAGS]
    properties = {
        "category": outcome.category,
        "severity": outcome.severity,
        "frameworks": frameworks,
        "resource": policy.resource if policy else outcome.resource_type,
        "tags": tags,
        "precision": "high",
        "problem.severity": PROBLEM_SEVERITY[level],
    }
    if outcome.category == "security" and outcome.severity in SECURITY_SEVERITY:
        properties["security-severity"] = SECURITY_SEVERITY[outcome.severity]
    return {
        "id": outcome.policy_id,
        "name": clip(rule_name(outcome.policy_id), 255),
        "shortDescription": {"text": clip(title, 1024)},
        "fullDescription": {"text": clip(" ".join(description.split()), 1024)},
        "help": {"text": help_text, "markdown": "\n".join(markdown)},
        "defaultConfiguration": {"level": level},
        "properties": properties,
    }


def _physical_location(outcome: PolicyOutcome, policy: Policy | None, root: Path) -> dict:
    return {"artifactLocation": _artifact(outcome, policy, root), "region": _region(policy)}


def _result(outcome: PolicyOutcome, finding: dict, rule_index: int, location: dict) -> dict:
    resource = f"{finding['resource_type']}/{finding['resource_id']}"
    key = finding_key(outcome.policy_id, finding["resource_type"], str(finding["resource_id"]))
    message = str(finding.get("reason") or "").strip()
    return {
        "ruleId": outcome.policy_id,
        "ruleIndex": rule_index,
        "kind": "fail",
        "level": LEVELS[outcome.severity],
        "message": {"text": message or f"{outcome.title}: {resource}"},
        "locations": [{
            "physicalLocation": location,
            "logicalLocations": [{"kind": "resource", "name": str(finding["resource_id"]),
                                  "fullyQualifiedName": resource}],
            "message": {"text": resource},
        }],
        "partialFingerprints": {
            "primaryLocationLineHash": f"{key_digest(key)[:16]}:1",
            FINGERPRINT_KEY: key,
        },
        "properties": {"evidence": finding["evidence"], "savings": finding["savings"]},
    }
