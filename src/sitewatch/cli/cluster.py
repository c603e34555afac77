"""The ``cluster`` command: run ingest, detect and analyze as Dask tasks (local or remote cluster)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from sitewatch.cli._common import DbOption, JsonOption, console, err_console, progress, user_errors
from sitewatch.config import resolve_db_url

cluster_app = typer.Typer(help="Run the pipeline on a Dask cluster.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(cluster_app, name="cluster")


@cluster_app.command("run")
def run(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Images or folders to ingest (for the ingest step).")
    ] = None,
    steps: Annotated[str, typer.Option("--steps", help="Comma-separated steps, run in pipeline order.")] = (
        "ingest,detect,analyze"
    ),
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Local worker processes (default: cores).")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Use a running scheduler, e.g. tcp://10.0.0.5:8786.")
    ] = None,
    site: Annotated[list[str] | None, typer.Option("--site", help="Only these site ids (repeatable).")] = None,
    detector: Annotated[str | None, typer.Option("--detector", help="Model: default, simple, name or .onnx.")] = None,
    rerun: Annotated[bool, typer.Option("--rerun", help="Detect again scenes already done.")] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run the steps as one task per file, scene or site; results go straight to the store.

    Tasks write idempotently, so a killed worker loses nothing and re-running resumes. With
    --scheduler the workers must reach the same images and store (use a PostGIS --db).
    """
    from sitewatch.distributed import dask_client, parse_steps, report_dict, run_steps

    with user_errors():
        chosen = parse_steps(steps)
        url = resolve_db_url(db)
        with dask_client(workers=workers, scheduler=scheduler) as client, progress() as bar:
            task = bar.add_task("cluster", total=None)

            def on_progress(done: int, total: int, label: str) -> None:
                bar.update(task, completed=done, total=total, description=label)

            reports = run_steps(
                client, url, chosen, paths or [], site_ids=site, detector=detector, rerun=rerun, on_progress=on_progress
            )
    if as_json:
        typer.echo(json.dumps(report_dict(reports), indent=1))
    else:
        for r in reports:
            console.print(
                f"{r.step}: {r.done}/{r.tasks} done, {r.items} item(s), {r.duplicates} duplicate(s), "
                f"{len(r.skipped)} skipped, [{'red' if r.failed else 'green'}]{len(r.failed)} failed[/] "
                f"in {r.seconds:.1f} s"
            )
            for key, message in r.failed:
                err_console.print(f"[red]failed:[/red] {key}: {message}", highlight=False, soft_wrap=True)
    if any(r.failed for r in reports):
        raise typer.Exit(1)
