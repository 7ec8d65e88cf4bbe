"""Shared by the Spark tests: skip (with the install command) where Spark cannot run."""

from __future__ import annotations

import pytest

from dialtone.engine.backends.spark import spark_available

#: One local Spark for the whole test session (root_session() is process-wide): two
#: cores, few shuffle partitions for estates of a few hundred lines, and a 4 GB driver: with
#: the evaluation contract tests on Spark too, 2 GB ran out of heap in the differential tests
#: late in a full run (each passes alone).
SETTINGS = {
    "master": "local[2]",
    "conf": {"spark.driver.memory": "4g", "spark.sql.shuffle.partitions": "2"},
}


def require_spark() -> None:
    """Skip the calling module when PySpark or Java is missing; the reason says what to install.

    In CI (DIALTONE_CI_NO_SKIPS) the root conftest turns the skip into a failure.
    """
    reason = spark_available()
    if reason:
        pytest.skip(reason, allow_module_level=True)
