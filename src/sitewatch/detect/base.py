"""The detector interface used by the pipeline.

A detector turns a batch of RGB tiles (uint8, H x W x 3) at its own ``gsd`` into pixel
boxes. Slicing, resampling, georeferencing and de-duplication across tiles live in
``sitewatch.detect.slicing``, so every detector gets them for free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, TypeAlias, cast, runtime_checkable

import numpy as np

from sitewatch.model import PixelBox

#: A batch of RGB tiles: (H, W, 3) uint8 arrays, or one (N, H, W, 3) array.
Tiles: TypeAlias = Sequence[np.ndarray] | np.ndarray


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

    def detect_batch(self, tiles: Tiles) -> list[list[PixelBox]]:
        """Boxes per tile, in that tile's pixel coordinates."""
        ...


def for_imagery(detector: Detector, *, simulated: bool) -> Detector:
    """``detector`` set to count on real or simulated imagery, if it has a threshold per domain."""
    pick = getattr(detector, "for_domain", None)
    return cast(Detector, pick("simulated" if simulated else "real")) if callable(pick) else detector


def applied_threshold(thresholds: Mapping[str, float], *, simulated: bool) -> float | None:
    """The threshold of :func:`thresholds` (or a sidecar's) that a real or simulated scene is counted at."""
    return thresholds.get("simulated", thresholds.get("real")) if simulated else thresholds.get("real")


def thresholds(detector: Detector) -> dict[str, float]:
    """The counting thresholds of ``detector`` per imagery domain (empty if it has none), for provenance."""
    real = getattr(detector, "score_threshold", None)
    found = {} if real is None else {"real": float(real)}
    return found | {k: float(v) for k, v in getattr(detector, "domain_thresholds", {}).items()}
