"""Wall time of ``dialtone --help`` (target < 0.5 s), and against the CLI at --baseline-rev.

Each measurement is a fresh interpreter running ``from dialtone.web.cli import main; main()``
with ``--help``, best of --repeat: what a user waits for, start-up and imports included. The
baseline revision is unpacked with ``git archive`` into a temporary folder and imported through a
PYTHONPATH root laid out like the installed package (as bench/evaluate.py runs its release).

    python bench/cli_help.py [--repeat 7] [--baseline-rev REV | --baseline-rev '']
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 0.5
#: The last commit before web/cli/ became a package of lazily imported command modules.
BASELINE_REV = "b743654"
REPO = Path(__file__).resolve().parents[1]
HELP = [sys.executable, "-c", "from dialtone.web.cli import main; main()", "--help"]


def best_wall_time(repeat: int, env: dict[str, str], cwd: Path) -> float:
    """The best of ``repeat`` runs of ``dialtone --help`` in a fresh interpreter, in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run(HELP, env=env, cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if done.returncode != 0 or "Usage: dialtone" not in done.stdout:
            raise RuntimeError(f"dialtone --help failed: {done.stderr.strip()[-2000:]}")
    return min(times)


def _root_of(source: Path, folder: Path) -> Path:
    """A PYTHONPATH root whose ``dialtone`` maps to ``source``'s folders (pyproject.toml's
    package-dir)."""
    package = folder / "root" / "dialtone"
    package.mkdir(parents=True)
    shutil.copy(source / "dialtone" / "__init__.py", package / "__init__.py")
    for part in ("engine", "collectors", "web", "policies"):
        (package / part).symlink_to(source / part, target_is_directory=True)
    return folder / "root"


def baseline_time(rev: str, repeat: int) -> float:
    """``dialtone --help`` of the revision ``rev``, unpacked with git archive."""
    folder = Path(tempfile.mkdtemp(prefix="dialtone-cli-baseline-"))
    try:
        source = folder / "source"
        source.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
        root = _root_of(source, folder)
        return best_wall_time(repeat, {**os.environ, "PYTHONPATH": str(root)}, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def current_time(repeat: int) -> float:
    """``dialtone --help`` of this checkout's code (not the installed console script's)."""
    folder = Path(tempfile.mkdtemp(prefix="dialtone-cli-current-"))
    try:
        root = _root_of(REPO, folder)
        return best_wall_time(repeat, {**os.environ, "PYTHONPATH": str(root)}, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per contender; the best counts")
    parser.add_argument("--baseline-rev", default=BASELINE_REV,
                        help="git revision to compare with ('' to skip)")
    args = parser.parse_args(argv)
    now = current_time(args.repeat)
    verdict = "ok" if now < TARGET_S else "MISSED"
    print(f"dialtone --help: {now:.3f} s, best of {args.repeat} (target < {TARGET_S} s: {verdict})")
    if args.baseline_rev:
        before = baseline_time(args.baseline_rev, args.repeat)
        print(f"at {args.baseline_rev}: {before:.3f} s; now / then = {now / before:.2f}x "
              f"({before / now:.1f} times faster)")
    return 0 if now < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
