"""Coverage maths, detectability curve and coverage-corrected counts."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from shapely.geometry import Point, box

from sitewatch.counts import (
    Detectability,
    compute_counts,
    fit_detectability,
    local_utm,
    observed_fraction,
    poisson_interval,
)
from sitewatch.imagery.raster import reproject_geometry
from sitewatch.model import Detection, Scene, Site, Zone

LON, LAT = 124.7057, 39.6596
UTM = "EPSG:32651"


def metric_box(x0: float, y0: float, x1: float, y1: float, lat: float = LAT, lon: float = LON):
    """A box given in metres around (lon, lat), returned in EPSG:4326."""
    crs = local_utm(Point(lon, lat))
    cx, cy = reproject_geometry(Point(lon, lat), "EPSG:4326", crs).coords[0]
    return reproject_geometry(box(cx + x0, cy + y0, cx + x1, cy + y1), crs, "EPSG:4326")


def make_scene(valid, *, gsd: float = 0.3, sun: float | None = 50.0, off_nadir: float | None = 5.0) -> Scene:
    return Scene(
        id="s1",
        uri="mem://s1",
        acquired=dt.datetime(2024, 3, 1, 2, 0, tzinfo=dt.UTC),
        sensor="WorldView-3",
        gsd=gsd,
        crs=UTM,
        footprint=valid,
        valid=valid,
        content_hash="h",
        width=10,
        height=10,
        bands=3,
        off_nadir=off_nadir,
        sun_elevation=sun,
    )


def det(x: float, y: float, cls: str = "truck", zone_id: str | None = None) -> Detection:
    return Detection("s1", cls, 0.9, (0, 0, 1, 1), metric_box(x - 1, y - 1, x + 1, y + 1), "test@1", "site", zone_id)


def test_local_utm_picks_the_zone_of_the_centroid() -> None:
    assert local_utm(Point(LON, LAT)) == "EPSG:32651"
    assert local_utm(Point(-3.7, 40.4)) == "EPSG:32630"
    assert local_utm(Point(151.2, -33.9)) == "EPSG:32756"


@pytest.mark.parametrize("lat", [0.5, 39.6, 62.0])
def test_observed_fraction_is_an_area_ratio_in_metres(lat: float) -> None:
    zone = metric_box(0, 0, 200, 100, lat=lat)
    # 60 m of the 200 m width is visible; in degrees the share would be wrong at high latitude.
    valid = metric_box(-500, -500, 60, 500, lat=lat)
    assert observed_fraction(zone, valid) == pytest.approx(0.3, abs=0.01)
    assert observed_fraction(zone, metric_box(-900, -900, 900, 900, lat=lat)) == pytest.approx(1.0)
    assert observed_fraction(zone, metric_box(1000, 1000, 1100, 1100, lat=lat)) == 0.0


def test_detectability_curve_is_monotone_and_bounded() -> None:
    d = Detectability()
    gsd = np.linspace(0.2, 1.5, 20)
    p = d(gsd, 10.0, 45.0)
    assert np.all(np.diff(p) < 0) and p.max() <= d.p_max and p.min() >= 0
    assert d(0.3, 0.0, 5.0) < d(0.3, 0.0, 40.0)
    assert d(0.3, 30.0, 45.0) < d(0.3, 0.0, 45.0)
    assert d(0.3, None, None) == pytest.approx(d(0.3, 0.0, 90.0))


def test_fit_detectability_recovers_the_curve_from_ground_truth() -> None:
    rng = np.random.default_rng(1)
    true = Detectability(p_max=0.9, gsd50=0.7, gsd_scale=0.1, sun50=12.0, sun_scale=3.0, k=1.5)
    n = 400
    gsd, on, sun = rng.uniform(0.25, 1.2, n), rng.uniform(0, 35, n), rng.uniform(2, 70, n)
    present = rng.integers(20, 60, n)
    detected = rng.binomial(present, true(gsd, on, sun))
    fit = fit_detectability(gsd, on, sun, detected, present)
    assert fit.gsd50 == pytest.approx(true.gsd50, abs=0.05)
    assert fit.p_max == pytest.approx(true.p_max, abs=0.05)
    grid = np.linspace(0.3, 1.1, 9)
    assert np.max(np.abs(fit(grid, 10, 40) - true(grid, 10, 40))) < 0.05


def test_poisson_interval_covers_the_true_count() -> None:
    rng = np.random.default_rng(2)
    n_true, q = 20, 0.6
    raws = rng.binomial(n_true, q, 2000)
    inside = [lo <= n_true <= hi for lo, hi in (poisson_interval(int(r), q) for r in raws)]
    assert np.mean(inside) >= 0.95
    lo, hi = poisson_interval(7, 0.5)
    assert lo >= 7 and hi > 14


def site_with_two_zones() -> Site:
    zones = (
        Zone("pad", "Launch pad", "pad", metric_box(0, 0, 100, 100)),
        Zone("hall", "Assembly hall", "assembly_hall", metric_box(200, 0, 300, 100)),
    )
    return Site("site", "Test site", metric_box(-50, -50, 350, 150), zones)


def test_compute_counts_corrects_for_coverage_and_flags_partial_views() -> None:
    site = site_with_two_zones()
    # Valid: all of the pad, 30 m of the hall's 100 m width.
    scene = make_scene(metric_box(-50, -50, 230, 150))
    dets = [det(10, 10), det(50, 50), det(80, 20, "car"), det(210, 50), det(250, 50, zone_id="hall")]
    counts = {(c.zone_id, c.cls): c for c in compute_counts(site, scene, dets)}
    pad_trucks, hall_trucks = counts[("pad", "truck")], counts[("hall", "truck")]
    p_det = float(Detectability()(0.3, 5.0, 50.0))
    assert pad_trucks.raw == 2 and pad_trucks.sufficient
    assert pad_trucks.estimate == pytest.approx(2 / p_det)
    assert pad_trucks.lo >= 2 and pad_trucks.lo <= pad_trucks.estimate <= pad_trucks.hi
    assert counts[("pad", "car")].raw == 1
    assert counts[("pad", "bus")].raw == 0 and counts[("pad", "bus")].sufficient  # a real, observed zero
    assert hall_trucks.raw == 2 and not hall_trucks.sufficient
    assert hall_trucks.observed_fraction == pytest.approx(0.3, abs=0.01)
    assert hall_trucks.estimate == pytest.approx(2 / (0.3 * p_det), rel=0.03)
    assert {c.date for c in counts.values()} == {dt.date(2024, 3, 1)}


def test_unseen_zone_is_never_a_zero() -> None:
    site = site_with_two_zones()
    scene = make_scene(metric_box(-50, -50, 150, 150))  # the hall is outside
    hall = [c for c in compute_counts(site, scene, []) if c.zone_id == "hall"]
    assert hall and all(
        not c.sufficient and c.observed_fraction == 0 and c.lo == c.estimate == c.hi == c.raw for c in hall
    )


def test_site_without_zones_counts_its_aoi() -> None:
    site = Site("site", "Bare", metric_box(0, 0, 100, 100))
    counts = compute_counts(site, make_scene(metric_box(-10, -10, 110, 110)), [det(50, 50)])
    trucks = [c for c in counts if c.cls == "truck"]
    assert len(trucks) == 1 and trucks[0].zone_id == "aoi" and trucks[0].raw == 1
