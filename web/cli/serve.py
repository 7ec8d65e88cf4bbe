"""``dialtone serve``: the web application under waitress, with the scheduler beside it if asked."""

from __future__ import annotations

import typing as t
from collections.abc import Callable

import click

from .common import configuration, open_store

if t.TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler
    from flask import Flask

    from dialtone.engine.config import Config
    from dialtone.engine.store import Store


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
@click.option("--wait-for-upgrade", is_flag=True,
              help="Start even when the store's schema is behind this version (instead of refusing): "
                   "/healthz answers, /readyz and every page answer 503 until `dialtone db upgrade` "
                   "has run elsewhere (the container image's `web` command; docs/operations.md).")
@click.pass_context
def serve_cmd(ctx, host: str, port: int, threads: int, insecure_cookies: bool,
              with_scheduler: bool, wait_for_upgrade: bool) -> None:
    """Run the web application with a production WSGI server (waitress)."""
    from waitress import serve

    def say(text: str) -> None:
        click.echo(text, err=True)

    config = configuration(ctx)
    if wait_for_upgrade:
        from dialtone.engine.store import Store

        if with_scheduler:
            raise click.UsageError("--wait-for-upgrade runs the web application only: run "
                                   "`dialtone scheduler` once the schema is current")
        store = Store.from_config(config, check=False)   # the exceptions' expiry waits for it too
        ctx.call_on_close(store.close)
    else:
        store = open_store(ctx, refresh=True)
    app, scheduler = build_server(config, store, secure_cookies=not insecure_cookies,
                                  with_scheduler=with_scheduler, say=say, schema_gate=wait_for_upgrade)
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
                 say: Callable[[str], None] = print,
                 schema_gate: bool = False) -> tuple[Flask, BackgroundScheduler | None]:
    """The application and, ``with_scheduler``, the configured schedule running beside it.

    The scheduler is built (a missing ``schedule:`` is a ConfigError) before the application,
    so nothing starts on a configuration that cannot run; it is started last, so a bad secret
    key does not leave it running. Runs it starts take the database run lock like any other:
    they never overlap a `dialtone run` or another scheduler.
    """
    from dialtone.web.app import create_app, ensure_secret_key

    created = ensure_secret_key(config)
    if created is not None:
        say(f"created a secret key for web sessions in {created} (0600; keep it private, back it "
            f"up with the data folder; $DIALTONE_SECRET_KEY overrides it)")
    scheduler = None
    if with_scheduler:
        from dialtone.engine.scheduler import build_scheduler

        scheduler = build_scheduler(config)
    app = create_app(config, store=store, secure_cookies=secure_cookies, schema_gate=schema_gate)
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
