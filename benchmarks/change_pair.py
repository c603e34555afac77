"""Speed of a before/after comparison: a generated N x N px RGB pair aligned and compared.

The after image is the before ground shifted by a sub-pixel misregistration, with another
gain/offset, its own noise and a few planted changes. Times ``compare_arrays`` (alignment,
histogram matching, IR-MAD, cleaning, polygons) and prints one JSON object with the
wall and CPU seconds, the ratio to the 10 s target on 2 cores, and what was found
(SIMULATED data).
Usage: ``python benchmarks/change_pair.py [size=5000] [repeats=1]``.
"""

from __future__ import annotations

import json
import os
import sys
import time

import cv2
import numpy as np
from affine import Affine

from sitewatch.change.grid import Grid
from sitewatch.change.pipeline import compare_arrays

TARGET_S = 10.0
SHIFT = (0.6, -1.3)  # (rows, cols) px
GSD = 0.5


def make_pair(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    rng = np.random.default_rng(seed)
    # Smooth ground texture: coarse noise upsampled (cheap at 25 Mpx, unlike a large Gaussian blur).
    coarse = rng.uniform(30, 220, (size // 4, size // 4, 3)).astype(np.float32)
    ground: np.ndarray = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    m = np.array([[1, 0, SHIFT[1]], [0, 1, SHIFT[0]]], dtype=np.float32)
    after = cv2.warpAffine(ground, m, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    after = after * 0.9 + 12
    planted = 0
    for _ in range(20):
        r, c = rng.integers(100, size - 200, 2)
        h, w = rng.integers(10, 120, 2)
        after[r : r + h, c : c + w] = rng.uniform(0, 255, 3)
        planted += 1
    before = np.clip(ground + rng.normal(0, 3, ground.shape).astype(np.float32), 0, 255).astype(np.uint8)
    after = np.clip(after + rng.normal(0, 3, after.shape).astype(np.float32), 0, 255).astype(np.uint8)
    return before, after, planted


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    before, after, planted = make_pair(size)
    valid = np.ones((size, size), bool)
    grid = Grid("EPSG:32652", Affine(GSD, 0, 350_000, 0, -GSD, 4_320_000 + size * GSD), size, size)
    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        result = compare_arrays(before, after, valid, grid)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    best = min(times)
    a = result.alignment
    print(
        json.dumps(
            {
                "benchmark": "change_pair",
                "simulated": True,
                "size_px": [size, size],
                "seconds": round(best, 3),
                "all_seconds": [round(t, 3) for t in times],
                # CPU time of all threads: what the run costs when the 2 cores are not shared.
                "cpu_seconds": round(min(cpu), 3),
                "target_seconds": TARGET_S,
                "ratio_to_target": round(best / TARGET_S, 3),
                "cpu_count": os.cpu_count(),
                "load_avg_1min": round(os.getloadavg()[0], 2),
                "shift_true_px": [-SHIFT[0], -SHIFT[1]],
                "shift_found_px": [round(s, 3) for s in a.shift],
                "residual_px": round(a.residual_px, 3),
                "planted_changes": planted,
                "regions_found": len(result.regions),
                "changed_fraction": round(result.pixels.changed_fraction, 5),
            }
        )
    )


if __name__ == "__main__":
    main()
