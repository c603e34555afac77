"""Small-vehicle detection: models, sliced inference over scenes, the store pipeline.

:func:`load_detector` gives the committed ONNX model (default) or the classical stand-in
(``"simple"``); :mod:`.slicing` runs any :class:`~sitewatch.detect.base.Detector` over a
scene of any size; :mod:`.pipeline` does it for every scene in a store.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from sitewatch.counts import CountCalibration
from sitewatch.detect.base import Detector
from sitewatch.detect.boxes import SAME_OBJECT_IOU
from sitewatch.errors import ModelError

#: The committed model, in ``sitewatch/detect/models/``.
DEFAULT_MODEL = "swdet-v1-wide"
MODELS_DIR = Path(__file__).parent / "models"

__all__ = [
    "DEFAULT_MODEL",
    "MODELS_DIR",
    "Detector",
    "calibration_for",
    "calibration_in",
    "load_detector",
    "model_path",
    "read_calibration",
]


def load_detector(spec: str | None = None, *, score_threshold: float | None = None, ranking: bool = False) -> Detector:
    """A detector by spec: ``None``/``"default"`` (committed model), ``"simple"``, a model
    name in ``detect/models`` or a path to an ``.onnx`` file (with its ``.json`` beside it).

    ``score_threshold`` overrides the model's counting thresholds, for every imagery domain
    (evaluation and ``calibrate-counts --pick-threshold`` use a low one).
    ``ranking`` keeps every class a model scores for one box, not only the best (COCO mAP
    ranks those hypotheses, as YOLO-style validation does); never use it for counting.
    """
    if spec == "simple":
        from sitewatch.detect.simple import SimpleDetector

        if score_threshold is not None:
            raise ModelError(
                "the classical stand-in has no score threshold",
                fix="drop the score threshold, or give an ONNX model",
            )
        return SimpleDetector()
    from sitewatch.detect.onnx import OnnxDetector

    return OnnxDetector.load(
        model_path(spec), score_threshold=score_threshold, same_object_iou=None if ranking else SAME_OBJECT_IOU
    )


def model_path(spec: str | None = None) -> Path:
    """The ``.onnx`` file of ``None``/``"default"`` (committed model), a model name in
    ``detect/models`` or a path to an ``.onnx`` file (returned as given)."""
    if spec in (None, "default"):
        spec = DEFAULT_MODEL
    path = Path(spec)
    if path.suffix == ".onnx":
        return path
    path = MODELS_DIR / f"{spec}.onnx"
    if not path.is_file():
        known = sorted(p.stem for p in MODELS_DIR.glob("*.onnx"))
        raise ModelError(
            f"no model named {spec!r} (available: {', '.join(known) or 'none'})",
            path=path,
            fix="give a path to an .onnx file, a model name, or 'simple' for the classical stand-in",
        )
    return path


#: Key of the count calibration in a model's ``.json`` sidecar (written by ``sitewatch calibrate-counts``).
CALIBRATION_KEY = "count_calibration"


@lru_cache(maxsize=32)
def calibration_for(detector: str, models_dir: Path = MODELS_DIR) -> CountCalibration | None:
    """The count calibration in the sidecar of the bundled model named ``detector`` (name@version).

    None when no bundled model has that name and version, or it has no calibration: an
    exported model of another version must be calibrated again before its counts use one
    (a model outside the bundled folder: :func:`read_calibration`, ``analyze --calibration``).
    """
    for meta_path in sorted(models_dir.glob("*.json")):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(meta, dict) or f"{meta.get('name')}@{meta.get('version', '0')}" != detector:
            continue
        if (found := calibration_in(meta)) is not None:
            return found
    return None


def calibration_in(meta: Mapping[str, Any]) -> CountCalibration | None:
    """The count calibration in a model's metadata (its ``.json`` sidecar), if it has one."""
    return CountCalibration.from_dict(meta[CALIBRATION_KEY]) if CALIBRATION_KEY in meta else None


def read_calibration(model: Path) -> CountCalibration | None:
    """The count calibration in the ``.json`` sidecar of ``model`` (its .onnx or .json), if any."""
    path = model.with_suffix(".json")
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"cannot read the model metadata ({exc})", path=path, fix="give an .onnx model with its .json beside it"
        ) from exc
    return calibration_in(meta) if isinstance(meta, dict) else None
