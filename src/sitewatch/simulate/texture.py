"""Procedural textures: fractal (multi-octave value) noise and ground material albedos.

Noise is built from random coarse grids upsampled with bicubic interpolation, which is
fast at scene sizes (millions of pixels) and gives natural-looking soil, vegetation and
cloud fields without a per-pixel Python loop.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

#: Linear RGB albedo (0-1) of ground materials, roughly as seen in VHR true colour.
MATERIALS: dict[str, tuple[float, float, float]] = {
    "soil": (0.46, 0.40, 0.33),
    "dry_grass": (0.47, 0.45, 0.33),
    "asphalt": (0.27, 0.27, 0.27),
    "concrete": (0.52, 0.51, 0.48),
    "gravel": (0.52, 0.50, 0.46),
    "ballast": (0.40, 0.38, 0.36),
    "roof_blue": (0.38, 0.47, 0.55),
    "roof_green": (0.33, 0.45, 0.38),
    "roof_grey": (0.58, 0.59, 0.60),
    "roof_rust": (0.50, 0.34, 0.27),
}


def fractal_noise(
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    cell: float = 64.0,
    octaves: int = 5,
    persistence: float = 0.5,
) -> np.ndarray:
    """Fractal noise in [0, 1] (float32) whose coarsest features are about ``cell`` px wide.

    Octaves are summed coarse-to-fine on a pyramid of small grids, so only the last,
    finest grid is resized to the full ``shape``.
    """
    h, w = shape
    size = float(cell)
    acc = rng.random((max(2, math.ceil(h / size) + 2), max(2, math.ceil(w / size) + 2)), dtype=np.float32)
    amp = 1.0
    for _ in range(octaves - 1):
        if size / 2 < 1.0:
            break
        size /= 2
        amp *= persistence
        grid = (max(2, math.ceil(h / size) + 2), max(2, math.ceil(w / size) + 2))
        acc = np.asarray(cv2.resize(acc, (grid[1], grid[0]), interpolation=cv2.INTER_CUBIC), np.float32)
        acc += np.float32(amp) * rng.random(grid, dtype=np.float32)
    out = cv2.resize(acc, (round(acc.shape[1] * size), round(acc.shape[0] * size)), interpolation=cv2.INTER_CUBIC)
    out = out[:h, :w]
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) * np.float32(1.0 / max(hi - lo, 1e-6))
