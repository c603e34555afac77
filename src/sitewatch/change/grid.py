"""A common metric grid for two scenes over a site, and reading each scene onto it.

Scenes of one site come from different satellites, in different CRSs and at different
GSDs. Both are warped (windowed, through a GDAL warped VRT) onto one grid over the part of
the AOI both footprints cover, at the coarser GSD, so pixels compare one to one. Pairs
that cannot be compared fail here with a :class:`~sitewatch.errors.ChangeError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from affine import Affine
from pyproj import CRS
from rasterio.enums import Resampling
from rasterio.features import geometry_mask
from rasterio.vrt import WarpedVRT
from shapely.geometry.base import BaseGeometry

from sitewatch.counts.coverage import local_utm
from sitewatch.errors import ChangeError
from sitewatch.imagery.raster import open_raster, read_rgb, reproject_geometry
from sitewatch.model import Scene

#: Largest GSD ratio between two scenes still compared (coarser / finer).
MAX_GSD_RATIO = 2.5
#: Largest grid read in one piece (pixels); bigger AOIs should be split.
MAX_PIXELS = 64_000_000


@dataclass(frozen=True)
class Grid:
    """A north-up pixel grid in a metric CRS."""

    crs: str
    transform: Affine
    width: int
    height: int

    @property
    def res(self) -> float:
        return float(self.transform.a)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def pixel_area(self) -> float:
        return abs(self.transform.a * self.transform.e)


@lru_cache(maxsize=64)
def _is_metric(crs: str) -> bool:
    c = CRS.from_user_input(crs)
    return bool(c.is_projected and c.axis_info[0].unit_name in ("metre", "meter"))


def metric_crs(scene_crs: str, geom_4326: BaseGeometry) -> str:
    """``scene_crs`` when it is projected in metres, else the UTM zone of ``geom_4326``."""
    return scene_crs if _is_metric(scene_crs) else local_utm(geom_4326)


def check_pair(before: Scene, after: Scene, aoi: BaseGeometry, max_gsd_ratio: float = MAX_GSD_RATIO) -> BaseGeometry:
    """The ground (EPSG:4326) both scenes see clearly inside ``aoi``; raise if they cannot be compared."""
    pair = f"{before.id} / {after.id}"
    if before.bands != after.bands:
        raise ChangeError(
            f"scenes have {before.bands} and {after.bands} bands (different kinds of sensor)",
            path=pair,
            fix="compare scenes from sensors with the same bands (e.g. RGB with RGB)",
        )
    ratio = max(before.gsd, after.gsd) / min(before.gsd, after.gsd)
    if ratio > max_gsd_ratio:
        raise ChangeError(
            f"GSDs differ too much ({before.gsd:g} m vs {after.gsd:g} m, x{ratio:.1f} > x{max_gsd_ratio:g})",
            path=pair,
            fix="pick scenes of similar resolution (e.g. --from/--to dates with other sensors)",
        )
    overlap = shapely.intersection_all([aoi, before.footprint, after.footprint])
    if overlap.is_empty or overlap.area == 0:
        raise ChangeError(
            "the scenes do not overlap inside the site AOI", path=pair, fix="pick scenes that both cover the site"
        )
    common = shapely.intersection_all([overlap, before.valid, after.valid])
    if common.is_empty or common.area == 0:
        raise ChangeError(
            "no common valid pixels in the site AOI (cloud or nodata on one date wherever the other is clear)",
            path=pair,
            fix="pick clearer scenes (lower cloud cover) for one of the dates",
        )
    return common


def common_grid(before: Scene, after: Scene, area_4326: BaseGeometry) -> Grid:
    """A grid over ``area_4326`` in ``before``'s metric CRS at the coarser of the two GSDs."""
    crs = metric_crs(before.crs, area_4326)
    res = max(before.gsd, after.gsd)
    x0, y0, x1, y1 = reproject_geometry(area_4326, "EPSG:4326", crs).bounds
    # Snap to whole pixels so repeated runs give identical grids; the tolerance absorbs
    # round-off from the trip through EPSG:4326 (which would add a pixel on each side).
    eps = 1e-6
    x0, y0 = math.floor(x0 / res + eps) * res, math.floor(y0 / res + eps) * res
    width, height = math.ceil((x1 - x0) / res - eps), math.ceil((y1 - y0) / res - eps)
    if width * height > MAX_PIXELS:
        raise ChangeError(
            f"comparison grid of {width} x {height} px at {res:g} m is too large",
            path=f"{before.id} / {after.id}",
            fix="use a smaller site AOI or split it into zones",
        )
    return Grid(crs, Affine(res, 0, x0, 0, -res, y0 + height * res), width, height)


def scene_path(scene: Scene) -> str:
    return scene.uri.removeprefix("file://")


def read_on_grid(scene: Scene, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """``scene`` warped onto ``grid``: an (H, W, 3) uint8 image and its (H, W) valid mask.

    Valid means inside the image, not nodata, and inside ``scene.valid`` (so not cloud).
    """
    with (
        open_raster(scene_path(scene)) as ds,
        WarpedVRT(
            ds,
            crs=grid.crs,
            transform=grid.transform,
            width=grid.width,
            height=grid.height,
            resampling=Resampling.bilinear,
        ) as vrt,
    ):
        rgb, valid = read_rgb(vrt)
    valid &= rasterize_4326(scene.valid, grid)
    return rgb, valid


def rasterize_4326(geom_4326: BaseGeometry, grid: Grid) -> np.ndarray:
    """(H, W) bool mask of the grid pixels whose centres fall inside ``geom_4326``."""
    geom = reproject_geometry(geom_4326, "EPSG:4326", grid.crs)
    if geom.is_empty:
        return np.zeros(grid.shape, dtype=bool)
    return geometry_mask([geom], out_shape=grid.shape, transform=grid.transform, invert=True)
