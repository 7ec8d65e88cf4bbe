"""A collector that breaks unexpectedly (a bug, or a service's answer it did not foresee) fails its
own source, not the collect: security review 2026-12-07, where a Twilio page whose next_page_uri
was a number (TypeError) ended every source's collect in a traceback."""

from __future__ import annotations

import logging

import pyarrow as pa
import pytest

from dialtone.engine.collect import collect
from dialtone.engine.collector_api import RawBatch, SourceData, collectors
from dialtone.engine.config import load_config

from .conftest import AS_OF, MINIMAL_CONFIG

#: A credential in the error's text (built here, so that no source line the log shows holds it).
SECRET = "-".join(("s3cret", "token"))


class Broken:
    """Breaks when asked to collect (``when: collect``) or half-way through its stream."""

    config_schema = {"type": "object", "properties": {"when": {"enum": ["collect", "stream"]}},
                     "required": ["when"], "additionalProperties": False}
    secret_settings = ()

    def __init__(self, source, settings, base_dir):
        self.when = settings["when"]

    def collect(self):
        if self.when == "collect":
            return {}[f"https://svc:{SECRET}@api.example.com/v1"]

        def chunks():
            yield pa.table({"id": ["B1"], "name": ["Bea"], "status": ["active"],
                            "__row": pa.array([1], pa.int64())})
            raise TypeError(f"cannot page https://svc:{SECRET}@api.example.com/v1?page=2")

        return SourceData(batches=[RawBatch.streamed("people", "broken", chunks)])


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    monkeypatch.setitem(collectors._items, "broken", Broken)


@pytest.mark.parametrize("when", ["collect", "stream"])
def test_an_unexpected_error_fails_that_source_only(workspace, when, caplog):
    (workspace / "dialtone.yaml").write_text(
        MINIMAL_CONFIG + f"  odd:\n    collector: broken\n    when: {when}\n", encoding="utf-8")
    with caplog.at_level(logging.ERROR, logger="dialtone.engine.collect"):
        result = collect(load_config(workspace / "dialtone.yaml"), as_of=AS_OF)
    assert result.rows["lines"] == 3 and result.rows["people"] == 2    # the estate's, not B1
    problem = "KeyError" if when == "collect" else "TypeError"
    assert result.failures == {"odd": f"source 'odd': the collector failed unexpectedly ({problem}); "
                                      "the log has the details"}
    # Where it broke goes to the log; the error's own text, which here holds a URL with its
    # credentials, goes nowhere: secrets are never logged.
    assert "odd" in caplog.text and problem in caplog.text and "test_collect_crash.py" in caplog.text
    assert SECRET not in caplog.text
