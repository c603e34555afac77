"""`sitewatch users` and `sitewatch serve`, through a Typer app holding just these commands."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from sitewatch.api.accounts import Accounts
from sitewatch.cli import serve, users


def _app() -> typer.Typer:
    app = typer.Typer()
    users.register(app)
    serve.register(app)
    return app


def test_users_add_list_and_key(tmp_path):
    db = str(tmp_path / "s.db")
    runner = CliRunner()
    r = runner.invoke(
        _app(),
        ["users", "add", "alice", "--role", "admin", "--password-stdin", "--db", db],
        input="a long enough password\n",
    )
    assert r.exit_code == 0, r.output
    assert "Added user alice with role admin" in r.output

    r = runner.invoke(_app(), ["users", "add", "alice", "--password-stdin", "--db", db], input="another password\n")
    assert r.exit_code == 1 and "already exists" in r.output

    r = runner.invoke(_app(), ["users", "add", "bob", "--password-stdin", "--db", db], input="short\n")
    assert r.exit_code == 1 and "shorter than 10" in r.output

    r = runner.invoke(
        _app(),
        ["users", "add", "carol", "--role", "boss", "--password-stdin", "--db", db],
        input="a long enough password\n",
    )
    assert r.exit_code == 1 and "unknown role 'boss'" in r.output

    r = runner.invoke(_app(), ["users", "list", "--json", "--db", db])
    assert r.exit_code == 0
    assert '"name": "alice"' in r.output and '"role": "admin"' in r.output

    r = runner.invoke(_app(), ["users", "key", "alice", "--db", db])
    assert r.exit_code == 0
    key = r.stdout.strip().splitlines()[0]
    accounts = Accounts(f"sqlite:///{tmp_path / 's.db'}")
    try:
        who = accounts.resolve(key)
        assert who is not None and (who.user, who.role, who.via) == ("alice", "admin", "key")
        assert accounts.authenticate("alice", "a long enough password") is not None
        assert accounts.authenticate("alice", "wrong password!") is None
    finally:
        accounts.close()

    r = runner.invoke(_app(), ["users", "key", "nobody", "--db", db])
    assert r.exit_code == 1 and "no user 'nobody'" in r.output


def test_serve_help_names_the_defaults():
    r = CliRunner().invoke(_app(), ["serve", "--help"])
    assert r.exit_code == 0
    assert "127.0.0.1" in r.output and "8000" in r.output
