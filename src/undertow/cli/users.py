"""`undertow user add|list|disable|enable|token|revoke`: accounts for the review app and API."""

from __future__ import annotations

import sys
from typing import Annotated

import orjson
import typer

from undertow.cli.common import err, open_store_or_exit, state
from undertow.triage import audit
from undertow.web.users import (
    ROLES,
    UserError,
    add_user,
    create_token,
    list_users,
    revoke_tokens,
    set_disabled,
)

user_app = typer.Typer(
    help="Users of the review app and API: roles admin, reviewer, viewer.", no_args_is_help=True
)


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}")
    return typer.Exit(2)


@user_app.command("add")
def user_add(
    username: str,
    role: Annotated[str, typer.Option(help=", ".join(ROLES))] = "reviewer",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add a user; the password is asked for twice (or read from stdin)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    store = open_store_or_exit(state.settings())
    try:
        user = add_user(store, username, password, role, actor=audit.cli_actor())
    except UserError as exc:
        raise _fail(exc) from exc
    finally:
        store.close()
    typer.echo(f"added {user.username} ({user.role})")


@user_app.command("list")
def user_list() -> None:
    """Every user as JSON Lines (no password hashes)."""
    store = open_store_or_exit(state.settings())
    try:
        for user in list_users(store):
            row = {"username": user.username, "role": user.role, "disabled": user.disabled,
                   "created_at": user.created_at}  # fmt: skip
            typer.echo(orjson.dumps(row).decode())
    finally:
        store.close()


def _set(username: str, disabled: bool) -> None:
    store = open_store_or_exit(state.settings())
    try:
        set_disabled(store, username, disabled, actor=audit.cli_actor())
    except UserError as exc:
        raise _fail(exc) from exc
    finally:
        store.close()
    typer.echo(f"{'disabled' if disabled else 'enabled'} {username}")


@user_app.command("disable")
def user_disable(username: str) -> None:
    """Disable a user: no login, no API token works for them."""
    _set(username, True)


@user_app.command("enable")
def user_enable(username: str) -> None:
    """Enable a disabled user again."""
    _set(username, False)


@user_app.command("token")
def user_token(
    username: str, name: Annotated[str, typer.Option(help="What the token is for.")] = "script"
) -> None:
    """Issue an API token (printed once: keep it safe)."""
    store = open_store_or_exit(state.settings())
    try:
        token = create_token(store, username, name, actor=audit.cli_actor())
    except UserError as exc:
        raise _fail(exc) from exc
    finally:
        store.close()
    typer.echo(token)


@user_app.command("revoke")
def user_revoke(username: str) -> None:
    """Revoke every API token of a user."""
    store = open_store_or_exit(state.settings())
    try:
        count = revoke_tokens(store, username, actor=audit.cli_actor())
    except UserError as exc:
        raise _fail(exc) from exc
    finally:
        store.close()
    typer.echo(f"revoked {count} token(s) of {username}")
