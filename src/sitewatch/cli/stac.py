"""The ``stac`` command: ingest from a STAC catalogue or API, export scenes and detections as STAC."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sitewatch.cli._common import DbOption, JsonOption, console, open_store, print_ingest_report, progress, user_errors

stac_app = typer.Typer(help="STAC catalogues: ingest items, export scenes and detections.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(stac_app, name="stac")


@stac_app.command("ingest")
def ingest(
    source: Annotated[str, typer.Argument(help="catalog.json (or its folder, or an item) or a STAC API URL.")],
    collection: Annotated[list[str] | None, typer.Option("--collection", help="Only these collections.")] = None,
    bbox: Annotated[str | None, typer.Option("--bbox", help="west,south,east,north in degrees.")] = None,
    datetime: Annotated[
        str | None, typer.Option("--datetime", help="A time or range, e.g. 2024-01-01/2024-06-30.")
    ] = None,
    asset: Annotated[
        str | None, typer.Option("--asset", help="Asset key (default: GeoTIFF, role visual/data).")
    ] = None,
    max_items: Annotated[int | None, typer.Option("--max-items", min=1, help="Stop after this many items.")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ingest the image asset of each item; a bad item is reported and skipped (exit code 1)."""
    from sitewatch.config import data_dir
    from sitewatch.imagery.stac import ingest_items, open_items

    with user_errors():
        box = _parse_bbox(bbox) if bbox else None
        with open_store(db) as store:
            items = open_items(source, collections=collection, bbox=box, datetime=datetime, max_items=max_items)
            with progress() as bar:
                task = bar.add_task("stac ingest", total=None)

                def on_progress(done: int, total: int, label: str) -> None:
                    bar.update(task, completed=done, total=total or None, description=label)

                report = ingest_items(
                    store, items, asset=asset, cache=data_dir() / "stac-cache", on_progress=on_progress
                )
    print_ingest_report(report, title="STAC ingest", what="item", as_json=as_json)


@stac_app.command("export")
def export(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the catalogue to.")],
    site: Annotated[list[str] | None, typer.Option("--site", help="Only these site ids (repeatable).")] = None,
    db: DbOption = None,
) -> None:
    """Write scenes (items with view/eo fields) and detections (label-extension items) as STAC."""
    from sitewatch.imagery.stac import export_catalog

    with user_errors(), open_store(db) as store:
        path = export_catalog(store, out_dir, site_ids=site)
    console.print(f"Wrote {path}")


def _parse_bbox(text: str) -> list[float]:
    from sitewatch.errors import InputError

    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 4:
        raise InputError(f"--bbox {text!r} is not four numbers", fix="give west,south,east,north in degrees")
    return values
