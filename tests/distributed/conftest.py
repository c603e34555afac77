"""A tiny archive for cluster tests: GeoTIFF scenes with vehicle-sized bright boxes over one site.

Generated directly (not with ``sitewatch.simulate``) to keep the tests fast; the number of
boxes changes per scene so that counts differ between dates.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

from sitewatch.model import Site, Zone
from sitewatch.store import open_store
from sitewatch.store.sql import SqlStore

CRS = "EPSG:32652"
ORIGIN = (350_000.0, 4_330_000.0)
GSD = 0.4
SIZE = 320
N_SCENES = 10


def write_scene(folder: Path, i: int) -> Path:
    rng = np.random.default_rng(i)
    data = np.full((3, SIZE, SIZE), 90, dtype=np.uint8)
    data += rng.integers(0, 6, data.shape, dtype=np.uint8)
    for _ in range(3 + i % 5):  # cars: ~4.4 m x 2 m
        r, c = rng.integers(20, SIZE - 30, 2)
        data[:, r : r + 5, c : c + 11] = 230
    transform = from_origin(ORIGIN[0], ORIGIN[1], GSD, GSD)
    path = folder / f"sc{i:03d}.tif"
    profile: dict[str, Any] = {"driver": "GTiff", "width": SIZE, "height": SIZE, "count": 3, "dtype": "uint8"}
    with rasterio.open(path, "w", crs=CRS, transform=transform, nodata=0, **profile) as ds:
        ds.write(data)
    sidecar = {
        "sitewatch_sidecar": 1,
        "id": f"sc{i:03d}",
        "acquired": f"2024-03-{1 + i % 28:02d}T02:{i // 28:02d}:00Z",
        "sensor": "WorldView-3",
        "gsd": GSD,
        "simulated": True,
    }
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    return path


def site_for_archive() -> Site:
    from pyproj import Transformer

    to_ll = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    x0, y1 = ORIGIN
    x1, y0 = x0 + SIZE * GSD, y1 - SIZE * GSD
    (lon0, lon1), (lat0, lat1) = to_ll.transform([x0 + 8, x1 - 8], [y0 + 8, y1 - 8])
    half = (lon0 + lon1) / 2
    zones = (
        Zone("west", "West yard", "storage", box(lon0, lat0, half, lat1)),
        Zone("east", "East yard", "car_park", box(half, lat0, lon1, lat1)),
    )
    return Site("tiny", "Tiny test site", box(lon0, lat0, lon1, lat1), zones, simulated=True)


@pytest.fixture(scope="session")
def archive_site() -> Site:
    return site_for_archive()


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("archive")
    for i in range(N_SCENES):
        write_scene(folder, i)
    return folder


@pytest.fixture
def new_store(tmp_path: Path, archive_site: Site) -> Iterator[Callable[[str], tuple[str, SqlStore]]]:
    """``new_store(name)`` -> (url, store) of a fresh SQLite store holding the test site."""
    opened: list[SqlStore] = []

    def _make(name: str) -> tuple[str, SqlStore]:
        url = f"sqlite:///{tmp_path / name}.db"
        store = open_store(url)
        store.upsert_site(archive_site)
        opened.append(store)
        return url, store

    yield _make
    for s in opened:
        s.close()
