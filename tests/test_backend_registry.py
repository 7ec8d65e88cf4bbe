"""Backends through their registry: each declares its dialects and its settings schema, and the
configuration checks `engine:` and the backend's own section against them when it is read."""

from __future__ import annotations

import pytest

from dialtone.engine import configured
from dialtone.engine.backends import backends
from dialtone.engine.backends.duckdb import DuckDBBackend
from dialtone.engine.config import load_config
from dialtone.engine.errors import ConfigError


def _config(workspace, extra: str):
    path = workspace / "dialtone.yaml"
    path.write_text(path.read_text() + extra)
    return load_config(path)


@pytest.mark.parametrize("name", backends.names())
def test_every_registered_backend_says_what_it_reads_and_what_it_takes(name):
    backend = backends.get(name)
    assert backend.dialect == name
    assert backend.dialects and "duckdb" in backend.dialects
    assert backend.settings_schema is None or backend.settings_schema["type"] == "object"


def test_an_unknown_engine_is_refused_with_its_line_and_the_registered_names(workspace):
    with pytest.raises(ConfigError) as err:
        _config(workspace, "engine: duckbd\n")
    assert "dialtone.yaml:5: engine: unknown engine 'duckbd'" in str(err.value)
    assert "Did you mean 'duckdb'?" in str(err.value) and "Registered: duckdb, spark" in str(err.value)


def test_a_backend_section_is_checked_against_that_backends_schema(workspace):
    with pytest.raises(ConfigError, match=r"dialtone.yaml:6: spark.master: .* should be non-empty"):
        _config(workspace, "spark:\n  master: ''\n")
    with pytest.raises(ConfigError, match=r"dialtone.yaml:7: duckdb: the duckdb engine takes no settings"):
        _config(workspace, "duckdb: {threads: 2}\n")


class _Echo(DuckDBBackend):
    """A third-party backend: DuckDB under another name, with a setting of its own."""

    dialect = "echo"
    settings_schema = {"type": "object", "additionalProperties": False,
                       "properties": {"label": {"type": "string"}}}
    seen: list = []

    def __init__(self, limits=None, settings=None):
        super().__init__(limits, settings)
        _Echo.seen.append(settings)


@pytest.fixture
def echo():
    backends.register("echo", _Echo)
    yield _Echo
    backends._items.pop("echo", None)
    _Echo.seen.clear()


def test_a_plugin_backend_is_configured_and_evaluated_like_the_built_ins(workspace, echo):
    from dialtone.engine.collect import collect
    from dialtone.engine.policy.loader import load_policies

    with pytest.raises(ConfigError, match=r"echo.colour: .*not allowed|Additional properties"):
        _config(workspace, "engine: echo\necho: {colour: red}\n")
    path = workspace / "dialtone.yaml"
    path.write_text(path.read_text().replace("echo: {colour: red}", "echo: {label: nightly}"))
    config = load_config(path)
    assert config.engine == "echo" and config.engine_settings() == {"label": "nightly"}
    snapshot = collect(config).snapshot
    loaded = load_policies()
    result = configured.evaluate_configured(config, snapshot, loaded,
                                            policy_ids=["cost.zero-usage-lines"])
    assert result.engine == "echo" and echo.seen == [{"label": "nightly"}]
