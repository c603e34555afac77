"""The ``users`` command: create dashboard/API accounts, list them, issue API keys."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from sitewatch.cli._common import DbOption, JsonOption, console, fail, user_errors
from sitewatch.config import resolve_db_url

users_app = typer.Typer(
    name="users",
    help="Accounts of the API server (`sitewatch serve`): add users, list them, create API keys.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")


def _accounts(db: str | None):  # type: ignore[no-untyped-def]
    from sitewatch.api.accounts import Accounts
    from sitewatch.store import open_store

    url = resolve_db_url(db)
    open_store(url).close()  # creates or migrates the database, account tables included
    return Accounts(url)


@users_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, '-', '_', '.').")],
    role: Annotated[
        str, typer.Option(help="viewer (read), analyst (read and write) or admin (and accounts).")
    ] = "viewer",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
    db: DbOption = None,
) -> None:
    """Create a user; the password is prompted for (twice) unless given on stdin."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            fail("the passwords differ; run the command again")
    with user_errors():
        accounts = _accounts(db)
        try:
            user = accounts.add_user(name, password, role)
        finally:
            accounts.close()
    console.print(f"Added user {user.name} with role {user.role}.")


@users_app.command("list")
def list_users(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List users and their roles."""
    import json

    from rich.table import Table

    with user_errors():
        accounts = _accounts(db)
        try:
            users = accounts.list_users()
        finally:
            accounts.close()
    if as_json:
        console.print_json(
            json.dumps(
                [
                    {"name": u.name, "role": u.role, "created": u.created.isoformat(), "disabled": u.disabled}
                    for u in users
                ]
            )
        )
        return
    table = Table("name", "role", "created", "disabled")
    for u in users:
        table.add_row(u.name, u.role, f"{u.created:%Y-%m-%d %H:%M} UTC", "yes" if u.disabled else "")
    console.print(table)


@users_app.command("key")
def key(
    name: Annotated[str, typer.Argument(help="User the key acts as (with that user's role).")],
    label: Annotated[str, typer.Option(help="A note to tell keys apart (e.g. the script using it).")] = "",
    db: DbOption = None,
) -> None:
    """Create an API key for NAME and print it once (send it as the X-API-Key header)."""
    with user_errors():
        accounts = _accounts(db)
        try:
            issued = accounts.issue(name, kind="key", label=label)
        finally:
            accounts.close()
    # The key alone on stdout, so `KEY=$(sitewatch users key NAME)` works; the note goes to stderr.
    typer.echo(issued.secret)
    typer.echo(
        f"API key {issued.id} for {issued.user} ({issued.role}); it is not stored and cannot be shown again.", err=True
    )
