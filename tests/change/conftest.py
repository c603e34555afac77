"""Generated imagery for change tests: smooth textures, GeoTIFF scenes and their metadata."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from scipy import ndimage

from sitewatch.imagery.raster import reproject_geometry
from sitewatch.model import Scene

#: A UTM zone over the Korean peninsula, and a point inside it (metres).
CRS = "EPSG:32652"
ORIGIN = (350_000.0, 4_320_000.0)


def make_texture(shape: tuple[int, int], seed: int = 0, sigma: float = 2.0) -> np.ndarray:
    """(H, W, 3) uint8 smooth random texture, like ground seen from above."""
    rng = np.random.default_rng(seed)
    bands = [ndimage.gaussian_filter(rng.normal(size=shape), sigma) for _ in range(3)]
    img = np.stack(bands, axis=-1)
    img = (img - img.min()) / (img.max() - img.min())
    return (30 + 190 * img).astype(np.uint8)


def add_noise(image: np.ndarray, sd: float, seed: int, gain: float = 1.0, offset: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = image.astype(np.float32) * gain + offset + rng.normal(0, sd, image.shape)
    return np.clip(out, 1, 255).astype(np.uint8)


def fourier_shift(image: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """(H, W[, B]) image translated by (rows, cols) px, exactly (circularly) in the Fourier domain."""
    img = image.astype(np.float32)
    bands = img[..., None] if img.ndim == 2 else img
    out = [np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(bands[..., i]), shift)).real for i in range(bands.shape[-1])]
    moved = np.stack(out, axis=-1)
    return moved[..., 0] if img.ndim == 2 else moved


@pytest.fixture
def shifted() -> Callable[..., np.ndarray]:
    return fourier_shift


@pytest.fixture
def texture() -> Callable[..., np.ndarray]:
    return make_texture


@pytest.fixture
def noisy() -> Callable[..., np.ndarray]:
    return add_noise


SceneFactory = Callable[..., Scene]


@pytest.fixture
def write_scene(tmp_path: Path) -> SceneFactory:
    """Write an (H, W, 3) uint8 image as a GeoTIFF (0 = nodata) and describe it as a Scene."""

    def make(
        name: str,
        image: np.ndarray,
        *,
        gsd: float = 0.5,
        acquired: dt.datetime = dt.datetime(2024, 3, 1, 2, 0, tzinfo=dt.UTC),
        origin: tuple[float, float] = ORIGIN,
        crs: str = CRS,
        valid: shapely.Geometry | None = None,
        sensor: str = "WorldView-2",
    ) -> Scene:
        h, w = image.shape[:2]
        transform = Affine(gsd, 0, origin[0], 0, -gsd, origin[1])
        path = tmp_path / f"{name}.tif"
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=w,
            height=h,
            count=image.shape[2],
            dtype="uint8",
            crs=crs,
            transform=transform,
            nodata=0,
        ) as dst:
            dst.write(np.moveaxis(image, -1, 0))
        footprint = reproject_geometry(
            shapely.box(origin[0], origin[1] - h * gsd, origin[0] + w * gsd, origin[1]), crs, "EPSG:4326"
        )
        return Scene(
            id=name,
            uri=str(path),
            acquired=acquired,
            sensor=sensor,
            gsd=gsd,
            crs=crs,
            footprint=footprint,
            valid=footprint if valid is None else valid,
            content_hash=name,
            width=w,
            height=h,
            bands=image.shape[2],
            simulated=True,
        )

    return make
