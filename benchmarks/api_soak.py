"""Soak benchmark of the API: a steady request rate for a set time on loopback; prints JSON.

A uvicorn server runs in a subprocess (as in ``api_load.py``) on a generated store. Requests
go out open-loop at a fixed rate (request ``i`` is sent at ``i / rate`` seconds, whether or
not earlier ones have come back, so a slow server cannot lower the offered load; at most
``--in-flight`` are outstanding, and latency counts from the scheduled time), cycling over
a mix of read endpoints. Reported: offered and achieved rate, errors (any non-200 or
transport error), latency p50/p99 overall and per endpoint, and the server's RSS sampled
every second, first vs last 10 s, to show whether memory is flat. Usage::

    python benchmarks/api_soak.py                       # 100 req/s for 60 s
    python benchmarks/api_soak.py --rate 200 --seconds 120
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).parent))

from api_load import _add_key, _free_port, _prepare, _tile_paths, _wait_up

#: Endpoint kind -> weight in the mix (out of the sum); tiles and thumbnails render images.
MIX = {
    "sites": 2,
    "site": 2,
    "sites_geojson": 1,
    "scenes": 2,
    "scene": 2,
    "counts": 4,
    "detections": 2,
    "alerts": 2,
    "alert": 1,
    "events": 1,
    "tile": 2,
    "thumbnail": 1,
}


def _paths(url: str, zoom: int) -> dict[str, list[str]]:
    """Concrete GET paths of each endpoint kind of :data:`MIX`, from what the store holds."""
    from sitewatch.store import open_store

    store = open_store(url)
    try:
        sites = store.list_sites()
        scenes = store.list_scenes()
        alerts = store.list_alerts()
        keys = sorted({(s.id, c.zone_id, c.cls) for s in sites for c in store.list_counts(s.id)})
    finally:
        store.close()
    v1 = "/api/v1"
    return {
        "sites": [f"{v1}/sites"],
        "site": [f"{v1}/sites/{s.id}" for s in sites],
        "sites_geojson": [f"{v1}/sites.geojson"],
        "scenes": [f"{v1}/scenes?site_id={s.id}" for s in sites],
        "scene": [f"{v1}/scenes/{s.id}" for s in scenes],
        "counts": [f"{v1}/sites/{s}/counts?zone_id={z}&cls={c}" for s, z, c in keys],
        "detections": [f"{v1}/detections?site_id={s.id}&limit=100" for s in sites],
        "alerts": [f"{v1}/alerts"],
        "alert": [f"{v1}/alerts/{a.id}" for a in alerts],
        "events": [f"{v1}/events"],
        "tile": _tile_paths(url, zoom),
        "thumbnail": [f"{v1}/scenes/{s.id}/thumbnail.png" for s in scenes],
    }


def _send_order(paths: dict[str, list[str]], n: int) -> list[tuple[str, str]]:
    """``n`` requests ``(kind, path)``: kinds interleaved by :data:`MIX` weight, each walking its paths."""
    kinds = [k for rnd in range(max(MIX.values())) for k, w in MIX.items() if rnd < w]
    sent: dict[str, int] = defaultdict(int)
    order = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        order.append((kind, paths[kind][sent[kind] % len(paths[kind])]))
        sent[kind] += 1
    return order


def _rss(proc: psutil.Process) -> int:
    """Resident memory of the server and its children, bytes."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total


async def _soak(
    base: str,
    key: str,
    paths: dict[str, list[str]],
    rate: float,
    seconds: float,
    server: psutil.Process,
    in_flight: int = 32,
) -> dict[str, object]:
    per_kind: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    rss: list[int] = []
    n = int(rate * seconds)
    order = _send_order(paths, n)
    # Requests beyond ``in_flight`` wait here, not in httpx's pool (whose queue costs the
    # client quadratic CPU once a backlog forms); latency counts from the scheduled send
    # time, so waiting for a slot is charged to the server (no coordinated omission).
    slots = asyncio.Semaphore(in_flight)
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, limits=limits, timeout=30) as client:

        async def one(kind: str, path: str, due: float) -> None:
            async with slots:
                try:
                    r = await client.get(path)
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
            per_kind[kind].append(time.perf_counter() - due)
            if not ok:
                errors[kind] += 1

        async def sample_rss() -> None:
            while True:
                rss.append(_rss(server))
                await asyncio.sleep(1.0)

        sampler = asyncio.create_task(sample_rss())
        start = time.perf_counter()
        tasks = []
        for i, (kind, path) in enumerate(order):
            due = start + i / rate
            if due > time.perf_counter():
                await asyncio.sleep(due - time.perf_counter())
            tasks.append(asyncio.create_task(one(kind, path, due)))
        sent = time.perf_counter() - start
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - start
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    all_ms = np.concatenate([np.array(v) for v in per_kind.values()]) * 1000
    mib = np.array(rss) / 2**20
    return {
        "requests": n,
        "errors": sum(errors.values()),
        "errors_by_endpoint": dict(errors),
        "offered_per_s": rate,
        "max_in_flight": in_flight,
        "achieved_per_s": round(n / wall, 1),
        "send_seconds": round(sent, 2),
        "wall_seconds": round(wall, 2),
        "p50_ms": round(float(np.percentile(all_ms, 50)), 2),
        "p99_ms": round(float(np.percentile(all_ms, 99)), 2),
        "by_endpoint": {
            k: {
                "n": len(v),
                "p50_ms": round(float(np.percentile(v, 50)) * 1000, 2),
                "p99_ms": round(float(np.percentile(v, 99)) * 1000, 2),
            }
            for k, v in sorted(per_kind.items())
        },
        "rss_mib": {
            "samples": len(mib),
            "first_10s_mean": round(float(mib[:10].mean()), 1),
            "last_10s_mean": round(float(mib[-10:].mean()), 1),
            "max": round(float(mib.max()), 1),
            "growth_last_vs_first_pct": round(100 * (mib[-10:].mean() / mib[:10].mean() - 1), 2),
            "every_second": [round(float(m), 1) for m in mib],
        },
    }


async def _warm_up(base: str, key: str, paths: dict[str, list[str]], in_flight: int = 4) -> None:
    """GET every distinct path once, ``in_flight`` at a time; exit if any is not 200."""
    todo = sorted({p for options in paths.values() for p in options})
    failed: list[str] = []
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=60) as client:

        async def worker(mine: list[str]) -> None:
            for path in mine:
                if (await client.get(path)).status_code != 200:
                    failed.append(path)

        await asyncio.gather(*(worker(todo[i::in_flight]) for i in range(in_flight)))
    if failed:
        raise SystemExit(f"warm-up: {len(failed)} path(s) failed, e.g. {failed[:3]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second (offered)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--zoom", type=int, default=19)
    parser.add_argument("--in-flight", type=int, default=32, help="most requests outstanding at once")
    parser.add_argument("--workers", type=int, default=1, help="server processes (uvicorn workers)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = _prepare(None, Path(tmp))
        key = _add_key(url)
        paths = _paths(url, args.zoom)
        port = _free_port()
        api_load = str(Path(__file__).with_name("api_load.py"))
        server = subprocess.Popen([sys.executable, api_load, "--serve", url, str(port), str(args.workers)])
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_up(base)
            proc = psutil.Process(server.pid)
            # Warm up (imports, GDAL, caches): every distinct path once, failing early on a broken one.
            asyncio.run(_warm_up(base, key, paths))
            result = asyncio.run(_soak(base, key, paths, args.rate, args.seconds, proc, args.in_flight))
        finally:
            server.terminate()
            server.wait(10)
    print(
        json.dumps(
            {
                "benchmark": "api_soak",
                "store": "generated (tests/api/conftest.build_world, 24 scenes)",
                "cpus": os.cpu_count(),
                "server_workers": args.workers,
                "seconds": args.seconds,
                "mix": MIX,
                "load_average_1min": round(os.getloadavg()[0], 2),
                **result,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
