"""``sitewatch evaluate``: compare the store with a simulation's ground truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from sitewatch.cli._common import DbOption, JsonOption, console, open_store, store_of_simulation, user_errors


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)


def evaluate(
    sim_dir: Annotated[Path, typer.Argument(help="Folder written by `sitewatch simulate` (e.g. out/demo/sim).")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Detection precision/recall and scene count error, count MAE/MAPE per class, alert recall/precision/lead time.

    Without --db, a simulation inside a demo folder is compared with that demo's store.
    """
    from rich.table import Table

    from sitewatch.evaluation import evaluate_simulation

    with user_errors(), open_store(store_of_simulation(db, sim_dir)) as store:
        result = evaluate_simulation(store, sim_dir)
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
        return
    det = result["detection"]
    table = Table(title=f"SIMULATED ground truth vs store ({result['scenes_evaluated']} scenes)")
    for col in ("class", "truth", "detected", "precision", "recall", "scene count error", "count MAE", "count MAPE"):
        table.add_column(col, justify="right" if col != "class" else "left")
    counts = result["counts"]["per_class"]
    for cls, m in det["per_class"].items():
        c = counts.get(cls, {})
        table.add_row(
            cls,
            str(m["truth"]),
            str(m["detected"]),
            _f(m["precision"]),
            _f(m["recall"]),
            _f(m["count_error"]),
            _f(c.get("mae")),
            _f(c.get("mape")),
        )
    console.print(table)
    console.print(
        f"detections per scene, all classes: count error {_f(det['count_error'])} of the visible objects "
        f"(median scene {_f(det['median_scene_count_error'])}); counts per zone, class and day are the "
        "calibrated estimates (count MAE, MAPE)"
    )
    al = result["alerts"]
    console.print(
        f"alerts: {al['alerts']} raised, recall {_f(al['recall'])} of {al['episodes']} pre-event ramps, "
        f"precision {_f(al['precision'])}, median lead {_f(al['median_lead_days'])} days"
    )


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"
