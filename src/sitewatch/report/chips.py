"""Image crops for reports: decimated windowed reads, annotated chips and before/after picks.

Pixels come only through :mod:`sitewatch.imagery.raster` (a window around the geometry,
resampled on read to at most ``max_size`` pixels), so a report never holds a whole scene
in memory. Boxes are drawn with OpenCV on RGB arrays.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import cv2
import numpy as np
import shapely
from affine import Affine
from PIL import Image
from shapely.geometry.base import BaseGeometry

from sitewatch.counts.coverage import observed_fraction
from sitewatch.imagery.raster import geometry_to_pixels, open_raster, read_rgb, window_for_geometry
from sitewatch.model import Alert, Detection, PixelBox, Scene
from sitewatch.report.figures import InlineImage, class_rgb

#: Long side of the site map thumbnail and of alert chips, in pixels.
MAP_SIZE = 900
CHIP_SIZE = 360
#: Scenes seeing at least this share of an area count as clear for picking images.
CLEAR_FRACTION = 0.9


@dataclass(frozen=True)
class Crop:
    """An RGB crop of a scene and the mapping from scene pixels to crop pixels."""

    image: np.ndarray  # (H, W, 3) uint8
    transform: Affine  # crop pixel -> scene CRS
    crs: str
    col_off: float
    row_off: float
    scale: float  # crop pixels per scene pixel

    def box(self, det: Detection) -> PixelBox:
        """``det``'s scene pixel box in crop pixels."""
        x0, y0, x1, y1 = det.box
        s = self.scale
        return PixelBox(
            (x0 - self.col_off) * s,
            (y0 - self.row_off) * s,
            (x1 - self.col_off) * s,
            (y1 - self.row_off) * s,
            det.cls,
            det.score,
        )

    def pixels(self, geom_4326: BaseGeometry) -> BaseGeometry:
        """``geom_4326`` in crop pixel coordinates."""
        return geometry_to_pixels(self.transform, self.crs, geom_4326)


def scene_path(uri: str) -> Path:
    """A local path from a scene URI (plain path or ``file://`` URL)."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    return Path(uri)


def read_crop(scene: Scene, geom_4326: BaseGeometry, *, max_size: int, pad_fraction: float = 0.1) -> Crop | None:
    """The part of ``scene`` around ``geom_4326`` (padded), decimated to ``max_size`` pixels.

    ``None`` when the geometry is outside the image. Raises
    :class:`~sitewatch.errors.ImageError` when the image cannot be read.
    """
    with open_raster(scene_path(scene.uri)) as ds:
        window = window_for_geometry(ds, geom_4326)
        if window is None:
            return None
        pad = int(pad_fraction * max(window.width, window.height))
        window = window_for_geometry(ds, geom_4326, pad_px=pad)
        if window is None:
            return None
        scale = min(1.0, max_size / max(window.width, window.height))
        shape = (max(1, round(window.height * scale)), max(1, round(window.width * scale)))
        rgb, _ = read_rgb(ds, window, out_shape=shape)
        transform = ds.window_transform(window) @ Affine.scale(window.width / shape[1], window.height / shape[0])
        crs = ds.crs.to_wkt()
    return Crop(rgb, transform, crs, float(window.col_off), float(window.row_off), shape[1] / window.width)


def latest_clear(scenes: Iterable[Scene], geom_4326: BaseGeometry) -> Scene | None:
    """The latest scene seeing at least :data:`CLEAR_FRACTION` of the area, else the one seeing most."""
    ranked = [(observed_fraction(geom_4326, s.valid), s) for s in scenes]
    ranked = [(f, s) for f, s in ranked if f > 0]
    if not ranked:
        return None
    clear = [(f, s) for f, s in ranked if f >= CLEAR_FRACTION]
    if clear:
        return max(clear, key=lambda fs: fs[1].acquired)[1]
    return max(ranked, key=lambda fs: (fs[0], fs[1].acquired))[1]


def comparable_before(scenes: Iterable[Scene], after: Scene, geom_4326: BaseGeometry) -> Scene | None:
    """An earlier scene to set beside ``after``: clear, same sensor and GSD if possible.

    Candidates are the earlier scenes seeing at least :data:`CLEAR_FRACTION` of the area
    or, when there are none, at least as much as ``after`` does; among them the same
    sensor wins, then the closest GSD, then the most recent.
    """
    earlier = [(s, observed_fraction(geom_4326, s.valid)) for s in scenes if s.acquired < after.acquired]
    candidates = [s for s, f in earlier if f >= CLEAR_FRACTION]
    if not candidates:
        need = observed_fraction(geom_4326, after.valid)
        candidates = [s for s, f in earlier if f >= need and f > 0]
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda s: (s.sensor != after.sensor, round(abs(s.gsd - after.gsd), 2), -s.acquired.timestamp()),
    )


def evidence_pair(scenes: Sequence[Scene], alert: Alert, geom: BaseGeometry) -> tuple[Scene | None, Scene | None]:
    """(before, after) scenes of ``geom`` for ``alert``, picked as the HTML report picks them.

    ``after`` is the scene during the alert that sees most of the zone; ``before`` an
    earlier comparable one (:func:`comparable_before`).
    """
    during = [s for s in scenes if alert.start <= s.acquired.date() <= alert.end]
    after = max(during, key=lambda s: (observed_fraction(geom, s.valid), s.acquired), default=None)
    before = comparable_before(scenes, after, geom) if after else None
    return before, after


def annotate(
    crop: Crop,
    detections: Sequence[Detection],
    *,
    outline: BaseGeometry | None = None,
    simulated: bool,
    min_size: int = CHIP_SIZE,
) -> InlineImage:
    """``crop`` with detection boxes (class colours) and ``outline`` (EPSG:4326) drawn, as JPEG.

    Small crops are enlarged (nearest neighbour, whole factors) so boxes stay legible.
    """
    factor = max(1, math.ceil(min_size / max(crop.image.shape[:2])))
    img = (
        cv2.resize(crop.image, None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST)
        if factor > 1
        else crop.image.copy()
    )
    if outline is not None:
        for part in shapely.get_parts(crop.pixels(outline)):
            if isinstance(part, shapely.Polygon) and not part.is_empty:
                pts = np.round(np.asarray(part.exterior.coords)[:, :2] * factor).astype(np.int32)
                cv2.polylines(img, [pts], isClosed=True, color=(255, 255, 255), thickness=1, lineType=cv2.LINE_AA)
    for det in detections:
        b = crop.box(det)
        p0 = (round(b.x0 * factor), round(b.y0 * factor))
        p1 = (round(b.x1 * factor), round(b.y1 * factor))
        cv2.rectangle(img, p0, p1, class_rgb(det.cls), thickness=2 if factor > 1 else 1)
    if simulated:
        stamp(img)
    return encode_jpeg(img)


def stamp(img: np.ndarray, text: str = "SIMULATED") -> None:
    """Write ``text`` in a red box in the top-left corner of ``img`` (in place)."""
    scale = max(0.4, img.shape[1] / 900)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(img, (0, 0), (tw + 8, th + base + 8), (214, 39, 40), thickness=-1)
    cv2.putText(img, text, (4, th + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def encode_jpeg(img: np.ndarray, quality: int = 85) -> InlineImage:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality, optimize=True)
    return InlineImage("image/jpeg", buf.getvalue())
