"""Image crops: windowed decimated reads land boxes on the right pixels; scene picks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sitewatch.report import chips


@pytest.mark.parametrize("max_size", [1000, 60])
def test_crop_maps_detection_boxes_onto_the_vehicles(sim_store, max_size: int) -> None:
    site = sim_store.get_site("test-site")
    scene = sim_store.scenes["scene-4"]
    zone = site.zone("car_park").geometry
    crop = chips.read_crop(scene, zone, max_size=max_size)
    assert crop is not None
    assert max(crop.image.shape[:2]) <= max_size
    trucks = [d for d in sim_store.list_detections(scene_id=scene.id) if d.zone_id == "car_park"]
    assert trucks
    for det in trucks:
        b = crop.box(det)
        cx, cy = int(b.cx), int(b.cy)
        # vehicles are painted 230 on a 60..110 background
        assert crop.image[cy, cx].min() > 170, (det.box, b)
    # the zone outline sits inside the crop
    x0, y0, x1, y1 = crop.pixels(zone).bounds
    h, w = crop.image.shape[:2]
    assert -1 <= x0 < x1 <= w + 1 and -1 <= y0 < y1 <= h + 1


def test_crop_outside_the_image_is_none(sim_store) -> None:
    from shapely.geometry import box

    scene = sim_store.scenes["scene-0"]
    assert chips.read_crop(scene, box(10, 10, 10.001, 10.001), max_size=100) is None


def test_latest_clear_skips_clouded_scenes(sim_store) -> None:
    site = sim_store.get_site("test-site")
    scenes = sorted(sim_store.scenes.values(), key=lambda s: s.acquired)
    zone = site.zone("car_park").geometry
    # scene-2 is clouded over the car park: even as the latest, it is not picked
    clear = chips.latest_clear(scenes[:3], zone)
    assert clear is not None and clear.id == "scene-1"
    latest = chips.latest_clear(scenes, zone)
    assert latest is not None and latest.id == scenes[-1].id


def test_comparable_before_prefers_same_sensor_then_recent(sim_store) -> None:
    site = sim_store.get_site("test-site")
    zone = site.zone("car_park").geometry
    scenes = sorted(sim_store.scenes.values(), key=lambda s: s.acquired)
    after = sim_store.scenes["scene-4"]
    before = chips.comparable_before(scenes, after, zone)
    assert before is not None and before.id == "scene-3"
    other = [dataclasses.replace(s, sensor="GeoEye-1") if s.id == "scene-3" else s for s in scenes]
    before = chips.comparable_before(other, after, zone)
    assert before is not None and before.id == "scene-1"  # scene-2 is clouded there
    assert chips.comparable_before(scenes, scenes[0], zone) is None


def test_annotate_draws_class_coloured_boxes_and_stamp(sim_store) -> None:
    scene = sim_store.scenes["scene-4"]
    zone = sim_store.get_site("test-site").zone("car_park").geometry
    crop = chips.read_crop(scene, zone, max_size=1000)
    assert crop is not None
    dets = sim_store.list_detections(scene_id=scene.id)
    plain = chips.annotate(crop, [], simulated=False)
    boxed = chips.annotate(crop, dets, simulated=True)
    assert plain.mime == boxed.mime == "image/jpeg"
    assert plain.data[:3] == b"\xff\xd8\xff" and plain.data != boxed.data
    img = crop.image.copy()
    chips.stamp(img)
    assert (img[2, 2] == (214, 39, 40)).all()
    assert np.array_equal(img[-1], crop.image[-1])


def test_comparable_before_is_clear_even_when_the_alert_scene_is_not(sim_store) -> None:
    from shapely.geometry import box

    zone = sim_store.get_site("test-site").zone("car_park").geometry
    x0, y0, x1, y1 = zone.bounds
    half = box(x0, y0, (x0 + x1) / 2, y1)  # half the car park seen
    after = dataclasses.replace(sim_store.scenes["scene-2"], valid=half)
    scenes = [
        dataclasses.replace(s, valid=half) if s.id == "scene-1" else s
        for s in sorted(sim_store.scenes.values(), key=lambda s: s.acquired)
    ]
    before = chips.comparable_before(scenes, after, zone)
    assert before is not None and before.id == "scene-0"  # not the more recent half-seen one
    before = chips.comparable_before(scenes[1:], after, zone)
    assert before is not None and before.id == "scene-1"  # no clear one: as seen as `after`
    before = chips.comparable_before(scenes[1:], sim_store.scenes["scene-4"], zone)
    assert before is not None and before.id == "scene-3"
