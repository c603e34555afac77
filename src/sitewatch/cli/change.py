"""The ``change`` and ``evaluate-change`` commands: before/after comparison of a site."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sitewatch.cli._common import DbOption, JsonOption, console, open_store, user_errors


def register(app: typer.Typer) -> None:
    app.command("change")(change)
    app.command("evaluate-change")(evaluate_change)


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date; give YYYY-MM-DD") from exc


def change(
    site: Annotated[str, typer.Argument(help="Site id.")],
    date_from: Annotated[str, typer.Option("--from", help="Before date (YYYY-MM-DD); the nearest good scene is used.")],
    date_to: Annotated[str, typer.Option("--to", help="After date (YYYY-MM-DD); the nearest good scene is used.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("change"),
    detector: Annotated[
        str | None, typer.Option("--detector", help="Detections of this detector (default: whichever is stored).")
    ] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level of the pixel change test.")] = 1e-3,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare a site between two dates: change map, polygons, object changes and a figure."""
    from sitewatch.change.outputs import write_outputs
    from sitewatch.change.pipeline import compare_site

    with user_errors():
        with open_store(db) as store:
            result = compare_site(store, site, _date(date_from), _date(date_to), detector=detector, alpha=alpha)
        paths = write_outputs(result, out)
    summary = result.summary()
    if as_json:
        typer.echo(json.dumps({**summary, "files": {k: str(p) for k, p in paths.items()}}, indent=1))
        return
    if result.simulated:
        console.print("[bold red]SIMULATED data[/bold red]")
    a = result.pair.alignment
    table = Table(title=f"Change at {site}: {result.before.id} -> {result.after.id}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("before", f"{result.before.acquired:%Y-%m-%d} {result.before.sensor} {result.before.gsd:g} m"),
        ("after", f"{result.after.acquired:%Y-%m-%d} {result.after.sensor} {result.after.gsd:g} m"),
        ("grid", f"{result.grid.width} x {result.grid.height} px at {result.grid.res:g} m"),
        ("shift (px)", f"{a.shift[1]:+.2f} x, {a.shift[0]:+.2f} y"),
        ("residual", f"{a.residual_px:.2f} px ({a.residual_px * result.grid.res:.2f} m), ncc {a.ncc:.2f}"),
        ("compared", f"{summary['valid_fraction']:.1%} of the grid"),
        ("changed", f"{summary['changed_fraction']:.2%} ({summary['changed_area_m2']:.0f} m²)"),
    ]
    rows += [(f"regions: {k}", str(v)) for k, v in result.region_counts().items()]
    rows += [(f"objects: {k}", str(v)) for k, v in result.object_counts().items()]
    if result.tracks:
        dwell = f"{summary['parked_through']} (longest dwell {summary['longest_dwell_days']} d)"
        rows.append(("parked throughout", dwell))
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
    for caveat in result.caveats():
        console.print(f"[yellow]caveat:[/yellow] {caveat}", highlight=False)
    console.print(f"Written to {out}/: " + ", ".join(p.name for k, p in paths.items() if not k.startswith("chip")))


def _fmt(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.3f}"


def evaluate_change(
    sim: Annotated[Path | None, typer.Option("--sim", help="Simulation folder (truth/ objects and scenes).")] = None,
    pairs: Annotated[
        Path | None, typer.Option("--pairs", help="Folder of image pairs with change masks (A/, B/, label/).")
    ] = None,
    detector: Annotated[str | None, typer.Option("--detector", help="Detections of this detector (--sim).")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score change detection: object level on simulator truth, pixel level on labelled pairs."""
    from sitewatch.change.evaluate import evaluate_pairs, evaluate_sim

    if (sim is None) == (pairs is None):
        raise typer.BadParameter("give exactly one of --sim DIR or --pairs DIR")
    with user_errors():
        if sim is not None:
            store = open_store(db) if db else None
            try:
                report = evaluate_sim(sim, store, detector)
            finally:
                if store is not None:
                    store.close()
            doc = report.as_dict()
            title = f"SIMULATED: object change over {report.pairs} scene pairs ({report.source})"
            scores = {"appeared": report.appeared, "departed": report.departed}
        else:
            assert pairs is not None
            preport = evaluate_pairs(pairs)
            doc = preport.as_dict()
            title = f"Pixel change over {len(preport.per_pair)} pairs ({len(preport.skipped)} skipped)"
            scores = {"change": preport.total}
    if as_json:
        typer.echo(json.dumps(doc, indent=1))
        return
    table = Table(title=title)
    for col in ("class", "tp", "fp", "fn", "precision", "recall", "F1", "IoU"):
        table.add_column(col, justify="right")
    for name, s in scores.items():
        table.add_row(name, str(s.tp), str(s.fp), str(s.fn), _fmt(s.precision), _fmt(s.recall), _fmt(s.f1), _fmt(s.iou))
    console.print(table)
