"""``sitewatch simulate`` through Typer's test runner."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from sitewatch.cli.main import app

runner = CliRunner()


def test_simulate_command_writes_a_simulation(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    res = runner.invoke(
        app, ["simulate", str(out), "--small", "--days", "7", "--seed", "3", "--gsd-range", "0.7", "0.8", "--json"]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["simulated"] is True and summary["scenes"] >= 1
    assert (out / "SIMULATED.txt").exists() and (out / "truth" / "objects.csv").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["days"] == 7 and manifest["gsd_range"] == [0.7, 0.8]
    with (out / "truth" / "scenes.csv").open(newline="") as f:
        assert all(0.7 <= float(row["gsd"]) <= 0.8 for row in csv.DictReader(f))
    again = runner.invoke(app, ["simulate", str(out), "--small", "--days", "7"])
    assert again.exit_code == 1 and "not empty" in again.output and "--overwrite" in again.output


def test_simulate_rejects_bad_options(tmp_path: Path) -> None:
    res = runner.invoke(app, ["simulate", str(tmp_path / "a"), "--start", "March"])
    assert res.exit_code == 1 and "YYYY-MM-DD" in res.output
    res = runner.invoke(app, ["simulate", str(tmp_path / "b"), "--sites", "61"])
    assert res.exit_code == 1 and "--sites" in res.output
