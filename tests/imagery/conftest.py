"""Tiny generated GeoTIFF scenes (UTM 51N, 0.5 m) with sidecars and cloud masks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from affine import Affine

ORIGIN = (500_000.0, 4_400_000.0)
RES = 0.5
CRS = "EPSG:32651"

SceneFactory = Callable[..., Path]


def _write_tif(
    path: Path,
    data: np.ndarray,
    *,
    crs: str | None = CRS,
    origin: tuple[float, float] = ORIGIN,
    res: float = RES,
    nodata: float | None = 0,
    tags: dict[str, str] | None = None,
) -> Path:
    count, height, width = data.shape
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": count,
        "dtype": data.dtype.name,
        "nodata": nodata,
    }
    if crs is not None:
        profile.update(crs=crs, transform=Affine(res, 0, origin[0], 0, -res, origin[1]))
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
        if tags:
            ds.update_tags(**tags)
    return path


@pytest.fixture
def write_tif() -> Callable[..., Path]:
    """``write_tif(path, data (bands, H, W), *, crs, origin, res, nodata, tags)`` on the test grid."""
    return _write_tif


@pytest.fixture
def make_scene(tmp_path: Path) -> SceneFactory:
    """Write ``<name>.tif`` (3-band uint8, left ``nodata_cols`` columns nodata) + sidecar + cloud mask."""

    def _make(
        name: str = "s1",
        *,
        folder: Path | None = None,
        size: tuple[int, int] = (64, 64),
        nodata_cols: int = 16,
        cloud_rows: int = 0,
        origin: tuple[float, float] = ORIGIN,
        seed: int = 0,
        sidecar: dict[str, Any] | None = None,
    ) -> Path:
        folder = folder or tmp_path
        folder.mkdir(parents=True, exist_ok=True)
        h, w = size
        data = np.random.default_rng(seed).integers(1, 255, (3, h, w), dtype=np.uint8)
        data[:, :, :nodata_cols] = 0
        path = _write_tif(folder / f"{name}.tif", data, origin=origin)
        meta: dict[str, Any] = {"sitewatch_sidecar": 1, "id": name, "acquired": "2024-03-01T02:13:00Z"}
        meta.update({"sensor": "WorldView-3", "gsd": RES, "simulated": True})
        if cloud_rows:
            cloud = np.zeros((1, h, w), dtype=np.uint8)
            cloud[:, :cloud_rows, :] = 1
            _write_tif(folder / f"{name}.cloud.tif", cloud, origin=origin, nodata=None)
            meta["cloud_mask"] = f"{name}.cloud.tif"
        meta.update(sidecar or {})
        if sidecar is not None and sidecar.get("drop"):
            meta = {k: v for k, v in meta.items() if k not in sidecar["drop"] and k != "drop"}
        (folder / f"{name}.json").write_text(json.dumps(meta))
        return path

    return _make
