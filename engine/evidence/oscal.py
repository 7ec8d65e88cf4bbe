"""OSCAL 1.2.1 documents for an evidence package: assessment results, a POA&M, a minimal plan.

Mapping (see docs/evidence.md): one ``result`` per evaluation; per policy run an
observation with the completeness figures (resources evaluated, found) whose
evidence is the run record in the package; per framework requirement a
finding, satisfied or not; per violating resource an inventory item, an
observation pointing at its evidence rows and a risk whose log is the
finding's hash-chained history. Every UUID is a v5 UUID of the export id and
the object's key, so the same inputs give the same documents.
"""

from __future__ import annotations

import re
import uuid

from .scope import last_reported

OSCAL_VERSION = "1.2.1"
NS = "https://dialtone.dev/ns/oscal"
TOOL = "Dialtone"

_RISK_STATUS = {"open": "open", "in_progress": "remediating", "excepted": "deviation-approved",
                "resolved": "closed", "retired": "closed", "false_positive": "closed",
                "not_applicable": "closed"}


class Ids:
    def __init__(self, export_id: str) -> None:
        self._ns = uuid.uuid5(uuid.NAMESPACE_URL, f"https://dialtone.dev/evidence/{export_id}")

    def __call__(self, *key: object) -> str:
        return str(uuid.uuid5(self._ns, "|".join(str(k) for k in key)))


def control_id(framework: str, requirement: str) -> str:
    """A token (NCName) for a framework requirement: ``finra-4511_c-six-years``."""
    token = re.sub(r"[^A-Za-z0-9_.-]", "-", f"{framework}_{requirement}")
    return token if re.match(r"[A-Za-z_]", token) else f"r_{token}"


def _text(value: object, fallback: str = "-") -> str:
    text = " ".join(str(value or "").split())
    return text or fallback


def _prop(name: str, value: object) -> dict:
    return {"name": name, "ns": NS, "value": _text(value)}


def _ts(value: str | None, fallback: str) -> str:
    return value or fallback


def _metadata(title: str, data, last_modified: str) -> dict:
    return {"title": title, "last-modified": last_modified, "version": data["export_id"],
            "oscal-version": OSCAL_VERSION,
            "props": [_prop("period", f"{data['scope']['from']}..{data['scope']['to']}"),
                      # whether the dates are when the evaluations ran or their snapshots' dates
                      _prop("period-by", data["scope"].get("by", "snapshot"))]}


def _homes(findings: list[dict], eval_ids: list[int], runs: list[dict],
           history: dict[int, list[dict]]) -> tuple[dict[int, int], set[int]]:
    """Where each finding's detail goes, and which findings an evaluation of the period reported.

    A finding goes into the last evaluation of the period that reported it (evidence.scope's
    rule, the one the pages and runs.json use), in a run of its policy that said ``alarm`` (as
    the package states the runs: the scope's, for a scoped export). A finding the period only
    closed (or saw in none of its evaluations) goes into the last evaluation of the period up to
    its closing, without a requirement finding: there it was not open."""
    alarmed = {(r["evaluation_id"], r["policy_id"]) for r in runs if r["status"] == "alarm"}
    home, reported = {}, set()
    for f in findings:
        kinds = [(e["evaluation_id"], e["kind"]) for e in history.get(f["id"], [])]
        eid = last_reported(f, eval_ids, kinds, alarmed)
        if eid is not None:
            home[f["id"]] = eid
            reported.add(f["id"])
            continue
        home[f["id"]] = max((i for i in eval_ids if f["first_seen_evaluation"] <= i
                             <= max(f["last_seen_evaluation"], f["resolved_evaluation"] or 0)),
                            default=eval_ids[-1])
    return home, reported


def build(ctx: dict) -> dict[str, dict]:
    """``ctx``: export id, scope, evaluations, runs, policies, requirements, findings, events,
    exceptions, resources (path → {sha256, media_type, title}), last_modified."""
    ids = Ids(ctx["export_id"])
    last_modified = ctx["last_modified"]
    # control id -> (framework title, framework id, requirement title, requirement id)
    named = {}
    for r in ctx["requirements"]:
        fw = ctx.get("titles", {}).get(r["framework"], {})
        named[control_id(r["framework"], r["requirement"])] = (
            fw.get("title", r["framework"]), r["framework"],
            fw.get("requirements", {}).get(r["requirement"], r["requirement"]), r["requirement"])

    def target(c: str, state: str, reason: str) -> dict:
        fw_title, fw, req_title, req = named[c]
        return {"type": "objective-id", "target-id": c, "title": _text(req_title),
                "description": _text(f"{fw_title} ({fw}), requirement {req}: {req_title}"),
                "status": {"state": state, "reason": reason}}
    tool_uuid = ids("component", "dialtone")
    controls = sorted({control_id(r["framework"], r["requirement"]) for r in ctx["requirements"]})
    controls_by_policy: dict[str, list[str]] = {}
    for r in ctx["requirements"]:
        controls_by_policy.setdefault(r["policy_id"], []).append(control_id(r["framework"], r["requirement"]))
    reviewed = {"control-selections": [{"include-controls": [{"control-id": c} for c in controls]}]
                if controls else [{"include-all": {}}]}
    if controls:
        # The model has no title on a selected control; the selection's description names them.
        reviewed["description"] = "\n".join(f"- {c}: {named[c][0]}, {named[c][2]}" for c in controls)
    back_matter = {"resources": [
        {"uuid": ids("file", path), "title": meta["title"],
         "rlinks": [{"href": path, "media-type": meta["media_type"],
                     "hashes": [{"algorithm": "SHA-256", "value": meta["sha256"]}]}]}
        for path, meta in sorted(ctx["resources"].items())]}
    history: dict[int, list[dict]] = {}
    for e in ctx["events"]:
        if e["finding_id"] is not None:
            history.setdefault(e["finding_id"], []).append(e)
    eval_ids = [e["id"] for e in ctx["evaluations"]]
    home, reported = _homes(ctx["findings"], eval_ids, ctx["runs"], history)
    placed: dict[int, list[dict]] = {}
    for f in ctx["findings"]:
        placed.setdefault(home[f["id"]], []).append(f)
    results = []
    risks_all = []
    for ev in ctx["evaluations"]:
        runs = [r for r in ctx["runs"] if r["evaluation_id"] == ev["id"]]
        mine = placed.get(ev["id"], [])
        collected = f"{ev['snapshot_as_of']}T00:00:00Z"
        origins = [{"actors": [{"type": "tool", "actor-uuid": tool_uuid}]}]
        observations, findings_out, risks, items = [], [], [], []
        failing: dict[str, list[str]] = {}
        runs_file = f"#{ids('file', 'evaluations/' + str(ev['id']) + '/runs.json')}"
        for run in runs:
            obs_uuid = ids("run", ev["id"], run["policy_id"])
            observations.append({
                "uuid": obs_uuid, "title": run["policy_id"],
                "description": (f"Policy {run['policy_id']} {run['status']}: "
                                + (f"evaluated {run['evaluated']} resources, found {run['finding_count']}"
                                   if run["evaluated"] is not None else
                                   # a scoped export leaves the estate-wide counts out
                                   "counts left out (an export limited to an access scope)")
                                + (f"; {_text(run['error'] or run['skip_reason'])}"
                                   if run["error"] or run["skip_reason"] else "")),
                "props": [_prop("status", run["status"]), _prop("evaluated", run["evaluated"]),
                          _prop("found", run["finding_count"])],
                "methods": ["TEST"], "types": ["control-objective"], "origins": origins,
                "collected": collected,
                "relevant-evidence": [{"href": runs_file,
                                       "description": "policy text hash, parameters, compiled SQL, counts"}]})
            for c in controls_by_policy.get(run["policy_id"], []):
                failing.setdefault(c, [])
                if run["status"] != "ok":
                    failing[c].append(obs_uuid)
        for f in mine:
            item_uuid = ids("resource", f["resource_type"], f["resource_id"])
            if item_uuid not in {i["uuid"] for i in items}:
                items.append({"uuid": item_uuid, "description": f"{f['resource_type']} {f['resource_id']}",
                              "props": [{"name": "asset-id", "value": _text(f["resource_id"])},
                                        _prop("resource-type", f["resource_type"])]})
            obs_uuid = ids("finding-observation", ev["id"], f["id"])
            risk_uuid = ids("risk", f["id"])
            said = _text(f["reason"]) if f["id"] in reported else _text(
                f"Not reported by this evaluation (the finding is {f['status']} now); "
                f"it had found: {f['reason']}")
            observations.append({
                "uuid": obs_uuid, "title": f"{f['policy_id']} {f['resource_type']}/{f['resource_id']}",
                "description": said, "methods": ["EXAMINE"], "types": ["finding"],
                "origins": origins, "subjects": [{"subject-uuid": item_uuid, "type": "inventory-item"}],
                "collected": collected,
                "props": [_prop("finding-key", f"{f['policy_id']}|{f['resource_type']}|{f['resource_id']}")],
                "relevant-evidence": [{"href": f"#{ids('file', 'evidence/findings.jsonl')}",
                                       "description": f"evidence rows of finding {f['id']}"}]})
            log = [{"uuid": ids("event", e["seq"]), "title": e["kind"],
                    "description": f"{e['kind']} by {e['actor']} (event #{e['seq']})",
                    "start": e["at"], "props": [_prop("event-hash", e["hash"])]}
                   for e in history.get(f["id"], [])]
            risk = {"uuid": risk_uuid,
                    "title": f"{f['policy_id']} on {f['resource_type']} {f['resource_id']}",
                    "description": _text(f["reason"]), "statement": _text(f["reason"]),
                    "status": _RISK_STATUS[f["status"]],
                    "props": [_prop("finding-status", f["status"])]}
            if log:
                risk["risk-log"] = {"entries": log}
            risks.append(risk)
            # A requirement fails for the finding only where the evaluation reported it (its
            # policy's run said alarm there): never beside a run that passed.
            for c in controls_by_policy.get(f["policy_id"], []) if f["id"] in reported else ():
                findings_out.append({
                    "uuid": ids("resource-finding", ev["id"], c, f["id"]),
                    "title": f"{named[c][2]}: {f['resource_type']} {f['resource_id']}",
                    "description": _text(f["reason"]),
                    "target": target(c, "not-satisfied", "fail"),
                    "related-observations": [{"observation-uuid": obs_uuid}],
                    "related-risks": [{"risk-uuid": risk_uuid}]})
        for c in sorted(failing):
            state = "not-satisfied" if failing[c] else "satisfied"
            related = failing[c] or [ids("run", ev["id"], r["policy_id"]) for r in runs
                                      if c in controls_by_policy.get(r["policy_id"], [])]
            findings_out.append({
                "uuid": ids("control-finding", ev["id"], c), "title": _text(f"{named[c][2]} ({c})"),
                "description": ("Policies mapped to this requirement found violations or could not run"
                                if failing[c] else "Every policy mapped to this requirement passed"),
                "target": target(c, state, "fail" if failing[c] else "pass"),
                "related-observations": [{"observation-uuid": o} for o in related]})
        result = {
            "uuid": ids("result", ev["id"]),
            "title": f"Evaluation {ev['id']} of snapshot {ev['snapshot_id']}",
            "description": (f"Snapshot {ev['snapshot_id']} as of {ev['snapshot_as_of']}, policies "
                            f"{ev['policies_version']} ({ev['policies_source']}), engine {ev['engine']}"),
            "start": ev["started_at"], "end": _ts(ev["finished_at"], ev["started_at"]),
            "props": [_prop("evaluation-id", ev["id"]), _prop("snapshot-id", ev["snapshot_id"]),
                      _prop("policies-version", ev["policies_version"])],
            "local-definitions": {"components": [{
                "uuid": tool_uuid, "type": "software", "title": TOOL,
                "description": "Dialtone policy-as-code evaluation of the communications estate",
                "props": [{"name": "version", "value": ctx["tool_version"]}],
                "status": {"state": "operational"}}]},
            "reviewed-controls": reviewed,
        }
        if items:
            result["local-definitions"]["inventory-items"] = items
        if observations:
            result["observations"] = observations
        if risks:
            result["risks"] = risks
        if findings_out:
            result["findings"] = findings_out
        results.append(result)
        risks_all += risks
    ar = {"assessment-results": {
        "uuid": ids("assessment-results"),
        "metadata": _metadata("Dialtone evidence: assessment results", ctx, last_modified),
        "import-ap": {"href": "assessment-plan.json"}, "results": results, "back-matter": back_matter}}
    ssp = ids("no-ssp")
    ap = {"assessment-plan": {
        "uuid": ids("assessment-plan"),
        "metadata": _metadata("Dialtone evidence: assessment plan", ctx, last_modified),
        "import-ssp": {"href": f"#{ssp}"}, "reviewed-controls": reviewed,
        "back-matter": {"resources": [{"uuid": ssp, "title": "System security plan not provided",
                                       "description": "Dialtone assesses the communications estate "
                                                      "against policy packs; no SSP is imported."}]}}}
    open_risks = [r for r in risks_all if r["status"] != "closed"]
    poam_items = [{"uuid": ids("poam-item", r["uuid"]), "title": r["title"], "description": r["description"],
                   "related-risks": [{"risk-uuid": r["uuid"]}]} for r in open_risks]
    poam = {"plan-of-action-and-milestones": {
        "uuid": ids("poam"), "metadata": _metadata("Dialtone evidence: open items", ctx, last_modified),
        "poam-items": poam_items or [{"uuid": ids("poam-item", "none"), "title": "No open items",
                                      "description": "Every finding in scope is closed."}]}}
    if open_risks:
        poam["plan-of-action-and-milestones"]["risks"] = open_risks
    return {"oscal/assessment-results.json": ar, "oscal/assessment-plan.json": ap, "oscal/poam.json": poam}
