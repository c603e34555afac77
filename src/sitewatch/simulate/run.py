"""Run a whole simulation: sites, histories, acquisitions, scenes and truth, to a folder.

Deterministic from the seed: each site draws from its own child streams of
``SeedSequence(seed)`` (layout, base map, activity, acquisitions), so changing the number
of days does not move the buildings.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from affine import Affine
from pyproj import CRS, Transformer
from rasterio.transform import from_origin
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from sitewatch import SIMULATED_MARK, __version__
from sitewatch.errors import InputError
from sitewatch.model import CLASSES
from sitewatch.simulate import writer
from sitewatch.simulate.acquisition import Acquisition, plan_acquisitions
from sitewatch.simulate.activity import DECEPTIONS, SiteHistory, Vehicle, simulate_history
from sitewatch.simulate.chips import VehicleLooks, real_chips
from sitewatch.simulate.layout import MAX_SITES, SiteLayout, generate_layout, site_spec
from sitewatch.simulate.render import RenderedScene, render_base, render_scene

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. The defaults are what ``sitewatch demo`` uses."""

    seed: int = 0
    sites: int = 2
    days: int = 240
    start: dt.date = dt.date(2024, 3, 1)
    gsd_range: tuple[float, float] = (0.3, 0.8)
    mean_revisit_days: float = 2.7  # outside monsoon months; ~55 scenes per site over 240 days
    aoi_size_m: float = 1000.0
    chips_dir: Path | None = None  # aerial-vehicles folder (default: the shared data folder)

    @classmethod
    def small(cls, seed: int = 0) -> SimulationConfig:
        """A fast run for tests: one site, 30 days, coarse GSD."""
        return cls(seed=seed, sites=1, days=30, gsd_range=(0.6, 0.8))

    def validate(self) -> None:
        if not 1 <= self.sites <= MAX_SITES:
            raise InputError(f"--sites {self.sites} is out of range", fix=f"use 1 to {MAX_SITES}")
        if self.days < 7:
            raise InputError(f"--days {self.days} is too short for revisits and events", fix="use at least 7 days")
        if not 900 <= self.aoi_size_m <= 2000:
            raise InputError(
                f"AOI size {self.aoi_size_m} m is outside the layout template", fix="use 900 to 2000 m (default 1000)"
            )
        lo, hi = self.gsd_range
        if not 0.2 <= lo <= hi <= 2.0:
            raise InputError(f"--gsd-range {lo} {hi} is invalid", fix="give two GSDs in metres, e.g. 0.3 0.8")


@dataclass(frozen=True)
class SimulationSummary:
    out_dir: Path
    scenes: int
    objects: int
    events: int
    episodes: int
    seconds: float
    chip_source: str
    scenes_per_site: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Georef:
    """Where a site's local metric frame sits on Earth: UTM CRS and AOI origin."""

    crs: str
    west: float
    south: float
    size: float
    _to_lonlat: Transformer

    @classmethod
    def for_site(cls, lat: float, lon: float, size: float) -> Georef:
        epsg = (32600 if lat >= 0 else 32700) + int((lon + 180) // 6) + 1
        to_utm = Transformer.from_crs("EPSG:4326", CRS.from_epsg(epsg), always_xy=True)
        e, n = to_utm.transform(lon, lat)
        back = Transformer.from_crs(CRS.from_epsg(epsg), "EPSG:4326", always_xy=True)
        return cls(f"EPSG:{epsg}", round(e - size / 2, 2), round(n - size / 2, 2), size, back)

    def lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._to_lonlat.transform(np.asarray(x) + self.west, np.asarray(y) + self.south)

    def geometry(self, g: BaseGeometry) -> BaseGeometry:
        """Local metres -> EPSG:4326 (lon, lat)."""
        return shapely.transform(g, lambda xy: np.column_stack(self.lonlat(xy[:, 0], xy[:, 1])))

    def transform(self, gsd: float) -> Affine:
        return from_origin(self.west, self.south + self.size, gsd, gsd)


def _site_geojson(layout: SiteLayout, geo: Georef) -> list[dict]:
    spec = layout.spec
    feats = [
        {
            "type": "Feature",
            "geometry": shapely.geometry.mapping(geo.geometry(box(0, 0, layout.size, layout.size))),
            "properties": {
                "type": "site",
                "id": spec.id,
                "name": spec.name,
                "simulated": True,
                "country": spec.country,
                "description": spec.description,
                "site_kind": spec.kind,
            },
        }
    ]
    for z in layout.zones:
        feats.append(
            {
                "type": "Feature",
                "geometry": shapely.geometry.mapping(geo.geometry(z.geometry)),
                "properties": {
                    "type": "zone",
                    "site_id": spec.id,
                    "id": z.id,
                    "name": z.name,
                    "kind": z.kind,
                    "simulated": True,
                },
            }
        )
    return feats


@dataclass(frozen=True)
class SitePlan:
    """Everything decided about one site before any pixel is drawn."""

    layout: SiteLayout
    history: SiteHistory
    acquisitions: tuple[Acquisition, ...]
    georef: Georef
    base_seed: np.random.SeedSequence


def plan_site(cfg: SimulationConfig, index: int, *, deception: str | None) -> SitePlan:
    """Layout, activity history and acquisitions of site ``index``, each from its own seed stream."""
    spec = site_spec(index)
    s_layout, s_base, s_hist, s_acq = np.random.SeedSequence([cfg.seed, index]).spawn(4)
    layout = generate_layout(spec, np.random.default_rng(s_layout), size=cfg.aoi_size_m)
    acqs = plan_acquisitions(
        spec.id, spec.lat, spec.lon, cfg.start, cfg.days, np.random.default_rng(s_acq),
        gsd_range=cfg.gsd_range, mean_gap=cfg.mean_revisit_days,
    )  # fmt: skip
    history = simulate_history(
        layout, cfg.start, cfg.days, np.random.default_rng(s_hist),
        deception=deception, pass_dates=frozenset(a.acquired.date() for a in acqs),
    )  # fmt: skip
    return SitePlan(layout, history, tuple(acqs), Georef.for_site(spec.lat, spec.lon, cfg.aoi_size_m), s_base)


def _activity_rows(layout: SiteLayout, history: SiteHistory) -> list[tuple]:
    """True count of every zone and class on every day (decoys are not activity)."""
    rows = []
    for date, vehicles in history.days.items():
        counts = Counter((v.zone_id, v.cls) for v in vehicles if not v.decoy)
        for z in layout.zones:
            rows += [(layout.spec.id, z.id, cls, date.isoformat(), counts[(z.id, cls)]) for cls in CLASSES]
    return rows


def _prepare(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise InputError("output folder is not empty", path=out, fix="choose a new folder or pass --overwrite")
        if not (out / "SIMULATED.txt").exists():
            raise InputError(
                "refusing to overwrite a folder that is not a simulation", path=out, fix="choose a new or empty folder"
            )
        shutil.rmtree(out)
    (out / "scenes").mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(exist_ok=True)
    writer.write_readme(out)


def simulate(
    out_dir: str | Path,
    config: SimulationConfig | None = None,
    *,
    on_progress: Progress | None = None,
    overwrite: bool = False,
) -> SimulationSummary:
    """Write a complete SIMULATED data set to ``out_dir`` (layout in docs/architecture.md)."""
    cfg = config or SimulationConfig()
    cfg.validate()
    t0 = time.perf_counter()
    out = Path(out_dir)
    _prepare(out, overwrite)
    chips, chip_source = real_chips(cfg.chips_dir)
    looks = VehicleLooks(chips)

    # One deception episode per simulation, of a kind and at a site drawn from the seed.
    pick = np.random.default_rng(np.random.SeedSequence(cfg.seed))
    deception_site, deception = int(pick.integers(cfg.sites)), str(pick.choice(DECEPTIONS))
    plans = [plan_site(cfg, i, deception=deception if i == deception_site else None) for i in range(cfg.sites)]
    total = sum(len(p.acquisitions) for p in plans)
    done = 0
    objects = writer.CsvSink(out / "truth" / "objects.csv", writer.OBJECTS_HEADER)
    scenes = writer.CsvSink(out / "truth" / "scenes.csv", writer.SCENES_HEADER)
    try:
        for plan in plans:
            base = render_base(plan.layout, np.random.default_rng(plan.base_seed))
            for acq in plan.acquisitions:
                vehicles = plan.history.days[acq.acquired.date()]
                scene = render_scene(base, acq, vehicles, looks)
                _write_scene(out, acq, vehicles, scene, plan.georef, looks, objects, scenes)
                done += 1
                if on_progress:
                    on_progress(done, total, acq.scene_id)
    finally:
        objects.close()
        scenes.close()

    events = [e for p in plans for e in p.history.events]
    episodes = [e for p in plans for e in p.history.episodes]
    writer.write_csv(
        out / "truth" / "activity.csv",
        writer.ACTIVITY_HEADER,
        [row for p in plans for row in _activity_rows(p.layout, p.history)],
    )
    writer.write_csv(out / "truth" / "events.csv", writer.EVENTS_HEADER, map(writer.event_row, events))
    writer.write_csv(out / "truth" / "episodes.csv", writer.EPISODES_HEADER, map(writer.episode_row, episodes))
    features = [f for p in plans for f in _site_geojson(p.layout, p.georef)]
    writer.write_json(out / "sites.geojson", {"type": "FeatureCollection", "simulated": True, "features": features})
    writer.write_json(
        out / "manifest.json",
        {
            "simulated": True,
            "marker": SIMULATED_MARK,
            "generator": f"sitewatch.simulate {__version__}",
            "seed": cfg.seed,
            "start": cfg.start.isoformat(),
            "end": (cfg.start + dt.timedelta(days=cfg.days - 1)).isoformat(),
            "days": cfg.days,
            "gsd_range": list(cfg.gsd_range),
            "aoi_size_m": cfg.aoi_size_m,
            "chip_source": chip_source,
            "sites": [
                {
                    "id": p.layout.spec.id,
                    "name": p.layout.spec.name,
                    "lat": p.layout.spec.lat,
                    "lon": p.layout.spec.lon,
                    "kind": p.layout.spec.kind,
                    "crs": p.georef.crs,
                    "scenes": len(p.acquisitions),
                }
                for p in plans
            ],
            "scenes": total,
            "objects_rows": objects.rows,
            "events": len(events),
            "episodes": len(episodes),
            "deception": {"site": plans[deception_site].layout.spec.id, "kind": deception},
            "visible_rule": "object centre inside the footprint and not under cloud or cloud shadow",
        },
    )
    seconds = time.perf_counter() - t0  # not in the manifest: files must depend on the seed only
    per_site = {p.layout.spec.id: len(p.acquisitions) for p in plans}
    return SimulationSummary(out, total, objects.rows, len(events), len(episodes), seconds, chip_source, per_site)


def _write_scene(
    out: Path,
    acq: Acquisition,
    vehicles: tuple[Vehicle, ...],
    scene: RenderedScene,
    geo: Georef,
    looks: VehicleLooks,
    objects: writer.CsvSink,
    scenes: writer.CsvSink,
) -> None:
    transform = geo.transform(acq.gsd)
    acquired = acq.acquired.strftime("%Y-%m-%dT%H:%M:%SZ")
    tif = out / "scenes" / f"{acq.scene_id}.tif"
    writer.write_scene(
        tif,
        scene.image,
        transform,
        geo.crs,
        {
            "TIFFTAG_DATETIME": acq.acquired.strftime("%Y:%m:%d %H:%M:%S"),
            "SITEWATCH_SENSOR": acq.sensor,
            "SITEWATCH_ACQUIRED": acquired,
            "SITEWATCH_GSD": acq.gsd,
        },
    )
    writer.write_mask(out / "scenes" / f"{acq.scene_id}.cloud.tif", scene.cloud_mask, transform, geo.crs)
    cloud = round(scene.cloud_fraction, 4)
    writer.write_json(
        out / "scenes" / f"{acq.scene_id}.json",
        {
            "sitewatch_sidecar": 1,
            "id": acq.scene_id,
            "acquired": acquired,
            "sensor": acq.sensor,
            "gsd": acq.gsd,
            "off_nadir": acq.off_nadir,
            "sun_elevation": acq.sun_elevation,
            "sun_azimuth": acq.sun_azimuth,
            "cloud_cover": cloud,
            "cloud_mask": f"{acq.scene_id}.cloud.tif",
            "simulated": True,
            "site_id": acq.site_id,
            "coverage_fraction": round(scene.coverage_fraction, 4),
            "misregistration_px": [round(acq.shift_px[0], 2), round(acq.shift_px[1], 2)],
        },
    )
    scenes.write(
        [
            (
                acq.scene_id,
                acq.site_id,
                acquired,
                acq.sensor,
                acq.gsd,
                acq.off_nadir,
                acq.sun_elevation,
                cloud,
                round(scene.coverage_fraction, 4),
            )
        ]
    )
    if not vehicles:
        return
    lon, lat = geo.lonlat(np.array([v.x for v in vehicles]), np.array([v.y for v in vehicles]))
    h, w = scene.image.shape[:2]
    boxes = np.clip(scene.boxes, 0, [w, h, w, h])  # truth boxes stay on the scene grid
    objects.write(
        (
            acq.scene_id,
            v.id,
            v.cls,
            acq.site_id,
            v.zone_id,
            *(f"{c:.1f}" for c in boxes[i]),
            f"{lon[i]:.7f}",
            f"{lat[i]:.7f}",
            int(scene.visible[i]),
            int(v.decoy),
            int(looks.synthetic(v.cls)),
        )
        for i, v in enumerate(vehicles)
    )
