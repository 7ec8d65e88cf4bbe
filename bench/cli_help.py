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
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from revisions import checkout_root, revision_root  # noqa: E402

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


def baseline_time(rev: str, repeat: int) -> float:
    """``dialtone --help`` of the revision ``rev``, unpacked with git archive."""
    with revision_root(rev, "dialtone-cli-baseline-") as root:
        return best_wall_time(repeat, {**os.environ, "PYTHONPATH": str(root)}, root.parent)


def current_time(repeat: int) -> float:
    """``dialtone --help`` of this checkout's code (not the installed console script's)."""
    with checkout_root("dialtone-cli-current-") as root:
        return best_wall_time(repeat, {**os.environ, "PYTHONPATH": str(root)}, root.parent)


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
