"""Fixtures for detector tests: small generated GeoTIFFs with known objects, a toy detector."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from sitewatch.detect.base import Tiles
from sitewatch.model import PixelBox

#: UTM zone 52N, near Pyongyang.
CRS = "EPSG:32652"
ORIGIN = (350_000.0, 4_330_000.0)


@dataclass(frozen=True)
class BrightBlobDetector:
    """Exact toy detector: every bright connected blob is a 'car' (score = its mean level)."""

    name: str = "toy@1"
    classes: tuple[str, ...] = ("car", "truck")
    gsd: float = 0.4
    tile_size: int = 128
    gsd_range: tuple[float, float] = (0.3, 0.8)
    calls: list = None  # type: ignore[assignment]

    def detect_batch(self, tiles: Tiles) -> list[list[PixelBox]]:
        if self.calls is not None:
            self.calls.append(len(tiles))
        out = []
        for t in tiles:
            grey = t.max(axis=2)
            n, _, stats, _ = cv2.connectedComponentsWithStats((grey > 127).astype(np.uint8))
            out.append(
                [PixelBox(float(x), float(y), float(x + w), float(y + h), "car", 0.9) for x, y, w, h, _ in stats[1:n]]
            )
        return out


def write_scene(
    path: Path,
    boxes_m: Sequence[tuple[float, float, float, float]],
    *,
    size: tuple[int, int] = (1200, 1000),
    gsd: float = 0.3,
    count: int = 3,
    dtype: str = "uint8",
    nodata_cols: int = 0,
    value: float = 255,
    background: tuple[float, float] = (20, 60),
) -> list[tuple[float, float, float, float]]:
    """A tiled GeoTIFF with bright rectangles at ``boxes_m`` (metres from the top-left).

    Returns the rectangles in pixels. ``nodata_cols`` leftmost columns are masked nodata.
    """
    w, h = size
    rng = np.random.default_rng(0)
    data = rng.uniform(*background, size=(count, h, w)).astype(dtype)
    px = []
    for x0, y0, x1, y1 in boxes_m:
        c0, r0, c1, r1 = (round(v / gsd) for v in (x0, y0, x1, y1))
        data[:, r0:r1, c0:c1] = value
        px.append((float(c0), float(r0), float(c1), float(r1)))
    profile = {
        "driver": "GTiff",
        "width": w,
        "height": h,
        "count": count,
        "dtype": dtype,
        "crs": CRS,
        "transform": from_origin(ORIGIN[0], ORIGIN[1], gsd, gsd),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    if nodata_cols:
        profile["nodata"] = 0
        data[:, :, :nodata_cols] = 0
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
    return px


@pytest.fixture
def toy() -> BrightBlobDetector:
    return BrightBlobDetector(calls=[])


@pytest.fixture
def scene() -> Callable[..., list[tuple[float, float, float, float]]]:
    """:func:`write_scene`, for tests (pytest's importlib mode cannot import conftest)."""
    return write_scene


@pytest.fixture
def utm() -> tuple[str, tuple[float, float]]:
    """CRS and top-left corner of the generated scenes."""
    return CRS, ORIGIN
