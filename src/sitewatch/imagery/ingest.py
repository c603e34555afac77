"""Ingest: register images as scenes (hash, metadata, footprint, valid area, covered sites).

Each image is one store transaction, keyed by its content hash, so a bad file is reported
and skipped, re-ingesting is a no-op, and a killed run simply resumes when restarted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio.features
import shapely
from affine import Affine
from pyproj.exceptions import ProjError
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from sitewatch.errors import ImageError, SitewatchError
from sitewatch.imagery.metadata import SceneMetadata, read_metadata
from sitewatch.imagery.raster import open_raster, reproject_geometry, split_antimeridian
from sitewatch.model import Scene, Site
from sitewatch.store.base import RunRecord, Store

#: Footprints and cloud masks are traced on a grid at most this many pixels wide.
OUTLINE_MAX_PX = 1024
IMAGE_SUFFIXES = (".tif", ".tiff")
#: Cloud masks sit beside their scene as ``<id>.cloud.tif``; they are not scenes.
MASK_SUFFIX = ".cloud"

ProgressFn = Callable[[int, int, str], None]


@dataclass
class IngestReport:
    """Outcome of :func:`ingest_paths`: counts, the new scene ids and ``(path, message)`` failures."""

    added: int = 0
    duplicates: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    scene_ids: list[str] = field(default_factory=list)


def ingest_paths(store: Store, paths: Iterable[str | Path], *, on_progress: ProgressFn | None = None) -> IngestReport:
    """Ingest image files and folders (searched recursively for ``*.tif``/``*.tiff``)."""
    files: list[Path] = []
    report = IngestReport()
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files.extend(iter_images(p))
        elif p.exists():
            files.append(p)
        else:
            report.failed.append((str(p), f"{p}: no such file or folder — fix: check the path"))
    run = RunRecord(f"ingest-{uuid.uuid4().hex[:12]}", "ingest", _now(), None, {"paths": [str(p) for p in files]})
    store.record_run(run)
    sites = store.list_sites()
    # Known content is skipped before any pixel is read, so re-scanning a folder costs a hash per file.
    known = {s.content_hash for s in store.list_scenes()}
    for i, path in enumerate(files):
        if on_progress:
            on_progress(i, len(files), path.name)
        try:
            content_hash = file_sha256(path)
            if content_hash in known:
                report.duplicates += 1
                continue
            scene = scan_image(path, content_hash)
            # add_scene is still the arbiter: another process may have added it meanwhile.
            if store.add_scene(scene, covered_sites(scene, sites)):
                report.added += 1
                report.scene_ids.append(scene.id)
            else:
                report.duplicates += 1
            known.add(content_hash)
        except SitewatchError as exc:
            report.failed.append((str(path), " ".join(str(exc).split())))
        except Exception as exc:  # one unreadable file must not stop the batch
            report.failed.append((str(path), f"{path}: unexpected {type(exc).__name__}: {_first_line(exc)}"))
    if on_progress:
        on_progress(len(files), len(files), "done")
    params = {**run.params, "added": report.added, "duplicates": report.duplicates, "failed": len(report.failed)}
    store.record_run(RunRecord(run.id, run.kind, run.started, _now(), params))
    return report


def iter_images(folder: Path) -> Iterator[Path]:
    """Image files under ``folder`` in a stable order, leaving out cloud masks."""
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.stem.endswith(MASK_SUFFIX):
            yield p


def covered_sites(scene: Scene, sites: Sequence[Site]) -> list[str]:
    return [s.id for s in sites if scene.footprint.intersects(s.aoi)]


def scan_image(
    path: Path, content_hash: str | None = None, *, metadata: Callable[[DatasetReader], SceneMetadata] | None = None
) -> Scene:
    """Everything needed to store ``path`` as a scene; raises :class:`ImageError` if unusable.

    ``metadata`` replaces the sidecar/tag lookup (STAC ingest reads it from the item).
    """
    content_hash = content_hash or file_sha256(path)
    with open_raster(path) as ds:
        meta = metadata(ds) if metadata else read_metadata(path, ds)
        footprint = valid_outline(ds)
        if footprint.is_empty:
            raise ImageError("image has no valid pixels (all nodata)", path=path, fix="check the nodata value or mask")
        _check_no_pole(footprint, ds, path)
        cloud = cloud_outline(meta.cloud_mask, ds) if meta.cloud_mask else shapely.Polygon()
        crs = ds.crs.to_string()
        width, height, bands = ds.width, ds.height, ds.count
    cloud_cover = meta.cloud_cover
    if cloud_cover is None and meta.cloud_mask:
        cloud_cover = float(cloud.intersection(footprint).area / footprint.area)
    return Scene(
        id=meta.id or f"scene-{content_hash[:16]}",
        uri=str(path.resolve()),
        acquired=meta.acquired,
        sensor=meta.sensor,
        gsd=meta.gsd,
        crs=crs,
        footprint=split_antimeridian(reproject_geometry(footprint, crs, "EPSG:4326")),
        valid=split_antimeridian(reproject_geometry(footprint.difference(cloud), crs, "EPSG:4326")),
        content_hash=content_hash,
        width=width,
        height=height,
        bands=bands,
        off_nadir=meta.off_nadir,
        sun_elevation=meta.sun_elevation,
        sun_azimuth=meta.sun_azimuth,
        cloud_cover=cloud_cover,
        simulated=meta.simulated,
        extra={"metadata_source": meta.source},
    )


def _check_no_pole(footprint: BaseGeometry, ds: DatasetReader, path: Path) -> None:
    """Refuse an image whose footprint contains a pole: no lon/lat polygon can describe it."""
    for name, lat in (("North", 90.0), ("South", -90.0)):
        try:
            pole = reproject_geometry(shapely.Point(0.0, lat), "EPSG:4326", ds.crs)
        except ProjError:
            continue
        if np.isfinite(pole.coords[0]).all() and footprint.contains(pole):
            raise ImageError(
                f"image covers the {name} Pole, which a longitude/latitude footprint cannot describe",
                path=path,
                fix="cut the image into parts that leave the pole out (e.g. gdal_translate -srcwin) and ingest those",
            )


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _outline_shape(ds: DatasetReader) -> tuple[int, int]:
    scale = max(1.0, max(ds.width, ds.height) / OUTLINE_MAX_PX)
    return max(1, round(ds.height / scale)), max(1, round(ds.width / scale))


def valid_outline(ds: DatasetReader) -> BaseGeometry:
    """Outline of the valid (not nodata / masked) pixels, in the dataset CRS."""
    shape_ = _outline_shape(ds)
    mask = ds.dataset_mask(out_shape=shape_, resampling=Resampling.nearest) > 0
    return polygonize(mask, ds, shape_)


def cloud_outline(mask_path: Path, ds: DatasetReader) -> BaseGeometry:
    """Cloud polygons (mask value 1) of a mask on the scene grid, in the dataset CRS."""
    with open_raster(mask_path) as m:
        if (m.width, m.height) != (ds.width, ds.height) or not m.transform.almost_equals(ds.transform):
            raise ImageError(
                f"cloud mask grid {m.width}x{m.height} does not match the scene grid {ds.width}x{ds.height}",
                path=mask_path,
                fix="write the cloud mask on the scene's pixel grid",
            )
        shape_ = _outline_shape(ds)
        # Any cloud in a decimated cell makes it cloud: coverage is underestimated, never overstated.
        share = m.read(1, out_shape=shape_, resampling=Resampling.average, out_dtype="float32")
        cloud = share > 0
    return polygonize(cloud, ds, shape_)


def polygonize(mask: np.ndarray, ds: DatasetReader, shape_: tuple[int, int]) -> BaseGeometry:
    """Union of the True regions of a (possibly decimated) mask, simplified to its cell size."""
    transform = ds.transform @ Affine.scale(ds.width / shape_[1], ds.height / shape_[0])
    polys = [shape(g) for g, _ in rasterio.features.shapes(mask.astype("uint8"), mask=mask, transform=transform)]
    if not polys:
        return shapely.Polygon()
    cell = max(abs(transform.a), abs(transform.e))
    merged = shapely.union_all(polys)
    if isinstance(merged, shapely.Polygon) and len(merged.exterior.coords) <= 5 and not merged.interiors:
        return merged  # a plain quadrilateral: simplifying a one-cell-wide one would halve it to a triangle
    return merged.simplify(cell, preserve_topology=True)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
