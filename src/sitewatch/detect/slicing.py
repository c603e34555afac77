"""Sliced inference over scenes of any size.

The scene (or the part inside an AOI) is cut into overlapping tiles laid out at the
detector's GSD. A block of neighbouring tiles is read as one window and resampled to that
GSD once, then cut into tiles, so shared edges are decoded and resized once and a 50k x 50k
COG never sits in memory. A reader thread fetches the next block while the model runs on
the current one. De-duplication at seams: every tile owns a core (its share of the overlap,
split down the middle), a box is kept only by the tile whose core holds its centre, and
a class-aware NMS then removes what straddles a core boundary. (Within a tile, the model's
decoding has already kept one box per object: see ``boxes.SAME_OBJECT_IOU``; across a seam,
two tiles that named one vehicle differently are merged the same way.) Boxes whose centre
is on nodata, cloud or outside the AOI are dropped.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio.enums import ColorInterp, MaskFlags, Resampling
from rasterio.io import DatasetReader
from rasterio.windows import Window
from shapely.geometry import box as shapely_box
from shapely.geometry.base import BaseGeometry

from sitewatch.detect.base import Detector
from sitewatch.detect.boxes import Boxes, nms
from sitewatch.errors import ImageError, NoValidPixelsError
from sitewatch.imagery.ingest import MASK_SUFFIX
from sitewatch.imagery.jpegtiles import JpegTiles, alignment
from sitewatch.imagery.metadata import ground_sample_distance, sidecar_path
from sitewatch.imagery.raster import (
    STRETCH_PERCENTILES,
    CrsLike,
    geometry_to_pixels,
    open_raster,
    pixel_to_lonlat,
    read_pixels,
    window_for_geometry,
)
from sitewatch.model import Detection, PixelBox

#: Overlap between neighbouring tiles, in pixels at the detector GSD (25 m at 0.4 m): an
#: owned centre is at least half of it from the tile edge, so vehicles up to ~25 m are whole.
DEFAULT_OVERLAP = 64
#: Tiles per model call. One: a 512 px tile's activations stay in the core's own cache,
#: and batches of 4 ran 30-40 % slower per tile (21.6 vs 30.6 ms of CPU, CenterNet-lite on
#: one thread); parallelism comes from several single-tile calls at once instead.
DEFAULT_BATCH = 1
#: Tiles are read in blocks of up to this many rows and columns of neighbours: one windowed
#: read and one resize per block, then cut. An archive scene's 6 x 6 tiles took 60 ms of
#: read CPU one by one, 44 in 3 x 3 blocks, 43 as one block; but the model waits for the
#: first block, so blocks of 3 x 3 (about 1,400 px square at the model GSD) keep reading
#: beside inference for all but a quarter of such a scene, and memory flat on any size.
BLOCK_TILES = 3
#: Margin (model px) added to each tile's core before the seam NMS.
CORE_MARGIN = 2.0
#: IoU above which two same-class boxes from neighbouring tiles are one object.
SEAM_IOU = 0.5
#: GDAL block cache while slicing (MB): blocks are read about once, so more buys nothing.
#: It must hold a row of blocks: GDAL resamples row by row, and with a cache smaller than a
#: block every row decodes its block again (a 128-*byte* cache made reads ~100x slower).
READ_CACHE_MB = 128
#: How much coarser than the coarsest training GSD a scene may be before we refuse it.
GSD_TOLERANCE = 1.5
#: Largest relative change of the model's GSD accepted to read JPEG tiles at a whole M/8 scale.
SCALE_SNAP = 0.05

ProgressFn = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Tile:
    """One tile: its source window (clipped to the image), the pixels it fills in the
    model-GSD tile array, and the core it owns (source pixels, half-open)."""

    col: int
    row: int
    width: int
    height: int
    out_width: int
    out_height: int
    core: tuple[float, float, float, float]

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        return self.col, self.row, self.col + self.width, self.row + self.height


@dataclass(frozen=True)
class Placement:
    """Where a tile's pixels were resampled from: the edge of tile pixel (u, v) is source
    pixel (x + u * sx, y + v * sy). Exact for the block the tile was cut from."""

    x: float
    y: float
    sx: float
    sy: float


@dataclass(frozen=True)
class ReadTiles:
    """Tiles read for the model: uint8 (H, W, 3) pixels of the full tile shape (zero-padded,
    invalid pixels black; views into the block where nothing needed changing), each tile's
    valid mask (its own size) and its placement in the source."""

    pixels: list[np.ndarray]
    valid: list[np.ndarray]
    placements: list[Placement]

    def __getitem__(self, part: slice) -> ReadTiles:
        return ReadTiles(self.pixels[part], self.valid[part], self.placements[part])


def _axis(start: float, length: float, tile: float, step: float) -> list[tuple[float, float, float]]:
    """(origin, core start, core end) of each tile along one axis, in source pixels."""
    if length <= tile:
        return [(start, -math.inf, math.inf)]
    n = math.ceil((length - tile) / step) + 1
    origins = [start + i * step for i in range(n - 1)] + [start + length - tile]
    # A core boundary is the middle of the overlap between two neighbours.
    cuts = [(origins[i + 1] + origins[i] + tile) / 2 for i in range(n - 1)]
    return list(zip(origins, [-math.inf, *cuts], [*cuts, math.inf], strict=True))


def plan_tiles(
    region: Window, image_size: tuple[int, int], scale: float, tile_shape: tuple[int, int], overlap: int
) -> list[Tile]:
    """Tiles covering ``region`` (source pixels) for a detector ``scale`` source px per model px.

    ``tile_shape`` is (height, width) in model pixels and ``overlap`` in model pixels.
    """
    width, height = image_size
    th, tw = tile_shape
    xs = _axis(region.col_off, region.width, tw * scale, (tw - overlap) * scale)
    ys = _axis(region.row_off, region.height, th * scale, (th - overlap) * scale)
    tiles = []
    for oy, cy0, cy1 in ys:
        for ox, cx0, cx1 in xs:
            c0, r0 = max(round(ox), 0), max(round(oy), 0)
            c1, r1 = min(round(ox + tw * scale), width), min(round(oy + th * scale), height)
            if c1 <= c0 or r1 <= r0:
                continue
            out_w, out_h = min(tw, max(1, round((c1 - c0) / scale))), min(th, max(1, round((r1 - r0) / scale)))
            tiles.append(Tile(c0, r0, c1 - c0, r1 - r0, out_w, out_h, (cx0, cy0, cx1, cy1)))
    return tiles


def tile_shape_for(region: Window, scale: float, tile_size: int) -> tuple[int, int]:
    """Tile (height, width) in model px: ``tile_size``, or less for a small region (multiple of 32)."""

    def side(n: float) -> int:
        return min(tile_size, max(32, math.ceil(n / scale / 32) * 32))

    return side(region.height), side(region.width)


def check_gsd(gsd: float, detector: Detector, path: str | Path) -> None:
    """Refuse imagery too coarse for the detector (vehicles would be a pixel or two)."""
    coarsest = max(getattr(detector, "gsd_range", (detector.gsd, detector.gsd)))
    if not (gsd > 0 and math.isfinite(gsd)):
        raise ImageError(f"invalid GSD {gsd}", path=path, fix="give the image's metres per pixel (--gsd)")
    if gsd > coarsest * GSD_TOLERANCE:
        raise ImageError(
            f"GSD {gsd:.2f} m/px is far coarser than the detector handles (trained up to {coarsest:.2f} m/px); "
            "vehicles are not resolvable",
            path=path,
            fix="use imagery of 0.3-0.8 m/px, or pass the right --gsd if the metadata is wrong",
        )


def choose_bands(ds: DatasetReader, bands: Sequence[int] | None, path: str | Path) -> tuple[int, ...]:
    """RGB band indices (1-based): given, from the colour interpretation, 1-2-3, or grey."""
    if bands is not None:
        bands = tuple(bands)
        if len(bands) not in (1, 3) or any(b < 1 or b > ds.count for b in bands):
            raise ImageError(
                f"bands {bands} do not fit a {ds.count}-band image",
                path=path,
                fix=f"give 3 band numbers (R,G,B) between 1 and {ds.count}, or one for grey",
            )
        return bands
    interp = list(ds.colorinterp)
    rgb = [ColorInterp.red, ColorInterp.green, ColorInterp.blue]
    if all(c in interp for c in rgb):
        return tuple(interp.index(c) + 1 for c in rgb)
    if ds.count >= 3:
        return (1, 2, 3)
    if ds.count == 1:
        return (1,)
    raise ImageError(
        f"{ds.count} bands and no colour interpretation: cannot tell which are red, green and blue",
        path=path,
        fix="pass --bands R,G,B (band numbers), or give an RGB or single-band image",
    )


def find_cloud_mask(path: str | Path) -> Path | None:
    """The scene's cloud mask: the sidecar's ``cloud_mask`` or ``<stem>.cloud.tif`` beside it."""
    path = Path(path)
    sidecar = sidecar_path(path)
    if sidecar.is_file():
        try:
            name = json.loads(sidecar.read_text()).get("cloud_mask")
        except (OSError, ValueError):
            name = None
        if name and (path.parent / name).is_file():
            return path.parent / name
    default = path.with_name(f"{path.stem}{MASK_SUFFIX}.tif")
    return default if default.is_file() else None


class TileReader:
    """Reads tiles as uint8 RGB + valid mask at the model GSD (cloud mask applied).

    ``scale`` is source pixels per model pixel; the reader may adjust it slightly (use its
    ``scale`` attribute to plan tiles). Non-8-bit data is stretched with one
    scene-wide range (not per tile), so contrast does not jump at seams.
    """

    def __init__(
        self, ds: DatasetReader, bands: tuple[int, ...], cloud: DatasetReader | None, region: Window, scale: float
    ):
        self.ds, self.bands, self.cloud, self.scale = ds, bands, cloud, scale
        self.stretch = None if ds.dtypes[0] == "uint8" else _scene_range(ds, bands, region)
        # No nodata, no mask, no alpha: every pixel is valid and the mask read can be skipped.
        self.all_valid = all(MaskFlags.all_valid in flags for flags in ds.mask_flag_enums)
        self.jpeg = JpegTiles.open(ds, bands) if self.stretch is None else None
        # JPEG tiles can decode straight to M/8 of full size (see jpegtiles). When that is within
        # SCALE_SNAP of the model's GSD, work at it: no resize, and the model, trained with
        # ±15 % scale jitter, sees no difference (0.3 m imagery is exactly 6/8 of 0.4 m).
        self.eighths = 8
        m = round(8 / scale)
        if self.jpeg is not None and 1 <= m < 8 and abs(m * scale / 8 - 1) <= SCALE_SNAP:
            self.scale, self.eighths = 8 / m, m

    def __enter__(self) -> TileReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.jpeg is not None:
            self.jpeg.close()

    def read_block(self, tiles: Sequence[Tile]) -> list[tuple[np.ndarray, np.ndarray, Placement]]:
        """Neighbouring tiles read as one window, resized once and cut: per tile its pixels
        (invalid ones black), valid mask (views into the block) and placement."""
        c0, c1 = min(t.col for t in tiles), max(t.col + t.width for t in tiles)
        r0, r1 = min(t.row for t in tiles), max(t.row + t.height for t in tiles)
        if self.eighths < 8:  # only ever so with a JPEG reader
            # Widen by a few pixels to whole decoded pixels, so JPEG tiles decode straight to
            # the model GSD (see jpegtiles); at an image edge off that grid, they cannot.
            a = alignment(self.eighths)
            c0, c1 = _widen(c0, c1, a, self.ds.width)
            r0, r1 = _widen(r0, r1, a, self.ds.height)
        out_w, out_h = max(1, round((c1 - c0) / self.scale)), max(1, round((r1 - r0) / self.scale))
        rgb, valid = self.read_window(Window(c0, r0, c1 - c0, r1 - r0), (out_h, out_w))
        if not valid.all():  # nodata and cloud look the same to the model: black, as in training padding
            cv2.bitwise_and(rgb, rgb, dst=rgb, mask=valid.view(np.uint8))  # ~6x faster than numpy masking
        sx, sy = (c1 - c0) / out_w, (r1 - r0) / out_h
        cut = []
        for t in tiles:
            x, y = min(round((t.col - c0) / sx), out_w - 1), min(round((t.row - r0) / sy), out_h - 1)
            part = (slice(y, y + min(t.out_height, out_h - y)), slice(x, x + min(t.out_width, out_w - x)))
            cut.append((rgb[part], valid[part], Placement(c0 + x * sx, r0 + y * sy, sx, sy)))
        return cut

    def read_window(self, window: Window, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """``window`` resampled to ``shape`` (rows, cols): RGB pixels and valid mask."""
        clear = None if self.cloud is None else self.cloud.read(1, window=window) == 0
        if self.stretch is not None:  # pixels and nodata mask already at the model GSD
            rgb, valid = self._read_scaled(window, shape)
            if clear is not None:
                valid &= _resize(clear.view(np.uint8), shape, nearest=True).view(bool)
            return rgb, valid
        if self.jpeg is None:
            pixels = read_pixels(self.ds, self.bands, window)
        else:
            exact = self.eighths < 8 and self.jpeg.fits(window, self.eighths)
            pixels = self.jpeg.read(window, self.eighths if exact else 8)
        rgb = pixels if pixels.shape[2] == 3 else np.repeat(pixels, 3, axis=2)
        source_valid = None if self.all_valid else self.ds.dataset_mask(window=window) > 0
        if clear is not None:
            source_valid = clear if source_valid is None else source_valid & clear
        # Both masks combined before one nearest resize (the same pixels as resizing each);
        # most windows are wholly valid and skip it.
        if source_valid is None or source_valid.all():
            return _resize(rgb, shape), np.ones(shape, dtype=bool)
        return _resize(rgb, shape), _resize(source_valid.view(np.uint8), shape, nearest=True).view(bool)

    def _read_scaled(self, window: Window, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        assert self.stretch is not None
        lo, hi = self.stretch
        shrinking = shape[0] < window.height or shape[1] < window.width
        data = self.ds.read(
            list(self.bands),
            window=window,
            out_shape=(len(self.bands), *shape),
            resampling=Resampling.average if shrinking else Resampling.bilinear,
        ).astype(np.float32)
        valid = self.ds.dataset_mask(window=window, out_shape=shape, resampling=Resampling.nearest) > 0
        valid &= np.isfinite(data).all(axis=0)
        scaled = np.clip((np.nan_to_num(data, nan=lo) - lo) * (255.0 / max(hi - lo, 1e-9)), 0, 255).astype(np.uint8)
        if len(self.bands) == 1:
            scaled = np.repeat(scaled, 3, axis=0)
        return np.ascontiguousarray(np.moveaxis(scaled, 0, -1)), valid


def _widen(start: int, stop: int, step: int, limit: int) -> tuple[int, int]:
    """``[start, stop)`` widened to multiples of ``step``, the end only if that stays within ``limit``."""
    end = stop + (-stop) % step
    return start - start % step, end if end <= limit else stop


@contextmanager
def opencv_single_threaded() -> Iterator[None]:
    """OpenCV's own thread pool off while slicing, restored after.

    The slicer already runs the reads beside the model on their own thread; OpenCV's pool
    (one worker per core) split each resize again and its workers busy-wait between jobs:
    0.04 s of CPU per archive scene (6 %), taken from the model on a busy machine.
    """
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


def _resize(image: np.ndarray, shape: tuple[int, int], nearest: bool = False) -> np.ndarray:
    """``image`` resampled to ``shape`` (rows, cols): area-average when shrinking (OpenCV is
    several times faster than GDAL's average for non-integer factors)."""
    if image.shape[:2] == shape:
        return image
    shrinking = shape[0] < image.shape[0]
    interp = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    if interp == cv2.INTER_AREA and image.dtype == np.uint8:
        # OpenCV's area resize by a fractional factor (0.3 -> 0.4 m) is 30 % faster on float32
        # than on uint8, conversions included, and rounds back to the same pixels.
        return cv2.convertScaleAbs(cv2.resize(image.astype(np.float32), (shape[1], shape[0]), interpolation=interp))
    return cv2.resize(image, (shape[1], shape[0]), interpolation=interp)


def _scene_range(ds: DatasetReader, bands: tuple[int, ...], region: Window) -> tuple[float, float]:
    # A decimated read (overviews when present) is enough for robust percentiles.
    f = max(1.0, max(region.width, region.height) / 1024)
    shape = (max(1, int(region.height / f)), max(1, int(region.width / f)))
    data = ds.read(list(bands), window=region, out_shape=(len(bands), *shape), resampling=Resampling.nearest)
    valid = ds.dataset_mask(window=region, out_shape=shape, resampling=Resampling.nearest) > 0
    values = data[:, valid].astype(np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(values, STRETCH_PERCENTILES)
    return float(lo), float(hi)


def blocks(tiles: Sequence[Tile], most: int | None = None) -> list[list[Tile]]:
    """``tiles`` (a plan, or part of one) grouped into blocks of up to ``most`` x ``most``
    (default :data:`BLOCK_TILES`) neighbours, split evenly; plan order kept within a block."""
    most = most or BLOCK_TILES

    def groups(starts: set[int]) -> dict[int, int]:
        ordered = sorted(starts)
        n = math.ceil(len(ordered) / most)
        return {v: i * n // len(ordered) for i, v in enumerate(ordered)}

    by_row, by_col = groups({t.row for t in tiles}), groups({t.col for t in tiles})
    out: dict[tuple[int, int], list[Tile]] = {}
    for t in tiles:
        out.setdefault((by_row[t.row], by_col[t.col]), []).append(t)
    return [out[k] for k in sorted(out)]


def read_tiles(reader: TileReader, tiles: Sequence[Tile], shape: tuple[int, int]) -> ReadTiles:
    """``tiles`` read block by block, in the order given, at tile ``shape`` (rows, cols)."""
    got: dict[Tile, tuple[np.ndarray, np.ndarray, Placement]] = {}
    for block in blocks(tiles):
        for t, (rgb, valid, place) in zip(block, reader.read_block(block), strict=True):
            if rgb.shape[:2] != shape:  # zero-padded, as in training
                full = np.zeros((*shape, 3), dtype=np.uint8)
                full[: rgb.shape[0], : rgb.shape[1]] = rgb
                rgb = full
            got[t] = rgb, valid, place
    return ReadTiles([got[t][0] for t in tiles], [got[t][1] for t in tiles], [got[t][2] for t in tiles])


def run_tiles(
    reader: TileReader,
    tiles: Sequence[Tile],
    shape: tuple[int, int],
    detector: Detector,
    *,
    aoi_pixels: BaseGeometry | None = None,
    batch_size: int = DEFAULT_BATCH,
    on_progress: ProgressFn | None = None,
) -> tuple[Boxes, int]:
    """Detect over ``tiles``; boxes in source pixels (owned, valid, in AOI, NMS'd) and valid tiles.

    One thread reads the next block ahead while up to ``detector.batch_workers`` batches
    (default 1) are in the model at once; results are collected in tile order, so the output
    does not depend on the number of workers.
    """
    classes = list(detector.classes)
    workers = max(1, int(getattr(detector, "batch_workers", 1)))

    def infer(batch: Sequence[Tile], read: ReadTiles) -> tuple[list[Boxes], int]:
        live = [i for i, v in enumerate(read.valid) if v.any()]
        # One tile goes in as a (1, H, W, 3) view of its block: the model's own contiguous
        # copy is then the only one.
        tiles_in = read.pixels[live[0]][None] if len(live) == 1 else [read.pixels[i] for i in live]
        results = detector.detect_batch(tiles_in) if live else []
        owned = [
            _own(batch[i], read.placements[i], read.valid[i], found, classes)
            for i, found in zip(live, results, strict=True)
        ]
        return owned, len(live)

    kept: list[Boxes] = []
    valid_tiles = done = 0
    groups = blocks(tiles)
    inflight: deque[tuple[int, Future[tuple[list[Boxes], int]]]] = deque()

    def collect() -> None:
        nonlocal valid_tiles, done
        n, future = inflight.popleft()
        boxes, n_live = future.result()
        kept.extend(boxes)
        valid_tiles += n_live
        done += n
        if on_progress:
            on_progress(done, len(tiles), "tiles")

    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="sitewatch-read") as reader_pool,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sitewatch-infer") as model_pool,
    ):
        pending = reader_pool.submit(read_tiles, reader, groups[0], shape) if groups else None
        for k, group in enumerate(groups):
            assert pending is not None
            read = pending.result()
            if k + 1 < len(groups):
                pending = reader_pool.submit(read_tiles, reader, groups[k + 1], shape)  # read ahead
            for i in range(0, len(group), batch_size):
                part = slice(i, i + batch_size)
                inflight.append((len(group[part]), model_pool.submit(infer, group[part], read[part])))
                while len(inflight) > workers:  # bounded: at most one batch waiting per worker
                    collect()
        while inflight:
            collect()
    boxes = Boxes.concat(kept)
    if aoi_pixels is not None and len(boxes):
        cx, cy = (boxes.boxes[:, 0] + boxes.boxes[:, 2]) / 2, (boxes.boxes[:, 1] + boxes.boxes[:, 3]) / 2
        boxes = boxes.take(shapely.contains_xy(aoi_pixels, cx, cy))
    boxes = nms(boxes, SEAM_IOU)
    # One box per object, as the detector keeps within a tile (None: every class's box, for mAP).
    same = getattr(detector, "same_object_iou", None)
    return (boxes if same is None else nms(boxes, same, class_aware=False)), valid_tiles


def _own(tile: Tile, place: Placement, valid: np.ndarray, found: list[PixelBox], classes: list[str]) -> Boxes:
    """Tile boxes in source pixels, kept when the centre is in the tile's core and on valid pixels."""
    if not found:
        return Boxes.empty()
    b = Boxes(
        np.array([[p.x0, p.y0, p.x1, p.y1] for p in found], dtype=np.float32),
        np.array([p.score for p in found], dtype=np.float32),
        np.array([classes.index(p.cls) for p in found], dtype=np.int64),
    )
    tx, ty = (b.boxes[:, 0] + b.boxes[:, 2]) / 2, (b.boxes[:, 1] + b.boxes[:, 3]) / 2
    ix = np.clip(tx.astype(np.int64), 0, valid.shape[1] - 1)
    iy = np.clip(ty.astype(np.int64), 0, valid.shape[0] - 1)
    inside = (tx < valid.shape[1]) & (ty < valid.shape[0]) & valid[iy, ix]
    sx, sy = place.sx, place.sy
    b = Boxes(
        b.boxes * np.array([sx, sy, sx, sy], dtype=np.float32)
        + np.array([place.x, place.y, place.x, place.y], dtype=np.float32),
        b.scores,
        b.labels,
    )
    cx, cy = (b.boxes[:, 0] + b.boxes[:, 2]) / 2, (b.boxes[:, 1] + b.boxes[:, 3]) / 2
    # Neighbouring tiles resample on slightly different grids, so one object's centre can
    # move by a pixel between them: a small margin keeps it from falling between two
    # cores, and the NMS that follows removes the resulting duplicate.
    m = CORE_MARGIN * sx
    x0, y0, x1, y1 = tile.core
    return b.take(inside & (cx >= x0 - m) & (cx < x1 + m) & (cy >= y0 - m) & (cy < y1 + m))


def detect_pixels(
    ds: DatasetReader,
    detector: Detector,
    *,
    gsd: float,
    region: Window | None = None,
    aoi_pixels: BaseGeometry | None = None,
    tile_size: int | None = None,
    overlap: int | None = None,
    bands: Sequence[int] | None = None,
    cloud_mask: str | Path | None = None,
    batch_size: int = DEFAULT_BATCH,
    on_progress: ProgressFn | None = None,
) -> Boxes:
    """Detect over an open raster; boxes in its pixel grid.

    Raises :class:`NoValidPixelsError` when the region is all nodata or cloud (an empty
    result would read as "no vehicles") and :class:`ImageError` for an unusable GSD or bands.
    """
    path = ds.name
    check_gsd(gsd, detector, path)
    band_ids = choose_bands(ds, bands, path)
    region = region or Window(0, 0, ds.width, ds.height)
    size = tile_size or detector.tile_size
    ov = DEFAULT_OVERLAP if overlap is None else overlap
    if not 0 <= ov <= size // 2:
        raise ImageError(f"overlap {ov} px does not fit {size} px tiles", path=path, fix="use a smaller --overlap")
    cloud = open_raster(cloud_mask, require_georef=False) if cloud_mask else None
    try:
        # Each block is read about once, so a big GDAL cache only inflates memory.
        # rasterio hands an int to GDALSetCacheMax64, i.e. in bytes (rasterio/rasterio#2336).
        with (
            rasterio.Env(GDAL_CACHEMAX=READ_CACHE_MB * 2**20),
            opencv_single_threaded(),
            TileReader(ds, band_ids, cloud, region, detector.gsd / gsd) as reader,
        ):
            shape = tile_shape_for(region, reader.scale, size)
            tiles = plan_tiles(region, (ds.width, ds.height), reader.scale, shape, min(ov, min(shape) // 2))
            if aoi_pixels is not None:
                tiles = [t for t in tiles if aoi_pixels.intersects(shapely_box(*t.bounds))]
            boxes, valid_tiles = run_tiles(
                reader, tiles, shape, detector, aoi_pixels=aoi_pixels, batch_size=batch_size, on_progress=on_progress
            )
    finally:
        if cloud is not None:
            cloud.close()
    if tiles and valid_tiles == 0:
        where = "inside the AOI" if aoi_pixels is not None else "in the image"
        raise NoValidPixelsError(
            f"no valid pixels {where} (all nodata or cloud)", path=path, fix="nothing to detect; check the scene"
        )
    return boxes


def detect_raster(
    path: str | Path,
    detector: Detector,
    *,
    aoi: BaseGeometry | None = None,
    tile_size: int | None = None,
    overlap: int | None = None,
    bands: Sequence[int] | None = None,
    scene_id: str | None = None,
    gsd: float | None = None,
    cloud_mask: str | Path | None = None,
    batch_size: int = DEFAULT_BATCH,
    on_progress: ProgressFn | None = None,
) -> list[Detection]:
    """Georeferenced detections in a GeoTIFF/COG, only inside ``aoi`` (EPSG:4326) if given.

    ``gsd`` overrides the raster's own; the cloud mask defaults to the sidecar's (see
    :func:`find_cloud_mask`). Boxes are in the scene's pixel grid, geometries in EPSG:4326.
    """
    path = Path(path)
    cloud_mask = cloud_mask if cloud_mask is not None else find_cloud_mask(path)
    with open_raster(path) as ds:
        gsd = gsd or ground_sample_distance(ds)
        region, aoi_pixels = None, None
        if aoi is not None:
            region = window_for_geometry(ds, aoi, pad_px=int(DEFAULT_OVERLAP * detector.gsd / gsd))
            if region is None:
                return []  # the AOI is outside this scene: nothing to look at, not an error
            aoi_pixels = geometry_to_pixels(ds, None, aoi)
        boxes = detect_pixels(
            ds,
            detector,
            gsd=gsd,
            region=region,
            aoi_pixels=aoi_pixels,
            tile_size=tile_size,
            overlap=overlap,
            bands=bands,
            cloud_mask=cloud_mask,
            batch_size=batch_size,
            on_progress=on_progress,
        )
        transform, crs = ds.transform, ds.crs
    sid = scene_id or path.stem
    classes = detector.classes
    return [
        Detection(
            sid, classes[int(c)], float(s), (float(b[0]), float(b[1]), float(b[2]), float(b[3])), g, detector.name
        )
        for b, s, c, g in zip(*boxes, box_polygons(boxes.boxes, transform, crs), strict=True)
    ]


def box_polygons(boxes: np.ndarray, transform: Affine, crs: CrsLike) -> np.ndarray:
    """Pixel boxes (N, 4) as ground quadrilaterals in EPSG:4326, in one vectorised transform."""
    if len(boxes) == 0:
        return np.empty(0, dtype=object)
    x0, y0, x1, y1 = boxes.T.astype(np.float64)
    cols = np.stack([x0, x1, x1, x0], axis=1)
    rows = np.stack([y0, y0, y1, y1], axis=1)
    lons, lats = pixel_to_lonlat(transform, crs, cols.ravel(), rows.ravel())
    return shapely.polygons(np.stack([lons, lats], axis=1).reshape(-1, 4, 2))


def detect_image(
    path: str | Path,
    detector: Detector,
    *,
    gsd: float | None = None,
    tile_size: int | None = None,
    overlap: int | None = None,
    bands: Sequence[int] | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> list[PixelBox]:
    """Pixel boxes in any image GDAL reads (PNG/JPG too); ``gsd`` defaults to the raster's,
    else the detector's own (the caller should warn that it was assumed)."""
    with open_raster(path, require_georef=False) as ds:
        georeferenced = ds.crs is not None and not ds.transform.is_identity
        gsd = gsd or (ground_sample_distance(ds) if georeferenced else detector.gsd)
        boxes = detect_pixels(
            ds, detector, gsd=gsd, tile_size=tile_size, overlap=overlap, bands=bands, batch_size=batch_size
        )
    return boxes.to_pixel_boxes(detector.classes)
