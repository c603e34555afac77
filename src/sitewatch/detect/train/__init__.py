"""Detector training (torch, optional dependency): ``sitewatch train --config FILE``.

Only this package imports torch; inference (:mod:`sitewatch.detect.onnx`) needs
onnxruntime alone. :func:`train` is imported lazily so reading a config stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sitewatch.detect.train.config import TrainConfig, load_config

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["TrainConfig", "load_config", "train"]


def train(cfg: TrainConfig, on_log: Callable[[str], None] | None = None, *, export_only: bool = False) -> Path:
    """Train and export the detector described by ``cfg``; returns the ONNX path.

    ``export_only``: export the best checkpoint already in ``cfg.out_dir``, without training.
    """
    from sitewatch.detect.train.loop import train as _train

    return _train(cfg, on_log, export_only=export_only)
