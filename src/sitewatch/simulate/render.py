"""Pixels: a site's static base map, then each scene drawn from it.

The base map (ground albedo and vegetation cover) is drawn once per site at a fine
reference GSD. A scene area-resamples it to its own GSD and misregistration, tints the
vegetation for the season, adds vehicles with shadows, building shadows for the sun of
the day, illumination, haze, clouds with their shadows, off-nadir blur and sensor noise,
and cuts the footprint. Everything is a pure function of its inputs and ``Generator``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import LineString, Polygon
from shapely.geometry.base import BaseGeometry

from sitewatch.simulate.acquisition import Acquisition
from sitewatch.simulate.activity import Vehicle
from sitewatch.simulate.chips import Sprite, sprite_to_gsd
from sitewatch.simulate.layout import SiteLayout, Structure
from sitewatch.simulate.texture import MATERIALS, fractal_noise

REF_GSD = 0.3  # m/px of the base map
AIRLIGHT = np.array([0.80, 0.83, 0.88], np.float32)
#: Vegetation albedo through the year (Jan..Dec): dormant brown in winter, green in summer.
VEG_COLOUR = np.array(
    [
        (0.27, 0.26, 0.21),
        (0.27, 0.26, 0.21),
        (0.27, 0.27, 0.20),
        (0.26, 0.29, 0.19),
        (0.22, 0.31, 0.16),
        (0.19, 0.30, 0.14),
        (0.18, 0.29, 0.13),
        (0.18, 0.29, 0.13),
        (0.21, 0.29, 0.15),
        (0.28, 0.28, 0.18),
        (0.29, 0.27, 0.20),
        (0.27, 0.26, 0.21),
    ],
    np.float32,
)

SpriteLookup = Callable[[Vehicle], Sprite]


@dataclass(frozen=True)
class BaseMap:
    """Static appearance of a site at ``REF_GSD``: RGB albedo * 255 and vegetation cover * 255."""

    layout: SiteLayout
    packed: np.ndarray  # H x W x 4 uint8: R, G, B albedo and vegetation cover


@dataclass(frozen=True)
class RenderedScene:
    image: np.ndarray  # H x W x 3 uint8, 0 = nodata
    cloud_mask: np.ndarray  # H x W uint8, 1 = cloud or cloud shadow
    valid: np.ndarray  # H x W bool, inside the footprint
    boxes: np.ndarray  # N x 4 pixel boxes (x0, y0, x1, y1) of the vehicles, in order; may overhang the edge
    visible: np.ndarray  # N bool
    coverage_fraction: float
    cloud_fraction: float


@dataclass(frozen=True)
class Window:
    """A square part of the layout to draw: top-left corner (m) and side (m)."""

    west: float
    north: float
    extent: float

    @classmethod
    def whole(cls, layout: SiteLayout) -> Window:
        return cls(0.0, layout.size, layout.size)

    def shape(self, gsd: float) -> tuple[int, int]:
        n = math.ceil(self.extent / gsd - 1e-9)
        return n, n


def _to_px(geom: BaseGeometry, win: Window, gsd: float, shift: tuple[float, float] = (0.0, 0.0)) -> BaseGeometry:
    """Layout metres -> pixel coordinates (x right, y down) of ``win`` sampled at ``gsd``."""
    return affinity.affine_transform(
        geom, [1 / gsd, 0, 0, -1 / gsd, shift[0] - win.west / gsd, win.north / gsd + shift[1]]
    )


def _fill(mask: np.ndarray, geom: BaseGeometry, value: float = 1.0) -> None:
    for part in shapely.get_parts(geom):
        if isinstance(part, Polygon) and not part.is_empty:
            pts = [np.round(np.asarray(part.exterior.coords) * 16).astype(np.int32)]
            pts += [np.round(np.asarray(r.coords) * 16).astype(np.int32) for r in part.interiors]
            cv2.fillPoly(mask, [pts[0]], value, lineType=cv2.LINE_AA, shift=4)
            for hole in pts[1:]:
                cv2.fillPoly(mask, [hole], 0, lineType=cv2.LINE_AA, shift=4)


def _lines(img: np.ndarray, geom: BaseGeometry, colour: tuple[float, ...], width: int = 1) -> None:
    for part in shapely.get_parts(geom):
        if isinstance(part, LineString) and not part.is_empty:
            pts = np.round(np.asarray(part.coords) * 16).astype(np.int32)
            cv2.polylines(img, [pts], False, colour, width, lineType=cv2.LINE_AA, shift=4)


def _roof_halves(poly: Polygon) -> tuple[Polygon, Polygon]:
    """Split a rectangular roof along its ridge (the long axis)."""
    c = np.asarray(poly.exterior.coords)[:4]
    if np.linalg.norm(c[1] - c[0]) < np.linalg.norm(c[2] - c[1]):
        c = np.roll(c, -1, axis=0)
    m12, m30 = (c[1] + c[2]) / 2, (c[3] + c[0]) / 2
    return Polygon([c[0], c[1], m12, m30]), Polygon([m30, m12, c[2], c[3]])


def _roi(geom: BaseGeometry, shape: tuple[int, int]) -> tuple[slice, slice] | None:
    """Pixel window (rows, cols) holding ``geom`` (pixel coordinates), clipped to ``shape``."""
    if geom.is_empty:
        return None
    x0, y0, x1, y1 = geom.bounds
    c0, r0 = max(int(x0) - 2, 0), max(int(y0) - 2, 0)
    c1, r1 = min(int(x1) + 3, shape[1]), min(int(y1) + 3, shape[0])
    if c1 <= c0 or r1 <= r0:
        return None
    return slice(r0, r1), slice(c0, c1)


def _paint(img: np.ndarray, cover: np.ndarray, geom: BaseGeometry, colour: np.ndarray, tex: np.ndarray) -> None:
    """Paint polygon ``geom`` (pixel coordinates) with ``colour`` * ``tex``, only inside its window."""
    win = _roi(geom, img.shape[:2])
    if win is None:
        return
    local = affinity.translate(geom, -win[1].start, -win[0].start)
    m = np.zeros((win[0].stop - win[0].start, win[1].stop - win[1].start), np.float32)
    _fill(m, local)
    sub = img[win]
    sub += (colour * tex[win] - sub) * m[..., None]
    np.maximum(cover[win], m, out=cover[win])


def render_base(layout: SiteLayout, rng: np.random.Generator) -> BaseMap:
    """Draw the static ground of a site: soil, vegetation, surfaces, rails, markings and roofs."""
    size = layout.size + 4 * REF_GSD  # a small margin so every scene grid is covered
    n = math.ceil(size / REF_GSD)
    shape = (n, n)
    fine = fractal_noise(shape, rng, cell=24, octaves=4)[..., None]
    broad = fractal_noise(shape, rng, cell=400, octaves=3)[..., None]
    soil = np.asarray(MATERIALS["soil"], np.float32)
    grass = np.asarray(MATERIALS["dry_grass"], np.float32)
    img = (soil + (grass - soil) * broad) * (0.85 + 0.3 * fine)
    veg = np.clip((fractal_noise(shape, rng, cell=250, octaves=5) - 0.5) * 4.0, 0, 1)
    veg *= 0.6 + 0.4 * fine[..., 0]
    rough, smooth = 0.9 + 0.2 * fine, 0.96 + 0.08 * fine

    def px(g: BaseGeometry) -> BaseGeometry:
        return _to_px(g, Window.whole(layout), REF_GSD)

    built = np.zeros(shape, np.float32)
    for sf in layout.surfaces:
        tex = smooth if sf.material == "asphalt" else rough
        _paint(img, built, px(sf.geometry), np.asarray(MATERIALS[sf.material], np.float32), tex)
    ballast = np.asarray(MATERIALS["ballast"], np.float32)
    for track in layout.tracks:
        _paint(img, built, px(track.buffer(2.0, cap_style="flat")), ballast, rough)
        for off in (-0.72, 0.72):
            _lines(img, px(track.offset_curve(off)), (0.18, 0.17, 0.16))
    for mark in layout.markings:
        _lines(img, px(mark), (0.55, 0.55, 0.53))  # thin paint: partly mixed with asphalt at 0.3 m
    for st in layout.structures:
        for k, half in enumerate(_roof_halves(st.geometry)):
            colour = np.asarray(MATERIALS[st.material], np.float32) * (1.0 if k else 0.88)
            _paint(img, built, px(half), colour, smooth)
    veg *= 1 - np.clip(built * 1.5, 0, 1)
    # convertScaleAbs scales, rounds and saturates to uint8 in one pass.
    packed = cv2.merge([*cv2.split(cv2.convertScaleAbs(img, alpha=255.0)), cv2.convertScaleAbs(veg, alpha=255.0)])
    return BaseMap(layout, packed)


def _shadow_dir(acq: Acquisition) -> tuple[float, float]:
    """Unit vector (dx east, dy north) pointing away from the sun."""
    a = math.radians(acq.sun_azimuth)
    return -math.sin(a), -math.cos(a)


def _vehicle_corners(v: Vehicle, win: Window, gsd: float, shift: tuple[float, float]) -> np.ndarray:
    """Pixel corners (4 x 2) of a vehicle's rectangle in the scene grid."""
    h = math.radians(v.heading)
    ux, uy = math.cos(h) * v.length / 2, math.sin(h) * v.length / 2
    vx, vy = -math.sin(h) * v.width / 2, math.cos(h) * v.width / 2
    pts = np.array(
        [(v.x + sx * ux + sy * vx, v.y + sx * uy + sy * vy) for sx, sy in ((1, 1), (-1, 1), (-1, -1), (1, -1))]
    )
    return np.column_stack([(pts[:, 0] - win.west) / gsd + shift[0], (win.north - pts[:, 1]) / gsd + shift[1]])


def _stamp(
    sprite_rgb: np.ndarray, sprite_a: np.ndarray, centre: tuple[float, float], heading: float, shape: tuple[int, int]
) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray] | None:
    """Rotate a sprite about its centre onto a small canvas placed at ``centre`` (px)."""
    h, w = sprite_a.shape
    r = math.ceil(math.hypot(w, h) / 2) + 2
    x0, y0 = math.floor(centre[0]) - r, math.floor(centre[1]) - r
    x1, y1 = x0 + 2 * r + 1, y0 + 2 * r + 1
    if x1 <= 0 or y1 <= 0 or x0 >= shape[1] or y0 >= shape[0]:
        return None
    m = cv2.getRotationMatrix2D((w / 2, h / 2), heading, 1.0)
    m[0, 2] += centre[0] - x0 - w / 2
    m[1, 2] += centre[1] - y0 - h / 2
    size = (2 * r + 1, 2 * r + 1)
    rgb = cv2.warpAffine(sprite_rgb, m, size, flags=cv2.INTER_LINEAR)
    a = cv2.warpAffine(sprite_a, m, size, flags=cv2.INTER_LINEAR)
    cx0, cy0 = max(0, -x0), max(0, -y0)
    cx1, cy1 = size[0] - max(0, x1 - shape[1]), size[1] - max(0, y1 - shape[0])
    region = (slice(y0 + cy0, y0 + cy1), slice(x0 + cx0, x0 + cx1))
    return region, rgb[cy0:cy1, cx0:cx1], a[cy0:cy1, cx0:cx1]


def _draw_vehicles(
    img: np.ndarray,
    vehicles: Sequence[Vehicle],
    sprite_of: SpriteLookup,
    acq: Acquisition,
    win: Window,
    shadow_gain: float,
) -> np.ndarray:
    """Composite vehicles and their soft shadows onto albedo ``img`` (in place); return pixel boxes."""
    shape = img.shape[:2]
    sdx, sdy = _shadow_dir(acq)
    tan_el = math.tan(math.radians(max(acq.sun_elevation, 5.0)))
    boxes = np.zeros((len(vehicles), 4))
    for i, v in enumerate(vehicles):
        corners = _vehicle_corners(v, win, acq.gsd, acq.shift_px)
        boxes[i] = (*corners.min(axis=0), *corners.max(axis=0))
        cx, cy = corners.mean(axis=0)
        rgb, a = sprite_to_gsd(sprite_of(v), v.length, v.width, acq.gsd)
        reach = v.height / tan_el / acq.gsd
        for f in (1.0, 0.66, 0.33):  # a shadow swept from the vehicle outwards
            got = _stamp(rgb, a, (cx + sdx * reach * f, cy - sdy * reach * f), v.heading, shape)
            if got:
                region, _, sa = got
                img[region] *= (1 - (1 - shadow_gain) * cv2.GaussianBlur(sa, (3, 3), 0.8))[..., None]
        got = _stamp(rgb, a, (cx, cy), v.heading, shape)
        if got:
            region, srgb, sa = got
            img[region] = img[region] * (1 - sa[..., None]) + srgb * (255 * sa[..., None])
    return boxes


def _building_shadows(
    structures: Sequence[Structure], acq: Acquisition, win: Window, shape: tuple[int, int]
) -> np.ndarray:
    """Soft mask (0-1) of ground shaded by buildings and towers for the sun of ``acq``."""
    sdx, sdy = _shadow_dir(acq)
    tan_el = math.tan(math.radians(max(acq.sun_elevation, 5.0)))
    mask = np.zeros(shape, np.float32)
    for st in structures:
        reach = st.height / tan_el
        moved = affinity.translate(st.geometry, sdx * reach, sdy * reach)
        shade = shapely.union(st.geometry, moved).convex_hull.difference(st.geometry)
        _fill(mask, _to_px(shade, win, acq.gsd, acq.shift_px))
    return cv2.GaussianBlur(mask, (0, 0), 0.7)


def _footprint(acq: Acquisition, shape: tuple[int, int]) -> np.ndarray:
    """Pixels inside the scene footprint: everything, or one side of a straight edge."""
    if acq.footprint is None:
        return np.ones(shape, bool)
    angle, keep = acq.footprint
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    ys, xs = np.ogrid[: shape[0], : shape[1]]
    proj = xs * c + ys * s
    sample = proj[:: max(1, shape[0] // 64), :: max(1, shape[1] // 64)]
    return proj <= float(np.quantile(np.broadcast_to(sample, (sample.shape[0], sample.shape[1])), keep))


def _clouds(
    acq: Acquisition, extent: float, shape: tuple[int, int], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Cloud opacity and cloud-shadow strength (0-1) on the scene grid."""
    if acq.cloud_target <= 0.002:
        z = np.zeros(shape, np.float32)
        return z, z
    cell = 4.0  # m per noise pixel
    height = float(rng.uniform(800, 2500))
    tan_el = math.tan(math.radians(max(acq.sun_elevation, 10.0)))
    sdx, sdy = _shadow_dir(acq)
    # A shadow at ground pixel p comes from the cloud above p - d (d: cloud -> shadow offset).
    d = np.round(np.array([sdx, -sdy]) * height / tan_el / cell).astype(int)
    n = math.ceil(extent / cell)
    field = fractal_noise((n + abs(d[1]), n + abs(d[0])), rng, cell=60, octaves=6, persistence=0.55)
    cx0, cy0 = max(0, int(d[0])), max(0, int(d[1]))
    cloud_lo = field[cy0 : cy0 + n, cx0 : cx0 + n]
    shade_lo = field[cy0 - d[1] : cy0 - d[1] + n, cx0 - d[0] : cx0 - d[0] + n]
    thr = float(np.quantile(cloud_lo, 1 - acq.cloud_target))

    def opacity(f: np.ndarray) -> np.ndarray:
        up = cv2.resize(f, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
        return np.clip((up - thr + 0.03) / 0.1, 0, 1).astype(np.float32)

    return opacity(cloud_lo), opacity(shade_lo)


def render_scene(
    base: BaseMap,
    acq: Acquisition,
    vehicles: Sequence[Vehicle],
    sprite_of: SpriteLookup,
    *,
    window: Window | None = None,
) -> RenderedScene:
    """Draw one scene of ``base`` (or of a ``window`` of it) with ``vehicles`` as acquired under ``acq``.

    Work is done on float32 colour planes with single-channel factor maps, so each
    full-scene pass touches as little memory as possible (scenes are ~10 Mpx).
    """
    rng = np.random.default_rng(acq.seed)
    win = window or Window.whole(base.layout)
    shape = win.shape(acq.gsd)
    k = acq.gsd / REF_GSD
    dx, dy = acq.shift_px
    # Area-resample the part of the base under the window, then place it on the scene grid
    # with the misregistration shift (affine from scene pixel centres to resampled pixels).
    c_edge, r_edge = win.west / REF_GSD, (base.layout.size - win.north) / REF_GSD
    c0, r0 = max(int(c_edge) - 2, 0), max(int(r_edge) - 2, 0)
    span = math.ceil(win.extent / REF_GSD) + 5
    sub = base.packed[r0 : r0 + span, c0 : c0 + span]
    small = (max(1, round(sub.shape[1] / k)), max(1, round(sub.shape[0] / k)))
    packed = cv2.resize(sub, small, interpolation=cv2.INTER_AREA)
    qx, qy = small[0] / sub.shape[1], small[1] / sub.shape[0]
    m = np.array(
        [
            [k * qx, 0, 0.5 * k * qx - 0.5 + (c_edge - c0) * qx - dx * k * qx],
            [0, k * qy, 0.5 * k * qy - 0.5 + (r_edge - r0) * qy - dy * k * qy],
        ],
        np.float64,
    )
    packed = cv2.warpAffine(
        packed, m, (shape[1], shape[0]), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )
    planes = np.ascontiguousarray(packed[..., :3].transpose(2, 0, 1), dtype=np.float32)  # albedo * 255
    # In-place and cv2.scaleAdd (dst = a * x + y) keep full-scene temporaries few: they dominate the cost.
    veg = packed[..., 3].astype(np.float32)
    veg *= np.float32(1 / 255)
    keep = 1 - veg
    tint = veg * np.float32(0.6)
    tint += np.float32(0.7)
    tint *= veg
    for c, colour in enumerate(VEG_COLOUR[acq.acquired.month - 1] * 255):
        planes[c] *= keep
        cv2.scaleAdd(tint, float(colour), planes[c], dst=planes[c])

    sin_el = math.sin(math.radians(max(acq.sun_elevation, 3.0)))
    direct, diffuse = 0.95 * sin_el, 0.32
    shadow_gain = diffuse / (direct + diffuse)
    boxes = _draw_vehicles(planes.transpose(1, 2, 0), vehicles, sprite_of, acq, win, shadow_gain)

    # One multiplicative and one additive map: building shadows, exposure, haze, clouds.
    exposure = 1.35 * (direct + diffuse) / (0.95 * 0.8 + 0.32) ** 0.6
    gain = 1 - (1 - shadow_gain) * _building_shadows(base.layout.structures, acq, win, shape)
    gain *= exposure
    haze_field = cv2.resize(
        fractal_noise((16, 16), rng, cell=6, octaves=2), (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC
    )
    air = haze_field * np.float32(0.6 * acq.haze)
    air += np.float32(0.7 * acq.haze)
    gain *= 1 - air
    air *= np.float32(255)
    cloud, cloud_shade = _clouds(acq, win.extent, shape, rng)
    bright = None
    if acq.cloud_target > 0.002:
        clear = (1 - 0.55 * cloud_shade) * (1 - cloud)
        gain *= clear
        air *= clear
        tone = cv2.resize(fractal_noise((64, 64), rng, cell=8), (shape[1], shape[0]))
        bright = cloud * (0.97 * 255) * (0.88 + 0.12 * tone)
    # Sensor noise from OpenCV's generator (much faster than numpy's at this size), seeded per scene.
    noise = np.empty(shape, np.float32)
    cv2.setRNGSeed(acq.seed)
    cv2.randn(noise, np.float64(0.0), np.float64(1.5))  # type: ignore[call-overload]
    out = np.empty((*shape, 3), np.uint8)
    for c in range(3):
        p = planes[c]
        p *= gain
        cv2.scaleAdd(air, float(AIRLIGHT[c]), p, dst=p)
        if bright is not None:
            p += bright
        p += noise
        out[..., c] = np.clip(p, 1, 255, out=p)
    out = np.asarray(cv2.GaussianBlur(out, (0, 0), 0.4 + acq.off_nadir / 40.0), np.uint8)  # optics, off-nadir smear

    valid = _footprint(acq, shape)
    out[~valid] = 0
    cloud_mask = (((cloud > 0.35) | (cloud_shade > 0.35)) & valid).astype(np.uint8)

    # Visible: the centre is on the image, inside the footprint and clear of cloud and its shadow.
    centre = np.floor((boxes[:, :2] + boxes[:, 2:]) / 2).astype(int)
    on_image = (centre >= 0).all(axis=1) & (centre[:, 0] < shape[1]) & (centre[:, 1] < shape[0])
    cx, cy = np.clip(centre[:, 0], 0, shape[1] - 1), np.clip(centre[:, 1], 0, shape[0] - 1)
    visible = on_image & valid[cy, cx] & (cloud_mask[cy, cx] == 0)
    n_valid = int(valid.sum())
    return RenderedScene(
        image=out,
        cloud_mask=cloud_mask,
        valid=valid,
        boxes=boxes,
        visible=visible,
        coverage_fraction=n_valid / valid.size,
        cloud_fraction=float(cloud_mask.sum()) / max(n_valid, 1),
    )
