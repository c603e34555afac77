"""Solar position without an ephemeris file.

The NOAA solar calculator equations (Meeus, *Astronomical Algorithms*, ch. 25), good to
about 0.01° in elevation for 1800-2200; skyfield's own ``sun`` would need ``de421.bsp``,
which must never be downloaded at run time. Elevations are geometric (no refraction).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

_UNIX_EPOCH_JD = 2440587.5
_J2000_JD = 2451545.0


def _unix_seconds(times: dt.datetime | Sequence[dt.datetime] | ArrayLike) -> NDArray[np.float64]:
    if isinstance(times, dt.datetime):
        times = [times]
    values = np.asarray(times)
    if values.dtype.kind == "O":
        if any(t.tzinfo is None for t in values.ravel()):
            raise ValueError("naive datetime given for a solar position; give aware UTC times")
        return np.array([t.timestamp() for t in values.ravel()], dtype=float).reshape(values.shape)
    if values.dtype.kind == "M":
        return values.astype("datetime64[ns]").astype(np.int64) / 1e9
    return values.astype(float)


def solar_position(
    times: dt.datetime | Sequence[dt.datetime] | ArrayLike, lat: ArrayLike, lon: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Sun ``(elevation, azimuth)`` in degrees at ``(lat, lon)`` for UTC times (all broadcast).

    ``times`` may be aware datetimes, ``datetime64`` values (UTC) or Unix seconds.
    Azimuth is clockwise from north.
    """
    seconds = _unix_seconds(times)
    lon = np.asarray(lon, dtype=float)
    jc = (seconds / 86400.0 + _UNIX_EPOCH_JD - _J2000_JD) / 36525.0  # Julian centuries since J2000

    mean_long = np.radians((280.46646 + jc * (36000.76983 + jc * 0.0003032)) % 360)
    mean_anom = np.radians(357.52911 + jc * (35999.05029 - 0.0001537 * jc))
    ecc = 0.016708634 - jc * (0.000042037 + 0.0000001267 * jc)
    centre = np.radians(
        np.sin(mean_anom) * (1.914602 - jc * (0.004817 + 0.000014 * jc))
        + np.sin(2 * mean_anom) * (0.019993 - 0.000101 * jc)
        + np.sin(3 * mean_anom) * 0.000289
    )
    omega = np.radians(125.04 - 1934.136 * jc)  # longitude of the Moon's node: nutation terms
    app_long = mean_long + centre - np.radians(0.00569 + 0.00478 * np.sin(omega))
    mean_obliq = 23 + (26 + (21.448 - jc * (46.815 + jc * (0.00059 - jc * 0.001813))) / 60) / 60
    obliq = np.radians(mean_obliq + 0.00256 * np.cos(omega))
    decl = np.arcsin(np.sin(obliq) * np.sin(app_long))

    y = np.tan(obliq / 2) ** 2
    eq_time = 4 * np.degrees(  # minutes
        y * np.sin(2 * mean_long)
        - 2 * ecc * np.sin(mean_anom)
        + 4 * ecc * y * np.sin(mean_anom) * np.cos(2 * mean_long)
        - 0.5 * y * y * np.sin(4 * mean_long)
        - 1.25 * ecc * ecc * np.sin(2 * mean_anom)
    )
    true_solar_minutes = (seconds % 86400) / 60 + eq_time + 4 * lon
    hour_angle = np.radians(true_solar_minutes / 4 - 180)

    phi = np.radians(np.asarray(lat, dtype=float))
    cos_zenith = np.sin(phi) * np.sin(decl) + np.cos(phi) * np.cos(decl) * np.cos(hour_angle)
    elevation = 90 - np.degrees(np.arccos(np.clip(cos_zenith, -1, 1)))
    azimuth = (
        np.degrees(np.arctan2(np.sin(hour_angle), np.cos(hour_angle) * np.sin(phi) - np.tan(decl) * np.cos(phi))) + 180
    ) % 360
    return elevation, azimuth


def sun_elevation(t: dt.datetime, lat: float, lon: float) -> float:
    """Geometric sun elevation in degrees at one UTC time."""
    return float(solar_position(t, lat, lon)[0][0])
