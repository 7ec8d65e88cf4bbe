"""The review's denial-of-service and malformed-input attacks, each run as the real command in a
child process with a memory ceiling and a timeout: it must finish within both, say what is wrong
in one clean message, and never print a traceback.

The ceiling is the address space (RLIMIT_AS) for commands that only read YAML or zip files. For
commands that open DuckDB and Arrow it is the peak resident memory: their allocators and thread
pools reserve address space they never touch (pyarrow's pool alone about 1.3 GB, each DuckDB
instance about 0.6 GB), so an address-space ceiling there fails at random on reservations rather
than on memory used; a generous address-space limit stays as a backstop.

The ceilings are far below what the attacks used to take (3 GB and more for the anchors bomb,
978 MB for the 100 MB policy, 2.2 GB for the zip bomb; minutes of CPU for the masking)."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import warnings
import zipfile
from pathlib import Path

import pytest

from .conftest import MINIMAL_CONFIG

MB = 1 << 20
#: Memory for commands that only read YAML or zip files.
SMALL = 500 * MB
#: Peak resident memory for commands that open DuckDB and Arrow.
ENGINE = 1024 * MB
#: Their address space, a backstop against a runaway (see the module's docstring).
ENGINE_ADDRESS_SPACE = 8192 * MB
TIMEOUT = 30.0


def dialtone(*args: str, cwd: Path, memory: int = SMALL, timeout: float = TIMEOUT,
             env: dict | None = None, rss: int | None = None) -> subprocess.CompletedProcess:
    """Run ``dialtone ARGS`` under the memory ceiling (``memory`` of address space, or ``rss`` of
    peak resident memory); fail the test past the timeout."""
    address_space = ENGINE_ADDRESS_SPACE if rss else memory

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-m", "dialtone.web.cli", *args], cwd=cwd, env=env,
                                preexec_fn=limit, stdout=out, stderr=err)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            # wait4, not wait: the child's own resource usage, its peak resident memory with it.
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode == -9 and time.perf_counter() - started >= timeout:
            pytest.fail(f"dialtone {' '.join(args)[:80]} ran past {timeout} s")
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), err.read())
    result.seconds = time.perf_counter() - started
    result.peak_rss = usage.ru_maxrss * 1024      # kilobytes on Linux
    result.out = result.stdout.decode("utf-8", "replace")
    result.err = result.stderr.decode("utf-8", "replace")
    assert "Traceback" not in result.err and "Traceback" not in result.out, result.err[-2000:]
    assert "MemoryError" not in result.err, result.err[-2000:]
    if rss:
        assert result.peak_rss <= rss, f"peak resident memory {result.peak_rss // MB} MB > {rss // MB} MB"
    return result


HEAD = "id: hostile.{name}\ntitle: hostile {name}\ncategory: cost\nseverity: low\nresource: lines\n"


def write_hostile_policies(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    bomb = ["l0: &a0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
    bomb += [f"l{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    (folder / "bomb.yaml").write_text(HEAD.format(name="bomb") + "where: status = 'active'\nx-anchors:\n"
                                      + "".join(f"  {line}\n" for line in bomb) + "tags: *a8\n")
    (folder / "deep.yaml").write_text(HEAD.format(name="deep") + "where: status = 'active'\ntags: "
                                      + "[" * 20_000 + "]" * 20_000 + "\n")
    (folder / "dup.yaml").write_text(HEAD.format(name="dup") + "where: status = 'retired'\n"
                                     "description: looks harmless\nwhere: status = 'active'\n")
    (folder / "ok.yaml").write_text(HEAD.format(name="ok") + "where: status = 'active'\n")


@pytest.fixture
def hostile_policies(tmp_path) -> Path:
    write_hostile_policies(tmp_path / "pol")
    return tmp_path / "pol"


@pytest.mark.parametrize(("file", "message"), [
    ("bomb.yaml", "bomb.yaml:12:12: aliases expand to more than 10,000 nodes"),            # P-12
    ("deep.yaml", "deep.yaml:7:56: nested deeper than 50 levels"),                        # P-11
    ("dup.yaml", "dup.yaml:8:1: 'where' is given twice: line 6 and line 8"),              # P-13
])
def test_a_hostile_policy_fails_validation_cheaply(hostile_policies, file, message):
    result = dialtone("policy", "validate", file, cwd=hostile_policies)
    assert result.returncode == 1
    assert message in result.err
    assert "0 of 1 policies valid" in result.out


def test_a_100_mb_policy_is_refused_without_being_read(tmp_path):
    # P-14: accepted after 109 s at 978 MB; now refused after reading 1 MiB of it.
    big = tmp_path / "big.yaml"
    with big.open("w") as fh:
        fh.write(HEAD.format(name="big") + "where: status = 'active'\ndescription: \"")
        for _ in range(100):
            fh.write("A" * MB)
        fh.write("\"\n")
    result = dialtone("policy", "validate", str(big), cwd=tmp_path, timeout=15)
    assert result.returncode == 1
    assert "big.yaml:1:1: the file is too large: a YAML file may hold at most 1,048,576 bytes" in result.err


@pytest.mark.parametrize(("body", "message"), [
    ("x: " + "[" * 3000 + "]" * 3000 + "\n", "dialtone.yaml:3:53: nested deeper than 50 levels"),
    ("sources:\n  other: {collector: csv, path: /nonexistent}\n",
     "dialtone.yaml:3:1: 'sources' is given twice: line 1 and line 3"),
])
def test_a_hostile_configuration_is_a_clean_error_with_exit_2(tmp_path, body, message):
    # P-15
    (tmp_path / "dialtone.yaml").write_text("sources:\n  estate: {collector: csv, path: ./estate}\n" + body)
    result = dialtone("--config", "dialtone.yaml", "snapshots", "list", cwd=tmp_path)
    assert result.returncode == 2
    assert result.err == f"error: dialtone.yaml:{message.split('dialtone.yaml:')[1]}\n"


def test_hostile_policy_files_do_not_stop_the_evaluation(workspace, runner, cli):
    # P-11/P-12: the whole evaluation died; now each broken file is one error and the rest run.
    write_hostile_policies(workspace / "pol")
    (workspace / "dialtone.yaml").write_text(MINIMAL_CONFIG + "policies: [builtin, ./pol]\n")
    collected = runner.invoke(cli, ["--config", str(workspace / "dialtone.yaml"), "collect", "--as-of",
                                    "2026-06-30"], catch_exceptions=False)
    assert collected.exit_code == 0, collected.output
    result = dialtone("evaluate", "--dry-run", "--format", "json", cwd=workspace, rss=ENGINE, timeout=60)
    assert result.returncode == 0, result.err
    statuses = {r["policy_id"]: r["status"] for r in json.loads(result.stdout)["results"]}
    assert statuses["hostile.ok"] == "alarm"
    assert statuses["cost.zero-usage-lines"] == "alarm"
    assert {k: v for k, v in statuses.items() if k.startswith("invalid:")} == {
        "invalid:bomb.yaml": "error", "invalid:deep.yaml": "error", "invalid:dup.yaml": "error"}


def test_a_text_argument_that_is_not_utf8_exits_2(workspace):
    # R-10, with the bytes as a shell passes them: dialtone findings comment 21 "$(printf 'bad \xed\xa0\x80')"
    result = subprocess.run([sys.executable, "-m", "dialtone.web.cli", "findings", "comment", "21",
                             b"bad \xed\xa0\x80", "--actor", "tester"], cwd=workspace, capture_output=True,
                            timeout=TIMEOUT)
    assert result.returncode == 2
    assert result.stderr == b"error: an argument is not valid UTF-8 text: 'bad \\xed\\xa0\\x80'\n"


# -- the findings store and evidence packages -----------------------------------------------------

@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """A recorded evaluation of the small workspace, a 1 MB comment on a finding (W-B5 allows it),
    and its evidence package (unsigned)."""
    from click.testing import CliRunner

    from dialtone.engine.config import load_config
    from dialtone.engine.store import Store
    from dialtone.engine.store.workflow import audit_writer, comment
    from dialtone.web.cli import cli

    from .conftest import write_csv

    root = tmp_path_factory.mktemp("hostile")
    (root / "dialtone.yaml").write_text(MINIMAL_CONFIG)
    write_csv(root / "estate", "lines", ["id", "kind", "status", "number", "monthly_cost", "activated_on"],
              [["L1", "mobile", "active", "+15551230001", "40", "2024-01-10"]])
    write_csv(root / "estate", "usage", ["line_id", "period", "voice_minutes", "data_mb", "sms_count",
                                         "last_activity_on"],
              [["L1", "2026-01", "3", "10", "0", "2026-01-15"]]
              + [["L1", f"2026-{m:02d}", "0", "0", "0", ""] for m in range(2, 7)])
    runner, cfg = CliRunner(), ["--config", str(root / "dialtone.yaml")]
    for args in (["collect", "--as-of", "2026-06-30"], ["evaluate"]):
        result = runner.invoke(cli, [*cfg, *args], env={"DIALTONE_USER": "alice"}, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    store = Store.from_config(load_config(root / "dialtone.yaml"))
    comment(store, 1, "C" * 1_000_000, "mallory", audit_writer(store, "test"))
    store.close()
    result = runner.invoke(cli, [*cfg, "export", "evidence", "--by", "snapshot", "--from", "2026-06-01",
                                 "--to", "2026-06-30",
                                 "-o", str(root / "unsigned.zip")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return root


def test_masking_pii_in_a_1_mb_comment_takes_seconds(package):
    # W-M1: the EMAIL pattern backtracked quadratically, ~16 minutes for this comment.
    result = dialtone("export", "evidence", "--by", "snapshot", "--from", "2026-06-01", "--to", "2026-06-30",
                      "--mask-pii",
                      # The package's savings ledger reads the snapshot with DuckDB.
                      "-o", "masked.zip", cwd=package, timeout=20, rss=ENGINE)
    assert result.returncode == 0, result.err
    with zipfile.ZipFile(package / "masked.zip") as zf:
        assert b"C" * 1_000_000 in zf.read("events/events.jsonl")


def _members(package: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(package / "unsigned.zip") as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _write(out: Path, files: dict[str, bytes], extra: list[tuple[str, bytes]] = (),
           listed: list[dict] = (), before: list[tuple[str, bytes]] = ()) -> Path:
    """A package of ``files`` whose manifest is recomputed for them and lists ``listed`` too;
    ``before`` members are written first and ``extra`` ones last (names may repeat)."""
    manifest = json.loads(files["manifest.json"])
    manifest["files"] = [{"path": p, "sha256": hashlib.sha256(b).hexdigest(), "bytes": len(b),
                          "media_type": "application/octet-stream"}
                         for p, b in sorted(files.items()) if p != "manifest.json"] + list(listed)
    files = {**files, "manifest.json": json.dumps(manifest).encode()}
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        warnings.simplefilter("ignore")     # zipfile warns of a duplicate name: the attack
        for name, body in [*before, *sorted(files.items()), *extra]:
            zf.writestr(name, body)
    return out


def _entry(path: str, body: bytes) -> dict:
    return {"path": path, "sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body), "media_type": "x"}


@pytest.mark.parametrize(("case", "message"), [
    ("duplicate", "findings.json: 2 entries with this name in the package"),                          # E-9
    ("slip", "'../../../../tmp/pwn': unsafe member name (a '..' component)"),                          # E-8
    ("absolute", "'/tmp/pwn': unsafe member name (an absolute path)"),
    ("backslash", "'..\\\\..\\\\pwn': unsafe member name (a backslash)"),
    ("drive", "'C:/pwn': unsafe member name (a drive letter)"),
    ("larger", "bomb.bin: 67,108,864 bytes uncompressed, more than what the manifest states (10)"),   # E-15
    ("no-sha256", "manifest.json is not a valid manifest (files[0] needs a 'path', a 'sha256'"),      # E-13
    ("events-list", "the history files are malformed: events/events.jsonl line 1: expected an object"),
    ("head-list", "the history files are malformed: events/chain-head.json: expected an object with 'seq'"),
    ("chain-arity", "the history files are malformed: events/chain.jsonl line 1: expected [seq, prev_hash"),
    ("deep-json", "the history files are malformed: events/events.jsonl line 1: not JSON"),
])
def test_a_hostile_evidence_package_fails_verification_cleanly(package, tmp_path, case, message):
    files = _members(package)
    out = tmp_path / f"{case}.zip"
    if case == "duplicate":   # the tampered copy first: what `unzip -n` extracts
        tampered = files["findings.json"].replace(b'"open"', b'"opem"', 1)
        _write(out, files, before=[("findings.json", tampered)])
    elif case in ("slip", "absolute", "backslash", "drive"):
        name = {"slip": "../../../../tmp/pwn", "absolute": "/tmp/pwn", "backslash": "..\\..\\pwn",
                "drive": "C:/pwn"}[case]
        _write(out, files, extra=[(name, b"pwn")], listed=[_entry(name, b"pwn")])
    elif case == "larger":
        _write(out, files, extra=[("bomb.bin", b"\0" * (64 * MB))], listed=[_entry("bomb.bin", b"0" * 10)])
    elif case == "no-sha256":
        manifest = json.loads(files["manifest.json"])
        del manifest["files"][0]["sha256"]
        with zipfile.ZipFile(out, "w") as zf:
            for name, body in sorted({**files, "manifest.json": json.dumps(manifest).encode()}.items()):
                zf.writestr(name, body)
    else:
        member, body = {"events-list": ("events/events.jsonl", b"[1,2,3]\n"),
                        "head-list": ("events/chain-head.json", b"[1, 2]"),
                        "chain-arity": ("events/chain.jsonl", b"[1, \"a\"]\n"),
                        "deep-json": ("events/events.jsonl", b"[" * 200_000 + b"]" * 200_000 + b"\n")}[case]
        _write(out, {**files, member: body})
    result = dialtone("evidence", "verify", str(out), cwd=tmp_path)
    assert result.returncode == 1
    assert f"FAIL: {message}" in result.err
    assert "OK:" not in result.out


def test_a_member_larger_than_the_memory_ceiling_is_verified_streamed(package, tmp_path):
    # E-15: each member was read whole (MemoryError at 2.2 GB). A 640 MB member, listed with its
    # right size and hash, verifies under a 500 MB ceiling: it is hashed while it is read.
    size, chunk, digest = 640 * MB, b"\0" * (16 * MB), hashlib.sha256()
    for _ in range(size // len(chunk)):
        digest.update(chunk)
    out = _write(tmp_path / "big.zip", _members(package),
                 listed=[{"path": "big.bin", "sha256": digest.hexdigest(), "bytes": size, "media_type": "x"}])
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as zf, \
            zf.open("big.bin", "w", force_zip64=True) as fh:
        for _ in range(size // len(chunk)):
            fh.write(chunk)
    result = dialtone("evidence", "verify", str(out), cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.err
    assert "OK:" in result.out
