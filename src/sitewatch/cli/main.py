"""The ``sitewatch`` command: assembles one module per command.

Each module in :data:`COMMAND_MODULES` exposes ``register(app)``; heavy imports stay
inside the command functions so ``sitewatch --help`` is fast.
"""

from __future__ import annotations

import importlib

import typer

from sitewatch import __version__

COMMAND_MODULES: tuple[str, ...] = (
    "sites",
    "simulate",
    "ingest",
    "detect",
    "train",
    "evaluate_detector",
    "analyze",
    "events",
    "backtest",
    "change",
    "passes",
    "report",
    "evaluate",
    "calibrate",
    "demo",
    "serve",
    "users",
    "stac",
    "cluster",
)

app = typer.Typer(
    name="sitewatch",
    help=(
        "Activity-based monitoring of facilities from satellite imagery time series.\n\n"
        "Pipeline: sites import -> ingest -> detect -> analyze -> report. "
        "`sitewatch demo` runs it all on simulated data."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Markdown mode reflows wrapped docstring lines into paragraphs (rich mode keeps the breaks).
    rich_markup_mode="markdown",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sitewatch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """sitewatch command line."""


for _name in COMMAND_MODULES:
    importlib.import_module(f"sitewatch.cli.{_name}").register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
