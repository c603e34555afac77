"""``sitewatch events``: import event catalogues into the store and list them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from sitewatch.cli._common import DbOption, JsonOption, console, open_store, user_errors

events_app = typer.Typer(
    name="events", help="Real or simulated events (tests, launches) tied to sites.", no_args_is_help=True
)


@events_app.command("import")
def import_(
    file: Annotated[
        Path,
        typer.Argument(help="Catalogue file (nk-missile-tests JSON, CNS CSV, provocations CSV, truth/events.csv)."),
    ],
    fmt: Annotated[
        str | None, typer.Option("--format", help="nk-missile-tests | cns | provocations | sim (default: guessed).")
    ] = None,
    max_km: Annotated[float, typer.Option("--max-km", help="Match a facility to a site within this distance.")] = 5.0,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import events, tie them to stored sites by facility name or distance, and report unknown facilities."""
    from sitewatch.analytics.events import match_sites, read_events

    with user_errors():
        events = read_events(file, fmt)
        with open_store(db) as store:
            result = match_sites(events, store.list_sites(), max_km=max_km)
            n = store.upsert_events(result.events)
    if as_json:
        console.print_json(json.dumps({"imported": n, "matched": result.matched, "unmatched": result.unmatched}))
        return
    console.print(f"{n} event(s) imported, {result.matched} tied to a site")
    if result.unmatched:
        console.print(f"{sum(result.unmatched.values())} event(s) at facilities that match no site:")
        for name, count in result.unmatched.items():
            console.print(f"  {count:4d}  {name}", highlight=False)


@events_app.command("list")
def list_(
    site: Annotated[str | None, typer.Option("--site", help="Only events of this site.")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List stored events (oldest first)."""
    from rich.table import Table

    with user_errors(), open_store(db) as store:
        events = sorted(store.list_events(site), key=lambda e: (e.date, e.id))
    if as_json:
        rows = [
            {
                "id": e.id,
                "date": e.date.isoformat(),
                "kind": e.kind,
                "source": e.source,
                "site_id": e.site_id,
                "facility": e.facility,
                "description": e.description,
                "simulated": e.simulated,
            }
            for e in events
        ]
        console.print_json(json.dumps(rows))
        return
    table = Table("date", "kind", "site", "facility", "source", "description")
    for e in events:
        table.add_row(e.date.isoformat(), e.kind, e.site_id or "-", e.facility or "-", e.source, e.description[:60])
    console.print(table)
    console.print(f"{len(events)} event(s)")


def register(app: typer.Typer) -> None:
    app.add_typer(events_app, name="events")
