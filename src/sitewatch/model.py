"""Domain model: small frozen value objects shared by every stage.

Geometries are shapely 2 objects in EPSG:4326 (lon, lat) unless a field says otherwise;
times are timezone-aware UTC ``datetime``; dates of counts are UTC calendar dates.
Nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from shapely.geometry.base import BaseGeometry

#: Canonical object classes, in the order used by models and tables.
CLASSES: tuple[str, ...] = (
    "car",
    "truck",
    "bus",
    "tanker",
    "rail_car",
    "locomotive",
    "crane",
    "construction_vehicle",
    "other_vehicle",
)

#: Kinds of named zone inside a site.
ZONE_KINDS: tuple[str, ...] = (
    "pad",
    "assembly_hall",
    "rail_yard",
    "car_park",
    "road",
    "storage",
    "construction",
    "other",
)


def utc(t: dt.datetime) -> dt.datetime:
    """Return ``t`` as an aware UTC datetime; naive input is rejected (ambiguous)."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"naive datetime {t.isoformat()} has no time zone; give it in UTC (e.g. '...Z')")
    return t.astimezone(dt.UTC)


@dataclass(frozen=True)
class Zone:
    """A named part of a site (pad, assembly hall, rail yard...)."""

    id: str
    name: str
    kind: str
    geometry: BaseGeometry

    def __post_init__(self) -> None:
        if self.kind not in ZONE_KINDS:
            raise ValueError(f"zone {self.id!r}: unknown kind {self.kind!r}; use one of {', '.join(ZONE_KINDS)}")


@dataclass(frozen=True)
class Site:
    """An area of interest with named zones."""

    id: str
    name: str
    aoi: BaseGeometry
    zones: tuple[Zone, ...] = ()
    country: str | None = None
    description: str = ""
    simulated: bool = False

    def zone(self, zone_id: str) -> Zone:
        for z in self.zones:
            if z.id == zone_id:
                return z
        raise KeyError(f"site {self.id!r} has no zone {zone_id!r}")


@dataclass(frozen=True)
class Scene:
    """One acquired image and what is known about it.

    ``valid`` is the part of the footprint with usable pixels: inside the image, not
    nodata and not cloud. Coverage corrections use it.
    """

    id: str
    uri: str
    acquired: dt.datetime
    sensor: str
    gsd: float
    crs: str
    footprint: BaseGeometry
    valid: BaseGeometry
    content_hash: str
    width: int
    height: int
    bands: int
    off_nadir: float | None = None
    sun_elevation: float | None = None
    sun_azimuth: float | None = None
    cloud_cover: float | None = None
    simulated: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class PixelBox:
    """A detection in image pixel coordinates (x0, y0, x1, y1), before georeferencing."""

    x0: float
    y0: float
    x1: float
    y1: float
    cls: str
    score: float

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


@dataclass(frozen=True)
class Detection:
    """A georeferenced detection: pixel box in the scene plus its ground polygon (EPSG:4326)."""

    scene_id: str
    cls: str
    score: float
    box: tuple[float, float, float, float]
    geometry: BaseGeometry
    detector: str
    site_id: str | None = None
    zone_id: str | None = None


@dataclass(frozen=True)
class Count:
    """Objects of one class in one zone on one scene, with what was actually seen.

    ``raw`` is what the detector found; ``observed_fraction`` the share of the zone that
    was inside the footprint and clear; ``estimate`` with ``[lo, hi]`` the count corrected
    for coverage and detectability. ``sufficient`` is False when too little was seen for
    the observation to count (it must never be read as zero).
    """

    site_id: str
    zone_id: str
    cls: str
    date: dt.date
    scene_id: str
    raw: int
    observed_fraction: float
    estimate: float
    lo: float
    hi: float
    sufficient: bool = True


@dataclass(frozen=True)
class Baseline:
    """The causal baseline of one series (site, zone, class) on one observation day.

    ``expected`` is the count the baseline predicted from earlier days only, ``[lo, hi]`` is
    ``expected ± 2 sd`` (lo floored at 0): the band the day's count was judged against when
    the alerts were raised. Written by ``sitewatch analyze`` next to the counts, so readers
    (API, reports) show it without fitting anything.
    """

    site_id: str
    zone_id: str
    cls: str
    date: dt.date
    expected: float
    lo: float
    hi: float


@dataclass(frozen=True)
class Event:
    """A real or simulated event (missile test, launch, engine test...)."""

    id: str
    date: dt.date
    kind: str
    source: str
    site_id: str | None = None
    facility: str | None = None
    lat: float | None = None
    lon: float | None = None
    description: str = ""
    simulated: bool = False


@dataclass(frozen=True)
class Hypothesis:
    """A competing explanation for an alert with its confidence in [0, 1]."""

    name: str
    confidence: float
    rationale: str = ""


@dataclass(frozen=True)
class Alert:
    """An unusual rise in activity at a site, with its evidence and interpretation."""

    id: str
    site_id: str
    start: dt.date
    end: dt.date
    score: float
    severity: str
    zones: tuple[str, ...]
    classes: tuple[str, ...]
    explanation: str
    evidence: tuple[str, ...] = ()
    hypotheses: tuple[Hypothesis, ...] = ()
    caveats: tuple[str, ...] = ()
    status: str = "open"
