"""Procedural site layouts in a local metric frame.

A layout is drawn in metres with the origin at the south-west corner of a square AOI
(x east, y north). It is a template (rail line and yard, roads, halls, a pad, car parks,
storage, a construction plot) jittered and rotated per site, plus the parking *slots*
where vehicles of given classes can stand. Nothing here draws pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import LineString, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

#: Classes that may park in each kind of slot.
CAR_SLOT = frozenset({"car", "other_vehicle"})
BIG_SLOT = frozenset({"car", "truck", "bus", "tanker", "other_vehicle", "crane"})
RAIL_SLOT = frozenset({"rail_car", "locomotive"})
ROAD_SLOT = frozenset({"car", "truck", "bus", "tanker"})
YARD_SLOT = frozenset({"truck", "tanker", "other_vehicle", "construction_vehicle"})
WORK_SLOT = frozenset({"construction_vehicle", "truck", "crane"})


@dataclass(frozen=True)
class SiteSpec:
    """A simulated site: a real location with a procedural layout."""

    id: str
    name: str
    lat: float
    lon: float
    kind: str  # "launch_station" | "research_centre"
    country: str = "KP"
    description: str = ""


#: Built-in simulated sites, placed at real coordinates but laid out procedurally.
SITE_SPECS: tuple[SiteSpec, ...] = (
    SiteSpec(
        "sim-sohae",
        "Sohae launch station (simulated)",
        39.6596,
        124.7057,
        "launch_station",
        description="SIMULATED launch station at the coordinates of Sohae; layout is procedural.",
    ),
    SiteSpec(
        "sim-sanumdong",
        "Sanumdong missile research centre (simulated)",
        39.0758,
        125.7481,
        "research_centre",
        description="SIMULATED missile research centre at the coordinates of Sanumdong; layout is procedural.",
    ),
    SiteSpec(
        "sim-tonghae",
        "Tonghae launch ground (simulated)",
        40.8500,
        129.6667,
        "launch_station",
        description="SIMULATED launch ground at the coordinates of Tonghae; layout is procedural.",
    ),
)


#: Sites a simulation may have: the named three, then numbered facilities (see :func:`site_spec`).
MAX_SITES = 60


def site_spec(index: int) -> SiteSpec:
    """Simulated site ``index``: the named :data:`SITE_SPECS` first, then numbered facilities.

    Site 3 onwards (for archive-scale runs) take the kind of named site ``index % 3`` and
    stand 8 km further south-west of it per round, so no two overlap; they have no real
    counterpart and their names say so.
    """
    if not 0 <= index < MAX_SITES:
        raise ValueError(f"site index {index} is outside 0..{MAX_SITES - 1}")
    if index < len(SITE_SPECS):
        return SITE_SPECS[index]
    base = SITE_SPECS[index % len(SITE_SPECS)]
    step = 0.072 * (index // len(SITE_SPECS))  # degrees; ~8 km of latitude
    return SiteSpec(
        f"sim-site-{index + 1:02d}",
        f"Simulated facility {index + 1:02d}",
        base.lat - step,
        base.lon - step,
        base.kind,
        description=f"SIMULATED {base.kind.replace('_', ' ')} with no real counterpart; layout is procedural.",
    )


@dataclass(frozen=True)
class Surface:
    """A painted ground polygon (drawn in layout order, later over earlier)."""

    geometry: BaseGeometry
    material: str


@dataclass(frozen=True)
class Structure:
    """A building or tower: roof polygon, height (m) for shadows, roof material."""

    geometry: Polygon
    height: float
    material: str


@dataclass(frozen=True)
class Slot:
    """A place where one vehicle can stand: centre (m), heading (deg CCW from east)."""

    zone_id: str
    x: float
    y: float
    heading: float
    classes: frozenset[str]
    max_length: float


@dataclass(frozen=True)
class ZoneShape:
    id: str
    name: str
    kind: str
    geometry: Polygon


@dataclass(frozen=True)
class SiteLayout:
    spec: SiteSpec
    size: float
    zones: tuple[ZoneShape, ...]
    surfaces: tuple[Surface, ...]
    structures: tuple[Structure, ...]
    tracks: tuple[LineString, ...]
    markings: tuple[LineString, ...]
    slots: tuple[Slot, ...]


def _rect(cx: float, cy: float, w: float, h: float) -> Polygon:
    return box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def _row(
    zone: str,
    x0: float,
    x1: float,
    y: float,
    spacing: float,
    heading: float,
    classes: frozenset[str],
    max_length: float,
) -> list[Slot]:
    """Slots evenly spaced along x in [x0, x1] at ordinate y."""
    n = max(int((x1 - x0) // spacing), 0)
    return [Slot(zone, x0 + spacing * (i + 0.5), y, heading, classes, max_length) for i in range(n)]


def _car_park(zone: str, rect: Polygon, *, big_row: bool) -> tuple[list[Slot], list[LineString]]:
    """Rows of perpendicular bays along the long (x) side, with painted separators."""
    x0, y0, x1, y1 = rect.bounds
    slots: list[Slot] = []
    marks: list[LineString] = []
    bay, depth = 2.7, 5.2
    rows = [
        (y1 - depth / 2, CAR_SLOT, 5.6),
        ((y0 + y1) / 2 + depth / 2, CAR_SLOT, 5.6),
        ((y0 + y1) / 2 - depth / 2, CAR_SLOT, 5.6),
    ]
    if big_row:
        rows.append((y0 + 7.0, BIG_SLOT, 13.0))
    else:
        rows.append((y0 + depth / 2, CAR_SLOT, 5.6))
    for y, classes, max_len in rows:
        spacing = bay if max_len < 6 else 4.5
        slots += _row(zone, x0 + 2, x1 - 2, y, spacing, 90.0, classes, max_len)
        if max_len < 6:
            for i in range(int((x1 - x0 - 4) // bay) + 1):
                x = x0 + 2 + i * bay
                marks.append(LineString([(x, y - depth / 2), (x, y + depth / 2)]))
    return slots, marks


def generate_layout(spec: SiteSpec, rng: np.random.Generator, *, size: float = 1000.0) -> SiteLayout:
    """A jittered, rotated site layout of ``size`` x ``size`` metres for ``spec``."""

    def j(scale: float = 15.0) -> float:
        return float(rng.uniform(-scale, scale))

    launch = spec.kind == "launch_station"
    zid = spec.id
    surfaces: list[Surface] = []
    structures: list[Structure] = []
    markings: list[LineString] = []
    slots: list[Slot] = []
    zones: list[ZoneShape] = []
    tracks: list[LineString] = []

    # Rail line across the site and a yard of parallel sidings.
    yr, xa = -330 + j(20), -300 + j(30)
    yard_len = 300.0
    tracks.append(LineString([(-700, yr), (700, yr)]))
    for k in range(1, 5):
        yk = yr + 5.0 * k
        tracks.append(LineString([(xa - 10 * k, yr), (xa, yk), (xa + yard_len, yk), (xa + yard_len + 10 * k, yr)]))
    yard = box(xa - 12, yr - 6, xa + yard_len + 12, yr + 26)
    zones.append(ZoneShape(f"{zid}-rail-yard", "Rail yard", "rail_yard", yard))
    surfaces.append(Surface(yard, "gravel"))
    for k in range(0, 5):
        slots += _row(f"{zid}-rail-yard", xa + 5, xa + yard_len - 5, yr + 5.0 * k, 21.0, 0.0, RAIL_SLOT, 20.5)

    # Roads: an east-west main road, a north-south access road and branches.
    yrd, xrd = -200 + j(12), 20 + j(20)
    main_road = box(-700, yrd - 4.5, 700, yrd + 4.5)
    roads = [
        main_road,
        box(xrd - 3.5, yrd, xrd + 3.5, 380),
        box(-300, 46, 260, 54),
        box(246, 50, 254, 215),
        box(xrd, -84, 260, -76),
        LineString([(-300, 50), (-330, 280)]).buffer(3.5),
    ]
    surfaces += [Surface(r, "asphalt") for r in roads]
    markings.append(LineString([(-700, yrd), (700, yrd)]))
    road_zone = box(-450, yrd - 6, 450, yrd + 6)
    zones.append(ZoneShape(f"{zid}-road", "Main road", "road", road_zone))
    slots += _row(f"{zid}-road", -440, 440, yrd - 2.2, 15.0, 0.0, ROAD_SLOT, 14.0)
    slots += _row(f"{zid}-road", -440, 440, yrd + 2.2, 15.0, 180.0, ROAD_SLOT, 14.0)

    # Assembly halls with an apron in front.
    hx, hy = -200 + j(20), 130 + j(10)
    hall_a = _rect(hx, hy, 120 if launch else 150, 48)
    hall_b = _rect(hx + (95 if launch else 115), hy - 6, 60, 34)
    apron = box(hx - 75, hy - 24 - 36, hx + 125, hy - 24)
    surfaces.append(Surface(apron, "concrete"))
    roof = str(rng.choice(["roof_blue", "roof_green", "roof_grey"]))
    structures += [Structure(hall_a, 24.0 + j(4), roof), Structure(hall_b, 14.0 + j(3), "roof_grey")]
    hall_zone = Polygon(box(hx - 78, hy - 62, hx + 150, hy + 27).exterior)
    zones.append(ZoneShape(f"{zid}-assembly", "Assembly halls", "assembly_hall", hall_zone))
    slots += _row(f"{zid}-assembly", hx - 72, hx + 122, hy - 24 - 8, 5.0, 90.0, BIG_SLOT, 15.0)
    slots += _row(f"{zid}-assembly", hx - 72, hx + 122, hy - 60 + 3.5, 2.8, 90.0, CAR_SLOT, 5.6)

    # Launch pad with a gantry tower, or an engine test stand.
    px, py = 250 + j(15), 265 + j(15)
    side = 100.0 if launch else 64.0
    pad = _rect(px, py, side, side)
    surfaces.append(Surface(pad, "concrete"))
    surfaces.append(Surface(_rect(px - side / 4, py, 8, side * 0.35), "asphalt"))  # flame trench
    tower_h = 55.0 if launch else 22.0
    structures.append(Structure(_rect(px - side / 4 - 9, py, 12, 12), tower_h + j(5), "roof_grey"))
    structures.append(Structure(_rect(px + side / 2 + 18, py + side / 3, 20, 14), 7.0, "roof_rust"))
    zones.append(
        ZoneShape(f"{zid}-pad", "Launch pad" if launch else "Engine test stand", "pad", pad.buffer(6, join_style=2))
    )
    edge = side / 2 - 6
    slots += _row(f"{zid}-pad", px - edge + 10, px + edge, py - edge, 7.0, 0.0, BIG_SLOT, 16.0)
    slots += _row(f"{zid}-pad", px - edge + 10, px + edge, py + edge, 7.0, 180.0, BIG_SLOT, 16.0)
    slots += [
        Slot(f"{zid}-pad", px + edge, y, 90.0, BIG_SLOT, 16.0) for y in np.arange(py - edge + 10, py + edge - 8, 7.0)
    ]

    # Car parks.
    cpn = _rect(120 + j(15), yrd + 6 + 30, 110, 55)
    cpw = _rect(-390 + j(10), yrd + 6 + 24, 70, 44)
    for name, rect, big in (("car-park-north", cpn, True), ("car-park-west", cpw, False)):
        surfaces.append(Surface(rect, "asphalt"))
        zones.append(ZoneShape(f"{zid}-{name}", name.replace("-", " ").capitalize(), "car_park", rect))
        s, m = _car_park(f"{zid}-{name}", rect, big_row=big)
        slots += s
        markings += m

    # Storage yard with sheds; construction plot (bare soil).
    st = _rect(310 + j(10), -80 + j(8), 90, 60)
    surfaces.append(Surface(st, "gravel"))
    sx0, sy0, sx1, sy1 = st.bounds
    structures += [
        Structure(box(sx0 + 4, sy1 - 16, sx0 + 40, sy1 - 3), 6.0, "roof_rust"),
        Structure(box(sx0 + 48, sy1 - 16, sx1 - 4, sy1 - 3), 6.0, "roof_blue"),
    ]
    zones.append(ZoneShape(f"{zid}-storage", "Storage yard", "storage", st))
    for y in np.arange(sy0 + 9, sy1 - 22, 12.0):
        slots += _row(f"{zid}-storage", sx0 + 3, sx1 - 3, float(y), 4.5, 90.0, YARD_SLOT, 11.0)

    cs = _rect(-330 + j(10), 335 + j(10), 100, 90)
    surfaces.append(Surface(cs, "soil"))
    zones.append(ZoneShape(f"{zid}-construction", "Construction plot", "construction", cs))
    cx0, cy0, cx1, cy1 = cs.bounds
    for y in np.arange(cy0 + 10, cy1 - 5, 16.0):
        for x in np.arange(cx0 + 10, cx1 - 5, 16.0):
            slots.append(Slot(f"{zid}-construction", float(x), float(y), float(rng.uniform(0, 180)), WORK_SLOT, 15.0))

    # Small outbuildings scattered on free ground, away from everything else.
    taken = shapely.union_all(
        [sf.geometry for sf in surfaces] + [st_.geometry for st_ in structures] + [t.buffer(4) for t in tracks]
    ).buffer(12)
    for _ in range(40):
        x, y = rng.uniform(-460, 460, 2)
        shed = _rect(float(x), float(y), float(rng.uniform(8, 22)), float(rng.uniform(6, 12)))
        if rng.random() < 0.5:
            shed = affinity.rotate(shed, 90)
        if not taken.intersects(shed):
            roof = str(rng.choice(["roof_rust", "roof_grey", "roof_blue"]))
            structures.append(Structure(shed, float(rng.uniform(3.5, 8)), roof))
            taken = taken.union(shed.buffer(10))

    # Rotate the whole template and move the origin to the AOI's south-west corner.
    angle = float(rng.uniform(-12, 12))
    c, s_ = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    half = size / 2
    aoi = box(0, 0, size, size)

    def place(g: BaseGeometry) -> BaseGeometry:
        return affinity.translate(affinity.rotate(g, angle, origin=(0, 0)), half, half)

    def place_slot(sl: Slot) -> Slot:
        x, y = sl.x * c - sl.y * s_ + half, sl.x * s_ + sl.y * c + half
        return Slot(sl.zone_id, x, y, (sl.heading + angle) % 360.0, sl.classes, sl.max_length)

    def clip(g: BaseGeometry) -> BaseGeometry:
        return place(g).intersection(aoi)

    placed_slots = tuple(p for p in map(place_slot, slots) if aoi.contains(Point(p.x, p.y).buffer(p.max_length / 2)))
    return SiteLayout(
        spec=spec,
        size=size,
        zones=tuple(ZoneShape(z.id, z.name, z.kind, clip(z.geometry)) for z in zones),  # type: ignore[arg-type]
        surfaces=tuple(Surface(clip(sf.geometry), sf.material) for sf in surfaces),
        structures=tuple(Structure(place(st_.geometry), st_.height, st_.material) for st_ in structures),  # type: ignore[arg-type]
        tracks=tuple(clip(t) for t in tracks),  # type: ignore[misc]
        markings=tuple(clip(m) for m in markings),  # type: ignore[misc]
        slots=placed_slots,
    )
