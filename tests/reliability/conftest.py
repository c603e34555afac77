"""A tiny generated archive for the crash and concurrency tests: one site, small scenes.

Cars (bright 11 × 5 px boxes at 0.4 m) are few for most dates and many in the last few,
so ``analyze`` raises at least one alert; everything is seeded, nothing is read from disk.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin
from shapely.geometry import box

from sitewatch.model import Site, Zone

CRS = "EPSG:32652"
ORIGIN = (350_000.0, 4_330_000.0)
GSD = 0.4
SIZE = 96  # px: 38 m x 38 m, a few milliseconds per scene for the 'simple' detector


def write_scene(folder: Path, i: int, *, busy: bool = False, prefix: str = "sc") -> Path:
    """Scene ``i`` (3 + i % 3 cars, 12 when ``busy``) with a sidecar naming it ``<prefix><i:03d>``."""
    rng = np.random.default_rng(i)
    data = np.full((3, SIZE, SIZE), 90, dtype=np.uint8)
    data += rng.integers(0, 6, data.shape, dtype=np.uint8)
    slots = [(r, c) for r in range(8, SIZE - 12, 14) for c in range(8, SIZE - 16, 20)]
    n = 12 if busy else 3 + i % 3
    for k in rng.permutation(len(slots))[:n]:
        r, c = slots[k]
        data[:, r : r + 5, c : c + 11] = 230
    name = f"{prefix}{i:03d}"
    path = folder / f"{name}.tif"
    profile: dict[str, Any] = {"driver": "GTiff", "width": SIZE, "height": SIZE, "count": 3, "dtype": "uint8"}
    transform = from_origin(ORIGIN[0], ORIGIN[1], GSD, GSD)
    with rasterio.open(path, "w", crs=CRS, transform=transform, nodata=0, **profile) as ds:
        ds.write(data)
    sidecar = {
        "sitewatch_sidecar": 1,
        "id": name,
        "acquired": f"2024-{1 + i // 28:02d}-{1 + i % 28:02d}T02:00:00Z",
        "sensor": "WorldView-3",
        "gsd": GSD,
        "simulated": True,
    }
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    return path


def write_archive(folder: Path, n: int, *, busy_last: int = 3) -> Path:
    """``n`` daily scenes in ``folder``, the last ``busy_last`` crowded with cars."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_scene(folder, i, busy=i >= n - busy_last)
    return folder


def archive_site() -> Site:
    """The site covering the scenes, split into a west and an east zone."""
    to_ll = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    x0, y1 = ORIGIN
    x1, y0 = x0 + SIZE * GSD, y1 - SIZE * GSD
    (lon0, lon1), (lat0, lat1) = to_ll.transform([x0 + 2, x1 - 2], [y0 + 2, y1 - 2])
    half = (lon0 + lon1) / 2
    zones = (
        Zone("west", "West yard", "storage", box(lon0, lat0, half, lat1)),
        Zone("east", "East yard", "car_park", box(half, lat0, lon1, lat1)),
    )
    return Site("tiny", "Tiny test site", box(lon0, lat0, lon1, lat1), zones, simulated=True)


def copy_sqlite(src: Path, dst: Path) -> None:
    """A consistent copy of a (WAL) SQLite store, taken with SQLite's backup API."""
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    a.close()
    b.close()
