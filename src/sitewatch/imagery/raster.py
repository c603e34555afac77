"""Raster read primitives over rasterio: open with checks, windows from geometries, RGB reads.

Everything that opens a raster goes through :func:`open_raster`, so a bad file always
fails the same way: an :class:`~sitewatch.errors.ImageError` naming the file, the problem
and the fix. Geometries passed in and returned are EPSG:4326 (lon, lat).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TypeAlias

import numpy as np
import rasterio
import shapely
import shapely.affinity
from affine import Affine
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError, ProjError
from rasterio.crs import CRS as RioCRS
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.io import DatasetReader
from rasterio.windows import Window
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from sitewatch.errors import ImageError

#: Percentiles used to stretch non-uint8 imagery to 0..255.
STRETCH_PERCENTILES: tuple[float, float] = (2.0, 98.0)
#: Largest image accepted, in pixels (65536²): more is a decompression bomb or a mosaic to cut up.
MAX_IMAGE_PIXELS = 65536 * 65536

CrsLike: TypeAlias = CRS | RioCRS | str | int


def open_raster(path: str | Path, *, require_georef: bool = True) -> DatasetReader:
    """Open a raster for reading, failing with :class:`ImageError` on anything unusable.

    Checks that the file is an image GDAL can read, that its last block is present (a
    truncated download fails here rather than mid-pipeline) and, unless
    ``require_georef=False``, that it has a CRS and a geotransform. URLs and GDAL ``/vsi``
    paths are passed to GDAL as they are.
    """
    local = not _is_remote(str(path))
    path = Path(path) if local else path
    if local:
        _check_local_file(Path(path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            ds = rasterio.open(path)
    except RasterioIOError as exc:
        raise ImageError(
            f"not a readable image ({_first_line(exc)})", path=path, fix="give a GeoTIFF/COG or another GDAL raster"
        ) from exc
    try:
        _check_size(ds, path)
        _check_complete(ds, path)
        if require_georef:
            _check_georef(ds, path)
    except BaseException:
        ds.close()
        raise
    return ds


def _is_remote(uri: str) -> bool:
    return "://" in uri or uri.startswith("/vsi")


def _check_local_file(path: Path) -> None:
    if not path.exists():
        raise ImageError("file not found", path=path, fix="check the path")
    if not path.is_file():
        raise ImageError("not a file", path=path, fix="give an image file (folders are only searched by ingest)")
    if path.stat().st_size == 0:
        raise ImageError("empty file (0 bytes)", path=path, fix="re-download or re-export the image")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _check_size(ds: DatasetReader, path: str | Path) -> None:
    # Checked before any pixel is read: the header alone can declare terapixels.
    if ds.width * ds.height > MAX_IMAGE_PIXELS:
        raise ImageError(
            f"image declares {ds.width}x{ds.height} pixels, more than the {MAX_IMAGE_PIXELS} allowed",
            path=path,
            fix="cut it into tiles (e.g. gdal_retile.py -ps 32768 32768) and ingest the tiles",
        )


def _check_complete(ds: DatasetReader, path: str | Path) -> None:
    # Truncation loses the tail of the file, so reading the last block of the last band
    # catches it cheaply without reading the whole image.
    if ds.count == 0 or ds.width == 0 or ds.height == 0:
        raise ImageError("image has no bands or no pixels", path=path, fix="re-export the image")
    bh, bw = ds.block_shapes[-1]
    col, row = ((ds.width - 1) // bw) * bw, ((ds.height - 1) // bh) * bh
    last = Window(col, row, min(bw, ds.width - col), min(bh, ds.height - row))
    try:
        ds.read(ds.count, window=last)
    except RasterioIOError as exc:
        raise ImageError(
            "image data is truncated or corrupt (its last block cannot be read)",
            path=path,
            fix="re-download or re-export the image",
        ) from exc


def _check_georef(ds: DatasetReader, path: str | Path) -> None:
    if ds.crs is None and ds.transform.is_identity and (ds.gcps[0] or ds.rpcs is not None):
        # Orthorectification needs a DEM and care (no silent guesses), so it stays a GDAL step.
        if ds.gcps[0]:
            what, warp = f"{len(ds.gcps[0])} ground control points", "gdalwarp -tps -t_srs EPSG:<utm>"
        else:
            what, warp = (
                "RPCs (rational polynomial coefficients)",
                "gdalwarp -rpc -to RPC_DEM=dem.tif -t_srs EPSG:<utm>",
            )
        raise ImageError(
            f"image is georeferenced only by {what}, not on a map grid",
            path=path,
            fix=f"orthorectify it first (e.g. `{warp} in.tif out.tif`) and ingest out.tif",
        )
    if ds.crs is None:
        raise ImageError(
            "image has no coordinate reference system",
            path=path,
            fix="georeference it (e.g. gdal_translate -a_srs/-a_ullr) or give a GeoTIFF with a CRS",
        )
    if ds.transform.is_identity or ds.transform.determinant == 0:
        raise ImageError(
            "image has no geotransform (pixel grid is not tied to the ground)",
            path=path,
            fix="georeference it (e.g. gdal_translate -a_ullr) or give a GeoTIFF with a geotransform",
        )
    try:
        lon, lat = pixel_to_lonlat(ds, None, ds.width / 2, ds.height / 2)
        usable = bool(np.isfinite(lon).all() and np.isfinite(lat).all())
    except ProjError:  # CRSError included
        usable = False
    if not usable:
        raise ImageError(
            f"image CRS {_crs_name(ds.crs)!r} cannot be converted to longitude/latitude",
            path=path,
            fix="reproject it to a known CRS such as UTM (e.g. gdalwarp -t_srs EPSG:<utm> in.tif out.tif)",
        )


def _crs_name(crs: RioCRS) -> str:
    try:
        return str(CRS.from_user_input(crs.to_wkt()).name)
    except CRSError:
        return crs.to_string()[:80]


@lru_cache(maxsize=64)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)


def _crs_key(crs: CrsLike) -> str:
    # Parsing a CRS costs far more than a 4-point transform, so user inputs are cached.
    if isinstance(crs, RioCRS):
        return crs.to_wkt()
    return _user_crs_wkt(crs)


@lru_cache(maxsize=64)
def _user_crs_wkt(crs: CRS | str | int) -> str:
    return CRS.from_user_input(crs).to_wkt()


def reproject_geometry(geom: BaseGeometry, src_crs: CrsLike, dst_crs: CrsLike) -> BaseGeometry:
    """``geom`` from ``src_crs`` to ``dst_crs`` (axis order x, y / lon, lat)."""
    src, dst = _crs_key(src_crs), _crs_key(dst_crs)
    if src == dst:
        return geom
    tr = _transformer(src, dst)
    return shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


def split_antimeridian(geom_4326: BaseGeometry) -> BaseGeometry:
    """A lon/lat polygon wrongly spanning the globe (vertices on both sides of ±180°) cut at ±180°.

    Reprojecting a footprint that crosses the antimeridian gives vertices near +180 and
    -180, which as written would wrap the polygon the long way round the Earth. Geometries
    narrower than 180° of longitude are returned as they are (RFC 7946 §3.1.9).
    """
    minx, _, maxx, _ = geom_4326.bounds
    if geom_4326.is_empty or maxx - minx <= 180:
        return geom_4326
    east = shapely.transform(
        geom_4326, lambda xy: np.column_stack([np.where(xy[:, 0] < 0, xy[:, 0] + 360, xy[:, 0]), xy[:, 1]])
    )
    west = shapely.affinity.translate(east.intersection(shapely.box(180, -90, 540, 90)), -360)
    halves = shapely.get_parts([east.intersection(shapely.box(-180, -90, 180, 90)), west])
    # Cutting along ±180 can leave slivers of zero area (lines, points): keep the area only.
    return shapely.union_all([p for p in halves if isinstance(p, shapely.Polygon) and p.area > 0])


def geometry_to_pixels(
    ds_or_transform: DatasetReader | Affine, crs: CrsLike | None, geom_4326: BaseGeometry
) -> BaseGeometry:
    """``geom_4326`` in the raster's pixel coordinates (col, row; fractional)."""
    transform, crs = _transform_and_crs(ds_or_transform, crs)
    projected = reproject_geometry(geom_4326, "EPSG:4326", crs)
    inv = ~transform
    return shapely.transform(projected, lambda xy: np.column_stack(_affine(inv, xy[:, 0], xy[:, 1])))


def _affine(t: Affine, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f


def pixel_to_lonlat(
    ds_or_transform: DatasetReader | Affine, crs: CrsLike | None, cols: np.ndarray | float, rows: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """Fractional pixel coordinates (col, row; 0,0 = top-left corner) to lon/lat arrays."""
    transform, crs = _transform_and_crs(ds_or_transform, crs)
    xs, ys = _affine(transform, np.asarray(cols, dtype="float64"), np.asarray(rows, dtype="float64"))
    tr = _transformer(_crs_key(crs), _crs_key("EPSG:4326"))
    lons, lats = tr.transform(xs, ys)
    return np.asarray(lons), np.asarray(lats)


def pixel_box_to_polygon(transform: Affine, crs: CrsLike, box: tuple[float, float, float, float]) -> Polygon:
    """A pixel box (x0, y0, x1, y1) as its ground quadrilateral in EPSG:4326."""
    x0, y0, x1, y1 = box
    lons, lats = pixel_to_lonlat(transform, crs, np.array([x0, x1, x1, x0]), np.array([y0, y0, y1, y1]))
    return Polygon(zip(lons.tolist(), lats.tolist(), strict=True))


def _transform_and_crs(ds_or_transform: DatasetReader | Affine, crs: CrsLike | None) -> tuple[Affine, CrsLike]:
    if isinstance(ds_or_transform, Affine):
        if crs is None:
            raise ValueError("a CRS is needed with a bare transform")
        return ds_or_transform, crs
    return ds_or_transform.transform, crs if crs is not None else ds_or_transform.crs


def window_for_geometry(ds: DatasetReader, geom_4326: BaseGeometry, pad_px: int = 0) -> Window | None:
    """The pixel window covering ``geom_4326`` (plus ``pad_px``), clipped to the image.

    ``None`` when the geometry's bounds do not overlap the image.
    """
    pix = geometry_to_pixels(ds, None, geom_4326)
    if pix.is_empty:
        return None
    c0, r0, c1, r1 = pix.bounds
    # A small tolerance keeps round-trip noise (9.9999999 for 10) from growing the window.
    eps = 1e-6
    c0, r0 = max(math.floor(c0 + eps) - pad_px, 0), max(math.floor(r0 + eps) - pad_px, 0)
    c1, r1 = min(math.ceil(c1 - eps) + pad_px, ds.width), min(math.ceil(r1 - eps) + pad_px, ds.height)
    if c1 <= c0 or r1 <= r0:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0)


def read_pixels(
    ds: DatasetReader,
    bands: Sequence[int],
    window: Window,
    shape: tuple[int, int] | None = None,
    resampling: Resampling = Resampling.nearest,
) -> np.ndarray:
    """``bands`` of ``window`` as one (H, W, len(bands)) array, resampled on read to ``shape``.

    GDAL writes the bands pixel-interleaved straight into the array: about 4x faster than
    reading band-sequential and transposing, which cost as much as decoding.
    """
    shape = shape or (round(window.height), round(window.width))
    pixels = np.empty((*shape, len(bands)), dtype=ds.dtypes[bands[0] - 1])
    ds.read(list(bands), window=window, out=pixels.transpose(2, 0, 1), resampling=resampling)
    return pixels


def read_rgb(
    ds: DatasetReader,
    window: Window | None = None,
    *,
    out_shape: tuple[int, int] | None = None,
    bands: tuple[int, ...] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Read ``window`` as an (H, W, 3) uint8 image and an (H, W) bool mask of valid pixels.

    Bands 1-3 are used (or ``bands``); a single band is replicated to grey. Non-uint8 data
    is stretched to 0..255 between robust percentiles of the valid pixels. ``out_shape``
    (rows, cols) resamples on read (average when shrinking, so overviews are used).
    """
    if bands is None:
        bands = (1, 2, 3) if ds.count >= 3 else (1,)
    if len(bands) not in (1, 3):
        raise ValueError(f"bands must name 1 or 3 bands, got {bands}")
    window = window or Window(0, 0, ds.width, ds.height)
    shape = out_shape or (round(window.height), round(window.width))
    shrinking = shape[0] < window.height or shape[1] < window.width
    resampling = Resampling.average if shrinking else Resampling.bilinear
    pixels = read_pixels(ds, bands, window, shape, resampling)
    data = pixels.transpose(2, 0, 1)
    mask = ds.dataset_mask(window=window, out_shape=shape, resampling=Resampling.nearest) > 0
    if np.issubdtype(data.dtype, np.floating):
        mask &= np.isfinite(data).all(axis=0)
    rgb = pixels if data.dtype == np.uint8 else np.moveaxis(to_uint8(data, mask), 0, -1)
    if rgb.shape[2] == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    return np.ascontiguousarray(rgb), mask


def to_uint8(data: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Stretch (bands, H, W) data to uint8 between robust percentiles of the valid pixels."""
    if data.dtype == np.uint8:
        return data
    values = data[:, valid]
    values = values[np.isfinite(values)]
    if values.size == 0:
        return np.zeros(data.shape, dtype=np.uint8)
    lo, hi = np.percentile(values, STRETCH_PERCENTILES)
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    out = (np.nan_to_num(data.astype("float32"), nan=float(lo)) - lo) * scale
    return np.clip(out, 0, 255).astype(np.uint8)
