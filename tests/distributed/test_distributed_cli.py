"""``sitewatch cluster run``: argument errors are one line and exit 1 before any cluster starts."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from sitewatch.cli import cluster


def _app() -> typer.Typer:
    app = typer.Typer()
    cluster.register(app)
    return app


def test_unknown_step_is_refused(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = CliRunner().invoke(_app(), ["cluster", "run", "--steps", "ingest,train", "--db", db])
    assert result.exit_code == 1
    assert "unknown step(s) train" in result.output and "fix:" in result.output
    assert not (tmp_path / "db.sqlite").exists()  # refused before touching the store


def test_help_lists_the_cluster_options() -> None:
    result = CliRunner().invoke(_app(), ["cluster", "run", "--help"])
    assert result.exit_code == 0
    assert all(opt in result.output for opt in ("--workers", "--scheduler", "--steps"))
