"""``sitewatch detect``: detect vehicles in stored scenes, or in image files to GeoJSON/GeoParquet/COCO."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sitewatch.cli._common import (
    DbOption,
    ScoreThresholdOption,
    console,
    err_console,
    fail,
    open_store,
    progress,
    user_errors,
)

if TYPE_CHECKING:
    from sitewatch.detect.base import Detector

FORMATS = ("geojson", "parquet", "coco")
IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".jp2")


def _bands(value: str | None) -> tuple[int, ...] | None:
    if not value:
        return None
    try:
        return tuple(int(v) for v in value.split(","))
    except ValueError:
        fail(f"--bands {value!r}: give band numbers like 5,3,2")


def detect(
    image: Annotated[
        Path | None, typer.Argument(help="Image file or folder; without it, detect on the store's scenes.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output file (with IMAGE_OR_DIR).")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="geojson | parquet | coco.")] = "geojson",
    db: DbOption = None,
    site: Annotated[list[str] | None, typer.Option("--site", help="Only these sites (repeatable).")] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="ONNX model path or name, or 'simple' (classical stand-in).")
    ] = None,
    rerun: Annotated[bool, typer.Option("--rerun", help="Redo scenes already detected by this model.")] = False,
    tile_size: Annotated[int | None, typer.Option("--tile-size", help="Tile side in px at the model GSD.")] = None,
    overlap: Annotated[int | None, typer.Option("--overlap", help="Tile overlap in px at the model GSD.")] = None,
    bands: Annotated[str | None, typer.Option("--bands", help="R,G,B band numbers, e.g. 5,3,2.")] = None,
    gsd: Annotated[float | None, typer.Option("--gsd", help="Image GSD (m/px) when the file has none.")] = None,
    score_threshold: ScoreThresholdOption = None,
) -> None:
    """Detect vehicles: on stored scenes (default) or on IMAGE_OR_DIR into --out."""
    from sitewatch.detect import load_detector

    with user_errors():
        detector = load_detector(model, score_threshold=score_threshold)
        if image is None:
            _detect_store(db, detector, site, rerun)
            return
        if out is None:
            fail("--out FILE is needed with IMAGE_OR_DIR")
        if fmt not in FORMATS:
            fail(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
        _detect_files(image, out, fmt, detector, tile_size=tile_size, overlap=overlap, bands=_bands(bands), gsd=gsd)


def _detect_store(db: str | None, detector: Detector, sites: list[str] | None, rerun: bool) -> None:
    from sitewatch.detect.pipeline import detect_store

    with open_store(db) as store, progress() as bar:
        task = bar.add_task("detect", total=None)

        def step(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=f"detect {label}")

        report = detect_store(store, detector, site_ids=sites or None, rerun=rerun, on_progress=step)
    console.print(
        f"{detector.name}: {report.detections} detections in {report.scenes} scenes; "
        f"{len(report.skipped)} skipped, {len(report.failed)} failed"
    )
    _synthetic_caveat(detector)
    for scene_id, reason in report.skipped:
        console.print(f"  skipped {scene_id}: {reason}", highlight=False, soft_wrap=True)
    for scene_id, reason in report.failed:
        err_console.print(f"  [red]failed[/red] {scene_id}: {reason}", highlight=False, soft_wrap=True)
    if report.failed and not report.scenes:
        raise typer.Exit(1)


def _synthetic_caveat(detector: Detector) -> None:
    synthetic = getattr(detector, "synthetic_only_classes", ())
    if synthetic:
        console.print(
            f"[yellow]note:[/yellow] {', '.join(synthetic)} were trained on synthetic data only "
            "(not validated on real imagery)."
        )


def _images(path: Path) -> list[Path]:
    if path.is_dir():
        files = [p for p in sorted(path.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES]
        files = [p for p in files if not p.stem.endswith(".cloud")]
        if not files:
            fail(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        return files
    return [path]


def _detect_files(path: Path, out: Path, fmt: str, detector: Detector, **options: Any) -> None:
    from sitewatch.detect import outputs
    from sitewatch.detect.base import for_imagery
    from sitewatch.detect.slicing import detect_image, detect_raster
    from sitewatch.errors import SitewatchError
    from sitewatch.imagery.metadata import read_metadata
    from sitewatch.imagery.raster import open_raster

    files = _images(path)
    results: list[outputs.ImageResult] = []
    failed = 0
    with progress() as bar:
        task = bar.add_task("detect", total=len(files))
        for f in files:
            bar.update(task, description=f"detect {f.name}")
            try:
                with open_raster(f, require_georef=False) as ds:
                    georef = ds.crs is not None and not ds.transform.is_identity
                    info = outputs.ImageResult.describe(f, ds)
                    try:  # a simulated scene (its sidecar says so) counts at the model's simulated threshold
                        simulated = georef and read_metadata(f, ds).simulated
                    except SitewatchError:
                        simulated = False  # no usable metadata: real imagery
                chosen = for_imagery(detector, simulated=simulated)
                info = replace(info, score_threshold=getattr(chosen, "score_threshold", None))
                if georef:
                    dets = detect_raster(f, chosen, **options)
                    results.append(info.with_detections(dets))
                else:
                    assumed = options["gsd"] is None
                    err_console.print(
                        f"[yellow]warning:[/yellow] {f}: not georeferenced: pixel coordinates only"
                        + (f"; GSD assumed {detector.gsd} m/px (pass --gsd)" if assumed else ""),
                        highlight=False,
                        soft_wrap=True,
                    )
                    results.append(info.with_boxes(detect_image(f, chosen, **options)))
            except SitewatchError as exc:
                failed += 1
                err_console.print(f"[red]skipped[/red] {exc}", highlight=False, soft_wrap=True)
            bar.advance(task)
    if not results:
        fail("no image could be processed")
    n = outputs.write(results, out, fmt, detector)
    console.print(
        f"{n} detections in {len(results)} images -> {out} ({fmt})" + (f"; {failed} skipped" if failed else "")
    )
    _synthetic_caveat(detector)


def register(app: typer.Typer) -> None:
    app.command("detect")(detect)
