"""Reading policy repositories with the git command line: one way to call it, one error."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .errors import DialtoneError

#: No git command the engine runs should take long; a hung one must not hang a run.
TIMEOUT_SECONDS = 60


class GitError(DialtoneError):
    """git is missing, timed out, or refused (not a repository, unknown revision...)."""


def git(cwd: Path | str, *args: str, binary: bool = False) -> str | bytes:
    """The output of ``git -C cwd ARGS`` (bytes when ``binary``); GitError with git's message."""
    try:
        done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, check=False,
                              text=not binary, timeout=TIMEOUT_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"git {' '.join(args)}: {exc}") from None
    if done.returncode != 0:
        err = done.stderr if not binary else done.stderr.decode(errors="replace")
        raise GitError(f"git {' '.join(args)}: {err.strip() or 'failed'}")
    return done.stdout


def git_or_none(cwd: Path | str, *args: str) -> str | None:
    """The stripped output of a git command, or None when it fails (e.g. not a repository)."""
    try:
        return git(cwd, *args).strip()
    except GitError:
        return None
