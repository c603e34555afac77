"""``sitewatch demo``: the whole pipeline on simulated data, ending with HTML reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sitewatch.cli._common import ScoreThresholdOption, console, progress, user_errors


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    out: Annotated[Path, typer.Argument(help="Output folder (simulation, store, reports).")] = Path("out/demo"),
    seed: Annotated[int, typer.Option(help="Simulation seed: the same seed gives the same world.")] = 7,
    sites: Annotated[int, typer.Option(help="Number of simulated sites.")] = 2,
    days: Annotated[int, typer.Option(help="Days simulated (the default keeps the demo under 10 minutes).")] = 120,
    model: Annotated[str | None, typer.Option(help="Detector: model path, 'simple', or the bundled default.")] = None,
    score_threshold: ScoreThresholdOption = None,
) -> None:
    """Simulate sites and scenes, then ingest, detect, analyze and report, all into OUT.

    Everything it writes is marked SIMULATED. It uses its own SQLite store in OUT, so the
    user's store is untouched. At the end it prints where the reports are and how the
    pipeline compares with the simulator's ground truth.
    """
    from rich.progress import TaskID
    from rich.table import Table

    from sitewatch.pipeline import DemoOptions, run_demo

    with user_errors(), progress() as bar:
        tasks: dict[str, TaskID] = {}

        def on_progress(step: str, done: int, total: int, label: str) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total or None)
            bar.update(tasks[step], completed=done, total=total or None, description=f"{step} {label}"[:60])

        options = DemoOptions(seed=seed, sites=sites, days=days, detector=model, score_threshold=score_threshold)
        result = run_demo(out, options, on_progress=on_progress)

    ev = result.evaluation
    table = Table(title="SIMULATED demo: pipeline vs ground truth")
    table.add_column("measure")
    table.add_column("value", justify="right")
    det, cnt, al = ev["detection"], ev["counts"], ev["alerts"]
    rows = [
        ("scenes evaluated", ev["scenes_evaluated"]),
        ("detector", result.summary["detector"]),
        ("detection precision", det["precision"]),
        ("detection recall", det["recall"]),
        ("detections per scene: count error", det["count_error"]),
        ("zone-day count MAE (objects)", cnt["mae"]),
        ("zone-day count MAPE", cnt["mape"]),
        ("corrected counts per zone-day: count error", cnt["count_error"]),
        ("alerts", al["alerts"]),
        ("alert recall (pre-event ramps)", al["recall"]),
        ("alert precision", al["precision"]),
        ("median lead time (days)", al["median_lead_days"]),
    ]
    for name, value in rows:
        table.add_row(name, "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value))
    console.print(table)
    failed = result.summary["detection_failed"]
    if failed:  # left out of every figure above
        console.print(f"[yellow]warning:[/yellow] detection failed on {len(failed)} scenes, e.g. {failed[0]}")
    console.print(f"store: {result.db_url}")
    console.print(f"evaluation: {result.out_dir / 'evaluation.json'}")
    for site_id, path in result.reports.items():
        console.print(f"report ({site_id}): [bold]{path}[/bold]")
