"""The ``ingest`` command: register images (files or folders) as scenes in the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from sitewatch.cli._common import DbOption, JsonOption, console, err_console, open_store, progress, user_errors


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="GeoTIFF files or folders (searched recursively).")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ingest images: hash, metadata, footprint, valid area and covered sites.

    Re-ingesting the same content is a no-op; a bad file is reported and skipped. Exits
    with code 1 if any file failed.
    """
    from sitewatch.imagery.ingest import ingest_paths

    with user_errors():
        store = open_store(db)
        try:
            with progress() as bar:
                task = bar.add_task("ingest", total=None)

                def on_progress(done: int, total: int, label: str) -> None:
                    bar.update(task, completed=done, total=total, description=label)

                report = ingest_paths(store, paths, on_progress=on_progress)
        finally:
            store.close()

    if as_json:
        out = {
            "added": report.added,
            "duplicates": report.duplicates,
            "scene_ids": report.scene_ids,
            "failed": [{"path": p, "error": msg} for p, msg in report.failed],
        }
        typer.echo(json.dumps(out, indent=1))
    else:
        console.print(
            f"Ingested: [green]{report.added} added[/green], {report.duplicates} duplicate(s), "
            f"[{'red' if report.failed else 'green'}]{len(report.failed)} failed[/]."
        )
        for _path, message in report.failed:
            err_console.print(f"[red]failed:[/red] {message}", highlight=False, soft_wrap=True)
    if report.failed:
        raise typer.Exit(1)
