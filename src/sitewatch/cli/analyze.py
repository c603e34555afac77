"""``sitewatch analyze``: counts, baselines and alerts for the store, or for any count CSV."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sitewatch.cli._common import DbOption, JsonOption, console, fail, open_store, progress, user_errors

if TYPE_CHECKING:
    from sitewatch.counts import CountCalibration
    from sitewatch.model import Alert

InputOption = Annotated[Path, typer.Option("--input", "-i", help="CSV with a timestamp and a count column.")]
TimeColOption = Annotated[str | None, typer.Option("--timestamp-col", help="Timestamp column (default: guessed).")]
ValueColOption = Annotated[str | None, typer.Option("--value-col", help="Count column (default: guessed).")]


def _alert_json(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "site_id": alert.site_id,
        "start": alert.start.isoformat(),
        "end": alert.end.isoformat(),
        "score": alert.score,
        "severity": alert.severity,
        "zones": list(alert.zones),
        "classes": list(alert.classes),
        "explanation": alert.explanation,
        "hypotheses": [{"name": h.name, "confidence": h.confidence} for h in alert.hypotheses],
        "caveats": list(alert.caveats),
    }


def _print_alerts(alerts: list[Alert]) -> None:
    from rich.table import Table

    if not alerts:
        console.print("no alerts")
        return
    table = Table("start", "end", "site", "severity", "score", "explanation")
    for a in alerts:
        table.add_row(a.start.isoformat(), a.end.isoformat(), a.site_id, a.severity, f"{a.score:.1f}", a.explanation)
    console.print(table)


def _calibration(model: Path, detector: str | None) -> tuple[CountCalibration, str | None]:
    """The calibration in ``model``'s sidecar and the detector whose detections it corrects."""
    from sitewatch.detect import read_calibration

    with user_errors():
        found = read_calibration(model)
    if found is None:
        fail(
            f"{model.with_suffix('.json')}: no count calibration in this model's metadata — fix: "
            f"sitewatch calibrate-counts SIM_DIR --write {model}"
        )
    if detector is not None and found.detector and detector != found.detector:
        fail(
            f"{model.with_suffix('.json')}: the calibration is for {found.detector}, not {detector} — "
            "fix: drop --detector or give that detector's model"
        )
    return found, detector or found.detector or None


def run(
    ctx: typer.Context,
    db: DbOption = None,
    site: Annotated[list[str] | None, typer.Option("--site", help="Only this site (repeatable).")] = None,
    detector: Annotated[
        str | None, typer.Option("--detector", help="Use this detector's detections (name@version).")
    ] = None,
    calibration: Annotated[
        Path | None,
        typer.Option(
            "--calibration",
            help="Correct counts with the count calibration in this model's .json sidecar "
            "(written by calibrate-counts --write), for a model outside the bundled folder.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Count, fit baselines and raise alerts for the sites in the store (idempotent)."""
    if ctx.invoked_subcommand is not None:
        return
    from sitewatch.analytics.pipeline import analyze_store

    detectability = None
    if calibration is not None:
        detectability, detector = _calibration(calibration, detector)
    with user_errors(), open_store(db) as store, progress() as bar:
        task = bar.add_task("analyze", total=None)

        def step(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=label)

        report = analyze_store(
            store, site_ids=site or None, detector=detector, detectability=detectability, on_progress=step
        )
    if as_json:
        payload = {
            "run_id": report.run_id,
            "sites": report.sites,
            "scenes": report.scenes,
            "counts": report.counts,
            "insufficient": report.insufficient,
            "alerts": [_alert_json(a) for a in report.alerts],
        }
        console.print_json(json.dumps(payload))
        return
    console.print(
        f"{report.sites} site(s), {report.scenes} scene(s), {report.counts} counts "
        f"({report.insufficient} with too little coverage), {len(report.alerts)} alert(s)"
    )
    _print_alerts(report.alerts)


def series(
    input: InputOption,
    timestamp_col: TimeColOption = None,
    value_col: ValueColOption = None,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="CUSUM threshold in nats (default: the rule's).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run the uptick alert engine on any (timestamp, count) CSV."""
    from dataclasses import replace

    from sitewatch.analytics.alerts import NB_CUSUM, build_alerts
    from sitewatch.analytics.baseline import score_observations
    from sitewatch.analytics.series import read_series

    with user_errors():
        obs = read_series(input, timestamp_col=timestamp_col, value_col=value_col)
    rule = NB_CUSUM if threshold is None else replace(NB_CUSUM, threshold=threshold)
    alerts = build_alerts(score_observations(obs), rule, zone_names={("series", "all"): "series"})
    if as_json:
        rows = [
            {
                "start": a.start.isoformat(),
                "end": a.end.isoformat(),
                "score": a.score,
                "severity": a.severity,
                "explanation": a.explanation,
            }
            for a in alerts
        ]
        console.print_json(json.dumps(rows))
        return
    console.print(f"{len(obs)} observations, {len(alerts)} alert(s)")
    _print_alerts(alerts)


def changepoints(
    input: InputOption,
    timestamp_col: TimeColOption = None,
    value_col: ValueColOption = None,
    penalty: Annotated[float | None, typer.Option("--penalty", help="PELT penalty (default: 2·σ̂²·ln n).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Change points of a (timestamp, count) CSV (ruptures PELT, BIC-like penalty)."""
    from sitewatch.analytics.changepoints import find_changepoints
    from sitewatch.analytics.series import read_series

    with user_errors():
        obs = read_series(input, timestamp_col=timestamp_col, value_col=value_col)
        cp = find_changepoints(obs["date"], obs["estimate"], penalty=penalty)
    segments = [
        {"start": s.start.date().isoformat(), "end": s.end.date().isoformat(), "mean": round(s.mean, 3), "n": s.n}
        for s in cp.segments
    ]
    if as_json:
        payload = {
            "penalty": round(cp.penalty, 4),
            "penalty_rule": "2*sigma^2*ln(n) on Anscombe-transformed counts",
            "changepoints": [d.date().isoformat() for d in cp.dates],
            "segments": segments,
        }
        console.print_json(json.dumps(payload))
        return
    console.print(f"penalty {cp.penalty:.2f} (2·σ̂²·ln n, σ̂ = {cp.sigma:.2f}); {len(cp.dates)} change point(s)")
    for s in segments:
        console.print(f"  {s['start']} → {s['end']}: mean {s['mean']:.2f} over {s['n']} observation(s)")


def synchrony(
    db: DbOption = None,
    window_days: Annotated[int, typer.Option("--window-days", help="Alerts this close count as concurrent.")] = 7,
    permutations: Annotated[
        int, typer.Option("--permutations", help="Circular-shift permutations for the null.")
    ] = 999,
    as_json: JsonOption = False,
) -> None:
    """Are alerts at different sites concurrent more often than chance (permutation test)?"""
    import pandas as pd

    from sitewatch.analytics.synchrony import synchrony as run

    with user_errors(), open_store(db) as store:
        alerts = store.list_alerts()
        counts = [c for s in store.list_sites() for c in store.list_counts(s.id)]
    alarms = pd.DataFrame([(a.site_id, pd.Timestamp(a.start)) for a in alerts], columns=["site_id", "date"])
    days = [pd.Timestamp(c.date) for c in counts]
    result = run(
        alarms,
        start=min(days) if days else None,
        end=max(days) if days else None,
        window_days=window_days,
        n_permutations=permutations,
    )
    if as_json:
        console.print_json(
            json.dumps(
                {
                    "statistic": result.statistic,
                    "null_mean": result.null_mean,
                    "p_value": result.p_value,
                    "window_days": result.window_days,
                    "n_permutations": result.n_permutations,
                    "pairs": [list(p) for p in result.pairs],
                }
            )
        )
        return
    console.print(
        f"{result.statistic} pair(s) of alerts at different sites within {window_days} days "
        f"(chance: {result.null_mean:.2f}; permutation p = {result.p_value:.3f})"
    )
    for a, da, b, db_ in result.pairs:
        console.print(f"  {a} {da}  ~  {b} {db_}")


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        name="analyze",
        help="Counts, baselines and uptick alerts (store), or alerts/change points of a count CSV.",
        invoke_without_command=True,
        no_args_is_help=False,
    )
    group.callback(invoke_without_command=True)(run)
    group.command("series")(series)
    group.command("changepoints")(changepoints)
    group.command("synchrony")(synchrony)
    app.add_typer(group, name="analyze")
