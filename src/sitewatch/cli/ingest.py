"""The ``ingest`` command: register images (files or folders) as scenes in the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sitewatch.cli._common import DbOption, JsonOption, open_store, print_ingest_report, progress, user_errors


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

    with user_errors(), open_store(db) as store, progress() as bar:
        task = bar.add_task("ingest", total=None)

        def on_progress(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=label)

        report = ingest_paths(store, paths, on_progress=on_progress)

    print_ingest_report(report, title="Ingested", what="path", as_json=as_json)
