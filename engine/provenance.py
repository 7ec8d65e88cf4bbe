"""Which policy text an evaluation used: a git commit when the policies live in git, else a hash."""

from __future__ import annotations

from pathlib import Path

from .gitcli import git_or_none
from .policy.loader import LoadedPolicies


def policy_set_version(paths: tuple[Path, ...] | None, loaded: LoadedPolicies) -> dict:
    """``{"source": "git", "version": commit, "dirty": bool}`` or the content hash.

    Git is used only when every policy path is inside one work tree; the content
    hash of the files is always what the evaluation itself reports.
    """
    from dialtone.policies import builtin_policy_dir

    own = [p for p in paths or () if p.resolve() != builtin_policy_dir().resolve()]
    if own:
        paths = tuple(own)
        roots = {git_or_none(p if p.is_dir() else p.parent, "rev-parse", "--show-toplevel") for p in paths}
        if len(roots) == 1 and None not in roots:
            root = Path(roots.pop())
            commit = git_or_none(root, "rev-parse", "HEAD")
            if commit:
                rel = [str(p.resolve().relative_to(root.resolve())) for p in paths]
                status = git_or_none(root, "status", "--porcelain", "--", *rel)
                return {"source": "git", "version": commit, "dirty": bool(status),
                        "content": loaded.version}
    return {"source": "content", "version": loaded.version, "dirty": None, "content": loaded.version}
