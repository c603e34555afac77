"""The ``simulate`` command: write a SIMULATED data set (scenes, truth, sites)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from sitewatch.cli._common import JsonOption, console, progress, user_errors
from sitewatch.simulate.layout import MAX_SITES

_SITES_HELP = (
    f"Number of simulated sites (1-{MAX_SITES}; from the 4th on, numbered facilities with no real"
    " counterpart). [default: 2]"
)


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate_cmd(
        out: Annotated[Path, typer.Argument(help="Output folder (created; must be new or empty).")],
        seed: Annotated[int | None, typer.Option(help="Random seed; the same seed gives the same files.")] = None,
        sites: Annotated[
            int | None,
            typer.Option(help=_SITES_HELP),
        ] = None,
        days: Annotated[int | None, typer.Option(help="Length of the period in days. [default: 240]")] = None,
        start: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD. [default: 2024-03-01]")] = None,
        gsd_range: Annotated[
            tuple[float, float] | None,
            typer.Option(help="Smallest and largest scene GSD in metres. [default: 0.3 0.8]"),
        ] = None,
        small: Annotated[bool, typer.Option("--small", help="Tiny fast run: 1 site, 30 days, 0.6-0.8 m GSD.")] = False,
        overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an earlier simulation in OUT.")] = False,
        as_json: JsonOption = False,
    ) -> None:
        """Simulate sites, activity and VHR scenes with full ground truth (all marked SIMULATED)."""
        import dataclasses
        import datetime as dt

        from sitewatch.errors import InputError
        from sitewatch.simulate import SimulationConfig, simulate

        with user_errors():
            cfg = SimulationConfig.small() if small else SimulationConfig()
            changes: dict[str, object] = {
                k: v
                for k, v in {"seed": seed, "sites": sites, "days": days, "gsd_range": gsd_range}.items()
                if v is not None
            }
            if start is not None:
                try:
                    changes["start"] = dt.date.fromisoformat(start)
                except ValueError as exc:
                    raise InputError(f"--start {start!r} is not a date", fix="give it as YYYY-MM-DD") from exc
            cfg = dataclasses.replace(cfg, **changes)  # type: ignore[arg-type]
            with progress() as bar:
                task = bar.add_task("simulating scenes", total=None)

                def step(done: int, total: int, label: str) -> None:
                    bar.update(task, completed=done, total=total, description=label)

                summary = simulate(out, cfg, on_progress=step, overwrite=overwrite)
        result = {
            "simulated": True,
            "out": str(summary.out_dir),
            "seed": cfg.seed,
            "scenes": summary.scenes,
            "scenes_per_site": summary.scenes_per_site,
            "object_rows": summary.objects,
            "events": summary.events,
            "episodes": summary.episodes,
            "seconds": round(summary.seconds, 1),
            "chips": summary.chip_source,
        }
        if as_json:
            console.print_json(json.dumps(result))
            return
        console.print(f"[bold]SIMULATED[/bold] data written to {summary.out_dir}")
        console.print(
            f"  {summary.scenes} scenes ({', '.join(f'{k}: {v}' for k, v in summary.scenes_per_site.items())}), "
            f"{summary.objects} object rows, {summary.events} events, {summary.episodes} episodes "
            f"in {summary.seconds:.0f} s"
        )
        console.print(f"  vehicle looks: {summary.chip_source}")
        console.print(
            f"  next: sitewatch sites import {summary.out_dir / 'sites.geojson'}; "
            f"sitewatch ingest {summary.out_dir / 'scenes'}"
        )
