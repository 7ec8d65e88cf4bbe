"""Turn an evaluation's Arrow findings into rows for the store, set-based.

The evidence of every finding becomes one JSON text built by DuckDB over the
whole Arrow table at once, not by a Python loop over findings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ..sqltext import ident, literal

#: (policy_id, resource_type, resource_id, reason, evidence_json, savings, savings_key, currency)
StageRow = tuple


def _json_safe(column: str, typ: pa.DataType) -> str:
    # JSON has no NaN or infinity; DuckDB would print them bare.
    if pa.types.is_floating(typ):
        return f"CASE WHEN isfinite({column}) THEN {column} END"
    if pa.types.is_timestamp(typ):
        return f"strftime({column}, '%Y-%m-%dT%H:%M:%SZ')"
    return column


def _select(policy_id: str, resource_type: str, evidence_names: tuple[str, ...], rows: pa.Table,
            name: str) -> str:
    rid, reason, savings, savings_key, currency, *evidence = (ident(n) for n in rows.column_names)
    fields = ", ".join(
        f"{literal(label)}: {_json_safe(col, rows.schema.field(i + 5).type)}"
        for i, (label, col) in enumerate(zip(evidence_names, evidence, strict=True)))
    evidence_sql = f"to_json({{{fields}}})::VARCHAR" if fields else "'{}'"
    return (f"SELECT {literal(policy_id)} AS policy_id, {literal(resource_type)} AS resource_type, "
            f"CAST({rid} AS VARCHAR) AS resource_id, CAST({reason} AS VARCHAR) AS reason, "
            f"{evidence_sql} AS evidence, "
            f"{_json_safe(f'CAST({savings} AS DOUBLE)', pa.float64())} AS savings, "
            f"CASE WHEN {savings} IS NOT NULL THEN CAST({savings_key} AS VARCHAR) END AS savings_key, "
            f"CASE WHEN {savings} IS NOT NULL THEN CAST({currency} AS VARCHAR) END AS currency "
            f"FROM {ident(name)} "
            # One row per resource: a query policy may return a resource twice.
            + ("" if _one_row_each(rows.column(0))
               else f"QUALIFY row_number() OVER (PARTITION BY {rid} ORDER BY {reason}) = 1"))


def _one_row_each(resource_ids: pa.ChunkedArray) -> bool:
    """Whether no two rows name the same resource, so that keeping one row per resource would
    keep them all: counted by Arrow's hashing (a window over every row costs DuckDB more), for
    text and integer ids, whose equality is the same there and in DuckDB's PARTITION BY (NULL
    counted as one value, as PARTITION BY groups NULLs)."""
    kind = resource_ids.type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind)):
        return False
    return pc.count_distinct(resource_ids, mode="all").as_py() == len(resource_ids)


EMPTY_DIGEST = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # sha256 of nothing

#: One policy's findings to stage: (policy_id, resource_type, evidence_names, rows).
PolicyFindings = tuple[str, str, tuple[str, ...], pa.Table | None]


class StagedFindings:
    """Policies' findings shaped for the store once, then digested and streamed in batches.

    All the policies' findings go into one DuckDB table in one statement (a ``UNION ALL`` of
    each policy's query) and come out in one query: at an evaluation of 70 policies, a
    statement or three per policy cost more than staging most policies' findings."""

    def __init__(self, findings: Iterable[PolicyFindings], attributes: pa.Table | None = None,
                 con: duckdb.DuckDBPyConnection | None = None) -> None:
        """``attributes``: (resource_type, resource_id, legal_entity, cost_center) of the
        resources, for ``batches(with_attributes=True)`` (engine/access.py). ``con``: a DuckDB
        connection to stage in; without it the findings get a connection of their own."""
        findings = list(findings)
        self.policy_ids = [policy_id for policy_id, *_ in findings]
        if len(set(self.policy_ids)) != len(self.policy_ids):
            raise ValueError("each policy's findings are staged once")
        parts = [(i, f) for i, f in enumerate(findings) if f[3] is not None and f[3].num_rows]
        self.empty = not parts
        self._con = None
        self._own = con is None
        self._attributes = attributes is not None and attributes.num_rows > 0
        if self.empty:
            return
        self._con = con if con is not None else duckdb.connect()
        if self._attributes:
            self._con.register("attributes", attributes)
        names = [f"findings_rows_{i}" for i, _ in parts]
        try:
            for name, (_, finding) in zip(names, parts, strict=True):
                self._con.register(name, finding[3])
            self._con.execute("CREATE OR REPLACE TEMP TABLE staged AS " + " UNION ALL ".join(
                f"({_select(*finding, name)})" for name, (_, finding) in zip(names, parts, strict=True)))
        finally:
            for name in names:
                self._con.unregister(name)

    def __enter__(self) -> StagedFindings:
        return self

    def __exit__(self, *exc) -> None:
        if self._con is None:
            return
        if self._own:
            self._con.close()
            return
        self._con.execute("DROP TABLE IF EXISTS staged")
        if self._attributes:
            self._con.unregister("attributes")

    def digests(self) -> dict[str, str]:
        """Each policy's digest of its findings, independent of row order: what replay compares.

        Each finding (resource, reason, savings, evidence) is hashed on its own and the hashes
        are combined with XOR, with the count: set-based, no sort of a million rows. Findings
        are unique per resource, so no two equal rows cancel out.
        """
        digests = dict.fromkeys(self.policy_ids, EMPTY_DIGEST)
        if self.empty:
            return digests
        for policy_id, count, combined in self._con.execute(
                "SELECT policy_id, count(*), bit_xor(md5_number(concat_ws(chr(31), resource_id, "
                "coalesce(reason, ''), coalesce(CAST(savings AS VARCHAR), ''), evidence))) "
                "FROM staged GROUP BY policy_id").fetchall():
            digests[policy_id] = hashlib.sha256(f"{count}:{combined}".encode()).hexdigest()
        return digests

    def batches(self, size: int = 50_000, *, with_attributes: bool = False) -> Iterator[list[StageRow]]:
        """Rows of StageRow; ``with_attributes``: each followed by its resource's legal entity
        and cost centre (NULLs without ``attributes``), joined here, in DuckDB."""
        if self.empty:
            return
        columns = ("s.policy_id, s.resource_type, s.resource_id, s.reason, s.evidence, s.savings, "
                   "s.savings_key, s.currency")
        if not with_attributes:
            sql = f"SELECT {columns} FROM staged s"
        elif self._attributes:
            sql = (f"SELECT {columns}, a.legal_entity, a.cost_center FROM staged s LEFT JOIN attributes a "
                   "ON a.resource_type = s.resource_type AND a.resource_id = s.resource_id")
        else:
            sql = f"SELECT {columns}, NULL, NULL FROM staged s"
        result = self._con.execute(sql)
        while batch := result.fetchmany(size):
            yield batch


def result_digest(policy_id: str, resource_type: str, evidence_names: tuple[str, ...],
                  rows: pa.Table | None) -> str:
    with StagedFindings([(policy_id, resource_type, evidence_names, rows)]) as staged:
        return staged.digests()[policy_id]


def stage_rows(policy_id: str, resource_type: str, evidence_names: tuple[str, ...],
               rows: pa.Table, batch_size: int = 50_000) -> Iterator[list[StageRow]]:
    """Batches of store rows for one policy's findings."""
    with StagedFindings([(policy_id, resource_type, evidence_names, rows)]) as staged:
        yield from staged.batches(batch_size)
