"""The catalogue of what is evaluated: the policies (searchable; each with its parameters, SQL
and history) and the snapshots.

A policy page used to load and compile the whole policy set and run ``git log --follow`` on every
view (~0.6 s). The set is now loaded again only when one of its files changed, each policy's SQL
is compiled (and pretty-printed) once per set, and a file's history is read again only when the
repository's HEAD moved."""

from __future__ import annotations

import threading
from pathlib import Path

from flask import abort, render_template, request

from dialtone.engine.errors import DialtoneError
from dialtone.engine.gitcli import git_or_none
from dialtone.engine.store import reads

from ...security import READ, roles
from ..scope import caller
from . import bp, catalogue, current_config, current_store, single_value

#: The search box on the policies list.
MAX_QUERY = 200

_lock = threading.Lock()
_sets: dict[tuple, dict] = {}            # files' stamp -> {"loaded": ..., "sql": {policy id: ...}}
_histories: dict[tuple, list[dict]] = {}  # (file, HEAD) -> commits


@bp.route("/policies")
@roles(*READ)
def policies_page():
    query = (single_value(request.args, "q", MAX_QUERY) or "").strip()
    rows = reads.list_policies(current_store(), caller())
    found = catalogue()
    titles = {fid: fw.title for fid, fw in found.frameworks.items()} if found else {}
    for r in rows:
        r["framework_titles"] = [(fw, titles.get(fw, fw)) for fw in r["frameworks"]]
    shown = [r for r in rows if _matches(r, query.casefold())] if query else rows
    return render_template("policies.html", rows=shown, total=len(rows), query=query)


def _matches(row: dict, needle: str) -> bool:
    # Policies number in the hundreds at most: a substring test in Python, on what the list shows.
    haystack = [row["id"], row["title"] or "", row["category"] or "", row["severity"] or ""]
    haystack += [text for pair in row["framework_titles"] for text in pair]
    return any(needle in text.casefold() for text in haystack)


@bp.route("/policies/<policy_id>")
@roles(*READ)
def policy_page(policy_id: str):
    config = current_config()
    entry = _policy_set(config.policy_paths)
    loaded = entry["loaded"]
    policy = loaded.by_id().get(policy_id)
    if policy is None:
        abort(404)
    params = {**policy.defaults(), **loaded.overrides(config.params).get(policy_id, {})}
    with _lock:
        sql = entry["sql"].get(policy_id)
    if sql is None:
        sql = _compiled(policy)
        with _lock:
            entry["sql"][policy_id] = sql
    path = Path(policy.abspath)
    text = path.read_text(encoding="utf-8")
    history, where = _history(path)
    return render_template("policy.html", p=policy, params=params, sql=sql, history=history[:30],
                           more_history=max(0, len(history) - 30), where=where, text=text)


def _stamp(paths) -> tuple:
    from dialtone.policies import builtin_policy_dir

    roots = [Path(p) for p in paths] if paths else [builtin_policy_dir()]
    stamp: list = [str(roots)]
    for root in roots:
        files = sorted(root.rglob("*.yaml")) if root.is_dir() else [root]
        for f in files:
            try:
                info = f.stat()
            except OSError:
                continue
            stamp.append((str(f), info.st_mtime_ns, info.st_size))
    return tuple(stamp)


def _policy_set(paths) -> dict:
    """The loaded policy set, parsed again only when a file under the policy folders changed (a
    stat per file instead of parsing every file on every view)."""
    from dialtone.engine.policy.loader import load_policies

    key = _stamp(paths)
    with _lock:
        entry = _sets.get(key)
    if entry is None:
        entry = {"loaded": load_policies(paths), "sql": {}}
        with _lock:
            _sets.clear()
            _sets[key] = entry
    return entry


def _compiled(policy) -> dict[str, str] | dict:
    """Each dialect's SQL, pretty-printed by sqlglot (one clause per line); ``{"error": ...}``
    when the policy does not compile."""
    import sqlglot

    from dialtone.engine.compiler import compile_policy

    try:
        sql = compile_policy(policy).sql
    except DialtoneError as exc:
        return {"error": str(exc)}
    pretty = {}
    for dialect, text in sql.items():
        try:
            pretty[dialect] = sqlglot.transpile(text, read=dialect, write=dialect, pretty=True)[0]
        except sqlglot.errors.SqlglotError:
            pretty[dialect] = text   # shown as compiled rather than not at all
    return pretty


def _history(path: Path) -> tuple[list[dict], str | None]:
    """The commits that changed the workspace's policy file, newest first, and the file's path in
    its repository; read with ``git log`` only when the repository's HEAD moved."""
    from dialtone.engine.replay import ReplayError, policy_history

    found = git_or_none(path.parent, "rev-parse", "--show-toplevel", "HEAD")   # one process per view
    lines = found.splitlines() if found else []
    if len(lines) != 2:
        return [], None   # not in git, or a repository without a commit yet
    top, head = lines
    where = path.resolve().relative_to(Path(top).resolve()).as_posix()
    key = (str(path), head)
    with _lock:
        found = _histories.get(key)
    if found is None:
        try:
            found = policy_history(path)
        except ReplayError:
            found = []
        with _lock:
            if len(_histories) > 1000:
                _histories.clear()
            _histories[key] = found
    return found, where


@bp.route("/snapshots")
@roles(*READ)
def snapshots_page():
    from dialtone.engine.snapshots import SnapshotStore

    snaps = SnapshotStore(current_config().data_dir).list()
    return render_template("snapshots.html", snaps=snaps)
