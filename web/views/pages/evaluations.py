"""The evaluations: each with its policies' results, its changes and the runs that recorded it."""

from __future__ import annotations

from flask import abort, render_template

from dialtone.engine.store import reads

from ...security import READ, roles
from ..scope import caller
from . import bp, current_store


@bp.route("/evaluations")
@roles(*READ)
def evaluations_page():
    access = caller()
    rows = [reads.scoped_evaluation(e, access) for e in reads.list_evaluations(current_store())]
    return render_template("evaluations.html", rows=rows)


@bp.route("/evaluations/<id:evaluation_id>")
@roles(*READ)
def evaluation_page(evaluation_id: int):
    detail = reads.evaluation_detail(current_store(), evaluation_id)
    detail = None if detail is None else reads.scoped_evaluation(detail, caller(), current_store())
    if detail is None:
        abort(404)
    return render_template("evaluation.html", ev=detail, runs=detail["runs"], summary=detail["summary"])
