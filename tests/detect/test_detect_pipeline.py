"""detect_store over a real SQLite store: AOIs, zones, resume, bad and empty scenes."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from shapely.geometry import box

from sitewatch.detect.pipeline import detect_store
from sitewatch.imagery.ingest import ingest_paths
from sitewatch.model import Site, Zone
from sitewatch.store import open_store
from sitewatch.store.base import Store


def _lonlat_box(utm: Any, x0: float, y0: float, x1: float, y1: float) -> Any:
    """A lon/lat box from metres right of / below the scene's top-left corner."""
    crs, (ox, oy) = utm
    tr = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    (a, b), (c, d) = tr.transform([ox + x0, ox + x1], [oy - y1, oy - y0])
    return box(a, c, b, d)


def _store(tmp_path: Path, scene: Any, utm: Any, simulated: Collection[str] = ()) -> Store:
    """Two scenes s0 and s1 of the same three cars (two in the site, one in its pad zone)."""
    cars = [(20.0, 20.0, 24.5, 21.8), (60.0, 20.0, 64.5, 21.8), (150.0, 100.0, 154.5, 101.8)]
    for i in range(2):
        outside = [(190.0, 130.0 - 10 * i, 194.5, 131.8 - 10 * i)]  # outside the site; makes the files differ
        scene(tmp_path / f"s{i}.tif", cars + outside, size=(700, 500), gsd=0.3)
        meta = {"id": f"s{i}", "acquired": f"2024-03-0{i + 1}T02:00:00Z", "simulated": f"s{i}" in simulated}
        (tmp_path / f"s{i}.json").write_text(json.dumps(meta))
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    pad = Zone("pad", "Pad", "pad", _lonlat_box(utm, 50, 10, 80, 30))
    store.upsert_site(Site("site", "Site", _lonlat_box(utm, 0, 0, 100, 50), zones=(pad,)))
    report = ingest_paths(store, [tmp_path / "s0.tif", tmp_path / "s1.tif"])
    assert report.added == 2, report.failed
    return store


@pytest.fixture
def store_with_scenes(tmp_path: Path, scene: Any, utm: Any) -> Iterator[Store]:
    store = _store(tmp_path, scene, utm)
    yield store
    store.close()


def test_detections_are_restricted_to_sites_and_get_zones(store_with_scenes: Any, toy: Any) -> None:
    report = detect_store(store_with_scenes, toy)
    assert (report.scenes, report.detections, report.failed) == (2, 4, [])
    dets = store_with_scenes.list_detections(scene_id="s0")
    assert sorted((d.site_id, d.zone_id or "-") for d in dets) == [("site", "-"), ("site", "pad")]
    assert {d.detector for d in dets} == {toy.name}


def test_done_scenes_are_skipped_unless_rerun(store_with_scenes: Any, toy: Any) -> None:
    detect_store(store_with_scenes, toy)
    again = detect_store(store_with_scenes, toy)
    assert again.scenes == 0 and len(again.skipped) == 2
    assert "already detected" in again.skipped[0][1]
    forced = detect_store(store_with_scenes, toy, rerun=True)
    assert forced.scenes == 2
    assert len(store_with_scenes.list_detections(scene_id="s0")) == 2  # replaced, not appended


def test_bad_and_cloudy_scenes_are_reported_not_fatal(store_with_scenes: Any, toy: Any, tmp_path: Path) -> None:
    (tmp_path / "s0.tif").write_bytes(b"corrupted after ingest")
    with rasterio.open(tmp_path / "s1.tif") as ds:
        profile = ds.profile | {"count": 1, "nodata": None}
    with rasterio.open(tmp_path / "s1.cloud.tif", "w", **profile) as ds:
        ds.write(np.ones((500, 700), dtype=np.uint8), 1)
    progress: list[tuple[int, int, str]] = []
    report = detect_store(store_with_scenes, toy, on_progress=lambda *a: progress.append(a))
    assert report.scenes == 0
    assert [s for s, _ in report.failed] == ["s0"] and "s0.tif" in report.failed[0][1]
    assert [s for s, _ in report.skipped] == ["s1"] and "no valid pixels" in report.skipped[0][1]
    # The cloudy scene is done (nothing to see); the broken one will be retried.
    assert store_with_scenes.detected_scene_ids(toy.name) == {"s1"}
    assert progress[-1][:2] == (2, 2)


@dataclass(frozen=True)
class DomainToy:
    """The toy detector with a counting threshold per imagery domain, as ONNX models have."""

    toy: Any
    score_threshold: float = 0.5
    domain_thresholds: dict[str, float] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:  # name, classes, gsd, tile_size: the toy's
        return getattr(self.toy, name)

    def for_domain(self, domain: str) -> DomainToy:
        return replace(self, score_threshold=self.domain_thresholds.get(domain, self.score_threshold))

    def detect_batch(self, tiles: Any) -> list[list[Any]]:
        return [[b for b in found if b.score >= self.score_threshold] for found in self.toy.detect_batch(tiles)]


def test_simulated_scenes_are_counted_at_the_simulated_threshold(
    tmp_path: Path, scene: Any, utm: Any, toy: Any
) -> None:
    with _store(tmp_path, scene, utm, simulated={"s1"}) as store:
        assert store.get_scene("s1").simulated and not store.get_scene("s0").simulated
        report = detect_store(store, DomainToy(toy, domain_thresholds={"simulated": 0.95}))  # toy scores 0.9
        assert report.per_scene == {"s0": 2, "s1": 0}
        run = store.list_runs("detect")[-1]
        assert run.params["score_thresholds"] == {"real": 0.5, "simulated": 0.95}  # provenance of the counts
