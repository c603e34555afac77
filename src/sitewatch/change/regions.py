"""Change regions: the cleaned change mask as polygons with area, confidence and kind.

Each connected region of the mask becomes one polygon (rasterio.features.shapes), measured
in the grid's metric CRS and returned in EPSG:4326. Confidence is the mean change
probability of its pixels under the chi-square test of :mod:`.pixel`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np
import shapely
from rasterio.features import shapes
from scipy import ndimage
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from sitewatch.change.align import grey
from sitewatch.change.grid import Grid
from sitewatch.change.pixel import PixelChange
from sitewatch.change.structures import ShapeRules, classify
from sitewatch.imagery.raster import reproject_geometry
from sitewatch.model import Detection


@dataclass(frozen=True)
class ChangeRegion:
    """One connected change region.

    ``window`` is (row0, col0, row1, col1) on the comparison grid (for before/after chips);
    ``brightness`` the mean grey-level change after - before (0-255 scale).
    """

    id: int
    geometry: BaseGeometry  # EPSG:4326
    area_m2: float
    confidence: float
    kind: str
    length_m: float
    width_m: float
    rectangularity: float
    brightness: float
    texture_change: float
    window: tuple[int, int, int, int]


def _rectangle_sides(geom: BaseGeometry) -> tuple[float, float]:
    rect = shapely.minimum_rotated_rectangle(geom)
    xy = np.asarray(rect.exterior.coords) if isinstance(rect, shapely.Polygon) else np.zeros((3, 2))
    sides = np.hypot(*np.diff(xy[:3], axis=0).T)
    return float(sides.max()), float(sides.min())


def _edges(image: np.ndarray) -> np.ndarray:
    g = grey(image)
    return np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))


def extract_regions(
    change: PixelChange,
    before: np.ndarray,
    after: np.ndarray,
    grid: Grid,
    rules: ShapeRules = ShapeRules(),
) -> list[ChangeRegion]:
    """Polygons of the change mask of ``before``/``after`` on ``grid``, largest first."""
    labels, n = ndimage.label(change.mask, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return []
    index = np.arange(1, n + 1)
    prob = np.zeros(change.mask.shape, dtype=np.float32)
    prob[change.mask] = change.probability(change.statistic[change.mask])
    confidence = ndimage.mean(prob, labels, index)
    g_before, g_after = grey(before), grey(after)
    brightness = ndimage.mean(g_after - g_before, labels, index)
    slices = ndimage.find_objects(labels)
    polygons: dict[int, list[BaseGeometry]] = {}
    for geom, value in shapes(labels.astype(np.int32), mask=labels > 0, connectivity=8, transform=grid.transform):
        polygons.setdefault(int(value), []).append(shape(geom))
    regions = []
    for i, sl in enumerate(slices, start=1):
        if sl is None:
            continue
        local = shapely.union_all(polygons[i])
        length, width = _rectangle_sides(local)
        rect_area = shapely.minimum_rotated_rectangle(local).area
        # Texture inside the region, away from its outline (which is an edge on both dates);
        # computed on the region's box only, so it stays cheap on a full scene.
        inside = labels[sl] == i
        core = ndimage.binary_erosion(inside, iterations=2)
        inside = core if core.any() else inside
        e_before, e_after = _edges(before[sl])[inside].mean(), _edges(after[sl])[inside].mean()
        texture_change = float((e_after - e_before) / max(e_before, 1.0))
        area = float(local.area)
        rectangularity = float(area / rect_area) if rect_area > 0 else 0.0
        regions.append(
            ChangeRegion(
                id=i,
                geometry=reproject_geometry(local, grid.crs, "EPSG:4326"),
                area_m2=area,
                confidence=float(confidence[i - 1]),
                kind=classify(area, length, width, rectangularity, texture_change, rules),
                length_m=length,
                width_m=width,
                rectangularity=rectangularity,
                brightness=float(brightness[i - 1]),
                texture_change=texture_change,
                window=(sl[0].start, sl[1].start, sl[0].stop, sl[1].stop),
            )
        )
    return sorted(regions, key=lambda r: -r.area_m2)


def mark_vehicles(
    regions: Sequence[ChangeRegion], detections: Sequence[Detection], rules: ShapeRules = ShapeRules()
) -> list[ChangeRegion]:
    """Regions small enough to be a vehicle with its shadow that touch a detection become ``vehicle_size``.

    Shape rules alone take a truck and its shadow for a small building; a detector that
    saw a vehicle there knows better.
    """
    if not detections:
        return list(regions)
    tree = shapely.STRtree([d.geometry for d in detections])
    return [
        replace(r, kind="vehicle_size")
        if r.area_m2 <= rules.vehicle_with_shadow_max_m2 and len(tree.query(r.geometry, predicate="intersects"))
        else r
        for r in regions
    ]
