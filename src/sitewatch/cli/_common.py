"""Helpers shared by the CLI command modules: console, progress bars, store, errors."""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

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

if TYPE_CHECKING:  # imported lazily at run time so `sitewatch --help` stays fast
    from sitewatch.imagery.ingest import IngestReport
    from sitewatch.store.base import Store

console = Console(stderr=False)
err_console = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", help="Store URL or SQLite path (default: $SITEWATCH_DB or the user data dir).", show_default=False
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
ScoreThresholdOption = Annotated[
    float | None,
    typer.Option(
        "--score-threshold",
        min=0.0,
        max=1.0,
        help="Keep detections scoring at least this, on every scene (default: the model's counting "
        "threshold for real or simulated imagery). Low values feed `calibrate-counts --pick-threshold`.",
        show_default=False,
    ),
]


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


def json_safe(value: object) -> object:
    """NaN (e.g. a metric without ground truth) as null, at any depth of dicts and lists."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


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


def open_store(db: str | None) -> Store:
    """Open the store named by ``--db`` (or the default)."""
    from sitewatch.store import open_store as _open

    return _open(resolve_db_url(db))


def store_of_simulation(db: str | None, sim_dir: Path | None) -> str | None:
    """``--db`` if given, else the store of the demo a simulation folder is in (``OUT/sim`` ->
    ``OUT/sitewatch.db``), else None (the default store)."""
    from sitewatch.pipeline import demo_db_url

    if db is None and sim_dir is not None and (sim_dir.parent / "sitewatch.db").is_file():
        return demo_db_url(sim_dir.parent)
    return db


def print_ingest_report(report: IngestReport, *, title: str, what: str, as_json: bool) -> None:
    """Print an ingest outcome (``what`` names a failed input: "path" or "item"); exit 1 if any failed."""
    if as_json:
        out = {
            "added": report.added,
            "duplicates": report.duplicates,
            "scene_ids": report.scene_ids,
            "failed": [{what: p, "error": msg} for p, msg in report.failed],
        }
        typer.echo(json.dumps(out, indent=1))
    else:
        console.print(
            f"{title}: [green]{report.added} added[/green], {report.duplicates} duplicate(s), "
            f"[{'red' if report.failed else 'green'}]{len(report.failed)} failed[/]."
        )
        for _path, message in report.failed:
            err_console.print(f"[red]failed:[/red] {message}", highlight=False, soft_wrap=True)
    if report.failed:
        raise typer.Exit(1)
