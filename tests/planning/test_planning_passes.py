"""Pass prediction checked against a direct SGP4 propagation (TEME -> Earth-fixed by GMST)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from sgp4.api import Satrec
from shapely.geometry import box

from sitewatch.errors import PlanningError
from sitewatch.model import Site
from sitewatch.planning.passes import predict_passes, tasking_hint
from sitewatch.planning.sensors import sensor_for
from sitewatch.planning.tle import default_tle_path, parse_tle, read_tle, select_satellites

LAT, LON = 39.6596, 124.7057  # Sohae
START = dt.datetime(2026, 5, 30, tzinfo=dt.UTC)
A, F = 6378.137, 1 / 298.257223563
E2 = F * (2 - F)


def _ecef_site(lat: float, lon: float) -> tuple[np.ndarray, np.ndarray]:
    phi, lam = np.radians(lat), np.radians(lon)
    n = A / np.sqrt(1 - E2 * np.sin(phi) ** 2)
    pos = np.array([n * np.cos(phi) * np.cos(lam), n * np.cos(phi) * np.sin(lam), n * (1 - E2) * np.sin(phi)])
    up = np.array([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])
    return pos, up


def _gmst(jd: np.ndarray) -> np.ndarray:
    t = (jd - 2451545.0) / 36525
    sec = 67310.54841 + (876600 * 3600 + 8640184.812866) * t + 0.093104 * t**2 - 6.2e-6 * t**3
    return np.radians((sec % 86400) / 240)


def _direct(line1: str, line2: str, times: list[dt.datetime]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Elevation and off-nadir (degrees) of the site, and sat positions, by SGP4 + GMST only."""
    sat = Satrec.twoline2rv(line1, line2)
    unix = np.array([t.timestamp() for t in times])
    jd_full = unix / 86400 + 2440587.5
    jd, fr = np.floor(jd_full), jd_full - np.floor(jd_full)
    err, r_teme, _ = sat.sgp4_array(jd, fr)
    assert not err.any()
    g = _gmst(jd_full)
    c, s = np.cos(g), np.sin(g)
    r = np.stack([c * r_teme[:, 0] + s * r_teme[:, 1], -s * r_teme[:, 0] + c * r_teme[:, 1], r_teme[:, 2]], axis=1)
    site, up = _ecef_site(LAT, LON)
    rho = site - r
    elevation = np.degrees(np.arcsin(-(rho @ up) / np.linalg.norm(rho, axis=1)))
    # geodetic nadir: minus the ellipsoid normal at the satellite's geodetic latitude (fixed-point iteration)
    p = np.hypot(r[:, 0], r[:, 1])
    phi = np.arctan2(r[:, 2], p * (1 - E2))
    for _ in range(5):
        n = A / np.sqrt(1 - E2 * np.sin(phi) ** 2)
        h = p / np.cos(phi) - n
        phi = np.arctan2(r[:, 2], p * (1 - E2 * n / (n + h)))
    lam = np.arctan2(r[:, 1], r[:, 0])
    normal = np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=1)
    cos_on = np.einsum("ij,ij->i", -normal, rho) / np.linalg.norm(rho, axis=1)
    return elevation, np.degrees(np.arccos(cos_on)), r


def _check_against_sgp4(line1: str, line2: str, passes: list) -> None:
    assert passes
    for p in passes:
        grid = [p.time + dt.timedelta(seconds=s) for s in range(-600, 601)]
        elev, off_nadir, _ = _direct(line1, line2, grid)
        k = int(np.argmax(elev))
        assert 0 < k < len(grid) - 1, "culmination must lie inside the window"
        assert abs((grid[k] - p.time).total_seconds()) <= 3
        assert p.elevation == pytest.approx(elev[600], abs=0.05)
        assert p.off_nadir == pytest.approx(off_nadir[600], abs=0.05)


def test_pass_times_match_direct_sgp4(tle_text) -> None:
    tle = parse_tle(tle_text("WORLDVIEW-3 (WV-3)"))[0]
    sats = select_satellites([tle])
    passes = predict_passes(sats, LAT, LON, START, START + dt.timedelta(days=2))
    assert len(passes) >= 4  # a sun-synchronous orbit sees a mid-latitude site a few times a day
    _check_against_sgp4(tle.line1, tle.line2, passes)


@pytest.mark.skipif(not default_tle_path().exists(), reason="shared TLE file not available")
def test_real_worldview3_passes_match_direct_sgp4() -> None:
    sats = select_satellites(read_tle(), ["WorldView-3"])
    assert [s.tle.name for s in sats] == ["WORLDVIEW-3 (WV-3)"]
    passes = predict_passes(sats, LAT, LON, START, START + dt.timedelta(days=1))
    _check_against_sgp4(sats[0].tle.line1, sats[0].tle.line2, passes)


def test_no_pass_is_missed(tle_text) -> None:
    """Every local elevation maximum above the threshold on a 10 s grid is a predicted pass."""
    tle = parse_tle(tle_text("SKYSAT-C7", mm=15.2))[0]
    passes = predict_passes(select_satellites([tle]), LAT, LON, START, START + dt.timedelta(days=1), min_elevation=20)
    grid = [START + dt.timedelta(seconds=s) for s in range(0, 86400, 10)]
    elev, _, _ = _direct(tle.line1, tle.line2, grid)
    peaks = [grid[i] for i in range(1, len(grid) - 1) if elev[i] >= elev[i - 1] and elev[i] > elev[i + 1]]
    peaks = [t for t, e in zip(peaks, [elev[grid.index(t)] for t in peaks], strict=True) if e > 20.5]
    assert len(peaks) == len([p for p in passes if p.elevation > 20.5])
    for t in peaks:
        assert min(abs((p.time - t).total_seconds()) for p in passes) < 15


def test_feasibility_follows_sensor_facts(tle_file: Path) -> None:
    sats = select_satellites(read_tle(tle_file))
    passes = predict_passes(sats, LAT, LON, START, START + dt.timedelta(days=3), min_elevation=10)
    assert {p.feasible for p in passes} == {True, False}
    for p in passes:
        sensor = sensor_for(p.satellite)
        assert sensor is not None
        ok = p.off_nadir <= sensor.max_off_nadir and p.sun_elevation >= sensor.min_sun_elevation
        assert p.feasible is ok and (p.reason == "") is ok
        assert p.gsd == pytest.approx(sensor.nadir_gsd / np.cos(np.radians(p.off_nadir)) ** 2)
        assert p.rise < p.time < p.set
        assert p.tle_age_days < 3.1


def test_tasking_hint_next_feasible_per_satellite(tle_file: Path) -> None:
    site = Site("sohae", "Sohae", box(LON - 0.01, LAT - 0.01, LON + 0.01, LAT + 0.01))
    after = START + dt.timedelta(hours=5)
    sats = select_satellites(read_tle(tle_file))
    hints = tasking_hint(site, after, sats, horizon=dt.timedelta(days=3))
    assert hints and all(h.feasible and h.time > after for h in hints)
    assert len({h.norad_id for h in hints}) == len(hints)
    assert [h.time for h in hints] == sorted(h.time for h in hints)
    every = [p for p in predict_passes(sats, LAT, LON, after, after + dt.timedelta(days=3)) if p.feasible]
    for h in hints:
        assert h.time == min(p.time for p in every if p.norad_id == h.norad_id)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (START, START - dt.timedelta(hours=1), "backwards"),
        (START, START, "backwards"),
        (START.replace(tzinfo=None), START + dt.timedelta(days=1), "naive"),
    ],
)
def test_bad_time_ranges(tle_file: Path, start: dt.datetime, end: dt.datetime, message: str) -> None:
    with pytest.raises(PlanningError, match=message):
        predict_passes(select_satellites(read_tle(tle_file)), LAT, LON, start, end)


def test_bad_location(tle_file: Path) -> None:
    with pytest.raises(PlanningError, match="latitude"):
        predict_passes(select_satellites(read_tle(tle_file)), 124.7, 39.6, START, START + dt.timedelta(days=1))
