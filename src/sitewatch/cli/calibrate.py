"""``sitewatch calibrate-counts``: fit a detector's count calibration on a processed simulation,
and optionally pick its counting threshold for simulated imagery there."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from sitewatch.cli._common import DbOption, JsonOption, console, fail, open_store, user_errors


def register(app: typer.Typer) -> None:
    app.command("calibrate-counts")(calibrate_counts)


def calibrate_counts(
    sim_dir: Annotated[Path, typer.Argument(help="Simulation folder whose scenes were ingested and detected.")],
    db: DbOption = None,
    detector: Annotated[
        str | None, typer.Option("--detector", help="name@version (default: the one that covered most scenes).")
    ] = None,
    write: Annotated[
        Path | None,
        typer.Option("--write", help="Store the calibration in this model's .json sidecar (same name@version only)."),
    ] = None,
    pick_threshold: Annotated[
        bool,
        typer.Option(
            "--pick-threshold",
            help="Also pick the model's counting threshold for simulated imagery: the candidate with the "
            "least scene count error here (detect the simulation with --score-threshold 0.15 first).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Fit how many detections a visible object yields, per class and by imaging conditions.

    `analyze` then corrects counts from that detector with it. Calibrate on a simulation you
    do not evaluate on (e.g. `sitewatch demo out/calib --seed 1001 --score-threshold 0.15`,
    then `--pick-threshold`), then check the counts with `sitewatch evaluate` on another seed.
    """
    from sitewatch.detect import CALIBRATION_KEY
    from sitewatch.detect.base import applied_threshold
    from sitewatch.detect.onnx import DOMAIN_THRESHOLDS_KEY, counting_thresholds
    from sitewatch.evaluation import calibrate_counts as fit
    from sitewatch.evaluation import pick_simulated_threshold, simulation_run
    from sitewatch.pipeline import demo_db_url

    if db is None and (sim_dir.parent / "sitewatch.db").is_file():
        db = demo_db_url(sim_dir.parent)
    with user_errors(), open_store(db) as store:
        run = simulation_run(store, sim_dir, detector=detector)  # read once, for the pick and the fit
        pick = pick_simulated_threshold(run) if pick_threshold else None
        calibration = fit(run, score_threshold=pick.threshold if pick else None)
    result = calibration.as_dict()
    if write is not None:
        path = write.with_suffix(".json")
        meta = _read_sidecar(path, calibration.detector)
        if pick is not None:
            meta[DOMAIN_THRESHOLDS_KEY] = {**meta.get(DOMAIN_THRESHOLDS_KEY, {}), "simulated": pick.as_dict()}
        elif calibration.score_threshold is None:
            fail(
                f"{path}: the detect run on this simulation did not record its score threshold, so the "
                "calibration cannot be matched to the model's — fix: detect it again (`sitewatch detect --rerun`)"
            )
        elif (used := applied_threshold(counting_thresholds(meta), simulated=True)) != calibration.score_threshold:
            fail(
                f"{path}: the model counts simulated scenes at score {used}, the calibration run kept "
                f"{calibration.score_threshold} — fix: pass --pick-threshold, or detect the simulation "
                "at the model's own thresholds (no --score-threshold)"
            )
        meta[CALIBRATION_KEY] = result
        _write_sidecar(path, meta)
    if as_json:
        typer.echo(json.dumps(result | ({"picked": pick.as_dict()} if pick else {}), indent=2))
        return
    if pick is not None:
        errors = ", ".join(f"{t:g}: {e:.1%}" for t, e in pick.errors)
        console.print(f"[bold]threshold for simulated scenes: {pick.threshold:g}[/bold] (scene count error {errors})")
    console.print(f"[bold]count calibration of {calibration.detector}[/bold] ({calibration.source})")
    console.print("curve: " + ", ".join(f"{k} {v:.3g}" for k, v in calibration.curve.as_dict().items()))
    console.print("yield per class: " + (", ".join(f"{c} {v:.3g}" for c, v in calibration.class_yield) or "none"))
    if calibration.fitted_range:
        seen = ", ".join(f"{name} {lo:g}–{hi:g}" for name, lo, hi in calibration.fitted_range)
        console.print(f"fitted over {seen}; scenes beyond are corrected as at the nearest edge")
    if write is not None:
        console.print(f"written to {write.with_suffix('.json')}")


def _read_sidecar(path: Path, detector: str) -> dict[str, Any]:
    """A model's sidecar, refusing a model other than the calibrated one."""
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        fail(f"{path}: cannot read the model metadata ({exc}) — fix: give the .json beside the model's .onnx")
    name = f"{meta.get('name')}@{meta.get('version', '0')}"
    if name != detector:
        fail(f"{path}: this model is {name}, the calibration is for {detector} — fix: pass --detector {name}")
    return dict(meta)


def _write_sidecar(path: Path, meta: dict[str, Any]) -> None:
    """Replace a model sidecar atomically."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=1) + "\n")
    os.replace(tmp, path)  # atomic: a crash leaves the old sidecar, never half a file
