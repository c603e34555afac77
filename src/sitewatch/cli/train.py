"""``sitewatch train``: train the detector from a YAML config and export it to ONNX."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from sitewatch.cli._common import console, user_errors


def train(
    config: Annotated[Path, typer.Option("--config", "-c", help="Training config YAML (see configs/).")],
    steps: Annotated[int | None, typer.Option(help="Override the number of steps.")] = None,
    minutes: Annotated[float | None, typer.Option(help="Override the wall-clock budget (minutes).")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out-dir", help="Override where checkpoints go.")] = None,
    export_dir: Annotated[Path | None, typer.Option("--export-dir", help="Override where the ONNX model goes.")] = None,
    export_only: Annotated[
        bool,
        typer.Option("--export-only", help="Do not train: validate and export the best checkpoint already in out_dir."),
    ] = False,
) -> None:
    """Train the small-vehicle detector (needs torch, from the 'train' extra)."""
    import logging

    with user_errors():
        from sitewatch.detect.train import load_config
        from sitewatch.detect.train import train as run

        # The command recorded in the model card is the one that trained it.
        args = [a for a in sys.argv[2:] if a != "--export-only"]
        command = "sitewatch train " + shlex.join(args) if args else ""
        cfg = load_config(
            config, steps=steps, minutes=minutes, out_dir=out_dir, export_dir=export_dir, command=command or None
        )
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        onnx_path = run(
            cfg, on_log=lambda msg: console.print(msg, highlight=False, soft_wrap=True), export_only=export_only
        )
    console.print(
        f"exported {onnx_path} (+ {onnx_path.with_suffix('.json').name}, {onnx_path.with_suffix('.md').name})"
    )


def register(app: typer.Typer) -> None:
    app.command("train")(train)
