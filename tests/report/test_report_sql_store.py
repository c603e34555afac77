"""The report reads the real SQL store exactly as it reads the in-memory one."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from sitewatch.report.bundle import collect, read_bundle
from sitewatch.store.base import Store

store_sql = pytest.importorskip("sitewatch.store.sql")


def _copy(src: Any, dst: Store) -> None:
    """Everything in the FakeStore ``src`` into ``dst``."""
    for site in src.list_sites():
        dst.upsert_site(site)
    for scene in src.scenes.values():
        dst.add_scene(scene, sorted(src.scene_sites[scene.id]))
    for (scene_id, detector), dets in src.detections.items():
        dst.replace_detections(scene_id, detector, dets)
    for site_id, counts in src.counts.items():
        dst.replace_counts(site_id, counts)
    dst.upsert_events(src.events.values())
    for site_id, alerts in src.alerts.items():
        dst.replace_alerts(site_id, alerts)
    for run in src.runs:
        dst.record_run(run)


def test_cli_report_from_sqlite_matches_the_fake_store(sim_store, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sitewatch.cli.main import app
    from sitewatch.store import open_store

    db = tmp_path / "sw.db"
    sql = open_store(f"sqlite:///{db}")
    try:
        _copy(sim_store, sql)
    finally:
        sql.close()
    out, bundle = tmp_path / "r.html", tmp_path / "b.json"
    result = CliRunner().invoke(
        app, ["report", "test-site", "--db", str(db), "--out", str(out), "--bundle", str(bundle), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["simulated"] is True
    from_sql = read_bundle(bundle)
    expected = collect(sim_store, "test-site", generated=from_sql.generated)
    assert dataclasses.replace(from_sql, runs=()) == dataclasses.replace(expected, runs=())
    assert {r.id for r in from_sql.runs} >= {r.id for r in expected.runs}
    html = out.read_text()
    assert 'id="simulated-banner"' in html and "alert-1" in html
