"""``dialtone db backup`` / ``restore`` (engine/store/backup.py): a backup of the demo workspace
restored into a fresh SQLite or PostgreSQL database passes ``dialtone audit verify`` and holds
the same rows; bad files and non-empty stores are refused without changing anything."""

from __future__ import annotations

import gzip
import json
import stat

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect

from dialtone.engine.store import Store
from dialtone.engine.store.accounts import add_user
from dialtone.engine.store.backup import MAX_LINE, iter_rows, read_header
from dialtone.engine.store.db import head_revision
from dialtone.web.cli import cli
from tests.storekit import reset_postgres, store_url
from tests.webkit import PASSWORD, demo_workspace


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    config, store = demo_workspace(tmp_path_factory, "backup-demo", users=("admin",))
    store.close()
    return config


def dialtone(config, *args: str, url: str | None = None):
    env = {"DIALTONE_DATABASE_URL": url} if url else {}
    return CliRunner().invoke(cli, ["--config", str(config.path), *args], env=env)


def test_backup_restored_into_a_fresh_sqlite_database_passes_audit_verify(demo, tmp_path):
    path = tmp_path / "store.jsonl.gz"
    made = dialtone(demo, "db", "backup", str(path))
    assert made.exit_code == 0, made.output
    assert f"(schema {head_revision()}) to {path}" in made.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600       # password hashes, token digests
    header = read_header(path)
    assert header["format"] == "dialtone-backup" and header["backend"] == "sqlite"

    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    restored = dialtone(demo, "db", "restore", str(path), url=fresh)
    assert restored.exit_code == 0, restored.output
    verified = dialtone(demo, "audit", "verify", url=fresh)
    assert verified.exit_code == 0, verified.output
    assert "chain OK" in verified.output and "findings OK" in verified.output
    # Row for row the same store: its own backup holds what the first one held.
    again = tmp_path / "again.jsonl.gz"
    assert dialtone(demo, "db", "backup", str(again), url=fresh).exit_code == 0
    assert list(iter_rows(again)) == list(iter_rows(path))
    # The findings list's text search is rebuilt from the restored findings.
    found = dialtone(demo, "findings", "list", "--search", "CHG-0001", url=fresh)
    assert found.exit_code == 0 and "CHG-0001" in found.output, found.output


def test_backup_restored_into_postgresql_and_back_passes_audit_verify(demo, tmp_path):
    pg = store_url("postgresql", tmp_path)          # a fresh, empty database
    path = tmp_path / "sqlite.jsonl.gz"
    assert dialtone(demo, "db", "backup", str(path)).exit_code == 0

    restored = dialtone(demo, "db", "restore", str(path), url=pg)
    assert restored.exit_code == 0, restored.output
    verified = dialtone(demo, "audit", "verify", url=pg)
    assert verified.exit_code == 0, verified.output
    assert "chain OK" in verified.output

    # Its ids' sequences continue after the restored rows: new rows can be added.
    store = Store(pg)
    try:
        user = add_user(store, "after-restore", "auditor", PASSWORD)
        assert user.id > max(row[0] for table, row in iter_rows(path) if table == "users")
    finally:
        store.close()

    # And back from PostgreSQL to SQLite: the same rows (but the user added since).
    from_pg = tmp_path / "postgresql.jsonl.gz"
    assert dialtone(demo, "db", "backup", str(from_pg), url=pg).exit_code == 0
    assert read_header(from_pg)["backend"] == "postgresql"
    back = f"sqlite:///{tmp_path / 'back.db'}"
    assert dialtone(demo, "db", "restore", str(from_pg), url=back).exit_code == 0
    assert dialtone(demo, "audit", "verify", url=back).exit_code == 0
    rows = [r for r in iter_rows(from_pg) if not (r[0] == "users" and r[1][1] == "after-restore")]
    assert rows == list(iter_rows(path))
    reset_postgres(pg)


def test_restore_refuses_a_store_that_is_not_empty_unless_forced(demo, tmp_path):
    path = tmp_path / "b.jsonl.gz"
    assert dialtone(demo, "db", "backup", str(path)).exit_code == 0
    target = f"sqlite:///{tmp_path / 'target.db'}"
    assert dialtone(demo, "db", "restore", str(path), url=target).exit_code == 0
    store = Store(target)
    add_user(store, "only-here", "auditor", PASSWORD)
    store.close()

    refused = dialtone(demo, "db", "restore", str(path), url=target)
    assert refused.exit_code == 2
    assert "the store is not empty (" in refused.output and "--force" in refused.output
    assert "only-here" in dialtone(demo, "users", "list", url=target).output

    forced = dialtone(demo, "db", "restore", "--force", str(path), url=target)
    assert forced.exit_code == 0, forced.output
    assert "only-here" not in dialtone(demo, "users", "list", url=target).output
    assert dialtone(demo, "audit", "verify", url=target).exit_code == 0


def test_a_cut_short_or_foreign_file_is_refused_and_nothing_is_restored(demo, tmp_path):
    path = tmp_path / "b.jsonl.gz"
    assert dialtone(demo, "db", "backup", str(path)).exit_code == 0
    with gzip.open(path, "rt", encoding="utf-8") as kept:
        lines = kept.read().splitlines()
    cut = tmp_path / "cut.jsonl.gz"
    with gzip.open(cut, "wt", encoding="utf-8") as out:
        out.write("\n".join(lines[:-40]) + "\n")          # the end line and the last rows lost
    target = f"sqlite:///{tmp_path / 'target.db'}"
    refused = dialtone(demo, "db", "restore", str(cut), url=target)
    assert refused.exit_code == 2
    assert f"{cut}:{len(lines) - 40}: the file ends before its last line" in refused.output
    # All or nothing: the store is still empty (the next restore is not refused as non-empty).
    assert dialtone(demo, "db", "restore", str(path), url=target).exit_code == 0

    bad_row = tmp_path / "bad.jsonl.gz"
    with gzip.open(bad_row, "wt", encoding="utf-8") as out:
        out.write("\n".join(lines[:3] + ["[1, 2"] + lines[3:]) + "\n")
    refused = dialtone(demo, "db", "restore", str(bad_row), url=f"sqlite:///{tmp_path / 'other.db'}")
    assert refused.exit_code == 2 and f"{bad_row}:4: not JSON" in refused.output

    plain = tmp_path / "notes.txt"
    plain.write_text("hello", encoding="utf-8")
    refused = dialtone(demo, "db", "restore", str(plain), url=f"sqlite:///{tmp_path / 'x.db'}")
    assert refused.exit_code == 2 and "not a readable gzip file" in refused.output

    newer = tmp_path / "newer.jsonl.gz"
    header = {**json.loads(lines[0]), "schema_revision": "9999"}
    with gzip.open(newer, "wt", encoding="utf-8") as out:
        out.write("\n".join([json.dumps(header)] + lines[1:]) + "\n")
    refused = dialtone(demo, "db", "restore", str(newer), url=f"sqlite:///{tmp_path / 'y.db'}")
    assert refused.exit_code == 2 and "schema revision '9999' is not one this version" in refused.output


def test_backup_never_overwrites_a_file(demo, tmp_path):
    path = tmp_path / "b.jsonl.gz"
    path.write_text("keep me", encoding="utf-8")
    refused = dialtone(demo, "db", "backup", str(path))
    assert refused.exit_code == 2 and "already exists" in refused.output
    assert path.read_text(encoding="utf-8") == "keep me"
    assert not (tmp_path / "b.jsonl.gz.partial").exists()


def test_a_planted_symbolic_link_or_a_left_over_partial_file_is_never_written_through(demo, tmp_path):
    """The temporary name is created new (O_EXCL|O_NOFOLLOW): a link planted there is not followed,
    so the file it points at is neither truncated nor filled with the store."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    path = tmp_path / "b.jsonl.gz"
    partial = tmp_path / "b.jsonl.gz.partial"
    partial.symlink_to(victim)
    refused = dialtone(demo, "db", "backup", str(path))
    assert refused.exit_code == 2
    assert f"{partial}: already exists" in refused.output and "remove it" in refused.output
    assert victim.read_text(encoding="utf-8") == "precious"
    assert partial.is_symlink() and not path.exists()

    partial.unlink()
    partial.write_text("another backup's", encoding="utf-8")
    assert dialtone(demo, "db", "backup", str(path)).exit_code == 2
    assert partial.read_text(encoding="utf-8") == "another backup's"
    partial.unlink()
    made = dialtone(demo, "db", "backup", str(path))
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and not partial.exists()


def test_a_line_longer_than_the_documented_maximum_is_refused_naming_it(demo, tmp_path):
    """A gzip bomb: 100 kB that decompress to one line of more than 64 MiB. The restore reads at
    most MAX_LINE bytes of it, says which line, and restores nothing."""
    assert MAX_LINE == 64 * 1024 * 1024
    path = tmp_path / "b.jsonl.gz"
    assert dialtone(demo, "db", "backup", str(path)).exit_code == 0
    with gzip.open(path, "rb") as kept:
        lines = kept.read().splitlines(keepends=True)
    bomb = tmp_path / "bomb.jsonl.gz"
    with gzip.open(bomb, "wb") as out:
        out.writelines(lines[:2])
        out.write(b"[" + b'"x",' * 8)
        chunk = b"0," * (1024 * 1024)
        for _ in range(33):                                   # 66 MiB on one line
            out.write(chunk)
        out.write(b"0]\n")
        out.writelines(lines[2:])
    assert bomb.stat().st_size < 1024 * 1024
    target = tmp_path / "target.db"
    refused = dialtone(demo, "db", "restore", str(bomb), url=f"sqlite:///{target}")
    assert refused.exit_code == 2
    assert (f"{bomb}:3: the line is longer than a backup line may be (67,108,864 bytes decompressed)"
            in refused.output)
    assert tables_in(f"sqlite:///{target}") == []


def tables_in(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        return sorted(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_failed_restore_into_an_empty_database_leaves_it_empty(demo, tmp_path, kind):
    """The schema is created in the restore's one transaction: a file that fails half-way (a row
    that does not fit its table) leaves no table behind, not even alembic_version."""
    path = tmp_path / "b.jsonl.gz"
    assert dialtone(demo, "db", "backup", str(path)).exit_code == 0
    with gzip.open(path, "rt", encoding="utf-8") as kept:
        lines = kept.read().splitlines()
    users = next(i for i, line in enumerate(lines) if line.startswith('{"table": "users"'))
    broken = tmp_path / "broken.jsonl.gz"
    with gzip.open(broken, "wt", encoding="utf-8") as out:
        out.write("\n".join(lines[:users + 1] + ["[1]"] + lines[users + 1:]) + "\n")
    url = store_url(kind, tmp_path)
    assert tables_in(url) == []
    refused = dialtone(demo, "db", "restore", str(broken), url=url)
    assert refused.exit_code == 2
    assert f"{broken}:{users + 2}: table users: a row of 1 values" in refused.output
    assert tables_in(url) == []
    # And the database takes the good backup afterwards.
    assert dialtone(demo, "db", "restore", str(path), url=url).exit_code == 0
    assert dialtone(demo, "audit", "verify", url=url).exit_code == 0
    if kind == "postgresql":
        reset_postgres(url)
