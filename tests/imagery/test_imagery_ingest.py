"""Ingest: footprints, valid areas, site links, bad files, duplicates and crash recovery."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import box
from typer.testing import CliRunner

from sitewatch.cli.main import app
from sitewatch.imagery.ingest import ingest_paths, iter_images
from sitewatch.imagery.raster import open_raster, pixel_box_to_polygon, reproject_geometry
from sitewatch.model import Site
from sitewatch.store import open_store
from sitewatch.store.sql import SqlStore

SceneFactory = Callable[..., Path]
UTM = "EPSG:32651"
PX_AREA = 0.25  # m² per 0.5 m pixel


def pixel_aoi(scene: Path, px_box: tuple[float, float, float, float]) -> object:
    with open_raster(scene) as ds:
        return pixel_box_to_polygon(ds.transform, ds.crs, px_box)


def add_sites(store: SqlStore, scene: Path) -> None:
    store.upsert_site(Site("on", "Covered", pixel_aoi(scene, (20, 10, 50, 40))))  # type: ignore[arg-type]
    store.upsert_site(Site("blank", "In nodata only", pixel_aoi(scene, (2, 2, 10, 10))))  # type: ignore[arg-type]
    store.upsert_site(Site("far", "Elsewhere", box(124.0, 39.0, 124.01, 39.01)))


def snapshot(store: SqlStore) -> list[tuple[str, str, bytes, bytes, list[str]]]:
    return [
        (s.id, s.content_hash, s.footprint.wkb, s.valid.wkb, store.scene_site_ids(s.id)) for s in store.list_scenes()
    ]


def test_footprint_valid_area_cloud_and_links(tmp_path: Path, make_scene: SceneFactory) -> None:
    path = make_scene("a", nodata_cols=16, cloud_rows=16)
    with open_store(f"sqlite:///{tmp_path / 'i.db'}") as store:
        add_sites(store, path)
        progress: list[tuple[int, int, str]] = []
        report = ingest_paths(store, [path], on_progress=lambda *a: progress.append(a))
        assert (report.added, report.duplicates, report.failed) == (1, 0, [])
        scene = store.get_scene("a")
        assert store.scene_site_ids("a") == ["on"]
        assert progress[0] == (0, 1, "a.tif") and progress[-1] == (1, 1, "done")
        runs = store.list_runs("ingest")
        assert len(runs) == 1 and runs[0].finished is not None and runs[0].params["added"] == 1
    footprint = reproject_geometry(scene.footprint, "EPSG:4326", UTM)
    valid = reproject_geometry(scene.valid, "EPSG:4326", UTM)
    assert footprint.area == pytest.approx(48 * 64 * PX_AREA, rel=1e-3)  # 16 nodata columns left out
    assert valid.area == pytest.approx(48 * 48 * PX_AREA, rel=1e-3)  # 16 cloudy rows left out
    assert scene.cloud_cover == pytest.approx(0.25, abs=1e-3)
    assert (scene.width, scene.height, scene.bands, scene.crs) == (64, 64, 3, UTM)
    assert scene.simulated and scene.uri == str(path.resolve())


def test_reingest_is_a_noop_and_id_defaults_to_hash(tmp_path: Path, make_scene: SceneFactory) -> None:
    path = make_scene("b", sidecar={"drop": ["id"]})
    with open_store(f"sqlite:///{tmp_path / 'i.db'}") as store:
        first = ingest_paths(store, [tmp_path])
        before = snapshot(store)
        again = ingest_paths(store, [path, tmp_path])
        assert (first.added, again.added, again.duplicates) == (1, 0, 2)
        assert snapshot(store) == before
        assert before[0][0].startswith("scene-") and before[0][1].startswith(before[0][0][6:])


def test_folders_are_searched_recursively_without_cloud_masks(tmp_path: Path, make_scene: SceneFactory) -> None:
    make_scene("x", folder=tmp_path / "2024" / "03", cloud_rows=4)
    make_scene("y", folder=tmp_path / "2024" / "04", seed=1)
    (tmp_path / "2024" / "notes.txt").write_text("not an image")
    assert [p.name for p in iter_images(tmp_path)] == ["x.tif", "y.tif"]


def bad_corpus(folder: Path, make_scene: SceneFactory, write_tif: Callable[..., Path]) -> dict[str, str]:
    """A folder of broken inputs; returns file name -> expected problem."""
    good = make_scene("good", folder=folder)
    shutil.copy(good, folder / "good-copy.tif")
    shutil.copy(good.with_suffix(".json"), folder / "good-copy.json")
    (folder / "readme.tif").write_text("hello")
    (folder / "empty.tif").touch()
    big = write_tif(folder / "whole.tif", np.ones((3, 300, 300), dtype=np.uint8))
    (folder / "truncated.tif").write_bytes(big.read_bytes()[:5000])
    big.unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_tif(folder / "nogeo.tif", np.ones((3, 8, 8), dtype=np.uint8), crs=None)
    make_scene("naive", folder=folder, seed=3, sidecar={"acquired": "2024-03-01T02:13:00"})
    return {
        "readme.tif": "not a readable image",
        "empty.tif": "empty file (0 bytes)",
        "truncated.tif": "truncated",
        "nogeo.tif": "no coordinate reference system",
        "naive.json": "has no time zone",  # the sidecar is what needs fixing
    }


def test_cli_reports_bad_files_and_keeps_going(
    tmp_path: Path, make_scene: SceneFactory, write_tif: Callable[..., Path]
) -> None:
    db = str(tmp_path / "cli.db")
    runner = CliRunner()
    earlier = make_scene("earlier", folder=tmp_path / "first", seed=7)
    assert runner.invoke(app, ["ingest", str(earlier), "--db", db]).exit_code == 0
    with open_store(f"sqlite:///{db}") as store:
        before = snapshot(store)

    expected = bad_corpus(tmp_path / "corpus", make_scene, write_tif)
    result = runner.invoke(app, ["ingest", str(tmp_path / "corpus"), "--db", db])
    assert result.exit_code == 1
    assert "1 added, 1 duplicate(s), 5 failed" in result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("failed:")]
    assert len(lines) == 5
    for name, problem in expected.items():
        assert any(name in ln and problem in ln for ln in lines), (name, result.output)

    as_json = json.loads(runner.invoke(app, ["ingest", str(tmp_path / "corpus"), "--db", db, "--json"]).stdout)
    assert (as_json["added"], as_json["duplicates"], len(as_json["failed"])) == (0, 2, 5)
    with open_store(f"sqlite:///{db}") as store:
        after = snapshot(store)
    assert after[: len(before)] == before and [s[0] for s in after] == ["earlier", "good"]


def test_cli_missing_path_fails(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "nope"), "--db", str(tmp_path / "c.db")])
    assert result.exit_code == 1 and "no such file or folder" in result.output


KILLER = """
import os, signal, sys
from sqlalchemy import event
from sitewatch.imagery.ingest import ingest_paths
from sitewatch.store import open_store

store = open_store(sys.argv[1])
kill_at, links = int(sys.argv[3]), 0

@event.listens_for(store._engine, "after_cursor_execute")
def _kill_mid_transaction(conn, cursor, statement, *args):
    # The scene row and its site links are written but not committed: die right here.
    global links
    if statement.startswith("INSERT INTO scene_sites"):
        links += 1
        if links == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

ingest_paths(store, [sys.argv[2]])
"""


def test_sigkill_mid_ingest_then_restart_equals_clean_run(tmp_path: Path, make_scene: SceneFactory) -> None:
    scenes = [make_scene(f"k{i}", folder=tmp_path / "scenes", seed=i) for i in range(5)]
    killed, clean = f"sqlite:///{tmp_path / 'killed.db'}", f"sqlite:///{tmp_path / 'clean.db'}"
    for url in (killed, clean):
        with open_store(url) as store:
            add_sites(store, scenes[0])

    proc = subprocess.run(
        [sys.executable, "-c", KILLER, killed, str(tmp_path / "scenes"), "3"], capture_output=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    with open_store(killed) as store:
        assert [s.id for s in store.list_scenes()] == ["k0", "k1"]  # the third never committed
        restarted = ingest_paths(store, [tmp_path / "scenes"])
        assert (restarted.added, restarted.duplicates, restarted.failed) == (3, 2, [])
        after_restart = snapshot(store)
    with open_store(clean) as store:
        ingest_paths(store, [tmp_path / "scenes"])
        assert snapshot(store) == after_restart


def test_two_concurrent_ingests_share_one_fresh_store(tmp_path: Path, make_scene: SceneFactory) -> None:
    for i in range(4):
        make_scene(f"c{i}", folder=tmp_path / "scenes", seed=i)
    db = str(tmp_path / "shared.db")
    cmd = [sys.executable, "-m", "sitewatch.cli.main", "ingest", str(tmp_path / "scenes"), "--db", db, "--json"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err.decode() for _, err in outs]
    reports = [json.loads(out) for out, _ in outs]
    # Each scene is added exactly once, whichever process got there first.
    assert sum(r["added"] for r in reports) == 4 and sum(r["duplicates"] for r in reports) == 4
    with open_store(f"sqlite:///{db}") as store:
        assert [s.id for s in store.list_scenes()] == ["c0", "c1", "c2", "c3"]


@pytest.mark.parametrize(
    ("breakage", "problem"),
    [
        ("missing_mask", r"m\.cloud\.tif: file not found"),
        ("mask_grid", r"m\.cloud\.tif: cloud mask grid 32x32 does not match the scene grid 64x64"),
        ("sidecar_json", r"m\.json: sidecar is not valid JSON"),
        ("all_nodata", r"m\.tif: image has no valid pixels"),
    ],
)
def test_bad_sidecar_and_masks_fail_one_file(
    tmp_path: Path, make_scene: SceneFactory, write_tif: Callable[..., Path], breakage: str, problem: str
) -> None:
    path = make_scene("m", folder=tmp_path / "in", cloud_rows=8, nodata_cols=64 if breakage == "all_nodata" else 16)
    if breakage == "missing_mask":
        path.with_name("m.cloud.tif").unlink()
    elif breakage == "mask_grid":
        write_tif(path.with_name("m.cloud.tif"), np.ones((1, 32, 32), dtype=np.uint8), nodata=None)
    elif breakage == "sidecar_json":
        path.with_suffix(".json").write_text("{oops")
    ok = make_scene("ok", folder=tmp_path / "in", seed=5)
    with open_store(f"sqlite:///{tmp_path / 'b.db'}") as store:
        report = ingest_paths(store, [path, ok])
        assert report.added == 1 and [p for p, _ in report.failed] == [str(path)]
        assert re.search(problem, report.failed[0][1]), report.failed[0][1]
        assert [s.id for s in store.list_scenes()] == ["ok"]
