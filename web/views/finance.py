"""Savings and contracts, for telecom and finance analysts."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from dialtone.engine.errors import DialtoneError

from ..security import READ, roles

bp = Blueprint("finance", __name__)


@bp.route("/savings")
@roles(*READ)
def savings():
    from dialtone.engine.finance import finance_report
    from dialtone.engine.snapshots import SnapshotStore

    config = current_app.extensions["dialtone.config"]
    try:
        snapshot = SnapshotStore(config.data_dir).get(None)
    except DialtoneError:
        return render_template("savings.html", report=None, snapshot=None)
    # Contract dates are read as of the snapshot, like every policy evaluation.
    report = finance_report(current_app.extensions["dialtone.store"], snapshot, snapshot.as_of)
    return render_template("savings.html", report=report, snapshot=snapshot)
