"""The evaluations: each with its policies' results, its changes and the runs that recorded it."""

from __future__ import annotations

from flask import abort, render_template

from dialtone.engine.store import reads

from ...security import READ, roles
from . import bp, current_store


@bp.route("/evaluations")
@roles(*READ)
def evaluations_page():
    return render_template("evaluations.html", rows=reads.list_evaluations(current_store()))


@bp.route("/evaluations/<id:evaluation_id>")
@roles(*READ)
def evaluation_page(evaluation_id: int):
    detail = reads.evaluation_detail(current_store(), evaluation_id)
    if detail is None:
        abort(404)
    return render_template("evaluation.html", ev=detail, runs=detail["runs"], summary=detail["summary"])
