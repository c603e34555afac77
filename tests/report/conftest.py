"""An in-memory Store and a tiny generated site (GeoTIFF scenes, detections, counts, alerts)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from scipy import ndimage
from shapely.geometry import box

from sitewatch.errors import NotFoundError
from sitewatch.imagery.raster import pixel_box_to_polygon, reproject_geometry
from sitewatch.model import Alert, Baseline, Count, Detection, Event, Hypothesis, Scene, Site, Zone
from sitewatch.store.base import RunRecord

CRS = "EPSG:32652"
ORIGIN = (350_000.0, 4_200_000.0)  # UTM 52N, near 37.9 N 127.3 E
GSD = 0.5
SIZE = 240  # pixels: a 120 m square scene
DETECTOR = "fake@1"


@dataclass
class FakeStore:
    """Just enough of :class:`sitewatch.store.base.Store`, in dicts."""

    url: str = "memory://"
    sites: dict[str, Site] = field(default_factory=dict)
    scenes: dict[str, Scene] = field(default_factory=dict)
    scene_sites: dict[str, set[str]] = field(default_factory=dict)
    detections: dict[tuple[str, str], list[Detection]] = field(default_factory=dict)
    counts: dict[str, list[Count]] = field(default_factory=dict)
    baselines: dict[str, list[Baseline]] = field(default_factory=dict)
    events: dict[str, Event] = field(default_factory=dict)
    alerts: dict[str, list[Alert]] = field(default_factory=dict)
    runs: list[RunRecord] = field(default_factory=list)

    def upsert_site(self, site: Site) -> None:
        self.sites[site.id] = site

    def get_site(self, site_id: str) -> Site:
        if site_id not in self.sites:
            raise NotFoundError(f"no site {site_id!r}", fix="import it")
        return self.sites[site_id]

    def list_sites(self) -> list[Site]:
        return list(self.sites.values())

    def add_scene(self, scene: Scene, site_ids: Sequence[str]) -> bool:
        self.scenes[scene.id] = scene
        self.scene_sites[scene.id] = set(site_ids)
        return True

    def get_scene(self, scene_id: str) -> Scene:
        return self.scenes[scene_id]

    def list_scenes(
        self, site_id: str | None = None, start: dt.datetime | None = None, end: dt.datetime | None = None
    ) -> list[Scene]:
        return [s for s in self.scenes.values() if site_id is None or site_id in self.scene_sites[s.id]]

    def replace_detections(self, scene_id: str, detector: str, detections: Iterable[Detection]) -> int:
        self.detections[(scene_id, detector)] = list(detections)
        return len(self.detections[(scene_id, detector)])

    def list_detections(
        self,
        *,
        scene_id: str | None = None,
        site_id: str | None = None,
        classes: Sequence[str] | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        detector: str | None = None,
    ) -> list[Detection]:
        out = []
        for (sid, det), dets in self.detections.items():
            if (scene_id and sid != scene_id) or (detector and det != detector):
                continue
            out += [d for d in dets if site_id is None or d.site_id == site_id]
        return out

    def detected_scene_ids(self, detector: str) -> set[str]:
        return {s for s, d in self.detections if d == detector}

    def replace_counts(self, site_id: str, counts: Iterable[Count]) -> int:
        self.counts[site_id] = list(counts)
        return len(self.counts[site_id])

    def list_counts(self, site_id: str, zone_id: str | None = None, cls: str | None = None) -> list[Count]:
        return [c for c in self.counts.get(site_id, []) if zone_id in (None, c.zone_id) and cls in (None, c.cls)]

    def replace_baselines(self, site_id: str, baselines: Iterable[Baseline]) -> int:
        self.baselines[site_id] = list(baselines)
        return len(self.baselines[site_id])

    def list_baselines(self, site_id: str, zone_id: str | None = None, cls: str | None = None) -> list[Baseline]:
        return [b for b in self.baselines.get(site_id, []) if zone_id in (None, b.zone_id) and cls in (None, b.cls)]

    def upsert_events(self, events: Iterable[Event]) -> int:
        n = 0
        for e in events:
            self.events[e.id] = e
            n += 1
        return n

    def list_events(self, site_id: str | None = None) -> list[Event]:
        return [e for e in self.events.values() if site_id is None or e.site_id == site_id]

    def replace_alerts(self, site_id: str, alerts: Iterable[Alert]) -> int:
        self.alerts[site_id] = list(alerts)
        return len(self.alerts[site_id])

    def list_alerts(self, site_id: str | None = None) -> list[Alert]:
        return [a for sid, alerts in self.alerts.items() if site_id in (None, sid) for a in alerts]

    def get_alert(self, alert_id: str) -> Alert:
        return next(a for a in self.list_alerts() if a.id == alert_id)

    def record_run(self, run: RunRecord) -> None:
        self.runs.append(run)

    def list_runs(self, kind: str | None = None) -> list[RunRecord]:
        return [r for r in self.runs if kind in (None, r.kind)]

    def close(self) -> None:
        pass

    def __enter__(self) -> FakeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


TRANSFORM = Affine(GSD, 0, ORIGIN[0], 0, -GSD, ORIGIN[1])


def utm_box(c0: float, r0: float, c1: float, r1: float) -> shapely.Geometry:
    """A box given in scene pixels, as lon/lat."""
    (x0, y0), (x1, y1) = TRANSFORM * (c0, r0), TRANSFORM * (c1, r1)
    return reproject_geometry(box(x0, y1, x1, y0), CRS, "EPSG:4326")


def ground(seed: int = 11) -> np.ndarray:
    """(3, SIZE, SIZE) smooth texture: the same ground on every date, so scenes can be co-registered."""
    rng = np.random.default_rng(seed)
    bands = np.stack([ndimage.gaussian_filter(rng.normal(size=(SIZE, SIZE)), 2.0) for _ in range(3)])
    return (60 + 50 * (bands - bands.min()) / (bands.max() - bands.min())).astype(np.uint8)


def write_scene(path: Path, seed: int, boxes: Sequence[tuple[int, int, int, int]], *, textured: bool = False) -> None:
    """A scene of bright vehicle boxes on independent noise, or on :func:`ground` with a little noise."""
    rng = np.random.default_rng(seed)
    if textured:
        noise = rng.normal(0, 2, size=(3, SIZE, SIZE))
        img = np.clip(ground() + noise, 1, 255).astype(np.uint8)
    else:
        img = rng.integers(60, 110, size=(3, SIZE, SIZE), dtype=np.uint8)
    for x0, y0, x1, y1 in boxes:
        img[:, y0:y1, x0:x1] = 230
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=SIZE,
        height=SIZE,
        count=3,
        dtype="uint8",
        crs=CRS,
        transform=TRANSFORM,
        tiled=True,
        blockxsize=128,
        blockysize=128,
    ) as ds:
        ds.write(img)


# pad on the left half, car park on the right; the AOI is both with a margin.
AOI_PX = (20, 20, 220, 220)
ZONES_PX = {"pad": (25, 25, 115, 215), "car_park": (125, 25, 215, 215)}
DATES = [dt.date(2024, 3, 1) + dt.timedelta(days=d) for d in (0, 5, 10, 15, 40, 45)]
CLOUDY = 2  # index of the scene whose right half is under cloud
ALERT = 4  # index of the alert scene


def _vehicles(i: int) -> list[tuple[str, str, tuple[int, int, int, int]]]:
    """(zone, class, pixel box) of the vehicles in scene ``i``: trucks rise in the car park at ALERT."""
    out = [("pad", "car", (40 + 12 * k, 60, 48 + 12 * k, 64)) for k in range(2 + i % 2)]
    n_trucks = 6 if i == ALERT else 1 + i % 2
    out += [("car_park", "truck", (140 + 12 * k, 100 + 4 * k, 148 + 12 * k, 116 + 4 * k)) for k in range(n_trucks)]
    return out


def _float_box(b: tuple[int, int, int, int]) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = b
    return float(x0), float(y0), float(x1), float(y1)


def build_site(tmp: Path, *, simulated: bool, textured: bool = False) -> FakeStore:
    """The test site; ``textured`` scenes show one ground (comparable between dates), else noise."""
    store = FakeStore()
    zones = tuple(Zone(zid, zid.replace("_", " ").title(), zid, utm_box(*px)) for zid, px in ZONES_PX.items())
    site = Site("test-site", "Test Site", utm_box(*AOI_PX), zones, country="KP", simulated=simulated)
    store.upsert_site(site)
    footprint = utm_box(0, 0, SIZE, SIZE)
    counts: list[Count] = []
    for i, day in enumerate(DATES):
        sid = f"scene-{i}"
        vehicles = _vehicles(i)
        path = tmp / f"{sid}.tif"
        write_scene(path, i, [b for _, _, b in vehicles], textured=textured)
        valid = utm_box(0, 0, 120, SIZE) if i == CLOUDY else footprint
        scene = Scene(
            sid,
            str(path),
            dt.datetime.combine(day, dt.time(2, 13), dt.UTC),
            "WorldView-3",
            0.31,
            CRS,
            footprint,
            valid,
            f"{i:02d}" * 20,
            SIZE,
            SIZE,
            3,
            simulated=simulated,
        )
        store.add_scene(scene, [site.id])
        dets = [
            Detection(sid, cls, 0.9, _float_box(b), pixel_box_to_polygon(TRANSFORM, CRS, b), DETECTOR, site.id, zid)
            for zid, cls, b in vehicles
        ]
        store.replace_detections(sid, DETECTOR, dets)
        for zid, cls in (("pad", "car"), ("car_park", "truck")):
            raw = sum(1 for z, c, _ in vehicles if (z, c) == (zid, cls))
            frac = 0.1 if (i == CLOUDY and zid == "car_park") else 1.0
            counts.append(Count(site.id, zid, cls, day, sid, raw, frac, raw / frac, raw, raw / frac + 3, frac >= 0.5))
    store.replace_counts(site.id, counts)
    store.upsert_events(
        [
            Event(
                "ev-1",
                DATES[-1],
                "missile_test",
                "test catalogue",
                site_id=site.id,
                description="a test launch",
                simulated=simulated,
            ),
            Event("ev-old", dt.date(1998, 8, 31), "slv_launch", "test catalogue", site_id=site.id),
        ]
    )
    store.replace_alerts(
        site.id,
        [
            Alert(
                "alert-1",
                site.id,
                DATES[ALERT],
                DATES[ALERT],
                4.2,
                "high",
                ("car_park",),
                ("truck",),
                "Trucks in the car park rose to 6 against a baseline of 1-2.",
                evidence=("6 trucks on 2024-04-10",),
                hypotheses=(
                    Hypothesis("pre-test preparation", 0.6, "matches earlier ramps"),
                    Hypothesis("routine logistics", 0.3),
                ),
                caveats=("The site may stage activity for overhead imagery.",),
            ),
        ],
    )
    t0 = dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.UTC)
    store.record_run(RunRecord("run-ingest", "ingest", t0, t0 + dt.timedelta(minutes=1), {"paths": 6}))
    store.record_run(RunRecord("run-detect", "detect", t0 + dt.timedelta(minutes=2), None, {"detector": DETECTOR}))
    return store


@pytest.fixture(scope="module")
def sim_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[FakeStore, str]:
    """A simulated store and its rendered report, shared by tests that only read them."""
    from sitewatch.report.html import write_report

    tmp = tmp_path_factory.mktemp("sim-report")
    store = build_site(tmp, simulated=True)
    return store, write_report(store, "test-site", tmp / "site.html").read_text(encoding="utf-8")


@pytest.fixture
def make_store(tmp_path: Path) -> Callable[..., FakeStore]:
    def make(*, simulated: bool = True) -> FakeStore:
        return build_site(tmp_path, simulated=simulated)

    return make


@pytest.fixture
def sim_store(make_store: Callable[..., FakeStore]) -> FakeStore:
    return make_store(simulated=True)


@pytest.fixture
def real_store(make_store: Callable[..., FakeStore]) -> FakeStore:
    return make_store(simulated=False)
