"""The detector interface used by the pipeline.

A detector turns a batch of RGB tiles (uint8, H x W x 3) at its own ``gsd`` into pixel
boxes. Slicing, resampling, georeferencing and de-duplication across tiles live in
``sitewatch.detect.slicing``, so every detector gets them for free.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from sitewatch.model import PixelBox


@runtime_checkable
class Detector(Protocol):
    #: Stable identifier stored with every detection (name@version), used for provenance.
    name: str
    #: Classes this detector can output (a subset of ``sitewatch.model.CLASSES``).
    classes: tuple[str, ...]
    #: Ground sample distance (m/px) the model expects; tiles are resampled to it.
    gsd: float
    #: Preferred tile size in pixels (square), at ``gsd``.
    tile_size: int

    def detect_batch(self, tiles: Sequence[np.ndarray]) -> list[list[PixelBox]]:
        """Boxes per tile, in that tile's pixel coordinates."""
        ...
