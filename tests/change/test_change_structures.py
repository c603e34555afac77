"""Structures from change regions: shape rules, and regions measured on the ground."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from affine import Affine

from sitewatch.change.grid import Grid
from sitewatch.change.pixel import detect_change
from sitewatch.change.regions import extract_regions, mark_vehicles
from sitewatch.change.structures import classify
from sitewatch.imagery.raster import reproject_geometry
from sitewatch.model import Detection


@pytest.mark.parametrize(
    ("area", "length", "width", "rect", "texture", "kind"),
    [
        (8, 4.5, 1.8, 0.9, 0.0, "vehicle_size"),
        (60, 30, 2, 1.0, 0.0, "crane"),
        (60, 20, 3, 1.0, 0.0, "other"),  # a rail car, not a crane
        (400, 25, 16, 0.95, -0.5, "new_structure"),
        (400, 25, 16, 0.95, 0.5, "removed_structure"),
        (400, 25, 16, 0.95, 0.0, "other"),
        (900, 50, 40, 0.45, 0.3, "ground_scarring"),
        (120, 20, 10, 0.5, 0.0, "other"),
    ],
)
def test_classify_rules(area: float, length: float, width: float, rect: float, texture: float, kind: str) -> None:
    assert classify(area, length, width, rect, texture) == kind


def test_regions_have_ground_area_kind_and_place(texture, noisy) -> None:  # type: ignore[no-untyped-def]
    base = texture((300, 300), seed=11)
    before, after = noisy(base, 3, seed=1), noisy(base, 3, seed=2)
    after[100:140, 50:110] = (210, 210, 215)  # 40 x 60 px roof = 10 x 15 m at 0.25 m
    after[220:224, 40:200] = (20, 20, 20)  # 1 x 40 m crane jib shadow
    grid = Grid("EPSG:32652", Affine(0.25, 0, 350_000, 0, -0.25, 4_320_000), 300, 300)
    change = detect_change(before, after, np.ones((300, 300), bool), min_area_px=16)
    regions = extract_regions(change, before, after, grid)
    by_kind = {r.kind: r for r in regions}
    assert set(by_kind) == {"new_structure", "crane"}, [(r.kind, r.area_m2) for r in regions]
    roof = by_kind["new_structure"]
    assert roof.area_m2 == pytest.approx(150, rel=0.1)
    assert roof.confidence > 0.99 and roof.brightness > 0
    assert roof.window == (100, 50, 140, 110)
    centre = reproject_geometry(roof.geometry.centroid, "EPSG:4326", grid.crs)
    assert centre.x == pytest.approx(350_000 + 80 * 0.25, abs=0.3)
    assert centre.y == pytest.approx(4_320_000 - 120 * 0.25, abs=0.3)
    crane = by_kind["crane"]
    assert crane.length_m == pytest.approx(40, rel=0.1) and crane.width_m < 2
    # A detected vehicle on the roof region does not make it a vehicle (too big); on a small one it does.
    on_roof = Detection("s", "truck", 0.9, (0, 0, 1, 1), roof.geometry.centroid.buffer(1e-5), "t@1")
    assert [r.kind for r in mark_vehicles(regions, [on_roof])] == [r.kind for r in regions]
    small = replace(roof, area_m2=70.0)
    assert mark_vehicles([small], [on_roof])[0].kind == "vehicle_size"
    assert mark_vehicles([small], [])[0].kind == "new_structure"
