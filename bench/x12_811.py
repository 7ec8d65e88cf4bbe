"""Benchmark: collect a large X12 811 bill through the ``x12-811`` collector into a snapshot.

    python bench/x12_811.py [--rows 1000000] [--small 200000] [--keep DIR]

For each size (``--small`` then ``--rows``) an 811 interchange of that many charge lines
(IT1 with its PID, ten per service, over ten invoices; tests/x12_fixture.py ``write_large``)
is generated into a temporary folder, then collected by the real collect path
(engine.collect: the collector reads the file, the engine validates every row and writes
the snapshot). Each measurement runs in a fresh process, so its peak RSS (ru_maxrss) is its
own. Targets: under 60 s and under 1 GiB peak RSS for 1,000,000 charge lines; compare the two
sizes to see that memory does not grow with the file.

The baseline, in the same run on the same file, is the least any X12 reader must do: read
the file in blocks and split it into segments and elements with a bare loop, keeping nothing.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 60
TARGET_RSS_MB = 1024


def generate(path: Path, rows: int) -> int:
    sys.path.insert(0, str(ROOT))
    from tests.x12_fixture import write_large

    with path.open("w", encoding="utf-8", newline="") as out:
        return write_large(out, rows)


def ingest(folder: Path) -> dict:
    import datetime as dt

    from dialtone.engine.collect import collect
    from dialtone.engine.config import load_config

    config = load_config(folder / "dialtone.yaml")
    t0 = time.perf_counter()
    result = collect(config, as_of=dt.date(2026, 6, 30))
    elapsed = time.perf_counter() - t0
    return {"seconds": elapsed, "rows": result.rows.get("charges", 0), "rejects": result.rejects,
            "invoices": result.rows.get("invoices", 0)}


def baseline(folder: Path) -> dict:
    """Segments and elements split by a bare loop over blocks of the file."""
    t0 = time.perf_counter()
    segments = 0
    tail = ""
    with (folder / "bill.edi").open(encoding="utf-8", newline="") as fh:
        while block := fh.read(1 << 20):
            parts = (tail + block).split("~")
            tail = parts.pop()
            for raw in parts:
                raw = raw.strip()
                if raw:
                    raw.split("*")
                    segments += 1
    return {"seconds": time.perf_counter() - t0, "segments": segments}


def child(args) -> None:
    folder = Path(args.folder)
    if args.child == "generate":
        t0 = time.perf_counter()
        out = {"segments": generate(folder / "bill.edi", args.rows), "seconds": 0.0}
        out["seconds"] = time.perf_counter() - t0
    elif args.child == "ingest":
        out = ingest(folder)
    else:
        out = baseline(folder)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def run_child(kind: str, folder: Path, rows: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", kind, "--folder", str(folder),
                           "--rows", str(rows)], capture_output=True, text=True, check=False)
    if proc.returncode:
        sys.exit(f"{kind} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(rows: int, keep: Path | None) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="dialtone-bench-", dir=keep))
    try:
        (folder / "dialtone.yaml").write_text(
            "sources:\n  bills:\n    collector: x12-811\n    path: ./bill.edi\n    vendor: carrier\n",
            encoding="utf-8")
        gen = run_child("generate", folder, rows)
        size_mb = (folder / "bill.edi").stat().st_size / 1e6
        print(f"  generated {rows:,} charge lines, {gen['segments']:,} segments ({size_mb:,.0f} MB) "
              f"in {gen['seconds']:.1f} s", flush=True)
        base = run_child("baseline", folder, rows)
        got = run_child("ingest", folder, rows)
        assert got["rows"] == rows and got["rejects"] == 0, got
        return {"rows": rows, "size_mb": size_mb, "ingest": got, "baseline": base}
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)


def report(m: dict) -> None:
    rows, got, base = m["rows"], m["ingest"], m["baseline"]
    ok = got["seconds"] < TARGET_SECONDS and got["peak_rss_mb"] < TARGET_RSS_MB
    print(f"  collect:  {got['seconds']:7.1f} s  {rows / got['seconds']:10,.0f} charges/s  peak RSS "
          f"{got['peak_rss_mb']:6,.0f} MB  {'OK' if ok else 'MISSES TARGET'} (targets < {TARGET_SECONDS} s, "
          f"< {TARGET_RSS_MB} MB)")
    print(f"  baseline: {base['seconds']:7.1f} s  {base['segments'] / base['seconds']:10,.0f} segments/s  "
          f"peak RSS {base['peak_rss_mb']:6,.0f} MB  (bare split loop over the same file)")
    print(f"  ratio:    the collect takes {got['seconds'] / base['seconds']:.1f}x the bare split loop's time")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--small", type=int, default=200_000)
    ap.add_argument("--keep", type=Path, help="make the temporary folders here (and keep them)")
    ap.add_argument("--child", choices=["generate", "ingest", "baseline"], help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    results = []
    for rows in dict.fromkeys([args.small, args.rows]):
        print(f"{rows:,} charge lines:", flush=True)
        results.append(measure(rows, args.keep))
        report(results[-1])
    if len(results) == 2:
        a, b = (r["ingest"]["peak_rss_mb"] for r in results)
        small, large = results[0]["rows"], results[1]["rows"]
        print(f"peak RSS {a:,.0f} MB at {small:,} lines, {b:,.0f} MB at {large:,} lines "
              f"({b / a:.2f}x for {large / small:.0f}x the lines)")


if __name__ == "__main__":
    main()
