"""Ingest throughput against its floor: hashing the same bytes.

Writes N synthetic tiled GeoTIFFs (RGB uint8, nodata border, cloud mask) to a temporary
folder, ingests them into a fresh SQLite store, and prints one JSON object with seconds per
scene and the ratio to a plain streamed SHA-256 of the files (the I/O every ingest must do).

    python benchmarks/bench_ingest.py [--scenes 8] [--size 2048]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from sitewatch.imagery.ingest import file_sha256, ingest_paths
from sitewatch.store import open_store


def write_scene(folder: Path, i: int, size: int) -> Path:
    rng = np.random.default_rng(i)
    data = rng.integers(1, 255, (3, size, size), dtype=np.uint8)
    data[:, :, : size // 8] = 0  # nodata strip, so the footprint is not the bounds
    cloud = np.zeros((1, size, size), dtype=np.uint8)
    cloud[:, : size // 4] = 1
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "crs": "EPSG:32651",
        "transform": Affine(0.5, 0, 500_000 + i * 10, 0, -0.5, 4_400_000),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
    }
    path = folder / f"b{i}.tif"
    with rasterio.open(path, "w", count=3, dtype="uint8", nodata=0, **profile) as ds:
        ds.write(data)
    with rasterio.open(folder / f"b{i}.cloud.tif", "w", count=1, dtype="uint8", **profile) as ds:
        ds.write(cloud)
    sidecar = {
        "sitewatch_sidecar": 1,
        "id": f"b{i}",
        "acquired": "2024-03-01T02:13:00Z",
        "cloud_mask": f"b{i}.cloud.tif",
    }
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--size", type=int, default=2048)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "scenes"
        folder.mkdir()
        paths = [write_scene(folder, i, args.size) for i in range(args.scenes)]

        t0 = time.perf_counter()
        for p in paths:
            file_sha256(p)
        hash_s = time.perf_counter() - t0

        with open_store(f"sqlite:///{Path(tmp) / 'bench.db'}") as store:
            t0 = time.perf_counter()
            report = ingest_paths(store, [folder])
            ingest_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            again = ingest_paths(store, [folder])
            reingest_s = time.perf_counter() - t0
    assert report.added == args.scenes and again.duplicates == args.scenes, (report, again)
    print(
        json.dumps(
            {
                "benchmark": "ingest",
                "scenes": args.scenes,
                "size_px": args.size,
                "ingest_s_per_scene": round(ingest_s / args.scenes, 4),
                "reingest_s_per_scene": round(reingest_s / args.scenes, 4),
                "hash_only_s_per_scene": round(hash_s / args.scenes, 4),
                "ratio_ingest_to_hash": round(ingest_s / hash_s, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
