"""The whole pipeline on a tiny simulation, through the CLI a new user types (issue 3's end-to-end test)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sitewatch.cli.main import app
from sitewatch.detect import DEFAULT_MODEL, MODELS_DIR
from sitewatch.detect.evaluate import COUNT_THRESHOLDS
from sitewatch.detect.onnx import OnnxDetector
from sitewatch.errors import InputError
from sitewatch.evaluation import (
    calibrate_counts,
    detection_metrics,
    pick_simulated_threshold,
    read_truth,
    simulation_run,
)
from sitewatch.pipeline import demo_db_url
from sitewatch.store import open_store
from sitewatch.store.base import RunRecord

runner = CliRunner()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    result = runner.invoke(app, ["demo", str(out), "--sites", "1", "--days", "12", "--seed", "3"])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
def test_demo_writes_marked_reports_and_real_figures(demo: Path) -> None:
    reports = sorted(demo.glob("report-*.html"))
    assert reports, "the demo wrote no report"
    html = reports[0].read_text()
    assert "SIMULATED" in html and "http://" not in html.replace("http://www.w3.org", "")  # self-contained
    evaluation = json.loads((demo / "evaluation.json").read_text())
    assert evaluation["simulated"] is True
    det = evaluation["detection"]
    assert det["truth"] > 0 and 0.0 <= (det["recall"] or 0.0) <= 1.0
    assert det["count_error"] >= 0 and set(det["per_class"]["car"]) >= {"count_error", "precision", "recall"}
    assert evaluation["counts"]["n"] > 0 and evaluation["counts"]["mae"] is not None
    assert set(evaluation["alerts"]) >= {"recall", "precision", "median_lead_days", "episodes"}
    # The CLI gives the same figures from the demo's own store.
    cli = runner.invoke(app, ["evaluate", str(demo / "sim"), "--json"])
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.output)["detection"] == det


@pytest.mark.slow
def test_calibrate_counts_writes_only_the_matching_model(demo: Path, tmp_path: Path) -> None:
    model = tmp_path / f"{DEFAULT_MODEL}.onnx"
    shutil.copy(MODELS_DIR / f"{DEFAULT_MODEL}.json", model.with_suffix(".json"))
    result = runner.invoke(app, ["calibrate-counts", str(demo / "sim"), "--json", "--write", str(model)])
    assert result.exit_code == 0, result.output
    cal = json.loads(result.output)
    meta = json.loads(model.with_suffix(".json").read_text())
    assert cal["detector"] == f"{meta['name']}@{meta['version']}"
    assert meta["count_calibration"] == cal and "SIMULATED" in cal["source"]
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"name": "other", "version": "1"}))
    refused = runner.invoke(app, ["calibrate-counts", str(demo / "sim"), "--write", str(other)])
    assert refused.exit_code == 1 and "other@1" in refused.output
    assert "count_calibration" not in json.loads(other.read_text())


@pytest.fixture(scope="module")
def demo_low(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same world detected with every box down to score 0.15, as a calibration run is."""
    out = tmp_path_factory.mktemp("demo-low")
    args = ["demo", str(out), "--sites", "1", "--days", "12", "--seed", "3", "--score-threshold", "0.15"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
def test_calibrate_counts_picks_the_threshold_for_simulated_scenes(demo_low: Path, tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    shutil.copy(MODELS_DIR / f"{DEFAULT_MODEL}.onnx", model)
    shutil.copy(MODELS_DIR / f"{DEFAULT_MODEL}.json", model.with_suffix(".json"))
    before = model.with_suffix(".json").read_text()
    # Calibrated on every box down to 0.15, while the model counts simulated scenes higher: refused.
    refused = runner.invoke(app, ["calibrate-counts", str(demo_low / "sim"), "--write", str(model)])
    assert refused.exit_code == 1 and "--pick-threshold" in refused.output
    assert model.with_suffix(".json").read_text() == before
    args = ["calibrate-counts", str(demo_low / "sim"), "--pick-threshold", "--json", "--write", str(model)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    picked = out["picked"]["threshold"]
    # The least count error over the candidates, recomputed from the demo's store and truth.
    with open_store(demo_db_url(demo_low)) as store:
        truth = read_truth(demo_low / "sim")
        gsd = {s.id: s.gsd for s in store.list_scenes()}
        dets = store.list_detections()
    errors = {
        t: detection_metrics(truth.objects, [d for d in dets if d.score >= t], gsd)["count_error"]
        for t in COUNT_THRESHOLDS
    }
    assert errors[picked] == min(errors.values()) and out["picked"]["count_error"] == round(errors[picked], 4)
    assert out["score_threshold"] == picked  # the yields were fitted on the detections kept at it
    meta = json.loads(model.with_suffix(".json").read_text())
    assert meta["score_thresholds"]["simulated"]["threshold"] == picked and "seed 3" in out["picked"]["picked_on"]
    detector = OnnxDetector.load(model)
    assert detector.for_domain("simulated").score_threshold == picked
    assert detector.score_threshold == meta["score_threshold"]  # real scenes keep the real-val threshold


class _RunsAs:
    """The demo's store, its detect runs replaced by runs that recorded ``params``."""

    def __init__(self, store: Any, *params: dict[str, Any]) -> None:
        self.store, self.params = store, params

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def list_runs(self, kind: str | None = None) -> list[RunRecord]:
        now = dt.datetime.now(dt.UTC)
        return [RunRecord(f"detect-{i}", "detect", now, now, p) for i, p in enumerate(self.params)]


@pytest.mark.slow
def test_the_pick_refuses_a_floor_it_cannot_see_below(demo_low: Path) -> None:
    with open_store(demo_db_url(demo_low)) as store:
        model = store.list_detections()[0].detector
        sites = [s.id for s in store.list_sites()]
        # Kept only from 0.5 up: the error is least at 0.5, and may fall further below it.
        high = _RunsAs(store, {"model": model, "score_thresholds": {"real": 0.5}, "sites": sites})
        with pytest.raises(InputError, match="least at the lowest threshold detected"):
            pick_simulated_threshold(simulation_run(high, demo_low / "sim"))
        with pytest.raises(InputError, match=r"detections were kept at >= 0.5"):
            calibrate_counts(simulation_run(high, demo_low / "sim"), score_threshold=0.3)
        # A run over other sites says nothing about this simulation's detections.
        elsewhere = {"model": model, "score_thresholds": {"real": 0.9}, "sites": ["another-site"]}
        low = _RunsAs(store, {"model": model, "score_thresholds": {"real": 0.15}, "sites": sites}, elsewhere)
        assert pick_simulated_threshold(simulation_run(low, demo_low / "sim")).errors[0][0] == 0.15
        unknown = _RunsAs(store, {"model": model, "sites": sites})  # a run from before thresholds were recorded
        with pytest.raises(InputError, match="did not record its score threshold"):
            pick_simulated_threshold(simulation_run(unknown, demo_low / "sim"))
        assert calibrate_counts(simulation_run(unknown, demo_low / "sim")).score_threshold is None


def test_demo_stops_when_detection_fails_on_every_scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a table of zeros: a detector that saw nothing and one that crashed are told apart."""
    import sitewatch.detect.pipeline as detect_pipeline

    def broken(*args: object, **kwargs: object) -> None:
        raise TypeError("Expected 3 arguments, got 20")

    monkeypatch.setattr(detect_pipeline, "detect_scene", broken)
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", str(out), "--sites", "1", "--days", "7", "--model", "simple"])
    assert result.exit_code == 1
    assert "detection failed on all" in result.output and "Expected 3 arguments" in result.output
