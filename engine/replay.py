"""Re-running the past: policies as they were at a git revision, and replaying a recorded
evaluation from its snapshot, policy text and parameters to show the results are identical."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from dialtone.policies import builtin_policy_dir

from .errors import DialtoneError
from .gitcli import GitError, git
from .policy.loader import LoadedPolicies, load_policies
from .snapshots import SnapshotStore


class ReplayError(DialtoneError):
    pass


def _git(cwd: Path, *args: str, binary: bool = False):
    try:
        return git(cwd, *args, binary=binary)
    except GitError as exc:
        raise ReplayError(str(exc)) from None


def _roots(paths: tuple[Path, ...] | None) -> list[Path]:
    return [Path(p) for p in paths] if paths else [builtin_policy_dir()]


def _is_builtin(path: Path) -> bool:
    return path.resolve() == builtin_policy_dir().resolve()


def git_root(paths: tuple[Path, ...] | None) -> Path:
    """The one git work tree holding the policy folders (the built-in packs excepted: the
    installed Dialtone release versions them)."""
    tops = set()
    own = [p for p in _roots(paths) if not _is_builtin(p)] or _roots(paths)
    for p in own:
        where = p if p.is_dir() else p.parent
        try:
            tops.add(_git(where, "rev-parse", "--show-toplevel").strip())
        except (ReplayError, OSError):
            raise ReplayError(f"{p} is not in a git repository; policy versions need git") from None
    if len(tops) != 1:
        raise ReplayError("the policy folders are in different git repositories")
    return Path(tops.pop())


def policies_at(rev: str, paths: tuple[Path, ...] | None, workdir: Path) -> tuple[LoadedPolicies, str]:
    """Load the policies as they were at ``rev`` (read from git; the work tree is not touched)."""
    top = git_root(paths)
    commit = _git(top, "rev-parse", "--verify", f"{rev}^{{commit}}").strip()
    roots = []
    for p in _roots(paths):
        if _is_builtin(p) and paths:
            roots.append(p)  # the installed release's built-in packs
            continue
        rel = p.resolve().relative_to(top.resolve()).as_posix()
        names = _git(top, "ls-tree", "-r", "--name-only", commit, "--", rel).splitlines()
        if not names:
            raise ReplayError(f"{rel} does not exist at {rev}")
        for name in names:
            target = workdir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(_git(top, "show", f"{commit}:{name}", binary=True))
        roots.append(workdir / rel)
    return load_policies(roots), commit


def policy_history(policy_path: Path) -> list[dict]:
    """Commits that changed a policy file, newest first."""
    top = git_root((policy_path,))
    rel = policy_path.resolve().relative_to(top.resolve()).as_posix()
    out = _git(top, "log", "--follow", "--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%s", "--", rel)
    rows = []
    for line in out.splitlines():
        commit, author, email, date, subject = line.split("\x1f", 4)
        rows.append({"commit": commit, "author": author, "email": email, "date": date,
                     "subject": subject})
    return rows


@dataclass
class ReplayReport:
    evaluation_id: int
    identical: bool = True
    compared: int = 0
    differences: list[str] = field(default_factory=list)
    not_replayable: list[str] = field(default_factory=list)


def replay(store, evaluation_id: int, config) -> ReplayReport:
    """Re-evaluate a recorded evaluation and compare every policy's results with the record."""
    from .configured import evaluate_configured
    from .store.staging import result_digest
    from .store.tables import evaluations, policy_runs

    with store.read() as conn:
        ev = conn.execute(select(evaluations).where(evaluations.c.id == evaluation_id)).first()
        if ev is None:
            raise ReplayError(f"no evaluation {evaluation_id}")
        runs = {r.policy_id: r for r in conn.execute(
            select(policy_runs).where(policy_runs.c.evaluation_id == evaluation_id))}
    report = ReplayReport(evaluation_id)
    snapshot = SnapshotStore(config.data_dir).get(ev.snapshot_id)
    if ev.snapshot_sha256 and snapshot.manifest_hash != ev.snapshot_sha256:
        raise ReplayError(f"snapshot {ev.snapshot_id} is not the one evaluated (manifest hash differs)")
    changed = snapshot.verify()
    if changed:
        raise ReplayError(f"snapshot {ev.snapshot_id} was modified: {', '.join(changed)}")
    with tempfile.TemporaryDirectory(prefix="dialtone-replay-") as tmp:
        if ev.policies_source == "git":
            loaded, _ = policies_at(ev.policies_version, config.policy_paths, Path(tmp))
        else:
            loaded = load_policies(config.policy_paths)
        by_id = loaded.by_id()
        wanted = []
        for pid, run in sorted(runs.items()):
            if run.status not in ("alarm", "ok"):
                continue
            policy = by_id.get(pid)
            if policy is None:
                report.not_replayable.append(f"{pid}: the policy text is not available")
            elif run.policy_hash and policy.source_hash != run.policy_hash:
                report.not_replayable.append(f"{pid}: the policy text changed since (hash "
                                             f"{run.policy_hash[:19]}… recorded)")
            else:
                wanted.append(pid)
        overrides = {pid: json.loads(runs[pid].params or "{}") for pid in wanted}
        # The recorded engine with the configuration's settings for it; compiled from the
        # policy text, never from the compiled-policy cache: the check must not rest on it.
        result = evaluate_configured(config, snapshot, loaded, policy_ids=wanted, overrides=overrides,
                                     engine=ev.engine, trust_cache=False) if wanted else None
    for outcome in (result.outcomes if result else []):
        run = runs[outcome.policy_id]
        report.compared += 1
        digest = result_digest(outcome.policy_id, outcome.resource_type, outcome.evidence_names,
                               outcome.rows)
        if outcome.status != run.status or outcome.finding_count != run.finding_count:
            report.differences.append(f"{outcome.policy_id}: recorded {run.status} with "
                                      f"{run.finding_count} findings, replayed {outcome.status} with "
                                      f"{outcome.finding_count}")
        elif run.result_sha256 and digest != run.result_sha256:
            report.differences.append(f"{outcome.policy_id}: same count, different findings or evidence")
    report.identical = not report.differences and not report.not_replayable
    return report
