"""The catalogue of what is evaluated: the policies (each with its parameters, SQL and history)
and the snapshots."""

from __future__ import annotations

from pathlib import Path

from flask import abort, render_template

from dialtone.engine.errors import DialtoneError
from dialtone.engine.store import reads

from ...security import READ, roles
from . import bp, current_config, current_store


@bp.route("/policies")
@roles(*READ)
def policies_page():
    return render_template("policies.html", rows=reads.list_policies(current_store()))


@bp.route("/policies/<policy_id>")
@roles(*READ)
def policy_page(policy_id: str):
    from dialtone.engine.compiler import compile_policy
    from dialtone.engine.policy.loader import load_policies
    from dialtone.engine.replay import ReplayError, policy_history

    loaded = load_policies(current_config().policy_paths)
    policy = loaded.by_id().get(policy_id)
    if policy is None:
        abort(404)
    params = {**policy.defaults(), **loaded.overrides(current_config().params).get(policy_id, {})}
    try:
        sql = compile_policy(policy).sql
    except DialtoneError as exc:
        sql = {"error": str(exc)}
    try:
        history = policy_history(Path(policy.abspath))
    except ReplayError:
        history = []
    text = Path(policy.abspath).read_text(encoding="utf-8")
    return render_template("policy.html", p=policy, params=params, sql=sql, history=history[:30],
                           text=text)


@bp.route("/snapshots")
@roles(*READ)
def snapshots_page():
    from dialtone.engine.snapshots import SnapshotStore

    snaps = SnapshotStore(current_config().data_dir).list()
    return render_template("snapshots.html", snaps=snaps)
