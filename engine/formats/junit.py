"""``dialtone evaluate --format junit``: JUnit XML for CI test reports.

One ``testsuite`` per policy category (sorted), one ``testcase`` per policy
(``classname`` = category, ``name`` = policy id): ``alarm`` is a ``failure``
(message: the finding count and severity; body: the findings, at most
``MAX_LISTED`` of them, and the total), ``error`` an ``error``, ``skip`` a
``skipped`` with the reason, ``ok`` a passing test case. Each suite carries the
snapshot and policy-set identity as ``properties``. No ``time`` or
``timestamp``: they would be wall-clock values, and the output must be
byte-identical for the same inputs. The attributes are those of the Surefire
``junit-10.xsd`` used by Jenkins' xUnit plugin, against which the tests validate.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from itertools import groupby

from ..evaluation import Evaluation, PolicyOutcome

#: Findings listed in a failure's body; the rest are counted.
MAX_LISTED = 50
INVALID_CATEGORY = "invalid"

# Characters XML 1.0 cannot carry, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: object) -> str:
    return _NOT_XML.sub("\ufffd", str(value))


def render(evaluation: Evaluation, policies=None, *, max_listed: int = MAX_LISTED) -> str:
    """The evaluation as a JUnit XML document (UTF-8 text)."""
    outcomes = sorted(evaluation.outcomes, key=lambda o: (_category(o), o.policy_id))
    root = ET.Element("testsuites", name="dialtone")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for category, group in groupby(outcomes, key=_category):
        cases = list(group)
        counts = {
            "tests": len(cases),
            "failures": sum(o.status == "alarm" for o in cases),
            "errors": sum(o.status == "error" for o in cases),
            "skipped": sum(o.status == "skip" for o in cases),
        }
        suite = ET.SubElement(root, "testsuite", name=category,
                              **{k: str(v) for k, v in counts.items()})
        props = ET.SubElement(suite, "properties")
        for name, value in _properties(evaluation):
            ET.SubElement(props, "property", name=name, value=_text(value))
        for outcome in cases:
            _testcase(suite, category, outcome, max_listed)
        for k in totals:
            totals[k] += counts[k]
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root, space="  ")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            + ET.tostring(root, encoding="unicode", short_empty_elements=True) + "\n")


def _category(outcome: PolicyOutcome) -> str:
    return outcome.category or INVALID_CATEGORY


def _properties(evaluation: Evaluation) -> list[tuple[str, str]]:
    snap = evaluation.snapshot
    return [
        ("snapshot_id", snap.id),
        ("snapshot_as_of", snap.as_of.isoformat()),
        ("snapshot_manifest_sha256", snap.manifest_hash or ""),
        ("policies_version", evaluation.policies_version),
        ("engine", evaluation.engine),
    ]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _testcase(suite: ET.Element, category: str, outcome: PolicyOutcome, max_listed: int) -> None:
    case = ET.SubElement(suite, "testcase", classname=category, name=_text(outcome.policy_id))
    if outcome.status == "alarm":
        total = outcome.finding_count
        listed = outcome.findings[:max_listed]
        lines = [f"{f['resource_type']}/{f['resource_id']}: {f['reason'] or outcome.title}"
                 for f in listed]
        if total > len(listed):
            lines.append(f"… and {total - len(listed)} more ({total} findings in total)")
        failure = ET.SubElement(
            case, "failure", type="policy-violation",
            message=_text(f"{_plural(total, 'finding')} (severity {outcome.severity}): {outcome.title}"))
        failure.text = _text("\n".join(lines))
    elif outcome.status == "error":
        error_text = (outcome.error or "error").strip()
        error = ET.SubElement(case, "error", type="policy-error",
                              message=_text(error_text.splitlines()[0] if error_text else "error"))
        error.text = _text(error_text)
    elif outcome.status == "skip":
        ET.SubElement(case, "skipped", message=_text(outcome.skip_reason or "skipped"))
