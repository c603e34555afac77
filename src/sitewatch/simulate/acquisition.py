"""Acquisition plans: when each site is imaged, by which sensor, and under what sky.

Revisits are irregular (gaps of 1 to 7+ days, longer in the summer monsoon), acquisitions
come at a similar local morning time as from sun-synchronous orbits, GSD grows with the
off-nadir angle, and each scene draws its own cloud amount, haze, partial coverage of the
AOI and a small misregistration.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

#: (sensor, nadir GSD in metres) of very-high-resolution optical satellites.
SENSORS: tuple[tuple[str, float], ...] = (
    ("WorldView-3", 0.31),
    ("Pleiades Neo", 0.30),
    ("GeoEye-1", 0.41),
    ("WorldView-2", 0.46),
    ("Pleiades", 0.50),
    ("SkySat", 0.65),
)
MONSOON_MONTHS = frozenset({6, 7, 8, 9})


@dataclass(frozen=True)
class Acquisition:
    """Everything that decides how one scene looks, drawn before any pixel is made."""

    scene_id: str
    site_id: str
    acquired: dt.datetime
    sensor: str
    gsd: float
    off_nadir: float
    sun_elevation: float
    sun_azimuth: float
    cloud_target: float  # share of the scene to cover with cloud
    haze: float  # 0 (clear) .. ~0.3 (hazy)
    shift_px: tuple[float, float]  # misregistration (dx, dy) in scene pixels
    footprint: tuple[float, float] | None  # (edge angle deg, share of AOI kept) or None = full cover
    seed: int


def solar_position(t: dt.datetime, lat: float, lon: float) -> tuple[float, float]:
    """Sun (elevation, azimuth clockwise from north) in degrees, NOAA low-precision formulae (~0.5°)."""
    t = t.astimezone(dt.UTC)
    hours = t.hour + t.minute / 60 + t.second / 3600
    g = 2 * math.pi / 365.0 * (t.timetuple().tm_yday - 1 + (hours - 12) / 24)
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(g)
        - 0.032077 * math.sin(g)
        - 0.014615 * math.cos(2 * g)
        - 0.040849 * math.sin(2 * g)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(g)
        + 0.070257 * math.sin(g)
        - 0.006758 * math.cos(2 * g)
        + 0.000907 * math.sin(2 * g)
        - 0.002697 * math.cos(3 * g)
        + 0.00148 * math.sin(3 * g)
    )
    ha = math.radians((hours * 60 + eqtime + 4 * lon) / 4 - 180)
    phi = math.radians(lat)
    cos_zen = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(ha)
    elevation = 90 - math.degrees(math.acos(max(-1.0, min(1.0, cos_zen))))
    azimuth = math.degrees(math.atan2(math.sin(ha), math.cos(ha) * math.sin(phi) - math.tan(decl) * math.cos(phi)))
    return elevation, (azimuth + 180) % 360


def revisit_dates(start: dt.date, days: int, rng: np.random.Generator, *, mean_gap: float = 3.0) -> list[dt.date]:
    """Irregular acquisition dates: short gaps, occasional long ones, longer in monsoon months."""
    out: list[dt.date] = []
    d = start + dt.timedelta(days=int(rng.integers(0, 3)))
    end = start + dt.timedelta(days=days)
    while d < end:
        out.append(d)
        mean = mean_gap * (1.8 if d.month in MONSOON_MONTHS else 1.0)
        gap = 1 + int(rng.poisson(mean - 1))
        if rng.random() < 0.08:
            gap += int(rng.integers(4, 9))
        d += dt.timedelta(days=gap)
    return out


def plan_acquisitions(
    site_id: str,
    lat: float,
    lon: float,
    start: dt.date,
    days: int,
    rng: np.random.Generator,
    *,
    gsd_range: tuple[float, float] = (0.3, 0.8),
    mean_gap: float = 3.0,
) -> list[Acquisition]:
    """One :class:`Acquisition` per revisit date of a site."""
    lo, hi = gsd_range
    sensors = [s for s in SENSORS if lo <= s[1] <= hi] or [min(SENSORS, key=lambda s: abs(s[1] - (lo + hi) / 2))]
    out = []
    for date in revisit_dates(start, days, rng, mean_gap=mean_gap):
        name, nadir = sensors[int(rng.integers(len(sensors)))]
        off_nadir = float(abs(rng.normal(0, 14)) % 32)
        gsd = float(np.clip(nadir / math.cos(math.radians(off_nadir)) ** 1.2, lo, hi))
        local_hour = 10.5 + float(rng.normal(0, 0.4))
        acquired = dt.datetime.combine(date, dt.time(0), dt.UTC) + dt.timedelta(hours=local_hour - lon / 15)
        acquired = acquired.replace(microsecond=0)
        elevation, azimuth = solar_position(acquired, lat, lon)
        monsoon = date.month in MONSOON_MONTHS
        clear = rng.random() < (0.3 if monsoon else 0.55)
        cloud = 0.0 if clear else float(rng.beta(1.5, 1.8) if monsoon else rng.beta(1.1, 3.0))
        partial = rng.random() < 0.3
        out.append(
            Acquisition(
                scene_id=f"{site_id}-{date:%Y%m%d}-{name.lower().replace(' ', '').replace('-', '')}",
                site_id=site_id,
                acquired=acquired,
                sensor=name,
                gsd=round(gsd, 3),
                off_nadir=round(off_nadir, 1),
                sun_elevation=round(elevation, 2),
                sun_azimuth=round(azimuth, 2),
                cloud_target=round(cloud, 3),
                haze=float(rng.uniform(0.0, 0.12) + (rng.uniform(0, 0.18) if monsoon or date.month in (3, 4) else 0.0)),
                shift_px=(float(rng.normal(0, 1.5)), float(rng.normal(0, 1.5))),
                footprint=(float(rng.uniform(0, 360)), float(rng.uniform(0.45, 0.95))) if partial else None,
                seed=int(rng.integers(2**31)),
            )
        )
    return out
