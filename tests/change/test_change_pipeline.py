"""End to end: two GeoTIFF scenes in a store -> compare_site -> files, and the CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from scipy import ndimage
from typer.testing import CliRunner

from sitewatch.change.outputs import write_outputs
from sitewatch.change.pipeline import compare_site
from sitewatch.cli.main import app
from sitewatch.errors import ChangeError
from sitewatch.imagery.raster import pixel_box_to_polygon
from sitewatch.model import Detection, Site, Zone
from sitewatch.store import open_store

T0 = dt.datetime(2024, 3, 1, 2, 0, tzinfo=dt.UTC)
T1 = dt.datetime(2024, 3, 20, 2, 0, tzinfo=dt.UTC)
SIZE = 480
ROOF = (slice(200, 240), slice(300, 360))  # 40 x 60 px = 20 x 30 m at 0.5 m
TRUE_SHIFT = (1.4, -0.7)  # (rows, cols) misregistration of the after scene


def _det(scene, box, cls="truck"):  # type: ignore[no-untyped-def]
    with rasterio.open(scene.uri) as ds:
        geom = pixel_box_to_polygon(ds.transform, ds.crs, box)
    return Detection(scene.id, cls, 0.9, box, geom, "test@1", site_id="s1")


@pytest.fixture
def site_store(tmp_path: Path, texture, noisy, shifted, write_scene):  # type: ignore[no-untyped-def]
    base = texture((SIZE, SIZE), seed=3)
    before_img = noisy(base, 3, seed=1)
    after_base = base.copy()
    after_base[ROOF] = (200, 200, 205)  # a new roof: bright and flat
    # The after sensor is finer (0.45 m): same ground, more pixels, and misregistered.
    fine = np.stack([ndimage.zoom(after_base[..., i], 0.5 / 0.45, order=1) for i in range(3)], axis=-1)
    moved = shifted(fine, TRUE_SHIFT)
    after_img = noisy(moved, 3, seed=2, gain=0.9, offset=10)
    before = write_scene("before", before_img, acquired=T0)
    after = write_scene("after", after_img, acquired=T1, sensor="GeoEye-1", gsd=0.45)
    aoi = before.footprint.buffer(-0.0002)
    site = Site("s1", "Test site", aoi, (Zone("z1", "yard", "rail_yard", aoi),), simulated=True)
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.upsert_site(site)
    store.add_scene(before, ["s1"])
    store.add_scene(after, ["s1"])
    # Truck A stays, truck B leaves, truck C arrives (boxes in each scene's own pixels).
    before_dets = [_det(before, (100, 100, 116, 106)), _det(before, (400, 400, 416, 406))]
    store.replace_detections("before", "test@1", before_dets)
    # After boxes are in the finer after pixels (x 0.5 / 0.45) and carry the misregistration.
    store.replace_detections("after", "test@1", [_det(after, (110, 113, 128, 120)), _det(after, (450, 133, 468, 140))])
    yield store
    store.close()


def test_compare_site_finds_roof_objects_and_writes_files(site_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = compare_site(site_store, "s1", T0.date(), T1.date())
    assert result.before.id == "before" and result.after.id == "after"
    a = result.pair.alignment
    assert a.reliable
    # Grid is at the coarser 0.5 m: the after image must be moved back by the misregistration.
    assert abs(a.shift[0] + TRUE_SHIFT[0] * 0.45 / 0.5) < 0.3 and abs(a.shift[1] + TRUE_SHIFT[1] * 0.45 / 0.5) < 0.3
    big = [r for r in result.pair.regions if r.area_m2 > 100]
    assert len(big) == 1, [(r.kind, r.area_m2) for r in result.pair.regions]
    roof = big[0]
    assert roof.kind == "new_structure"
    assert 400 < roof.area_m2 < 800  # 600 m² planted, blurred edges
    kinds = sorted(o.kind for o in result.objects)
    assert kinds == ["appeared", "departed", "stayed"]
    paths = write_outputs(result, tmp_path / "out")
    with rasterio.open(paths["map"]) as ds:
        m = ds.read(1)
        assert ds.tags()["SIMULATED"] == "true"
    assert m[m != 255].sum() == result.pair.pixels.mask.sum()
    gj = json.loads(paths["regions"].read_text())
    kinds_gj = [f["properties"]["kind"] for f in gj["features"]]
    assert "new_structure" in kinds_gj and all(f["properties"]["simulated"] for f in gj["features"])
    assert paths["figure"].read_bytes()[:4] == b"\x89PNG"
    assert any(k.startswith("chip-") for k in paths)
    doc = json.loads(paths["json"].read_text())
    assert doc["objects"] == {"appeared": 1, "departed": 1, "stayed": 1}
    # Truck A is the only object seen on both dates in place: parked for the 19 days between them.
    assert doc["parked_through"] == 1 and doc["longest_dwell_days"] == 19.0
    assert [t["scenes"] for t in doc["dwell_tracks"]] == [2]
    assert not any("from the requested" in c for c in doc["caveats"])  # both dates hit exactly


def test_cli_change_prints_summary(site_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    db = site_store.url
    res = runner.invoke(
        app,
        [
            "change",
            "s1",
            "--from",
            "2024-03-01",
            "--to",
            "2024-03-25",
            "--db",
            db,
            "--out",
            str(tmp_path / "o"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["simulated"] is True and doc["regions"].get("new_structure") == 1
    assert any("after scene is 5 day(s) from the requested 2024-03-25" in c for c in doc["caveats"])
    assert Path(doc["files"]["map"]).is_file()


def test_cli_change_unknown_date_format(site_store) -> None:  # type: ignore[no-untyped-def]
    res = CliRunner().invoke(app, ["change", "s1", "--from", "March", "--to", "2024-03-25", "--db", site_store.url])
    assert res.exit_code != 0


def test_scenes_that_cannot_be_aligned_are_refused(tmp_path: Path, texture, noisy, write_scene) -> None:  # type: ignore[no-untyped-def]
    before = write_scene("b", noisy(texture((400, 400), seed=1), 2, seed=1), acquired=T0)
    after = write_scene("a", noisy(texture((400, 400), seed=9), 2, seed=2), acquired=T1)  # another place
    site = Site("s2", "S2", before.footprint.buffer(-0.0001))
    with open_store(f"sqlite:///{tmp_path / 'db.sqlite'}") as store:
        store.upsert_site(site)
        store.add_scene(before, ["s2"])
        store.add_scene(after, ["s2"])
        with pytest.raises(ChangeError, match="co-registered"):
            compare_site(store, "s2", T0.date(), T1.date())


def test_cloudy_after_scene_gives_clear_error(tmp_path: Path, texture, write_scene) -> None:  # type: ignore[no-untyped-def]
    img = texture((300, 300), seed=1)
    before = write_scene("b", img, acquired=T0)
    half = shapely.box(*before.footprint.bounds[:2], before.footprint.centroid.x, before.footprint.bounds[3])
    after = write_scene("a", img, acquired=T1, valid=before.footprint.difference(half))
    before = write_scene("b", img, acquired=T0, valid=half)
    site = Site("s3", "S3", before.footprint)
    with open_store(f"sqlite:///{tmp_path / 'db.sqlite'}") as store:
        store.upsert_site(site)
        store.add_scene(before, ["s3"])
        store.add_scene(after, ["s3"])
        with pytest.raises(ChangeError, match="no common valid pixels"):
            compare_site(store, "s3", T0.date(), T1.date())


def test_shrink_keeps_a_margin_from_invalid_pixels() -> None:
    from sitewatch.change.pipeline import shrink

    valid = np.ones((50, 50), bool)
    valid[20:25, 20:25] = False  # a small cloud
    out = shrink(valid, 3)
    assert not out[17:28, 17:28].any() and out[:16].all() and out[29:].all()
    assert out[0].all()  # the grid edge is not a cloud edge


def test_compare_scenes_orders_the_pair_in_time(site_store) -> None:  # type: ignore[no-untyped-def]
    from sitewatch.change.pipeline import compare_scenes

    site = site_store.get_site("s1")
    result = compare_scenes(site_store, site, site_store.get_scene("after"), site_store.get_scene("before"))
    assert (result.before.id, result.after.id) == ("before", "after")
    assert result.requested == (T0.date(), T1.date()) and result.object_counts()["departed"] == 1
