"""Solar position against published reference values and geometric facts."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from sitewatch.planning.sun import solar_position, sun_elevation


def test_nrel_spa_reference_case() -> None:
    # Reda & Andreas (2008), NREL SPA, Table A4.1: Golden, CO, 2003-10-17 12:30:30 MST (UTC-7).
    # Topocentric zenith 50.11162° (with ~0.016° refraction at 820 mbar) and azimuth 194.34024°.
    t = dt.datetime(2003, 10, 17, 19, 30, 30, tzinfo=dt.UTC)
    elev, az = solar_position(t, 39.742476, -105.1786)
    assert elev[0] == pytest.approx(90 - 50.11162 - 0.016, abs=0.02)
    assert az[0] == pytest.approx(194.34024, abs=0.02)


def test_equinox_and_solstice_noons() -> None:
    lons = np.arange(-180, 180, 0.05)
    # March equinox 2024-03-20 03:06 UTC: somewhere on the equator the sun is overhead.
    elev, _ = solar_position(dt.datetime(2024, 3, 20, 3, 6, tzinfo=dt.UTC), 0.0, lons)
    assert elev.max() == pytest.approx(90, abs=0.05)
    # it is there that it is noon: 12:00 - equation of time (-7.5 min) - lon/15 = 03:06 UTC
    assert lons[elev.argmax()] == pytest.approx(15 * (12 + 7.5 / 60 - 3.1), abs=0.2)
    # June solstice 2024-06-20 20:51 UTC: overhead on the Tropic of Cancer, at the pole elevation = declination
    t = dt.datetime(2024, 6, 20, 20, 51, tzinfo=dt.UTC)
    assert solar_position(t, 23.44, lons)[0].max() == pytest.approx(90, abs=0.05)
    assert sun_elevation(t, 90.0, 0.0) == pytest.approx(23.44, abs=0.05)


def test_day_and_night_at_sohae() -> None:
    # 09:00 KST is 00:00 UTC; 21:00 KST in winter is dark.
    assert sun_elevation(dt.datetime(2026, 5, 30, 3, 0, tzinfo=dt.UTC), 39.66, 124.71) > 60
    assert sun_elevation(dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC), 39.66, 124.71) < -30


def test_vectorised_inputs_agree() -> None:
    times = [dt.datetime(2026, 5, 30, h, tzinfo=dt.UTC) for h in range(24)]
    by_datetime, _ = solar_position(times, 39.66, 124.71)
    by_datetime64, _ = solar_position(
        np.array([t.replace(tzinfo=None) for t in times], dtype="datetime64[ns]"), 39.66, 124.71
    )
    by_seconds, _ = solar_position(np.array([t.timestamp() for t in times]), 39.66, 124.71)
    np.testing.assert_allclose(by_datetime, by_datetime64)
    np.testing.assert_allclose(by_datetime, by_seconds)
    assert by_datetime.shape == (24,) and by_datetime.max() > 70 and by_datetime.min() < -20


def test_naive_datetime_rejected() -> None:
    with pytest.raises(ValueError, match="naive"):
        sun_elevation(dt.datetime(2026, 5, 30, 3), 39.66, 124.71)
