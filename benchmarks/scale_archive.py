"""Archive run on a Dask LocalCluster with 1 and 2 workers: throughput and speedup.

Simulates an archive with ``sitewatch.simulate`` (or reuses ``--sim-dir``), then for each
worker count runs ingest -> detect -> analyze into a fresh SQLite store with
``sitewatch.distributed.run_steps`` and prints one JSON object: seconds per step, scenes
per second, speedup against the first worker count, and the per-scene sizes that
docs/scaling.md extrapolates from (image bytes, ground area, store bytes, detections).
Every number is measured here; the data are SIMULATED.

    python benchmarks/scale_archive.py [--sites 3] [--days 100] [--gsd 0.35,0.4] [--workers 1,2] [--sim-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from pyproj import Geod

from sitewatch.distributed import dask_client, report_dict, run_steps
from sitewatch.simulate import SimulationConfig, simulate
from sitewatch.sites.geojson import read_sites
from sitewatch.store import open_store

STEPS = ("ingest", "detect", "analyze")


def run_once(sim: Path, workers: int, work: Path, detector: str) -> dict[str, Any]:
    db = work / f"archive-{workers}w.db"
    url = f"sqlite:///{db}"
    with open_store(url) as store:
        for site in read_sites(sim / "sites.geojson"):
            store.upsert_site(site)
    with dask_client(workers=workers) as client:
        started = time.perf_counter()
        reports = run_steps(client, url, STEPS, [sim / "scenes"], detector=detector)
        seconds = time.perf_counter() - started
    with open_store(url) as store:
        scenes = store.list_scenes()
        detections = len(store.list_detections())
        geod = Geod(ellps="WGS84")
        km2 = sum(abs(geod.geometry_area_perimeter(s.footprint)[0]) for s in scenes) / 1e6
    steps = report_dict(reports)
    return {
        "workers": workers,
        "seconds": round(seconds, 2),
        "scenes": len(scenes),
        "scenes_per_s": round(len(scenes) / seconds, 4),
        "steps": {
            k: {"seconds": v["seconds"], "done": v["done"], "failed": len(v["failed"])} for k, v in steps.items()
        },
        "detections": detections,
        "footprint_km2_total": round(km2, 3),
        "store_bytes": db.stat().st_size + sum(p.stat().st_size for p in db.parent.glob(db.name + "-*")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=3)
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--gsd", default="0.35,0.4", help="GSD range of the simulated scenes, m: LO,HI")
    parser.add_argument("--detector", default="simple", help="'simple' needs no model file")
    parser.add_argument("--sim-dir", type=Path, help="reuse this simulation instead of making one")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sw-scale-") as tmp:
        work = Path(tmp)
        sim = args.sim_dir
        sim_seconds = None
        if sim is None:
            sim = work / "sim"
            started = time.perf_counter()
            lo, hi = (float(v) for v in args.gsd.split(","))
            cfg = SimulationConfig(seed=args.seed, sites=args.sites, days=args.days, gsd_range=(lo, hi))
            simulate(sim, cfg)
            sim_seconds = round(time.perf_counter() - started, 2)
        images = sorted(p for p in (sim / "scenes").glob("*.tif") if not p.stem.endswith(".cloud"))
        n_sites = len(read_sites(sim / "sites.geojson"))
        runs = [run_once(sim, int(n), work, args.detector) for n in args.workers.split(",")]
    base = runs[0]["seconds"]
    for r in runs:
        r["speedup"] = round(base / r["seconds"], 3)
    scenes = runs[0]["scenes"] or 1
    print(
        json.dumps(
            {
                "benchmark": "scale_archive",
                "simulated": True,
                "sites": n_sites,
                "images": len(images),
                "image_bytes_per_scene": round(sum(p.stat().st_size for p in images) / max(len(images), 1)),
                "km2_per_scene": round(runs[0]["footprint_km2_total"] / scenes, 4),
                "store_bytes_per_scene": round(runs[0]["store_bytes"] / scenes),
                "detections_per_scene": round(runs[0]["detections"] / scenes, 2),
                "simulate_seconds": sim_seconds,
                "cpu_count": os.cpu_count(),
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
                "detector": args.detector,
                "runs": runs,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
