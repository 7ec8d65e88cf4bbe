"""Benchmark: ingest an Asterisk Master.csv through the ``asterisk`` collector into a snapshot.

    python bench/asterisk_ingest.py [--rows 10000000] [--small 2000000] [--keep DIR]

For each size (``--small`` then ``--rows``) a Master.csv in the 18-column
layout of the shipped cdr.conf (loguniqueid, loguserfield) is generated into a
temporary folder, then ingested by ``dialtone collect`` (engine.collect: the
collector parses the file into its state folder, the engine validates every
row and writes the snapshot). Each measurement runs in a fresh process, so its
peak RSS is its own. Target: at least 500,000 rows/s, and a peak RSS that does
not grow with the file (compare the two sizes).

The baseline, measured in the same run on the same file, is the least any
reader must do: pyarrow.csv reading the whole file into memory as text,
without any transformation. The ratio shows what parsing times, validating,
keeping the incremental state and writing the snapshot cost on top of it —
and the baseline's RSS shows what reading the file whole would cost in memory.
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

TARGET_ROWS_PER_S = 500_000
GEN_CHUNK = 1_000_000


def generate(path: Path, rows: int) -> None:
    """Write ``rows`` Asterisk cdr_csv records (18 columns), a million at a time, vectorised."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(42)
    base = 1_717_200_000  # 2024-06-01
    dispositions = pa.array(["ANSWERED", "NO ANSWER", "BUSY", "FAILED"])
    opts = pacsv.WriteOptions(include_header=False, quoting_style="needed")

    def text(prefix: str, values, suffix: str = "") -> pa.Array:
        return pc.binary_join_element_wise(prefix, pc.cast(pa.array(values), pa.string()), suffix, "")

    writer = None
    with path.open("wb") as out:
        for lo in range(0, rows, GEN_CHUNK):
            n = min(GEN_CHUNK, rows - lo)
            i = np.arange(lo, lo + n, dtype=np.int64)
            ext = 1000 + rng.integers(0, 500, n)
            dst = 15_550_000_000 + rng.integers(0, 9_999_999, n)
            start = base + i * 3 + rng.integers(0, 3, n)
            disp_idx = rng.choice(4, n, p=[0.8, 0.12, 0.05, 0.03])
            answered = disp_idx == 0
            ring = rng.integers(1, 20, n)
            talk = np.where(answered, rng.integers(1, 1800, n), 0)
            duration = ring + talk
            ts = pa.array(start, pa.timestamp("s"))
            fmt = "%Y-%m-%d %H:%M:%S"
            answer = pc.strftime(pa.array(start + ring, pa.timestamp("s")), format=fmt)
            answer = pc.if_else(pa.array(answered), answer, pa.scalar(None, pa.string()))
            src = pc.cast(pa.array(ext), pa.string())
            table = pa.table({
                "accountcode": pa.repeat("", n),
                "src": src,
                "dst": pc.cast(pa.array(dst), pa.string()),
                "dcontext": pa.repeat("from-internal", n),
                "clid": pc.binary_join_element_wise('"Ext ', src, '" <', src, ">", ""),
                "channel": text("SIP/", ext, "-0000abcd"),
                "dstchannel": text("SIP/trunk-", i),
                "lastapp": pa.repeat("Dial", n),
                "lastdata": text("SIP/trunk/", dst, ",30"),
                "start": pc.strftime(ts, format=fmt),
                "answer": answer,
                "end": pc.strftime(pa.array(start + duration, pa.timestamp("s")), format=fmt),
                "duration": pa.array(duration),
                "billsec": pa.array(talk),
                "disposition": dispositions.take(pa.array(disp_idx)),
                "amaflags": pa.repeat("DOCUMENTATION", n),
                "uniqueid": text("1717200000.", i),
                "userfield": pa.repeat("", n),
            })
            if writer is None:
                writer = pacsv.CSVWriter(out, table.schema, write_options=opts)
            writer.write_table(table)
        if writer is not None:
            writer.close()


def ingest(folder: Path) -> dict:
    import datetime as dt

    from dialtone.engine.collect import collect
    from dialtone.engine.config import load_config

    config = load_config(folder / "dialtone.yaml")
    t0 = time.perf_counter()
    result = collect(config, as_of=dt.date(2026, 6, 30))
    elapsed = time.perf_counter() - t0
    return {"seconds": elapsed, "rows": result.rows.get("calls", 0), "rejects": result.rejects}


def baseline(folder: Path) -> dict:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    t0 = time.perf_counter()
    table = pacsv.read_csv(folder / "Master.csv", read_options=pacsv.ReadOptions(
        autogenerate_column_names=True), convert_options=pacsv.ConvertOptions(
        column_types={f"f{i}": pa.string() for i in range(18)}))
    return {"seconds": time.perf_counter() - t0, "rows": table.num_rows}


def child(args) -> None:
    folder = Path(args.folder)
    if args.child == "generate":
        t0 = time.perf_counter()
        generate(folder / "Master.csv", args.rows)
        out = {"seconds": time.perf_counter() - t0}
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
            "sources:\n  pbx:\n    collector: asterisk\n    path: ./Master.csv\n"
            "    timezone: America/Chicago\n", encoding="utf-8")
        gen = run_child("generate", folder, rows)
        size_mb = (folder / "Master.csv").stat().st_size / 1e6
        print(f"  generated {rows:,} rows ({size_mb:,.0f} MB) in {gen['seconds']:.1f} s", flush=True)
        base = run_child("baseline", folder, rows)
        got = run_child("ingest", folder, rows)
        assert got["rows"] == rows and got["rejects"] == 0, got
        return {"rows": rows, "size_mb": size_mb, "ingest": got, "baseline": base}
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)


def report(m: dict) -> None:
    rows, got, base = m["rows"], m["ingest"], m["baseline"]
    rate, base_rate = rows / got["seconds"], rows / base["seconds"]
    print(f"  ingest:   {got['seconds']:7.1f} s  {rate:12,.0f} rows/s  peak RSS {got['peak_rss_mb']:7,.0f} MB"
          f"  {'OK' if rate >= TARGET_ROWS_PER_S else 'BELOW TARGET'} (target {TARGET_ROWS_PER_S:,})")
    print(f"  baseline: {base['seconds']:7.1f} s  {base_rate:12,.0f} rows/s  peak RSS "
          f"{base['peak_rss_mb']:7,.0f} MB  (pyarrow.csv read into memory, no transformation)")
    print(f"  ratio:    ingest takes {got['seconds'] / base['seconds']:.1f}x the baseline's time")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--small", type=int, default=2_000_000)
    ap.add_argument("--keep", type=Path, help="make the temporary folders here (and keep them)")
    ap.add_argument("--child", choices=["generate", "ingest", "baseline"], help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    results = []
    for rows in dict.fromkeys([args.small, args.rows]):
        print(f"{rows:,} rows:", flush=True)
        results.append(measure(rows, args.keep))
        report(results[-1])
    if len(results) == 2:
        a, b = (r["ingest"]["peak_rss_mb"] for r in results)
        print(f"peak RSS {a:,.0f} MB at {results[0]['rows']:,} rows, {b:,.0f} MB at "
              f"{results[1]['rows']:,} rows ({b / a:.2f}x for {results[1]['rows'] / results[0]['rows']:.0f}x "
              "the rows)")


if __name__ == "__main__":
    main()
