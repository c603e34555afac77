"""`sitewatch report` writes the HTML and the bundle and reports one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sitewatch.cli import report as report_cli
from sitewatch.store.base import Store


def _app(store: Store, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    monkeypatch.setattr(report_cli, "open_store", lambda db: store)
    app = typer.Typer()
    app.callback()(lambda: None)
    report_cli.register(app)
    return app


def test_cli_writes_html_and_bundle(sim_store, monkeypatch, tmp_path: Path) -> None:
    out, bundle = tmp_path / "r.html", tmp_path / "b.json"
    result = CliRunner().invoke(
        _app(sim_store, monkeypatch), ["report", "test-site", "--out", str(out), "--bundle", str(bundle), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["simulated"] is True and summary["alerts"] == 1 and summary["bytes"] == out.stat().st_size
    assert json.loads(bundle.read_text())["site"]["id"] == "test-site"
    assert "<html" in out.read_text()


def test_cli_unknown_site_is_a_one_line_error(sim_store, monkeypatch, tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(sim_store, monkeypatch), ["report", "nowhere", "--out", str(tmp_path / "x.html")])
    assert result.exit_code == 1
    assert "nowhere" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x.html").exists()
