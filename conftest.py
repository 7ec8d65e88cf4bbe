"""Root conftest: shared BDD steps, and no silent skips in CI."""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["features.steps.policy_steps", "features.steps.findings_steps"]
pytest_plugins += ["features.steps.collector_steps", "features.steps.source_steps",
                   "features.steps.completeness_steps", "features.steps.officer_steps",
                   "features.steps.notify_steps", "features.steps.dispute_steps"]
# Real-browser fixtures (one Chromium per session), shared by tests/ and features/.
pytest_plugins += ["tests.browserkit", "features.steps.web_steps"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI every test must run (.ci/run sets DIALTONE_CI_NO_SKIPS): a skip fails."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("DIALTONE_CI_NO_SKIPS") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test must run: {report.longrepr}"
