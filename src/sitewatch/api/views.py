"""Pure helpers behind the routes: detection filters."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely

from sitewatch.model import Detection


def filter_bbox(detections: Sequence[Detection], bbox: tuple[float, float, float, float]) -> list[Detection]:
    """Detections whose ground polygon intersects ``bbox`` (minx, miny, maxx, maxy; EPSG:4326)."""
    if not detections:
        return []
    hits = shapely.intersects(np.array([d.geometry for d in detections]), shapely.box(*bbox))
    return [d for d, hit in zip(detections, hits.tolist(), strict=True) if hit]
