"""``sitewatch passes``: when Earth-observation satellites can image a site.

Prints a table of predicted passes and optionally writes JSON and iCalendar files.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sitewatch.cli._common import DbOption, console, err_console, open_store, user_errors
from sitewatch.errors import PlanningError

if TYPE_CHECKING:
    from sitewatch.planning.passes import Pass

_LATLON = re.compile(r"^\s*([-+]?\d+(?:\.\d*)?)\s*,\s*([-+]?\d+(?:\.\d*)?)\s*$")


@dataclasses.dataclass(frozen=True)
class _Target:
    label: str
    lat: float
    lon: float
    simulated: bool = False


def _parse_time(value: str, option: str) -> dt.datetime:
    """ISO date or date-time; without a zone it is taken as UTC."""
    try:
        t = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise PlanningError(
            f"{option} {value!r} is not an ISO date or time", fix="use e.g. 2026-05-30 or 2026-05-30T06:00Z"
        ) from None
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def _target(spec: str, db: str | None) -> _Target:
    match = _LATLON.match(spec)
    if match:
        return _Target(spec.strip(), float(match[1]), float(match[2]))
    from sitewatch.planning.passes import site_location

    with open_store(db) as store:
        site = store.get_site(spec)
    lat, lon = site_location(site)
    return _Target(f"{site.name} ({site.id})", lat, lon, site.simulated)


def _short_name(p: Pass) -> str:
    """ "WORLDVIEW-3 (WV-3)" -> "WORLDVIEW-3", but "ARIRANG-3 (KOMPSAT-3)" -> "KOMPSAT-3" (the sensor's name)."""
    name, _, alias = p.satellite.partition(" (")
    alias = alias.rstrip(")")
    return alias if alias.upper() == p.sensor.upper() else name


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def passes(
    site: Annotated[
        str, typer.Argument(help="Stored site id, or LAT,LON in degrees (use `--` before a negative LAT).")
    ],
    start: Annotated[str | None, typer.Option("--from", help="Start, ISO date/time in UTC (default: now).")] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="End, ISO date/time in UTC (default: start + 3 days).")
    ] = None,
    sat: Annotated[
        list[str] | None,
        typer.Option("--sat", help="Satellite or sensor name, glob or NORAD id (repeatable; default: all known)."),
    ] = None,
    tle: Annotated[Path | None, typer.Option("--tle", help="TLE file (default: the shared resource.tle).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the passes as JSON to this file.")] = None,
    ics: Annotated[Path | None, typer.Option("--ics", help="Write the passes as an iCalendar file.")] = None,
    db: DbOption = None,
    min_elevation: Annotated[
        float, typer.Option("--min-elevation", help="Skip passes that stay below this elevation (degrees).")
    ] = 20.0,
    feasible_only: Annotated[bool, typer.Option("--feasible-only", help="Show only passes that can image.")] = False,
    next_only: Annotated[
        bool, typer.Option("--next", help="Tasking hint: only the next feasible pass of each satellite.")
    ] = False,
    allow_stale: Annotated[
        bool, typer.Option("--allow-stale", help="Predict even with element sets more than 30 days old.")
    ] = False,
) -> None:
    """Predict satellite passes over SITE: off-nadir, sun elevation, GSD and whether imaging is feasible."""
    from rich import box
    from rich.table import Table

    from sitewatch.planning.ics import write_ics
    from sitewatch.planning.passes import next_feasible, predict_passes
    from sitewatch.planning.tle import check_ages, default_tle_path, read_tle, select_satellites

    with user_errors():
        t0 = _parse_time(start, "--from") if start else dt.datetime.now(dt.UTC).replace(microsecond=0)
        t1 = _parse_time(end, "--to") if end else t0 + dt.timedelta(days=3)
        if t1 <= t0:
            raise PlanningError(f"--to {t1.isoformat()} is not after --from {t0.isoformat()}", fix="swap them")
        target = _target(site, db)
        tle_path = tle or default_tle_path()
        satellites = select_satellites(read_tle(tle_path), sat)
        warnings = check_ages(satellites, t0, t1, allow_stale=allow_stale)
        found = predict_passes(satellites, target.lat, target.lon, t0, t1, min_elevation=min_elevation)
    shown = next_feasible(found) if next_only else [p for p in found if p.feasible] if feasible_only else found

    for w in warnings:
        err_console.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
    prefix = "SIMULATED site — " if target.simulated else ""
    table = Table(
        title=f"{prefix}Passes over {target.label} ({target.lat:.4f}, {target.lon:.4f})",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("satellite", no_wrap=True)
    table.add_column("time UTC", no_wrap=True)
    for col in ("off-nadir°", "elev°", "sun°", "GSD m"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("feasible")
    for p in shown:
        table.add_row(
            _short_name(p),
            f"{p.time:%Y-%m-%d %H:%M}",
            f"{p.off_nadir:.1f}",
            f"{p.elevation:.1f}",
            f"{p.sun_elevation:.1f}",
            f"{p.gsd:.2f}",
            "[green]yes[/green]" if p.feasible else f"no: {p.reason}",
        )
    console.print(table)
    n_ok = sum(p.feasible for p in found)
    console.print(f"{len(found)} passes above {min_elevation:.0f}° elevation, {n_ok} feasible; TLE: {tle_path}")

    if json_out:
        doc = {
            "simulated": target.simulated,
            "site": dataclasses.asdict(target),
            "from": t0.isoformat(),
            "to": t1.isoformat(),
            "tle": str(tle_path),
            "warnings": warnings,
            "passes": [{k: _jsonable(v) for k, v in dataclasses.asdict(p).items()} for p in shown],
        }
        json_out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        console.print(f"wrote {json_out}")
    if ics:
        write_ics(shown, f"{prefix}{target.label}", ics)
        console.print(f"wrote {ics}")


def register(app: typer.Typer) -> None:
    app.command("passes")(passes)
