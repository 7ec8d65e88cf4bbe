"""Benchmark: identity resolution of references at scale (engine/identity.py).

    python bench/identity_resolution.py [--lines 2000000] [--people 200000]

A carrier source's lines name their holder by e-mail address (in another case),
by employee number or by id; 1.5% name nobody known. The figure is the time
``resolve_references`` takes to classify every reference, rewrite the column and
build the report. The baseline, measured in the same run, is one plain DuckDB
hash join of the same lines to the people's e-mail addresses (what any
resolution must at least do); the ratio shows what the rest costs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from dialtone.engine.estate.model import load_model
from dialtone.engine.identity import resolve_references


def estate(lines: int, people: int) -> dict[str, pa.Table]:
    p = pa.array(range(people))
    i = pa.array(range(lines))
    person = pc.cast(pc.divide(pc.multiply(i, 7919), 1), pa.int64())
    person = pc.subtract(person, pc.multiply(pc.divide(person, people + people // 65), people + people // 65))
    kind = pc.bit_wise_and(i, 3)
    text = pc.cast(person, pa.string())
    ref = pc.case_when(
        pc.make_struct(pc.equal(kind, 0), pc.equal(kind, 1)),
        pc.binary_join_element_wise("U", text, "@EXAMPLE.COM", ""),
        pc.binary_join_element_wise("E", text, ""),
        pc.binary_join_element_wise("P", text, ""))
    return {
        "people": pa.table({
            "id": pc.binary_join_element_wise("P", pc.cast(p, pa.string()), ""),
            "email": pc.binary_join_element_wise("u", pc.cast(p, pa.string()), "@example.com", ""),
            "employee_id": pc.binary_join_element_wise("E", pc.cast(p, pa.string()), ""),
            "_source": pa.array(["hr"] * people)}),
        "lines": pa.table({
            "id": pc.binary_join_element_wise("L", pc.cast(i, pa.string()), ""),
            "assigned_to": ref, "_source": pa.array(["carrier"] * lines)}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--people", type=int, default=200_000)
    args = parser.parse_args()
    tables = estate(args.lines, args.people)
    con = duckdb.connect()
    con.register("l", tables["lines"])
    con.register("p", tables["people"])
    started = time.perf_counter()
    con.sql("SELECT count(p.id) FROM l LEFT JOIN p ON lower(l.assigned_to) = p.email").fetchall()
    baseline = time.perf_counter() - started
    con.unregister("l")
    con.unregister("p")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        report = resolve_references(con, tables, load_model(),
                                    {"people": ("employee_id", "email")}, Path(work))
    took = time.perf_counter() - started
    counts = report.by_source["carrier"]
    print(f"{args.lines:,} lines, {args.people:,} people: resolved {counts['resolved']:,}, "
          f"unresolved {counts['unresolved']:,}, ambiguous {counts['ambiguous']:,}")
    print(f"resolve_references {took:6.2f} s   ({args.lines / took:,.0f} references/s)")
    print(f"baseline join      {baseline:6.2f} s   ratio {took / baseline:.1f}x")


if __name__ == "__main__":
    main()
