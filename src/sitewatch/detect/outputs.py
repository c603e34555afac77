"""Detection files: GeoJSON (EPSG:4326), GeoParquet (scene CRS) and COCO JSON.

Georeferenced images give ground geometries; plain images (PNG/JPG) give boxes in pixel
coordinates only, and the files say so (``pixel_coordinates`` / no CRS).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from affine import Affine
from rasterio.io import DatasetReader
from shapely import affinity
from shapely.geometry import box as shapely_box
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from sitewatch.detect.base import Detector
from sitewatch.errors import InputError
from sitewatch.model import CLASSES, Detection, PixelBox


@dataclass(frozen=True)
class ImageResult:
    """Boxes found in one image, with what is needed to place them on the ground."""

    path: Path
    width: int
    height: int
    crs: str | None
    transform: Affine | None
    boxes: tuple[PixelBox, ...] = ()
    #: Ground polygons (EPSG:4326), one per box; None for plain images.
    geometries: tuple[BaseGeometry, ...] | None = None
    #: The score threshold the boxes were kept at (the model's for the image's imagery domain).
    score_threshold: float | None = None

    @classmethod
    def describe(cls, path: Path, ds: DatasetReader) -> ImageResult:
        georef = ds.crs is not None and not ds.transform.is_identity
        return cls(path, ds.width, ds.height, ds.crs.to_string() if georef else None, ds.transform if georef else None)

    def with_detections(self, dets: Sequence[Detection]) -> ImageResult:
        boxes = tuple(PixelBox(*d.box, cls=d.cls, score=d.score) for d in dets)
        return replace(self, boxes=boxes, geometries=tuple(d.geometry for d in dets))

    def with_boxes(self, boxes: Sequence[PixelBox]) -> ImageResult:
        return replace(self, boxes=tuple(boxes), geometries=None)

    def pixel_polygons(self) -> list[BaseGeometry]:
        return [shapely_box(b.x0, b.y0, b.x1, b.y1) for b in self.boxes]

    def crs_polygons(self) -> list[BaseGeometry]:
        """Boxes in the image's own CRS (its affine transform applied to the pixel corners)."""
        assert self.transform is not None
        t = self.transform
        return [affinity.affine_transform(p, [t.a, t.b, t.d, t.e, t.c, t.f]) for p in self.pixel_polygons()]


def write(results: Sequence[ImageResult], out: Path, fmt: str, detector: Detector) -> int:
    """Write ``results`` to ``out`` in ``fmt``; returns the number of boxes written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "geojson":
        write_geojson(results, out, detector)
    elif fmt == "parquet":
        write_geoparquet(results, out, detector)
    elif fmt == "coco":
        write_coco(results, out, detector)
    else:
        raise InputError(f"unknown format {fmt!r}", fix="use geojson, parquet or coco")
    return sum(len(r.boxes) for r in results)


def _properties(r: ImageResult, b: PixelBox, detector: Detector) -> dict[str, Any]:
    return {
        "image": str(r.path),
        "class": b.cls,
        "score": round(b.score, 4),
        "x0": b.x0,
        "y0": b.y0,
        "x1": b.x1,
        "y1": b.y1,
        "detector": detector.name,
    } | ({} if r.score_threshold is None else {"score_threshold": r.score_threshold})


def write_geojson(results: Sequence[ImageResult], out: Path, detector: Detector) -> None:
    features = []
    for r in results:
        geoms = r.geometries if r.geometries is not None else r.pixel_polygons()
        for b, g in zip(r.boxes, geoms, strict=True):
            props = _properties(r, b, detector)
            if r.geometries is None:
                props["pixel_coordinates"] = True
            features.append({"type": "Feature", "geometry": mapping(g), "properties": props})
    out.write_text(json.dumps({"type": "FeatureCollection", "features": features}))


def write_geoparquet(results: Sequence[ImageResult], out: Path, detector: Detector) -> None:
    import geopandas as gpd

    crss = {r.crs for r in results}
    if len(crss) > 1:
        raise InputError(
            f"images are in different CRSs ({', '.join(sorted(str(c) for c in crss))}); GeoParquet holds one",
            path=out,
            fix="write one file per CRS, or use --format geojson (EPSG:4326)",
        )
    rows, geoms = [], []
    for r in results:
        rows += [_properties(r, b, detector) for b in r.boxes]
        geoms += r.crs_polygons() if r.crs else r.pixel_polygons()
    crs = crss.pop()
    frame = gpd.GeoDataFrame(rows, geometry=geoms, crs=crs)
    if crs is None:
        frame["pixel_coordinates"] = True
    frame.to_parquet(out)


def write_coco(results: Sequence[ImageResult], out: Path, detector: Detector) -> None:
    """COCO JSON: images, categories (all sitewatch classes) and scored annotations."""
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    for i, r in enumerate(results, start=1):
        image = {"id": i, "file_name": str(r.path), "width": r.width, "height": r.height}
        images.append(image | ({} if r.score_threshold is None else {"score_threshold": r.score_threshold}))
        for b in r.boxes:
            w, h = b.x1 - b.x0, b.y1 - b.y0
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": CLASSES.index(b.cls) + 1,
                    "bbox": [b.x0, b.y0, w, h],
                    "area": w * h,
                    "score": b.score,
                    "iscrowd": 0,
                }
            )
    cats = [{"id": k + 1, "name": c, "supercategory": "vehicle"} for k, c in enumerate(CLASSES)]
    out.write_text(
        json.dumps({"images": images, "categories": cats, "annotations": anns, "info": {"detector": detector.name}})
    )
