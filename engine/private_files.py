"""Folders and files only their owner can read: what Dialtone creates for its data (the
snapshots, the store's SQLite files, collectors' state, evidence masks)."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private_dir(path: Path) -> None:
    """Create ``path`` and any missing parent as 0700 (exactly: the umask is not applied to the
    folders created here); folders that exist are left as they are."""
    path = Path(path)
    if path.is_dir():
        return
    make_private_dir(path.parent)
    try:
        path.mkdir(mode=PRIVATE_DIR_MODE)
    except FileExistsError:
        return
    os.chmod(path, PRIVATE_DIR_MODE)     # mkdir's mode is masked by the umask


def create_private_file(path: Path) -> None:
    """Create an empty ``path`` as 0600 if it does not exist (SQLite takes an empty file for a
    new database, and gives its -wal and -shm files the database file's mode)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)  # os.open's mode is masked by the umask
    finally:
        os.close(fd)


def write_new_secret(path: Path) -> bool:
    """Write a fresh random secret (64 hex digits) to ``path``, created 0600 in a private folder;
    False, and nothing written, when the file exists already (it is never replaced)."""
    import secrets

    make_private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), PRIVATE_FILE_MODE)  # os.open's mode is masked by the umask
        out.write(secrets.token_hex(32) + "\n")
    return True
