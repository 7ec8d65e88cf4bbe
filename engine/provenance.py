"""Which policy text an evaluation used: a git commit when the policies live in git, else a hash."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .policy.loader import LoadedPolicies


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def policy_set_version(paths: tuple[Path, ...] | None, loaded: LoadedPolicies) -> dict:
    """``{"source": "git", "version": commit, "dirty": bool}`` or the content hash.

    Git is used only when every policy path is inside one work tree; the content
    hash of the files is always what the evaluation itself reports.
    """
    from .policy.loader import builtin_policy_dir

    own = [p for p in paths or () if p.resolve() != builtin_policy_dir().resolve()]
    if own:
        paths = tuple(own)
        roots = {_git(p if p.is_dir() else p.parent, "rev-parse", "--show-toplevel") for p in paths}
        if len(roots) == 1 and None not in roots:
            root = Path(roots.pop())
            commit = _git(root, "rev-parse", "HEAD")
            if commit:
                rel = [str(p.resolve().relative_to(root.resolve())) for p in paths]
                status = _git(root, "status", "--porcelain", "--", *rel)
                return {"source": "git", "version": commit, "dirty": bool(status),
                        "content": loaded.version}
    return {"source": "content", "version": loaded.version, "dirty": None, "content": loaded.version}
