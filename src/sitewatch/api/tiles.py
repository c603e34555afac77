"""Web map tiles and thumbnails of a scene, read from its COG.

A tile is a :class:`~rasterio.vrt.WarpedVRT` onto the tile's own 256×256 Web Mercator
grid, so GDAL reads only the blocks (or overview levels) the tile needs. Pixels outside
the clip geometry (the site AOI) and outside the valid data are transparent.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
from affine import Affine
from rasterio.enums import Resampling
from rasterio.features import geometry_mask
from rasterio.vrt import WarpedVRT
from shapely.geometry.base import BaseGeometry

from sitewatch.imagery.raster import open_raster, read_rgb, reproject_geometry

TILE_SIZE = 256
MAX_ZOOM = 24
#: Half the width of the Web Mercator square (EPSG:3857), in metres.
_HALF = math.pi * 6378137.0
#: Thumbnails are at most this many pixels on their long side.
THUMB_SIZE = 512


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(minx, miny, maxx, maxy) of XYZ tile ``z/x/y`` in EPSG:3857 metres."""
    span = 2 * _HALF / 2**z
    return -_HALF + x * span, _HALF - (y + 1) * span, -_HALF + (x + 1) * span, _HALF - y * span


def _ground_res(res_3857: float, y_3857: float) -> float:
    """Web Mercator metres stretch by 1/cos(latitude): the ground size of a tile pixel at ``y``."""
    lat = math.atan(math.sinh(y_3857 / 6378137.0))
    return res_3857 * math.cos(lat)


def valid_tile(z: int, x: int, y: int) -> bool:
    return 0 <= z <= MAX_ZOOM and 0 <= x < 2**z and 0 <= y < 2**z


def encode_png(rgb: np.ndarray, alpha: np.ndarray | None = None) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 image with an optional bool alpha mask (fast compression)."""
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if alpha is not None:
        img = np.dstack([img, np.where(alpha, 255, 0).astype(np.uint8)])
    # Fast deflate with run-length matching: tiles are made per request, and the transparent
    # margins outside the AOI are long runs.
    ok, buf = cv2.imencode(
        ".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
    )
    if not ok:  # pragma: no cover - OpenCV only fails on malformed arrays
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


EMPTY_TILE: bytes = encode_png(np.zeros((TILE_SIZE, TILE_SIZE, 3), np.uint8), np.zeros((TILE_SIZE, TILE_SIZE), bool))


def render_tile(path: str | Path, z: int, x: int, y: int, *, clip: BaseGeometry | None = None) -> bytes:
    """PNG of tile ``z/x/y`` of the raster at ``path``, transparent outside ``clip`` (EPSG:4326).

    Returns :data:`EMPTY_TILE` when the tile misses ``clip``. Raises
    :class:`~sitewatch.errors.ImageError` when the raster cannot be read.
    """
    minx, miny, maxx, maxy = tile_bounds(z, x, y)
    res = (maxx - minx) / TILE_SIZE
    transform = Affine(res, 0.0, minx, 0.0, -res, maxy)
    inside: np.ndarray | None = None
    if clip is not None:
        clip_3857 = reproject_geometry(clip, "EPSG:4326", "EPSG:3857")
        cminx, cminy, cmaxx, cmaxy = clip_3857.bounds
        if cmaxx <= minx or cminx >= maxx or cmaxy <= miny or cminy >= maxy:
            return EMPTY_TILE
        inside = ~geometry_mask([clip_3857], (TILE_SIZE, TILE_SIZE), transform, all_touched=True)
    with open_raster(path) as ds:
        # Zoomed in past the image's own pixels, show them as they are (nearest) rather than
        # blurred; zoomed out, interpolate. The alpha band carries validity, so the mask read
        # by read_rgb costs no second warp.
        src_res = min(abs(ds.transform.a), abs(ds.transform.e)) if ds.crs.is_projected else 0.0
        resampling = Resampling.nearest if _ground_res(res, (miny + maxy) / 2) < src_res else Resampling.bilinear
        vrt = WarpedVRT(
            ds,
            crs="EPSG:3857",
            transform=transform,
            width=TILE_SIZE,
            height=TILE_SIZE,
            resampling=resampling,
            add_alpha=True,
        )
        with vrt:
            rgb, mask = read_rgb(vrt, bands=(1, 2, 3) if ds.count >= 3 else (1,))  # type: ignore[arg-type]
    alpha = mask if inside is None else mask & inside
    if not alpha.any():
        return EMPTY_TILE
    return encode_png(rgb, alpha)


def render_thumbnail(path: str | Path, *, size: int = THUMB_SIZE) -> bytes:
    """PNG of the whole raster shrunk to at most ``size`` pixels (decimated read, overviews used)."""
    with open_raster(path) as ds:
        scale = min(1.0, size / max(ds.width, ds.height))
        shape = (max(1, round(ds.height * scale)), max(1, round(ds.width * scale)))
        rgb, mask = read_rgb(ds, out_shape=shape)
    return encode_png(rgb, mask)
