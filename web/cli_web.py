"""``dialtone users``, ``tokens`` and ``serve``: accounts and the web application."""

from __future__ import annotations

import datetime as dt
import sys
import typing as t
from collections.abc import Callable

import click

from dialtone.engine.errors import DialtoneError
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


def _audit(store: Store):
    import socket

    from dialtone.engine.store.workflow import audit_writer

    return audit_writer(store, f"cli:{socket.gethostname()}")


def _actor_option(command: Callable) -> Callable:
    from dialtone.web.cli_store import actor_option

    return actor_option(command)


@click.group("users")
def users_group() -> None:
    """Local accounts of the web application (roles: admin, officer, auditor)."""


@users_group.command("add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@_actor_option
@click.pass_context
def users_add(ctx, username: str, role: str, password_stdin: bool, actor: str) -> None:
    """Create an account."""
    from dialtone.engine.store.accounts import add_user
    from dialtone.web.cli_store import open_store

    store = open_store(ctx, refresh=False)
    add_user(store, username, role, _read_password(password_stdin), audit=_audit(store), actor=actor)
    click.echo(f"user {username} added ({role})")


@users_group.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@_actor_option
@click.pass_context
def users_passwd(ctx, username: str, password_stdin: bool, actor: str) -> None:
    """Set an account's password.

    Also unlocks the account and ends its web sessions (API tokens stay valid)."""
    from dialtone.engine.store.accounts import set_password
    from dialtone.web.cli_store import open_store

    store = open_store(ctx, refresh=False)
    ended = set_password(store, username, _read_password(password_stdin), audit=_audit(store), actor=actor)
    click.echo(f"password of {username} changed; {ended} web session(s) ended")


@users_group.command("role")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(ROLES))
@_actor_option
@click.pass_context
def users_role(ctx, username: str, role: str, actor: str) -> None:
    """Change an account's role.

    Ends its web sessions (the next login has the new role); its API tokens act with the new
    role at once."""
    from dialtone.engine.store.accounts import set_role
    from dialtone.web.cli_store import open_store

    store = open_store(ctx, refresh=False)
    ended = set_role(store, username, role, audit=_audit(store), actor=actor)
    click.echo(f"user {username} is now {role}; {ended} web session(s) ended")


@users_group.command("disable")
@click.argument("username")
@_actor_option
@click.pass_context
def users_disable(ctx, username: str, actor: str) -> None:
    """Disable an account.

    Ends its web sessions and revokes its API tokens."""
    from dialtone.engine.store.accounts import set_disabled
    from dialtone.web.cli_store import open_store

    store = open_store(ctx, refresh=False)
    set_disabled(store, username, audit=_audit(store), actor=actor)
    click.echo(f"user {username} disabled; its web sessions are ended and its API tokens revoked")


@users_group.command("enable")
@click.argument("username")
@_actor_option
@click.pass_context
def users_enable(ctx, username: str, actor: str) -> None:
    """Enable a disabled account again.

    Its API tokens revoked when it was disabled stay revoked."""
    from dialtone.engine.store.accounts import set_disabled
    from dialtone.web.cli_store import open_store

    store = open_store(ctx, refresh=False)
    set_disabled(store, username, False, audit=_audit(store), actor=actor)
    click.echo(f"user {username} enabled (API tokens revoked when it was disabled stay revoked: "
               "`dialtone tokens create` makes new ones)")


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
    """API tokens for scripts: create, list, revoke.

    Tokens expire: by default after the configuration's web.token_lifetime (90 days)."""


def _expiry(config: Config, expires_in: str | None, expires_on: dt.date | None) -> dict:
    """``issue_token``'s expiry arguments from the options."""
    from dialtone.engine.freshness import parse_duration

    if expires_in is not None and expires_on is not None:
        raise click.UsageError("give --expires-in or --expires-on, not both")
    if expires_on is not None:
        # In force through that day (UTC): it expires as the next one begins.
        next_day = expires_on + dt.timedelta(days=1)
        return {"expires_at": dt.datetime.combine(next_day, dt.time(), tzinfo=dt.UTC)}
    if expires_in is None:
        return {"lifetime": config.web.token_lifetime}
    try:
        return {"lifetime": parse_duration(expires_in, "--expires-in")}
    except DialtoneError as exc:
        raise click.BadParameter(str(exc).removeprefix("--expires-in: "), param_hint="--expires-in") from None


@tokens_group.command("create")
@click.argument("username")
@click.option("--label", help="What the token is for.")
@click.option("--expires-in", metavar="DURATION",
              help="How long it works: 12h, 30d, 26w… (default: the configuration's "
                   "web.token_lifetime, 90d).")
@click.option("--expires-on", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help="The last day (UTC) it works.")
@_actor_option
@click.pass_context
def tokens_create(ctx, username: str, label: str | None, expires_in: str | None,
                  expires_on: dt.datetime | None, actor: str) -> None:
    """Create an API token for USERNAME and print it.

    The token is shown only this once (it is stored as a hash); its id and expiry go to
    standard error."""
    from dialtone.engine.store.accounts import issue_token
    from dialtone.web.cli_store import _config, open_store

    expiry = _expiry(_config(ctx), expires_in, expires_on.date() if expires_on else None)
    store = open_store(ctx, refresh=False)
    issued = issue_token(store, username, label, **expiry, audit=_audit(store), actor=actor)
    click.echo(issued.token)
    click.echo(f"token {issued.id} for {username}, expires {issued.expires_at}", err=True)


@tokens_group.command("list")
@click.option("--user", "username", help="Only this user's tokens.")
@click.option("--active", is_flag=True, help="Only tokens that work now (not expired or revoked).")
@click.pass_context
def tokens_list(ctx, username: str | None, active: bool) -> None:
    """List the API tokens (never the tokens themselves).

    Each with its id, user, state (active, expired, revoked), when it was created, when it
    expires, when it was last used and from which address, and its label."""
    from dialtone.engine.store.accounts import list_tokens
    from dialtone.web.cli_store import open_store

    rows = [t for t in list_tokens(open_store(ctx, refresh=False), username)
            if not active or t["state"] == "active"]
    if not rows:
        click.echo("no API tokens")
        return
    click.echo(f"{'id':>5}  {'user':<24} {'state':<8} {'created':<20} {'expires':<20} "
               f"{'last used':<20} {'from':<20} label")
    for tok in rows:
        click.echo(f"{tok['id']:>5}  {tok['user']:<24} {tok['state']:<8} {tok['created_at'][:19]:<20} "
                   f"{tok['expires_at'][:19]:<20} {(tok['last_used_at'] or 'never')[:19]:<20} "
                   f"{tok['last_used_from'] or '':<20} {tok['label'] or ''}")


@tokens_group.command("revoke")
@click.argument("token_id", type=click.IntRange(1, 2**63 - 1), metavar="ID")
@_actor_option
@click.pass_context
def tokens_revoke(ctx, token_id: int, actor: str) -> None:
    """Revoke one API token by its id.

    It is refused from now on; `dialtone tokens list` shows the ids."""
    from dialtone.engine.store.accounts import revoke_token
    from dialtone.web.cli_store import open_store

    store = open_store(ctx, refresh=False)
    if revoke_token(store, token_id, audit=_audit(store), actor=actor):
        click.echo(f"token {token_id} revoked")
    else:
        click.echo(f"token {token_id} was already revoked")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--insecure-cookies", is_flag=True,
              help="Send the session cookie without the Secure flag, for plain-HTTP use on a private "
                   "network or a test machine only. Not behind a TLS-terminating proxy: browsers talk "
                   "HTTPS to it and keep Secure cookies (set web.trusted_proxy instead).")
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
    config = _config(ctx)
    app, scheduler = build_server(config, store, secure_cookies=not insecure_cookies,
                                  with_scheduler=with_scheduler, say=say)
    options = server_options(config)
    click.echo(f"Dialtone on http://{host}:{port}/ (Ctrl-C to stop)")
    if config.web.trusted_proxy:
        say(f"trusting X-Forwarded-For and X-Forwarded-Proto from {config.web.trusted_proxy}")
    if scheduler is None:
        serve(app, host=host, port=port, threads=threads, **options)
        return
    import signal

    def terminate(_signum, _frame) -> None:
        raise KeyboardInterrupt  # waitress stops on it, as on Ctrl-C; then the scheduler stops

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        serve(app, host=host, port=port, threads=threads, **options)
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop_scheduler(scheduler, store, say)


def server_options(config: Config) -> dict:
    """waitress's settings for ``dialtone serve``: which proxy's X-Forwarded-For (the client's
    address: audit log, rate limits, token use) and X-Forwarded-Proto (HTTPS: HSTS) to believe.

    Only a peer at ``web.trusted_proxy`` is believed, for its last ``web.trusted_proxy_count``
    hops; from anyone else, and when it is not set, these headers are removed before the
    application sees them, so a client cannot claim another address or HTTPS."""
    options: dict = {"ident": "dialtone", "clear_untrusted_proxy_headers": True}
    if config.web.trusted_proxy:
        options.update(trusted_proxy=config.web.trusted_proxy,
                       trusted_proxy_count=config.web.trusted_proxy_count,
                       trusted_proxy_headers="x-forwarded-for x-forwarded-proto")
    return options


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
