"""Rendering: sun geometry, vehicles change pixels where truth says, footprint is nodata."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from sitewatch.simulate.acquisition import Acquisition, plan_acquisitions, solar_position
from sitewatch.simulate.activity import Vehicle
from sitewatch.simulate.chips import synthetic_sprite
from sitewatch.simulate.layout import SITE_SPECS, generate_layout
from sitewatch.simulate.render import Window, render_base, render_scene

UTC = dt.UTC


def test_solar_position_follows_season_and_day() -> None:
    # Local solar noon at 125 E is about 03:40 UTC.
    summer, az_s = solar_position(dt.datetime(2024, 6, 21, 3, 40, tzinfo=UTC), 39.66, 124.7)
    winter, az_w = solar_position(dt.datetime(2024, 12, 21, 3, 40, tzinfo=UTC), 39.66, 124.7)
    assert summer == pytest.approx(90 - 39.66 + 23.44, abs=1.0)
    assert winter == pytest.approx(90 - 39.66 - 23.44, abs=1.0)
    assert az_s == pytest.approx(180, abs=8) and az_w == pytest.approx(180, abs=5)
    morning, az_m = solar_position(dt.datetime(2024, 6, 21, 1, 0, tzinfo=UTC), 39.66, 124.7)
    assert morning < summer and 60 < az_m < 160


def test_revisits_are_irregular_and_in_range() -> None:
    acqs = plan_acquisitions("s", 39.66, 124.7, dt.date(2024, 1, 1), 365, np.random.default_rng(2))
    gaps = np.diff([a.acquired.date().toordinal() for a in acqs])
    assert gaps.min() >= 1 and gaps.max() >= 7 and len(set(gaps.tolist())) >= 4
    assert all(0.3 <= a.gsd <= 0.8 and 0 <= a.off_nadir < 32 and a.sun_elevation > 15 for a in acqs)
    summer = np.mean([a.cloud_target for a in acqs if a.acquired.month in (7, 8)])
    spring = np.mean([a.cloud_target for a in acqs if a.acquired.month in (3, 4, 5)])
    assert summer > spring


@pytest.fixture(scope="module")
def base():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(4)
    return render_base(generate_layout(SITE_SPECS[1], rng), rng)


def _acq(**kw: object) -> Acquisition:
    a = Acquisition(
        "t", "s", dt.datetime(2024, 5, 1, 2, 0, tzinfo=UTC), "x", 0.5, 5.0, 55.0, 140.0, 0.0, 0.05, (0.0, 0.0), None, 1
    )
    return dataclasses.replace(a, **kw)  # type: ignore[arg-type]


def _sprite(v: Vehicle):  # type: ignore[no-untyped-def]
    return synthetic_sprite(v.cls, v.length, v.width, np.random.default_rng(v.look))


def test_vehicle_appears_inside_its_truth_box(base) -> None:  # type: ignore[no-untyped-def]
    win = Window(400.0, 600.0, 100.0)
    v = Vehicle("v", "tanker", "z", 450.0, 550.0, 30.0, 14.0, 2.5, 3.3, look=3)
    empty = render_scene(base, _acq(), [], _sprite, window=win).image.astype(int)
    scene = render_scene(base, _acq(), [v], _sprite, window=win)
    x0, y0, x1, y1 = scene.boxes[0]
    assert scene.image.shape == (200, 200, 3)
    assert (x1 - x0) == pytest.approx(14 * np.cos(np.radians(30)) / 0.5 + 2.5 * np.sin(np.radians(30)) / 0.5, abs=0.01)
    diff = np.abs(scene.image.astype(int) - empty).sum(axis=2) > 12
    inside = diff[int(y0) : int(y1) + 1, int(x0) : int(x1) + 1].sum()
    assert inside > 0.5 * 14 * 2.5 / 0.25  # most of the vehicle's pixels changed
    assert diff.sum() < 4 * inside  # and little beyond (its shadow)


def test_misregistration_moves_boxes(base) -> None:  # type: ignore[no-untyped-def]
    win = Window(400.0, 600.0, 100.0)
    v = Vehicle("v", "truck", "z", 450.0, 550.0, 0.0, 9.0, 2.5, 3.2, look=1)
    a = render_scene(base, _acq(), [v], _sprite, window=win).boxes[0]
    b = render_scene(base, _acq(shift_px=(3.0, -2.0)), [v], _sprite, window=win).boxes[0]
    assert b - a == pytest.approx([3, -2, 3, -2])


def test_partial_footprint_and_clouds(base) -> None:  # type: ignore[no-untyped-def]
    win = Window(0.0, 1000.0, 1000.0)
    scene = render_scene(base, _acq(gsd=0.8, footprint=(30.0, 0.6), cloud_target=0.3), [], _sprite, window=win)
    assert scene.coverage_fraction == pytest.approx(0.6, abs=0.03)
    assert (scene.image[~scene.valid] == 0).all() and (scene.image[scene.valid] > 0).all()
    assert 0.15 < scene.cloud_fraction < 0.8  # cloud plus cloud shadow
    assert not scene.cloud_mask[~scene.valid].any()
