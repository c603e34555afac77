"""``sitewatch backtest``: walk-forward evaluation of the alert rules against known events."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from sitewatch.cli._common import (
    DbOption,
    JsonOption,
    console,
    fail,
    json_safe,
    open_store,
    progress,
    store_of_simulation,
    user_errors,
)


def _num(x: float, fmt: str = ".2f") -> str:
    return "-" if math.isnan(x) else format(x, fmt)


def backtest(
    db: DbOption = None,
    sim: Annotated[
        Path | None, typer.Option("--sim", help="Simulation folder: use its truth/events.csv and episodes.csv.")
    ] = None,
    site: Annotated[list[str] | None, typer.Option("--site", help="Only this site (repeatable).")] = None,
    horizon_days: Annotated[
        int, typer.Option("--horizon-days", help="Target window before an event without episode truth.")
    ] = 21,
    step_days: Annotated[
        int | None, typer.Option("--step-days", help="Refit at cuts every N days (slower; same result).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Precision, recall, median lead and false alarms per site-year, per rule, vs a rolling z-score.

    Without --db, a --sim folder inside a demo folder is scored on that demo's store.
    """
    from sitewatch.analytics.backtest import backtest as run_backtest
    from sitewatch.analytics.backtest import read_sim_truth
    from sitewatch.analytics.series import counts_frame, with_zone_totals

    with user_errors():
        with open_store(store_of_simulation(db, sim)) as store:
            sites = [store.get_site(s) for s in site] if site else store.list_sites()
            counts = [c for s in sites for c in store.list_counts(s.id)]
            if sim is not None:
                events, episodes = read_sim_truth(sim)
            else:
                events, episodes = store.list_events(), None
        if not counts:
            fail("no counts in the store — fix: run `sitewatch analyze` first")
        obs = with_zone_totals(counts_frame(counts))
        kinds = {(s.id, z.id): z.kind for s in sites for z in s.zones}
        with progress() as bar:
            task = bar.add_task("backtest", total=None)
            scores = run_backtest(
                obs,
                events,
                episodes=episodes,
                zone_kinds=kinds,
                horizon_days=horizon_days,
                step_days=step_days,
                on_progress=lambda d, t, label: bar.update(task, completed=d, total=t, description=label),
            )
    simulated = any(s.simulated for s in sites) or sim is not None
    if as_json:
        console.print_json(json.dumps(json_safe({"simulated": simulated, "rules": [asdict(s) for s in scores]})))
        return
    from rich.table import Table

    title = "back-test (SIMULATED data)" if simulated else "back-test"
    table = Table("rule", "alarms", "precision", "recall", "median lead (d)", "false alarms / site-year", title=title)
    for s in scores:
        table.add_row(
            s.rule,
            str(s.alarms),
            _num(s.precision),
            f"{_num(s.recall)} ({s.detected}/{s.targets})",
            _num(s.median_lead_days, ".1f"),
            _num(s.false_alarms_per_site_year),
        )
    console.print(table)
    if scores:
        console.print(f"{scores[0].site_years:.2f} site-years observed; alarms use data up to their own day only.")


def register(app: typer.Typer) -> None:
    app.command("backtest")(backtest)
