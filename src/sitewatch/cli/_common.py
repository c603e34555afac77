"""Helpers shared by the CLI command modules: console, progress bars, store, errors."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from sitewatch.config import resolve_db_url
from sitewatch.errors import SitewatchError

console = Console(stderr=False)
err_console = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", help="Store URL or SQLite path (default: $SITEWATCH_DB or the user data dir).", show_default=False
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]


def progress() -> Progress:
    """A Rich progress bar for long work (quiet when stdout is not a terminal)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
        disable=not sys.stderr.isatty(),
    )


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn a :class:`SitewatchError` into a one-line message and exit code 1."""
    try:
        yield
    except SitewatchError as exc:
        fail(str(exc))


def open_store(db: str | None):  # type: ignore[no-untyped-def]
    """Open the store named by ``--db`` (or the default)."""
    from sitewatch.store import open_store as _open  # type: ignore[attr-defined]

    return _open(resolve_db_url(db))
