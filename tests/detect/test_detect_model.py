"""The committed ONNX models: present, small, opset >= 17, metadata, card and calibration consistent."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest

from sitewatch.detect import DEFAULT_MODEL, MODELS_DIR, calibration_for, load_detector
from sitewatch.detect.onnx import OnnxDetector, default_threads
from sitewatch.errors import ModelError
from sitewatch.model import CLASSES


def test_committed_model_loads_and_runs() -> None:
    det = load_detector()
    assert isinstance(det, OnnxDetector)
    assert set(det.classes) <= set(CLASSES) and "car" in det.classes
    assert 0.3 <= det.gsd <= 0.8
    out = det.detect_batch(np.zeros((2, 96, 160, 3), dtype=np.uint8))  # any size, padded inside
    assert len(out) == 2 and out[0] == []  # nothing on a black tile


@pytest.mark.parametrize("path", sorted(MODELS_DIR.glob("*.onnx")), ids=lambda p: p.stem)
def test_committed_models_are_small_with_opset_17_a_card_and_a_calibration(path: Path) -> None:
    assert (MODELS_DIR / f"{DEFAULT_MODEL}.onnx").is_file()
    assert path.stat().st_size < 10_000_000
    model = onnx.load(str(path))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    meta = json.loads(path.with_suffix(".json").read_text())
    card = path.with_suffix(".md").read_text()
    assert meta["metrics"]["val_native"]["map50"] is not None
    for cls in meta["synthetic_only_classes"]:
        assert cls in card
    if meta["synthetic_only_classes"]:
        assert "synthetic data only, not validated on real imagery" in card
    name = f"{meta['name']}@{meta['version']}"
    assert meta["name"] == path.stem and load_detector(path.stem).name == name  # loadable by its name
    calibration = calibration_for(name)
    assert calibration is not None  # analyze corrects its counts
    # Its yields were measured on detections kept at the threshold simulated scenes are counted at.
    simulated = load_detector(path.stem).for_domain("simulated")  # type: ignore[attr-defined]
    assert calibration.score_threshold == simulated.score_threshold


def test_each_imagery_domain_counts_at_its_own_threshold(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes((MODELS_DIR / f"{DEFAULT_MODEL}.onnx").read_bytes())
    meta = json.loads((MODELS_DIR / f"{DEFAULT_MODEL}.json").read_text())
    meta |= {"score_threshold": 0.4, "score_thresholds": {"simulated": {"threshold": 0.3, "picked_on": "test"}}}
    model.with_suffix(".json").write_text(json.dumps(meta))
    det = OnnxDetector.load(model)
    assert det.score_threshold == 0.4 and det.for_domain("real") is det
    sim = det.for_domain("simulated")
    assert sim.score_threshold == 0.3 and sim.session is det.session and sim.name == det.name
    # An explicit threshold holds on every domain (a low one feeds calibrate-counts --pick-threshold).
    low = OnnxDetector.load(model, score_threshold=0.15)
    assert low.for_domain("simulated").score_threshold == low.for_domain("real").score_threshold == 0.15
    meta["score_thresholds"] = {"simulated": 0.3}  # not {"threshold": ...}
    model.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="invalid model metadata"):
        OnnxDetector.load(model)


def test_the_classical_stand_in_refuses_a_score_threshold() -> None:
    with pytest.raises(ModelError, match="no score threshold"):
        load_detector("simple", score_threshold=0.2)


def test_inference_threads_follow_omp_num_threads(monkeypatch) -> None:
    # Process pools (Dask's nanny) share the cores out through OMP_NUM_THREADS; each batch
    # runs on one thread, and that many batches run at once.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    det = OnnxDetector.load(MODELS_DIR / f"{DEFAULT_MODEL}.onnx")
    assert det.session.get_session_options().intra_op_num_threads == 1 and det.batch_workers == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert default_threads() == (os.cpu_count() or 1)
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert default_threads() == (os.cpu_count() or 1)
    three = OnnxDetector.load(MODELS_DIR / f"{DEFAULT_MODEL}.onnx", threads=3)
    assert three.batch_workers == 3 and three.session.get_session_options().intra_op_num_threads == 1
