"""The ``sites`` command: import/export GeoJSON catalogues, list and show sites, built-in facilities."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sitewatch.cli._common import DbOption, JsonOption, console, fail, open_store, user_errors

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

    from sitewatch.model import Site

sites_app = typer.Typer(
    name="sites",
    help="Site catalogue: import a GeoJSON file, list and show sites, load built-in real facilities.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(sites_app, name="sites")


@sites_app.command("import")
def import_sites(
    file: Annotated[Path, typer.Argument(help="GeoJSON FeatureCollection of sites and zones.")],
    db: DbOption = None,
    fix: Annotated[bool, typer.Option("--fix", help="Repair invalid polygons (shapely.make_valid).")] = False,
) -> None:
    """Import (or update) sites and zones from a GeoJSON file."""
    from sitewatch.sites.geojson import read_sites

    with user_errors():
        sites = read_sites(file, fix=fix)
        with open_store(db) as store:
            for site in sites:
                store.upsert_site(site)
    n_zones = sum(len(s.zones) for s in sites)
    console.print(f"Imported {len(sites)} site(s) with {n_zones} zone(s) from {file}.")


@sites_app.command("export")
def export_sites(
    file: Annotated[Path, typer.Argument(help="GeoJSON file to write.")],
    db: DbOption = None,
) -> None:
    """Write every stored site and zone to a GeoJSON file (readable by `sites import`)."""
    from sitewatch.sites.geojson import write_sites

    with user_errors():
        with open_store(db) as store:
            sites = store.list_sites()
        write_sites(sites, file)
    console.print(f"Wrote {len(sites)} site(s) to {file}.")


@sites_app.command("list")
def list_sites(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List stored sites with their zones and scene counts."""
    from rich.table import Table

    with user_errors(), open_store(db) as store:
        rows = [(s, len(store.list_scenes(site_id=s.id))) for s in store.list_sites()]
    if as_json:
        typer.echo(json.dumps({"sites": [_site_summary(s, n) for s, n in rows]}, indent=1))
        return
    if not rows:
        console.print("No sites yet: run `sitewatch sites import FILE.geojson` or `sitewatch sites builtin --import`.")
        return
    table = Table(title="Sites")
    table.add_column("id", no_wrap=True)
    for col in ("name", "country", "zones", "area km²", "scenes", "simulated"):
        table.add_column(col, justify="right" if col in ("zones", "area km²", "scenes") else "left")
    for s, n in rows:
        table.add_row(
            s.id,
            s.name,
            s.country or "",
            str(len(s.zones)),
            f"{_area_km2(s.aoi):.2f}",
            str(n),
            "SIMULATED" if s.simulated else "",
        )
    console.print(table)


@sites_app.command("show")
def show_site(
    site_id: Annotated[str, typer.Argument(metavar="SITE", help="Site id.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one site: AOI, zones and the scenes that cover it."""
    from rich.table import Table
    from shapely.geometry import mapping

    with user_errors(), open_store(db) as store:
        site = store.get_site(site_id)
        scenes = store.list_scenes(site_id=site_id)
    if as_json:
        out = {
            **_site_summary(site, len(scenes)),
            "aoi": mapping(site.aoi),
            "zones": [
                {
                    "id": z.id,
                    "name": z.name,
                    "kind": z.kind,
                    "area_km2": _area_km2(z.geometry),
                    "geometry": mapping(z.geometry),
                }
                for z in site.zones
            ],
            "scenes": [{"id": sc.id, "acquired": sc.acquired.isoformat(), "sensor": sc.sensor} for sc in scenes],
        }
        typer.echo(json.dumps(out, indent=1))
        return
    mark = " [bold red]SIMULATED[/bold red]" if site.simulated else ""
    console.print(f"[bold]{site.name}[/bold] ({site.id}){mark}")
    lon, lat = site.aoi.centroid.x, site.aoi.centroid.y
    console.print(
        f"country: {site.country or '-'}   centre: {lat:.5f} N, {lon:.5f} E   area: {_area_km2(site.aoi):.2f} km²"
    )
    if site.description:
        console.print(site.description)
    if site.zones:
        table = Table(title="Zones")
        for col in ("id", "name", "kind", "area km²"):
            table.add_column(col)
        for z in site.zones:
            table.add_row(z.id, z.name, z.kind, f"{_area_km2(z.geometry):.3f}")
        console.print(table)
    if scenes:
        first, last = scenes[0].acquired.date(), scenes[-1].acquired.date()
        console.print(f"{len(scenes)} scene(s) from {first} to {last}.")
    else:
        console.print("No scenes cover this site yet: run `sitewatch ingest PATH`.")


@sites_app.command("builtin")
def builtin(
    db: DbOption = None,
    do_import: Annotated[bool, typer.Option("--import", help="Store the built-in sites.")] = False,
    buffer_m: Annotated[float, typer.Option("--buffer-m", help="Half-width (m) of the square AOI.")] = 1000.0,
    as_json: JsonOption = False,
) -> None:
    """List the built-in table of real public facilities (and optionally import them)."""
    from rich.table import Table

    from sitewatch.sites.builtin import FACILITIES, builtin_sites

    if buffer_m <= 0:
        fail(f"--buffer-m must be positive, got {buffer_m} — fix: give a half-width in metres, e.g. 1000")
    sites = builtin_sites(buffer_m)
    if do_import:
        with user_errors(), open_store(db) as store:
            for site in sites:
                store.upsert_site(site)
    if as_json:
        typer.echo(json.dumps({"imported": do_import, "sites": [_site_summary(s) for s in sites]}, indent=1))
        return
    table = Table(title="Built-in facilities")
    for col in ("id", "name", "lat", "lon", "country", "source"):
        table.add_column(col)
    for f in FACILITIES:
        source = f"facility.en.json:{f.facility}" if f.facility else "public reporting (approx.)"
        table.add_row(f.id, f.name, f"{f.lat:.4f}", f"{f.lon:.4f}", f.country, source)
    console.print(table)
    if do_import:
        console.print(f"Imported {len(sites)} site(s) with {buffer_m:g} m half-width AOIs.")


def _area_km2(geom: BaseGeometry) -> float:
    from pyproj import Geod

    area, _ = Geod(ellps="WGS84").geometry_area_perimeter(geom)
    return abs(area) / 1e6


def _site_summary(site: Site, n_scenes: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": site.id,
        "name": site.name,
        "country": site.country,
        "description": site.description,
        "simulated": site.simulated,
        "bounds": list(site.aoi.bounds),
        "area_km2": round(_area_km2(site.aoi), 4),
        "zones": [z.id for z in site.zones],
    }
    if n_scenes is not None:
        out["scenes"] = n_scenes
    return out
