"""Benchmark: what collect-time normalisation (engine/estate/synonyms.yaml) costs validation.

    python bench/normalisation.py [--rows 2000000] [--repeat 3]

Validates one large batch of ``lines`` as a carrier export gives it — statuses, kinds
and purposes in the carrier's words (``Active``, ``ACTIVE``, ``In Service``,
``Suspended - Seasonal``, ``Smartphone``, ``Elevator``…), currencies in lower case,
booleans as ``On``/``Off`` — and the same batch already canonical, each with the
vocabulary and without it (an empty vocabulary: validation as it was before). Runs
alternate (without, with, without, with…) so that other work on the machine weighs on
both alike; the best of ``--repeat`` runs of each is printed, with the overhead in percent:

- *already canonical*: what the vocabulary costs a source that needs none of it;
- *carrier words*: the carrier batch with the vocabulary, against the canonical batch
  without it (before, the carrier batch was all rejects, so that is the fair baseline).

The time of the canonical-form step alone (``validate.canonical_values``) is printed
too: on a shared machine it is the steadier figure.
"""

from __future__ import annotations

import argparse
import time
from unittest import mock

import duckdb
import numpy as np
import pyarrow as pa

from dialtone.engine import validate
from dialtone.engine.collector_api import ROW_COLUMN, RawBatch
from dialtone.engine.estate.model import load_model
from dialtone.engine.estate.vocabulary import Vocabulary, load_vocabulary

CARRIER = {
    "status": ["Active", "ACTIVE", " active ", "In Service", "Suspended - Seasonal", "Disconnected"],
    "kind": ["Smartphone", "Basic Phone", "POTS", "DID", "Toll Free", "M2M"],
    "purpose": ["Voice", "Elevator", "Fire Alarm", "IVR", "", "Data Only"],
    "currency": ["usd", "USD", "US$"],
    "recorded": ["On", "Off", "Y", "N"],
}
CANONICAL = {
    "status": ["active", "active", "active", "active", "suspended", "cancelled"],
    "kind": ["mobile", "mobile", "landline", "did", "toll_free", "iot"],
    "purpose": ["voice", "lift", "alarm", "contact_centre", "", "data"],
    "currency": ["USD"],
    "recorded": ["true", "false", "y", "n"],
}


def batch(rows: int, words: dict[str, list[str]]) -> RawBatch:
    rng = np.random.default_rng(7)
    ids = pa.array(np.char.add("L", np.arange(rows).astype(str)))
    numbers = pa.array(np.char.add("+1312", (5550000 + np.arange(rows) % 9999999).astype(str)))
    cols = {"id": ids, "number": numbers,
            "monthly_cost": pa.array(np.round(rng.random(rows) * 80, 2).astype(str)),
            "activated_on": pa.array(["2024-01-10"] * rows)}
    for name, choices in words.items():
        cols[name] = pa.array(choices).take(pa.array(rng.integers(0, len(choices), rows)))
    cols[ROW_COLUMN] = pa.array(np.arange(2, rows + 2))
    return RawBatch("lines", pa.table(cols), "wireless.csv")


#: Seconds spent putting columns in canonical form (validate.canonical_values), per run.
STEP: list[float] = [0.0]
_canonical_values = validate.canonical_values


def _timed_step(*args, **kwargs):
    started = time.perf_counter()
    try:
        return _canonical_values(*args, **kwargs)
    finally:
        STEP[0] += time.perf_counter() - started


def timed(con, entity, raw: RawBatch, vocabulary: bool) -> tuple[float, int, int, float]:
    empty = Vocabulary({}, {})
    STEP[0] = 0.0
    with mock.patch.object(validate, "load_vocabulary", load_vocabulary if vocabulary else lambda: empty), \
            mock.patch.object(validate, "canonical_values", _timed_step):
        started = time.perf_counter()
        out = validate.validate_batch(con, entity, raw, "carrier")
        took = time.perf_counter() - started
    return took, out.table.num_rows, out.rejects.num_rows, STEP[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    entity = load_model().entity("lines")
    con = duckdb.connect()
    load_vocabulary()
    canonical, carrier = batch(args.rows, CANONICAL), batch(args.rows, CARRIER)
    runs: dict[str, list[tuple[float, int, int, float]]] = {"before": [], "canonical": [], "carrier": []}
    for _ in range(args.repeat):
        runs["before"].append(timed(con, entity, canonical, vocabulary=False))
        runs["canonical"].append(timed(con, entity, canonical, vocabulary=True))
        runs["carrier"].append(timed(con, entity, carrier, vocabulary=True))
    best = {k: min(v) for k, v in runs.items()}
    before = best["before"][0]
    print(f"{args.rows:,} lines rows, best of {args.repeat}:")
    print(f"  canonical batch, no vocabulary (before) {before:6.2f} s  "
          f"({best['before'][1]:,} good, {best['before'][2]:,} rejects)")
    for key, label in (("canonical", "canonical batch, with vocabulary      "),
                       ("carrier", "carrier words, with vocabulary        ")):
        took, good, bad, step = best[key]
        print(f"  {label} {took:6.2f} s  ({good:,} good, {bad:,} rejects)  "
              f"overhead {100 * (took / before - 1):+.1f}%; the canonical-form step itself "
              f"{step:.2f} s ({100 * step / took:.1f}% of the run)")


if __name__ == "__main__":
    main()
