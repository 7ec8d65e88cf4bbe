"""The auditor's evidence package, downloaded for a period."""

from __future__ import annotations

import shutil
import tempfile
from datetime import date
from pathlib import Path

from flask import flash, g, redirect, render_template, request, send_file, url_for

from dialtone.engine.errors import DialtoneError
from dialtone.engine.store import reads, workflow

from ...security import READ, roles
from ..fields import MAX_FRAMEWORK
from . import bp, current_config, current_store, single_value, web_audit


@bp.route("/evidence", methods=["GET", "POST"])
@roles(*READ)
def evidence_page():
    if request.method == "POST":
        from dialtone.engine.evidence.package import export_evidence
        from dialtone.engine.evidence.scope import Scope
        from dialtone.engine.policy.loader import load_policies

        config = current_config()
        try:
            framework = single_value(request.form, "framework", MAX_FRAMEWORK)
            start, end = (date.fromisoformat(request.form[k]) for k in ("from", "to"))
        except (KeyError, ValueError):
            flash("Give the period as two dates, YYYY-MM-DD.")
            return redirect(url_for("pages.evidence_page"))
        scope = Scope(start, end, framework, (), request.form.get("mask_pii") == "1")
        folder = Path(tempfile.mkdtemp(prefix="dialtone-evidence-"))
        try:
            result = export_evidence(current_store(), scope, folder / "evidence.zip",
                                     snapshots_dir=config.data_dir / "snapshots",
                                     loaded_policies=load_policies(config.policy_paths).by_id(),
                                     data_dir=config.data_dir, signing_key=config.signing_key)
            # Opened, then removed from the disk: the response streams from the open file, and
            # nothing is left behind however the download ends (finished, or the client gone).
            package = (folder / "evidence.zip").open("rb")
        except DialtoneError as exc:
            flash(str(exc))
            return redirect(url_for("pages.evidence_page"))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        _log_export(scope, result.export_id)
        name = f"dialtone-evidence-{scope.start}-{scope.end}.zip"
        return send_file(package, mimetype="application/zip", as_attachment=True, download_name=name)
    choices = reads.evidence_choices(current_store())
    return render_template("evidence.html", frameworks=choices["frameworks"], span=choices["span"],
                           signing=current_config().signing_key is not None)


def _log_export(scope, export_id: str) -> None:
    workflow.record(current_store(), web_audit(), g.user.username, "evidence_export", f"export:{export_id}",
                    scope.as_dict())
