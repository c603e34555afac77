"""A classical stand-in detector: vehicle-sized blobs of local contrast (no learning).

Use it only when no trained model is available (tests, a bare install): it finds compact
objects brighter or darker than their surroundings and labels them by length (car or
truck). It knows nothing about what a vehicle looks like, so it confuses them with
containers, bushes, shadows and road marks; counts from it are rough at best.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sitewatch.detect.base import Tiles
from sitewatch.model import PixelBox


@dataclass
class SimpleDetector:
    """Top-hat contrast + connected components, sized for vehicles at ``gsd``."""

    name: str = "simple-tophat@1"
    classes: tuple[str, ...] = ("car", "truck")
    gsd: float = 0.4
    tile_size: int = 512
    #: Source GSDs it is meant for (it measures blobs in metres, so any VHR GSD will do).
    gsd_range: tuple[float, float] = (0.3, 0.8)
    #: Contrast (grey levels from the local background) needed to call a blob, at least,
    #: and the tile percentile used above that (busy scenes need more).
    min_contrast: float = 28.0
    contrast_percentile: float = 96.0
    #: Background scale (m): structures larger than this are not objects.
    background_m: float = 7.0
    #: Vehicle length range (m) kept, and the car/truck boundary.
    length_m: tuple[float, float] = (3.0, 20.0)
    car_max_length_m: float = 6.5
    #: Box short-side range (m); generous because a diagonal vehicle has a square box.
    width_m: tuple[float, float] = (1.2, 14.0)

    def detect_batch(self, tiles: Tiles) -> list[list[PixelBox]]:
        return [self._detect(t) for t in tiles]

    def _detect(self, tile: np.ndarray) -> list[PixelBox]:
        grey = cv2.cvtColor(np.ascontiguousarray(tile), cv2.COLOR_RGB2GRAY)
        k = max(3, round(self.background_m / self.gsd) | 1)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        contrast = np.maximum(
            cv2.morphologyEx(grey, cv2.MORPH_TOPHAT, kernel), cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, kernel)
        )
        level = max(self.min_contrast, float(np.percentile(contrast, self.contrast_percentile)))
        binary = cv2.morphologyEx((contrast >= level).astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
        n, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        out = []
        for x, y, w, h, area in stats[1:n]:
            length, width = max(w, h) * self.gsd, min(w, h) * self.gsd
            if not (self.length_m[0] <= length <= self.length_m[1] and self.width_m[0] <= width <= self.width_m[1]):
                continue
            if area < 0.4 * w * h:  # thin or L-shaped: road marks, edges
                continue
            score = float(min(1.0, contrast[y : y + h, x : x + w].max() / 128.0))
            cls = "car" if length <= self.car_max_length_m else "truck"
            out.append(PixelBox(float(x), float(y), float(x + w), float(y + h), cls, score))
        return out
