"""A small store for the API tests: one simulated site, tiny GeoTIFF scenes, counts and an alert.

:func:`build_world` is also used by ``benchmarks/api_load.py``; everything is generated
here (random but seeded), nothing is read from shared data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from fastapi.testclient import TestClient
from rasterio.transform import from_origin
from scipy import ndimage

from sitewatch.analytics.baseline import baselines_of, score_observations
from sitewatch.analytics.series import counts_frame, with_zone_totals
from sitewatch.imagery.raster import pixel_box_to_polygon, reproject_geometry
from sitewatch.model import Alert, Count, Detection, Event, Hypothesis, Scene, Site, Zone
from sitewatch.store import open_store

CRS = "EPSG:32651"  # UTM 51N, over the Korean peninsula
ORIGIN = (350_000.0, 4_320_000.0)  # top-left corner of every scene, metres
GSD = 0.5
SIZE = 200  # pixels: 100 m x 100 m scenes
NODATA_COLS = 30  # the AOI starts at column 20
PASSWORD = "correct horse battery"
START = dt.date(2024, 3, 1)


@dataclass(frozen=True)
class World:
    url: str
    site: Site
    scenes: tuple[Scene, ...]
    alert: Alert


def _ground(col0: float, row0: float, col1: float, row1: float) -> shapely.Polygon:
    x0, y0 = ORIGIN[0] + col0 * GSD, ORIGIN[1] - row0 * GSD
    x1, y1 = ORIGIN[0] + col1 * GSD, ORIGIN[1] - row1 * GSD
    return reproject_geometry(shapely.box(x0, y1, x1, y0), CRS, "EPSG:4326")


#: Pixels (rows, cols) of a roof built in the last three scenes of a textured world.
ROOF = (slice(120, 140), slice(70, 100))


def ground(seed: int = 5) -> np.ndarray:
    """(3, SIZE, SIZE) smooth texture: one ground seen on every date, so scenes can be compared."""
    rng = np.random.default_rng(seed)
    bands = np.stack([ndimage.gaussian_filter(rng.normal(size=(SIZE, SIZE)), 2.0) for _ in range(3)])
    return (60 + 140 * (bands - bands.min()) / (bands.max() - bands.min())).astype(np.uint8)


def write_scene(path: Path, rng: np.random.Generator, *, textured: bool = False, roof: bool = False) -> None:
    """Independent noise with a nodata strip, or (``textured``) one ground with a little noise and maybe a roof."""
    if textured:
        data = np.clip(ground() + rng.normal(0, 2, size=(3, SIZE, SIZE)), 1, 255).astype(np.uint8)
        if roof:
            data[:, ROOF[0], ROOF[1]] = 190
    else:
        data = rng.integers(60, 200, size=(3, SIZE, SIZE), dtype=np.uint8)
        data[:, :, :NODATA_COLS] = 0  # a nodata strip on the west edge, reaching into the AOI
    profile = {
        "driver": "GTiff",
        "width": SIZE,
        "height": SIZE,
        "count": 3,
        "dtype": "uint8",
        "crs": CRS,
        "transform": from_origin(*ORIGIN, GSD, GSD),
        "nodata": 0,
        "tiled": True,
        "blockxsize": 64,
        "blockysize": 64,
    }
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
        ds.build_overviews([2, 4], rasterio.enums.Resampling.average)


def build_world(root: Path, *, n_scenes: int = 12, seed: int = 0, textured: bool = False) -> World:
    """Write scenes under ``root`` and fill a new SQLite store there with everything the API serves.

    ``textured`` scenes show one ground (with a roof built for the last three), so they can
    be co-registered and compared; otherwise each scene is independent noise.
    """
    rng = np.random.default_rng(seed)
    url = f"sqlite:///{root / 'store.db'}"
    aoi = _ground(20, 20, 180, 180)
    zones = (
        Zone("pad", "Launch pad", "pad", _ground(30, 30, 100, 100)),
        Zone("park", "Car park", "car_park", _ground(110, 110, 170, 170)),
    )
    site = Site("test-site", "Test site", aoi, zones, "KP", "generated for tests", simulated=True)
    footprint = _ground(0, 0, SIZE, SIZE)
    # Textured worlds have no nodata strip: the small AOI must stay wide enough to align on.
    valid = footprint if textured else _ground(NODATA_COLS, 0, SIZE, SIZE)
    store = open_store(url)
    store.upsert_site(site)
    scenes, counts = [], []
    transform = from_origin(*ORIGIN, GSD, GSD)
    for i in range(n_scenes):
        path = root / f"scene-{i:02d}.tif"
        write_scene(path, rng, textured=textured, roof=i >= n_scenes - 3)
        scene = Scene(
            f"scene-{i:02d}",
            str(path),
            dt.datetime.combine(START + dt.timedelta(days=7 * i), dt.time(2, 0), dt.UTC),
            "WorldView-3",
            GSD,
            CRS,
            footprint,
            valid,
            f"hash-{seed}-{i}",
            SIZE,
            SIZE,
            3,
            simulated=True,
        )
        store.add_scene(scene, [site.id])
        scenes.append(scene)
        # Busier in the last three scenes: that is what the alert is about.
        n_trucks = int(rng.integers(2, 5)) + (6 if i >= n_scenes - 3 else 0)
        dets = []
        for k in range(n_trucks):
            c, r = 35 + (k % 6) * 10, 35 + (k // 6) * 10
            box = (float(c), float(r), float(c + 8), float(r + 4))
            dets.append(
                Detection(
                    scene.id, "truck", 0.9, box, pixel_box_to_polygon(transform, CRS, box), "test@1", site.id, "pad"
                )
            )
        store.replace_detections(scene.id, "test@1", dets)
        day = scene.acquired.date()
        counts.append(
            Count(
                site.id,
                "pad",
                "truck",
                day,
                scene.id,
                n_trucks,
                1.0,
                float(n_trucks),
                max(0.0, n_trucks - 2.0),
                n_trucks + 2.0,
            )
        )
        counts.append(Count(site.id, "park", "car", day, scene.id, 3, 1.0, 3.0, 1.0, 5.0))
    store.replace_counts(site.id, counts)
    # The bands analyze would store beside these counts (the API reads them, never fits).
    store.replace_baselines(site.id, baselines_of(score_observations(with_zone_totals(counts_frame(counts)))))
    last = scenes[-3].acquired.date(), scenes[-1].acquired.date()
    alert = Alert(
        "alert-1",
        site.id,
        last[0],
        last[1],
        4.2,
        "high",
        ("pad",),
        ("truck",),
        "Trucks on the pad well above the baseline for three scenes.",
        ("scene-11",),
        (Hypothesis("test preparation", 0.6, "pattern seen before tests"), Hypothesis("routine maintenance", 0.3, "")),
        ("The site may stage activity knowing it is watched.",),
    )
    store.replace_alerts(site.id, [alert])
    store.upsert_events(
        [
            Event(
                "ev-1",
                last[1] + dt.timedelta(days=3),
                "missile_test",
                "simulation",
                site.id,
                description="simulated test",
                simulated=True,
            )
        ]
    )
    store.close()
    return World(url, site, tuple(scenes), alert)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("world"))


@dataclass(frozen=True)
class Keys:
    admin: str
    analyst: str
    viewer: str


def add_users(url: str) -> Keys:
    from argon2 import PasswordHasher

    from sitewatch.api.accounts import Accounts

    # Cheap argon2 parameters keep the tests fast; verification reads them from each hash.
    accounts = Accounts(url, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    try:
        keys = {}
        for role in ("admin", "analyst", "viewer"):
            accounts.add_user(role, PASSWORD, role)
            keys[role] = accounts.issue(role).secret
        return Keys(**keys)
    finally:
        accounts.close()


@pytest.fixture(scope="module")
def keys(world: World) -> Keys:
    return add_users(world.url)


@pytest.fixture(scope="module")
def client(world: World, keys: Keys) -> Iterator[TestClient]:
    from sitewatch.api.app import create_app
    from sitewatch.api.settings import ApiSettings

    app = create_app(world.url, settings=ApiSettings(rate_per_second=1000, rate_burst=1000))
    with TestClient(app) as c:
        yield c
