"""The bad-input corpus of issue 10, through the CLI against a store that already holds data.

Every bad kind must exit non-zero with one line naming the file, the problem and the fix,
and leave what was stored before exactly as it was. Awkward but usable kinds (odd band
counts, rotated grids, the antimeridian...) must be ingested correctly instead. Kinds
covered elsewhere are listed in ``docs/reliability.md``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import Geod
from rasterio.control import GroundControlPoint
from rasterio.rpc import RPC
from shapely.geometry import MultiPolygon, box, mapping
from typer.testing import CliRunner

from sitewatch.cli.main import app
from sitewatch.imagery.raster import MAX_IMAGE_PIXELS
from sitewatch.model import Site
from sitewatch.store import open_store

SceneFactory = Callable[..., Path]
UTM = "EPSG:32651"
UTM_GRID = Affine(0.5, 0, 500_000.0, 0, -0.5, 4_400_000.0)
GOOD_TIME = "2024-03-01T02:13:00Z"
StoreState = tuple[list[tuple[str, str, bytes, bytes, str]], list[tuple[str, bytes]]]


def write_raster(
    path: Path,
    data: np.ndarray,
    *,
    crs: str | None = UTM,
    transform: Affine | None = UTM_GRID,
    nodata: float | None = 0,
    sidecar: dict[str, Any] | None = None,
    **profile: Any,
) -> Path:
    """A GeoTIFF of ``data`` (bands, H, W) with a sidecar giving a valid acquisition time."""
    count, height, width = data.shape
    meta: dict[str, Any] = {"driver": "GTiff", "width": width, "height": height, "count": count}
    meta.update(dtype=data.dtype.name, nodata=nodata, **profile)
    if crs is not None and transform is not None:
        meta.update(crs=crs, transform=transform)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NotGeoreferencedWarning for the GCP/RPC-only files
        with rasterio.open(path, "w", **meta) as ds:
            ds.write(data)
    path.with_suffix(".json").write_text(json.dumps({"acquired": GOOD_TIME, **(sidecar or {})}), encoding="utf-8")
    return path


def pixels(bands: int = 3, size: int = 32, dtype: str = "uint8", seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 250, (bands, size, size)).astype(dtype)


# --- bad kinds: (folder, make_scene) -> (path given to ingest, regex the failure line must match)


def _huge_dimensions(folder: Path, _: SceneFactory) -> tuple[Path, str]:
    # A sparse tiled file: a few MB on disk that declares 200000 x 200000 pixels.
    path = folder / "bomb.tif"
    side = 200_000
    assert side * side > MAX_IMAGE_PIXELS
    with rasterio.open(
        path, "w", driver="GTiff", width=side, height=side, count=1, dtype="uint8", crs=UTM, transform=UTM_GRID,
        tiled=True, sparse_ok=True, nodata=0,
    ) as ds:  # fmt: skip
        ds.write(np.ones((1, 256, 256), dtype="uint8"), window=((0, 256), (0, 256)))
    path.with_suffix(".json").write_text(json.dumps({"acquired": GOOD_TIME}))
    return path, r"bomb\.tif: image declares 200000x200000 pixels, more than the \d+ allowed"


def _gcps_only(folder: Path, _: SceneFactory) -> tuple[Path, str]:
    path = write_raster(folder / "gcps.tif", pixels(), crs=None, transform=None)
    corners = [(0, 0, 124.70, 39.70), (0, 32, 124.71, 39.70), (32, 0, 124.70, 39.69), (32, 32, 124.71, 39.69)]
    with rasterio.open(path, "r+") as ds:
        ds.gcps = ([GroundControlPoint(r, c, x, y) for r, c, x, y in corners], "EPSG:4326")
    return path, r"gcps\.tif: image is georeferenced only by 4 ground control points.*fix: orthorectify.*gdalwarp -tps"


def _rpcs_only(folder: Path, _: SceneFactory) -> tuple[Path, str]:
    path = write_raster(folder / "rpcs.tif", pixels(), crs=None, transform=None)
    unit = [1.0] + [0.0] * 19
    rpc = RPC(
        height_off=0, height_scale=500, lat_off=39.7, lat_scale=0.01, long_off=124.7, long_scale=0.01,
        line_off=16, line_scale=16, samp_off=16, samp_scale=16, line_den_coeff=unit, samp_den_coeff=unit,
        line_num_coeff=[0.0, 0.0, -1.0] + [0.0] * 17, samp_num_coeff=[0.0, 1.0] + [0.0] * 18,
    )  # fmt: skip
    with rasterio.open(path, "r+") as ds:
        ds.rpcs = rpc
    return path, r"rpcs\.tif: image is georeferenced only by RPCs.*fix: orthorectify.*gdalwarp -rpc"


def _unknown_crs(folder: Path, _: SceneFactory) -> tuple[Path, str]:
    path = write_raster(folder / "local.tif", pixels(), crs='LOCAL_CS["site grid",UNIT["metre",1]]')
    return path, r"local\.tif: image CRS 'site grid' cannot be converted to longitude/latitude.*fix: reproject"


def _covers_pole(folder: Path, _: SceneFactory) -> tuple[Path, str]:
    # NSIDC polar stereographic north, a 6.4 km square centred on the pole.
    grid = Affine(100, 0, -3200, 0, -100, 3200)
    path = write_raster(folder / "pole.tif", pixels(size=64), crs="EPSG:3413", transform=grid)
    return path, r"pole\.tif: image covers the North Pole.*fix: cut the image"


def _future_date(folder: Path, make_scene: SceneFactory) -> tuple[Path, str]:
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()
    path = make_scene("future", folder=folder, seed=11, sidecar={"acquired": when, "simulated": False})
    return path, r"future\.json: acquisition time \S+ is in the future.*fix: check the date and its time zone"


def _naive_time(folder: Path, make_scene: SceneFactory) -> tuple[Path, str]:
    path = make_scene("naive", folder=folder, seed=12, sidecar={"acquired": "2024-03-01T02:13:00"})
    return path, r"naive\.json: acquisition time '2024-03-01T02:13:00' has no time zone.*fix:"


def _sidecar_not_object(folder: Path, make_scene: SceneFactory) -> tuple[Path, str]:
    path = make_scene("listy", folder=folder, seed=13)
    path.with_suffix(".json").write_text("[1, 2, 3]")
    return path, r"listy\.json: sidecar is not a JSON object.*fix:"


def _sidecar_not_utf8(folder: Path, make_scene: SceneFactory) -> tuple[Path, str]:
    path = make_scene("latin", folder=folder, seed=14)
    path.with_suffix(".json").write_bytes('{"acquired": "2024-03-01T02:13:00Z", "sensor": "caf\xe9"}'.encode("latin-1"))
    return path, r"latin\.json: sidecar is not valid JSON.*fix:"


def _directory_named_tif(folder: Path, _: SceneFactory) -> tuple[Path, str]:
    path = folder / "scene.tif"
    path.mkdir()
    (path / "notes.txt").write_text("a folder, not an image")
    return path / "notes.txt", r"notes\.txt: not a readable image.*fix:"


def _unicode_traversal_name_broken(folder: Path, _: SceneFactory) -> tuple[Path, str]:
    # A hostile-looking name is only a name: the file is reported by it, nothing is written there.
    path = folder / "..%2F..%2Fétoile 雪 ‮fig.tif"
    path.write_bytes(b"II*\x00 not really a tiff")
    return path, r"étoile 雪 ‮fig\.tif: not a readable image.*fix:"


def _uint16_all_nan_float(folder: Path, _: SceneFactory) -> tuple[Path, str]:
    data = np.full((3, 16, 16), np.nan, dtype="float32")
    path = write_raster(folder / "allnan.tif", data, nodata=float("nan"))
    return path, r"allnan\.tif: image has no valid pixels.*fix:"


BAD: dict[str, Callable[[Path, SceneFactory], tuple[Path, str]]] = {
    "huge declared dimensions": _huge_dimensions,
    "GCP-only georeferencing": _gcps_only,
    "RPC-only georeferencing": _rpcs_only,
    "unknown CRS": _unknown_crs,
    "image covering a pole": _covers_pole,
    "future acquisition date": _future_date,
    "timestamp without time zone": _naive_time,
    "sidecar not a JSON object": _sidecar_not_object,
    "sidecar not UTF-8": _sidecar_not_utf8,
    "directory named .tif": _directory_named_tif,
    "unicode and path-traversal file name": _unicode_traversal_name_broken,
    "float32 all NaN nodata": _uint16_all_nan_float,
}


def store_state(db: str) -> StoreState:
    """Everything ingest or site import could change: scenes (with links) and sites."""
    with open_store(f"sqlite:///{db}") as store:
        scenes = [
            (s.id, s.content_hash, s.footprint.wkb, s.valid.wkb, ",".join(store.scene_site_ids(s.id)))
            for s in store.list_scenes()
        ]
        sites = [(s.id, s.aoi.wkb) for s in store.list_sites()]
    return scenes, sites


@pytest.fixture
def seeded_db(tmp_path: Path, make_scene: SceneFactory) -> str:
    """A store with one site and one scene already in it."""
    db = str(tmp_path / "seeded.db")
    scene = make_scene("earlier", folder=tmp_path / "earlier", seed=7)
    with open_store(f"sqlite:///{db}") as store:
        store.upsert_site(Site("near", "Near", box(122.9, 39.6, 123.1, 39.8)))
    result = CliRunner().invoke(app, ["ingest", str(scene), "--db", db])
    assert result.exit_code == 0, result.output
    return db


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_image_input_fails_clearly_and_changes_nothing(
    kind: str, tmp_path: Path, make_scene: SceneFactory, seeded_db: str
) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    path, problem = BAD[kind](folder, make_scene)
    before = store_state(seeded_db)
    result = CliRunner().invoke(app, ["ingest", str(path), "--db", seeded_db])
    assert result.exit_code == 1, result.output
    failed = [ln for ln in result.output.splitlines() if ln.startswith("failed:")]
    assert len(failed) == 1 and re.search(problem, failed[0]) and "fix:" in failed[0], result.output
    assert store_state(seeded_db) == before


def _ingest_one(db: str, path: Path) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["ingest", str(path), "--db", db, "--json"])
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.stdout)
    assert out["added"] == 1 and out["failed"] == []
    return out


@pytest.mark.parametrize("bands", [1, 2, 4, 8, 16])
@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_any_band_count_and_sample_type_is_ingested(tmp_path: Path, seeded_db: str, bands: int, dtype: str) -> None:
    data = pixels(bands, dtype=dtype)
    data[:, :, :8] = 0
    path = write_raster(tmp_path / f"b{bands}-{dtype}.tif", data)
    (scene_id,) = _ingest_one(seeded_db, path)["scene_ids"]
    with open_store(f"sqlite:///{seeded_db}") as store:
        scene = store.get_scene(scene_id)
    assert scene.bands == bands
    assert geodesic_area(scene.footprint) == pytest.approx(24 * 32 * 0.25, rel=0.01)  # nodata columns left out


def geodesic_area(geom: Any) -> float:
    return abs(Geod(ellps="WGS84").geometry_area_perimeter(geom)[0])


def test_float32_with_nan_nodata_leaves_nan_out_of_the_footprint(tmp_path: Path, seeded_db: str) -> None:
    data = pixels(dtype="float32")
    data[:, :, :8] = np.nan
    path = write_raster(tmp_path / "nan.tif", data, nodata=float("nan"))
    (scene_id,) = _ingest_one(seeded_db, path)["scene_ids"]
    with open_store(f"sqlite:///{seeded_db}") as store:
        assert geodesic_area(store.get_scene(scene_id).footprint) == pytest.approx(24 * 32 * 0.25, rel=0.01)


@pytest.mark.parametrize(
    ("name", "transform", "crs", "area_m2"),
    [
        ("rotated", Affine.translation(500_000, 4_400_000) @ Affine.rotation(30) @ Affine.scale(0.5, -0.5), UTM, 256),
        ("skewed", Affine(0.5, 0.1, 500_000, 0.05, -0.5, 4_400_000), UTM, 32 * 32 * abs(0.5 * -0.5 - 0.1 * 0.05)),
        ("geographic", Affine(1e-5, 0, 124.7, 0, -1e-5, 39.7), "EPSG:4326", None),
        ("one pixel", UTM_GRID, UTM, 0.25),
    ],
)
def test_odd_grids_are_ingested_with_true_footprints(
    tmp_path: Path, seeded_db: str, name: str, transform: Affine, crs: str, area_m2: float | None
) -> None:
    size = 1 if name == "one pixel" else 32
    path = write_raster(tmp_path / f"{name}.tif", pixels(size=size), crs=crs, transform=transform, nodata=None)
    (scene_id,) = _ingest_one(seeded_db, path)["scene_ids"]
    with open_store(f"sqlite:///{seeded_db}") as store:
        scene = store.get_scene(scene_id)
    if area_m2 is None:  # 32 x 32 cells of 1e-5 degrees at 39.7 N
        lat = np.radians(39.7)
        area_m2 = 32 * 32 * (1e-5 * 111_320 * np.cos(lat)) * (1e-5 * 110_990)
    assert geodesic_area(scene.footprint) == pytest.approx(area_m2, rel=0.01)
    assert scene.gsd > 0 and scene.crs == crs


def test_unicode_file_name_is_ingested_and_stored_by_content(tmp_path: Path, seeded_db: str) -> None:
    path = write_raster(tmp_path / "Ñampo 南浦 ..%2F.tif", pixels(seed=3))
    (scene_id,) = _ingest_one(seeded_db, path)["scene_ids"]
    with open_store(f"sqlite:///{seeded_db}") as store:
        scene = store.get_scene(scene_id)
    assert scene.uri == str(path.resolve()) and scene_id.startswith("scene-")  # id from the hash, not the name


def test_scene_across_the_antimeridian_is_split_not_wrapped_round_the_world(tmp_path: Path) -> None:
    # UTM 60N, 640 m x 640 m straddling 180° at the equator.
    path = write_raster(
        tmp_path / "dateline.tif", pixels(size=64), crs="EPSG:32660", transform=Affine(10, 0, 833_900, 0, -10, 10_000)
    )
    db = str(tmp_path / "am.db")
    with open_store(f"sqlite:///{db}") as store:
        store.upsert_site(Site("east", "Just east of 180", box(-179.999, 0.08, -179.99, 0.1)))
        store.upsert_site(Site("greenwich", "Same latitude, other side of the world", box(0.0, 0.08, 0.01, 0.1)))
    (scene_id,) = _ingest_one(db, path)["scene_ids"]
    with open_store(f"sqlite:///{db}") as store:
        scene = store.get_scene(scene_id)
        links = store.scene_site_ids(scene_id)
    assert scene.footprint.geom_type == "MultiPolygon" and len(scene.footprint.geoms) == 2
    assert geodesic_area(scene.footprint) == pytest.approx(640 * 640, rel=0.01)
    assert links == ["east"]


def test_scene_near_but_not_over_a_pole_is_ingested(tmp_path: Path, seeded_db: str) -> None:
    grid = Affine(100, 0, 100_000, 0, -100, 3200)  # EPSG:3413, about 89.1 N: 6.4 km square off the pole
    path = write_raster(tmp_path / "arctic.tif", pixels(size=64), crs="EPSG:3413", transform=grid, nodata=None)
    (scene_id,) = _ingest_one(seeded_db, path)["scene_ids"]
    with open_store(f"sqlite:///{seeded_db}") as store:
        scene = store.get_scene(scene_id)
    k = (1 + np.sin(np.radians(70))) / 2  # grid scale near the pole (true scale at 70 N)
    assert scene.footprint.bounds[1] > 88 and geodesic_area(scene.footprint) == pytest.approx(6400**2 / k**2, rel=0.01)


def test_duplicate_scene_under_another_name_is_not_stored_twice(tmp_path: Path, seeded_db: str) -> None:
    path = write_raster(tmp_path / "first.tif", pixels(seed=5))
    _ingest_one(seeded_db, path)
    before = store_state(seeded_db)
    copy = tmp_path / "copy.tif"
    shutil.copy(path, copy)
    shutil.copy(path.with_suffix(".json"), copy.with_suffix(".json"))
    result = CliRunner().invoke(app, ["ingest", str(copy), "--db", seeded_db, "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["duplicates"] == 1
    assert store_state(seeded_db) == before


# --- site catalogues and count CSVs through the CLI


def _catalogue(tmp_path: Path, geometry: dict[str, Any], props: Any = None) -> Path:
    feature = {"type": "Feature", "geometry": geometry, "properties": props or {"id": "new", "name": "New"}}
    path = tmp_path / "sites.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    return path


BOWTIE = {"type": "Polygon", "coordinates": [[[124, 39], [125, 40], [125, 39], [124, 40], [124, 39]]]}
DATELINE = {"type": "Polygon", "coordinates": [[[179.9, 10], [-179.9, 10], [-179.9, 11], [179.9, 11], [179.9, 10]]]}


@pytest.mark.parametrize(
    ("geometry", "props", "problem"),
    [
        (BOWTIE, None, r"feature 0 \('new'\): invalid polygon \(Self-intersection.*fix:.*--fix"),
        (DATELINE, None, r"crosses the antimeridian.*fix: split the polygon at ±180°"),
        ({"type": "Polygon", "coordinates": [[[1, 2]]]}, None, r"malformed geometry.*fix:"),
        (mapping(box(1, 2, 3, 4)), [1, 2], r"'properties' is not an object.*fix:"),
    ],
)
def test_bad_site_catalogue_fails_clearly_and_changes_nothing(
    tmp_path: Path, seeded_db: str, geometry: dict[str, Any], props: Any, problem: str
) -> None:
    path = _catalogue(tmp_path, geometry, props)
    before = store_state(seeded_db)
    result = CliRunner().invoke(app, ["sites", "import", str(path), "--db", seeded_db])
    assert result.exit_code == 1 and re.search(problem, " ".join(result.output.split())), result.output
    assert "sites.geojson" in result.output
    assert store_state(seeded_db) == before


def test_site_split_at_the_antimeridian_is_accepted(tmp_path: Path) -> None:
    split = MultiPolygon([box(179.9, 10, 180, 11), box(-180, 10, -179.9, 11)])
    path = _catalogue(tmp_path, mapping(split))
    result = CliRunner().invoke(app, ["sites", "import", str(path), "--db", str(tmp_path / "s.db")])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("timestamp,count\n2024-01-01,1\nnot-a-date,2\n2024-01-03,1\n", "unparsable timestamp 'not-a-date' on line 3"),
        ("timestamp,count\n2024-01-01,1\n2024-01-02,-3\n2024-01-03,1\n", "negative count"),
        ("timestamp,count\n2024-01-01,1\n2024-01-02,lots\n2024-01-03,1\n", "is not a number"),
    ],
)
def test_count_csv_with_bad_rows_fails_with_the_line(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "counts.csv"
    path.write_text(text)
    result = CliRunner().invoke(app, ["analyze", "series", "-i", str(path)])
    flat = " ".join(result.output.split())
    assert result.exit_code == 1 and "counts.csv" in flat and problem in flat and "fix:" in flat, result.output
