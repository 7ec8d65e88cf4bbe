"""Other versions of Dialtone, importable beside this one: what the benchmarks compare against.

``importable(source)`` lays out a PYTHONPATH root whose ``dialtone`` package maps to a source
tree's folders as the installed package does (pyproject.toml's package-dir: ``engine/`` is
``dialtone.engine``, ...); ``revision_root(rev)`` does it for a git revision unpacked with
``git archive``. A child process given that root as PYTHONPATH imports that version's code.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PARTS = ("engine", "collectors", "web", "policies")


def importable(source: Path, folder: Path) -> Path:
    """A root in ``folder`` whose ``dialtone`` maps to ``source``'s folders."""
    package = folder / "root" / "dialtone"
    package.mkdir(parents=True)
    shutil.copy(source / "dialtone" / "__init__.py", package / "__init__.py")
    for part in PARTS:
        (package / part).symlink_to(source / part, target_is_directory=True)
    return folder / "root"


@contextlib.contextmanager
def revision_root(rev: str, prefix: str = "dialtone-revision-") -> Iterator[Path]:
    """The root of revision ``rev`` (removed on exit)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        source = folder / "source"
        source.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
        yield importable(source, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def checkout_root(prefix: str = "dialtone-checkout-") -> Iterator[Path]:
    """The root of this checkout's own code (not the installed console script's)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield importable(REPO, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
