"""``dialtone users``, ``tokens`` and ``serve``: accounts and the web application."""

from __future__ import annotations

import sys
import typing as t
from collections.abc import Callable

import click

from dialtone.engine.store.accounts import ROLES

if t.TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler
    from flask import Flask

    from dialtone.engine.config import Config
    from dialtone.engine.store import Store


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@click.group("users")
def users_group() -> None:
    """Local accounts of the web application (roles: admin, officer, auditor)."""


@users_group.command("add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def users_add(ctx, username: str, role: str, password_stdin: bool) -> None:
    """Create an account."""
    from dialtone.engine.store.accounts import add_user
    from dialtone.web.cli_store import open_store

    add_user(open_store(ctx, refresh=False), username, role, _read_password(password_stdin))
    click.echo(f"user {username} added ({role})")


@users_group.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def users_passwd(ctx, username: str, password_stdin: bool) -> None:
    """Set an account's password (also unlocks it)."""
    from dialtone.engine.store.accounts import set_password
    from dialtone.web.cli_store import open_store

    set_password(open_store(ctx, refresh=False), username, _read_password(password_stdin))
    click.echo(f"password of {username} changed")


@users_group.command("disable")
@click.argument("username")
@click.pass_context
def users_disable(ctx, username: str) -> None:
    """Disable an account and revoke its API tokens."""
    from dialtone.engine.store.accounts import set_disabled
    from dialtone.web.cli_store import open_store

    set_disabled(open_store(ctx, refresh=False), username)
    click.echo(f"user {username} disabled; its API tokens are revoked")


@users_group.command("list")
@click.pass_context
def users_list(ctx) -> None:
    """The accounts."""
    from dialtone.engine.store.accounts import list_users
    from dialtone.web.cli_store import open_store

    for u in list_users(open_store(ctx, refresh=False)):
        state = "disabled" if u["disabled"] else "active"
        click.echo(f"{u['username']:<30} {u['role']:<8} {state}")


@click.group("tokens")
def tokens_group() -> None:
    """API tokens for scripts."""


@tokens_group.command("create")
@click.argument("username")
@click.option("--label", help="What the token is for.")
@click.pass_context
def tokens_create(ctx, username: str, label: str | None) -> None:
    """Create an API token for USERNAME and print it (it is shown only this once)."""
    from dialtone.engine.store.accounts import create_token
    from dialtone.web.cli_store import open_store

    click.echo(create_token(open_store(ctx, refresh=False), username, label))


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--insecure-cookies", is_flag=True,
              help="Send the session cookie over plain HTTP to hosts other than localhost "
                   "(only behind a TLS-terminating proxy you trust).")
@click.option("--with-scheduler", is_flag=True,
              help="Also run the configuration's `schedule:` in this process (instead of a "
                   "separate `dialtone scheduler`).")
@click.pass_context
def serve_cmd(ctx, host: str, port: int, threads: int, insecure_cookies: bool,
              with_scheduler: bool) -> None:
    """Run the web application with a production WSGI server (waitress)."""
    from waitress import serve

    from dialtone.web.cli_store import _config, open_store

    def say(text: str) -> None:
        click.echo(text, err=True)

    store = open_store(ctx)
    app, scheduler = build_server(_config(ctx), store, secure_cookies=not insecure_cookies,
                                  with_scheduler=with_scheduler, say=say)
    click.echo(f"Dialtone on http://{host}:{port}/ (Ctrl-C to stop)")
    if scheduler is None:
        serve(app, host=host, port=port, threads=threads, ident="dialtone")
        return
    import signal

    def terminate(_signum, _frame) -> None:
        raise KeyboardInterrupt  # waitress stops on it, as on Ctrl-C; then the scheduler stops

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        serve(app, host=host, port=port, threads=threads, ident="dialtone")
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop_scheduler(scheduler, store, say)


def build_server(config: Config, store: Store, *, secure_cookies: bool = True, with_scheduler: bool = False,
                 say: Callable[[str], None] = print) -> tuple[Flask, BackgroundScheduler | None]:
    """The application and, ``with_scheduler``, the configured schedule running beside it.

    The scheduler is built (a missing ``schedule:`` is a ConfigError) before the application,
    so nothing starts on a configuration that cannot run; it is started last, so a bad secret
    key does not leave it running. Runs it starts take the database run lock like any other:
    they never overlap a `dialtone run` or another scheduler.
    """
    from dialtone.web.app import create_app

    scheduler = None
    if with_scheduler:
        from dialtone.engine.scheduler import build_scheduler

        scheduler = build_scheduler(config)
    app = create_app(config, store=store, secure_cookies=secure_cookies)
    if scheduler is not None:
        from dialtone.engine.runs import recover_abandoned
        from dialtone.engine.scheduler import JOB_ID

        for run_id in recover_abandoned(store):
            say(f"run {run_id} was abandoned by a process that is gone: recorded as failed")
        scheduler.start()
        app.extensions["dialtone.scheduler"] = scheduler   # the runs page shows the next run
        job = scheduler.get_job(JOB_ID)
        say(f"scheduler started (UTC): '{config.schedule.cron}', next run "
            f"{job.next_run_time.isoformat() if job.next_run_time else 'never'}")
    return app, scheduler


def stop_scheduler(scheduler: BackgroundScheduler, store: Store, say: Callable[[str], None] = print) -> None:
    """Stop scheduling and let a run in progress finish; interrupted again while waiting, abandon
    it as `dialtone scheduler` does (recorded as failed, the lock freed) and exit."""
    import os

    say("stopping the scheduler: a run in progress will finish (Ctrl-C again to abandon it)")
    try:
        scheduler.shutdown(wait=True)
    except KeyboardInterrupt:
        from dialtone.engine.runs import current_lock, holder_id
        from dialtone.engine.scheduler import abandon_run

        lock = current_lock(store)
        if lock is not None and lock["holder"] == holder_id():
            abandon_run(store, lock["run_id"])
            say(f"run {lock['run_id']} abandoned at shutdown: recorded as failed")
        os._exit(1)  # the run's worker thread would otherwise hold the process open
    say("scheduler stopped")
