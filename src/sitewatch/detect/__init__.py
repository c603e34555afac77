"""Small-vehicle detection: models, sliced inference over scenes, the store pipeline.

:func:`load_detector` gives the committed ONNX model (default) or the classical stand-in
(``"simple"``); :mod:`.slicing` runs any :class:`~sitewatch.detect.base.Detector` over a
scene of any size; :mod:`.pipeline` does it for every scene in a store.
"""

from __future__ import annotations

from pathlib import Path

from sitewatch.detect.base import Detector
from sitewatch.errors import ModelError

#: The committed model, in ``sitewatch/detect/models/``.
DEFAULT_MODEL = "swdet-v1"
MODELS_DIR = Path(__file__).parent / "models"

__all__ = ["DEFAULT_MODEL", "MODELS_DIR", "Detector", "load_detector"]


def load_detector(spec: str | None = None, *, score_threshold: float | None = None) -> Detector:
    """A detector by spec: ``None``/``"default"`` (committed model), ``"simple"``, a model
    name in ``detect/models`` or a path to an ``.onnx`` file (with its ``.json`` beside it).

    ``score_threshold`` overrides the model's counting threshold (evaluation uses a low one).
    """
    if spec == "simple":
        from sitewatch.detect.simple import SimpleDetector

        return SimpleDetector()
    from sitewatch.detect.onnx import OnnxDetector

    if spec in (None, "default"):
        spec = DEFAULT_MODEL
    path = Path(spec)
    if path.suffix != ".onnx":
        path = MODELS_DIR / f"{spec}.onnx"
        if not path.is_file():
            known = sorted(p.stem for p in MODELS_DIR.glob("*.onnx"))
            raise ModelError(
                f"no model named {spec!r} (available: {', '.join(known) or 'none'})",
                path=path,
                fix="give a path to an .onnx file, a model name, or 'simple' for the classical stand-in",
            )
    return OnnxDetector.load(path, score_threshold=score_threshold)
