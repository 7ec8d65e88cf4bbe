"""``dialtone users`` and ``tokens``: accounts of the web application and their API tokens."""

from __future__ import annotations

import datetime as dt
import sys
import typing as t

import click

from dialtone.engine.errors import DialtoneError
from dialtone.engine.roles import ROLES

from .common import actor_option, audit_writer, configuration, open_store

if t.TYPE_CHECKING:
    from dialtone.engine.config import Config


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
@actor_option
@click.pass_context
def users_add(ctx, username: str, role: str, password_stdin: bool, actor: str) -> None:
    """Create an account."""
    from dialtone.engine.store.accounts import add_user

    store = open_store(ctx, refresh=False)
    add_user(store, username, role, _read_password(password_stdin), audit=audit_writer(store), actor=actor)
    click.echo(f"user {username} added ({role})")


@users_group.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@actor_option
@click.pass_context
def users_passwd(ctx, username: str, password_stdin: bool, actor: str) -> None:
    """Set an account's password.

    Also unlocks the account and ends its web sessions (API tokens stay valid)."""
    from dialtone.engine.store.accounts import set_password

    store = open_store(ctx, refresh=False)
    ended = set_password(store, username, _read_password(password_stdin), audit=audit_writer(store),
                         actor=actor)
    click.echo(f"password of {username} changed; {ended} web session(s) ended")


@users_group.command("role")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(ROLES))
@actor_option
@click.pass_context
def users_role(ctx, username: str, role: str, actor: str) -> None:
    """Change an account's role.

    Ends its web sessions (the next login has the new role); its API tokens act with the new
    role at once."""
    from dialtone.engine.store.accounts import set_role

    store = open_store(ctx, refresh=False)
    ended = set_role(store, username, role, audit=audit_writer(store), actor=actor)
    click.echo(f"user {username} is now {role}; {ended} web session(s) ended")


@users_group.command("disable")
@click.argument("username")
@actor_option
@click.pass_context
def users_disable(ctx, username: str, actor: str) -> None:
    """Disable an account.

    Ends its web sessions and revokes its API tokens."""
    from dialtone.engine.store.accounts import set_disabled

    store = open_store(ctx, refresh=False)
    set_disabled(store, username, audit=audit_writer(store), actor=actor)
    click.echo(f"user {username} disabled; its web sessions are ended and its API tokens revoked")


@users_group.command("enable")
@click.argument("username")
@actor_option
@click.pass_context
def users_enable(ctx, username: str, actor: str) -> None:
    """Enable a disabled account again.

    Its API tokens revoked when it was disabled stay revoked."""
    from dialtone.engine.store.accounts import set_disabled

    store = open_store(ctx, refresh=False)
    set_disabled(store, username, False, audit=audit_writer(store), actor=actor)
    click.echo(f"user {username} enabled (API tokens revoked when it was disabled stay revoked: "
               "`dialtone tokens create` makes new ones)")


@users_group.command("list")
@click.pass_context
def users_list(ctx) -> None:
    """The accounts: name, role, state, how they sign in (local: a password; oidc: the
    OpenID provider) and, for an account limited to a scope, ``scope: NAME``."""
    from dialtone.engine.store.accounts import list_users

    for u in list_users(open_store(ctx, refresh=False)):
        state = "disabled" if u["disabled"] else "active"
        scope = f"  scope: {u['scope']}" if u["scope"] else ""
        click.echo(f"{u['username']:<30} {u['role']:<8} {state:<8} {u['auth_source']}{scope}")


@users_group.command("scope")
@click.argument("username")
@click.argument("scope", required=False)
@click.option("--all", "everything", is_flag=True, help="Lift the limit: the account reads everything.")
@actor_option
@click.pass_context
def users_scope(ctx, username: str, scope: str | None, everything: bool, actor: str) -> None:
    """Limit USERNAME to SCOPE (an entry of access.scopes), or with --all to everything.

    It applies from the account's next request, on its pages and its API tokens alike
    (docs/access.md). Audited as user_scope."""
    from dialtone.engine.access import check_name
    from dialtone.engine.store.accounts import set_scope

    if everything == (scope is not None):
        raise click.UsageError("give a SCOPE or --all (one of them)")
    if scope is not None:
        check_name(configuration(ctx).scopes, scope)
    store = open_store(ctx, refresh=False)
    set_scope(store, username, scope, audit=audit_writer(store), actor=actor)
    click.echo(f"{username} reads {'everything' if scope is None else 'scope ' + scope}")


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
@click.option("--read-only", is_flag=True,
              help="The token can only read (GET and HEAD); anything else is refused with 403.")
@click.option("--scope", metavar="NAME",
              help="Limit the token to this scope of access.scopes: the user's own scope, or any "
                   "when the user reads everything (docs/access.md).")
@actor_option
@click.pass_context
def tokens_create(ctx, username: str, label: str | None, expires_in: str | None,
                  expires_on: dt.datetime | None, read_only: bool, scope: str | None, actor: str) -> None:
    """Create an API token for USERNAME and print it.

    The token is shown only this once (it is stored as a hash); its id and expiry go to
    standard error. With oidc.local_accounts: false, only administrators' local accounts and
    accounts made at an OpenID sign-in get tokens."""
    from dialtone.engine.access import check_name
    from dialtone.engine.store.accounts import issue_token

    config = configuration(ctx)
    expiry = _expiry(config, expires_in, expires_on.date() if expires_on else None)
    if scope is not None:
        check_name(config.scopes, scope)
    store = open_store(ctx, refresh=False)
    issued = issue_token(store, username, label, **expiry, read_only=read_only, scope=scope,
                         local_accounts=config.oidc is None or config.oidc.local_accounts,
                         audit=audit_writer(store), actor=actor)
    click.echo(issued.token)
    kind = "read-only token" if read_only else "token"
    limited = f", scope {scope}" if scope else ""
    click.echo(f"{kind} {issued.id} for {username}{limited}, expires {issued.expires_at}", err=True)


@tokens_group.command("list")
@click.option("--user", "username", help="Only this user's tokens.")
@click.option("--active", is_flag=True, help="Only tokens that work now (not expired or revoked).")
@click.pass_context
def tokens_list(ctx, username: str | None, active: bool) -> None:
    """List the API tokens (never the tokens themselves).

    Each with its id, user, state (active, expired, revoked), access (read-only or full), when
    it was created, when it expires, when it was last used and from which address, and its
    label."""
    from dialtone.engine.store.accounts import list_tokens

    rows = [t for t in list_tokens(open_store(ctx, refresh=False), username)
            if not active or t["state"] == "active"]
    if not rows:
        click.echo("no API tokens")
        return
    click.echo(f"{'id':>5}  {'user':<24} {'state':<8} {'access':<9} {'created':<20} {'expires':<20} "
               f"{'last used':<20} {'from':<20} label")
    for tok in rows:
        access = "read-only" if tok["read_only"] else "full"
        click.echo(f"{tok['id']:>5}  {tok['user']:<24} {tok['state']:<8} {access:<9} "
                   f"{tok['created_at'][:19]:<20} {tok['expires_at'][:19]:<20} "
                   f"{(tok['last_used_at'] or 'never')[:19]:<20} "
                   f"{tok['last_used_from'] or '':<20} {tok['label'] or ''}"
                   + (f"  scope: {tok['scope']}" if tok["scope"] else ""))


@tokens_group.command("revoke")
@click.argument("token_id", type=click.IntRange(1, 2**63 - 1), metavar="ID")
@actor_option
@click.pass_context
def tokens_revoke(ctx, token_id: int, actor: str) -> None:
    """Revoke one API token by its id.

    It is refused from now on; `dialtone tokens list` shows the ids."""
    from dialtone.engine.store.accounts import revoke_token

    store = open_store(ctx, refresh=False)
    if revoke_token(store, token_id, audit=audit_writer(store), actor=actor):
        click.echo(f"token {token_id} revoked")
    else:
        click.echo(f"token {token_id} was already revoked")
