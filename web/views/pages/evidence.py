"""The auditor's evidence package, downloaded for a period: chosen by when the evaluations ran (the
default) or by their snapshots' dates, as two dates or a preset (last quarter, ...). A refused
request shows the form again with what was chosen, the reason in the auditor's words and the
periods on record."""

from __future__ import annotations

import shutil
import tempfile
from datetime import date
from pathlib import Path

from flask import g, render_template, request, send_file

from dialtone.engine.errors import DialtoneError
from dialtone.engine.evidence import scope as periods
from dialtone.engine.evidence.scope import PERIOD_KINDS, PRESETS, RUN, Scope, preset_period
from dialtone.engine.store import reads, workflow

from ...security import READ, roles
from ..fields import MAX_FRAMEWORK
from ..scope import caller
from . import bp, catalogue, current_config, current_store, single_value, web_audit

#: The period field's value for "the two dates below" (the presets are the others).
DATES = "dates"


class Refused(DialtoneError):
    """A request the form cannot turn into a period, said as the auditor would."""


@bp.route("/evidence", methods=["GET", "POST"])
@roles(*READ)
def evidence_page():
    options = reads.evidence_periods(current_store())
    ran = options["ran"]
    chosen = {"period": DATES, "from": ran[0].isoformat() if ran else "",
              "to": ran[1].isoformat() if ran else "", "by": RUN, "framework": "", "mask_pii": False}
    if request.method == "GET":
        return _page(options, chosen)
    form = request.form
    chosen = {"period": form.get("period", DATES), "from": form.get("from", ""), "to": form.get("to", ""),
              "by": form.get("by", RUN), "framework": form.get("framework", ""),
              "mask_pii": form.get("mask_pii") == "1"}
    folder = Path(tempfile.mkdtemp(prefix="dialtone-evidence-"))
    try:
        scope = _scope(chosen, options["today"])
        result = _export(scope, folder / "evidence.zip")
        # Opened, then removed from the disk: the response streams from the open file, and
        # nothing is left behind however the download ends (finished, or the client gone).
        package = (folder / "evidence.zip").open("rb")
    except DialtoneError as exc:
        return _page(options, chosen, str(exc), 400)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    _log_export(scope, result.export_id)
    return send_file(package, mimetype="application/zip", as_attachment=True,
                     download_name=scope.file_name())


def _scope(chosen: dict, today: date) -> Scope:
    if chosen["by"] not in PERIOD_KINDS:
        raise Refused("Choose whether the period is when the evaluations ran or the snapshots' dates.")
    if chosen["period"] == DATES:
        try:
            start, end = date.fromisoformat(chosen["from"]), date.fromisoformat(chosen["to"])
        except ValueError:
            raise Refused("Give the first and the last day of the period.") from None
    elif chosen["period"] in PRESETS:
        start, end = preset_period(chosen["period"], today)
    else:
        raise Refused("Choose a period from the list, or give its first and last day.")
    framework = single_value(request.form, "framework", MAX_FRAMEWORK)
    return Scope(start, end, framework, (), chosen["mask_pii"], chosen["by"], access=caller())


def _export(scope: Scope, out: Path):
    from dialtone.engine.evidence.package import export_evidence
    from dialtone.engine.policy.loader import load_policies

    config = current_config()
    return export_evidence(current_store(), scope, out, snapshots_dir=config.data_dir / "snapshots",
                           loaded_policies=load_policies(config.policy_paths).by_id(),
                           data_dir=config.data_dir, signing_key=config.signing_key, catalogue=catalogue())


def _page(options: dict, chosen: dict, error: str | None = None, status: int = 200):
    today = options["today"]
    presets = [(name, label, periods.say_period(*preset_period(name, today), joiner="to"))
               for name, label in PRESETS.items()]
    return render_template(
        "evidence.html", frameworks=options["frameworks"], presets=presets, kinds=PERIOD_KINDS,
        ran=options["ran"] and periods.say_span(*options["ran"]),
        dated=options["dated"] and periods.say_span(*options["dated"], single=""),
        chosen=chosen, error=error, signing=current_config().signing_key is not None), status


def _log_export(scope, export_id: str) -> None:
    workflow.record(current_store(), web_audit(), g.user.username, "evidence_export", f"export:{export_id}",
                    scope.as_dict())
