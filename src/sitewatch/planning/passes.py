"""Overpass prediction: when each satellite can image a site, and how well.

skyfield finds rise/culmination/set above a minimum elevation (SGP4 underneath, time scale
built in, nothing downloaded). At culmination (closest approach, smallest off-nadir) each pass
is judged against its sensor's field of regard and the sun elevation.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from skyfield.api import EarthSatellite, Loader, wgs84
from skyfield.timelib import Timescale

from sitewatch.errors import PlanningError
from sitewatch.model import Site, utc
from sitewatch.planning.sun import solar_position
from sitewatch.planning.tle import Satellite

#: Passes whose highest elevation stays below this are not reported.
MIN_ELEVATION = 20.0

_RISE, _CULMINATE, _SET = 0, 1, 2


@dataclass(frozen=True)
class Pass:
    """One pass of a satellite over a site; angles in degrees, ``gsd`` in metres."""

    satellite: str
    sensor: str
    norad_id: int
    rise: dt.datetime
    time: dt.datetime  # culmination: the best imaging moment
    set: dt.datetime
    elevation: float  # of the satellite seen from the site, at ``time``
    azimuth: float
    off_nadir: float  # of the site seen from the satellite, at ``time``
    sun_elevation: float
    gsd: float
    feasible: bool
    reason: str  # why not feasible ("" when feasible)
    tle_age_days: float


def site_location(site: Site) -> tuple[float, float]:
    """``(lat, lon)`` of the point of a site's AOI that planning aims at."""
    point = site.aoi.centroid
    return point.y, point.x


def check_range(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """Aware UTC ``(start, end)``; naive or backwards ranges raise :class:`PlanningError`."""
    try:
        start, end = utc(start), utc(end)
    except ValueError as exc:
        raise PlanningError(str(exc), fix="give times with a zone, e.g. 2026-05-30T00:00Z") from None
    if end <= start:
        raise PlanningError(
            f"time range is backwards or empty ({start.isoformat()} to {end.isoformat()})",
            fix="give --from before --to",
        )
    return start, end


def _check_location(lat: float, lon: float) -> None:
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise PlanningError(f"location ({lat}, {lon}) is not a latitude/longitude", fix="give LAT,LON in degrees")


def _angle_between(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Angle in degrees between column vectors of two (3, n) arrays."""
    cos = np.einsum("ij,ij->j", a, b) / (np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0))
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def _judge(sat: Satellite, off_nadir: float, sun_elev: float) -> str:
    reasons = []
    if off_nadir > sat.sensor.max_off_nadir:
        reasons.append(f"off-nadir > {sat.sensor.max_off_nadir:.0f}°")
    if sat.sensor.daylight_only and sun_elev < sat.sensor.min_sun_elevation:
        reasons.append(f"sun < {sat.sensor.min_sun_elevation:.0f}°")
    return "; ".join(reasons)


@functools.cache
def _timescale() -> Timescale:
    # Built-in leap-second and Delta T tables: nothing is downloaded or written.
    return Loader(".", expire=False).timescale(builtin=True)


def _satellite_passes(
    sat: Satellite, lat: float, lon: float, start: dt.datetime, end: dt.datetime, min_elevation: float
) -> list[Pass]:
    ts = _timescale()
    orbit = EarthSatellite(sat.tle.line1, sat.tle.line2, sat.tle.name, ts)
    site = wgs84.latlon(lat, lon)
    times, kinds = orbit.find_events(site, ts.from_datetime(start), ts.from_datetime(end), min_elevation)
    culminations = np.flatnonzero(kinds == _CULMINATE)
    if culminations.size == 0:
        return []
    tc = times[culminations]
    geocentric = orbit.at(tc)
    nadir = wgs84.subpoint_of(geocentric).at(tc).position.km - geocentric.position.km
    line_of_sight = site.at(tc).position.km - geocentric.position.km
    off_nadir = _angle_between(nadir, line_of_sight)
    alt, az, _ = (orbit - site).at(tc).altaz()
    sun_elev, _ = solar_position(tc.utc_datetime(), lat, lon)

    all_times = times.utc_datetime()
    out = []
    for k, i in enumerate(culminations):
        # A pass cut by the range edge has no rise (or set): the edge stands in for it.
        rise = all_times[i - 1] if i > 0 and kinds[i - 1] == _RISE else start
        set_ = all_times[i + 1] if i + 1 < len(kinds) and kinds[i + 1] == _SET else end
        when = all_times[i]
        reason = _judge(sat, float(off_nadir[k]), float(sun_elev[k]))
        out.append(
            Pass(
                satellite=sat.tle.name,
                sensor=sat.sensor.name,
                norad_id=sat.tle.norad_id,
                rise=rise,
                time=when,
                set=set_,
                elevation=float(alt.degrees[k]),
                azimuth=float(az.degrees[k]),
                off_nadir=float(off_nadir[k]),
                sun_elevation=float(sun_elev[k]),
                gsd=sat.sensor.gsd_at(float(off_nadir[k])),
                feasible=not reason,
                reason=reason,
                tle_age_days=abs((when - sat.tle.epoch).total_seconds()) / 86400,
            )
        )
    return out


def predict_passes(
    satellites: Sequence[Satellite],
    lat: float,
    lon: float,
    start: dt.datetime,
    end: dt.datetime,
    *,
    min_elevation: float = MIN_ELEVATION,
) -> list[Pass]:
    """All passes of ``satellites`` over ``(lat, lon)`` culminating above ``min_elevation``, by time."""
    start, end = check_range(start, end)
    _check_location(lat, lon)
    if not 0 <= min_elevation < 90:
        raise PlanningError(f"minimum elevation {min_elevation}° is out of range", fix="give 0 <= elevation < 90")
    passes = [p for sat in satellites for p in _satellite_passes(sat, lat, lon, start, end, min_elevation)]
    return sorted(passes, key=lambda p: p.time)


def next_feasible(passes: Sequence[Pass]) -> list[Pass]:
    """The first feasible pass of each satellite, soonest first."""
    first: dict[int, Pass] = {}
    for p in sorted(passes, key=lambda p: p.time):
        if p.feasible and p.norad_id not in first:
            first[p.norad_id] = p
    return list(first.values())


def tasking_hint(
    site: Site,
    after: dt.datetime,
    sats: Sequence[Satellite],
    *,
    horizon: dt.timedelta = dt.timedelta(days=3),
) -> list[Pass]:
    """Which satellites can image ``site`` next: the next feasible pass of each within ``horizon``."""
    lat, lon = site_location(site)
    after = check_range(after, after + horizon)[0]
    return next_feasible(predict_passes(sats, lat, lon, after, after + horizon))


def tasking_sentence(hints: Sequence[Pass], *, limit: int = 3) -> str:
    """One sentence naming the next chances to image a site."""
    if not hints:
        return "no satellite in the element sets can image the site in the coming days"
    shown = ", ".join(
        f"{p.satellite} at {p.time:%Y-%m-%d %H:%M} UTC ({p.off_nadir:.0f}° off-nadir, ~{p.gsd:.2f} m)"
        for p in hints[:limit]
    )
    return f"next chances to image the site: {shown}"
