"""Staging an evaluation's findings for the store: every policy's findings in one DuckDB table.

What is staged is what the store records and what replay compares (each policy's results
digest, ``policy_runs.result_sha256``): staging all the policies at once must give each the
digest and the rows it had when each policy was staged on its own. The digests below were
computed by that earlier, per-policy staging (commit a992691) over these same findings.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from dialtone.engine.store.staging import EMPTY_DIGEST, StagedFindings, result_digest


def _rows(ids, reasons, savings, evidence: dict) -> pa.Table:
    keys = [None if s is None else f"k:{i}" for i, s in zip(ids, savings, strict=True)]
    return pa.table({"resource_id": ids, "reason": reasons, "savings": savings, "savings_key": keys,
                     "currency": ["EUR"] * len(ids), **evidence})


def findings() -> list[tuple]:
    """Findings of several policies, with what staging has to get right: text that JSON
    escapes, no savings, NaN, timestamps, a resource found twice, integer resource ids, a
    policy that found nothing."""
    return [
        ("cost.a", "lines", ("days", "note"), _rows(
            ["l-1", "l-2", "l-3"], ['idle "90" days', "naïve — ☎ \\ tab\t", None], [12.5, None, float("nan")],
            {"days": [90, 91, None], "note": ["a\nb", "\u2028x\x01", "'quoted'"]})),
        # l-9 twice: one row per resource, the one whose reason sorts first.
        ("cost.b", "lines", ("when",), _rows(
            ["l-9", "l-8", "l-9"], ["second", "only", "first"], [1.0, 2.0, 3.0],
            {"when": pa.array([dt.datetime(2026, 1, 2, 3, 4, 5)] * 3, pa.timestamp("us"))})),
        ("security.c", "devices", ("count",), _rows(
            pa.array([7, 8, 7, 9], pa.int64()), ["x", "y", "w", "z"], [None, None, None, 0.5],
            {"count": [1, 2, 3, 4]})),
        ("cost.none", "lines", ("days",), None),
    ]


# Computed by the per-policy StagedFindings(policy_id, resource_type, evidence_names, rows).digest()
# of commit a992691 over findings() above.
EXPECTED_DIGESTS = {
    "cost.a": "200f4d1e8fd4de87088f2a0a7e6d3e9eb3bc7a6b212024d6042937bcf3cf2d39",
    "cost.b": "5b4065e93a845e98cfd9b6cfc6b605327872e1e4ece5739239810af5874398fb",
    "security.c": "aa1e57179e1731c7be6495fe9e4637779a240776ab74422f3de6d3ff9cb87d5f",
    "cost.none": EMPTY_DIGEST,
}


def test_staging_every_policy_at_once_gives_each_policy_the_digest_it_had_staged_alone():
    with StagedFindings(findings()) as staged:
        assert staged.digests() == EXPECTED_DIGESTS
    for policy_id, resource_type, names, rows in findings():
        assert result_digest(policy_id, resource_type, names, rows) == EXPECTED_DIGESTS[policy_id]


#: The rows that per-policy staging (commit a992691) gave for findings(), policy by policy.
EXPECTED_ROWS = [
    ("cost.a", "lines", "l-1", 'idle "90" days', '{"days":90,"note":"a\\nb"}', 12.5, "k:l-1", "EUR"),
    ("cost.a", "lines", "l-2", "naïve — ☎ \\ tab\t", '{"days":91,"note":"\u2028x\\u0001"}', None, None, None),
    ("cost.a", "lines", "l-3", None, '{"days":null,"note":"\'quoted\'"}', None, "k:l-3", "EUR"),
    ("cost.b", "lines", "l-8", "only", '{"when":"2026-01-02T03:04:05Z"}', 2.0, "k:l-8", "EUR"),
    ("cost.b", "lines", "l-9", "first", '{"when":"2026-01-02T03:04:05Z"}', 3.0, "k:l-9", "EUR"),
    ("security.c", "devices", "7", "w", '{"count":3}', None, None, None),
    ("security.c", "devices", "8", "y", '{"count":2}', None, None, None),
    ("security.c", "devices", "9", "z", '{"count":4}', 0.5, "k:9", "EUR"),
]


def test_the_staged_rows_are_those_each_policy_had_staged_alone():
    """One row per policy and resource (l-9 and device 7 were found twice: the row whose reason
    sorts first), the evidence as JSON text, no savings key or currency without savings."""
    with StagedFindings(findings()) as staged:
        rows = sorted(r for batch in staged.batches(size=2) for r in batch)
    assert rows == EXPECTED_ROWS


def test_staging_nothing_gives_every_policy_the_empty_digest_and_no_rows():
    with StagedFindings([("cost.none", "lines", ("days",), None)]) as staged:
        assert staged.digests() == {"cost.none": EMPTY_DIGEST}
        assert list(staged.batches()) == []
