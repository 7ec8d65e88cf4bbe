"""The CLI package (web/cli/): commands imported on demand, a light ``--help``, shared helpers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

import dialtone
from dialtone.web.cli import COMMANDS
from dialtone.web.cli.common import DialtoneGroup, UserError, unknown

#: What ``dialtone --help`` must not import (each costs a tenth of a second or more).
HEAVY = ("duckdb", "pyarrow", "numpy", "sqlalchemy", "alembic", "flask", "sqlglot", "jsonschema",
         "apscheduler", "waitress", "dialtone.engine.config", "dialtone.engine.store")


def _fresh_group(cli) -> DialtoneGroup:
    """A group like ``cli`` with none of its commands imported yet."""
    return DialtoneGroup(name="dialtone", lazy=COMMANDS, params=cli.params, callback=cli.callback,
                         help=cli.help)


def test_the_table_names_every_command_with_its_own_short_help(cli):
    assert set(COMMANDS) == set(cli.list_commands(click.Context(cli)))
    for name, (_, text) in COMMANDS.items():
        command = cli.commands[name]
        assert command.name == name
        assert not command.hidden and not command.deprecated and command.short_help is None
        stand_in = click.Command(name, help=text)
        for limit in range(10, 200):
            assert stand_in.get_short_help_str(limit) == command.get_short_help_str(limit), name


@pytest.mark.parametrize("width", [60, 80, 120])
def test_help_before_any_command_is_imported_is_the_eager_groups_help(cli, width):
    lazy = _fresh_group(cli)
    eager = click.Group(name="dialtone", commands={n: cli.commands[n] for n in COMMANDS},
                        params=cli.params, callback=cli.callback, help=cli.help)
    text = lazy.get_help(click.Context(lazy, info_name="dialtone", terminal_width=width))
    assert not any(lazy.commands.is_loaded(name) for name in COMMANDS)
    assert text == eager.get_help(click.Context(eager, info_name="dialtone", terminal_width=width))


def test_help_imports_nothing_heavy():
    # A fresh interpreter importing the code under test, as the `dialtone` script does.
    code = ("import sys\nfrom dialtone.web.cli import main\ntry:\n    main()\nexcept SystemExit:\n"
            "    pass\nimport json\nprint(json.dumps(sorted(sys.modules)))")
    root = str(Path(dialtone.__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": root}, check=True)
    assert "Usage: dialtone" in done.stdout
    modules = json.loads(done.stdout.strip().splitlines()[-1])
    assert [m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY] == []


def test_an_unknown_command_still_gets_a_suggestion(runner, cli):
    result = runner.invoke(cli, ["polcy"])
    assert result.exit_code == 2
    assert "No such command 'polcy'" in result.output and "Did you mean 'policy'?" in result.output


def test_unknown_names_are_one_user_error_with_a_suggestion():
    with pytest.raises(UserError) as raised:
        unknown("policy", "cost.zero-usage-line", ["cost.zero-usage-lines", "security.x"])
    assert raised.value.exit_code == 2
    assert raised.value.format_message() == (
        "Unknown policy 'cost.zero-usage-line'. Did you mean 'cost.zero-usage-lines'?")
    with pytest.raises(UserError, match=r"^Unknown framework 'zzz'\.$"):
        unknown("framework", "zzz", ["gdpr"])


@pytest.mark.parametrize(("args", "message"), [
    (("policy", "show", "cost.zero-usage-line"),
     "error: Unknown policy 'cost.zero-usage-line'. Did you mean 'cost.zero-usage-lines'?"),
    (("policy", "history", "cost.zero-usage-line"),
     "error: Unknown policy 'cost.zero-usage-line'. Did you mean 'cost.zero-usage-lines'?"),
    (("policy", "list", "--framework", "gdp"), "error: Unknown framework 'gdp'. Did you mean 'gdpr'?"),
    (("frameworks", "show", "gdp"), "error: Unknown framework 'gdp'. Did you mean 'gdpr'?"),
])
def test_every_unknown_name_is_reported_the_same_way(runner, cli, workspace, args, message):
    result = runner.invoke(cli, ["--config", str(workspace / "dialtone.yaml"), *args])
    assert result.exit_code == 2
    assert result.output.strip() == message


def test_the_configuration_is_loaded_once_per_invocation(runner, cli, workspace, monkeypatch):
    from dialtone.engine import config as config_module

    calls = []
    real = config_module.load_config

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(config_module, "load_config", counting)
    args = ["--config", str(workspace / "dialtone.yaml"), "frameworks", "list"]
    result = runner.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert len(calls) == 1          # the catalogue and the policies share it
    runner.invoke(cli, args, catch_exceptions=False)
    assert len(calls) == 2          # a new invocation reads the file again


def test_a_required_configuration_is_still_required_after_an_optional_load(cli, tmp_path, monkeypatch):
    from dialtone.engine.errors import ConfigError
    from dialtone.web.cli.common import configuration

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIALTONE_CONFIG", raising=False)
    ctx = click.Context(cli, obj={"config": None})
    assert configuration(ctx).path is None           # built-in defaults: no file
    with pytest.raises(ConfigError, match="No configuration"):
        configuration(ctx, required=True)
