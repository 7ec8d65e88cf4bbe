"""Large CSV files are streamed (read a block at a time, validated chunk by chunk, written to disk
as they go): the snapshot, its rejects with their row numbers and the source's warnings are the
same as when the file is read whole."""

from __future__ import annotations

import datetime as dt
import hashlib

import pyarrow as pa
import pytest

import dialtone.collectors.csv_files as csv_files
import dialtone.engine.collect as collect_module
from dialtone.engine.collect import collect
from dialtone.engine.config import load_config

from .test_csv_collector import rejects, rows

AS_OF = dt.date(2026, 6, 30)


def _workspace(tmp_path):
    estate = tmp_path / "estate"
    estate.mkdir(parents=True)
    lines = ["Line ID,kind,Line Status,number,monthly_cost,activated_on,remarks"]
    for i in range(1, 3001):
        status = "Suspended - Lost/Stolen" if i % 7 == 0 else "active"
        cost = "abc" if i % 997 == 0 else f"{20 + i % 30}.50"
        lines.append(f'L{i},mobile,{status},+1555{i:07d},{cost},2024-01-10,"note {i}"')
        if i in (5, 1500, 2999):
            lines.append(f"L{i}x,mobile,active")                          # too few columns
        if i == 2000:
            lines.append('L2000b,mobile,active,+15559990000,10,2024-01-10,"two\nlines"')
        if i == 2500:
            lines.append("L2500,mobile,active,+15559990001,10,2024-01-10,duplicate key")
    (estate / "lines.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "dialtone.yaml").write_text(
        "sources:\n"
        "  inventory:\n"
        "    collector: csv\n"
        "    path: ./estate/lines.csv\n"
        "    entity: lines\n"
        "    columns: {Line ID: id, kind: kind, Line Status: status, number: number,\n"
        "              monthly_cost: monthly_cost, activated_on: activated_on}\n"
        "    values: {status: {'Suspended - Lost/Stolen': suspended}}\n"
        "    default_region: US\n", encoding="utf-8")
    return load_config(tmp_path / "dialtone.yaml")


def _collected(tmp_path, monkeypatch, *, stream: bool):
    monkeypatch.setattr(csv_files, "STREAM_ABOVE_BYTES", 0 if stream else 1 << 40)
    # Small blocks, so the file is read in many pieces.
    monkeypatch.setattr(csv_files, "CSV_BLOCK_BYTES", 16 << 10)
    result = collect(_workspace(tmp_path), as_of=AS_OF)
    snapshot = result.snapshot
    return (sorted(rows(snapshot, "lines"), key=lambda r: r["id"]),
            sorted((int(r["row"]), r["field"], r["reason"]) for r in rejects(snapshot)),
            snapshot.manifest["sources"]["inventory"], result)


def test_a_streamed_csv_gives_the_snapshot_rejects_and_warnings_of_a_whole_read(tmp_path, monkeypatch):
    whole_rows, whole_rejects, whole_meta, _ = _collected(tmp_path / "whole", monkeypatch, stream=False)
    streamed_rows, streamed_rejects, streamed_meta, result = _collected(tmp_path / "streamed", monkeypatch,
                                                                       stream=True)
    assert streamed_rows == whole_rows
    assert streamed_rejects == whole_rejects
    assert streamed_meta["rows"] == whole_meta["rows"] == {"lines": 3001 - 3}
    # The values mapping and the numbers' E.164 form applied to every block.
    by_id = {r["id"]: r for r in streamed_rows}
    assert by_id["L7"]["status"] == "suspended" and by_id["L7"]["number"] == "+15550000007"
    assert by_id["L2000b"]["id"] == "L2000b"
    # The file's digest, hashed beside the parse when streamed, is in the manifest either way.
    digest = hashlib.sha256((tmp_path / "streamed" / "estate" / "lines.csv").read_bytes()).hexdigest()
    assert streamed_meta["inputs"] == whole_meta["inputs"] == {"lines.csv": digest}


@pytest.mark.parametrize("stream", [False, True])
def test_row_numbers_of_rejects_count_the_skipped_and_multi_line_rows(tmp_path, monkeypatch, stream):
    _, rejected, _, _ = _collected(tmp_path, monkeypatch, stream=stream)
    # The header is row 1 and L1 row 2; a short row follows L5, L1500 and L2999, a record with a
    # line break in a value follows L2000, and L2500 comes again right after itself: each pushes
    # the rows after it one further down (Li is row i + 2 after L5, i + 3 after L1500, ...).
    assert rejected == [
        (7, "", "expected 7 columns, found 3"),
        (999, "monthly_cost", "expected a number"),                        # L997
        (1503, "", "expected 7 columns, found 3"),
        (1997, "monthly_cost", "expected a number"),                       # L1994
        (2505, "id", "duplicate key (first seen in lines.csv row 2504)"),
        (2996, "monthly_cost", "expected a number"),                       # L2991
        (3005, "", "expected 7 columns, found 3"),
    ]


def test_a_large_file_is_streamed_and_its_unknown_columns_are_warned_of_once(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_files, "STREAM_ABOVE_BYTES", 0)
    monkeypatch.setattr(csv_files, "CSV_BLOCK_BYTES", 16 << 10)
    _workspace(tmp_path)
    path = tmp_path / "estate" / "lines.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("Line ID,kind,Line Status", "id,kind,status", 1),
                    encoding="utf-8")
    collector = csv_files.CsvCollector("inventory", {"path": "./estate"}, tmp_path)
    data = collector.collect()
    assert [b.chunks is not None for b in data.batches] == [True]
    assert sum(1 for _ in data.batches[0].tables()) > 5
    assert data.warnings == ["lines.csv: ignored unknown column 'remarks'."]


def test_the_collect_runs_under_its_memory_limit_and_spills_where_it_is_told(tmp_path, monkeypatch):
    import dialtone.engine.collect as collect_module

    config = _workspace(tmp_path)
    (tmp_path / "dialtone.yaml").write_text(
        (tmp_path / "dialtone.yaml").read_text(encoding="utf-8")
        + "collect: {memory_limit: 96MB, temp_directory: ./spill}\n", encoding="utf-8")
    config = load_config(tmp_path / "dialtone.yaml")
    seen = {}
    opened = collect_module._Collect._open

    def spy(self, collected):
        opened(self, collected)
        seen["settings"] = self.con.execute(
            "SELECT current_setting('memory_limit'), current_setting('temp_directory')").fetchall()[0]

    monkeypatch.setattr(collect_module._Collect, "_open", spy)
    monkeypatch.setattr(csv_files, "STREAM_ABOVE_BYTES", 0)
    result = collect(config, as_of=AS_OF)
    assert result.rows == {"lines": 2998}
    limit, spill = seen["settings"]
    assert limit == "91.5 MiB"                              # 96 MB as DuckDB prints it
    assert spill.startswith(str(tmp_path / "spill" / ".spill-"))
    # Each collect spills into a folder of its own, removed afterwards.
    assert list((tmp_path / "spill").iterdir()) == []


@pytest.mark.parametrize(("value", "message"), [
    ("lots", "collect.memory_limit: 'lots' does not match"),
    ("1KB", ":1: collect.memory_limit: 1KB is outside what a collect can run in (64MB to 1000TB)"),
    ("99999999TB", ":1: collect.memory_limit: 99999999TB is outside what a collect can run in"),
])
def test_a_wrong_collect_memory_limit_is_refused_with_the_key(tmp_path, value, message):
    from dialtone.engine.errors import ConfigError

    (tmp_path / "dialtone.yaml").write_text(f"collect: {{memory_limit: {value}}}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_config(tmp_path / "dialtone.yaml")
    assert message in str(refused.value)


def test_spill_folders_left_by_a_killed_collect_are_swept_and_live_ones_kept(tmp_path):
    import os
    import socket
    import subprocess

    config = _workspace(tmp_path)
    (tmp_path / "dialtone.yaml").write_text(
        (tmp_path / "dialtone.yaml").read_text(encoding="utf-8") + "collect: {temp_directory: ./spill}\n",
        encoding="utf-8")
    config = load_config(tmp_path / "dialtone.yaml")
    gone = subprocess.Popen(["true"])
    gone.wait()                                   # a process id that no longer runs
    host = socket.gethostname()
    dead = tmp_path / "spill" / f".spill-{gone.pid}@{host}-0123456789ab"
    live = tmp_path / "spill" / f".spill-{os.getppid()}@{host}-0123456789ab"
    for folder in (dead, live):
        (folder / "duckdb_temp").mkdir(parents=True)
    collect(config, as_of=AS_OF)
    assert not dead.exists() and live.exists()


def test_a_value_longer_than_a_block_restarts_the_stream_without_repeating_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_files, "STREAM_BLOCK_BYTES", 16 << 10)
    config = _workspace(tmp_path)
    path = tmp_path / "estate" / "lines.csv"
    text = path.read_text(encoding="utf-8")
    # A 40 kB remark on L1800: longer than a streamed block, shorter than CSV_BLOCK_BYTES.
    path.write_text(text.replace('"note 1800"', '"' + "x" * 40_000 + '"', 1), encoding="utf-8")
    monkeypatch.setattr(csv_files, "STREAM_ABOVE_BYTES", 1 << 40)
    whole = collect(config, as_of=AS_OF).snapshot
    monkeypatch.setattr(csv_files, "STREAM_ABOVE_BYTES", 0)
    streamed = collect(config, as_of=AS_OF).snapshot
    assert sorted(rows(streamed, "lines"), key=lambda r: r["id"]) == \
        sorted(rows(whole, "lines"), key=lambda r: r["id"])
    assert len(rows(streamed, "lines")) == 2998
    assert sorted(rejects(streamed), key=lambda r: int(r["row"])) == \
        sorted(rejects(whole), key=lambda r: int(r["row"]))
    short = [r["row"] for r in rejects(streamed) if r["reason"].startswith("expected 7")]
    assert short == ["7", "1503", "3005"]


def test_row_numbers_skip_each_rejected_line_as_counting_down_one_by_one_would():
    import random

    import numpy as np

    def one_by_one(start, count, skipped):
        rows = np.arange(start + 2, start + count + 2, dtype=np.int64)
        for line in sorted(r for r in skipped if r is not None):
            rows[rows >= line] += 1
        return rows.tolist()

    draw = random.Random(11)
    for _ in range(2000):
        skipped = draw.sample(range(2, 90), draw.randint(0, 25)) + ([None] if draw.random() < 0.2 else [])
        start, count = draw.randint(0, 40), draw.randint(0, 40)
        assert csv_files._row_numbers(start, count, skipped).to_pylist() == one_by_one(start, count, skipped)


def test_chunks_validated_one_by_one_or_joined_into_pieces_give_the_same_snapshot(tmp_path, monkeypatch):
    def collected(folder):
        rows, rejected, meta, _ = _collected(folder, monkeypatch, stream=True)
        return rows, rejected, meta["rows"], meta["rejects"]   # the manifest's time aside

    monkeypatch.setattr(collect_module, "VALIDATE_PIECE_BYTES", 0)           # each chunk alone
    alone = collected(tmp_path / "alone")
    monkeypatch.setattr(collect_module, "VALIDATE_PIECE_BYTES", 1 << 40)     # all chunks in one piece
    joined = collected(tmp_path / "joined")
    assert joined == alone


def test_validation_pieces_join_chunks_up_to_the_size_and_never_across_different_columns():
    def chunk(n, extra=False):
        cols = {"id": [f"L{i}" for i in range(n)], "__row": list(range(n))}
        if extra:
            cols["status"] = ["active"] * n
        return pa.table(cols)

    size = chunk(100).nbytes
    # With room for two chunks a piece: two, then one (the columns change), then two.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(collect_module, "VALIDATE_PIECE_BYTES", 2 * size)
        pieces = list(collect_module._validation_pieces(
            [chunk(100), chunk(100), chunk(100), chunk(100, extra=True), chunk(100, extra=True)]))
    assert [(p.num_rows, p.num_columns) for p in pieces] == [(200, 2), (100, 2), (200, 3)]
    # Joining keeps each chunk's record batches: nothing is copied.
    assert [p.column(0).num_chunks for p in pieces] == [2, 1, 2]


def test_a_table_far_larger_than_a_piece_is_validated_in_slices_of_about_a_piece():
    # A collector may hand over a whole source as one table: validating holds a few copies of
    # its piece, and that must not become a few copies of the whole source.
    big = pa.table({"id": [f"L{i}" for i in range(10_000)], "__row": list(range(10_000))})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(collect_module, "VALIDATE_PIECE_BYTES", big.nbytes // 8)
        pieces = list(collect_module._validation_pieces([big]))
    # Slices of about a piece, none joined to the next.
    assert 8 <= len(pieces) <= 9
    assert max(p.nbytes for p in pieces) <= big.nbytes // 8 * 21 // 20
    assert pa.concat_tables(pieces).equals(big)


def test_read_ahead_gives_the_tables_in_order_and_the_readers_error_where_it_happened():
    from dialtone.engine.errors import CollectError

    def chunks():
        for i in range(5):
            yield pa.table({"n": [i]})
        raise CollectError("lines.csv: cannot read as CSV: row 7")

    got = []
    with pytest.raises(CollectError, match="row 7"):
        for table in collect_module._read_ahead(chunks(), depth=2):
            got.append(table.column("n")[0].as_py())
    assert got == [0, 1, 2, 3, 4]


def test_a_consumer_stopping_early_stops_the_reader_before_read_ahead_returns():
    closed = []

    def chunks():
        try:
            for i in range(1_000):
                yield pa.table({"n": [i]})
        finally:
            closed.append(True)

    reading = collect_module._read_ahead(chunks(), depth=2)
    assert next(reading).column("n")[0].as_py() == 0
    reading.close()          # what the collect does when validation stops it
    assert closed == [True]  # the file the reader had open is closed by now



def test_a_full_disk_while_a_piece_is_written_in_its_thread_fails_the_collect_cleanly(
        tmp_path, monkeypatch):
    import errno
    import threading

    from dialtone.engine.errors import CollectError

    def full(self, table):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(collect_module._Streamed, "_write", full)
    threads = threading.active_count()
    with pytest.raises(CollectError, match="cannot write the collect's working files: No space left"):
        _collected(tmp_path, monkeypatch, stream=True)
    # The writer's thread is gone with the collect, and no snapshot was written.
    assert threading.active_count() == threads
    assert not list((tmp_path / ".dialtone" / "snapshots").glob("2*"))


def test_a_write_that_fails_in_the_writer_s_thread_ends_the_collect_not_a_source(tmp_path, monkeypatch):
    # The entity's file is shared by every source that writes it: after a failed write nobody
    # knows which rows are in it, so no source is blamed and no snapshot is written from it.
    import errno

    from dialtone.engine.errors import CollectError

    def broken(self, table):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(collect_module._Streamed, "_write", broken)
    with pytest.raises(CollectError, match="cannot write the collect's working file for lines: "
                                           "Input/output error; nothing was written"):
        _collected(tmp_path, monkeypatch, stream=True)


def test_every_streamed_file_of_a_source_has_its_digest(tmp_path, monkeypatch):
    """Several large files in one source, each hashed beside its parse: every file's digest
    reaches the manifest, though the source's collect returned before any was known."""
    monkeypatch.setattr(csv_files, "STREAM_ABOVE_BYTES", 0)
    estate = tmp_path / "estate"
    estate.mkdir()
    files = {
        "people.csv": "id,name,status\n" + "".join(f"P{i},Person {i},active\n" for i in range(4000)),
        "lines.csv": "id,kind,status\n" + "".join(f"L{i},mobile,active\n" for i in range(4000)),
        "devices.csv": "id,kind,status\n" + "".join(f"D{i},smartphone,in_use\n" for i in range(4000)),
    }
    for name, text in files.items():
        (estate / name).write_text(text, encoding="utf-8")
    (tmp_path / "dialtone.yaml").write_text(
        "sources:\n  estate: {collector: csv, path: ./estate}\n", encoding="utf-8")
    result = collect(load_config(tmp_path / "dialtone.yaml"), as_of=AS_OF)
    assert result.snapshot.manifest["sources"]["estate"]["inputs"] == {
        name: hashlib.sha256(text.encode()).hexdigest() for name, text in sorted(files.items())}
