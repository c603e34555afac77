"""The ``report`` command: the self-contained HTML evidence report (and JSON bundle) of one site."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from sitewatch.cli._common import DbOption, JsonOption, console, open_store, user_errors


def register(app: typer.Typer) -> None:
    app.command("report")(report)


def report(
    site: Annotated[str, typer.Argument(help="Id of the site to report on.", show_default=False)],
    db: DbOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="HTML file to write (default: sitewatch-SITE.html).")
    ] = None,
    bundle: Annotated[
        Path | None, typer.Option("--bundle", help="Also write the JSON evidence bundle to this file.")
    ] = None,
    detector: Annotated[
        str | None,
        typer.Option("--detector", help="Whose boxes to draw (name@version; default: the one with most detections)."),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Write one self-contained HTML evidence report for SITE: map, timelines, alerts, coverage, provenance."""
    from sitewatch.report.bundle import collect, write_bundle
    from sitewatch.report.html import write_report

    html_path = out or Path(f"sitewatch-{site}.html")
    with user_errors(), open_store(db) as store:
        evidence = collect(store, site)
        written = write_report(store, site, html_path, detector=detector, evidence=evidence)
        bundle_path = write_bundle(evidence, bundle) if bundle else None
    size = written.stat().st_size
    summary = {
        "site": site,
        "html": str(written),
        "bytes": size,
        "bundle": str(bundle_path) if bundle_path else None,
        "simulated": evidence.simulated,
        "scenes": len(evidence.scenes),
        "alerts": len(evidence.alerts),
    }
    if json_out:
        typer.echo(json.dumps(summary))
        return
    flag = " [bold red]SIMULATED[/bold red]" if evidence.simulated else ""
    console.print(
        f"wrote {written} ({size / 1e6:.1f} MB):{flag} {summary['scenes']} scene(s), {summary['alerts']} alert(s)"
    )
    if bundle_path:
        console.print(f"wrote {bundle_path}")
