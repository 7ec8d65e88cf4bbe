"""What every command shares: the error type, the group class, the configuration (loaded once
per invocation), the store, the actor, and "unknown X, did you mean Y".

Imports only click at module level: the command modules import this, and ``dialtone --help``
must not pay for the engine (docs/architecture.md, "The command line").
"""

from __future__ import annotations

import getpass
import importlib
import os
import socket
import typing as t
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from pathlib import Path

import click

if t.TYPE_CHECKING:
    from dialtone.engine.config import Config
    from dialtone.engine.frameworks import Catalogue
    from dialtone.engine.policy.loader import LoadedPolicies
    from dialtone.engine.store import Store

ACTOR_ENV = "DIALTONE_USER"


class UserError(click.ClickException):
    """A user error: one clear message, exit status 2, never a traceback."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def unknown(kind: str, name: str, known: Iterable[str]) -> t.NoReturn:
    """Raise the one "unknown X" error: ``Unknown policy 'x'. Did you mean 'y'?``."""
    from dialtone.engine.errors import did_you_mean

    raise UserError(f"Unknown {kind} '{name}'.{did_you_mean(name, known)}")


def check_utf8(value: str, what: str) -> None:
    """UserError when ``value`` holds bytes that are not UTF-8.

    Python hands such bytes over as lone surrogates, which nothing downstream can encode (the
    history's hashes, the store, the terminal): refused here, once, with the bytes shown."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        try:
            shown = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:  # a surrogate that did not come from a byte
            shown = value.encode("utf-8", "backslashreplace").decode("utf-8")
        raise UserError(f"{what} is not valid UTF-8 text: '{shown}'") from None


class LazyCommands(MutableMapping):
    """A group's commands by name, each imported from ``"module:attribute"`` when first used.

    Listing the names (``dialtone --help``, "No such command ... Did you mean") imports nothing."""

    def __init__(self, targets: Mapping[str, str], package: str):
        self._targets = dict(targets)
        self._package = package
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            module, _, attr = self._targets[name].partition(":")
            self._loaded[name] = getattr(importlib.import_module(f".{module}", self._package), attr)
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self._targets.pop(name, None)
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(self._targets), **dict.fromkeys(self._loaded)})

    def __len__(self) -> int:
        return len({**dict.fromkeys(self._targets), **dict.fromkeys(self._loaded)})

    def __contains__(self, name: object) -> bool:
        return name in self._targets or name in self._loaded

    def is_loaded(self, name: str) -> bool:
        return name in self._loaded


class DialtoneGroup(click.Group):
    """Checks the whole command line is UTF-8 and turns a DialtoneError into a UserError.

    ``lazy`` maps command names to ``("module:attribute", short help)``: the module (in this
    package) is imported only when the command runs or shows its own help, and the group's help
    lists the short help from the table (tests/test_cli_package.py checks it against the
    commands)."""

    def __init__(self, *args, lazy: Mapping[str, tuple[str, str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.short_help_of: dict[str, str] = {}
        if lazy:
            self.commands = LazyCommands({n: target for n, (target, _) in lazy.items()}, __package__)
            self.short_help_of = {n: text for n, (_, text) in lazy.items()}

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:  # the whole command line, before any command sees it
            for arg in args:
                check_utf8(arg, "an argument")
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        from dialtone.engine.errors import DialtoneError

        try:
            return super().invoke(ctx)
        except DialtoneError as exc:
            raise UserError(str(exc)) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's own listing, with a stand-in carrying the table's help for a command not
        imported yet."""
        rows = []
        for name in self.list_commands(ctx):
            if name in self.short_help_of and not self._is_loaded(name):
                command = click.Command(name, help=self.short_help_of[name])
            else:
                command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command))
        if rows:
            limit = formatter.width - 6 - max(len(name) for name, _ in rows)
            with formatter.section("Commands"):
                formatter.write_dl([(name, command.get_short_help_str(limit)) for name, command in rows])

    def _is_loaded(self, name: str) -> bool:
        return not isinstance(self.commands, LazyCommands) or self.commands.is_loaded(name)


# -- the configuration, once per invocation -----------------------------------------------
def configuration(ctx: click.Context, required: bool = False) -> Config:
    """The configuration named by ``--config`` (or found the usual way), loaded once for the
    whole command line and kept on the root context."""
    from dialtone.engine.config import load_config

    root = ctx.find_root()
    loaded = root.meta.get("dialtone.config")
    if loaded is None or (required and loaded.path is None):  # required: no file is an error
        loaded = root.meta["dialtone.config"] = load_config((ctx.obj or {}).get("config"),
                                                            required=required)
    return loaded


def configured_policies(ctx: click.Context, paths: tuple[str, ...] = ()) -> LoadedPolicies:
    """The policies at ``paths``, else the configured ones."""
    from dialtone.engine.policy.loader import load_policies

    if paths:
        return load_policies([Path(p) for p in paths])
    return load_policies(configuration(ctx).policy_paths)


def configured_catalogue(ctx: click.Context, paths: tuple[str, ...] = ()) -> Catalogue:
    """The frameworks catalogue beside the policies at ``paths``, else the configured ones."""
    from dialtone.engine.frameworks import load_catalogue

    roots = [Path(p) for p in paths] if paths else configuration(ctx).policy_paths
    return load_catalogue(roots)


# -- the actor ----------------------------------------------------------------------------
def default_actor() -> str:
    actor = os.environ.get(ACTOR_ENV) or getpass.getuser()
    check_utf8(actor, f"${ACTOR_ENV} or the login name")
    return actor


actor_option = click.option(
    "--actor", default=default_actor, show_default=f"${ACTOR_ENV} or your login name",
    help="Who is acting (recorded in the history and the audit log).")


# -- the store ----------------------------------------------------------------------------
def repository_exceptions(config, loaded, *, warn: bool = True):
    """Valid repository exceptions, or None when any file is invalid (nothing is synced then)."""
    from dialtone.engine.policy.exceptions_file import load_exceptions

    specs, problems = load_exceptions(config.exceptions_dir, loaded.by_id(),
                                      config.store.exception_max_days)
    if problems:
        if warn:
            warn_exception_problems(problems)
        return None
    return specs


def warn_exception_problems(problems) -> None:
    """Say which repository exception files are invalid (none is synced until they are fixed)."""
    if problems:
        for p in problems:
            click.echo(f"warning: {p}", err=True)
        click.echo("warning: repository exceptions not synced until these are fixed", err=True)


def open_store(ctx: click.Context, *, refresh: bool = False) -> Store:
    """The configured store. Reading never writes; a command that writes anyway passes
    ``refresh`` to first sync the repository's exception files and expire and apply exceptions
    as of today, in a transaction of its own."""
    from dialtone.engine.store import Store

    config = configuration(ctx)
    store = Store.from_config(config)
    ctx.call_on_close(store.close)
    if refresh:
        bring_exceptions_up_to_date(ctx, store)
    return store


def bring_exceptions_up_to_date(ctx: click.Context, store: Store) -> dict[str, int]:
    """Sync the repository's exception files, expire and apply exceptions as of today."""
    from dialtone.engine.policy.loader import load_policies
    from dialtone.engine.store.exceptions import refresh_exceptions

    config = configuration(ctx)
    repo = repository_exceptions(config, load_policies(config.policy_paths))
    with store.write() as conn:
        return refresh_exceptions(conn, store, repository=repo)


def warn_if_exceptions_lapsed(store: Store) -> None:
    """Say so when exceptions have passed their expiry date but not yet been expired (reading
    never writes): their findings still show as excepted until a writer brings the store up to
    date (a run, an action, a decision, the web server, or ``dialtone exceptions refresh``)."""
    from dialtone.engine.store.exceptions import lapsed_count

    n = lapsed_count(store)
    if n:
        click.echo(f"warning: {n} exception(s) passed their expiry date and are not yet expired, so "
                   "their findings still show as excepted: run `dialtone exceptions refresh` (a "
                   "run, a decision or the web server does it too)", err=True)


def audit_writer(store: Store):
    """The audit log writer for a command run from this machine."""
    from dialtone.engine.store.workflow import audit_writer

    return audit_writer(store, f"cli:{socket.gethostname()}")
