"""Object change: matching on constructed cases, cloud-aware departures, flows and dwell."""

from __future__ import annotations

import datetime as dt

import shapely
from shapely.geometry import Point

from sitewatch.change.grid import metric_crs
from sitewatch.change.objects import dwell_tracks, match_detections, object_changes, zone_flows
from sitewatch.imagery.raster import reproject_geometry
from sitewatch.model import Detection, Site, Zone

LON, LAT = 125.75, 39.03
UTM = metric_crs("EPSG:4326", Point(LON, LAT))
X0, Y0 = reproject_geometry(Point(LON, LAT), "EPSG:4326", UTM).coords[0]


def at(dx: float, dy: float, cls: str = "car", scene: str = "s", zone: str | None = None) -> Detection:
    """A detection whose centre is (dx, dy) metres east/north of the origin."""
    p = reproject_geometry(Point(X0 + dx, Y0 + dy), UTM, "EPSG:4326")
    return Detection(scene, cls, 0.9, (0, 0, 1, 1), p.buffer(1e-5), "t@1", zone_id=zone)


def area(x0: float, y0: float, x1: float, y1: float) -> shapely.Geometry:
    return reproject_geometry(shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1), UTM, "EPSG:4326")


def kinds(changes) -> dict[str, int]:  # type: ignore[no-untyped-def]
    out: dict[str, int] = {}
    for c in changes:
        out[c.kind] = out.get(c.kind, 0) + 1
    return out


def test_stayed_moved_appeared_departed() -> None:
    before = [at(0, 0), at(50, 0), at(100, 0)]
    after = [at(0.5, 0.3), at(54, 0), at(0, 200)]  # stays, moves 4 m, new one far away
    changes = object_changes(before, after)
    assert kinds(changes) == {"stayed": 1, "moved": 1, "departed": 1, "appeared": 1}
    moved = next(c for c in changes if c.kind == "moved")
    assert moved.distance_m is not None and abs(moved.distance_m - 4.0) < 0.05


def test_assignment_is_global_not_greedy() -> None:
    # Nearest-first would pair b1-a0 (0.5 m) and leave b0 and a1 unmatched (9.8 m apart, over
    # the gate); the optimal assignment keeps both pairs within the 5 m gate.
    before = [at(0, 0), at(5, 0)]
    after = [at(4.5, 0), at(9.8, 0)]
    pairs = match_detections(before, after, gate_m=5.0)
    assert sorted((i, j) for i, j, _ in pairs) == [(0, 0), (1, 1)]


def test_gate_and_class_keep_different_objects_apart() -> None:
    assert match_detections([at(0, 0)], [at(20, 0)], gate_m=15) == []
    assert len(match_detections([at(0, 0)], [at(12, 0)], gate_m=15)) == 1
    assert match_detections([at(0, 0, "car")], [at(0, 0, "truck")]) == []
    assert len(match_detections([at(0, 0, "car")], [at(0, 0, "truck")], same_class=False)) == 1


def test_objects_under_cloud_are_unobserved_not_departed() -> None:
    before = [at(0, 0), at(100, 0)]
    after: list[Detection] = []
    after_valid = area(-20, -20, 20, 20)  # the after scene only saw around the first car
    changes = object_changes(before, after, after_valid=after_valid)
    by_x = sorted(changes, key=lambda c: c.point.x)
    assert [c.kind for c in by_x] == ["departed", "unobserved"]


def test_zone_flows_use_site_zones() -> None:
    site = Site(
        "s",
        "s",
        area(-50, -50, 300, 50),
        (
            Zone("park", "park", "car_park", area(-50, -50, 60, 50)),
            Zone("yard", "yard", "rail_yard", area(60, -50, 300, 50)),
        ),
    )
    before = [at(0, 0), at(10, 0), at(100, 0, "truck")]
    after = [at(0, 0), at(200, 0, "truck"), at(210, 0, "truck")]
    flows = {(f.zone_id, f.cls): f for f in zone_flows(object_changes(before, after, site=site))}
    assert flows[("park", "car")].stayed == 1 and flows[("park", "car")].departed == 1
    assert flows[("park", "car")].net == -1
    yard = flows[("yard", "truck")]
    assert (yard.appeared, yard.departed, yard.net) == (2, 1, 1)


def test_dwell_tracks_separate_parked_from_new_arrivals() -> None:
    t = [dt.datetime(2024, 3, d, tzinfo=dt.UTC) for d in (1, 8, 15, 22)]
    parked = at(0, 0, "truck")
    series = [
        (t[0], [parked], None),
        (t[1], [parked, at(50, 0)], None),
        (t[2], [parked, at(80, 0)], None),  # the car left; another arrived
        (t[3], [parked], None),
    ]
    tracks = dwell_tracks(series)
    assert tracks[0].cls == "truck" and tracks[0].dwell == dt.timedelta(days=21) and tracks[0].scenes == 4
    assert sorted(tr.dwell.days for tr in tracks[1:]) == [0, 0]


def test_dwell_survives_a_cloudy_scene_but_not_a_clear_absence() -> None:
    t = [dt.datetime(2024, 3, d, tzinfo=dt.UTC) for d in (1, 8, 15, 22)]
    parked = at(0, 0, "truck")
    cloud_over_truck = area(30, -20, 200, 20)  # the scene on day 8 only saw east of the truck
    series = [(t[0], [parked], None), (t[1], [], cloud_over_truck), (t[2], [parked], None), (t[3], [], None)]
    tracks = dwell_tracks(series)
    assert len(tracks) == 1 and tracks[0].dwell == dt.timedelta(days=14) and tracks[0].scenes == 2
    # Day 8 clear and empty: the truck left and came back, two separate stays.
    series[1] = (t[1], [], None)
    assert sorted(tr.scenes for tr in dwell_tracks(series)) == [1, 1]


def test_misregistration_offset_is_corrected() -> None:
    before = [at(0, 0), at(30, 0)]
    after = [at(5, 4), at(35, 4)]  # the after scene is georeferenced 6.4 m off
    assert kinds(object_changes(before, after, crs=UTM)) == {"appeared": 2, "departed": 2}
    fixed = object_changes(before, after, crs=UTM, after_offset_m=(-5.0, -4.0))
    assert kinds(fixed) == {"stayed": 2} and all(c.distance_m is not None and c.distance_m < 0.05 for c in fixed)
