"""``dialtone users``, ``tokens`` and ``serve``: accounts and the web application."""

from __future__ import annotations

import sys

import click

from dialtone.engine.store.accounts import ROLES


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
@click.pass_context
def serve_cmd(ctx, host: str, port: int, threads: int, insecure_cookies: bool) -> None:
    """Run the web application with a production WSGI server (waitress)."""
    from waitress import serve

    from dialtone.web.app import create_app
    from dialtone.web.cli_store import _config, open_store

    config = _config(ctx)
    app = create_app(config, store=open_store(ctx), secure_cookies=not insecure_cookies)
    click.echo(f"Dialtone on http://{host}:{port}/ (Ctrl-C to stop)")
    serve(app, host=host, port=port, threads=threads, ident="dialtone")
