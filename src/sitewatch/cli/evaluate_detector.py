"""PLACEHOLDER: the `evaluate_detector` command (being written)."""

import typer


def register(app: typer.Typer) -> None:
    pass
