"""Evaluation results in interchange formats: SARIF 2.1.0, JUnit XML, OCSF 1.5.0.

Each module renders an :class:`~dialtone.engine.evaluation.Evaluation` (plus the
loaded policies, for file locations, descriptions and remediation) as text.
Like the JSON document, the output is a pure function of the evaluation: sorted,
with no wall-clock value and no random identifier, so the same inputs give
byte-identical output.
"""

from __future__ import annotations

#: ``--format`` names rendered here, each by the module of the same name.
FORMATS = ("sarif", "junit", "ocsf")


def render(fmt: str, evaluation, policies=None) -> str:
    """Render ``evaluation`` in ``fmt`` (one of FORMATS); ``policies`` are the loaded policies."""
    from importlib import import_module

    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return import_module(f"{__name__}.{fmt}").render(evaluation, policies)
