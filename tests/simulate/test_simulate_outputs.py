"""The simulation folder: layout, SIMULATED markers, georeferencing and truth consistency."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import rasterio
from shapely.geometry import Point, shape

from sitewatch.model import CLASSES, ZONE_KINDS


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_every_output_says_simulated(tiny_sim: Path) -> None:
    assert "SIMULATED" in (tiny_sim / "SIMULATED.txt").read_text()
    manifest = json.loads((tiny_sim / "manifest.json").read_text())
    assert manifest["simulated"] is True and manifest["seed"] == 7
    tifs = sorted(p for p in (tiny_sim / "scenes").glob("*.tif") if not p.name.endswith(".cloud.tif"))
    assert len(tifs) == manifest["scenes"] > 0
    for tif in tifs:
        sidecar = json.loads(tif.with_suffix(".json").read_text())
        assert sidecar["simulated"] is True and sidecar["sitewatch_sidecar"] == 1
        assert (tif.parent / sidecar["cloud_mask"]).exists()
        with rasterio.open(tif) as ds:
            assert ds.tags()["SITEWATCH_SIMULATED"] == "1"
            assert ds.count == 3 and ds.dtypes[0] == "uint8" and ds.nodata == 0
            assert ds.crs.to_epsg() == 32651  # UTM zone of Sohae
            assert ds.overviews(1), "COG has internal overviews"
            assert abs(ds.res[0] - sidecar["gsd"]) < 1e-9


def test_sites_geojson_reads_with_the_sites_importer(tiny_sim: Path) -> None:
    from sitewatch.sites.geojson import read_sites

    (site,) = read_sites(tiny_sim / "sites.geojson")
    assert site.simulated and site.id == "sim-sohae" and "(simulated)" in site.name
    assert {z.kind for z in site.zones} <= set(ZONE_KINDS)
    assert {"pad", "assembly_hall", "rail_yard", "car_park", "construction"} <= {z.kind for z in site.zones}
    assert site.aoi.contains(Point(124.7057, 39.6596))
    assert all(site.aoi.buffer(1e-6).contains(z.geometry) for z in site.zones)
    # About 1 km x 1 km: 0.009 degrees of latitude.
    _, miny, _, maxy = site.aoi.bounds
    assert 0.0085 < maxy - miny < 0.0095


def test_objects_sit_in_their_zone_and_match_pixels(tiny_sim: Path) -> None:
    fc = json.loads((tiny_sim / "sites.geojson").read_text())
    zones = {f["properties"]["id"]: shape(f["geometry"]) for f in fc["features"] if f["properties"]["type"] == "zone"}
    objects = _rows(tiny_sim / "truth" / "objects.csv")
    assert objects
    for o in objects[::7]:
        assert zones[o["zone_id"]].buffer(2e-4).contains(Point(float(o["lon"]), float(o["lat"]))), o
    # The pixel box centre, through the scene's geotransform, lands on the object's lon/lat
    # up to the misregistration (a few pixels).
    from pyproj import Transformer

    by_scene: dict[str, list[dict[str, str]]] = {}
    for o in objects:
        by_scene.setdefault(o["scene_id"], []).append(o)
    scene_id, rows = next(iter(by_scene.items()))
    with rasterio.open(tiny_sim / "scenes" / f"{scene_id}.tif") as ds:
        to_utm = Transformer.from_crs("EPSG:4326", ds.crs, always_xy=True)
        for o in rows:
            cx, cy = (float(o["x0"]) + float(o["x1"])) / 2, (float(o["y0"]) + float(o["y1"])) / 2
            ex, ny = ds.transform @ (cx, cy)
            ux, uy = to_utm.transform(float(o["lon"]), float(o["lat"]))
            assert np.hypot(ex - ux, ny - uy) < 8 * ds.res[0], o


def test_visible_objects_are_in_footprint_and_clear(tiny_sim: Path) -> None:
    objects = _rows(tiny_sim / "truth" / "objects.csv")
    by_scene: dict[str, list[dict[str, str]]] = {}
    for o in objects:
        by_scene.setdefault(o["scene_id"], []).append(o)
    n_visible = n_hidden = 0
    for scene_id, rows in by_scene.items():
        with rasterio.open(tiny_sim / "scenes" / f"{scene_id}.tif") as ds:
            img = ds.read()
            h, w = ds.height, ds.width
        with rasterio.open(tiny_sim / "scenes" / f"{scene_id}.cloud.tif") as ds:
            cloud = ds.read(1)
        for o in rows:
            x0, y0, x1, y1 = (float(o[k]) for k in ("x0", "y0", "x1", "y1"))
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
            cx, cy = min(int((x0 + x1) / 2), w - 1), min(int((y0 + y1) / 2), h - 1)
            inside = bool(img[:, cy, cx].any())
            if o["visible"] == "1":
                n_visible += 1
                assert inside and cloud[cy, cx] == 0, o
            else:
                n_hidden += 1
                assert not inside or cloud[cy, cx] == 1, o
    assert n_visible > 0


def test_activity_counts_match_objects_in_every_scene(tiny_sim: Path) -> None:
    activity = {
        (r["zone_id"], r["cls"], r["date"]): int(r["true_count"]) for r in _rows(tiny_sim / "truth" / "activity.csv")
    }
    scenes = {r["scene_id"]: r["acquired"][:10] for r in _rows(tiny_sim / "truth" / "scenes.csv")}
    counted: Counter[tuple[str, str, str]] = Counter()
    for o in _rows(tiny_sim / "truth" / "objects.csv"):
        if o["decoy"] == "0":
            counted[(o["zone_id"], o["cls"], scenes[o["scene_id"]])] += 1
    dates = set(scenes.values())
    for (zone, cls, date), true in activity.items():
        if date in dates:
            assert counted[(zone, cls, date)] == true, (zone, cls, date)
    assert {k[1] for k in activity} == set(CLASSES)
    manifest = json.loads((tiny_sim / "manifest.json").read_text())
    assert len({k[2] for k in activity}) == manifest["days"]  # every day, observed or not


def test_synthetic_look_flags_classes_without_chips(tiny_sim: Path) -> None:
    objects = _rows(tiny_sim / "truth" / "objects.csv")
    flags = {o["cls"]: o["synthetic_look"] for o in objects}
    assert flags.get("rail_car", "1") == "1"
    assert "car" in flags
    manifest = json.loads((tiny_sim / "manifest.json").read_text())
    if manifest["chip_source"].startswith("aerial-vehicles train split"):
        assert flags["car"] == "0"


def test_events_and_episodes_tables(tiny_sim: Path) -> None:
    events = _rows(tiny_sim / "truth" / "events.csv")
    episodes = _rows(tiny_sim / "truth" / "episodes.csv")
    assert events and all(e["description"].startswith("SIMULATED") for e in events)
    kinds = {e["kind"] for e in episodes}
    assert "pre_event_ramp" in kinds and kinds <= {"pre_event_ramp", "construction", "quiet", "deception"}
    ramps = [e for e in episodes if e["kind"] == "pre_event_ramp"]
    assert {r["event_id"] for r in ramps} == {e["event_id"] for e in events}
    for r in ramps:
        ev = next(e for e in events if e["event_id"] == r["event_id"])
        assert r["start"] < r["end"] == ev["date"]
