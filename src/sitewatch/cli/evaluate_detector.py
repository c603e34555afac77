"""``sitewatch evaluate-detector``: COCO mAP, AP50 per class and count error on a labelled set."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

from sitewatch.cli._common import JsonOption, console, fail, json_safe, progress, user_errors

#: Score threshold for mAP: low, so the precision-recall curve is complete.
EVAL_THRESHOLD = 0.03


def evaluate_detector(
    coco: Annotated[Path, typer.Option("--coco", help="COCO ground-truth JSON.")],
    images: Annotated[Path, typer.Option("--images", help="Folder the COCO file names are relative to.")],
    gsd: Annotated[
        str | None,
        typer.Option(
            "--gsd",
            help="Images' m/px: a number, or 'labels' (estimate from car boxes). "
            "Default: each image's 'gsd' key, else the model's.",
        ),
    ] = None,
    degrade_to: Annotated[
        float | None, typer.Option("--degrade-to", help="First resample images to this coarser GSD (m/px).")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="ONNX model path or name, or 'simple'.")] = None,
    tile_size: Annotated[int | None, typer.Option("--tile-size", help="Tile side in px at the model GSD.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Score the detector on a COCO data set (pycocotools): map50, map50_95, per_class, count_mae, count_error."""
    from rich.table import Table

    from sitewatch.detect import load_detector
    from sitewatch.detect.evaluate import evaluate_coco, format_share

    gsd_value: float | str | None = gsd
    if gsd not in (None, "labels"):
        try:
            gsd_value = float(gsd)  # type: ignore[arg-type]
        except ValueError:
            fail(f"--gsd {gsd!r}: give metres per pixel or 'labels'")
    with user_errors():
        counting = load_detector(model)
        detector = load_detector(model, score_threshold=EVAL_THRESHOLD, ranking=True) if model != "simple" else counting
        with progress() as bar:
            task = bar.add_task("evaluate", total=None)
            metrics = evaluate_coco(
                coco,
                images,
                detector,
                gsd=gsd_value,
                degrade_to=degrade_to,
                tile_size=tile_size,
                count_threshold=getattr(counting, "score_threshold", None),
                on_progress=lambda d, t, label: bar.update(task, completed=d, total=t, description=label),
            )
    synthetic = [c for c in getattr(detector, "synthetic_only_classes", ()) if c in metrics["per_class"]]
    if synthetic:
        metrics["caveat"] = f"{', '.join(synthetic)}: trained on synthetic data only, not validated on real imagery"
    if as_json:
        console.print_json(json.dumps(json_safe(metrics)))
        return
    table = Table(
        title=f"{metrics['detector']} on {coco.name} ({metrics['images']} images, {metrics['objects']} objects)"
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("mAP@0.5", f"{metrics['map50']:.3f}")
    table.add_row("mAP@0.5:0.95", f"{metrics['map50_95']:.3f}")
    for name, ap in metrics["per_class"].items():
        table.add_row(f"AP50 {name}", "n/a" if math.isnan(ap) else f"{ap:.3f}")
    table.add_row(f"count MAE (score ≥ {metrics['count_threshold']})", f"{metrics['count_mae']:.2f}")
    table.add_row("count error (share of the true count)", format_share(metrics["count_error"]))
    console.print(table)
    if metrics["per_source"]:
        by = Table(title="per image source (sources may label their images differently)")
        aps_cols = (f"AP50 {c}" for c in metrics["per_class"])
        for col in ("source", "images", "objects", "mAP@0.5", *aps_cols, "count error"):
            by.add_column(col, justify="left" if col == "source" else "right")
        for source, m in metrics["per_source"].items():
            aps = (
                "n/a" if math.isnan(v) else f"{v:.3f}"
                for v in (m["per_class"].get(c, math.nan) for c in metrics["per_class"])
            )
            by.add_row(
                source, str(m["images"]), str(m["objects"]), f"{m['map50']:.3f}", *aps, format_share(m["count_error"])
            )
        console.print(by)
    if synthetic:
        console.print(f"[yellow]note:[/yellow] {metrics['caveat']}")


def register(app: typer.Typer) -> None:
    app.command("evaluate-detector")(evaluate_detector)
